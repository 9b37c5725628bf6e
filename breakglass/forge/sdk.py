"""What the SDK-backed providers (GitHub, GitLab) share, so each keeps only what its SDK needs.

Both run every SDK request the same way: ``SdkProvider._run`` hands it to ``retry.call`` (in a
worker thread; writes paced), and ``SdkProvider._guarded`` turns whatever it raises into the
error tree in that thread, so the retry layer only ever sees ``TemporaryError`` and
``PermanentError``.  A provider says what differs: which exception its SDK raises and how that
exception's status and headers map to errors (``_translate``, built from the small pure
helpers here: ``seconds``, ``rate_limit_delay``, ``status_error``).

Failures below the SDKs (TLS, connection, timeout) are ``requests`` exceptions, both SDKs being
built on it; ``transport_error`` maps them.  Credentials are masked out of every message
(``_mask``) and SDK exceptions are not chained, so neither a log line nor a traceback shows one.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

import requests

from breakglass import errors
from breakglass.forge import PullRequest, retry

T = TypeVar("T")
E = TypeVar("E", bound=Exception)

#: The wait after a rate limit whose answer says neither when to retry nor when it resets.
RATE_LIMIT_WAIT = 60.0


class SdkProvider(abc.ABC, Generic[E]):
    """The request plumbing of a ``Provider`` built on a synchronous SDK whose failures are
    ``E`` (``GithubException``, ``GitlabError``).

    ``where`` names the repository or project in messages; ``secrets`` are masked out of them.
    Subclasses set ``name`` (``github``, for log lines), ``forge_name`` (``GitHub``) and
    ``request_name`` (``pull request``) for messages, and implement ``_translate``.
    """

    name: str
    forge_name: str
    request_name: str

    def __init__(
        self,
        *,
        sdk_error: type[E],
        base_url: str,
        where: str,
        secrets: Iterable[str | None],
        pacing: float,
        policy: retry.RetryPolicy,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._sdk_error = sdk_error
        self._where = where
        self._secrets = tuple(s for s in secrets if s)
        self._policy = policy
        self._pacer = retry.Pacer(pacing)

    async def _run(self, what: str, fn: Callable[[], T], *, write: bool = False) -> T:
        """``fn()`` through the retry layer; a ``write`` waits for the pacer first."""
        return await retry.call(
            self._guarded,
            what,
            fn,
            policy=self._policy,
            what=f"{self.name} {what}",
            pacer=self._pacer if write else None,
        )

    def _guarded(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (in the worker thread), translating SDK and transport failures."""
        try:
            return fn()
        except self._sdk_error as exc:
            raise self._translate(what, exc) from None
        except (requests.exceptions.RequestException, OSError) as exc:
            raise transport_error(
                self.forge_name, what, exc, base_url=self.base_url, mask=self._mask
            ) from None

    @abc.abstractmethod
    def _translate(self, what: str, exc: E) -> errors.BreakglassError:
        """The error-tree form of the SDK's failure ``exc`` of the request ``what``."""

    @abc.abstractmethod
    async def find_by_branch(self, branch: str) -> PullRequest | None:
        """``Provider.find_by_branch``."""

    async def _already_open(self, branch: str) -> PullRequest:
        """The open request for ``branch``, once the forge refused to open another for it.

        The forge's list can lag behind that answer: a ``TemporaryError`` until it shows one.
        """
        existing = await self.find_by_branch(branch)
        if existing is None or existing.state != "open":
            raise errors.TemporaryError(
                f"{self.forge_name} reports an open {self.request_name} for {branch} but lists "
                "none",
                delay=5.0,
            )
        return existing

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _message(self, what: str, status: int | None, detail: str) -> str:
        """The one line every translated error says (credentials masked)."""
        return self._mask(f"{self.forge_name} {what} on {self._where}: {status} {detail}".strip())


def newest(found: Sequence[PullRequest], branch: str) -> PullRequest | None:
    """What ``find_by_branch`` answers of the requests a forge listed: of those whose head is
    ``branch`` (a list filtered by owner too could hold a fork's), an open one first, then the
    highest number."""
    mine = [p for p in found if p.branch == branch]
    if not mine:
        return None
    return max(mine, key=lambda p: (p.state == "open", p.number))


def seconds(value: str | None) -> float | None:
    """A header's number of seconds (or epoch time); ``None`` when missing or not a number."""
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def rate_limit_delay(retry_after: float | None, reset: float | None, *, now: float) -> float:
    """How long a rate limit asks to wait: ``Retry-After``, else until the epoch time ``reset``
    (at least a second), else ``RATE_LIMIT_WAIT``."""
    if retry_after is not None:
        return retry_after
    if reset is not None:
        return max(1.0, reset - now)
    return RATE_LIMIT_WAIT


def status_error(
    message: str, status: int, *, retry_after: float | None, hints: Mapping[int, str]
) -> errors.BreakglassError:
    """The error for an HTTP status no rate limit explains: a 5xx is temporary (after
    ``Retry-After``, if given); anything else is permanent, with the forge's hint for it."""
    if status >= 500:
        return errors.TemporaryError(message, delay=retry_after or 0.0)
    return errors.PermanentError(message, hint=hints.get(status))


def transport_error(
    forge: str, what: str, exc: BaseException, *, base_url: str, mask: Callable[[str], str]
) -> errors.BreakglassError:
    """The error-tree form of a failure below the SDK (TLS, connection, timeout).

    A TLS failure is permanent (a wrong ``base_url`` or CA bundle does not fix itself);
    anything else at the transport level is worth retrying.  Messages are passed through
    ``mask`` so a token in a URL or header never reaches a log.
    """
    if isinstance(exc, requests.exceptions.SSLError):
        return errors.PermanentError(
            mask(f"{forge} {what}: TLS failure talking to {base_url}: {exc}"),
            hint="check base_url and the CA bundle (REQUESTS_CA_BUNDLE)",
        )
    return errors.TemporaryError(mask(f"{forge} {what}: {type(exc).__name__}: {exc}"), delay=0.0)

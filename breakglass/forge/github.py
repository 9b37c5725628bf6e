"""Backfill pull requests on GitHub and GitHub Enterprise Server, through PyGithub.

This is the only module that imports ``github``.  It turns the worker's ``Provider`` calls into
as few REST requests as it can (PyGithub runs in lazy mode, so no object is fetched just to
reach the next URL) and turns every PyGithub and transport failure into the breakglass error
tree, so nothing above this module knows the SDK exists:

- 429, or 403 with ``x-ratelimit-remaining: 0`` → ``RateLimited`` (``Retry-After``, else
  ``x-ratelimit-reset``); 403 "secondary rate limit" → ``RateLimited`` (``Retry-After`` or 60 s);
- 5xx, connection errors, timeouts → ``TemporaryError``;
- 401, other 403s, 404, 422 → ``PermanentError`` with a hint about the token or repository.

PyGithub's own urllib3 retries and request throttling are switched off: ``forge.retry`` is the
one retry layer and the provider's ``Pacer`` keeps writes apart.  How requests are run, and
credentials kept out of messages and tracebacks, is ``forge.sdk``'s, shared with GitLab.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import github
from github import Auth, GithubException
from github.Issue import Issue as GhIssue
from github.PullRequest import PullRequest as GhPull
from github.Repository import Repository
from github.Requester import Requester

from breakglass import errors, logs, model
from breakglass.forge import PullRequest, PullRequestSpec, retry, sdk

log = logs.get(__name__)

DEFAULT_BASE_URL = "https://api.github.com"
SECONDARY_LIMIT_WAIT = 60.0
PERMISSION_HINT = (
    "the token needs Pull requests: write and Issues: write (fine-grained token or GitHub App) "
    "or the `repo` scope (classic token) on {repo}"
)


class GitHubProvider(sdk.SdkProvider[GithubException]):
    """``Provider`` for one GitHub repository (``owner/name``).

    Authenticate with ``token`` (personal access token, fine-grained token) or as a GitHub App
    installation (``app_id`` + ``private_key`` PEM + ``installation_id``).  ``base_url`` is
    ``https://api.github.com`` or a GitHub Enterprise Server API root (``https://HOST/api/v3``).
    ``pacing`` is the minimum gap in seconds between write requests (0 disables it).
    """

    name = "github"
    forge_name = "GitHub"
    request_name = "pull request"

    def __init__(
        self,
        repo: str,
        *,
        token: str | None = None,
        app_id: int | str | None = None,
        private_key: str | None = None,
        installation_id: int | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: int = 20,
        pacing: float = 1.0,
        policy: retry.RetryPolicy = retry.DEFAULT_POLICY,
        user_agent: str = "breakglass",
    ) -> None:
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise errors.InputError(
                f"GitHub repository {repo!r} is not owner/name", hint="e.g. acme/gitops"
            )
        self.repo_name = repo
        self.owner = owner
        auth: Auth.Auth
        if token and app_id is None:
            auth = Auth.Token(token)
        elif app_id is not None and private_key and installation_id is not None and not token:
            auth = Auth.AppAuth(app_id, private_key).get_installation_auth(installation_id)
        else:
            raise errors.InputError(
                "GitHub needs either a token or app_id + private_key + installation_id",
                hint="set exactly one of the two ways to authenticate",
            )
        super().__init__(
            sdk_error=GithubException,
            base_url=base_url,
            where=repo,
            secrets=(token, private_key),
            pacing=pacing,
            policy=policy,
        )
        self._gh = github.Github(
            auth=auth,
            base_url=self.base_url,
            timeout=timeout,
            user_agent=user_agent,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )
        self._repo: Repository = self._gh.get_repo(repo)

    def close_connections(self) -> None:
        """Drop pooled HTTP connections (optional; the provider stays usable)."""
        self._gh.close()

    # ----------------------------------------------------------------- Provider

    async def find_by_branch(self, branch: str) -> PullRequest | None:
        def run() -> list[PullRequest]:
            pulls = self._repo.get_pulls(state="all", head=f"{self.owner}:{branch}")
            return [_to_model(p) for p in pulls]

        # The filter is on owner:branch; ``newest`` checks the branch (a fork could share the
        # owner).
        return sdk.newest(await self._run("find pull request", run), branch)

    async def open(self, spec: PullRequestSpec) -> PullRequest:
        head = f"{self.owner}:{spec.branch}"

        def create() -> PullRequest | None:
            try:
                pull = self._repo.create_pull(
                    base=spec.base, head=head, title=spec.title, body=spec.body, draft=spec.draft
                )
            except GithubException as exc:
                if exc.status == 422 and "already exists" in _detail(exc):
                    return None
                if exc.status == 422 and spec.draft and "draft" in _detail(exc).lower():
                    log.warning("forge.github.draft_unsupported", repo=self.repo_name)
                    pull = self._repo.create_pull(
                        base=spec.base, head=head, title=spec.title, body=spec.body
                    )
                else:
                    raise
            return _to_model(pull)

        created = await self._run("create pull request", create, write=True)
        if created is None:
            existing = await self._already_open(spec.branch)
            log.info("forge.github.pr_exists", repo=self.repo_name, number=existing.number)
            return await self._add_missing(existing, spec)
        log.info("forge.github.pr_opened", repo=self.repo_name, number=created.number)
        pr = created
        if spec.labels or spec.assignees:
            issue = self._issue(pr.number)

            def decorate() -> tuple[tuple[str, ...], tuple[str, ...]]:
                issue.edit(labels=list(spec.labels), assignees=list(spec.assignees))
                return _names(issue.labels), _logins(issue.assignees)

            labels, assignees = await self._run("label and assign", decorate, write=True)
            pr = _replace(pr, labels=labels, assignees=assignees)
        if spec.reviewers:
            pr = await self._request_reviewers(pr, spec.reviewers)
        return pr

    async def update(self, pr: PullRequest, spec: PullRequestSpec) -> PullRequest:
        pull = self._pull(pr.number)

        def edit() -> PullRequest:
            pull.edit(title=spec.title, body=spec.body)
            return _to_model(pull)

        current = await self._run("update pull request", edit, write=True)
        return await self._add_missing(current, spec)

    async def comment(self, pr: PullRequest, text: str) -> None:
        issue = self._issue(pr.number)
        await self._run("comment", lambda: issue.create_comment(text), write=True)

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        if not labels:
            return
        issue = self._issue(pr.number)
        await self._run("add labels", lambda: issue.add_to_labels(*labels), write=True)

    async def remove_label(self, pr: PullRequest, label: str) -> None:
        issue = self._issue(pr.number)

        def remove() -> None:
            if any(x.name == label for x in issue.labels):
                issue.remove_from_labels(label)

        await self._run("remove label", remove, write=True)

    async def close(self, pr: PullRequest, *, comment: str | None = None) -> PullRequest:
        if comment:
            await self.comment(pr, comment)
        pull = self._pull(pr.number)

        def close() -> PullRequest:
            pull.edit(state="closed")
            return _to_model(pull)

        closed = await self._run("close pull request", close, write=True)
        if closed.state == "closed" and closed.closed_by is None:
            closed = _replace(closed, closed_by="breakglass")
        return closed

    async def refresh(self, pr: PullRequest) -> PullRequest:
        def get() -> PullRequest:
            pull = self._repo.get_pull(pr.number)
            current = _to_model(pull, full=True)
            if current.state == "closed":
                closer = self._issue(pr.number).closed_by
                current = _replace(current, closed_by=closer.login if closer else None)
            return current

        return await self._run("refresh pull request", get)

    async def open_issue(
        self, *, title: str, body: str, labels: Sequence[str], assignees: Sequence[str]
    ) -> str:
        def create() -> str:
            issue = self._repo.create_issue(
                title=title, body=body, labels=list(labels), assignees=list(assignees)
            )
            return str(issue.html_url)

        return await self._run("open issue", create, write=True)

    async def close_issue(self, url: str, *, comment: str) -> None:
        issue = self._issue(_number(url, "/issues/"))

        def close() -> None:
            issue.create_comment(comment)
            if issue.state != "closed":
                issue.edit(state="closed")

        await self._run("close issue", close, write=True)

    # ----------------------------------------------------------------- helpers

    def _pull(self, number: int) -> GhPull:
        return self._repo.get_pull(number)  # lazy: no request until used

    def _issue(self, number: int) -> GhIssue:
        return self._repo.get_issue(number)  # lazy: no request until used

    async def _add_missing(self, pr: PullRequest, spec: PullRequestSpec) -> PullRequest:
        """Add labels and assignees the spec wants and the pull request lacks; remove none."""
        labels = [label for label in spec.labels if label not in pr.labels]
        assignees = [a for a in spec.assignees if a not in pr.assignees]
        if labels:
            await self.add_labels(pr, labels)
            pr = _replace(pr, labels=(*pr.labels, *labels))
        if assignees:
            issue = self._issue(pr.number)

            def assign() -> tuple[str, ...]:
                issue.add_to_assignees(*assignees)
                return _logins(issue.assignees)

            pr = _replace(pr, assignees=await self._run("assign", assign, write=True))
        return pr

    async def _request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> PullRequest:
        """Ask for reviews; a refused reviewer (not a collaborator, the author) is not fatal."""
        pull = self._pull(pr.number)
        try:
            await self._run(
                "request reviewers",
                lambda: pull.create_review_request(reviewers=list(reviewers)),
                write=True,
            )
        except errors.PermanentError as exc:
            log.warning(
                "forge.github.reviewers_refused",
                repo=self.repo_name,
                number=pr.number,
                reviewers=list(reviewers),
                error=str(exc),
            )
            return _replace(pr, extra={**pr.extra, "reviewers_error": str(exc)})
        return _replace(pr, extra={**pr.extra, "reviewers": ",".join(reviewers)})

    def _translate(self, what: str, exc: GithubException) -> errors.BreakglassError:
        status = exc.status
        headers = {k.lower(): str(v) for k, v in (exc.headers or {}).items()}
        detail = _detail(exc)
        message = self._message(what, status, detail)
        retry_after = sdk.seconds(headers.get("retry-after"))
        if status == 429 or (status == 403 and headers.get("x-ratelimit-remaining") == "0"):
            reset = sdk.seconds(headers.get("x-ratelimit-reset"))
            delay = sdk.rate_limit_delay(retry_after, reset, now=time.time())
            return errors.RateLimited(message, delay=delay, hint="GitHub rate limit; wait")
        if status == 403 and Requester.isSecondaryRateLimitError(detail):
            return errors.RateLimited(
                message,
                delay=retry_after if retry_after is not None else SECONDARY_LIMIT_WAIT,
                hint="GitHub secondary rate limit; lower the request rate (pacing)",
            )
        return sdk.status_error(
            message,
            status,
            retry_after=retry_after,
            hints={
                401: "the GitHub token is invalid, expired or revoked",
                403: PERMISSION_HINT.format(repo=self.repo_name),
                404: (
                    f"check that {self.repo_name} exists at {self.base_url} and that the "
                    "credentials can read it (GitHub answers 404 when they cannot)"
                ),
                422: "GitHub refused the request as invalid (branch missing or no diff?)",
            },
        )


# -------------------------------------------------------------- conversions


def _to_model(pull: GhPull, *, full: bool = False) -> PullRequest:
    """Convert, touching only fields present in list answers too (no completion requests)."""
    merged_at = _time(pull.merged_at)
    closed_at = _time(pull.closed_at)
    state = "merged" if merged_at else str(pull.state)
    extra = {"head_sha": str(pull.head.sha), "author": pull.user.login if pull.user else ""}
    closed_by = None
    if full and pull.merged_by is not None:
        extra["merged_by"] = pull.merged_by.login
        closed_by = pull.merged_by.login
    reviewers = [u.login for u in (pull.requested_reviewers or [])]
    if reviewers:
        extra["reviewers"] = ",".join(reviewers)
    return PullRequest(
        number=int(pull.number),
        url=str(pull.html_url),
        state=state,
        branch=str(pull.head.ref),
        base=str(pull.base.ref),
        title=str(pull.title),
        body=str(pull.body or ""),
        labels=_names(pull.labels),
        assignees=_logins(pull.assignees),
        draft=bool(pull.draft),
        merged_at=merged_at,
        closed_at=closed_at,
        closed_by=closed_by,
        extra=extra,
    )


def _replace(pr: PullRequest, **changes: Any) -> PullRequest:
    return dataclasses.replace(pr, **changes)


def _names(labels: Any) -> tuple[str, ...]:
    return tuple(str(label.name) for label in labels or ())


def _logins(users: Any) -> tuple[str, ...]:
    return tuple(str(user.login) for user in users or ())


def _time(value: datetime | None) -> str | None:
    return model.format_time(value) if value is not None else None


def _detail(exc: GithubException) -> str:
    """The server's message plus any validation error messages, as one line."""
    data = exc.data if isinstance(exc.data, dict) else {}
    parts = [str(data.get("message") or exc.message or "")]
    for error in data.get("errors") or ():
        if isinstance(error, dict):
            text = error.get("message") or " ".join(
                str(error[k]) for k in ("resource", "field", "code") if k in error
            )
            parts.append(str(text))
        else:
            parts.append(str(error))
    return "; ".join(p for p in parts if p)


def _number(url: str, marker: str) -> int:
    """The number at the end of an issue's web URL (``…/issues/42``)."""
    head, _, tail = url.rstrip("/").rpartition(marker)
    if not head or not tail.isdigit():
        raise errors.PermanentError(f"not an issue URL of this forge: {url}")
    return int(tail)

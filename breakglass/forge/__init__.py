"""Where backfill branches go and how their pull requests are opened and tracked.

A ``Provider`` is the small interface the backfill worker needs from a forge: find a pull
request by branch, open one, update it, comment, close it, refresh its state, open an issue
and close it.
Implementations: ``local`` (a record next to any Git remote; the embedded default), ``github``
(PyGithub) and ``gitlab`` (python-gitlab).  Git itself (mirror, worktree, commit, push) lives
in ``forge.git`` and is the same for every provider.

Providers raise ``breakglass.errors.TemporaryError``/``RateLimited`` (retry after ``delay``) or
``PermanentError`` (no permission, protected branch), never SDK exceptions; ``forge.retry``
runs calls with backoff, jitter and ``Retry-After``, and ``forge.sdk`` is the request plumbing
the two SDK-backed providers share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PullRequestSpec:
    """What the worker wants a pull request to say."""

    branch: str
    base: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    draft: bool = False


@dataclass(frozen=True)
class PullRequest:
    """A pull (GitHub) or merge (GitLab) request as the forge reports it."""

    number: int
    url: str
    state: str  # "open", "closed" or "merged"
    branch: str
    base: str
    title: str
    body: str = ""
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    draft: bool = False
    merged_at: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Provider(Protocol):
    """The forge operations the backfill worker uses."""

    name: str

    async def find_by_branch(self, branch: str) -> PullRequest | None:
        """The newest pull request whose head is ``branch`` (open first, then closed/merged)."""

    async def open(self, spec: PullRequestSpec) -> PullRequest:
        """Open a pull request; if the forge says one already exists, return that one."""

    async def update(self, pr: PullRequest, spec: PullRequestSpec) -> PullRequest:
        """Bring title, body, labels and assignees in line with ``spec``."""

    async def comment(self, pr: PullRequest, text: str) -> None: ...

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None: ...

    async def remove_label(self, pr: PullRequest, label: str) -> None:
        """Take ``label`` off ``pr``; a label it does not carry is not an error."""

    async def close(self, pr: PullRequest, *, comment: str | None = None) -> PullRequest: ...

    async def refresh(self, pr: PullRequest) -> PullRequest:
        """The current state of ``pr`` (merged, closed, open)."""

    async def open_issue(
        self, *, title: str, body: str, labels: Sequence[str], assignees: Sequence[str]
    ) -> str:
        """Open an issue (for changes that cannot be expressed as a diff); returns its URL."""

    async def close_issue(self, url: str, *, comment: str) -> None:
        """Comment on and close an issue this provider opened (``url`` as ``open_issue``
        returned it); an issue already closed is only commented on."""

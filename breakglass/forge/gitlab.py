"""Backfill merge requests on GitLab.com and self-managed GitLab, through python-gitlab.

This is the only module that imports ``gitlab``.  A merge request maps onto the worker's
``PullRequest``: ``iid`` is the number, ``web_url`` the URL, ``opened``/``closed``/``merged``
become ``open``/``closed``/``merged``, and a draft is GitLab's ``Draft:`` title prefix (which
``PullRequest.title`` does not carry).  Assignee and reviewer handles are usernames; GitLab
wants user ids, so they are looked up once (``/users?username=``) and cached.

python-gitlab retries 429s and (optionally) 5xx on its own, sleeping inside the request; both
are switched off (``_Client``) so ``forge.retry`` is the one retry layer.  python-gitlab's
errors do not carry response headers, so a session hook keeps the last response's headers per
thread, and a 429 becomes ``RateLimited`` with ``Retry-After`` or ``RateLimit-Reset``.  How
requests are run, and the token kept out of messages, is ``forge.sdk``'s, shared with GitHub.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import gitlab
import requests
from gitlab.exceptions import GitlabError

from breakglass import errors, logs, model
from breakglass.forge import PullRequest, PullRequestSpec, retry, sdk

log = logs.get(__name__)

T = TypeVar("T")

DEFAULT_BASE_URL = "https://gitlab.com"
DRAFT_PREFIX = "Draft: "
_DRAFT_PREFIXES = ("draft:", "[draft]", "(draft)", "draft -")
_STATES = {"opened": "open", "closed": "closed", "merged": "merged", "locked": "open"}


class _Client(gitlab.Gitlab):
    """python-gitlab with its in-request retries (429, transient errors) turned off."""

    def http_request(self, verb: str, path: str, *args: Any, **kwargs: Any) -> requests.Response:
        if len(args) < 6:  # obey_rate_limit is the 7th parameter; callers pass it by name
            kwargs["obey_rate_limit"] = False
            kwargs["retry_transient_errors"] = False
            kwargs["max_retries"] = 0
        return super().http_request(verb, path, *args, **kwargs)


class GitLabProvider(sdk.SdkProvider[GitlabError]):
    """``Provider`` for one GitLab project (``group/name`` path or numeric id).

    ``base_url`` is the instance root (``https://gitlab.com`` or a self-managed URL); the token
    needs the ``api`` scope and at least the Developer role on the project.  ``pacing`` is the
    minimum gap in seconds between write requests (0, the default, disables it).
    """

    name = "gitlab"
    forge_name = "GitLab"
    request_name = "merge request"

    def __init__(
        self,
        project: str | int,
        *,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 20.0,
        pacing: float = 0.0,
        policy: retry.RetryPolicy = retry.DEFAULT_POLICY,
        user_agent: str = "breakglass",
    ) -> None:
        if not token:
            raise errors.InputError("GitLab needs a token", hint="a token with the api scope")
        if isinstance(project, str) and not project.strip("/"):
            raise errors.InputError("GitLab project is empty", hint="e.g. platform/gitops or 42")
        self.project_id = project
        super().__init__(
            sdk_error=GitlabError,
            base_url=base_url,
            where=str(project),
            secrets=(token,),
            pacing=pacing,
            policy=policy,
        )
        self._local = threading.local()
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        self._gl = _Client(
            url=self.base_url,
            private_token=token,
            timeout=timeout,
            retry_transient_errors=False,
            user_agent=user_agent,
            session=session,
        )
        self._project = self._gl.projects.get(project, lazy=True)
        self._user_ids: dict[str, int | None] = {}

    # ----------------------------------------------------------------- Provider

    async def find_by_branch(self, branch: str) -> PullRequest | None:
        def run() -> list[PullRequest]:
            mrs = self._project.mergerequests.list(
                source_branch=branch,
                state="all",
                order_by="created_at",
                sort="desc",
                get_all=True,
            )
            return [_to_model(mr.attributes) for mr in mrs]

        return sdk.newest(await self._run("find merge request", run), branch)

    async def open(self, spec: PullRequestSpec) -> PullRequest:
        assignee_ids = await self._resolve(spec.assignees)
        reviewer_ids = await self._resolve(spec.reviewers)
        data: dict[str, Any] = {
            "source_branch": spec.branch,
            "target_branch": spec.base,
            "title": _titled(spec.title, draft=spec.draft),
            "description": spec.body,
        }
        if spec.labels:
            data["labels"] = ",".join(spec.labels)
        if assignee_ids:
            data["assignee_ids"] = assignee_ids
        if reviewer_ids:
            data["reviewer_ids"] = reviewer_ids

        def create() -> PullRequest | None:
            try:
                mr = self._project.mergerequests.create(data)
            except GitlabError as exc:
                if exc.response_code in (409, 422) and "already exists" in _message(exc):
                    return None
                raise
            return _to_model(mr.attributes)

        created = await self._run("create merge request", create, write=True)
        if created is not None:
            log.info("forge.gitlab.mr_opened", project=self.project_id, iid=created.number)
            return created
        existing = await self._already_open(spec.branch)
        log.info("forge.gitlab.mr_exists", project=self.project_id, iid=existing.number)
        changes = await self._missing(existing, spec)
        if not changes:
            return existing
        return await self._update(existing.number, changes, "complete merge request")

    async def update(self, pr: PullRequest, spec: PullRequestSpec) -> PullRequest:
        changes = await self._missing(pr, spec)
        changes["title"] = _titled(spec.title, draft=pr.draft)
        changes["description"] = spec.body
        return await self._update(pr.number, changes, "update merge request")

    async def comment(self, pr: PullRequest, text: str) -> None:
        mr = self._project.mergerequests.get(pr.number, lazy=True)
        await self._run("comment", lambda: mr.notes.create({"body": text}), write=True)

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        if labels:
            await self._update(pr.number, {"add_labels": ",".join(labels)}, "add labels")

    async def remove_label(self, pr: PullRequest, label: str) -> None:
        await self._update(pr.number, {"remove_labels": label}, "remove label")

    async def close(self, pr: PullRequest, *, comment: str | None = None) -> PullRequest:
        if comment:
            await self.comment(pr, comment)
        return await self._update(pr.number, {"state_event": "close"}, "close merge request")

    async def refresh(self, pr: PullRequest) -> PullRequest:
        def get() -> PullRequest:
            return _to_model(self._project.mergerequests.get(pr.number).attributes)

        return await self._run("refresh merge request", get)

    async def open_issue(
        self, *, title: str, body: str, labels: Sequence[str], assignees: Sequence[str]
    ) -> str:
        data: dict[str, Any] = {"title": title, "description": body}
        if labels:
            data["labels"] = ",".join(labels)
        ids = await self._resolve(assignees)
        if ids:
            data["assignee_ids"] = ids

        def create() -> str:
            return str(self._project.issues.create(data).attributes["web_url"])

        return await self._run("open issue", create, write=True)

    async def close_issue(self, url: str, *, comment: str) -> None:
        head, _, tail = url.rstrip("/").rpartition("/-/issues/")
        if not head or not tail.isdigit():
            raise errors.PermanentError(f"not an issue URL of this forge: {url}")
        iid = int(tail)

        def close() -> None:
            issue = self._project.issues.get(iid, lazy=True)
            issue.notes.create({"body": comment})
            self._project.issues.update(iid, {"state_event": "close"})

        await self._run("close issue", close, write=True)

    # ----------------------------------------------------------------- helpers

    async def _update(self, iid: int, changes: Mapping[str, Any], what: str) -> PullRequest:
        def put() -> PullRequest:
            return _to_model(self._project.mergerequests.update(iid, dict(changes)))

        return await self._run(what, put, write=True)

    async def _missing(self, pr: PullRequest, spec: PullRequestSpec) -> dict[str, Any]:
        """The PUT fields that add the spec's labels and assignees the request lacks."""
        changes: dict[str, Any] = {}
        labels = [label for label in spec.labels if label not in pr.labels]
        if labels:
            changes["add_labels"] = ",".join(labels)
        if any(a not in pr.assignees for a in spec.assignees):
            wanted = list(dict.fromkeys([*pr.assignees, *spec.assignees]))
            changes["assignee_ids"] = await self._resolve(wanted)
        return changes

    async def _resolve(self, usernames: Sequence[str]) -> list[int]:
        """User ids for usernames, looked up once each; unknown users are skipped (logged)."""
        ids: list[int] = []
        for username in dict.fromkeys(u.lstrip("@") for u in usernames if u):
            if username not in self._user_ids:

                def lookup(name: str = username) -> int | None:
                    users = self._gl.users.list(username=name, get_all=True)
                    return int(users[0].attributes["id"]) if users else None

                self._user_ids[username] = await self._run("look up user", lookup)
            user_id = self._user_ids[username]
            if user_id is None:
                log.warning("forge.gitlab.unknown_user", username=username)
            else:
                ids.append(user_id)
        return ids

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Session hook: keep this thread's last response headers for error translation."""
        self._local.headers = response.headers

    def _guarded(self, what: str, fn: Callable[[], T]) -> T:
        self._local.headers = {}  # no headers from an earlier request of this thread
        return super()._guarded(what, fn)

    def _translate(self, what: str, exc: GitlabError) -> errors.BreakglassError:
        headers: Mapping[str, str] = getattr(self._local, "headers", {})
        status = exc.response_code
        detail = _message(exc)
        message = self._message(what, status, detail)
        retry_after = sdk.seconds(headers.get("Retry-After"))
        if status == 429:
            reset = sdk.seconds(headers.get("RateLimit-Reset"))
            delay = sdk.rate_limit_delay(retry_after, reset, now=time.time())
            return errors.RateLimited(message, delay=delay, hint="GitLab rate limit; wait")
        if status is None or (status == 409 and "resource lock" in detail.lower()):
            return errors.TemporaryError(message, delay=retry_after or 0.0)
        return sdk.status_error(
            message,
            status,
            retry_after=retry_after,
            hints={
                401: "the GitLab token is invalid, expired or revoked",
                403: f"the token needs the api scope and the Developer role on {self.project_id}",
                404: (
                    f"check that project {self.project_id} exists at {self.base_url} and that "
                    "the token can see it (GitLab answers 404 when it cannot)"
                ),
            },
        )


# -------------------------------------------------------------- conversions


def _to_model(data: Mapping[str, Any]) -> PullRequest:
    title = str(data.get("title") or "")
    draft = bool(data.get("draft", data.get("work_in_progress", False)))
    state = _STATES.get(str(data.get("state")), str(data.get("state")))
    merged_by = data.get("merged_by") or data.get("merge_user")
    closed_by = data.get("closed_by")
    closer = merged_by if state == "merged" else closed_by
    extra = {"head_sha": str(data.get("sha") or "")}
    if isinstance(data.get("author"), dict):
        extra["author"] = str(data["author"].get("username", ""))
    if isinstance(merged_by, dict):
        extra["merged_by"] = str(merged_by.get("username", ""))
    reviewers = [str(r.get("username")) for r in data.get("reviewers") or ()]
    if reviewers:
        extra["reviewers"] = ",".join(reviewers)
    return PullRequest(
        number=int(data["iid"]),
        url=str(data.get("web_url") or ""),
        state=state,
        branch=str(data.get("source_branch") or ""),
        base=str(data.get("target_branch") or ""),
        title=_untitled(title) if draft else title,
        body=str(data.get("description") or ""),
        labels=tuple(str(label) for label in data.get("labels") or ()),
        assignees=tuple(str(a.get("username")) for a in data.get("assignees") or ()),
        draft=draft,
        merged_at=_time(data.get("merged_at")),
        closed_at=_time(data.get("closed_at")),
        closed_by=str(closer["username"]) if isinstance(closer, dict) else None,
        extra=extra,
    )


def _titled(title: str, *, draft: bool) -> str:
    return f"{DRAFT_PREFIX}{title}" if draft and not _is_draft(title) else title


def _is_draft(title: str) -> bool:
    return title.lower().lstrip().startswith(_DRAFT_PREFIXES)


def _untitled(title: str) -> str:
    stripped = title.lstrip()
    for prefix in _DRAFT_PREFIXES:
        if stripped.lower().startswith(prefix):
            return stripped[len(prefix) :].lstrip()
    return title


def _time(value: Any) -> str | None:
    if not value:
        return None
    try:
        return model.format_time(model.parse_time(str(value)))
    except ValueError:
        return str(value)


def _message(exc: GitlabError) -> str:
    # Typed as str, but GitLab sends lists ("message": ["..."]) and dicts of field errors too.
    message: Any = exc.error_message
    if isinstance(message, list | tuple):
        return "; ".join(str(m) for m in message)
    if isinstance(message, dict):
        return "; ".join(f"{k}: {v}" for k, v in message.items())
    return str(message or "")

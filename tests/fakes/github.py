"""A fake GitHub REST API (the part a backfill bot uses), for PyGithub to talk to unmodified.

Covers: repository get; pulls list (``state``, ``head=owner:branch``, ``base``), create (422 when
the head branch is missing, has no commits over base, or already has an open pull request),
get, patch (title/body/state/base), merge status; issues get/patch/create, comments, labels
(add/replace/remove; unknown labels are created on the fly, as GitHub does), assignees;
requested reviewers; GitHub App installation tokens.  Pull requests share the issue number
sequence and are issues too, as on GitHub.

State is in memory (``FakeGitHub.pulls``, ``issues``), the head branches live in a real bare
repository (``FakeGitHub.repo``), and ``clone_url`` is that repository's path.  Tests act as a
human with ``merge(number)`` and ``close(number)``, and inject rate limits with
``rate_limit(...)`` (429), ``primary_rate_limit(...)`` and ``secondary_rate_limit(...)`` (403).
The base URL may carry a GitHub Enterprise style prefix (``prefix="/api/v3"``).
"""

from __future__ import annotations

import itertools
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes import FakeServer, Fault, iso, json_response, read_json
from tests.fakes.gitrepo import BareRepo

DOCS = "https://docs.github.com/rest"


@dataclass
class Comment:
    id: int
    author: str
    body: str
    created: float


@dataclass
class Issue:
    """An issue, or the issue side of a pull request."""

    number: int
    title: str
    body: str
    author: str
    created: float
    state: str = "open"  # "open" | "closed"
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    closed_at: float | None = None
    closed_by: str | None = None
    updated: float = 0.0


@dataclass
class Pull(Issue):
    """A pull request: an issue with branches, reviewers, draft and merge state."""

    head: str = ""
    base: str = "main"
    head_sha: str = ""
    draft: bool = False
    reviewers: list[str] = field(default_factory=list)
    merged: bool = False
    merged_at: float | None = None
    merged_by: str | None = None
    merge_sha: str | None = None

    @property
    def effective_state(self) -> str:
        """ "open", "closed" or "merged" (GitHub itself says "closed" + ``merged: true``)."""
        return "merged" if self.merged else self.state


class FakeGitHub(FakeServer):
    def __init__(
        self,
        root: Path,
        *,
        repo: str = "acme/gitops",
        token: str = "ghp_fake_token_0123456789",
        prefix: str = "",
        bot: str = "breakglass-bot",
        default_branch: str = "main",
        files: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.full_name = repo
        self.owner, self.name = repo.split("/", 1)
        self.tokens = {token}
        self.prefix = prefix.rstrip("/")
        self.bot = bot
        self.repo = BareRepo.create(root, f"{self.name}.git", default_branch=default_branch,
                                    files=files)  # fmt: skip
        self.issues: dict[int, Issue] = {}
        self.installation_tokens: list[str] = []
        self._numbers = itertools.count(1)
        self._ids = itertools.count(5000)
        self.rate_remaining = 5000
        self._add_routes()

    # ------------------------------------------------------------ inspection

    @property
    def base_url(self) -> str:
        """What ``GitHubProvider(base_url=…)`` gets."""
        return self.origin + self.prefix

    @property
    def clone_url(self) -> str:
        """Where a worker pushes branches (the bare repository's path)."""
        return self.repo.url

    @property
    def pulls(self) -> list[Pull]:
        return [i for i in self.issues.values() if isinstance(i, Pull)]

    @property
    def plain_issues(self) -> list[Issue]:
        return [i for i in self.issues.values() if not isinstance(i, Pull)]

    def pull(self, number: int) -> Pull:
        issue = self.issues[number]
        assert isinstance(issue, Pull)
        return issue

    def pulls_for(self, branch: str) -> list[Pull]:
        return [p for p in self.pulls if p.head == branch]

    # --------------------------------------------------------- human actions

    def merge(self, number: int, *, by: str = "octocat") -> Pull:
        """Merge as a human would: the head goes into base in the bare repo; the PR closes."""
        pr = self.pull(number)
        if pr.state != "open":
            raise ValueError(f"pull request #{number} is {pr.effective_state}")
        pr.merge_sha = self.repo.merge(pr.head, pr.base, message=f"Merge pull request #{number}")
        now = time.time()
        pr.state, pr.merged, pr.merged_at, pr.merged_by = "closed", True, now, by
        pr.closed_at, pr.closed_by, pr.updated = now, by, now
        return pr

    def close(self, number: int, *, by: str = "octocat", comment: str | None = None) -> Issue:
        issue = self.issues[number]
        now = time.time()
        if comment:
            issue.comments.append(Comment(next(self._ids), by, comment, now))
        issue.state, issue.closed_at, issue.closed_by, issue.updated = "closed", now, by, now
        return issue

    def reopen(self, number: int) -> Issue:
        issue = self.issues[number]
        issue.state, issue.closed_at, issue.closed_by = "open", None, None
        return issue

    # ------------------------------------------------------- fault shortcuts

    def rate_limit(
        self, path: str, *, retry_after: int = 1, method: str | None = None, times: int = 1
    ) -> Fault:
        """429 with ``Retry-After`` (what GitHub sends for some abuse limits)."""
        return self.inject(
            path, method=method, status=429, times=times,
            body={"message": "Too Many Requests", "documentation_url": DOCS},
            headers={"Retry-After": str(retry_after)},
        )  # fmt: skip

    def primary_rate_limit(
        self, path: str, *, reset_in: int = 1, method: str | None = None, times: int = 1
    ) -> Fault:
        """403 with ``x-ratelimit-remaining: 0`` and a reset time ``reset_in`` seconds ahead."""
        return self.inject(
            path, method=method, status=403, times=times,
            body={"message": "API rate limit exceeded for user ID 1.", "documentation_url": DOCS},
            dynamic_headers=lambda: {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(int(time.time()) + reset_in),
            },
        )  # fmt: skip

    def secondary_rate_limit(
        self,
        path: str,
        *,
        retry_after: int | None = 1,
        method: str | None = None,
        times: int = 1,
    ) -> Fault:
        """403 "You have exceeded a secondary rate limit", with or without ``Retry-After``."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return self.inject(
            path, method=method, status=403, times=times, headers=headers,
            body={
                "message": "You have exceeded a secondary rate limit. Please wait a few "
                "minutes before you try again.",
                "documentation_url": DOCS,
            },
        )  # fmt: skip

    def forbid(self, path: str, *, method: str | None = None, times: int = 1) -> Fault:
        """403 "Resource not accessible by integration" (a token missing a permission)."""
        return self.inject(
            path, method=method, status=403, times=times,
            body={"message": "Resource not accessible by integration", "documentation_url": DOCS},
        )  # fmt: skip

    # ------------------------------------------------------------- plumbing

    def authorized(self, request: web.Request) -> bool:
        if request.path.startswith(f"{self.prefix}/app/"):
            return request.headers.get("Authorization", "").startswith("Bearer ")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() in {"token", "bearer"} and token in self.tokens

    def unauthorized(self) -> web.Response:
        return json_response({"message": "Bad credentials", "documentation_url": DOCS}, status=401)

    def not_found(self) -> web.Response:
        return json_response({"message": "Not Found", "documentation_url": DOCS}, status=404)

    def decorate(self, response: web.StreamResponse) -> None:
        self.rate_remaining = max(0, self.rate_remaining - 1)
        response.headers.setdefault("x-ratelimit-limit", "5000")
        response.headers.setdefault("x-ratelimit-remaining", str(self.rate_remaining))
        response.headers.setdefault("x-ratelimit-reset", str(int(time.time()) + 3600))

    def _api(self, request: web.Request) -> str:
        return f"{request.url.origin()}{self.prefix}"

    def _repo_api(self, request: web.Request) -> str:
        return f"{self._api(request)}/repos/{self.full_name}"

    def _add_routes(self) -> None:
        p = self.prefix
        r = f"{p}/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
        n = "(?P<number>[0-9]+)"
        self.route("GET", r, self._get_repo)
        self.route("GET", f"{r}/pulls", self._list_pulls)
        self.route("POST", f"{r}/pulls", self._create_pull)
        self.route("GET", f"{r}/pulls/{n}", self._get_pull)
        self.route("PATCH", f"{r}/pulls/{n}", self._patch_pull)
        self.route("GET", f"{r}/pulls/{n}/merge", self._merge_status)
        self.route("PUT", f"{r}/pulls/{n}/merge", self._merge_pull)
        self.route("POST", f"{r}/pulls/{n}/requested_reviewers", self._request_reviewers)
        self.route("GET", f"{r}/pulls/{n}/requested_reviewers", self._list_reviewers)
        self.route("POST", f"{r}/issues", self._create_issue)
        self.route("GET", f"{r}/issues/{n}", self._get_issue)
        self.route("PATCH", f"{r}/issues/{n}", self._patch_issue)
        self.route("GET", f"{r}/issues/{n}/comments", self._list_comments)
        self.route("POST", f"{r}/issues/{n}/comments", self._create_comment)
        self.route("GET", f"{r}/issues/{n}/labels", self._list_labels)
        self.route("POST", f"{r}/issues/{n}/labels", self._add_labels)
        self.route("PUT", f"{r}/issues/{n}/labels", self._set_labels)
        self.route("DELETE", f"{r}/issues/{n}/labels", self._clear_labels)
        self.route("DELETE", f"{r}/issues/{n}/labels/(?P<label>[^/]+)", self._remove_label)
        self.route("POST", f"{r}/issues/{n}/assignees", self._add_assignees)
        self.route("POST", f"{p}/app/installations/(?P<iid>[0-9]+)/access_tokens", self._app_token)

    def _issue(self, m: dict[str, str]) -> Issue | None:
        if f"{m['owner']}/{m['name']}" != self.full_name:
            return None
        return self.issues.get(int(m["number"]))

    # ------------------------------------------------------------- JSON shapes

    def _user(self, request: web.Request, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": abs(hash(login)) % 100000,
            "type": "User",
            "url": f"{self._api(request)}/users/{login}",
            "html_url": f"{request.url.origin()}/{login}",
        }

    def _label(self, request: web.Request, name: str) -> dict[str, Any]:
        quoted = urllib.parse.quote(name, safe="")
        return {
            "id": abs(hash(name)) % 100000,
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
            "url": f"{self._repo_api(request)}/labels/{quoted}",
        }

    def _repo_json(self, request: web.Request) -> dict[str, Any]:
        return {
            "id": 1,
            "name": self.name,
            "full_name": self.full_name,
            "owner": self._user(request, self.owner),
            "private": True,
            "url": self._repo_api(request),
            "html_url": f"{request.url.origin()}/{self.full_name}",
            "clone_url": self.clone_url,
            "default_branch": self.repo.default_branch,
        }

    def _issue_json(self, request: web.Request, issue: Issue) -> dict[str, Any]:
        api = f"{self._repo_api(request)}/issues/{issue.number}"
        data: dict[str, Any] = {
            "id": 100000 + issue.number,
            "number": issue.number,
            "url": api,
            "html_url": f"{request.url.origin()}/{self.full_name}/issues/{issue.number}",
            "comments_url": f"{api}/comments",
            "labels_url": f"{api}/labels{{/name}}",
            "repository_url": self._repo_api(request),
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": "completed" if issue.state == "closed" else None,
            "user": self._user(request, issue.author),
            "labels": [self._label(request, name) for name in issue.labels],
            "assignee": self._user(request, issue.assignees[0]) if issue.assignees else None,
            "assignees": [self._user(request, a) for a in issue.assignees],
            "comments": len(issue.comments),
            "created_at": iso(issue.created),
            "updated_at": iso(issue.updated or issue.created),
            "closed_at": iso(issue.closed_at),
            "closed_by": self._user(request, issue.closed_by) if issue.closed_by else None,
            "locked": False,
        }
        if isinstance(issue, Pull):
            data["pull_request"] = {
                "url": f"{self._repo_api(request)}/pulls/{issue.number}",
                "html_url": self._pull_html(request, issue),
                "merged_at": iso(issue.merged_at),
            }
        return data

    def _pull_html(self, request: web.Request, pr: Pull) -> str:
        return f"{request.url.origin()}/{self.full_name}/pull/{pr.number}"

    def _part(self, request: web.Request, branch: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{self.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self._user(request, self.owner),
            "repo": self._repo_json(request),
        }

    def _pull_json(self, request: web.Request, pr: Pull) -> dict[str, Any]:
        api = f"{self._repo_api(request)}/pulls/{pr.number}"
        issue_api = f"{self._repo_api(request)}/issues/{pr.number}"
        head_sha = self.repo.sha(pr.head) or pr.head_sha
        return {
            "id": 200000 + pr.number,
            "number": pr.number,
            "url": api,
            "html_url": self._pull_html(request, pr),
            "issue_url": issue_api,
            "comments_url": f"{issue_api}/comments",
            "review_comments_url": f"{api}/comments",
            "commits_url": f"{api}/commits",
            "statuses_url": f"{self._repo_api(request)}/statuses/{head_sha}",
            "state": pr.state,
            "locked": False,
            "title": pr.title,
            "body": pr.body,
            "user": self._user(request, pr.author),
            "labels": [self._label(request, name) for name in pr.labels],
            "assignee": self._user(request, pr.assignees[0]) if pr.assignees else None,
            "assignees": [self._user(request, a) for a in pr.assignees],
            "requested_reviewers": [self._user(request, r) for r in pr.reviewers],
            "requested_teams": [],
            "head": self._part(request, pr.head, head_sha),
            "base": self._part(request, pr.base, self.repo.sha(pr.base) or ""),
            "draft": pr.draft,
            "merged": pr.merged,
            "mergeable": None if pr.merged else True,
            "mergeable_state": "clean",
            "merged_at": iso(pr.merged_at),
            "merged_by": self._user(request, pr.merged_by) if pr.merged_by else None,
            "merge_commit_sha": pr.merge_sha,
            "closed_at": iso(pr.closed_at),
            "created_at": iso(pr.created),
            "updated_at": iso(pr.updated or pr.created),
            "comments": len(pr.comments),
            "review_comments": 0,
            "commits": 1,
            "additions": 1,
            "deletions": 1,
            "changed_files": 1,
            "maintainer_can_modify": False,
        }

    def _validation(self, message: str | None = None, **error: Any) -> web.Response:
        body: dict[str, Any] = {"message": "Validation Failed", "documentation_url": DOCS}
        errors = []
        if error:
            errors.append(error)
        if message:
            errors.append({"resource": "PullRequest", "code": "custom", "message": message})
        body["errors"] = errors
        return json_response(body, status=422)

    # ---------------------------------------------------------------- handlers

    async def _get_repo(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        if f"{m['owner']}/{m['name']}" != self.full_name:
            return self.not_found()
        return json_response(self._repo_json(request))

    async def _list_pulls(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        if f"{m['owner']}/{m['name']}" != self.full_name:
            return self.not_found()
        state = request.query.get("state", "open")
        head = request.query.get("head")
        base = request.query.get("base")
        found = []
        for pr in sorted(self.pulls, key=lambda p: p.number, reverse=True):
            if state != "all" and pr.state != state:
                continue
            if head and ":" in head:
                owner, branch = head.split(":", 1)
                if owner != self.owner or pr.head != branch:
                    continue
            if base and pr.base != base:
                continue
            found.append(pr)
        if request.query.get("direction") == "asc":
            found.reverse()
        return json_response([self._pull_json(request, pr) for pr in found])

    async def _create_pull(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        if f"{m['owner']}/{m['name']}" != self.full_name:
            return self.not_found()
        data = await read_json(request)
        head = str(data.get("head", ""))
        if ":" in head:
            owner, head = head.split(":", 1)
            if owner != self.owner:
                return self._validation(resource="PullRequest", field="head", code="invalid")
        base = str(data.get("base", ""))
        title = data.get("title")
        if not title:
            return self._validation(resource="PullRequest", field="title", code="missing_field")
        if not self.repo.branch_exists(base):
            return self._validation(resource="PullRequest", field="base", code="invalid")
        if not self.repo.branch_exists(head):
            return self._validation(resource="PullRequest", field="head", code="invalid")
        for pr in self.pulls:
            if pr.head == head and pr.base == base and pr.state == "open":
                return self._validation(f"A pull request already exists for {self.owner}:{head}.")
        if self.repo.is_ancestor(head, base):
            return self._validation(f"No commits between {base} and {head}")
        now = time.time()
        pr = Pull(
            number=next(self._numbers), title=str(title), body=str(data.get("body") or ""),
            author=self.bot, created=now, updated=now, head=head, base=base,
            head_sha=self.repo.sha(head) or "", draft=bool(data.get("draft", False)),
        )  # fmt: skip
        self.issues[pr.number] = pr
        return json_response(self._pull_json(request, pr), status=201)

    async def _get_pull(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        pr = self._issue(m)
        if not isinstance(pr, Pull):
            return self.not_found()
        return json_response(self._pull_json(request, pr))

    async def _patch_pull(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        pr = self._issue(m)
        if not isinstance(pr, Pull):
            return self.not_found()
        data = await read_json(request)
        if "title" in data:
            pr.title = str(data["title"])
        if "body" in data:
            pr.body = str(data["body"] or "")
        if "base" in data:
            if not self.repo.branch_exists(str(data["base"])):
                return self._validation(resource="PullRequest", field="base", code="invalid")
            pr.base = str(data["base"])
        if "state" in data:
            error = self._set_state(pr, str(data["state"]))
            if error is not None:
                return error
        pr.updated = time.time()
        return json_response(self._pull_json(request, pr))

    def _set_state(self, issue: Issue, state: str) -> web.Response | None:
        if state not in {"open", "closed"}:
            return self._validation(resource="Issue", field="state", code="invalid")
        if isinstance(issue, Pull) and issue.merged and state == "open":
            return self._validation("state cannot be changed. The pull request has been merged.")
        if state == "closed" and issue.state == "open":
            issue.state, issue.closed_at, issue.closed_by = "closed", time.time(), self.bot
        elif state == "open" and issue.state == "closed":
            issue.state, issue.closed_at, issue.closed_by = "open", None, None
        return None

    async def _merge_status(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        pr = self._issue(m)
        if isinstance(pr, Pull) and pr.merged:
            return web.Response(status=204)
        return self.not_found()

    async def _merge_pull(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        pr = self._issue(m)
        if not isinstance(pr, Pull):
            return self.not_found()
        if pr.state != "open":
            return json_response({"message": "Pull Request is not mergeable"}, status=405)
        self.merge(pr.number, by=self.bot)
        return json_response({"sha": pr.merge_sha, "merged": True, "message": "merged"})

    async def _request_reviewers(
        self, request: web.Request, m: dict[str, str]
    ) -> web.StreamResponse:
        pr = self._issue(m)
        if not isinstance(pr, Pull):
            return self.not_found()
        data = await read_json(request)
        reviewers = [str(r) for r in data.get("reviewers", [])]
        if pr.author in reviewers:
            return self._validation("Review cannot be requested from pull request author.")
        for reviewer in reviewers:
            if reviewer not in pr.reviewers:
                pr.reviewers.append(reviewer)
        return json_response(self._pull_json(request, pr), status=201)

    async def _list_reviewers(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        pr = self._issue(m)
        if not isinstance(pr, Pull):
            return self.not_found()
        return json_response({"users": [self._user(request, r) for r in pr.reviewers], "teams": []})

    async def _create_issue(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        if f"{m['owner']}/{m['name']}" != self.full_name:
            return self.not_found()
        data = await read_json(request)
        if not data.get("title"):
            return self._validation(resource="Issue", field="title", code="missing_field")
        now = time.time()
        assignees = [str(a) for a in data.get("assignees", [])]
        if data.get("assignee"):
            assignees.append(str(data["assignee"]))
        issue = Issue(
            number=next(self._numbers), title=str(data["title"]),
            body=str(data.get("body") or ""), author=self.bot, created=now, updated=now,
            labels=_names(data.get("labels", [])), assignees=assignees,
        )  # fmt: skip
        self.issues[issue.number] = issue
        return json_response(self._issue_json(request, issue), status=201)

    async def _get_issue(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        if issue is None:
            return self.not_found()
        return json_response(self._issue_json(request, issue))

    async def _patch_issue(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        if issue is None:
            return self.not_found()
        data = await read_json(request)
        if "title" in data:
            issue.title = str(data["title"])
        if "body" in data:
            issue.body = str(data["body"] or "")
        if "labels" in data:
            issue.labels = _names(data["labels"])
        if "assignees" in data:
            issue.assignees = [str(a) for a in data["assignees"]]
        if "state" in data:
            error = self._set_state(issue, str(data["state"]))
            if error is not None:
                return error
        issue.updated = time.time()
        return json_response(self._issue_json(request, issue))

    def _comment_json(self, request: web.Request, issue: Issue, c: Comment) -> dict[str, Any]:
        return {
            "id": c.id,
            "body": c.body,
            "user": self._user(request, c.author),
            "url": f"{self._repo_api(request)}/issues/comments/{c.id}",
            "html_url": f"{request.url.origin()}/{self.full_name}/issues/{issue.number}"
            f"#issuecomment-{c.id}",
            "created_at": iso(c.created),
            "updated_at": iso(c.created),
        }

    async def _list_comments(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        if issue is None:
            return self.not_found()
        return json_response([self._comment_json(request, issue, c) for c in issue.comments])

    async def _create_comment(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        if issue is None:
            return self.not_found()
        data = await read_json(request)
        if not data.get("body"):
            return self._validation(resource="IssueComment", field="body", code="missing_field")
        comment = Comment(next(self._ids), self.bot, str(data["body"]), time.time())
        issue.comments.append(comment)
        issue.updated = comment.created
        return json_response(self._comment_json(request, issue, comment), status=201)

    def _labels_answer(self, request: web.Request, issue: Issue) -> web.Response:
        return json_response([self._label(request, name) for name in issue.labels])

    async def _list_labels(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        if issue is None:
            return self.not_found()
        return self._labels_answer(request, issue)

    async def _add_labels(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        if issue is None:
            return self.not_found()
        data = await read_json(request)
        names = _names(data.get("labels", []) if isinstance(data, dict) else data)
        for name in names:
            if name not in issue.labels:
                issue.labels.append(name)
        return self._labels_answer(request, issue)

    async def _set_labels(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        if issue is None:
            return self.not_found()
        data = await read_json(request)
        issue.labels = _names(data.get("labels", []) if isinstance(data, dict) else data)
        return self._labels_answer(request, issue)

    async def _clear_labels(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        if issue is None:
            return self.not_found()
        issue.labels = []
        return web.Response(status=204)

    async def _remove_label(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        label = urllib.parse.unquote(m["label"])
        if issue is None or label not in issue.labels:
            return json_response({"message": "Label does not exist"}, status=404)
        issue.labels.remove(label)
        return self._labels_answer(request, issue)

    async def _add_assignees(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._issue(m)
        if issue is None:
            return self.not_found()
        data = await read_json(request)
        for login in data.get("assignees", []):
            if str(login) not in issue.assignees:
                issue.assignees.append(str(login))
        return json_response(self._issue_json(request, issue), status=201)

    async def _app_token(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        token = f"ghs_installation_{m['iid']}_{len(self.installation_tokens)}"
        self.tokens.add(token)
        self.installation_tokens.append(token)
        return json_response(
            {"token": token, "expires_at": iso(time.time() + 3600), "permissions": {}},
            status=201,
        )


def _names(labels: Any) -> list[str]:
    names: list[str] = []
    for label in labels or []:
        name = label.get("name") if isinstance(label, dict) else label
        if name is not None and str(name) not in names:
            names.append(str(name))
    return names

"""A fake GitLab REST API (v4, the merge-request part), for python-gitlab to talk to unmodified.

Covers: project get (numeric id or URL-encoded path); merge requests list (``source_branch``,
``target_branch``, ``state``), create (409 "Another open merge request already exists" when
one is open for the source branch, 422 when a branch is missing), get, put (title,
description, ``state_event`` close/reopen, labels, ``add_labels``, assignee and reviewer ids);
notes; users by username; issues create, close (PUT state_event) and notes.  Draft is GitLab's title prefix ("Draft: ").

State is in memory (``FakeGitLab.mrs``, ``issues``, ``users``), branches live in a real bare
repository whose path is the project's ``http_url_to_repo``.  Tests act as a human with
``merge(iid)`` and ``close(iid)``, and inject 429s with ``rate_limit(...)`` (``Retry-After``
and/or ``RateLimit-Reset``).
"""

from __future__ import annotations

import itertools
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes import FakeServer, Fault, iso, json_response, read_json
from tests.fakes.gitrepo import BareRepo

API = "/api/v4"
DRAFT = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:|draft\s-\s|\[wip\]|wip:)\s*", re.IGNORECASE)


@dataclass
class Note:
    id: int
    author: str
    body: str
    created: float
    system: bool = False


@dataclass
class MergeRequest:
    iid: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    author: str
    created: float
    state: str = "opened"  # opened | closed | merged
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    updated: float = 0.0
    closed_at: float | None = None
    closed_by: str | None = None
    merged_at: float | None = None
    merged_by: str | None = None
    sha: str = ""
    merge_sha: str | None = None

    @property
    def draft(self) -> bool:
        return DRAFT.match(self.title) is not None


@dataclass
class Issue:
    iid: int
    title: str
    description: str
    author: str
    created: float
    state: str = "opened"
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


class FakeGitLab(FakeServer):
    def __init__(
        self,
        root: Path,
        *,
        project: str = "platform/gitops",
        project_id: int = 42,
        token: str = "glpat-fake-token",
        bot: str = "breakglass-bot",
        users: tuple[str, ...] = ("alice", "bob", "carol", "dave"),
        default_branch: str = "main",
        files: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.path_with_namespace = project
        self.project_id = project_id
        self.tokens = {token}
        self.bot = bot
        self.repo = BareRepo.create(root, f"{project.rsplit('/', 1)[-1]}.git",
                                    default_branch=default_branch, files=files)  # fmt: skip
        self.users: dict[str, int] = {}
        for name in (bot, *users):
            self.add_user(name)
        self.mrs: dict[int, MergeRequest] = {}
        self.issues: dict[int, Issue] = {}
        self._mr_iids = itertools.count(1)
        self._issue_iids = itertools.count(1)
        self._ids = itertools.count(9000)
        self.rate_remaining = 2000
        self._add_routes()

    # ------------------------------------------------------------ inspection

    @property
    def base_url(self) -> str:
        """What ``GitLabProvider(base_url=…)`` gets (python-gitlab appends ``/api/v4``)."""
        return self.origin

    @property
    def http_url_to_repo(self) -> str:
        """Where a worker pushes branches (the bare repository's path)."""
        return self.repo.url

    clone_url = http_url_to_repo

    def add_user(self, username: str) -> int:
        return self.users.setdefault(username, 100 + len(self.users))

    def mr(self, iid: int) -> MergeRequest:
        return self.mrs[iid]

    def mrs_for(self, branch: str) -> list[MergeRequest]:
        return [mr for mr in self.mrs.values() if mr.source_branch == branch]

    # --------------------------------------------------------- human actions

    def merge(self, iid: int, *, by: str = "maintainer") -> MergeRequest:
        mr = self.mrs[iid]
        if mr.state != "opened":
            raise ValueError(f"merge request !{iid} is {mr.state}")
        mr.merge_sha = self.repo.merge(mr.source_branch, mr.target_branch,
                                       message=f"Merge branch '{mr.source_branch}'")  # fmt: skip
        now = time.time()
        mr.state, mr.merged_at, mr.merged_by, mr.updated = "merged", now, by, now
        return mr

    def close(
        self, iid: int, *, by: str = "maintainer", comment: str | None = None
    ) -> MergeRequest:
        mr = self.mrs[iid]
        now = time.time()
        if comment:
            mr.notes.append(Note(next(self._ids), by, comment, now))
        mr.state, mr.closed_at, mr.closed_by, mr.updated = "closed", now, by, now
        return mr

    # ------------------------------------------------------- fault shortcuts

    def rate_limit(
        self,
        path: str,
        *,
        retry_after: int | None = 1,
        reset_in: int | None = None,
        method: str | None = None,
        times: int = 1,
    ) -> Fault:
        """429 "Retry later" with ``Retry-After`` and/or ``RateLimit-Reset`` (epoch seconds)."""

        def headers() -> dict[str, str]:
            out = {"RateLimit-Limit": "2000", "RateLimit-Remaining": "0"}
            if retry_after is not None:
                out["Retry-After"] = str(retry_after)
            if reset_in is not None:
                out["RateLimit-Reset"] = str(int(time.time()) + reset_in)
            return out

        return self.inject(
            path, method=method, status=429, times=times, body="Retry later",
            dynamic_headers=headers,
        )  # fmt: skip

    def forbid(self, path: str, *, method: str | None = None, times: int = 1) -> Fault:
        return self.inject(path, method=method, status=403, times=times,
                           body={"message": "403 Forbidden"})  # fmt: skip

    # ------------------------------------------------------------- plumbing

    def authorized(self, request: web.Request) -> bool:
        token = request.headers.get("PRIVATE-TOKEN")
        if token is None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                return False
        return token in self.tokens

    def unauthorized(self) -> web.Response:
        return json_response({"message": "401 Unauthorized"}, status=401)

    def not_found(self) -> web.Response:
        return json_response({"message": "404 Not Found"}, status=404)

    def decorate(self, response: web.StreamResponse) -> None:
        self.rate_remaining = max(0, self.rate_remaining - 1)
        response.headers.setdefault("RateLimit-Limit", "2000")
        response.headers.setdefault("RateLimit-Remaining", str(self.rate_remaining))
        response.headers.setdefault("RateLimit-Reset", str(int(time.time()) + 60))

    def _add_routes(self) -> None:
        p = f"{API}/projects/(?P<pid>[^/]+)"
        mr = f"{p}/merge_requests/(?P<iid>[0-9]+)"
        self.route("GET", p, self._get_project)
        self.route("GET", f"{p}/merge_requests", self._list_mrs)
        self.route("POST", f"{p}/merge_requests", self._create_mr)
        self.route("GET", mr, self._get_mr)
        self.route("PUT", mr, self._put_mr)
        self.route("GET", f"{mr}/notes", self._list_notes)
        self.route("POST", f"{mr}/notes", self._create_note)
        self.route("POST", f"{p}/issues", self._create_issue)
        self.route("PUT", f"{p}/issues/(?P<iid>[0-9]+)", self._put_issue)
        self.route("POST", f"{p}/issues/(?P<iid>[0-9]+)/notes", self._create_issue_note)
        self.route("GET", f"{API}/users", self._find_users)

    def _project_ok(self, m: dict[str, str]) -> bool:
        pid = urllib.parse.unquote(m["pid"])
        return pid in {self.path_with_namespace, str(self.project_id)}

    def _web(self, request: web.Request) -> str:
        return f"{request.url.origin()}/{self.path_with_namespace}"

    def _user(self, request: web.Request, username: str) -> dict[str, Any]:
        return {
            "id": self.add_user(username),
            "username": username,
            "name": username.title(),
            "state": "active",
            "web_url": f"{request.url.origin()}/{username}",
        }

    def _mr_json(self, request: web.Request, mr: MergeRequest) -> dict[str, Any]:
        merged_by = self._user(request, mr.merged_by) if mr.merged_by else None
        return {
            "id": 70000 + mr.iid,
            "iid": mr.iid,
            "project_id": self.project_id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": iso(mr.created),
            "updated_at": iso(mr.updated or mr.created),
            "merged_at": iso(mr.merged_at),
            "merged_by": merged_by,
            "merge_user": merged_by,
            "closed_at": iso(mr.closed_at),
            "closed_by": self._user(request, mr.closed_by) if mr.closed_by else None,
            "source_branch": mr.source_branch,
            "target_branch": mr.target_branch,
            "source_project_id": self.project_id,
            "target_project_id": self.project_id,
            "author": self._user(request, mr.author),
            "assignee": self._user(request, mr.assignees[0]) if mr.assignees else None,
            "assignees": [self._user(request, a) for a in mr.assignees],
            "reviewers": [self._user(request, r) for r in mr.reviewers],
            "labels": list(mr.labels),
            "draft": mr.draft,
            "work_in_progress": mr.draft,
            "sha": self.repo.sha(mr.source_branch) or mr.sha,
            "merge_commit_sha": mr.merge_sha,
            "user_notes_count": len(mr.notes),
            "web_url": f"{self._web(request)}/-/merge_requests/{mr.iid}",
            "references": {"short": f"!{mr.iid}"},
        }

    def _note_json(self, request: web.Request, note: Note) -> dict[str, Any]:
        return {
            "id": note.id,
            "body": note.body,
            "author": self._user(request, note.author),
            "created_at": iso(note.created),
            "updated_at": iso(note.created),
            "system": note.system,
            "noteable_type": "MergeRequest",
        }

    def _error(self, status: int, *messages: str) -> web.Response:
        return json_response({"message": list(messages)}, status=status)

    def _user_ids(self, ids: Any) -> list[str] | None:
        if ids is None:
            return None
        if not isinstance(ids, list):
            ids = [ids]
        by_id = {v: k for k, v in self.users.items()}
        names = []
        for value in ids:
            if int(value) == 0:
                continue
            name = by_id.get(int(value))
            if name is not None and name not in names:
                names.append(name)
        return names

    # ---------------------------------------------------------------- handlers

    async def _get_project(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        if not self._project_ok(m):
            return json_response({"message": "404 Project Not Found"}, status=404)
        return json_response({
            "id": self.project_id,
            "path_with_namespace": self.path_with_namespace,
            "name": self.path_with_namespace.rsplit("/", 1)[-1],
            "default_branch": self.repo.default_branch,
            "web_url": self._web(request),
            "http_url_to_repo": self.http_url_to_repo,
            "ssh_url_to_repo": self.http_url_to_repo,
        })  # fmt: skip

    async def _list_mrs(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        if not self._project_ok(m):
            return json_response({"message": "404 Project Not Found"}, status=404)
        q = request.query
        state = q.get("state", "all")
        found = []
        for mr in sorted(self.mrs.values(), key=lambda mr: mr.iid, reverse=True):
            if state != "all" and mr.state != state:
                continue
            if q.get("source_branch") and mr.source_branch != q["source_branch"]:
                continue
            if q.get("target_branch") and mr.target_branch != q["target_branch"]:
                continue
            found.append(mr)
        return json_response([self._mr_json(request, mr) for mr in found])

    async def _create_mr(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        if not self._project_ok(m):
            return json_response({"message": "404 Project Not Found"}, status=404)
        data = await read_json(request)
        source, target = str(data.get("source_branch", "")), str(data.get("target_branch", ""))
        title = str(data.get("title") or "")
        if not source or not target or not title:
            return json_response({"error": "source_branch, target_branch, title are missing"},
                                 status=400)  # fmt: skip
        if not self.repo.branch_exists(source):
            return self._error(422, f'Source branch "{source}" does not exist')
        if not self.repo.branch_exists(target):
            return self._error(422, f'Target branch "{target}" does not exist')
        for other in self.mrs.values():
            if other.source_branch == source and other.target_branch == target \
                    and other.state == "opened":  # fmt: skip
                return self._error(
                    409, f"Another open merge request already exists for this source branch: "
                    f"!{other.iid}",
                )  # fmt: skip
        now = time.time()
        mr = MergeRequest(
            iid=next(self._mr_iids), title=title, description=str(data.get("description") or ""),
            source_branch=source, target_branch=target, author=self.bot, created=now,
            updated=now, labels=_labels(data.get("labels")),
            assignees=self._user_ids(data.get("assignee_ids", data.get("assignee_id"))) or [],
            reviewers=self._user_ids(data.get("reviewer_ids")) or [],
            sha=self.repo.sha(source) or "",
        )  # fmt: skip
        self.mrs[mr.iid] = mr
        return json_response(self._mr_json(request, mr), status=201)

    def _find_mr(self, m: dict[str, str]) -> MergeRequest | None:
        if not self._project_ok(m):
            return None
        return self.mrs.get(int(m["iid"]))

    async def _get_mr(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        mr = self._find_mr(m)
        if mr is None:
            return self.not_found()
        return json_response(self._mr_json(request, mr))

    async def _put_mr(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        mr = self._find_mr(m)
        if mr is None:
            return self.not_found()
        data = await read_json(request)
        if "title" in data:
            mr.title = str(data["title"])
        if "description" in data:
            mr.description = str(data["description"] or "")
        if "labels" in data:
            mr.labels = _labels(data["labels"])
        for label in _labels(data.get("add_labels")):
            if label not in mr.labels:
                mr.labels.append(label)
        for label in _labels(data.get("remove_labels")):
            if label in mr.labels:
                mr.labels.remove(label)
        assignees = self._user_ids(data.get("assignee_ids", data.get("assignee_id")))
        if assignees is not None:
            mr.assignees = assignees
        reviewers = self._user_ids(data.get("reviewer_ids"))
        if reviewers is not None:
            mr.reviewers = reviewers
        event = data.get("state_event")
        now = time.time()
        if event == "close" and mr.state == "opened":
            mr.state, mr.closed_at, mr.closed_by = "closed", now, self.bot
        elif event == "reopen" and mr.state == "closed":
            mr.state, mr.closed_at, mr.closed_by = "opened", None, None
        mr.updated = now
        return json_response(self._mr_json(request, mr))

    async def _list_notes(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        mr = self._find_mr(m)
        if mr is None:
            return self.not_found()
        return json_response([self._note_json(request, n) for n in mr.notes])

    async def _create_note(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        mr = self._find_mr(m)
        if mr is None:
            return self.not_found()
        return await self._add_note(request, mr.notes)

    def _find_issue(self, m: dict[str, str]) -> Issue | None:
        return self.issues.get(int(m["iid"])) if self._project_ok(m) else None

    async def _put_issue(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        issue = self._find_issue(m)
        if issue is None:
            return self.not_found()
        data = await read_json(request)
        if data.get("state_event") == "close":
            issue.state = "closed"
        elif data.get("state_event") == "reopen":
            issue.state = "opened"
        return json_response({"iid": issue.iid, "state": issue.state, "title": issue.title})

    async def _create_issue_note(
        self, request: web.Request, m: dict[str, str]
    ) -> web.StreamResponse:
        issue = self._find_issue(m)
        if issue is None:
            return self.not_found()
        return await self._add_note(request, issue.notes)

    async def _add_note(self, request: web.Request, notes: list[Note]) -> web.StreamResponse:
        """A note the request's body says, by the bot, on a merge request or an issue."""
        data = await read_json(request)
        if not data.get("body"):
            return json_response({"error": "body is missing"}, status=400)
        note = Note(next(self._ids), self.bot, str(data["body"]), time.time())
        notes.append(note)
        return json_response(self._note_json(request, note), status=201)

    async def _create_issue(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        if not self._project_ok(m):
            return json_response({"message": "404 Project Not Found"}, status=404)
        data = await read_json(request)
        if not data.get("title"):
            return json_response({"error": "title is missing"}, status=400)
        issue = Issue(
            iid=next(self._issue_iids), title=str(data["title"]),
            description=str(data.get("description") or ""), author=self.bot,
            created=time.time(), labels=_labels(data.get("labels")),
            assignees=self._user_ids(data.get("assignee_ids")) or [],
        )  # fmt: skip
        self.issues[issue.iid] = issue
        return json_response({
            "id": 80000 + issue.iid,
            "iid": issue.iid,
            "project_id": self.project_id,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "labels": issue.labels,
            "assignees": [self._user(request, a) for a in issue.assignees],
            "author": self._user(request, issue.author),
            "web_url": f"{self._web(request)}/-/issues/{issue.iid}",
        }, status=201)  # fmt: skip

    async def _find_users(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        username = request.query.get("username")
        if username is None:
            return json_response([self._user(request, u) for u in self.users])
        if username not in self.users:
            return json_response([])
        return json_response([self._user(request, username)])


def _labels(value: Any) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        name = str(item).strip()
        if name and name not in out:
            out.append(name)
    return out

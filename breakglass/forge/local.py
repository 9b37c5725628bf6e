"""The embedded forge: branches go to any Git remote, pull requests are JSON records.

With no GitHub or GitLab account, breakglass still does the whole job: it pushes the backfill
branch to the configured remote (a bare repository path works) and writes the pull request it
would have opened — title, body, labels, assignee, state, comments — as one JSON file per pull
request under ``records_dir``.  A reviewer reads it (``breakglass pulls show N``) and merges it
(``breakglass pulls merge N``: a merge commit of the branch into the base, pushed to the remote,
as a forge would) or closes it (``breakglass pulls close N``); the worker then sees the new
state, as it would on GitHub.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from breakglass import model
from breakglass.errors import BreakglassError, PermanentError
from breakglass.forge import PullRequest, PullRequestSpec
from breakglass.forge.git import Git


class LocalProvider:
    """``Provider`` over a directory of JSON records."""

    name = "local"

    def __init__(self, records_dir: Path, *, remote: str) -> None:
        self.dir = records_dir
        self.remote = remote
        self._lock = asyncio.Lock()

    def _path(self, number: int) -> Path:
        return self.dir / f"{number:06d}.json"

    def _load_all(self) -> list[dict[str, Any]]:
        """Every record; one that cannot be read stops the caller, naming the file: skipping
        it could open a second pull request for a branch, or reuse its number."""
        if not self.dir.is_dir():
            return []
        out = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                int(record["number"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise PermanentError(
                    f"local forge record {path} cannot be read: {exc}",
                    hint="fix the file (it is JSON a person may have edited), or move it out "
                    f"of {self.dir}",
                ) from exc
            out.append(record)
        return out

    def _save(self, record: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(int(record["number"]))
        tmp = self._write_tmp(path, record)
        tmp.replace(path)

    def _save_new(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write a new record under the first free number from ``record["number"]`` on; the
        file is linked into place, which fails if the number was taken meanwhile (another
        process), so a number is never reused."""
        self.dir.mkdir(parents=True, exist_ok=True)
        number = int(record["number"])
        while True:
            taken = {int(p.stem) for p in self.dir.glob("*.json") if p.stem.isdigit()}
            while number in taken:
                number += 1
            kind = record["kind"]
            record = {**record, "number": number, "url": f"{self.remote}#{kind}/{number}"}
            path = self._path(number)
            tmp = self._write_tmp(path, record)
            try:
                os.link(tmp, path)
            except FileExistsError:
                number += 1
                continue
            finally:
                tmp.unlink(missing_ok=True)
            return record

    @staticmethod
    def _write_tmp(path: Path, record: dict[str, Any]) -> Path:
        """``record`` fsynced to a fresh temporary file beside ``path`` (unique per call, so
        writers in several threads or processes never share one)."""
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        return Path(name)

    @staticmethod
    def _pr(record: dict[str, Any]) -> PullRequest:
        return PullRequest(
            number=int(record["number"]),
            url=str(record["url"]),
            state=str(record["state"]),
            branch=str(record["branch"]),
            base=str(record["base"]),
            title=str(record["title"]),
            body=str(record["body"]),
            labels=tuple(record.get("labels") or ()),
            assignees=tuple(record.get("assignees") or ()),
            draft=bool(record.get("draft")),
            merged_at=record.get("merged_at"),
            closed_at=record.get("closed_at"),
            closed_by=record.get("closed_by"),
        )

    def _record(self, number: int) -> dict[str, Any]:
        return dict(json.loads(self._path(number).read_text(encoding="utf-8")))

    async def find_by_branch(self, branch: str) -> PullRequest | None:
        records = await asyncio.to_thread(self._load_all)
        mine = f"{self.remote}#"  # one records directory may serve several repositories
        matching = [
            r
            for r in records
            if r.get("branch") == branch
            and r.get("kind", "pull") == "pull"
            and str(r.get("url", "")).startswith(mine)
        ]
        if not matching:
            return None
        matching.sort(key=lambda r: (r.get("state") == "open", int(r["number"])))
        return self._pr(matching[-1])

    async def open(self, spec: PullRequestSpec) -> PullRequest:
        async with self._lock:
            existing = await self.find_by_branch(spec.branch)
            if existing is not None and existing.state == "open":
                return existing
            return await self._new(spec, kind="pull")

    async def _new(self, spec: PullRequestSpec, *, kind: str) -> PullRequest:
        records = await asyncio.to_thread(self._load_all)
        number = max((int(r["number"]) for r in records), default=0) + 1
        record = {
            "number": number,
            "kind": kind,
            "url": f"{self.remote}#{kind}/{number}",
            "state": "open",
            "created_at": model.format_time(model.utcnow()),
            "comments": [],
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(spec).items()},
        }
        record = await asyncio.to_thread(self._save_new, record)
        return self._pr(record)

    async def _change(self, pr: PullRequest, **changes: Any) -> PullRequest:
        async with self._lock:
            record = await asyncio.to_thread(self._record, pr.number)
            for key, value in changes.items():
                if key == "comment":
                    record.setdefault("comments", []).append(
                        {"at": model.format_time(model.utcnow()), "body": value}
                    )
                else:
                    record[key] = list(value) if isinstance(value, tuple) else value
            await asyncio.to_thread(self._save, record)
            return self._pr(record)

    async def update(self, pr: PullRequest, spec: PullRequestSpec) -> PullRequest:
        return await self._change(
            pr,
            title=spec.title,
            body=spec.body,
            labels=spec.labels,
            assignees=spec.assignees,
            reviewers=spec.reviewers,
        )

    async def comment(self, pr: PullRequest, text: str) -> None:
        await self._change(pr, comment=text)

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        current = await self.refresh(pr)
        merged = tuple(dict.fromkeys([*current.labels, *labels]))
        await self._change(pr, labels=merged)

    async def remove_label(self, pr: PullRequest, label: str) -> None:
        current = await self.refresh(pr)
        if label in current.labels:
            await self._change(pr, labels=tuple(x for x in current.labels if x != label))

    async def close(self, pr: PullRequest, *, comment: str | None = None) -> PullRequest:
        if comment:
            await self.comment(pr, comment)
        return await self._change(
            pr, state="closed", closed_at=model.format_time(model.utcnow()), closed_by="breakglass"
        )

    async def review(self, number: int, *, merge: bool, by: str, git: Git) -> PullRequest:
        """Merge (a ``--no-ff`` merge commit of the branch into its base, pushed to the remote)
        or close an open pull request, as a reviewer on a forge does, and record who did."""
        async with self._lock:
            try:
                record = await asyncio.to_thread(self._record, number)
            except OSError as exc:
                raise PermanentError(f"no pull request {number} in {self.dir}") from exc
            if record.get("kind", "pull") != "pull" or record.get("state") != "open":
                raise PermanentError(
                    f"{record.get('kind', 'pull')} {number} is {record.get('state')}, not an "
                    "open pull request"
                )
            now = model.format_time(model.utcnow())
            if merge:
                await _merge(git, self.remote, record, by=by)
                record.update(state="merged", merged_at=now, merged_by=by)
            else:
                record.update(state="closed", closed_at=now, closed_by=by)
            await asyncio.to_thread(self._save, record)
            return self._pr(record)

    def records(self) -> list[PullRequest]:
        """Every pull request and issue, by number."""
        return [self._pr(r) for r in self._load_all()]

    async def refresh(self, pr: PullRequest) -> PullRequest:
        record = await asyncio.to_thread(self._record, pr.number)
        return self._pr(record)

    async def open_issue(
        self, *, title: str, body: str, labels: Sequence[str], assignees: Sequence[str]
    ) -> str:
        spec = PullRequestSpec(
            branch="",
            base="",
            title=title,
            body=body,
            labels=tuple(labels),
            assignees=tuple(assignees),
        )
        async with self._lock:
            issue = await self._new(spec, kind="issue")
        return issue.url

    async def close_issue(self, url: str, *, comment: str) -> None:
        head, _, tail = url.rpartition("#issue/")
        if head != self.remote or not tail.isdigit():
            raise PermanentError(f"not an issue of this forge: {url}")
        async with self._lock:
            record = await asyncio.to_thread(self._record, int(tail))
            now = model.format_time(model.utcnow())
            record.setdefault("comments", []).append({"at": now, "body": comment})
            if record.get("state") == "open":
                record.update(state="closed", closed_at=now, closed_by="breakglass")
            await asyncio.to_thread(self._save, record)


async def _merge(git: Git, remote: str, record: dict[str, Any], *, by: str) -> None:
    """The merge commit a forge makes: the branch into its base, pushed; refused on conflict."""
    branch, base = str(record["branch"]), str(record["base"])
    message = f"Merge pull request #{record['number']} from {branch}\n\n{record['title']}"
    who = {
        "GIT_AUTHOR_NAME": by,
        "GIT_AUTHOR_EMAIL": f"{by}@users.noreply.invalid",
        "GIT_COMMITTER_NAME": by,
        "GIT_COMMITTER_EMAIL": f"{by}@users.noreply.invalid",
    }
    with tempfile.TemporaryDirectory(prefix="breakglass-merge-") as tmp:
        work = Path(tmp) / "work"
        await git.run("clone", "--quiet", "--branch", base, remote, str(work), cwd=Path(tmp))
        await git.run("fetch", "--quiet", "origin", branch, cwd=work)
        try:
            await git.run(
                "merge", "--no-ff", "--quiet", "-m", message, "FETCH_HEAD", cwd=work, env=who
            )
        except BreakglassError as exc:
            raise PermanentError(
                f"pull request {record['number']} does not merge cleanly into {base}: {exc}",
                hint="resolve the conflict on the branch, or merge it by hand",
            ) from exc
        await git.run("push", "--quiet", "origin", f"HEAD:{base}", cwd=work)

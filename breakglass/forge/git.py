"""Real ``git``, driven as a subprocess: mirrors, worktrees, commits with trailers, pushes.

Why the CLI and not a library: the commits breakglass makes must be exactly what a human's
``git`` would make (hooks aside), authentication must work with whatever credential helpers and
SSH set-up the operator has, and nothing here should parse packfiles.  Every call runs off the
event loop; output and errors have forge tokens masked before they reach a log or exception.

Layout: one bare mirror per remote under ``state_dir/mirrors/<hash>`` and one kept worktree of
it under ``state_dir/mirrors/trees/<hash>``, moved to the commit each backfill starts from (so the
GitOps index of it is refreshed, not rebuilt); each backfill then pushes one branch.
breakglass never force-pushes: a backfill branch only ever gains commits on top of its current
head, so a human's commits on the branch are never overwritten.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from breakglass import logs
from breakglass.errors import PermanentError, TemporaryError

log = logs.get(__name__)

_BRANCH_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")


@dataclass(frozen=True)
class Identity:
    """A Git author or committer."""

    name: str
    email: str


def safe_branch(*parts: str, max_length: int = 200) -> str:
    """A branch name from ``parts`` that Git accepts and no part can escape or inject into.

    Each part is reduced to ``[A-Za-z0-9._-]``; ``..``, leading dots and ``.lock`` endings are
    removed; an over-long name is cut and suffixed with a short hash of the original.
    """
    cleaned = []
    for part in parts:
        text = _BRANCH_UNSAFE.sub("-", part.replace("/", "-")).strip("-.")
        text = re.sub(r"\.{2,}", ".", text)
        text = re.sub(r"\.lock$", "-lock", text)
        cleaned.append(text or "_")
    name = "/".join(cleaned)
    if len(name) > max_length:
        digest = hashlib.sha256("/".join(parts).encode()).hexdigest()[:10]
        name = name[: max_length - 11].rstrip("/.-") + "-" + digest
    return name


class GitError(TemporaryError):
    """A git command failed; retried unless it is clearly permanent."""


@dataclass
class Git:
    """Runs git with a fixed environment and optional HTTP auth, masking secrets in output."""

    token: str | None = None
    timeout: float = 120.0

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "BREAKGLASS_"))}
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_CONFIG_NOSYSTEM="1",
            LC_ALL="C",
            HOME=os.environ.get("HOME", "/tmp"),  # noqa: S108 - git needs some HOME
        )
        if self.token:
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return env

    def mask(self, text: str) -> str:
        if self.token:
            text = text.replace(self.token, "***")
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            text = text.replace(basic, "***")
        return re.sub(r"(https?://)[^/@\s]+@", r"\1***@", text)

    async def run(
        self,
        *args: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> str:
        full_env = self._env()
        full_env.update(env or {})
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=str(cwd) if cwd else None,
            env=full_env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise GitError(f"git {args[0]} timed out after {self.timeout:.0f}s") from None
        if check and proc.returncode != 0:
            message = self.mask(err.decode(errors="replace").strip() or out.decode().strip())
            command = self.mask(" ".join(args[:3]))
            if _permanent(message):
                raise PermanentError(
                    f"git {command} failed: {message}",
                    hint="check the repository URL and that the credentials may push to it",
                )
            raise GitError(f"git {command} failed: {message}", delay=5.0)
        return out.decode(errors="replace")


def _permanent(message: str) -> bool:
    lowered = message.lower()
    return any(
        marker in lowered
        for marker in (
            "permission denied",
            "authentication failed",
            "repository not found",
            "does not appear to be a git repository",
            "protected branch",
            "pre-receive hook declined",
            "403",
        )
    )


@dataclass
class Mirror:
    """A bare mirror of one remote, fetched before each use."""

    url: str
    root: Path
    git: Git

    @property
    def path(self) -> Path:
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        return self.root / digest

    async def sync(self) -> None:
        """Clone once, then fetch every branch (pruning deleted ones)."""
        if not (self.path / "HEAD").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=self.root))
            try:
                await self.git.run("clone", "--bare", "--quiet", self.url, str(tmp / "repo"))
                (tmp / "repo").rename(self.path)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            log.info("mirror_cloned", url=self.git.mask(self.url), path=str(self.path))
        await self.git.run(
            "fetch",
            "--quiet",
            "--prune",
            self.url,
            "+refs/heads/*:refs/heads/*",
            cwd=self.path,
        )

    async def head(self, branch: str) -> str | None:
        out = await self.git.run(
            "rev-parse",
            "--verify",
            "--quiet",
            f"refs/heads/{branch}^{{commit}}",
            cwd=self.path,
            check=False,
        )
        return out.strip() or None

    async def commits_since(self, base: str, head: str) -> list[tuple[str, str]]:
        """``(sha, committer email)`` of commits on ``head`` not on ``base``, oldest first."""
        out = await self.git.run(
            "log", "--reverse", "--format=%H %ce", f"{base}..{head}", cwd=self.path
        )
        pairs = [line.split(" ", 1) for line in out.splitlines() if " " in line]
        return [(sha, email) for sha, email in pairs]

    @contextlib.asynccontextmanager
    async def worktree(self, ref: str) -> AsyncIterator[Path]:
        """A detached worktree at ``ref``, removed afterwards."""
        base = Path(tempfile.mkdtemp(prefix="bg-worktree-"))
        path = base / "tree"
        await self.git.run("worktree", "add", "--detach", "--quiet", str(path), ref, cwd=self.path)
        try:
            yield path
        finally:
            await self.git.run(
                "worktree", "remove", "--force", str(path), cwd=self.path, check=False
            )
            shutil.rmtree(base, ignore_errors=True)
            await self.git.run("worktree", "prune", cwd=self.path, check=False)

    @contextlib.asynccontextmanager
    async def kept_worktree(self, ref: str) -> AsyncIterator[tuple[Path, list[str] | None]]:
        """One long-lived worktree per mirror, moved to ``ref`` (detached) for each use.

        Yields the tree and the paths that differ from what it held before (``None`` the first
        time), so an index of it can be refreshed instead of rebuilt.  Anything left over from
        an interrupted run is reset and cleaned first, and again afterwards.
        """
        path = self.root / "trees" / self.path.name
        changed: list[str] | None = None
        if (path / ".git").exists():
            previous = (await self.git.run("rev-parse", "HEAD", cwd=path, check=False)).strip()
            await self.git.run("reset", "--hard", "--quiet", cwd=path)
            await self.git.run("clean", "-fdxq", cwd=path)
            await self.git.run("checkout", "--detach", "--force", "--quiet", ref, cwd=path)
            if previous:
                out = await self.git.run(
                    "diff", "--name-only", previous, ref, cwd=path, check=False
                )
                changed = [line for line in out.splitlines() if line]
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            await self.git.run("worktree", "prune", cwd=self.path, check=False)
            await self.git.run(
                "worktree", "add", "--detach", "--force", "--quiet", str(path), ref, cwd=self.path
            )
        try:
            yield path, changed
        finally:
            await self.git.run("reset", "--hard", "--quiet", cwd=path, check=False)
            await self.git.run("clean", "-fdxq", cwd=path, check=False)

    async def commit(
        self,
        tree: Path,
        *,
        files: Mapping[str, str | None],
        message: str,
        author: Identity,
        committer: Identity,
    ) -> str:
        """Write ``files`` (``None`` deletes) into ``tree`` and commit them; return the sha."""
        await asyncio.to_thread(_write_files, tree, files)
        await self.git.run("add", "--all", "--", *files, cwd=tree)
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
        }
        await self._commit_with_message(tree, message, env)
        return (await self.git.run("rev-parse", "HEAD", cwd=tree)).strip()

    async def _commit_with_message(self, tree: Path, message: str, env: Mapping[str, str]) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".msg", delete=False) as handle:
            handle.write(message)
            name = handle.name
        try:
            await self.git.run(
                "-c",
                "commit.gpgsign=false",
                "commit",
                "--quiet",
                "--no-verify",
                "-F",
                name,
                cwd=tree,
                env=env,
            )
        finally:
            os.unlink(name)

    async def push(self, tree: Path, branch: str, *, expected: str | None) -> None:
        """Push HEAD to ``branch``; fails (retried later) if the branch moved since ``expected``.

        ``--force-with-lease`` with the expected old value is a compare-and-swap, not a force:
        with ``expected`` equal to the current head the push is a plain fast-forward.
        """
        lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
        await self.git.run(
            "push", "--quiet", lease, self.url, f"HEAD:refs/heads/{branch}", cwd=tree
        )
        await self.git.run(
            "fetch",
            "--quiet",
            self.url,
            f"+refs/heads/{branch}:refs/heads/{branch}",
            cwd=self.path,
        )

    async def diff(self, base: str, head: str) -> str:
        return await self.git.run("diff", "--no-color", f"{base}...{head}", cwd=self.path)


def _write_files(tree: Path, files: Mapping[str, str | None]) -> None:
    root = tree.resolve()
    for rel, text in files.items():
        target = (root / rel).resolve()
        if root not in target.parents:
            raise PermanentError(f"refusing to write outside the repository: {rel}")
        if text is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")


def trailers(items: Sequence[tuple[str, str]]) -> str:
    """Git trailer lines (``Key: value``), one per item."""
    return "\n".join(f"{key}: {value}" for key, value in items)

"""A real bare Git repository for the fake forges, driven by the real ``git`` binary.

The fakes refuse a pull request whose head branch is not in this repository, exactly like the
real forges, so tests exercise the real push-then-open order.  The repository's path is what
the fakes hand out as ``clone_url`` / ``http_url_to_repo``: ``git push`` to it works directly.
Helpers use plumbing commands (no working tree), so they also stand in for a human who pushes
to a branch or merges a pull request.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

_ENV = {
    "GIT_AUTHOR_NAME": "Fake Forge",
    "GIT_AUTHOR_EMAIL": "forge@example.invalid",
    "GIT_COMMITTER_NAME": "Fake Forge",
    "GIT_COMMITTER_EMAIL": "forge@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


class GitError(RuntimeError):
    pass


class BareRepo:
    """A bare repository at ``path`` with a default branch."""

    def __init__(self, path: Path, default_branch: str = "main") -> None:
        self.path = path
        self.default_branch = default_branch

    @classmethod
    def create(
        cls,
        root: Path,
        name: str = "repo.git",
        *,
        default_branch: str = "main",
        files: Mapping[str, str] | None = None,
    ) -> BareRepo:
        """``git init --bare`` under ``root`` and commit ``files`` to ``default_branch``."""
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _run(["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path)])
        repo = cls(path, default_branch)
        repo.commit_files(
            default_branch, files or {"README.md": "# fixture\n"}, "initial commit", create=True
        )
        return repo

    @property
    def url(self) -> str:
        """What a client passes to ``git clone``/``git push``."""
        return str(self.path)

    def git(self, *args: str, env: Mapping[str, str] | None = None, check: bool = True) -> str:
        return _run(["git", "--git-dir", str(self.path), *args], env=env, check=check)

    def sha(self, ref: str) -> str | None:
        out = self.git(
            "rev-parse", "--verify", "--quiet", f"{_qualify(ref)}^{{commit}}", check=False
        )
        return out.strip() or None

    def branch_exists(self, branch: str) -> bool:
        return self.sha(branch) is not None

    def branches(self) -> list[str]:
        out = self.git("for-each-ref", "--format=%(refname:short)", "refs/heads/")
        return [line for line in out.splitlines() if line]

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), "merge-base", "--is-ancestor",
             _qualify(ancestor), _qualify(descendant)],
            env=_env(), capture_output=True, check=False,
        )  # fmt: skip
        return proc.returncode == 0

    def read(self, branch: str, path: str) -> str | None:
        out = self.git("show", f"{_qualify(branch)}:{path}", check=False)
        return out if out else None

    def log(self, branch: str, fmt: str = "%H %s") -> list[str]:
        return self.git("log", f"--format={fmt}", _qualify(branch)).splitlines()

    def create_branch(self, branch: str, start: str | None = None) -> str:
        sha = self.sha(start or self.default_branch)
        if sha is None:
            raise GitError(f"no such start point {start!r}")
        self.git("update-ref", f"refs/heads/{branch}", sha)
        return sha

    def delete_branch(self, branch: str) -> None:
        self.git("update-ref", "-d", f"refs/heads/{branch}")

    def commit_files(
        self,
        branch: str,
        files: Mapping[str, str],
        message: str,
        *,
        create: bool = False,
        start: str | None = None,
        author: tuple[str, str] | None = None,
    ) -> str:
        """Commit ``files`` (path → content) on top of ``branch`` without a working tree.

        ``create`` makes ``branch`` from ``start`` (default branch) when it does not exist yet.
        """
        parent = old = self.sha(branch)
        if parent is None and create and start is not None:
            parent = self.sha(start)
        elif parent is None and create and branch != self.default_branch:
            parent = self.sha(self.default_branch)
        elif parent is None and not create:
            raise GitError(f"no such branch {branch!r}")
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
            if author is not None:
                env |= {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1]}
            if parent is not None:
                self.git("read-tree", parent, env=env)
            for path, content in files.items():
                blob = _run(
                    ["git", "--git-dir", str(self.path), "hash-object", "-w", "--stdin"],
                    stdin=content,
                ).strip()
                self.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self.git("write-tree", env=env).strip()
            parents = ["-p", parent] if parent else []
            commit = self.git("commit-tree", tree, *parents, "-m", message, env=env).strip()
        # The old value makes the update atomic (a concurrent push wins, not silently lost).
        self.git("update-ref", f"refs/heads/{branch}", commit, old or "0" * 40)
        return commit

    def merge(self, head: str, base: str, *, message: str) -> str:
        """Merge ``head`` into ``base`` as the forge's merge button would; returns the new sha."""
        head_sha, base_sha = self.sha(head), self.sha(base)
        if head_sha is None or base_sha is None:
            raise GitError(f"cannot merge {head!r} into {base!r}: missing branch")
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), "merge-tree", "--write-tree", base_sha, head_sha],
            env=_env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise GitError(f"merge conflict between {head!r} and {base!r}")
        tree = proc.stdout.splitlines()[0].strip()
        commit = self.git("commit-tree", tree, "-p", base_sha, "-p", head_sha, "-m", message)
        commit = commit.strip()
        self.git("update-ref", f"refs/heads/{base}", commit, base_sha)
        return commit


def _qualify(ref: str) -> str:
    if ref.startswith("refs/") or (all(c in "0123456789abcdef" for c in ref) and len(ref) == 40):
        return ref
    return f"refs/heads/{ref}"


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= _ENV
    if extra:
        env |= extra
    return env


def _run(
    cmd: list[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    stdin: str | None = None,
) -> str:
    proc = subprocess.run(
        cmd, env=_env(env), capture_output=True, text=True, check=False, input=stdin
    )
    if check and proc.returncode != 0:
        raise GitError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout

"""The reviewer's side of the local forge: ``breakglass pulls`` merges or closes, as a forge does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from breakglass.errors import PermanentError
from breakglass.forge import PullRequestSpec
from breakglass.forge.git import Git
from breakglass.forge.local import LocalProvider
from tests.backfill.conftest import bare_remote, git

BRANCH = "breakglass/prod/payments/configmap/flags"


def remote_with_branch(tmp_path: Path, *, conflicting: bool = False) -> Path:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "flags.yaml").write_text("mode: safe  # keep\n")
    remote = bare_remote(seed)
    work = tmp_path / "work"
    git("clone", "-q", str(remote), str(work), cwd=tmp_path)
    git("checkout", "-q", "-b", BRANCH, cwd=work)
    (work / "flags.yaml").write_text("mode: fast  # keep\n")
    git("commit", "-qam", "backfill", cwd=work)
    git("push", "-q", "origin", BRANCH, cwd=work)
    if conflicting:
        git("checkout", "-q", "main", cwd=work)
        (work / "flags.yaml").write_text("mode: slow  # keep\n")
        git("commit", "-qam", "someone else", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
    return remote


def show(remote: Path, what: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", str(remote), "show", "-s", "--format=%an|%s|%P", what],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


async def opened(tmp_path: Path, remote: Path) -> LocalProvider:
    forge = LocalProvider(tmp_path / "prs", remote=str(remote))
    await forge.open(PullRequestSpec(branch=BRANCH, base="main", title="flags to fast", body="b"))
    return forge


async def test_merge_makes_a_merge_commit_on_the_base_and_records_who(tmp_path):
    remote = remote_with_branch(tmp_path)
    forge = await opened(tmp_path, remote)
    pr = await forge.review(1, merge=True, by="bob", git=Git())
    assert pr.state == "merged" and pr.merged_at
    author, subject, parents = show(remote, "main").split("|")
    assert author == "bob"
    assert subject == f"Merge pull request #1 from {BRANCH}"
    assert len(parents.split()) == 2  # a merge commit, as a forge makes
    content = subprocess.run(
        ["git", "--git-dir", str(remote), "show", "main:flags.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert content == "mode: fast  # keep\n"
    with pytest.raises(PermanentError, match="is merged, not an open pull request"):
        await forge.review(1, merge=False, by="bob", git=Git())


async def test_close_leaves_the_base_alone(tmp_path):
    remote = remote_with_branch(tmp_path)
    forge = await opened(tmp_path, remote)
    before = show(remote, "main")
    pr = await forge.review(1, merge=False, by="carol", git=Git())
    assert pr.state == "closed" and pr.closed_by == "carol"
    assert show(remote, "main") == before


async def test_a_conflict_is_refused_and_nothing_changes(tmp_path):
    remote = remote_with_branch(tmp_path, conflicting=True)
    forge = await opened(tmp_path, remote)
    before = show(remote, "main")
    with pytest.raises(PermanentError, match="does not merge cleanly into main"):
        await forge.review(1, merge=True, by="bob", git=Git())
    assert show(remote, "main") == before
    assert (await forge.find_by_branch(BRANCH)).state == "open"  # type: ignore[union-attr]


async def test_the_cli_lists_shows_and_merges(tmp_path):
    remote = remote_with_branch(tmp_path)
    await opened(tmp_path, remote)
    config = tmp_path / "breakglass.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        f"forges: {{local: {{kind: local, records_dir: {tmp_path / 'prs'}}}}}\n"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "breakglass", "pulls", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    assert f"#1    open    {BRANCH}  flags to fast" in listed.stdout
    assert "flags to fast" in cli("show", "1").stdout
    merged = cli("merge", "1", "--as", "bob")
    assert merged.returncode == 0, merged.stderr
    assert merged.stdout.strip() == "#1 merged: flags to fast"
    again = cli("merge", "1")
    assert again.returncode != 0 and "is merged, not an open pull request" in again.stderr

"""Golden cases: a repository, the live object before and after, and the expected repository.

Each directory under ``golden/`` holds ``repo/`` (the checkout), ``old.yaml``/``old.json``
and/or ``new.yaml``/``new.json`` (objects as the API server serves them, noise included),
optional ``args`` (extra command-line arguments), ``exit`` (the expected exit code),
optional ``stderr`` and ``stdout`` (lines that must appear there, such as a note) and, for
exit 0, ``expected/`` (the whole checkout afterwards, compared byte for byte).

Set ``BREAKGLASS_GOLDEN_UPDATE=1`` to (re)write ``expected/`` from the current output —
then read every diff before committing it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path

import pytest

from breakglass import cli

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p for p in GOLDEN.iterdir() if p.is_dir())
UPDATE = os.environ.get("BREAKGLASS_GOLDEN_UPDATE") == "1"

#: Values that appear in the Secret cases and must never be printed or written.
SECRET_VALUES = ("c2VjcmV0", "dG9wc2VjcmV0", "bmV3")


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def first(case: Path, stem: str) -> Path | None:
    for suffix in (".yaml", ".json"):
        if (case / f"{stem}{suffix}").exists():
            return case / f"{stem}{suffix}"
    return None


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(case / "repo", repo, symlinks=True)
    argv = ["backfill", "--repo", str(repo)]
    old, new = first(case, "old"), first(case, "new")
    if old is not None:
        argv += ["--old", str(old)]
    if new is not None:
        argv += ["--new", str(new)]
    if (case / "args").exists():
        argv += shlex.split((case / "args").read_text())
    code = cli.main(argv)
    out, err = capsys.readouterr()
    expected_code = int((case / "exit").read_text())
    assert code == expected_code, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    for name, text in (("stderr", err), ("stdout", out)):
        if (case / name).exists():
            for line in (case / name).read_text().splitlines():
                assert line in text, f"{line!r} not in {name}:\n{text}"
    for value in SECRET_VALUES:
        assert value not in out + err
    expected_dir = case / "expected" if code == 0 else case / "repo"
    if UPDATE and code == 0:
        shutil.rmtree(expected_dir, ignore_errors=True)
        shutil.copytree(repo, expected_dir, symlinks=True)
    after = tree(repo)
    assert after == tree(expected_dir)
    for text in after.values():
        assert b"last-applied-configuration" not in text
        assert b"managedFields" not in text
    if code == 0:
        before = tree(case / "repo")
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        assert json.loads(out)["changed"] == changed

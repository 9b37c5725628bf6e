"""Binaries built by ``tests/e2e/testbin.sh`` for the tests, or a skip that says how to get them.

The tests that need a real tool (sops and age-keygen, kustomize and helm) share one policy, the
end-to-end tests' (``tests/e2e/conftest.py``): when the binaries cannot be had (no Go, a failed
build) the test is skipped with a message saying how to enable it, unless
``BREAKGLASS_E2E=required``, which makes that a failure; ``BREAKGLASS_E2E=skip`` skips on
purpose.  testbin.sh runs once per process; a failure is remembered too, so a broken build is
tried once, not once per test.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTBIN = ROOT / "tests" / "e2e" / "testbin.sh"


@functools.cache
def _built() -> dict[str, str] | str:
    """testbin.sh's ``NAME=path`` lines, or why it could not run."""
    proc = subprocess.run(["bash", str(TESTBIN)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return (
            f"tests/e2e/testbin.sh failed (exit {proc.returncode}); run it by hand (or "
            f"`make testbin`) to see why:\n{proc.stderr[-4000:]}"
        )
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def _outcome(keys: tuple[str, ...], cache_glob: str, what: str) -> tuple[Path, ...] | str:
    if shutil.which("go") is None and not os.environ.get("BREAKGLASS_TESTBIN_DIR"):
        cached = Path.home() / ".cache" / "breakglass" / "testbin"
        if not all(any(cached.glob(g)) for g in cache_glob.split(",")):
            return (
                f"Go is not installed, so {what} cannot be built; install Go (>= 1.25) and "
                "run tests/e2e/testbin.sh (or `make testbin`)"
            )
    found = _built()
    if isinstance(found, str):
        return found
    paths = []
    for key in keys:
        if key not in found or not Path(found[key]).exists():
            return f"tests/e2e/testbin.sh did not produce {key}"
        paths.append(Path(found[key]).resolve())
    return tuple(paths)


def tools(keys: tuple[str, ...], *, cache_glob: str, what: str) -> tuple[Path, ...]:
    """The paths testbin.sh gives for ``keys`` (``SOPS``, ``KUSTOMIZE``, …); skips or fails
    the calling test, by the policy above, when they cannot be had.  ``cache_glob`` names the
    cache directories that count as built (comma-separated), ``what`` the tools in messages."""
    mode = os.environ.get("BREAKGLASS_E2E", "")
    if mode == "skip":
        pytest.skip("BREAKGLASS_E2E=skip")
    outcome = _outcome(keys, cache_glob, what)
    if isinstance(outcome, str):
        if mode == "required":
            pytest.fail(f"BREAKGLASS_E2E=required but {what} are unavailable: {outcome}")
        pytest.skip(f"{outcome} (set BREAKGLASS_E2E=required to make this a failure)")
    return outcome

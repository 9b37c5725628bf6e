"""The real ``kustomize`` and ``helm`` binaries for tests, or a skip that says how to get them.

The render check trusts these tools to say what a branch deploys, so its tests run the real
ones, built from their Go modules by ``tests/e2e/testbin.sh`` into the same versioned cache as
kube-apiserver, etcd and sops (the versions the image ships).  The policy is that of
``tests/sopstools.py``: when the binaries cannot be had (no Go, a failed build) the test is
skipped with a message saying how to enable it, unless ``BREAKGLASS_E2E=required``, which makes
that a failure; ``BREAKGLASS_E2E=skip`` skips on purpose.
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
def _outcome() -> tuple[Path, Path] | str:
    """Run testbin.sh once per process: (kustomize, helm), or why they cannot be had."""
    if shutil.which("go") is None and not os.environ.get("BREAKGLASS_TESTBIN_DIR"):
        cached = Path.home() / ".cache" / "breakglass" / "testbin"
        if not (any(cached.glob("kustomize-*/.complete")) and any(cached.glob("helm-*/.complete"))):
            return (
                "Go is not installed, so kustomize and helm cannot be built; install Go "
                "(>= 1.25) and run tests/e2e/testbin.sh (or `make testbin`)"
            )
    proc = subprocess.run(["bash", str(TESTBIN)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return (
            f"tests/e2e/testbin.sh failed (exit {proc.returncode}); run it by hand (or "
            f"`make testbin`) to see why:\n{proc.stderr[-4000:]}"
        )
    found = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    paths = []
    for key in ("KUSTOMIZE", "HELM"):
        if key not in found or not Path(found[key]).is_file():
            return f"tests/e2e/testbin.sh did not produce {key}"
        paths.append(Path(found[key]).resolve())
    return paths[0], paths[1]


@functools.cache
def render_tools() -> tuple[Path, Path]:
    """(kustomize, helm), built into the test-binary cache if needed; skips or fails if not."""
    mode = os.environ.get("BREAKGLASS_E2E", "")
    if mode == "skip":
        pytest.skip("BREAKGLASS_E2E=skip")
    outcome = _outcome()
    if isinstance(outcome, str):
        if mode == "required":
            pytest.fail(f"BREAKGLASS_E2E=required but kustomize/helm are unavailable: {outcome}")
        pytest.skip(f"{outcome} (set BREAKGLASS_E2E=required to make this a failure)")
    return outcome

"""Each benchmark runs once in a tiny configuration, so they keep working (no timing asserted).

The server benchmarks start real processes (breakglass, the ceiling, kopf) and a load generator
for about a second each; results go to a temporary directory, never to ``bench/results``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sopstools import sops_tools

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "validate_latency": ["--calls", "5"],
    "admission": [
        "--sizes",
        "14",
        "--concurrency",
        "2",
        "--seconds",
        "1",
        "--rounds",
        "1",
        "--warmup",
        "5",
        "--requests",
        "50",
    ],
    "audit_intake": [
        "--events",
        "20",
        "--concurrency",
        "1",
        "--seconds",
        "1",
        "--requests",
        "5",
    ],
    "capture_to_pr": ["--edits", "2", "--interval", "0.05"],
    "admission_under_backfill": [
        "--documents",
        "200",
        "--seconds",
        "1",
        "--rounds",
        "1",
        "--captures",
        "4",
        "--concurrency",
        "2",
    ],
    "gitops_index": ["200"],
    "terraform_mapping": ["120", "--rounds", "1"],
    "journal": ["--inserts", "20", "--concurrency", "1,4", "--rounds", "1"],
    "memory": ["--seconds", "1", "--concurrency", "2"],
    "sops_backfill": ["--runs", "2", "--keys", "3"],
    "scan": ["--objects", "60", "--documents", "120", "--rounds", "1", "--page-size", "20"],
}


def needs_control_plane() -> None:
    """Skip (or, with ``BREAKGLASS_E2E=required``, fail) as the end-to-end tests do when etcd
    and kube-apiserver cannot be built."""
    from tests.e2e.controlplane import ToolchainMissing, binaries

    mode = os.environ.get("BREAKGLASS_E2E", "")
    if mode == "skip":
        pytest.skip("BREAKGLASS_E2E=skip")
    try:
        binaries()
    except ToolchainMissing as exc:
        if mode == "required":
            pytest.fail(f"BREAKGLASS_E2E=required but the control plane is unavailable: {exc}")
        pytest.skip(str(exc))


def run_bench(name: str, args: list[str], results: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BREAKGLASS_BENCH_RESULTS": str(results)}
    if name == "sops_backfill":
        env["BREAKGLASS_SOPS"] = str(sops_tools()[0])
    return subprocess.run(
        [sys.executable, "-m", "bench", name, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_runs(tmp_path, name):
    if name in ("admission",):
        pytest.importorskip("kopf")
    if name == "scan":
        needs_control_plane()
    out = run_bench(name, CASES[name], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads((tmp_path / f"{name}.json").read_text())
    assert data["machine"]["cores"] >= 1
    assert data["machine"]["python"]
    assert data["results"]


def test_every_benchmark_is_listed():
    from bench.__main__ import available

    assert set(available()) == set(CASES) | {"all"}

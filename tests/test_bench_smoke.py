"""Each benchmark runs once in a tiny configuration, so they keep working (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_validate_latency_benchmark_runs(tmp_path):
    env = {**os.environ, "BREAKGLASS_BENCH_RESULTS": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "bench", "validate_latency", "--calls", "5"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "captured" in out.stdout
    data = json.loads((tmp_path / "validate_latency.json").read_text())
    assert data["machine"]["cores"] >= 1
    assert set(data["results"]) == {"captured", "filtered"}

"""`breakglass demo` in replay mode: the whole loop from a recorded API server's payloads to a
backfill pull request, as a newcomer runs it (a subprocess, like `make demo`)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakglass", "demo", "--replay", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        env={k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")},
    )


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    keep = tmp_path_factory.mktemp("demo") / "kept"
    out = demo("--keep", str(keep))
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout, keep


def test_progress_line_per_step_and_says_it_replays(replayed):
    stdout, _ = replayed
    steps = re.findall(r"^\[(\d)/7\]", stdout, re.M)
    assert steps == [str(i) for i in range(1, 8)]
    assert "replay mode" in stdout
    assert "recorded payloads of a real one" in stdout


def test_prints_what_kubectl_showed(replayed):
    stdout, _ = replayed
    assert "$ kubectl scale deployment/checkout -n payments --replicas=5" in stdout
    assert re.search(
        r"^Warning: breakglass: recorded deployment payments/checkout change as \w{26}; "
        r"a backfill PR will follow$",
        stdout,
        re.M,
    )
    assert "configmap/checkout-config patched" in stdout


def test_prints_captures_diffs_and_pull_requests(replayed):
    stdout, _ = replayed
    assert len(re.findall(r"  pr_open  UPDATE  alice  ", stdout)) == 2
    # The overlay's replicas entry is edited, comment kept; the base is not touched.
    assert "-    count: 2  # HA minimum, do not go below 2" in stdout
    assert "+    count: 5  # HA minimum, do not go below 2" in stdout
    assert '+  TIMEOUT: "60"' in stdout
    assert (
        "Title:     breakglass: kubectl scale of deployment payments/checkout by alice "
        "(2 → 5 replicas)" in stdout
    )
    assert "Branch:    breakglass/demo/payments/deployment/checkout → main" in stdout
    assert "Labels:    breakglass, backfill" in stdout
    assert "Assignee:  " in stdout
    assert "  │ ### Manual change in demo needs to reach Git" in stdout


def test_audit_log_verifies_and_kept_directory_is_explained(replayed):
    stdout, keep = replayed
    # one chain per process: the webhook's, and the worker's (its PR records)
    chains = re.findall(r"^(\S+): (\d+)/\2 records valid, head ", stdout, re.M)
    assert [Path(d).relative_to(keep).as_posix() for d, _ in chains] == [
        "state/audit",
        "state/audit/worker",
    ]
    assert f"Everything is in {keep}" in stdout
    assert (keep / "gitops.git").is_dir()
    assert len(list((keep / "state" / "pull-requests").glob("*.json"))) == 2


def test_kept_audit_log_verifies_afterwards_in_a_shell_of_its_own(replayed):
    stdout, keep = replayed
    config = keep / "breakglass.yaml"
    assert f"  breakglass audit verify --config {config}" in stdout
    key_file = keep / "audit-log.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    out = subprocess.run(
        [sys.executable, "-m", "breakglass", "audit", "verify", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},  # no BREAKGLASS_* variables
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.findall(r"^\S+: (\d+)/\1 records valid, head ", out.stdout, re.M)


def test_cleans_up_after_itself(tmp_path):
    out = demo("--timeout", "60")
    assert out.returncode == 0, out.stdout + out.stderr
    match = re.search(r"removed (\S+)\.$", out.stdout, re.M)
    assert match and not os.path.exists(match.group(1))


def test_refuses_a_non_empty_keep_directory(tmp_path):
    (tmp_path / "something").write_text("x")
    out = demo("--keep", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.startswith("error: --keep")
    assert "hint:" in out.stderr and "Traceback" not in out.stderr


def test_cluster_mode_finds_the_change_made_before_install_with_a_scan(tmp_path):
    """On a real API server the demo also tells the scan's story: bob's change made before
    breakglass was installed is found by `breakglass scan`, with its manager and "since", and
    becomes a pull request like the others."""
    from breakglass.demo import cluster

    try:
        cluster.binaries(build=False)
    except cluster.Unavailable as exc:
        if os.environ.get("BREAKGLASS_E2E") == "required":
            pytest.fail(f"BREAKGLASS_E2E=required but the control plane is unavailable: {exc}")
        pytest.skip(str(exc))
    out = subprocess.run(
        [sys.executable, "-m", "breakglass", "demo", "--cluster", "--keep", str(tmp_path / "k")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    stdout = out.stdout
    steps = re.findall(r"^\[(\d+)/(\d+)\]", stdout, re.M)
    assert [int(n) for n, _ in steps] == list(range(1, 12)) and {t for _, t in steps} == {"11"}
    assert "before breakglass was installed" in stdout
    row = next(line for line in stdout.splitlines() if line.startswith("ConfigMap/payments/"))
    assert "data.FEATURE_X" in row and "kubectl-patch" in row and "unknown" in row
    assert re.search(r"  off  +on  +kubectl-patch  +20\d\d-\d\d-\d\dT", row)
    assert "made by an unknown user at least since" in stdout
    assert "  scan       pr_open  UPDATE  unknown  ConfigMap/payments/checkout-config" in stdout
    assert '+  FEATURE_X: "on"  # new checkout flow, see RFC-118' in stdout
    # README.md's "What a backfill pull request looks like" is this run's own output
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    sample = re.search(
        r"```\n(── Pull request #\d+ \(local forge record\).*?</details>)\n```", readme, re.S
    )
    assert sample, "README.md has no sample pull request"
    printed = re.search(
        r"(── Pull request #\d+ \(local forge record\)[^\n]*\nTitle:     "
        r"breakglass: kubectl scale.*?</details>)",
        stdout,
        re.S,
    )
    assert printed
    assert _normalised(sample.group(1)) == _normalised(printed.group(1))


def _normalised(text: str) -> str:
    """A pull request as the demo prints it, without what changes from run to run."""
    text = re.sub(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", "<id>", text)
    text = re.sub(
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>", text
    )
    text = re.sub(r"`\d+:[0-9a-f]{64}`", "`<head>`", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "<time>", text)
    return re.sub(r"live for \d+ min", "live for <n> min", text)

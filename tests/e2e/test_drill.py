"""``breakglass drill`` against the real API server with the real Flux and breakglass's webhook.

alice drills with her own kubeconfig context. An enforcing Kustomization (interval 10s) puts
the drill's change back within its interval, and the webhook's captures of alice's drill
writes are recorded as a drill and never backfilled; a suspended one keeps it, and the drill
puts it back at the deadline; Ctrl-C puts back a change made moments before; after a kill -9
the changes stay, marked, until ``drill --cleanup`` puts them back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import wait_until
from tests.e2e.flux import live
from tests.e2e.test_flux_loop import captures, fleet

LABEL = "breakglass.dev/drill"


def drill_argv(cluster: Any, namespace: str, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "breakglass", "drill", "--config", str(cluster.config),
        "--kubeconfig", str(cluster.kubeconfig), "--context", "alice",
        "--app", f"{namespace}/payments", *args,
    ]  # fmt: skip


def drill(cluster: Any, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        drill_argv(cluster, namespace, *args),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def marks(cluster: Any, namespace: str) -> dict[str, Any]:
    """The drill label on each of the app's objects (None: unmarked)."""
    return {
        kind: (live(cluster, kind, name, namespace)["metadata"].get("labels") or {}).get(LABEL)
        for kind, name in (("deployment", "payments"), ("configmap", "payments-settings"))
    }


def suspend(cluster: Any, flux: Any, namespace: str) -> None:
    cluster.kubectl(
        "patch", "kustomizations.kustomize.toolkit.fluxcd.io", "payments", "-n", namespace,
        "--type=merge", "-p", '{"spec": {"suspend": true}}', user="flux",
    )  # fmt: skip


def test_drill_measures_flux_and_never_becomes_a_pr(cluster, flux, namespace, tmp_path):
    bare = fleet(tmp_path, namespace)
    flux.app("payments", namespace, bare=bare, path="./apps/payments")

    plan = drill(cluster, namespace)  # no --yes: the plan, nothing changed
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"flux:{namespace}/payments" in plan.stdout and "enforcing" in plan.stdout
    assert f"deployment {namespace}/payments" in plan.stdout
    assert "run again with --yes" in plan.stdout
    assert marks(cluster, namespace) == {"deployment": None, "configmap": None}

    proc = drill(cluster, namespace, "--yes", "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["user"] == "alice"
    results = {r["object"]: r for r in data["results"]}
    assert set(results) == {
        f"deployment {namespace}/payments",
        f"configmap {namespace}/payments-settings",
    }
    for result in results.values():
        assert result["outcome"] == "reverted", result
        assert result["verdict"] == "enforcing" and result["expected_seconds"] == 10.0
        assert 0 < result["measured_seconds"] < 25, result  # within its 10 s interval, + apply
        assert result["against_posture"] == "as posture expected: reverted"
    assert marks(cluster, namespace) == {"deployment": None, "configmap": None}

    # the journal keeps the drill's results, and what the webhook saw of alice's drill
    # writes is a drill: ignored by the worker, never a PR
    def settled() -> list[dict[str, Any]]:
        mine = captures(cluster, namespace)
        webhook = [c for c in mine if c["source"] in ("admission", "audit")]
        return mine if webhook and all(c["status"] == "ignored" for c in webhook) else []

    mine = wait_until(settled, timeout=60, what="the drill's captures to be ignored")
    drills = [c for c in mine if c["source"] == "drill"]
    assert {c["drill"]["outcome"] for c in drills} == {"reverted"}
    assert {c["actor"]["username"] for c in mine} == {"alice"}
    for capture in mine:
        assert capture["classification"] == "drill" and capture["pr_url"] is None, capture

    # the weekly report lists the drill
    report = subprocess.run(
        [sys.executable, "-m", "breakglass", "report", "--config", str(cluster.config),
         "--output", "json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    apps = {d["application"]: d for d in json.loads(report.stdout)["drills"]}
    assert apps[f"flux:{namespace}/payments"]["reverted"] == 2

    # suspended: nothing reverts, the drill puts the change back at its deadline
    suspend(cluster, flux, namespace)
    proc = drill(cluster, namespace, "--yes", "--change", "replicas", "--deadline", "6s")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # survived, as posture expected
    assert "survived" in proc.stdout and "as posture expected" in proc.stdout
    assert "changed deployment" in proc.stderr
    deployment = live(cluster, "deployment", "payments", namespace)
    assert deployment["spec"]["replicas"] == 2  # put back
    assert LABEL not in (deployment["metadata"].get("labels") or {})


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_or_killed_drill_leaves_nothing_behind(
    cluster, flux, namespace, tmp_path, sig
):
    bare = fleet(tmp_path, namespace)
    flux.app("payments", namespace, bare=bare, path="./apps/payments")
    suspend(cluster, flux, namespace)
    proc = subprocess.Popen(
        drill_argv(cluster, namespace, "--yes", "--change", "config", "--deadline", "10m"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_until(
            lambda: marks(cluster, namespace)["configmap"] is not None,
            timeout=60,
            what="the drill's change",
        )
        data = live(cluster, "configmap", "payments-settings", namespace)["data"]
        assert set(data) == {"LOG_LEVEL", "breakglass-drill"}
        time.sleep(0.5)  # the drill is now watching
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, out + err
        assert "putting every change back" in err
        assert "interrupted" in out
    else:
        assert proc.returncode == -signal.SIGKILL
        assert marks(cluster, namespace)["configmap"] is not None  # left behind, marked
        cleanup = subprocess.run(
            [sys.executable, "-m", "breakglass", "drill", "--config", str(cluster.config),
             "--kubeconfig", str(cluster.kubeconfig), "--context", "alice", "--cleanup"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
        assert f"restored configmap {namespace}/payments-settings" in cleanup.stderr
        assert "by alice" in cleanup.stderr
        drills = [c for c in captures(cluster, namespace) if c["source"] == "drill"]
        assert drills and {c["drill"]["outcome"] for c in drills} == {"cleaned-up"}
    data = live(cluster, "configmap", "payments-settings", namespace)["data"]
    assert data == {"LOG_LEVEL": "info"}
    assert marks(cluster, namespace) == {"deployment": None, "configmap": None}


def test_cleanup_with_nothing_left(cluster, tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "breakglass", "drill", "--config", str(cluster.config),
         "--kubeconfig", str(cluster.kubeconfig), "--context", "alice", "--cleanup"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no drill changes left behind" in proc.stdout


def test_the_shipped_drill_role_grants_what_a_drill_does_and_no_secret(cluster, flux, namespace):
    """``deploy/components/drill`` as the API server's authorizer judges it, for a person in
    the group it binds (checked with impersonation, as ``kubectl auth can-i`` does)."""
    rbac = Path(__file__).resolve().parents[2] / "deploy" / "components" / "drill" / "rbac.yaml"
    cluster.kubectl("apply", "-f", str(rbac), user="admin")

    def can(*args: str) -> bool:
        out = cluster.kubectl(
            "auth", "can-i", *args, "--as=carol", "--as-group=breakglass-drillers",
            user="admin", check=False,
        )  # fmt: skip
        return out.stdout.strip() == "yes"

    for verb in ("get", "patch", "watch"):
        for kind in ("deployments", "statefulsets", "daemonsets", "configmaps", "services"):
            assert can(verb, kind, "-n", namespace), (verb, kind)
    assert can("list", "kustomizations.kustomize.toolkit.fluxcd.io", "--all-namespaces")
    assert can("create", "selfsubjectreviews.authentication.k8s.io")  # whoami: everyone may
    assert not can("get", "secrets", "-n", namespace)
    assert not can("patch", "secrets", "-n", namespace)
    assert not can("delete", "deployments", "-n", namespace)
    assert not can("patch", "kustomizations.kustomize.toolkit.fluxcd.io", "-n", namespace)

"""Break-glass sessions with the real kubectl on a real API server whose breakglass runs
``admission.mode: require-session`` and ``sessions.pause_self_heal``: bob, without a session,
is refused with the command to run (a dry run too, recording nothing); alice opens a session
with ``breakglass open`` as herself, her changes go through and belong to it, a session
claiming someone else is refused, only she closes it, and after ``breakglass close`` she is
refused again.  With the real Flux: her session suspends the Kustomization of her namespace so
her fix outlives its interval, closing the session resumes it (and Flux reverts), a session's
three changes to two objects are one pull request with three rows and merging it resumes Flux
at once, and a breakglass killed mid-session resumes it at the deadline once it is back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backfill.conftest import git
from tests.e2e.conftest import control_plane_binaries, flux_on, wait_for_webhook, wait_until
from tests.e2e.controlplane import ControlPlane
from tests.e2e.flux import Flux, live
from tests.e2e.test_flux_loop import fleet, pulls, record_for

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "deploy" / "base" / "crd-sessions.yaml"
PAUSE_RBAC = ROOT / "deploy" / "components" / "pause-self-heal" / "rbac.yaml"
NS = "shop"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(
        tmp_path_factory.mktemp("guarded"),
        control_plane_binaries(),
        extra_config="admission: {mode: require-session}\nsessions: {pause_self_heal: true}\n",
    )
    try:
        plane.start()
        wait_for_webhook(plane)
        plane.kubectl("apply", "-f", str(CRD), user="admin")
        plane.kubectl(
            "wait", "--for=condition=established", "--timeout=60s",
            "crd/breakglasssessions.breakglass.dev", user="admin",
        )  # fmt: skip
        plane.kubectl("create", "namespace", NS, user="argocd")
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": NS,
                "labels": {"app": "web"},
                "annotations": {"argocd.argoproj.io/tracking-id": f"shop:apps/Deployment:{NS}/web"},
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]},
                },
            },
        }
        plane.kubectl("apply", "-f", "-", user="argocd", stdin=json.dumps(deployment))
        plane.kubectl("apply", "-f", str(PAUSE_RBAC), user="admin")
        yield plane
    finally:
        plane.stop()


def bg(plane: ControlPlane, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args, "--kubeconfig", str(plane.kubeconfig),
         "--context", user],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def scale(plane: ControlPlane, user: str, replicas: int, *extra: str) -> Any:
    return plane.kubectl(
        "scale", "deployment/web", "-n", NS, f"--replicas={replicas}", *extra,
        user=user, check=False,
    )  # fmt: skip


def test_a_session_is_the_way_through_require_session(guarded: ControlPlane, tmp_path: Path):
    plane = guarded
    refused = scale(plane, "bob", 3)
    assert refused.returncode != 0
    assert "admission.mode is require-session" in refused.stderr
    assert 'breakglass open --reason "<incident and why>" --for 30m --namespace shop' in (
        refused.stderr
    )
    dry = scale(plane, "bob", 3, "--dry-run=server")
    assert dry.returncode != 0 and "require-session" in dry.stderr

    opened = bg(plane, "alice", "open", "--reason", "INC-4242 checkout 502s", "--for", "30m",
                "--namespace", NS)  # fmt: skip
    assert opened.returncode == 0, opened.stdout + opened.stderr
    name = opened.stdout.split(":", 1)[0]
    assert f"breakglass close {name}" in opened.stdout
    listed = bg(plane, "bob", "sessions", "--output", "json")
    [row] = json.loads(listed.stdout)
    assert row["owner"] == "alice" and row["state"] == "open" and row["scope"] == "ns:shop"

    ok = scale(plane, "alice", 4)
    assert ok.returncode == 0, ok.stderr
    mine = wait_until(
        lambda: [c for c in plane.journal() if c["object"]["namespace"] == NS],
        timeout=30,
        what="alice's capture",
    )
    assert [c["session"] for c in mine] == [name]
    assert all(c["actor"]["username"] == "alice" for c in mine)  # nothing of bob's recorded

    spoof = tmp_path / "spoof.json"
    spoof.write_text(json.dumps({
        "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakglassSession",
        "metadata": {"name": "not-mine"},
        "spec": {"owner": "alice", "reason": "me too", "expiresAt": "2099-01-01T00:00:00Z"},
    }))  # fmt: skip
    claimed = plane.kubectl("create", "-f", str(spoof), user="bob", check=False)
    assert claimed.returncode != 0 and "spec.owner must be you (bob)" in claimed.stderr

    stolen = bg(plane, "bob", "close", name)
    assert stolen.returncode != 0 and "only alice" in stolen.stderr
    closed = bg(plane, "alice", "close")
    assert closed.returncode == 0 and closed.stdout.startswith(f"{name}: closed at")
    again = scale(plane, "alice", 5)
    assert again.returncode != 0 and "require-session" in again.stderr
    assert json.loads(bg(plane, "alice", "sessions", "--output", "json").stdout) == []
    everything = json.loads(bg(plane, "alice", "sessions", "--all", "--output", "json").stdout)
    assert [r["state"] for r in everything] == ["closed"]


@pytest.fixture(scope="module")
def guarded_flux(guarded: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flux]:
    yield from flux_on(guarded, tmp_path_factory.mktemp("guarded-flux"))


def suspended(flux: Flux, namespace: str) -> tuple[bool, str | None]:
    ks = flux.get("Kustomization", "payments", namespace) or {}
    marked = ((ks.get("metadata") or {}).get("annotations") or {}).get("breakglass.dev/paused-by")
    return bool((ks.get("spec") or {}).get("suspend")), marked


def test_a_session_suspends_flux_until_it_closes(guarded, guarded_flux, tmp_path):
    plane, flux, ns = guarded, guarded_flux, "pay-open"
    plane.kubectl("create", "namespace", ns, user="admin")
    flux.app("payments", ns, bare=fleet(tmp_path, ns), path="./apps/payments")
    opened = bg(plane, "alice", "open", "--reason", "INC-77 payments slow", "--for", "10m",
                "--namespace", ns)  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    name = opened.stdout.split(":", 1)[0]
    wait_until(lambda: suspended(flux, ns) == (True, name), timeout=30, what="the pause")
    fixed = plane.kubectl("scale", "deployment/payments", "-n", ns, "--replicas=5", check=False)
    assert fixed.returncode == 0, fixed.stderr
    time.sleep(12)  # more than the Kustomization's 10 s interval
    assert live(plane, "deployment", "payments", ns)["spec"]["replicas"] == 5  # not reverted

    assert bg(plane, "alice", "close", name).returncode == 0
    wait_until(lambda: suspended(flux, ns) == (False, None), timeout=30, what="the resume")
    flux.reconcile("Kustomization", "payments", ns)
    assert live(plane, "deployment", "payments", ns)["spec"]["replicas"] == 2  # Flux again


def test_a_killed_breakglass_resumes_flux_at_the_deadline_when_back(
    guarded, guarded_flux, tmp_path
):
    plane, flux, ns = guarded, guarded_flux, "pay-crash"
    plane.kubectl("create", "namespace", ns, user="admin")
    flux.app("payments", ns, bare=fleet(tmp_path, ns), path="./apps/payments")
    opened = bg(plane, "alice", "open", "--reason", "INC-78", "--for", "15s", "--namespace", ns)
    assert opened.returncode == 0, opened.stderr
    name = opened.stdout.split(":", 1)[0]
    wait_until(lambda: suspended(flux, ns) == (True, name), timeout=30, what="the pause")
    plane.kill_breakglass()
    try:
        time.sleep(17)  # past the session's deadline, with nobody to resume Flux
        assert suspended(flux, ns) == (True, name)
    finally:
        plane.start_breakglass()
    wait_until(lambda: suspended(flux, ns) == (False, None), timeout=30, what="the resume")


def test_a_session_is_one_pull_request_with_a_row_per_change(guarded, guarded_flux, tmp_path):
    plane, flux, ns = guarded, guarded_flux, "pay-inc"
    plane.kubectl("create", "namespace", ns, user="admin")
    bare = fleet(tmp_path, ns)
    flux.app("payments", ns, bare=bare, path="./apps/payments")
    opened = bg(plane, "alice", "open", "--reason", "INC-4243 payments 502s", "--for", "10m",
                "--namespace", ns)  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    name = opened.stdout.split(":", 1)[0]
    wait_until(lambda: suspended(flux, ns) == (True, name), timeout=30, what="the pause")
    for argv in (
        ("scale", "deployment/payments", "--replicas=4"),
        ("set", "image", "deployment/payments", "app=registry.example/payments:2.0.2"),
        ("patch", "configmap/payments-settings", "--type=merge",
         "-p", '{"data": {"LOG_LEVEL": "debug"}}'),
    ):  # fmt: skip
        done = plane.kubectl(*argv, "-n", ns, check=False)
        assert done.returncode == 0, done.stderr

    def in_pr() -> list[dict[str, Any]]:
        found = [
            c
            for c in plane.journal()
            if c["object"]["namespace"] == ns and c["status"] == "pr_open"
        ]
        return found if len(found) == 3 else []

    mine = wait_until(in_pr, timeout=90, what="the session's pull request")
    assert {c["session"] for c in mine} == {name}
    assert len({c["pr_url"] for c in mine}) == 1
    record = record_for(plane, mine[0]["pr_url"])
    assert record["branch"] == f"breakglass/e2e/session/{name}"
    assert record["title"] == (
        "breakglass: INC-4243 payments 502s (3 manual changes to 2 objects by alice)"
    )
    body = record["body"]
    assert f"paused for break-glass session {name} (spec.suspend: true)" in body
    rows = [
        line
        for line in body.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]
    assert len(rows) == 3 and all("`alice`" in row for row in rows)
    assert f"| Session | `{name}` opened by `alice`" in body
    # the reviewer merges while the session is still open: Flux is resumed at once, and
    # applies Git, which now says what production does
    pulls(plane, "merge", record["number"])
    wait_until(lambda: suspended(flux, ns) == (False, None), timeout=60, what="the resume")
    [pause] = [p for p in pauses(plane) if p["session"] == name]
    assert "every pull request of the session's changes to it merged" in pause["note"]
    head = git("rev-parse", "main", cwd=bare).strip()
    flux.sync("payments", ns, revision=head)  # Flux applies the merged revision
    assert live(plane, "deployment", "payments", ns)["spec"]["replicas"] == 4
    assert bg(plane, "alice", "close", name).returncode == 0


def pauses(plane: ControlPlane) -> list[dict[str, Any]]:
    import sqlite3

    conn = sqlite3.connect(plane.state / "journal.db")
    try:
        return [json.loads(row[0]) for row in conn.execute("SELECT data FROM pauses")]
    finally:
        conn.close()

"""``breakglass posture`` against a real API server with the real Flux and the Argo CD stand-in:
an enforcing and a suspended Kustomization, Applications with and without selfHeal, and a
namespace whose workload nothing manages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.backfill.conftest import bare_remote
from tests.e2e.flux import Flux, payments_app
from tests.e2e.test_backfill import install_argocd_crd
from tests.e2e.test_scan import breakglass


def test_posture_of_real_flux_objects_and_argo_cd_applications(
    bare_flux: Flux, tmp_path: Path
) -> None:
    cluster = bare_flux.cluster
    seed = tmp_path / "seed"
    payments_app(seed, "posture-live")
    bare = bare_remote(seed)
    cluster.kubectl("create", "namespace", "posture-live", user="admin")
    bare_flux.app("posture-live", "flux-system", bare=bare, path="./apps/payments", interval="1m")
    bare_flux.kustomization(
        "posture-paused",
        "flux-system",
        source="posture-live",
        path="./apps/payments",
        interval="5m",
        suspend=True,
    )
    install_argocd_crd(cluster)
    for name, policy in (
        ("posture-heal", {"automated": {"selfHeal": True}}),
        ("posture-watch", {"automated": {"prune": True}}),
    ):
        application: dict[str, Any] = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {"repoURL": str(bare), "targetRevision": "main", "path": "apps"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
                "syncPolicy": policy,
            },
        }
        cluster.kubectl("apply", "-f", "-", user="admin", stdin=json.dumps(application))
    cluster.kubectl("create", "namespace", "posture-legacy", user="admin")
    cluster.kubectl(
        "create",
        "deployment",
        "cron-runner",
        "--image=registry.example/cron:1",
        "-n",
        "posture-legacy",
    )
    proc = breakglass(cluster.config, "posture", "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    got = {
        (a["tool"], a["name"]): (a["verdict"], a["expected_revert_seconds"])
        for a in data["applications"]
        if a["name"].startswith("posture-")
    }
    assert got == {
        ("flux", "posture-live"): ("enforcing", 60.0),
        ("flux", "posture-paused"): ("suspended", None),
        ("argocd", "posture-heal"): ("enforcing", 5.0),
        ("argocd", "posture-watch"): ("notifying", None),
    }
    assert data["unmanaged_namespaces"].get("posture-legacy") == 1
    assert "posture-live" not in data["unmanaged_namespaces"]  # Flux's labels say who owns it
    gate = breakglass(cluster.config, "posture", "--fail-on", "notifying")
    assert gate.returncode == 1
    assert "posture-watch" in gate.stdout and "suspended" in gate.stdout

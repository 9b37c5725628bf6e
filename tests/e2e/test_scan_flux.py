"""``breakglass scan`` against what the real Flux leaves behind, with no breakglass webhook.

Flux's kustomize-controller (built from its Go module) applies ``apps/payments`` with
server-side apply as ``kustomize-controller``.  A ``kubectl edit`` of a field Flux sets is
reverted at the next reconcile (Flux takes over fields of ``kubectl*`` managers), so a scan
after it finds nothing there; a label added with another field manager (``lens``) survives
every reconcile, and is exactly the invisible drift a scan must report.  With the
Kustomization suspended, even a ``kubectl edit`` stays, and is reported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.backfill.conftest import bare_remote
from tests.e2e.flux import Flux, live, payments_app
from tests.e2e.test_scan import breakglass

NAMESPACE = "payments-flux"


@pytest.fixture(scope="module")
def synced(bare_flux: Flux, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cluster = bare_flux.cluster
    seed = tmp_path_factory.mktemp("payments") / "seed"
    payments_app(seed, NAMESPACE)
    bare = bare_remote(seed)
    cluster.kubectl("create", "namespace", NAMESPACE, user="admin")
    bare_flux.app("payments", "flux-system", bare=bare, path="./apps/payments")
    return {"cluster": cluster, "flux": bare_flux, "bare": bare}


def findings(config: Path) -> tuple[int, list[tuple[str, str, str | None]], dict[str, Any]]:
    proc = breakglass(config, "scan", "--output", "json")
    report = json.loads(proc.stdout)
    out = [
        (f"{d['object']['kind']}/{d['object']['name']}", f["field"], f["manager"])
        for d in report["drift"]
        if d["object"]["namespace"] == NAMESPACE
        for f in d["fields"]
    ]
    return proc.returncode, sorted(out), report


def edit(cluster: Any, tmp_path: Path, old: str, new: str) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import pathlib, sys\np = pathlib.Path(sys.argv[1])\n"
        f"p.write_text(p.read_text().replace({old!r}, {new!r}, 1))\n"
    )
    cluster.kubectl(
        "edit",
        "deployment/payments",
        "-n",
        NAMESPACE,
        env={"KUBE_EDITOR": f"{sys.executable} {editor}"},
    )


def test_flux_reverts_a_kubectl_edit_and_a_lens_label_survives_as_invisible_drift(
    synced: dict[str, Any], tmp_path: Path
) -> None:
    cluster, flux = synced["cluster"], synced["flux"]
    edit(cluster, tmp_path, "replicas: 2", "replicas: 6")
    cluster.kubectl(
        "label", "deployment/payments", "owner=alice", "--field-manager=lens", "-n", NAMESPACE
    )
    flux.reconcile("Kustomization", "payments", "flux-system")
    deployment = live(cluster, "deployment", "payments", NAMESPACE)
    assert deployment["spec"]["replicas"] == 2  # Flux took the kubectl edit back
    assert deployment["metadata"]["labels"]["owner"] == "alice"  # and left lens's label
    code, found, report = findings(cluster.config)
    assert code == 1, report["problems"]
    assert found == [("Deployment/payments", "metadata.labels.owner", "lens")], found
    assert "Flux Kustomization flux-system/payments" in report["sources"]


def test_a_suspended_kustomization_keeps_a_kubectl_edit_and_the_scan_reports_it(
    synced: dict[str, Any], tmp_path: Path
) -> None:
    cluster = synced["cluster"]
    cluster.kubectl(
        "patch",
        "kustomizations.kustomize.toolkit.fluxcd.io/payments",
        "-n",
        "flux-system",
        "--type=merge",
        "-p",
        '{"spec":{"suspend":true}}',
        user="flux",
    )
    edit(
        cluster,
        tmp_path,
        "image: registry.example/payments:2.0.1",
        "image: registry.example/payments:2.0.2",
    )
    code, found, _ = findings(cluster.config)
    assert code == 1
    assert (
        "Deployment/payments",
        "spec.template.spec.containers[name=app].image",
        "kubectl-edit",
    ) in found
    assert ("Deployment/payments", "metadata.labels.owner", "lens") in found

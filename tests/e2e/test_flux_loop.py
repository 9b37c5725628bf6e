"""The loop with the real Flux: merge → sync → done, a real self-heal, what Flux leaves alone,
a pull request closed unmerged, and a suspended Kustomization.

Flux's source-controller and kustomize-controller (built from their Go modules by
``tests/e2e/testbin.sh``) apply a bare repository served over HTTP to the test API server.
alice changes objects with real ``kubectl``; breakglass finds the repository through Flux's own
labels and objects, pushes its branch to the same HTTP remote and writes the pull request to the
local forge, which ``breakglass pulls merge|close`` reviews as a person would on GitHub.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.backfill.conftest import bare_remote, git
from tests.e2e.conftest import wait_until
from tests.e2e.flux import live, payments_app

REVERTED = "breakglass/reverted-by-sync"


def fleet(tmp_path: Path, namespace: str) -> Path:
    """A bare repository with the payments app, which accepts pushes over HTTP (breakglass
    pushes its backfill branches to the URL the GitRepository names)."""
    seed = tmp_path / "seed"
    payments_app(seed, namespace)
    bare = bare_remote(seed, "payments")
    git("config", "http.receivepack", "true", cwd=bare)
    return bare


def captures(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    return [c for c in cluster.journal() if c["object"]["namespace"] == namespace]


def capture_in(cluster: Any, namespace: str, status: str, timeout: float = 60) -> dict[str, Any]:
    found = wait_until(
        lambda: [c for c in captures(cluster, namespace) if c["status"] == status],
        timeout=timeout,
        what=f"a capture in {namespace} to be {status}",
    )
    return dict(found[-1])


def record_for(cluster: Any, url: str) -> dict[str, Any]:
    for path in sorted((cluster.state / "pull-requests").glob("*.json")):
        record = json.loads(path.read_text())
        if record["url"] == url:
            return dict(record)
    raise AssertionError(f"no local forge record for {url}")


def pulls(cluster: Any, action: str, number: int) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "breakglass", "pulls", action, str(number), "--config",
         str(cluster.config), "--as", "bob"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def edit(cluster: Any, target: str, namespace: str, tmp_path: Path, old: str, new: str) -> None:
    """alice runs ``kubectl edit`` with an editor that replaces ``old`` by ``new``."""
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import pathlib, sys\np = pathlib.Path(sys.argv[1])\n"
        f"p.write_text(p.read_text().replace({old!r}, {new!r}, 1))\n"
    )
    cluster.kubectl(
        "edit", target, "-n", namespace, env={"KUBE_EDITOR": f"{sys.executable} {editor}"}
    )


def metric(cluster: Any, name: str) -> float:
    with urllib.request.urlopen(f"{cluster.worker_metrics_url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


def test_merge_then_flux_sync_closes_the_loop(cluster, flux, namespace, tmp_path):
    bare = fleet(tmp_path, namespace)
    flux.app("payments", namespace, bare=bare, path="./apps/payments")
    merges_before = metric(cluster, "breakglass_time_to_merge_seconds_count")
    cluster.kubectl("scale", "deployment/payments", "--replicas=4", "-n", namespace)
    opened = capture_in(cluster, namespace, "pr_open")
    record = record_for(cluster, opened["pr_url"])
    assert record["assignees"] == ["alice-doe"]
    assert "Flux Kustomization payments" in record["body"]  # found through Flux's objects
    assert "+  replicas: 4  # HA minimum" in record["body"]  # the comment kept

    pulls(cluster, "merge", record["number"])
    head = git("rev-parse", "main", cwd=bare).strip()
    flux.sync("payments", namespace, revision=head)  # Flux applies the merged revision
    merged = capture_in(cluster, namespace, "merged")
    assert merged["id"] == opened["id"]
    deployment = live(cluster, "deployment", "payments", namespace)
    assert deployment["spec"]["replicas"] == 4  # production and Git agree again
    assert flux.applied_revision("payments", namespace) == f"main@sha1:{head}"
    wait_until(
        lambda: metric(cluster, "breakglass_time_to_merge_seconds_count") > merges_before,
        what="time_to_merge to be observed",
    )


def test_flux_reverts_a_field_it_manages_and_the_pr_says_so(cluster, flux, namespace, tmp_path):
    bare = fleet(tmp_path, namespace)
    flux.app("payments", namespace, bare=bare, path="./apps/payments")
    cluster.kubectl(
        "set", "image", "deployment/payments", "app=registry.example/payments:2.0.2",
        "-n", namespace,
    )  # fmt: skip
    opened = capture_in(cluster, namespace, "pr_open")
    flux.reconcile("Kustomization", "payments", namespace)  # the controller's next pass
    image = live(cluster, "deployment", "payments", namespace)["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert image == "registry.example/payments:2.0.1"  # Flux put Git's value back

    def labelled() -> dict[str, Any] | None:
        record = record_for(cluster, opened["pr_url"])
        return record if REVERTED in record["labels"] else None

    record = wait_until(labelled, timeout=30, what="the reverted-by-sync label")
    assert record["state"] == "open"  # kept open: merging re-applies the fix
    assert "the GitOps controller reverted the emergency fix" in record["comments"][-1]["body"]
    assert captures(cluster, namespace)[-1]["status"] == "pr_open"


def add_key(cluster: Any, namespace: str, tmp_path: Path, *, manager: str | None) -> None:
    """alice adds FEATURE_FLAG to the ConfigMap: with ``kubectl edit`` (manager None), or with
    a patch under another field manager, as a dashboard (Lens, k9s, Headlamp) writes."""
    if manager is None:
        edit(cluster, "configmap/payments-settings", namespace, tmp_path,
             "LOG_LEVEL: info", "LOG_LEVEL: info\n  FEATURE_FLAG: risky")  # fmt: skip
        return
    cluster.kubectl(
        "patch", "configmap/payments-settings", "-n", namespace, "--type=merge",
        f"--field-manager={manager}", "-p", '{"data": {"FEATURE_FLAG": "risky"}}',
    )  # fmt: skip


def test_what_flux_does_to_a_key_git_never_had(cluster, flux, namespace, tmp_path):
    """kustomize-controller v1.9.6 takes over the fields of managers named ``kubectl*`` with
    an Update operation before it applies, so a key added with ``kubectl edit`` is removed at
    the next reconcile; a key another manager added (a dashboard) outlives every reconcile,
    with and without ``force`` (docs/kubernetes-facts.md)."""
    bare = fleet(tmp_path, namespace)
    flux.app("payments", namespace, bare=bare, path="./apps/payments")
    add_key(cluster, namespace, tmp_path, manager=None)
    capture_in(cluster, namespace, "pr_open")
    flux.reconcile("Kustomization", "payments", namespace)
    data = live(cluster, "configmap", "payments-settings", namespace)["data"]
    assert data == {"LOG_LEVEL": "info"}  # kubectl edit's key: gone

    add_key(cluster, namespace, tmp_path, manager="lens")
    flux.reconcile("Kustomization", "payments", namespace)
    data = live(cluster, "configmap", "payments-settings", namespace)["data"]
    assert data == {"LOG_LEVEL": "info", "FEATURE_FLAG": "risky"}  # a dashboard's: stays
    cluster.kubectl(
        "patch", "kustomization", "payments", "-n", namespace, "--type=merge",
        "-p", '{"spec": {"force": true}}', user="flux",
    )  # fmt: skip
    flux.wait_ready("Kustomization", "payments", namespace)
    flux.reconcile("Kustomization", "payments", namespace)
    data = live(cluster, "configmap", "payments-settings", namespace)["data"]
    assert data == {"LOG_LEVEL": "info", "FEATURE_FLAG": "risky"}  # forced, still there


def test_a_pr_closed_unmerged_records_what_production_holds(cluster, flux, namespace, tmp_path):
    bare = fleet(tmp_path, namespace)
    flux.app("payments", namespace, bare=bare, path="./apps/payments")
    cluster.kubectl("scale", "deployment/payments", "--replicas=5", "-n", namespace)
    scaled = capture_in(cluster, namespace, "pr_open")
    add_key(cluster, namespace, tmp_path, manager="lens")
    keyed = wait_until(
        lambda: [
            c for c in captures(cluster, namespace)
            if c["object"]["kind"] == "ConfigMap" and c["status"] == "pr_open"
        ],
        timeout=60,
        what="the ConfigMap's pull request",
    )[-1]  # fmt: skip
    flux.reconcile("Kustomization", "payments", namespace)  # replicas back to 2; lens's key stays
    assert live(cluster, "deployment", "payments", namespace)["spec"]["replicas"] == 2
    # alice's two changes of a burst share one pull request (backfill.group_window_seconds)
    assert keyed["pr_url"] == scaled["pr_url"]
    pulls(cluster, "close", record_for(cluster, scaled["pr_url"])["number"])

    def closed() -> list[dict[str, Any]]:
        found = [c for c in captures(cluster, namespace) if c["status"] == "closed"]
        return found if len(found) == 2 else []

    by_kind = {c["object"]["kind"]: c["reason"] for c in wait_until(closed, timeout=30)}
    assert by_kind["Deployment"] == "pull request closed; production is back at Git's value"
    assert by_kind["ConfigMap"] == (
        "pull request closed; production still has the manual change, which Git does not: "
        "it differs from Git"
    )


def test_a_suspended_kustomization_reverts_nothing_and_the_pr_says_so(
    cluster, flux, namespace, tmp_path
):
    bare = fleet(tmp_path, namespace)
    flux.app("payments", namespace, bare=bare, path="./apps/payments")
    cluster.kubectl(
        "patch", "kustomization", "payments", "-n", namespace, "--type=merge",
        "-p", '{"spec": {"suspend": true}}', user="flux",
    )  # fmt: skip
    cluster.kubectl("scale", "deployment/payments", "--replicas=3", "-n", namespace)
    opened = capture_in(cluster, namespace, "pr_open")
    body = record_for(cluster, opened["pr_url"])["body"]
    assert f"The Flux Kustomization {namespace}/payments that applies this object is suspended" in (
        body.replace("\n", " ")
    )
    flux.reconcile("Kustomization", "payments", namespace, wait=False)  # ignored while suspended
    time.sleep(3)
    assert live(cluster, "deployment", "payments", namespace)["spec"]["replicas"] == 3
    assert captures(cluster, namespace)[-1]["status"] == "pr_open"


def test_a_substituted_value_goes_where_the_cluster_sets_it_and_flux_applies_it(
    cluster, flux, namespace, tmp_path
):
    """A fleet repository: the manifest says ``${REGION}``, this cluster's Kustomization sets
    it in ``postBuild.substitute``. The pull request edits the variable, not the manifest
    (every other cluster shares it); merged, Flux applies it through the root Kustomization."""
    seed = tmp_path / "seed"
    app = seed / "apps" / "payments"
    app.mkdir(parents=True)
    (app / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: payments-settings\n"
        "data:\n  REGION: ${REGION}  # set per cluster\n  LOG_LEVEL: info\n"
    )
    (app / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {namespace}\nresources:\n  - configmap.yaml\n"
    )
    ours = seed / "clusters" / namespace
    ours.mkdir(parents=True)
    (ours / "payments.yaml").write_text(
        textwrap.dedent(
            f"""\
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata:
              name: payments
              namespace: {namespace}
            spec:
              interval: 10s
              path: ./apps/payments
              prune: true
              sourceRef:
                kind: GitRepository
                name: fleet
              postBuild:
                substitute:
                  REGION: eu-west-1  # this cluster's region
            """
        )
    )
    bare = bare_remote(seed, "fleet")
    git("config", "http.receivepack", "true", cwd=bare)
    flux.app("fleet", namespace, bare=bare, path=f"./clusters/{namespace}")  # the root
    flux.wait_ready("Kustomization", "payments", namespace)
    data = live(cluster, "configmap", "payments-settings", namespace)["data"]
    assert data["REGION"] == "eu-west-1"

    edit(cluster, "configmap/payments-settings", namespace, tmp_path,
         "REGION: eu-west-1", "REGION: eu-central-1")  # fmt: skip
    opened = capture_in(cluster, namespace, "pr_open")
    record = record_for(cluster, opened["pr_url"])
    assert f"clusters/{namespace}/payments.yaml" in record["body"]
    assert "+      REGION: eu-central-1  # this cluster's region" in record["body"]
    assert "apps/payments/configmap.yaml" not in record["body"]  # the shared manifest: untouched

    pulls(cluster, "merge", record["number"])
    head = git("rev-parse", "main", cwd=bare).strip()
    flux.sync("fleet", namespace, revision=head)  # the root applies the new Kustomization
    flux.reconcile("Kustomization", "payments", namespace)
    data = live(cluster, "configmap", "payments-settings", namespace)["data"]
    assert data["REGION"] == "eu-central-1"
    assert capture_in(cluster, namespace, "merged")["id"] == opened["id"]
    shared = subprocess.run(
        ["git", "--git-dir", str(bare), "show", "main:apps/payments/configmap.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "REGION: ${REGION}  # set per cluster" in shared


def test_a_burst_of_fifteen_scales_is_one_pull_request(cluster, flux, namespace, tmp_path):
    """alice scales fifteen Deployments one after another, as a loop during an incident does:
    one pull request with a row per change, not fifteen (backfill.group_window_seconds)."""
    seed = tmp_path / "seed"
    app = seed / "apps" / "burst"
    app.mkdir(parents=True)
    names = [f"worker-{n:02d}" for n in range(15)]
    for name in names:
        (app / f"{name}.yaml").write_text(
            textwrap.dedent(
                f"""\
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: {name}
                spec:
                  replicas: 1
                  selector:
                    matchLabels: {{app: {name}}}
                  template:
                    metadata:
                      labels: {{app: {name}}}
                    spec:
                      containers:
                        - name: app
                          image: registry.example/worker:1
                """
            )
        )
    (app / "kustomization.yaml").write_text(
        f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {namespace}\nresources:\n" + "".join(f"  - {n}.yaml\n" for n in names)
    )
    bare = bare_remote(seed, "burst")
    git("config", "http.receivepack", "true", cwd=bare)
    flux.app("burst", namespace, bare=bare, path="./apps/burst", timeout=120)
    cluster.kubectl(
        "patch", "kustomizations.kustomize.toolkit.fluxcd.io", "burst", "-n", namespace,
        "--type=merge", "-p", '{"spec": {"suspend": true}}', user="flux",
    )  # fmt: skip
    for name in names:
        cluster.kubectl("scale", f"deployment/{name}", "--replicas=3", "-n", namespace)

    def all_open() -> list[dict[str, Any]]:
        found = [c for c in captures(cluster, namespace) if c["status"] == "pr_open"]
        return found if len(found) == 15 else []

    opened = wait_until(all_open, timeout=120, what="fifteen captures in a pull request")
    assert len({c["pr_url"] for c in opened}) == 1
    record = record_for(cluster, opened[0]["pr_url"])
    assert record["title"] == (
        f"breakglass: 15 manual changes (kubectl scale) to 15 objects in {namespace} by alice"
    )
    rows = [
        line
        for line in record["body"].splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]
    assert len(rows) == 15
    diff = git("diff", "main", record["branch"], cwd=bare)
    assert diff.count("+  replicas: 3") == 15

"""``breakglass scan`` on a real API server where manual changes bypassed breakglass.

The cluster (``bare_cluster``) runs no breakglass webhook, as on the day breakglass is installed
or while it was down; its API server writes its own audit log file.  An application is synced
"as Argo CD" (server-side apply with Argo CD's identity and field manager, the tracking
annotation, an ``Application`` naming the repository), then alice changes it with real kubectl:
``edit``, ``scale``, ``label``, ``patch`` (one change put back to Git's value), client-side
``apply``, a Secret patched with a canary value, and a ConfigMap created by hand.  The scan must
report exactly those fields with their managers and times, never the canary, name alice from the
audit log, and with ``--backfill`` become one pull request per object, once.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.backfill.conftest import bare_remote
from tests.e2e.controlplane import binaries
from tests.e2e.test_backfill import install_argocd_crd

CANARY = "CANARY-s3cr3t-4242"
NAMESPACE = "shop"

DEPLOYMENT = textwrap.dedent(
    """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: checkout
      labels: {app: checkout}
    spec:
      replicas: 2  # one per zone
      selector:
        matchLabels: {app: checkout}
      template:
        metadata:
          labels: {app: checkout}
        spec:
          containers:
            - name: app
              image: registry.example/checkout:1.4.2
              resources:
                requests: {cpu: "0.5", memory: 256Mi}
    """
)
CONFIGMAP = textwrap.dedent(
    """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
    data:
      LOG_LEVEL: info  # raise only while debugging
      MODE: live
    """
)
SECRET = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Secret
    metadata:
      name: shop-creds
    stringData:
      token: initial-token-value
    """
)


@functools.cache
def _tools() -> dict[str, str]:
    return {
        f"BREAKGLASS_{key}": path
        for key, path in binaries().items()
        if key in ("KUSTOMIZE", "HELM", "SOPS")
    }


def breakglass(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``breakglass ARGS --config CONFIG`` with the test bed's kustomize, helm and sops."""
    proc = subprocess.run(
        [sys.executable, "-m", "breakglass", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **_tools(), "BREAKGLASS_REDACTION_SALT": "e2e-salt"},
        check=False,
    )
    if check and proc.returncode not in (0, 1):
        raise AssertionError(f"breakglass {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def sync_as_argocd(cluster: Any, app: str, documents: list[str]) -> None:
    """Each document applied server-side as Argo CD applies it (identity, field manager,
    tracking annotation, destination namespace)."""
    for text in documents:
        doc = yaml.safe_load(text)
        meta = doc["metadata"]
        meta["namespace"] = NAMESPACE
        group = doc["apiVersion"].rsplit("/", 1)[0] if "/" in doc["apiVersion"] else ""
        meta.setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = (
            f"{app}:{group}/{doc['kind']}:{NAMESPACE}/{meta['name']}"
        )
        cluster.kubectl(
            "apply",
            "--server-side",
            "--field-manager=argocd-controller",
            "-f",
            "-",
            user="argocd",
            stdin=json.dumps(doc),
        )


@pytest.fixture(scope="module")
def drifted(bare_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The application synced, then changed by alice; returns paths and times."""
    cluster = bare_cluster
    work = tmp_path_factory.mktemp("scan")
    seed = work / "seed"
    app_dir = seed / "apps" / "shop"
    app_dir.mkdir(parents=True)
    (app_dir / "deployment.yaml").write_text(DEPLOYMENT)
    (app_dir / "configmap.yaml").write_text(CONFIGMAP)
    (app_dir / "secret.yaml").write_text(SECRET)
    bare = bare_remote(seed)
    install_argocd_crd(cluster)
    cluster.kubectl("create", "namespace", NAMESPACE, user="admin")
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "shop", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": str(bare), "targetRevision": "main", "path": "apps/shop"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": NAMESPACE},
        },
    }
    cluster.kubectl("apply", "-f", "-", user="admin", stdin=json.dumps(application))
    sync_as_argocd(cluster, "shop", [DEPLOYMENT, CONFIGMAP, SECRET])
    before = time.time()
    time.sleep(1.1)  # managedFields times have second precision
    editor = work / "editor.py"
    editor.write_text(
        "import pathlib, sys\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('checkout:1.4.2', 'checkout:1.4.3-hotfix', 1))\n"
    )
    ns = ("-n", NAMESPACE)
    cluster.kubectl(
        "edit", "deployment/checkout", *ns, env={"KUBE_EDITOR": f"{sys.executable} {editor}"}
    )
    cluster.kubectl("scale", "deployment/checkout", "--replicas=5", *ns)
    cluster.kubectl("label", "configmap/settings", "team=payments", *ns)
    cluster.kubectl(
        "patch", "configmap/settings", "--type=merge", "-p", '{"data":{"MODE":"maintenance"}}', *ns
    )
    cluster.kubectl(
        "patch", "configmap/settings", "--type=merge", "-p", '{"data":{"MODE":"live"}}', *ns
    )
    cluster.kubectl(
        "patch", "configmap/settings", "--type=merge", "-p", '{"data":{"LOG_LEVEL":"debug"}}', *ns
    )
    applied = yaml.safe_load(CONFIGMAP)
    applied["metadata"]["namespace"] = NAMESPACE
    applied["data"] = {"LOG_LEVEL": "debug", "MODE": "live", "FEATURE_X": "on"}
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(applied))
    cluster.kubectl(
        "patch",
        "secret/shop-creds",
        "--type=merge",
        "-p",
        json.dumps({"stringData": {"token": CANARY}}),
        *ns,
    )
    cluster.kubectl("create", "configmap", "hotfix-flags", "--from-literal=BYPASS_CACHE=true", *ns)
    config = work / "breakglass.yaml"
    config.write_text(
        cluster.config.read_text()
        + "scan:\n  owners:\n    - {namespaces: [shop], users: [alice]}\n"
    )
    time.sleep(1.5)  # the audit log backend writes asynchronously
    return {"config": config, "bare": bare, "before": before, "cluster": cluster}


def branch_diff(bare: Path, branch: str) -> str:
    """What a backfill branch changes, as a reviewer reads it on the forge."""
    return subprocess.run(
        ["git", "diff", f"main...{branch}"], cwd=bare, capture_output=True, text=True, check=True
    ).stdout


def scan_json(drifted: dict[str, Any], *args: str) -> tuple[int, dict[str, Any], str]:
    proc = breakglass(drifted["config"], "scan", "--output", "json", *args)
    return proc.returncode, json.loads(proc.stdout), proc.stdout + proc.stderr


def fields_of(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for item in report["drift"]:
        ref = item["object"]
        if ref["namespace"] != NAMESPACE:
            continue  # other tests' objects on the same API server
        for entry in item["fields"]:
            out[(f"{ref['kind']}/{ref['name']}", entry["field"])] = {**entry, **item}
    return out


def test_scan_reports_exactly_the_manual_changes_with_their_managers_and_times(
    drifted: dict[str, Any],
) -> None:
    code, report, text = scan_json(drifted)
    assert code == 1, text
    assert report["problems"] == [], report["problems"]
    found = fields_of(report)
    assert set(found) == {
        ("Deployment/checkout", "spec.template.spec.containers[name=app].image"),
        ("Deployment/checkout", "spec.replicas"),
        ("ConfigMap/settings", "metadata.labels.team"),
        ("ConfigMap/settings", "data.LOG_LEVEL"),
        ("ConfigMap/settings", "data.FEATURE_X"),
        ("Secret/shop-creds", "data.token"),
        ("ConfigMap/hotfix-flags", ""),
    }, json.dumps(report, indent=1)
    image = found[("Deployment/checkout", "spec.template.spec.containers[name=app].image")]
    assert (image["drift"], image["git"], image["live"], image["manager"]) == (
        "changed",
        "registry.example/checkout:1.4.2",
        "registry.example/checkout:1.4.3-hotfix",
        "kubectl-edit",
    )
    # kubectl scale writes the scale subresource with kubectl's default manager, and the API
    # server keeps no time for a subresource's managedFields entry: "since" is unknown
    replicas = found[("Deployment/checkout", "spec.replicas")]
    assert (replicas["git"], replicas["live"], replicas["manager"]) == (2, 5, "kubectl")
    assert replicas["since_at_least"] is None
    label = found[("ConfigMap/settings", "metadata.labels.team")]
    assert (label["drift"], label["live"], label["manager"]) == (
        "added",
        "payments",
        "kubectl-label",
    )
    level = found[("ConfigMap/settings", "data.LOG_LEVEL")]
    assert (level["git"], level["live"], level["manager"]) == ("info", "debug", "kubectl-patch")
    feature = found[("ConfigMap/settings", "data.FEATURE_X")]
    assert feature["manager"] == "kubectl-client-side-apply"
    secret = found[("Secret/shop-creds", "data.token")]
    assert secret["hidden"] is True and secret["git"] is None and secret["live"] is None
    hand = found[("ConfigMap/hotfix-flags", "")]
    assert hand["created_by_hand"] is True and hand["manager"] == "kubectl-create"
    for key, entry in found.items():
        if key[1] == "spec.replicas":
            continue
        since = entry["since_at_least"]
        assert since is not None and since >= time.strftime(
            "%Y-%m-%dT%H:%M:%S", time.gmtime(drifted["before"] - 1)
        )
        assert entry["user"] is None  # unknown without --audit-log
    # other tests' applications share this API server; this one's is among the sources
    assert "Argo CD application shop" in report["sources"]


def test_the_canary_secret_value_appears_in_no_output(drifted: dict[str, Any]) -> None:
    encoded = base64.b64encode(CANARY.encode()).decode()
    for output in ("table", "json", "markdown"):
        proc = breakglass(drifted["config"], "scan", "--output", output)
        assert CANARY not in proc.stdout + proc.stderr
        assert encoded not in proc.stdout + proc.stderr
        assert "shop-creds" in proc.stdout


def test_the_table_names_each_field_its_manager_and_says_who_is_unknown(
    drifted: dict[str, Any],
) -> None:
    proc = breakglass(drifted["config"], "scan")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("scanned ") and "1 object created by hand" in lines[0]
    row = next(line for line in lines if "containers[name=app].image" in line)
    assert "kubectl-edit" in row and "checkout:1.4.3-hotfix" in row
    assert any("(created by hand)" in line and "hotfix-flags" in line for line in lines)
    assert "who: unknown without --audit-log" in proc.stdout


def test_the_api_servers_audit_log_names_alice(drifted: dict[str, Any]) -> None:
    cluster = drifted["cluster"]
    logs = sorted(str(p) for p in cluster.logs.glob("audit*"))
    code, report, text = scan_json(drifted, "--audit-log", *logs)
    assert code == 1, text
    users = {key: entry["user"] for key, entry in fields_of(report).items()}
    assert set(users.values()) == {"alice"}, sorted(users.items())


def test_backfill_opens_one_pull_request_per_object_and_a_second_run_none(
    drifted: dict[str, Any],
) -> None:
    cluster = drifted["cluster"]
    config = drifted["config"]
    logs = sorted(str(p) for p in cluster.logs.glob("audit*"))
    code, report, text = scan_json(drifted, "--backfill", "--audit-log", *logs)
    assert code == 1, text
    assert report["recorded"] == 4, text
    time.sleep(2.5)  # backfill.grace_seconds, then the live object confirms each capture
    for _ in range(3):
        breakglass(config, "worker", "--once")
    records = [
        json.loads(p.read_text()) for p in sorted((cluster.state / "pull-requests").glob("*.json"))
    ]
    pulls = {r["branch"].rsplit("/", 1)[-1]: r for r in records if r.get("kind", "pull") == "pull"}
    journal = json.loads(breakglass(config, "journal", "list", "--format", "json").stdout)
    assert CANARY not in json.dumps(journal) + json.dumps(records)
    by_object = {c["object"]["name"]: c for c in journal}
    assert all(c["source"] == "scan" for c in journal)
    assert {"checkout", "settings", "hotfix-flags"} <= {
        n for n, c in by_object.items() if c["status"] == "pr_open"
    }, json.dumps(journal, indent=1)
    checkout = next(r for r in records if r["branch"].endswith("checkout"))
    assert "found by scan, made by alice" in checkout["title"]
    assert "at least since" in checkout["body"]
    assert checkout["assignees"] == ["alice-doe"]
    diff = branch_diff(drifted["bare"], checkout["branch"])
    assert "-          image: registry.example/checkout:1.4.2" in diff
    assert "+          image: registry.example/checkout:1.4.3-hotfix" in diff
    assert "+  replicas: 5  # one per zone" in diff
    settings_diff = branch_diff(drifted["bare"], "breakglass/e2e/shop/configmap/settings")
    assert "LOG_LEVEL: debug  # raise only while debugging" in settings_diff
    assert "team: payments" in settings_diff and 'FEATURE_X: "on"' in settings_diff.replace(
        "'", '"'
    )
    hand = next(r for r in records if r["branch"].endswith("hotfix-flags"))
    assert "created by hand found by scan" in hand["title"]
    assert pulls  # the PR records are there

    code, again, text = scan_json(drifted, "--backfill")
    assert code == 1 and again["recorded"] == 0, text
    linked = [f["pull_request"] for f in fields_of(again).values() if f["pull_request"]]
    assert len(linked) >= 5
    after = json.loads(breakglass(config, "journal", "list", "--format", "json").stdout)
    assert len(after) == len(journal)


def test_scan_interval_in_the_worker_finds_a_change_that_bypassed_the_webhook(
    drifted: dict[str, Any],
) -> None:
    """``scan.interval`` set: the worker's pass scans, records the new drift, and a later pass
    adds it to the object's open pull request, as a webhook capture would be."""
    cluster = drifted["cluster"]
    config = drifted["config"].with_name("breakglass-interval.yaml")
    config.write_text(drifted["config"].read_text().replace("scan:\n", "scan:\n  interval: 1\n", 1))
    cluster.kubectl("annotate", "deployment/checkout", "owner=payments-team", "-n", NAMESPACE)
    # the worker logs to stdout; its summary is the last line
    first = json.loads(breakglass(config, "worker", "--once").stdout.splitlines()[-1])
    assert first["found_by_scan"] == 1, first
    time.sleep(2.5)  # the grace period before the live object confirms it
    breakglass(config, "worker", "--once")
    journal = json.loads(breakglass(config, "journal", "list", "--format", "json").stdout)
    newest = [c for c in journal if "metadata.annotations.owner" in c["delta"]["paths"]]
    assert len(newest) == 1 and newest[0]["status"] == "pr_open", newest
    diff = branch_diff(drifted["bare"], "breakglass/e2e/shop/deployment/checkout")
    assert "owner: payments-team" in diff


def test_a_scan_without_backfill_creates_no_state(drifted: dict[str, Any], tmp_path: Path) -> None:
    """Where breakglass has recorded nothing yet, a read-only scan leaves nothing behind: no
    journal, no salt, no Git mirrors."""
    fresh = tmp_path / "never-created"
    config = tmp_path / "breakglass.yaml"
    config.write_text(
        drifted["config"]
        .read_text()
        .replace(f"state_dir: {drifted['cluster'].state}", f"state_dir: {fresh}")
        .replace(f"journal: sqlite:///{drifted['cluster'].state / 'journal.db'}", "")
    )
    proc = breakglass(config, "scan", "--output", "json")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["drift"]
    assert not fresh.exists()

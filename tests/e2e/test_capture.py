"""Manual changes through real kubectl are captured, confirmed by audit, and secrets stay out.

Objects are created by the Argo CD identity with server-side apply (the GitOps controller's
way, which breakglass must not capture); alice then changes them by hand.
"""

from __future__ import annotations

import base64
import json
import sys
import textwrap
from typing import Any

import pytest

from tests.e2e.conftest import wait_until

CANARY = "e2e-canary-9d8f7a6b5c"

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: {ns}
  labels: {{app: checkout}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: checkout}}}}
  template:
    metadata: {{labels: {{app: checkout}}}}
    spec:
      containers:
      - name: app
        image: registry.example/checkout:1.4.2
        env: [{{name: LOG_LEVEL, value: info}}]
      - name: proxy
        image: registry.example/proxy:2.0
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: checkout-config, namespace: {ns}}}
data: {{FEATURE_X: "off", TIMEOUT: "30"}}
---
apiVersion: v1
kind: Service
metadata: {{name: checkout, namespace: {ns}}}
spec:
  selector: {{app: checkout}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: db-creds, namespace: {ns}}}
stringData: {{password: initial-value}}
"""


@pytest.fixture
def app(cluster, namespace, tmp_path) -> str:
    manifest = tmp_path / "app.yaml"
    manifest.write_text(DEPLOYMENT.format(ns=namespace))
    out = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=argocd-controller",
        "-f",
        str(manifest),
        user="argocd",
    )
    assert "breakglass" not in out.stderr
    return namespace


def captures(cluster, ns: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        c
        for c in cluster.journal()
        if c["object"]["namespace"] == ns and (name is None or c["object"]["name"] == name)
    ]


def one_capture(cluster, ns: str, name: str, *, confirmed: bool = True) -> dict[str, Any]:
    """The single capture of ``ns/name``; with ``confirmed``, once an audit event confirmed it
    (the worker may already have moved it on, e.g. to ``unmanaged``)."""

    def look() -> dict[str, Any] | None:
        found = captures(cluster, ns, name)
        if len(found) != 1:
            return None
        if confirmed and (
            found[0]["status"] in ("provisional", "discarded") or not found[0]["audit_id"]
        ):
            return None
        return found[0]

    return wait_until(look, what=f"one {'confirmed ' if confirmed else ''}capture of {ns}/{name}")


def assert_warned(proc, capture: dict[str, Any]) -> None:
    assert f"Warning: breakglass: recorded {capture['object']['kind'].lower()}" in proc.stderr
    assert capture["id"] in proc.stderr


def test_gitops_server_side_apply_is_not_captured(cluster, app):
    assert captures(cluster, app) == []


def test_kubectl_edit(cluster, app, tmp_path):
    editor = tmp_path / "editor.py"
    editor.write_text(
        textwrap.dedent(
            """
            import pathlib, sys
            path = pathlib.Path(sys.argv[1])
            path.write_text(path.read_text().replace("replicas: 2", "replicas: 6", 1))
            """
        )
    )
    proc = cluster.kubectl(
        "edit",
        "deployment/checkout",
        "-n",
        app,
        env={"KUBE_EDITOR": f"{sys.executable} {editor}", "EDITOR": ""},
    )
    c = one_capture(cluster, app, "checkout")
    assert_warned(proc, c)
    assert c["actor"]["username"] == "alice"
    assert "oncall" in c["actor"]["groups"]
    assert c["actor"]["field_manager"] == "kubectl-edit"
    assert c["operation"] == "UPDATE"
    assert c["delta"]["paths"] == ["spec.replicas"]
    assert c["delta"]["before"]["spec"] == {"replicas": 2}
    assert c["delta"]["after"]["spec"] == {"replicas": 6}
    # confirmed by the audit event of the same request, which carried the patch
    assert c["audit_id"]
    assert c["actor"]["user_agent"].startswith("kubectl")
    assert c["actor"]["source_ips"]


def test_kubectl_scale_hits_the_scale_subresource(cluster, app):
    proc = cluster.kubectl("scale", "deployment/checkout", "--replicas=5", "-n", app)
    c = one_capture(cluster, app, "checkout")
    assert_warned(proc, c)
    assert c["object"]["subresource"] == "scale"
    assert c["object"]["kind"] == "Deployment"
    assert c["delta"]["after"]["spec"] == {"replicas": 5}
    assert c["delta"]["before"]["spec"] == {"replicas": 2}


def test_kubectl_set_image(cluster, app):
    proc = cluster.kubectl(
        "set", "image", "deployment/checkout", "app=registry.example/checkout:1.4.3", "-n", app
    )
    c = one_capture(cluster, app, "checkout")
    assert_warned(proc, c)
    assert c["delta"]["paths"] == ["spec.template.spec.containers[name=app].image"]
    assert c["actor"]["field_manager"] == "kubectl-set"


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (["label", "deployment/checkout", "tier=gold"], "metadata.labels.tier"),
        (
            ["annotate", "deployment/checkout", "team.example/owner=payments"],
            "metadata.annotations.team.example/owner",
        ),
    ],
)
def test_label_and_annotate(cluster, app, args, path):
    proc = cluster.kubectl(*args, "-n", app)
    c = one_capture(cluster, app, "checkout")
    assert_warned(proc, c)
    assert c["delta"]["paths"] == [path]


@pytest.mark.parametrize(
    ("kind_args", "patch", "path"),
    [
        (["--type=merge"], {"data": {"TIMEOUT": "60"}}, "data.TIMEOUT"),
        (
            ["--type=json"],
            [{"op": "replace", "path": "/data/FEATURE_X", "value": "on"}],
            "data.FEATURE_X",
        ),
        (["--type=strategic"], {"data": {"NEW_KEY": "x"}}, "data.NEW_KEY"),
    ],
)
def test_patch_in_three_flavours(cluster, app, kind_args, patch, path):
    proc = cluster.kubectl(
        "patch", "configmap/checkout-config", "-n", app, *kind_args, "-p", json.dumps(patch)
    )
    c = one_capture(cluster, app, "checkout-config")
    assert_warned(proc, c)
    assert c["delta"]["paths"] == [path]
    assert c["actor"]["field_manager"] == "kubectl-patch"
    # the audit event carried the exact patch the engineer sent
    assert c["delta"]["patch"] == patch


def test_strategic_patch_on_a_container_list(cluster, app):
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "proxy", "image": "registry.example/proxy:2.1"}]}
            }
        }
    }
    cluster.kubectl("patch", "deployment/checkout", "-n", app, "-p", json.dumps(patch))
    c = one_capture(cluster, app, "checkout")
    assert c["delta"]["paths"] == ["spec.template.spec.containers[name=proxy].image"]


def test_client_side_apply_and_delete(cluster, app, tmp_path):
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(
        textwrap.dedent(f"""
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: extra, namespace: {app}}}
        data: {{A: "1"}}
        """)
    )
    proc = cluster.kubectl("apply", "-f", str(manifest))
    created = one_capture(cluster, app, "extra")
    assert_warned(proc, created)
    assert created["operation"] == "CREATE"
    assert created["delta"]["after"]["data"] == {"A": "1"}
    assert "kubectl.kubernetes.io/last-applied-configuration" not in json.dumps(created["delta"])
    proc = cluster.kubectl("delete", "configmap/extra", "-n", app)

    def deleted():
        found = [c for c in captures(cluster, app, "extra") if c["operation"] == "DELETE"]
        return found[0] if found and found[0]["audit_id"] else None

    d = wait_until(deleted, what="confirmed delete")
    assert_warned(proc, d)


def test_service_change(cluster, app):
    cluster.kubectl(
        "patch",
        "service/checkout",
        "-n",
        app,
        "--type=merge",
        "-p",
        '{"spec":{"ports":[{"name":"http","port":8080,"targetPort":8080}]}}',
    )
    c = one_capture(cluster, app, "checkout")
    assert c["object"]["kind"] == "Service"
    assert "spec.ports[name=http].port" in c["delta"]["paths"]


def test_diff_and_server_dry_run_capture_nothing(cluster, app, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        textwrap.dedent(f"""
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: checkout-config, namespace: {app}}}
        data: {{FEATURE_X: "on", TIMEOUT: "30"}}
        """)
    )
    cluster.kubectl("diff", "-f", str(manifest), check=False)
    proc = cluster.kubectl("apply", "--dry-run=server", "-f", str(manifest))
    cluster.kubectl("scale", "deployment/checkout", "--replicas=9", "--dry-run=server", "-n", app)
    assert "breakglass" not in proc.stderr
    # a real write afterwards proves the pipeline was live while the dry runs passed through
    cluster.kubectl("label", "configmap/checkout-config", "probe=1", "-n", app)
    one_capture(cluster, app, "checkout-config")
    assert len(captures(cluster, app)) == 1


def test_impersonation_is_captured_as_the_impersonated_user(cluster, app):
    proc = cluster.kubectl("label", "deployment/checkout", "owner=bob", "--as=bob", "-n", app)
    c = one_capture(cluster, app, "checkout")
    assert_warned(proc, c)
    assert c["actor"]["username"] == "bob"
    assert c["actor"]["impersonator"] == "alice"


def test_flux_identity_is_not_captured(cluster, app):
    cluster.kubectl("label", "deployment/checkout", "flux=1", "-n", app, user="flux")
    cluster.kubectl("label", "configmap/checkout-config", "probe=1", "-n", app)
    one_capture(cluster, app, "checkout-config")
    assert captures(cluster, app, "checkout") == []


def test_request_rejected_after_admission_stays_provisional(cluster, app):
    # A stale resourceVersion or an invalid field is refused *before* validating webhooks run;
    # a create of an existing name passes admission and fails in storage (409 AlreadyExists).
    proc = cluster.kubectl(
        "create", "configmap", "checkout-config", "--from-literal=A=1", "-n", app, check=False
    )
    assert proc.returncode != 0
    assert "already exists" in proc.stderr
    c = one_capture(cluster, app, "checkout-config", confirmed=False)
    assert c["operation"] == "CREATE"
    # the 409 audit event never confirms it; the worker then finds the live object does not
    # show the change and discards it, with the reason
    discarded = wait_until(
        lambda: next(
            (x for x in captures(cluster, app, "checkout-config") if x["status"] == "discarded"),
            None,
        ),
        what="the rejected capture to be discarded",
    )
    assert discarded["id"] == c["id"]
    assert discarded["audit_id"] is None
    assert "does not show the change" in discarded["reason"]


def test_secret_values_never_leave_the_cluster(cluster, app, tmp_path):
    encoded = base64.b64encode(CANARY.encode()).decode()
    cluster.kubectl(
        "patch",
        "secret/db-creds",
        "-n",
        app,
        "--type=merge",
        "-p",
        json.dumps({"stringData": {"password": CANARY}}),
    )
    cluster.kubectl(
        "patch",
        "secret/db-creds",
        "-n",
        app,
        "--type=json",
        "-p",
        json.dumps([{"op": "add", "path": "/data/token", "value": encoded}]),
    )
    manifest = tmp_path / "secret.yaml"
    manifest.write_text(
        textwrap.dedent(f"""
        apiVersion: v1
        kind: Secret
        metadata: {{name: applied, namespace: {app}}}
        stringData: {{api-key: {CANARY}}}
        """)
    )
    cluster.kubectl("apply", "-f", str(manifest))
    wait_until(
        lambda: len([c for c in captures(cluster, app) if c["audit_id"]]) == 3,
        what="three confirmed secret captures",
    )
    secret_captures = captures(cluster, app)
    paths = {p for c in secret_captures for p in c["delta"]["paths"]}
    assert "data.password" in paths and "data.token" in paths
    blobs = [cluster.log("breakglass").encode(), cluster.log("kube-apiserver").encode()]
    blobs += [f.read_bytes() for f in cluster.state.glob("journal.db*")]
    blobs.append(json.dumps(secret_captures).encode())
    for blob in blobs:
        assert CANARY.encode() not in blob
        assert encoded.encode() not in blob

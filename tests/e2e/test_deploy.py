"""deploy/ against the real API server: every overlay renders with kubectl's kustomize and is
accepted by server-side dry-run, then applied for real where no controller is needed; the
webhook configuration in deploy/ is the one the generator (and so the e2e suite) produces."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from breakglass import manifests
from tests.e2e.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CRDS = Path(__file__).parent / "manifests" / "cert-manager-crds.yaml"
OVERLAYS = [
    "base",
    "overlays/self-signed",
    "overlays/read-secrets",
    "overlays/replicas",
    "overlays/scan",
]
# The overlays that run several replicas as a StatefulSet; the others, the base's Deployment.
STATEFUL = {"overlays/replicas"}


@pytest.fixture(scope="module")
def deploy_tree(tmp_path_factory) -> Path:
    """A copy of deploy/ with the self-signed overlay's generated files in place."""
    tree = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, tree, ignore=shutil.ignore_patterns("generated"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakglass",
            "manifests",
            "self-signed",
            "--namespace",
            "breakglass",
            "--out",
            str(tree / "overlays" / "self-signed" / "generated"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return tree


@pytest.fixture(scope="module")
def cert_manager_crds(cluster):
    cluster.kubectl("apply", "-f", str(CRDS), user="admin")
    for crd in ("issuers.cert-manager.io", "certificates.cert-manager.io"):
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s", user="admin"
        )
    wait_until(
        lambda: (
            cluster.kubectl("get", "certificates", "-A", user="admin", check=False).returncode == 0
        ),
        what="cert-manager stand-in CRDs served",
    )


def render(cluster, directory: Path) -> list[dict[str, Any]]:
    out = cluster.kubectl("kustomize", str(directory), user="admin")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_is_accepted_by_the_api_server(cluster, cert_manager_crds, deploy_tree, overlay):
    docs = render(cluster, deploy_tree / overlay)
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ValidatingWebhookConfiguration",
    } <= kinds
    # No namespaced Role: nothing to write (not even Leases; the journal elects the worker).
    assert not {"Role", "RoleBinding"} & kinds
    workload = "StatefulSet" if overlay in STATEFUL else "Deployment"
    assert workload in kinds
    if overlay in STATEFUL:
        # One volume per replica from volumeClaimTemplates, none shared.
        assert not {"Deployment", "PersistentVolumeClaim"} & kinds
    else:
        assert "PersistentVolumeClaim" in kinds
    if overlay == "overlays/self-signed":
        assert not {"Issuer", "Certificate"} & kinds
        assert "Secret" in kinds
    else:
        assert {"Issuer", "Certificate"} <= kinds

    # The namespace exists for real (dry-run objects cannot be created in a dry-run namespace).
    namespace = by_kind(docs, "Namespace")
    cluster.kubectl("apply", "-f", "-", user="admin", stdin=json.dumps(namespace[0]))
    stream = "\n---\n".join(json.dumps(d) for d in docs)
    dry = cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", user="admin", stdin=stream
    )
    assert "server dry run" in dry.stdout
    assert "would violate PodSecurity" not in dry.stderr, dry.stderr
    for doc in docs:
        assert f"{doc['kind'].lower()}" in dry.stdout.lower()

    # For real, everything that needs no controller, except the webhook configuration: the
    # suite's own breakglass owns that name on this API server.
    real = [d for d in docs if d["kind"] != "ValidatingWebhookConfiguration"]
    applied = cluster.kubectl(
        "apply",
        "--validate=strict",
        "-f",
        "-",
        user="admin",
        stdin="\n---\n".join(json.dumps(d) for d in real),
    )
    assert "would violate PodSecurity" not in applied.stderr, applied.stderr
    live = json.loads(
        cluster.kubectl(
            "get", workload.lower(), "breakglass", "-n", "breakglass", "-o", "json", user="admin"
        ).stdout
    )
    # The webhooks and the worker, each in its own locked-down container.
    live_containers = live["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in live_containers] == ["breakglass", "worker"]
    for container in live_containers:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def deploy_webhook(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (hook,) = by_kind(docs, "ValidatingWebhookConfiguration")
    return hook


def test_webhook_matches_the_generator_for_the_in_cluster_service(cluster, deploy_tree):
    hook = deploy_webhook(render(cluster, deploy_tree / "base"))
    (certificate,) = [
        d
        for d in render(cluster, deploy_tree / "base")
        if d["kind"] == "Certificate" and d["spec"].get("secretName") == "breakglass-tls"
    ]
    ref = f"{certificate['metadata']['namespace']}/{certificate['metadata']['name']}"
    # The identities the deployed config ignores are the ones the webhook filters out.
    actors = yaml.safe_load((DEPLOY / "base" / "breakglass.yaml").read_text())["actors"]
    expected = manifests.validating_webhook(
        ca_bundle=None,
        service_name="breakglass",
        service_namespace="breakglass",
        ignore_users=actors["ignore"]["users"],
        ignore_groups=actors["ignore"]["groups"],
        inject_ca_from=ref,
    )
    assert hook["webhooks"] == expected["webhooks"]
    assert hook["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": ref}
    (webhook,) = hook["webhooks"]
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["timeoutSeconds"] == 2
    assert webhook["sideEffects"] == "NoneOnDryRun"
    assert "*/scale" in webhook["rules"][0]["resources"]
    assert webhook["clientConfig"]["service"] == {
        "name": "breakglass",
        "namespace": "breakglass",
        "path": "/validate",
        "port": 443,
    }
    # The Service behind it serves 443 → the container's 8443.
    (service,) = by_kind(render(cluster, deploy_tree / "base"), "Service")
    https = next(p for p in service["spec"]["ports"] if p["name"] == "https")
    assert https["port"] == 443 and https["targetPort"] == "https"

    # And the e2e suite's own configuration (same generator, URL instead of Service) agrees on
    # everything that decides what reaches breakglass.
    suite = yaml.safe_load((cluster.workdir / "webhook.yaml").read_text())["webhooks"][0]
    for key in ("rules", "matchConditions", "namespaceSelector", "failurePolicy", "sideEffects"):
        assert webhook[key] == suite[key], key


def test_self_signed_overlay_carries_a_ca_that_signed_the_serving_cert(cluster, deploy_tree):
    docs = render(cluster, deploy_tree / "overlays" / "self-signed")
    hook = deploy_webhook(docs)
    assert "annotations" not in hook["metadata"] or not hook["metadata"]["annotations"].get(
        "cert-manager.io/inject-ca-from"
    )
    (webhook,) = hook["webhooks"]
    ca_pem = base64.b64decode(webhook["clientConfig"]["caBundle"])
    (secret,) = by_kind(docs, "Secret")
    assert secret["metadata"]["name"] == "breakglass-tls"
    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["ca.crt"]) == ca_pem
    ca = x509.load_pem_x509_certificate(ca_pem)
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "breakglass.breakglass.svc" in names.get_values_for_type(x509.DNSName)
    # Everything else about the webhook is the base's.
    base = deploy_webhook(render(cluster, deploy_tree / "base"))["webhooks"][0]
    assert {k: v for k, v in webhook.items() if k != "clientConfig"} == {
        k: v for k, v in base.items() if k != "clientConfig"
    }


def test_replicas_overlay_runs_the_base_pod_as_a_statefulset(
    cluster, cert_manager_crds, deploy_tree
):
    docs = render(cluster, deploy_tree / "overlays" / "replicas")
    (statefulset,) = by_kind(docs, "StatefulSet")
    (deployment,) = by_kind(render(cluster, deploy_tree / "base"), "Deployment")
    assert statefulset["spec"]["replicas"] > 1
    pod, base_pod = statefulset["spec"]["template"]["spec"], deployment["spec"]["template"]["spec"]

    # The generated ConfigMap (its name carries a hash of the overlay's breakglass.yaml) is the
    # one the pods mount, and it names a PostgreSQL journal.
    (configmap,) = by_kind(docs, "ConfigMap")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
    config = yaml.safe_load(configmap["data"]["breakglass.yaml"])
    assert config["journal"].startswith("postgresql://")
    # No shared state volume: each replica mounts its own claim.
    assert "state" not in volumes
    (template,) = statefulset["spec"]["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "state"

    # Everything else is the base's pod as kustomize renders it, image included.
    def comparable(spec: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: v for k, v in spec.items() if k not in ("affinity", "containers", "volumes")},
            "containers": [{k: v for k, v in c.items() if k != "env"} for c in spec["containers"]],
            "volumes": [v for v in spec["volumes"] if v["name"] not in ("config", "state")],
        }

    assert comparable(pod) == comparable(base_pod)

    # The webhook's Service selects these pods; the headless one governs the StatefulSet.
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    hook = deploy_webhook(docs)["webhooks"][0]["clientConfig"]["service"]["name"]
    assert services[hook]["spec"]["selector"].items() <= labels.items()
    governing = services[statefulset["spec"]["serviceName"]]
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["selector"].items() <= labels.items()

    # Applied over the base's PodDisruptionBudget (an upgrade from one replica), the live one
    # keeps one replica up and no longer carries maxUnavailable.
    (namespace,) = by_kind(docs, "Namespace")
    cluster.kubectl("apply", "-f", "-", user="admin", stdin=json.dumps(namespace))
    for source in (deploy_tree / "base", deploy_tree / "overlays" / "replicas"):
        (pdb,) = by_kind(render(cluster, source), "PodDisruptionBudget")
        cluster.kubectl("apply", "-f", "-", user="admin", stdin=json.dumps(pdb))
    live = json.loads(
        cluster.kubectl(
            "get", "pdb", "breakglass", "-n", "breakglass", "-o", "json", user="admin"
        ).stdout
    )
    assert live["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in live["spec"]

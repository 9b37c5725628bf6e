"""deploy/ without a cluster: generated files are current, RBAC is least-privilege, the pod is
locked down, and the in-cluster config is valid.  (tests/e2e/test_deploy.py applies it all to a
real API server.)"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from breakglass import settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"


def breakglass(*args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def without_comments(path: Path) -> str:
    lines = path.read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("#"))


def makefile_args(name: str) -> list[str]:
    """The arguments `make deploy-manifests` passes, read from the Makefile itself."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return line.split(":=", 1)[1].split()
    raise AssertionError(f"{name} not in Makefile")


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_webhook_yaml_is_what_the_generator_prints():
    # Regenerating gives the committed file byte for byte; cert-manager injects the caBundle,
    # so there is none to differ.
    fresh = breakglass("manifests", *makefile_args("WEBHOOK_ARGS"))
    assert without_comments(BASE / "webhook.yaml") == fresh, "run `make deploy-manifests`"
    hook = yaml.safe_load(fresh)
    assert "caBundle" not in hook["webhooks"][0]["clientConfig"]


def test_audit_examples_are_what_the_generators_print():
    assert without_comments(DEPLOY / "examples" / "audit-policy.yaml") == breakglass(
        "manifests", "audit-policy"
    )
    kubeconfig = breakglass("manifests", *makefile_args("KUBECONFIG_ARGS"))
    assert without_comments(DEPLOY / "examples" / "audit-webhook.kubeconfig") == kubeconfig
    assert "token:" not in kubeconfig  # tokenFile only: the example holds no secret


def test_webhook_points_at_the_certificate_that_cert_manager_issues():
    hook = yaml.safe_load((BASE / "webhook.yaml").read_text())
    ref = hook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    certificates = {
        f"{d['metadata']['namespace']}/{d['metadata']['name']}": d
        for d in docs(BASE / "certificate.yaml")
        if d["kind"] == "Certificate"
    }
    assert certificates[ref]["spec"]["secretName"] == "breakglass-tls"
    service = hook["webhooks"][0]["clientConfig"]["service"]
    assert f"{service['name']}.{service['namespace']}.svc" in certificates[ref]["spec"]["dnsNames"]


def rules(path: Path) -> list[dict[str, Any]]:
    return [r for d in docs(path) if d["kind"] in ("ClusterRole", "Role") for r in d["rules"]]


def test_rbac_only_reads_and_never_secrets_by_default():
    found = rules(BASE / "rbac.yaml")
    for rule in found:
        assert set(rule["verbs"]) <= {"get", "list"}, rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert "secrets" not in rule["resources"]
    assert not [d for d in docs(BASE / "rbac.yaml") if d["kind"] in ("Role", "RoleBinding")]
    resources = {(g, r) for rule in found for g in rule["apiGroups"] for r in rule["resources"]}
    for needed in [
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("", "configmaps"),
        ("", "services"),
        ("batch", "cronjobs"),
        ("networking.k8s.io", "ingresses"),
        ("argoproj.io", "applications"),
        ("kustomize.toolkit.fluxcd.io", "kustomizations"),
        ("helm.toolkit.fluxcd.io", "helmreleases"),
        ("source.toolkit.fluxcd.io", "gitrepositories"),
    ]:
        assert needed in resources, needed
    opt_in = rules(DEPLOY / "components" / "read-secrets" / "rbac.yaml")
    assert opt_in == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]


def test_the_pod_is_locked_down():
    (deployment,) = docs(BASE / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"]["path"] == path
        assert container[probe]["httpGet"]["scheme"] == "HTTPS"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config = yaml.safe_load((BASE / "breakglass.yaml").read_text())
    assert config["state_dir"] == mounts["state"]
    assert Path(config["tls"]["cert_file"]).parent == Path(mounts["tls"])
    assert container["args"][-1].startswith(mounts["config"] + "/")
    assert container["envFrom"] == [{"secretRef": {"name": "breakglass-secrets"}}]


def test_in_cluster_config_is_valid(tmp_path):
    data = yaml.safe_load((BASE / "breakglass.yaml").read_text())
    # The TLS files exist only in the pod; stand them in so every other key is validated.
    for key in ("cert_file", "key_file"):
        (tmp_path / key).write_text("x")
        data["tls"][key] = str(tmp_path / key)
    loaded = settings.from_mapping(data, source="deploy/base/breakglass.yaml", base=tmp_path)
    assert loaded.listen.port == 8443
    assert loaded.metrics.listen is not None and loaded.metrics.listen.port == 9090
    assert str(loaded.audit_log.dir).startswith(str(loaded.state_dir))
    assert loaded.journal_url == f"sqlite:///{loaded.state_dir / 'journal.db'}"
    assert loaded.kube.mode == "in-cluster"


def test_self_signed_writes_the_key_only_readable_by_its_owner(tmp_path):
    out = tmp_path / "generated"
    breakglass("manifests", "self-signed", "--namespace", "ops", "--out", str(out))
    mode = stat.S_IMODE((out / "tls-secret.yaml").stat().st_mode)
    assert mode == 0o600
    secret = yaml.safe_load((out / "tls-secret.yaml").read_text())
    assert secret["metadata"] == secret["metadata"] | {"name": "breakglass-tls", "namespace": "ops"}
    hook = yaml.safe_load((out / "webhook.yaml").read_text())
    client = hook["webhooks"][0]["clientConfig"]
    assert client["service"]["namespace"] == "ops" and client["caBundle"]
    skipped = hook["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"]
    assert skipped == ["kube-system", "ops"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["webhook"], "one of the arguments --ca-file --inject-ca-from is required"),
        (["webhook", "--inject-ca-from", "nope"], "NAMESPACE/CERTIFICATE"),
    ],
)
def test_manifest_errors_are_one_line(args, message):
    out = subprocess.run(
        [sys.executable, "-m", "breakglass", "manifests", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr

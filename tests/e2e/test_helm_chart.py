"""The Helm chart (deploy/helm/breakglass) against the kustomize tree it mirrors: `helm lint
--strict` passes, and `helm template` with each option set renders the objects `kubectl
kustomize` renders for the matching overlay, object by object; settings from a user's values
file reach breakglass.yaml and pass `breakglass config check`; the schema refuses what it must.

monitoring.enabled stands for deploy/monitoring, which is installed next to deploy/base or an
overlay, not inside it (`kubectl apply -k deploy/base` and `kubectl apply -k deploy/monitoring`,
as its README says). So its option sets are compared with both kustomize renders taken together:
the objects of the two, each object at most once.

Nothing here talks to an API server (both tools only render), so no `cluster` fixture: the
binaries come from tests/e2e/testbin.sh under the end-to-end tests' policy (tests/testbin.py:
skipped when they cannot be had, a failure with BREAKGLASS_E2E=required, as `.ci/run` sets).

What the comparison normalises, and why (nothing else may differ):

- The ConfigMap's name. Both name it `breakglass-config-<suffix>`, the suffix changing with the
  content so that a settings change rolls the pods. kustomize's suffix is its own encoding of a
  hash of the ConfigMap; the chart's is the first 10 hex digits of `sha256sum` of the settings,
  and the settings text differs anyway (comments, key order). After checking that each render's
  workload mounts that render's ConfigMap, both names become `breakglass-config-<hash>`.
- The settings text. Compared parsed: the chart renders them from values (`toYaml`), without
  deploy/base/breakglass.yaml's comments.
- `helm.sh/resource-policy: keep` on the chart's Namespace and PersistentVolumeClaim
  `breakglass-state`: an instruction to Helm, which no API server or controller reads, that
  keeps the audit log chains (and the Secret you created) when the release is uninstalled or
  upgraded to a PostgreSQL journal, which renders no such claim. kustomize has nothing to say
  that with. Checked to be there, then removed: no other annotation may differ.
- The self-signed certificate (certManager.enabled false ↔ deploy/overlays/self-signed). Both
  hold a freshly generated CA, serving certificate and key, random in each render. Each is
  replaced by what can be checked about it (the certificate was issued by the CA, for which
  names, for how many days, a P-256 key that is the certificate's, the webhook's caBundle is
  the Secret's CA), and those facts are compared.

The monitoring objects need nothing more: the dashboard's ConfigMap has a fixed name
(`disableNameSuffixHash` in deploy/monitoring/kustomization.yaml), and its dashboard.json is
compared as the text it is, character for character; the rules' and the ServiceMonitor's
specs are compared parsed, like every other object.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID

from breakglass import manifests, settings
from tests import testbin

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "breakglass"
NAMESPACE = "breakglass"
CONFIG_PREFIX = "breakglass-config-"
MONITORING = DEPLOY / "monitoring"
MONITORING_COPIES = CHART / "files" / "monitoring"

# Option set (values files in the chart's ci/ directory, in order; none: the defaults) ↔ the
# kustomizations under deploy/ that render the same objects, applied side by side.
PAIRS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "defaults": ((), ("base",)),
    "replicas": (("ci/replicas-values.yaml",), ("overlays/replicas",)),
    "self-signed": (("ci/self-signed-values.yaml",), ("overlays/self-signed",)),
    "read-secrets": (("ci/read-secrets-values.yaml",), ("overlays/read-secrets",)),
    "scan": (("ci/scan-values.yaml",), ("overlays/scan",)),
    "pause-self-heal": (("ci/pause-self-heal-values.yaml",), ("overlays/pause-self-heal",)),
    "monitoring": (("ci/monitoring-values.yaml",), ("base", "monitoring")),
    # deploy/monitoring selects the pods by label, so it goes with any overlay.
    "replicas+monitoring": (
        ("ci/replicas-values.yaml", "ci/monitoring-values.yaml"),
        ("overlays/replicas", "monitoring"),
    ),
}

# A user's values file: the settings an install changes.
USER_VALUES = """\
cluster: prod-eu-1
forges:
  github:
    kind: github
    repo: acme/platform-gitops
    token_env: GITHUB_TOKEN
backfill:
  forge: github
  labels: [breakglass, backfill, manual-change]
  reviewers: [platform-oncall]
repos:
  - url: https://github.com/acme/platform-gitops.git
    branch: main
    path: clusters/prod-eu-1
    namespaces: [payments, "team-*"]
    forge: github
users:
  alice@example.com: {name: Alice Doe, email: alice@example.com, github: alice-doe}
scan:
  interval: 3600
  owners: [{namespaces: ["*"], users: [alice@example.com]}]
  rbac: true
extraSettings:
  audit_webhook: {enabled: false}
"""


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubectl: Path
    home: Path

    def helm_run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Helm's own configuration, cache and data in a directory of the test's: no repository
        # or plugin of the person running the tests takes part.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        out = subprocess.run(
            [str(self.helm), *args], capture_output=True, text=True, check=False, env=env
        )
        if check:
            assert out.returncode == 0, f"helm {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
        return out

    def template(self, *values: Path, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        args = ["template", "breakglass", str(CHART), "--namespace", NAMESPACE, "--include-crds"]
        args += extra
        for path in values:
            args += ["--values", str(path)]
        return [d for d in yaml.safe_load_all(self.helm_run(*args).stdout) if d]

    def kustomize(self, *directories: Path) -> list[dict[str, Any]]:
        """The objects of each kustomization, one after the other: what applying each of them
        (`kubectl apply -k`) puts in the cluster."""
        docs = []
        for directory in directories:
            out = subprocess.run(
                [str(self.kubectl), "kustomize", str(directory)],
                capture_output=True,
                text=True,
                check=False,
            )
            assert out.returncode == 0, out.stderr
            docs += [d for d in yaml.safe_load_all(out.stdout) if d]
        return docs


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    helm, kubectl = testbin.tools(
        ("HELM", "KUBECTL"),
        cache_glob="helm-*/.complete,k8s-*/.complete",
        what="helm and kubectl",
    )
    return Tools(helm, kubectl, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def deploy_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/ with the self-signed overlay's generated files in place."""
    tree = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, tree, ignore=shutil.ignore_patterns("generated", "helm"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakglass",
            "manifests",
            "self-signed",
            "--namespace",
            NAMESPACE,
            "--out",
            str(tree / "overlays" / "self-signed" / "generated"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return tree


def values_of(option_set: str) -> tuple[Path, ...]:
    return tuple(CHART / path for path in PAIRS[option_set][0])


def kustomizations_of(option_set: str, tree: Path) -> tuple[Path, ...]:
    return tuple(tree / directory for directory in PAIRS[option_set][1])


# -- normalising ---------------------------------------------------------------------------


Key = tuple[str, str, str]


def key(doc: dict[str, Any]) -> Key:
    meta = doc["metadata"]
    return doc["kind"], meta.get("namespace", ""), meta["name"]


def show(k: Key) -> str:
    kind, namespace, name = k
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def workload(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    return found


def settings_configmap(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ConfigMap of the settings (not, with monitoring, the dashboard's)."""
    (found,) = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(CONFIG_PREFIX)
    ]
    return found


def normalise_config(docs: list[dict[str, Any]]) -> None:
    """The generated ConfigMap's name (after checking the workload mounts it) and its text."""
    configmap = settings_configmap(docs)
    name = configmap["metadata"]["name"]
    assert re.fullmatch(re.escape(CONFIG_PREFIX) + r"[a-z0-9]{10}", name), name
    volumes = workload(docs)["spec"]["template"]["spec"]["volumes"]
    (config,) = [v for v in volumes if v["name"] == "config"]
    assert config["configMap"]["name"] == name, "the pods mount another ConfigMap"
    configmap["metadata"]["name"] = config["configMap"]["name"] = CONFIG_PREFIX + "<hash>"
    configmap["data"]["breakglass.yaml"] = yaml.safe_load(configmap["data"]["breakglass.yaml"])


def days(cert: x509.Certificate) -> int:
    return round((cert.not_valid_after_utc - cert.not_valid_before_utc) / dt.timedelta(days=1))


def tls_facts(secret: dict[str, Any]) -> dict[str, Any]:
    """What can be checked about a generated serving pair and its CA, in place of the bytes."""
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    ca = x509.load_pem_x509_certificate(data["ca.crt"])
    cert = x509.load_pem_x509_certificate(data["tls.crt"])
    private = load_pem_private_key(data["tls.key"], password=None)
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return {
        "ca.crt": {
            "ca": ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca,
            "days": days(ca),
        },
        "tls.crt": {
            "issued by ca.crt": True,
            "names": sans.get_values_for_type(x509.DNSName),
            "server auth": ExtendedKeyUsageOID.SERVER_AUTH in usage,
            "days": days(cert),
        },
        "tls.key": {
            "curve": private.curve.name,
            "the certificate's": private.public_key() == cert.public_key(),
        },
    }


def normalise_tls(docs: list[dict[str, Any]]) -> None:
    """A generated TLS Secret becomes its facts; the webhook's caBundle, whether it is its CA."""
    secrets = [
        d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "breakglass-tls"
    ]
    hooks = [d for d in docs if d["kind"] == "ValidatingWebhookConfiguration"]
    for hook in hooks:
        for webhook in hook["webhooks"]:
            bundle = webhook["clientConfig"].get("caBundle")
            if bundle is None:
                continue
            assert secrets, "a caBundle but no Secret breakglass-tls"
            same = bundle == secrets[0]["data"]["ca.crt"]
            webhook["clientConfig"]["caBundle"] = (
                "<ca.crt of Secret breakglass-tls>" if same else bundle
            )
    for secret in secrets:
        secret["data"] = tls_facts(secret)


KEEP = {"helm.sh/resource-policy": "keep"}
KEPT = {("Namespace", "", NAMESPACE), ("PersistentVolumeClaim", NAMESPACE, "breakglass-state")}


def normalise_kept(docs: list[dict[str, Any]]) -> None:
    """The chart's resource-policy annotation on what Helm must not delete."""
    for doc in docs:
        if key(doc) in KEPT:
            annotations = doc["metadata"].get("annotations", {})
            assert annotations.items() >= KEEP.items(), f"{show(key(doc))} is not kept"
            rest = {k: v for k, v in annotations.items() if k not in KEEP}
            doc["metadata"].pop("annotations")
            if rest:
                doc["metadata"]["annotations"] = rest


def objects(docs: list[dict[str, Any]], *, chart: bool) -> dict[Key, dict[str, Any]]:
    normalise_config(docs)
    normalise_tls(docs)
    if chart:
        normalise_kept(docs)
    found: dict[Key, dict[str, Any]] = {}
    for doc in docs:
        assert key(doc) not in found, f"{show(key(doc))} twice"
        found[key(doc)] = doc
    return found


def first_difference(helm: Any, kustomize: Any, path: str = "") -> str | None:
    """The first path (in document order, keys sorted) where the two differ, with both values."""
    if isinstance(helm, dict) and isinstance(kustomize, dict):
        for k in sorted(set(helm) | set(kustomize)):
            here = f"{path}.{k}" if path else str(k)
            if k not in kustomize:
                return f"{here}: only in helm ({helm[k]!r})"
            if k not in helm:
                return f"{here}: only in kustomize ({kustomize[k]!r})"
            found = first_difference(helm[k], kustomize[k], here)
            if found:
                return found
        return None
    if isinstance(helm, list) and isinstance(kustomize, list):
        for i, (h, k) in enumerate(zip(helm, kustomize, strict=False)):
            found = first_difference(h, k, f"{path}[{i}]")
            if found:
                return found
        if len(helm) != len(kustomize):
            return f"{path}: {len(helm)} items in helm, {len(kustomize)} in kustomize"
        return None
    long_texts = isinstance(helm, str) and isinstance(kustomize, str) and len(helm) > 200
    if long_texts and helm != kustomize:  # a file's text (the dashboard): where it differs
        at = next(
            (i for i, (h, k) in enumerate(zip(helm, kustomize, strict=False)) if h != k),
            min(len(helm), len(kustomize)),
        )
        start = max(0, at - 40)
        return (
            f"{path}: from character {at}: helm {helm[start : at + 40]!r}, "
            f"kustomize {kustomize[start : at + 40]!r}"
        )
    if type(helm) is not type(kustomize) or helm != kustomize:
        return f"{path}: helm {helm!r}, kustomize {kustomize!r}"
    return None


def differences(helm: list[dict[str, Any]], kustomize: list[dict[str, Any]]) -> list[str]:
    ours, theirs = objects(helm, chart=True), objects(kustomize, chart=False)
    found = [f"{show(k)}: only in helm" for k in sorted(set(ours) - set(theirs))]
    found += [f"{show(k)}: only in kustomize" for k in sorted(set(theirs) - set(ours))]
    for k in sorted(set(ours) & set(theirs)):
        where = first_difference(ours[k], theirs[k])
        if where:
            found.append(f"{show(k)}: first difference at {where}")
    return found


# -- tests ---------------------------------------------------------------------------------


def test_the_chart_webhook_is_the_base_webhook_file():
    # The chart cannot read files outside its directory, so it carries a copy of the generated
    # configuration (`make deploy-manifests` writes both); only its namespace and CA source are
    # templated (templates/webhook.yaml).
    copy = CHART / "files" / "webhook.yaml"
    assert copy.read_bytes() == (DEPLOY / "base" / "webhook.yaml").read_bytes(), (
        "run `make deploy-manifests`"
    )


def monitoring_sources() -> set[str]:
    """The files deploy/monitoring/kustomization.yaml reads: its resources and the files of its
    ConfigMap generators (`key=file` or `file`)."""
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    names = set(kustomization["resources"])
    for generator in kustomization.get("configMapGenerator", []):
        names |= {entry.rpartition("=")[2] for entry in generator.get("files", [])}
    return names


def test_the_charts_crd_is_the_base_crd():
    chart = CHART / "crds" / "breakglasssessions.yaml"
    base = CHART.parents[1] / "base" / "crd-sessions.yaml"
    assert chart.read_bytes() == base.read_bytes(), "run `make deploy-manifests`"


def test_the_charts_monitoring_files_are_deploy_monitorings():
    # monitoring.enabled renders copies of deploy/monitoring's files (templates/monitoring.yaml),
    # which stays the one source: `make deploy-manifests` copies the files that its
    # kustomization reads (MONITORING_FILES in the Makefile), and nothing else.
    sources = monitoring_sources()
    assert {"service.yaml", "servicemonitor.yaml", "prometheusrule.yaml"} <= sources
    (line,) = [
        line
        for line in (ROOT / "Makefile").read_text().splitlines()
        if line.startswith("MONITORING_FILES :=")
    ]
    assert set(line.split(":=")[1].split()) == sources, (
        "MONITORING_FILES in the Makefile is not the files deploy/monitoring/kustomization.yaml "
        "reads (and templates/monitoring.yaml may need the new one too)"
    )
    copies = {path.name for path in MONITORING_COPIES.iterdir()}
    assert copies == sources, "run `make deploy-manifests`"
    for name in sorted(sources):
        copy, source = MONITORING_COPIES / name, MONITORING / name
        assert copy.read_bytes() == source.read_bytes(), f"{name}: run `make deploy-manifests`"


@pytest.mark.parametrize("option_set", list(PAIRS))
def test_helm_lint_strict(tools, option_set):
    args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE]
    for path in values_of(option_set):
        args += ["--values", str(path)]
    out = tools.helm_run(*args, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout, out.stdout


def test_helm_lint_strict_with_a_users_values(tools, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(USER_VALUES)
    out = tools.helm_run("lint", "--strict", str(CHART), "--values", str(values), check=False)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("option_set", list(PAIRS))
def test_helm_renders_what_kustomize_renders(tools, deploy_tree, option_set):
    overlays = " + ".join(PAIRS[option_set][1])
    helm = tools.template(*values_of(option_set))
    kustomize = tools.kustomize(*kustomizations_of(option_set, deploy_tree))
    found = differences(helm, kustomize)
    assert not found, f"helm ({option_set}) and kustomize ({overlays}) differ:\n" + "\n".join(found)


def readme_label_overlay() -> str:
    """deploy/monitoring/README.md's overlay that adds kube-prometheus-stack's `release` label."""
    readme = (MONITORING / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(# monitoring/kustomization\.yaml.*?)```", readme, re.S)
    (overlay,) = [text for text in blocks if "release:" in text and "patches:" not in text]
    return overlay


def test_monitoring_labels_are_the_readme_overlays_labels(tools, deploy_tree, tmp_path):
    # monitoring.labels stands for the overlay deploy/monitoring/README.md shows (it sits next to
    # deploy/ and reads ../deploy/monitoring): the same label on the same four objects.
    overlay = deploy_tree.parent / "monitoring-release"
    overlay.mkdir(exist_ok=True)
    (overlay / "kustomization.yaml").write_text(readme_label_overlay())
    values = tmp_path / "values.yaml"
    values.write_text("monitoring:\n  enabled: true\n  labels: {release: kube-prometheus-stack}\n")
    helm = tools.template(values)
    labelled = [d for d in helm if d["metadata"].get("labels", {}).get("release")]
    assert {(d["kind"], d["metadata"]["name"]) for d in labelled} == {
        ("Service", "breakglass-metrics"),
        ("ServiceMonitor", "breakglass"),
        ("PrometheusRule", "breakglass"),
        ("ConfigMap", "breakglass-dashboard"),
    }
    # Labels only: the selectors stay as they are (includeSelectors: false).
    (monitor,) = [d for d in helm if d["kind"] == "ServiceMonitor"]
    assert "release" not in monitor["spec"]["selector"]["matchLabels"]
    found = differences(helm, tools.kustomize(deploy_tree / "base", overlay))
    assert not found, "helm and README.md's overlay differ:\n" + "\n".join(found)


def test_the_comparison_names_the_object_and_the_path(tools, deploy_tree):
    # The comparison itself: one changed field is reported where it is.
    helm = tools.template(extra=("--set", "worker.resources.limits.memory=2Gi"))
    found = differences(helm, tools.kustomize(deploy_tree / "base"))
    assert found == [
        "Deployment breakglass/breakglass: first difference at "
        "spec.template.spec.containers[1].resources.limits.memory: helm '2Gi', kustomize '1Gi'"
    ]


def settings_text(docs: list[dict[str, Any]]) -> str:
    text: str = settings_configmap(docs)["data"]["breakglass.yaml"]
    return text


def config_check(text: str, tmp_path: Path) -> list[str]:
    """`breakglass config check` of a settings file: the problems it reports (none: [])."""
    path = tmp_path / "breakglass.yaml"
    path.write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "breakglass", "config", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [line.removeprefix(f"{path}: ") for line in out.stdout.splitlines() if line]
    assert (out.returncode == 0) == (not problems), out.stdout + out.stderr
    return problems


# The settings name the serving certificate where the pod mounts it; off the cluster those files
# do not exist, and that is all `config check` may find.
TLS_ONLY = [
    f"tls.{name}: '{path}' (an existing, readable file)"
    for name, path in (
        ("cert_file", "/etc/breakglass/tls/tls.crt"),
        ("key_file", "/etc/breakglass/tls/tls.key"),
    )
    if not Path(path).is_file()
]


def test_values_from_a_users_file_reach_the_settings(tools, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(USER_VALUES)
    docs = tools.template(values)
    text = settings_text(docs)
    rendered = yaml.safe_load(text)
    assert rendered["cluster"] == "prod-eu-1"
    assert rendered["forges"] == {
        "github": {"kind": "github", "repo": "acme/platform-gitops", "token_env": "GITHUB_TOKEN"}
    }
    assert rendered["repos"] == [
        {
            "url": "https://github.com/acme/platform-gitops.git",
            "branch": "main",
            "path": "clusters/prod-eu-1",
            "namespaces": ["payments", "team-*"],
            "forge": "github",
        }
    ]
    assert rendered["users"] == {
        "alice@example.com": {
            "name": "Alice Doe",
            "email": "alice@example.com",
            "github": "alice-doe",
        }
    }
    assert rendered["backfill"] == {
        "forge": "github",
        "labels": ["breakglass", "backfill", "manual-change"],
        "reviewers": ["platform-oncall"],
        "mirrors_dir": "/tmp/mirrors",  # the chart's, kept when the user's backfill has none
    }
    # scan.rbac is the chart's (the scanner's RBAC), not a setting.
    assert rendered["scan"] == {
        "interval": 3600,
        "owners": [{"namespaces": ["*"], "users": ["alice@example.com"]}],
    }
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole"} >= {
        "breakglass-scanner"
    }
    assert rendered["audit_webhook"] == {"enabled": False, "token_env": "BREAKGLASS_AUDIT_TOKEN"}

    assert config_check(text, tmp_path) == TLS_ONLY
    # And as breakglass reads them, with the TLS files stood in.
    for name in ("cert_file", "key_file"):
        (tmp_path / name).write_text("x")
        rendered["tls"][name] = str(tmp_path / name)
    loaded = settings.from_mapping(rendered, source="chart", base=tmp_path)
    assert loaded.cluster == "prod-eu-1"
    assert [r.url for r in loaded.repos] == ["https://github.com/acme/platform-gitops.git"]
    assert loaded.user("alice@example.com") is not None
    assert loaded.scan.interval == 3600


def test_the_cluster_name_comes_from_the_values(tools):
    docs = tools.template(extra=("--set", "cluster=staging-us-2"))
    assert yaml.safe_load(settings_text(docs))["cluster"] == "staging-us-2"


@pytest.mark.parametrize("option_set", list(PAIRS))
def test_every_option_sets_settings_pass_config_check(tools, tmp_path, option_set):
    assert config_check(settings_text(tools.template(*values_of(option_set))), tmp_path) == TLS_ONLY


def test_default_settings_are_the_base_file(tools):
    rendered = yaml.safe_load(settings_text(tools.template()))
    assert rendered == yaml.safe_load((DEPLOY / "base" / "breakglass.yaml").read_text())
    # The webhook's matchConditions are generated from these (files/webhook.yaml).
    (hook,) = [d for d in tools.template() if d["kind"] == "ValidatingWebhookConfiguration"]
    expected = manifests.match_conditions(
        rendered["actors"]["ignore"]["users"], rendered["actors"]["ignore"]["groups"]
    )
    assert hook["webhooks"][0]["matchConditions"] == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # A misspelled top-level key.
        (("--set", "replica=3"), "additional properties 'replica' not allowed"),
        (("--set", "certmanager.enabled=false"), "additional properties 'certmanager' not allowed"),
        # Wrong types.
        (("--set", "replicas=three"), "at '/replicas': got string, want integer"),
        (("--set-string", "certManager.enabled=no"), "at '/certManager/enabled': got string"),
        (("--set", "repos=main"), "at '/repos': got string, want array"),
        (("--set", "forges.github.kind=gitea"), "at '/forges/github/kind'"),
        (("--set", "journal.url=mysql://db/breakglass"), "at '/journal/url'"),
        (("--set", "scan.intervall=60"), "additional properties 'intervall' not allowed"),
        (("--set", "monitoring.enable=true"), "additional properties 'enable' not allowed"),
        (("--set", "monitoring.labels.release=1"), "at '/monitoring/labels/release'"),
    ],
)
def test_the_schema_refuses(tools, args, message):
    out = tools.helm_run("template", "breakglass", str(CHART), *args, check=False)
    assert out.returncode != 0, out.stdout
    assert "values don't meet the specifications of the schema" in out.stderr, out.stderr
    assert message in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "replicas=3"), "replicas: 3 needs journal.url (a PostgreSQL journal)"),
        (("--set", "extraSettings.tls.cert_file=/x"), "extraSettings.tls: not here"),
        (("--set", "extraSettings.cluster=x"), "set it with the chart's own value of that name"),
    ],
)
def test_the_chart_refuses(tools, args, message):
    out = tools.helm_run("template", "breakglass", str(CHART), *args, check=False)
    assert out.returncode != 0, out.stdout
    assert message in out.stderr, out.stderr


def test_schema_knows_the_settings_sections_it_types():
    # backfill and scan pass through to the settings: the schema lists exactly the settings'
    # keys (plus the chart's scan.rbac), so a misspelling fails at `helm install`, not in the pod.
    schema = json.loads((CHART / "values.schema.json").read_text())
    props = schema["properties"]
    assert set(props["backfill"]["properties"]) == set(settings.BackfillSettings.model_fields)
    assert set(props["scan"]["properties"]) == {*settings.ScanSettings.model_fields, "rbac"}
    scan = props["scan"]["properties"]
    assert set(scan["managers"]["properties"]) == set(settings.ScanManagerSettings.model_fields)
    assert set(scan["owners"]["items"]["properties"]) == set(
        settings.ScanOwnerSettings.model_fields
    )
    forge = props["forges"]["additionalProperties"]["properties"]
    assert set(forge) == set(settings.ForgeSettings.model_fields) - {"name"}  # the map's key
    assert set(props["repos"]["items"]["properties"]) == set(settings.RepoRuleSettings.model_fields)
    user = props["users"]["additionalProperties"]["properties"]
    assert set(user) == set(settings.UserIdentity.model_fields)


def test_a_postgresql_journal_with_one_replica_may_be_evicted(tools):
    docs = tools.template(
        extra=("--set", "journal.url=postgresql://breakglass@db:5432/breakglass,replicas=1")
    )
    assert workload(docs)["kind"] == "StatefulSet"
    (pdb,) = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "breakglass"}},
    }


def test_another_namespace_reaches_every_object_that_names_it(tools):
    out = tools.helm_run(
        "template",
        "breakglass",
        str(CHART),
        "--namespace",
        "ops",
        "--set",
        "monitoring.enabled=true",
    )
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert {d["metadata"].get("namespace", "ops") for d in docs} == {"ops"}
    assert {"ServiceMonitor", "PrometheusRule"} <= {d["kind"] for d in docs}
    (hook,) = [d for d in docs if d["kind"] == "ValidatingWebhookConfiguration"]
    webhook = hook["webhooks"][0]
    assert webhook["clientConfig"]["service"]["namespace"] == "ops"
    assert webhook["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system", "ops"]
    assert hook["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": "ops/breakglass-serving"
    }
    (serving,) = [d for d in docs if d["metadata"]["name"] == "breakglass-serving"]
    assert serving["spec"]["dnsNames"] == ["breakglass.ops.svc", "breakglass.ops.svc.cluster.local"]
    (namespace,) = [d for d in docs if d["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == "ops"
    binding = next(
        d
        for d in docs
        if d["kind"] == "ClusterRoleBinding" and d["subjects"][0]["kind"] == "ServiceAccount"
    )
    assert binding["subjects"][0]["namespace"] == "ops"


WORKLOAD_VALUES = """\
image: {repository: registry.example/breakglass, tag: 1.2.3, pullPolicy: Always}
imagePullSecrets: [{name: registry-credentials}]
secretName: bg-tokens
webhook:
  resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: null, memory: 256Mi}}
  extraEnv: [{name: TZ, value: UTC}]
worker:
  resources: {requests: {cpu: 200m, memory: 512Mi}, limits: {memory: 4Gi}}
  extraEnv: [{name: HTTPS_PROXY, value: "http://proxy.example:3128"}]
  tmpSizeLimit: 6Gi
nodeSelector: {node-role.example/platform: "true"}
tolerations: [{key: dedicated, operator: Equal, value: platform, effect: NoSchedule}]
persistence: {size: 5Gi, storageClassName: fast-ssd}
"""


def secret_names(pod: dict[str, Any]) -> set[str]:
    """Every Secret the pod's containers read variables from."""
    names = set()
    for container in pod["containers"]:
        names |= {e["secretRef"]["name"] for e in container.get("envFrom", [])}
        names |= {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "valueFrom" in e
        }
    return names


@pytest.mark.parametrize("journal", ["", "postgresql://breakglass@db.example:5432/breakglass"])
def test_workload_values_reach_the_pod(tools, tmp_path, journal):
    values = tmp_path / "values.yaml"
    values.write_text(WORKLOAD_VALUES)
    docs = tools.template(values, extra=("--set", f"journal.url={journal}"))
    found = workload(docs)
    pod = found["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    for container in containers.values():
        assert container["image"] == "registry.example/breakglass:1.2.3"
        assert container["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["nodeSelector"] == {"node-role.example/platform": "true"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    # Merged over the defaults: null removes one (no CPU limit for the webhooks).
    assert containers["breakglass"]["resources"]["limits"] == {"memory": "256Mi"}
    assert containers["worker"]["resources"] == {
        "requests": {"cpu": "200m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "4Gi"},
    }
    # The chart's variables first, then the user's.
    assert containers["breakglass"]["env"][-1] == {"name": "TZ", "value": "UTC"}
    assert containers["worker"]["env"][-1]["name"] == "HTTPS_PROXY"
    assert {"name": "HTTPS_PROXY"} not in [
        {"name": e["name"]} for e in containers["breakglass"]["env"]
    ]
    # One Secret name everywhere, the journal password's included (its default).
    assert secret_names(pod) == {"bg-tokens"}
    (tmp,) = [v for v in pod["volumes"] if v["name"] == "tmp"]
    assert tmp["emptyDir"]["sizeLimit"] == "6Gi"
    if journal:
        (claim,) = found["spec"]["volumeClaimTemplates"]
        spec = claim["spec"]
        # The replicas' default anti-affinity, since `affinity` is not set.
        assert "podAntiAffinity" in pod["affinity"]
    else:
        (claim,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
        spec = claim["spec"]
        assert "affinity" not in pod
    assert spec["storageClassName"] == "fast-ssd"
    assert spec["resources"]["requests"]["storage"] == "5Gi"


def test_the_journal_password_may_come_from_a_secret_of_its_own(tools):
    docs = tools.template(
        extra=(
            "--set",
            "journal.url=postgresql://breakglass@db:5432/breakglass,"
            "journal.passwordSecret.name=pg-breakglass,journal.passwordSecret.key=password",
        )
    )
    for container in workload(docs)["spec"]["template"]["spec"]["containers"]:
        env = {e["name"]: e for e in container["env"]}
        assert env["BREAKGLASS_JOURNAL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "pg-breakglass",
            "key": "password",
            "optional": False,
        }

"""deploy/ without a cluster: generated files are current, RBAC is least-privilege, the pod is
locked down, and the in-cluster config is valid.  (tests/e2e/test_deploy.py applies it all to a
real API server.)"""

from __future__ import annotations

import os
import shutil
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
    """Run from the repository's root, as `make` does (the Makefile's paths are relative)."""
    out = subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
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


def test_webhook_match_conditions_follow_the_settings_actors_ignore(tmp_path):
    # The Makefile generates the webhook from the in-cluster settings, whose TLS files exist
    # only in the pod: they are not looked for.
    args = makefile_args("WEBHOOK_ARGS")
    at = args.index("--config")
    assert args[at + 1] == "deploy/base/breakglass.yaml"
    committed = yaml.safe_load(breakglass("manifests", *args))
    data = yaml.safe_load((BASE / "breakglass.yaml").read_text())
    data["actors"]["ignore"]["users"] = ["system:*", "deploy-bot@example.com"]
    changed = tmp_path / "breakglass.yaml"
    changed.write_text(yaml.safe_dump(data))
    args[at + 1] = str(changed)
    fresh = yaml.safe_load(breakglass("manifests", *args))
    before, after = committed["webhooks"][0], fresh["webhooks"][0]
    assert before["matchConditions"] != after["matchConditions"]
    users = next(c for c in after["matchConditions"] if c["name"] == "exclude-ignored-users")
    assert "request.userInfo.username == 'deploy-bot@example.com'" in users["expression"]
    assert {k: v for k, v in before.items() if k != "matchConditions"} == {
        k: v for k, v in after.items() if k != "matchConditions"
    }


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_deploy_manifests_gives_the_committed_files(tmp_path):
    """`make deploy-manifests` itself, in a copy of the files it reads, with breakglass as
    `make install` puts it in .venv: what it writes is what is committed (comments aside)."""
    work = tmp_path / "checkout"
    for name in (
        "Makefile",
        "pyproject.toml",
        "deploy/base/breakglass.yaml",
        "deploy/base/crd-sessions.yaml",
    ):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, work / name)
    (work / "deploy" / "examples").mkdir()
    (work / "deploy" / "helm" / "breakglass" / "files").mkdir(parents=True)
    (work / "deploy" / "helm" / "breakglass" / "crds").mkdir()
    shutil.copytree(ROOT / "deploy" / "monitoring", work / "deploy" / "monitoring")
    installed = work / ".venv" / "bin" / "breakglass"
    installed.parent.mkdir(parents=True)
    installed.write_text(f'#!/bin/sh\nexec {sys.executable} -m breakglass "$@"\n')
    installed.chmod(0o755)
    os.utime(work / "pyproject.toml", (0, 0))  # `make install` has nothing to do

    def make_deploy_manifests() -> None:
        out = subprocess.run(
            ["make", "--no-print-directory", "deploy-manifests"],
            capture_output=True,
            text=True,
            check=False,
            cwd=work,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert out.returncode == 0, out.stdout + out.stderr

    make_deploy_manifests()
    for name in (
        "deploy/base/webhook.yaml",
        "deploy/helm/breakglass/files/webhook.yaml",
        "deploy/examples/audit-policy.yaml",
        "deploy/examples/audit-webhook.kubeconfig",
        "deploy/helm/breakglass/files/monitoring/prometheusrule.yaml",
        "deploy/helm/breakglass/crds/breakglasssessions.yaml",
    ):
        assert without_comments(work / name) == without_comments(ROOT / name), (
            f"{name}: run `make deploy-manifests`"
        )
    # ... and it is made from the settings: who they ignore, the webhook is not sent.
    settings_file = work / "deploy" / "base" / "breakglass.yaml"
    data = yaml.safe_load(settings_file.read_text())
    data["actors"]["ignore"]["groups"] = ["system:nodes", "platform:automation"]
    settings_file.write_text(yaml.safe_dump(data))
    make_deploy_manifests()
    hook = yaml.safe_load((work / "deploy" / "base" / "webhook.yaml").read_text())
    (groups,) = [c for c in hook["webhooks"][0]["matchConditions"] if "groups" in c["name"]]
    assert "'platform:automation'" in groups["expression"]


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
    posture = rules(DEPLOY / "components" / "posture" / "rbac.yaml")
    assert all(rule["verbs"] == ["list"] for rule in posture)
    read = {(g, r) for rule in posture for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("argoproj.io", "appprojects") in read and ("", "secrets") not in read
    scanner = rules(DEPLOY / "components" / "scan" / "rbac.yaml")
    assert all(rule["verbs"] == ["list"] for rule in scanner)
    listed = {(g, r) for rule in scanner for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("", "secrets") not in listed and ("apps", "deployments") in listed
    drill = rules(DEPLOY / "components" / "drill" / "rbac.yaml")
    granted = {
        (g, r, v)
        for rule in drill
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    assert ("apps", "deployments", "patch") in granted and ("", "configmaps", "watch") in granted
    assert not [x for x in granted if x[1] == "secrets" or x[2] in ("delete", "create", "update")]


def containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A pod spec's containers by name."""
    found = {c["name"]: c for c in pod["containers"]}
    assert len(found) == len(pod["containers"])
    return found


def mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in container["volumeMounts"]}


def assert_webhooks_and_worker(pod: dict[str, Any]) -> None:
    """The pod runs the webhooks without a worker child, and the worker as a container of its
    own on the same state volume (the journal and both audit chains), config and image."""
    by_name = containers(pod)
    assert list(by_name) == ["breakglass", "worker"]
    webhook, worker = by_name["breakglass"], by_name["worker"]
    assert webhook["args"][:3] == ["serve", "--worker", "none"]
    assert worker["args"][0] == "worker"
    for container in (webhook, worker):
        assert container["args"][-2:] == webhook["args"][-2:]
        assert container["args"][-2] == "--config"
    assert worker["image"] == webhook["image"]
    assert mounts(worker)["state"] == mounts(webhook)["state"]
    assert mounts(worker)["config"] == mounts(webhook)["config"]
    # Each its own scratch space: the worker's git worktrees never fill the webhooks' /tmp.
    assert mounts(worker)["tmp"] == mounts(webhook)["webhook-tmp"] == "/tmp"
    assert "tmp" not in mounts(webhook) and "webhook-tmp" not in mounts(worker)


def test_the_pod_is_locked_down():
    (deployment,) = docs(BASE / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert_webhooks_and_worker(pod)
    by_name = containers(pod)
    for container in by_name.values():
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
    webhook, worker = by_name["breakglass"], by_name["worker"]
    assert webhook["securityContext"] == worker["securityContext"]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert webhook[probe]["httpGet"]["path"] == path
        assert webhook[probe]["httpGet"]["scheme"] == "HTTPS"
    config = yaml.safe_load((BASE / "breakglass.yaml").read_text())
    webhook_mounts = mounts(webhook)
    assert config["state_dir"] == webhook_mounts["state"]
    assert Path(config["tls"]["cert_file"]).parent == Path(webhook_mounts["tls"])
    assert webhook["args"][-1].startswith(webhook_mounts["config"] + "/")
    # The worker: liveness on its own metrics listener, no readiness (it serves no traffic, and
    # an unready container would take the webhooks out of the Service), more memory.
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert ports["worker-metrics"] == config["metrics"]["worker_listen"]["port"]
    assert worker["livenessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": "worker-metrics",
        "scheme": "HTTP",
    }
    assert "readinessProbe" not in worker
    assert worker["resources"]["limits"]["memory"] == "1Gi"
    assert webhook["resources"]["limits"]["memory"] == "512Mi"
    # A pass gets time to finish on SIGTERM.
    assert pod["terminationGracePeriodSeconds"] >= 30
    # The forge token reaches the worker only: the webhooks take their three secrets by name.
    assert "envFrom" not in webhook
    assert {e["name"] for e in webhook["env"]} == {
        config["audit_webhook"]["token_env"],
        config["audit_log"]["key_env"],
        config["redaction"]["salt_env"],
    }
    for entry in webhook["env"]:
        assert entry["valueFrom"]["secretKeyRef"]["name"] == "breakglass-secrets"
    assert worker["envFrom"] == [{"secretRef": {"name": "breakglass-secrets"}}]
    assert {"name": "HOME", "value": "/tmp"} in worker["env"]


def test_metrics_ports_are_served_and_reachable():
    # Both listeners (the webhooks' and the worker's) are container ports of the pod, ports of
    # the Service, and open to the monitoring namespace.
    config = yaml.safe_load((BASE / "breakglass.yaml").read_text())
    (deployment,) = docs(BASE / "deployment.yaml")
    by_name = containers(deployment["spec"]["template"]["spec"])
    (service,) = docs(BASE / "service.yaml")
    (policy,) = docs(BASE / "networkpolicy.yaml")
    from_monitoring = {
        p["port"] for rule in policy["spec"]["ingress"] if rule.get("from") for p in rule["ports"]
    }
    headless = {p["name"]: p for p in docs(REPLICAS / "service-headless.yaml")[0]["spec"]["ports"]}
    for setting, container, name in (
        ("listen", "breakglass", "metrics"),
        ("worker_listen", "worker", "worker-metrics"),
    ):
        port = config["metrics"][setting]["port"]
        served = {"name": name, "containerPort": port, "protocol": "TCP"}
        assert served in by_name[container]["ports"]
        exposed = {"name": name, "port": port, "targetPort": name, "protocol": "TCP"}
        assert exposed in service["spec"]["ports"]
        assert headless[name] == exposed
        assert port in from_monitoring


def test_in_cluster_config_is_valid(tmp_path):
    data = yaml.safe_load((BASE / "breakglass.yaml").read_text())
    # The TLS files exist only in the pod; stand them in so every other key is validated.
    for key in ("cert_file", "key_file"):
        (tmp_path / key).write_text("x")
        data["tls"][key] = str(tmp_path / key)
    loaded = settings.from_mapping(data, source="deploy/base/breakglass.yaml", base=tmp_path)
    assert loaded.listen.port == 8443
    assert loaded.metrics.listen is not None and loaded.metrics.listen.port == 9090
    assert loaded.metrics.worker_listen is not None and loaded.metrics.worker_listen.port == 9091
    assert str(loaded.audit_log.dir).startswith(str(loaded.state_dir))
    assert loaded.journal_url == f"sqlite:///{loaded.state_dir / 'journal.db'}"
    assert loaded.kube.mode == "in-cluster"


REPLICAS = DEPLOY / "overlays" / "replicas"


def kustomization(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def resources(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization lists as files of its own (not its bases)."""
    return [
        d
        for entry in kustomization(directory)["resources"]
        if (directory / entry).is_file()
        for d in docs(directory / entry)
    ]


def key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def merged(into: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A strategic-merge patch made of maps only (``null`` removes a key)."""
    out = dict(into)
    for k, v in patch.items():
        assert not isinstance(v, list), "lists merge by kind-specific keys: not modelled here"
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merged(out[k], v)
        else:
            out[k] = v
    return out


def render_replicas() -> dict[tuple[str, str], dict[str, Any]]:
    """The replicas overlay's objects by (kind, name), as kustomize builds them, for the features
    the overlay uses; anything else fails here rather than being misread. Names are the
    unhashed ones. tests/e2e/test_deploy.py renders it with kubectl's kustomize."""
    kust = kustomization(REPLICAS)
    # The rest (namespace, labels, images) changes nothing these tests look at.
    modelled = {"resources", "configMapGenerator", "patches", "namespace", "labels", "images"}
    assert set(kust) - {"apiVersion", "kind"} <= modelled
    assert kust["resources"][0] == "../../base"
    objects = {key(d): d for d in resources(BASE)}
    for generator in kustomization(BASE)["configMapGenerator"]:
        objects["ConfigMap", generator["name"]] = {
            "kind": "ConfigMap",
            "metadata": {"name": generator["name"]},
            "data": {f: (BASE / f).read_text() for f in generator["files"]},
        }
    for doc in resources(REPLICAS):
        assert key(doc) not in objects, key(doc)
        objects[key(doc)] = doc
    for generator in kust["configMapGenerator"]:
        assert generator["behavior"] == "replace" and ("ConfigMap", generator["name"]) in objects
        objects["ConfigMap", generator["name"]]["data"] = {
            f: (REPLICAS / f).read_text() for f in generator["files"]
        }
    for entry in kust["patches"]:
        patch = yaml.safe_load(entry["patch"])
        if isinstance(patch, list):  # JSON 6902: appending to a list is all the overlay does
            target = objects[entry["target"]["kind"], entry["target"]["name"]]
            for op in patch:
                assert op["op"] == "add" and op["path"].endswith("/-"), op
                *parents, leaf = op["path"].strip("/").split("/")[:-1]
                node = target
                for part in parents:
                    node = node[part]
                node[leaf] = [*node[leaf], op["value"]]
        elif patch.pop("$patch", None) == "delete":
            del objects[key(patch)]
        else:
            objects[key(patch)] = merged(objects[key(patch)], patch)
    return objects


def test_replicas_overlay_runs_a_statefulset_with_a_volume_per_replica():
    objects = render_replicas()
    kinds = {kind for kind, _ in objects}
    assert "Deployment" not in kinds and "PersistentVolumeClaim" not in kinds
    statefulset = objects["StatefulSet", "breakglass"]
    spec = statefulset["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    # Each replica's own claim for state_dir: its audit log chain survives a reschedule, and a
    # scale-down keeps it.
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "state"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    pod = spec["template"]["spec"]
    assert "state" not in {v["name"] for v in pod["volumes"]}
    # Both containers on the replica's own claim: the worker runs in every replica (one leads).
    assert_webhooks_and_worker(pod)
    config = yaml.safe_load(objects["ConfigMap", "breakglass-config"]["data"]["breakglass.yaml"])
    for container in pod["containers"]:
        assert mounts(container)["state"] == config["state_dir"]
    assert config["audit_log"]["dir"].startswith(config["state_dir"] + "/")
    # Spread over nodes where possible, never refused for want of one.
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    labels = spec["template"]["metadata"]["labels"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()
    assert spec["selector"]["matchLabels"].items() <= labels.items()


def test_replicas_pod_is_the_base_pod():
    (deployment,) = docs(BASE / "deployment.yaml")
    statefulset = render_replicas()["StatefulSet", "breakglass"]
    base, pod = deployment["spec"]["template"], statefulset["spec"]["template"]
    assert pod["metadata"] == base["metadata"]
    assert pod["spec"]["securityContext"] == base["spec"]["securityContext"]
    assert {
        k: v for k, v in pod["spec"].items() if k not in ("affinity", "volumes", "containers")
    } == {k: v for k, v in base["spec"].items() if k not in ("volumes", "containers")}
    assert pod["spec"]["volumes"] == [v for v in base["spec"]["volumes"] if v["name"] != "state"]
    assert_webhooks_and_worker(base["spec"])
    assert_webhooks_and_worker(pod["spec"])
    overlay, base_containers = containers(pod["spec"]), containers(base["spec"])
    assert list(overlay) == list(base_containers)
    for name, container in overlay.items():
        base_container = base_containers[name]
        assert {k: v for k, v in container.items() if k != "env"} == {
            k: v for k, v in base_container.items() if k != "env"
        }, name
        # Every variable of the base's, the same but that the overlay may make a secret
        # required; the overlay adds the ones the replicas need.
        env = {e["name"]: e for e in container["env"]}
        for entry in base_container["env"]:
            found = env[entry["name"]]
            if "valueFrom" in entry:
                ref = found["valueFrom"]["secretKeyRef"]
                assert {**ref, "optional": True} == entry["valueFrom"]["secretKeyRef"], ref
            else:
                assert found == entry
    # The same image: the base's images entry does not reach the overlay's own objects.
    assert kustomization(REPLICAS)["images"] == kustomization(BASE)["images"]


def test_replicas_take_the_journal_password_salt_and_key_from_the_secret():
    objects = render_replicas()
    by_name = containers(objects["StatefulSet", "breakglass"]["spec"]["template"]["spec"])
    # The worker gets the forge token with the rest of the Secret; the webhooks do not.
    assert by_name["worker"]["envFrom"] == [{"secretRef": {"name": "breakglass-secrets"}}]
    assert "envFrom" not in by_name["breakglass"]
    # Both processes open the journal, redact and write an audit chain.
    for container in by_name.values():
        env = {e["name"]: e for e in container["env"]}
        assert env["BREAKGLASS_JOURNAL_PASSWORD"]["valueFrom"] == {
            "secretKeyRef": {
                "name": "breakglass-secrets",
                "key": "journal-password",
                "optional": False,
            }
        }
        # Shared by every replica, and required: a replica without them would make up its own.
        for name in ("BREAKGLASS_REDACTION_SALT", "BREAKGLASS_AUDIT_LOG_KEY"):
            assert env[name]["valueFrom"] == {
                "secretKeyRef": {"name": "breakglass-secrets", "key": name, "optional": False}
            }
    # The names are the ones the settings read.
    data = yaml.safe_load(objects["ConfigMap", "breakglass-config"]["data"]["breakglass.yaml"])
    assert data["redaction"]["salt_env"] == "BREAKGLASS_REDACTION_SALT"
    assert data["audit_log"]["key_env"] == "BREAKGLASS_AUDIT_LOG_KEY"


def test_replicas_config_is_the_base_config_with_a_postgresql_journal(tmp_path):
    base = yaml.safe_load((BASE / "breakglass.yaml").read_text())
    data = yaml.safe_load((REPLICAS / "breakglass.yaml").read_text())
    assert {k: v for k, v in data.items() if k != "journal"} == {
        k: v for k, v in base.items() if k != "journal"
    }, "deploy/overlays/replicas/breakglass.yaml is a copy of the base's but for `journal`"
    for name in ("cert_file", "key_file"):
        (tmp_path / name).write_text("x")
        data["tls"][name] = str(tmp_path / name)
    loaded = settings.from_mapping(
        data, source="deploy/overlays/replicas/breakglass.yaml", base=tmp_path
    )
    assert loaded.journal_url == "postgresql://breakglass@postgresql.breakglass.svc:5432/breakglass"
    assert loaded.journal_password_env == "BREAKGLASS_JOURNAL_PASSWORD"
    # The NetworkPolicy lets the replicas reach the server's port.
    policy = render_replicas()["NetworkPolicy", "breakglass"]
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}
    assert 5432 in ports


def test_replicas_keep_one_up_behind_the_webhook_service():
    objects = render_replicas()
    labels = objects["StatefulSet", "breakglass"]["spec"]["template"]["metadata"]["labels"]
    pdb = objects["PodDisruptionBudget", "breakglass"]["spec"]
    assert pdb["minAvailable"] == 1 and "maxUnavailable" not in pdb
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    hook = yaml.safe_load((BASE / "webhook.yaml").read_text())
    name = hook["webhooks"][0]["clientConfig"]["service"]["name"]
    assert objects["Service", name]["spec"]["selector"].items() <= labels.items()
    governing = objects["Service", objects["StatefulSet", "breakglass"]["spec"]["serviceName"]]
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["selector"].items() <= labels.items()


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

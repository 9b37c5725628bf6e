"""Realistic request bodies for the benchmarks, derived from recorded API-server payloads.

``tests/fixtures/recorded/*.json`` hold what a real kube-apiserver sent during the end-to-end
tests.  Their Deployment UPDATE (``kubectl set image``) is about 4.5 KiB: real Deployments are
larger, mostly because of three things, which ``admission_review`` grows in this order:

1. more containers (sidecars: each with image, ports, resources, probes, volume mounts) and,
   for each, the ``managedFields`` entry the field manager that applied it owns;
2. more environment variables per container (plain values and ``secretKeyRef``s), again with
   their ``managedFields`` entries;
3. for the largest size, ``kubectl.kubernetes.io/last-applied-configuration``: client-side
   apply stores the whole applied manifest as a JSON string in this annotation.

``object`` and ``oldObject`` grow identically, so the human's edit stays the recorded one (an
image change of container ``app``).  Environment variables are added one at a time until the
compact JSON reaches the requested size.  Every ``request.uid`` is ``@@ID@@``, which the load
generator makes unique per request.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson

RECORDED = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "recorded"
#: Sizes the admission benchmark uses, in KiB: a typical, a large, and a very large Deployment.
SIZES_KIB = (14, 27, 170)
CONTROLLER = {
    "username": "system:serviceaccount:argocd:argocd-application-controller",
    "uid": "5c3e9a1e-argocd",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"],
}


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / f"{name}.json").read_text())
    return data


def _container(n: int) -> dict[str, Any]:
    return {
        "name": f"sidecar-{n}",
        "image": f"registry.example/platform/sidecar-{n}:3.{n}.1",
        "imagePullPolicy": "IfNotPresent",
        "args": [f"--listen=:{9000 + n}", "--upstream=127.0.0.1:8080", "--log-format=json"],
        "ports": [{"containerPort": 9000 + n, "name": f"http-{n}", "protocol": "TCP"}],
        "env": [],
        "resources": {
            "limits": {"cpu": "500m", "memory": "256Mi"},
            "requests": {"cpu": "50m", "memory": "64Mi"},
        },
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": 9000 + n, "scheme": "HTTP"},
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": 9000 + n, "scheme": "HTTP"},
            "initialDelaySeconds": 15,
            "periodSeconds": 20,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "volumeMounts": [
            {"mountPath": "/etc/sidecar", "name": f"sidecar-{n}-config", "readOnly": True}
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def _container_fields(container: dict[str, Any]) -> dict[str, Any]:
    """The ``fieldsV1`` subtree a field manager owns for one container it applied."""
    return {
        ".": {},
        "f:args": {},
        "f:image": {},
        "f:imagePullPolicy": {},
        "f:name": {},
        "f:ports": {
            f'k:{{"containerPort":{p["containerPort"]},"protocol":"TCP"}}': {
                ".": {},
                "f:containerPort": {},
                "f:name": {},
                "f:protocol": {},
            }
            for p in container.get("ports", [])
        },
        "f:env": {},
        "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}, "f:requests": {}},
        "f:readinessProbe": {"f:httpGet": {"f:path": {}, "f:port": {}}, "f:periodSeconds": {}},
        "f:livenessProbe": {"f:httpGet": {"f:path": {}, "f:port": {}}},
        "f:volumeMounts": {},
    }


def _env(container: str, n: int) -> dict[str, Any]:
    name = f"{container.upper().replace('-', '_')}_SETTING_{n:03d}"
    if n % 5 == 4:
        return {
            "name": name,
            "valueFrom": {"secretKeyRef": {"key": f"key-{n}", "name": f"{container}-secrets"}},
        }
    return {"name": name, "value": f"value-{n}-for-{container}"}


def _env_fields(env: dict[str, Any]) -> dict[str, Any]:
    if "valueFrom" in env:
        return {".": {}, "f:name": {}, "f:valueFrom": {"f:secretKeyRef": {}}}
    return {".": {}, "f:name": {}, "f:value": {}}


def _grow_object(obj: dict[str, Any], sidecars: int) -> None:
    spec = obj["spec"]["template"]["spec"]
    fields = obj["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
    volumes = spec.setdefault("volumes", [])
    for n in range(sidecars):
        c = _container(n)
        spec["containers"].append(c)
        fields["f:containers"][f'k:{{"name":"{c["name"]}"}}'] = _container_fields(c)
        volumes.append(
            {
                "configMap": {"defaultMode": 420, "name": f"sidecar-{n}-config"},
                "name": f"sidecar-{n}-config",
            }
        )


def _add_env(obj: dict[str, Any], step: int) -> None:
    containers = obj["spec"]["template"]["spec"]["containers"]
    fields = obj["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
    c = containers[step % len(containers)]
    env = _env(c["name"], len(c.setdefault("env", [])))
    c["env"].append(env)
    owned = fields["f:containers"].setdefault(f'k:{{"name":"{c["name"]}"}}', {".": {}})
    owned.setdefault("f:env", {})[f'k:{{"name":"{env["name"]}"}}'] = _env_fields(env)


def _last_applied(obj: dict[str, Any]) -> str:
    applied = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {
            "labels": obj["metadata"].get("labels", {}),
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
        },
        "spec": obj["spec"],
    }
    return json.dumps(applied, separators=(",", ":"), sort_keys=True)


def _size(review: dict[str, Any]) -> int:
    return len(orjson.dumps(review))


def admission_review(kib: int, *, filtered: str | None = None) -> dict[str, Any]:
    """A Deployment UPDATE of about ``kib`` KiB (compact JSON), grown from the recorded one.

    ``filtered="controller"`` makes it come from Argo CD's service account, ``"dry-run"`` a
    server-side dry run: requests breakglass decides to skip.
    """
    review = copy.deepcopy(recorded("kubectl_set_image")["admission_reviews"][0])
    request = review["request"]
    request["uid"] = "@@ID@@"
    target = kib * 1024
    sidecars = 2 if kib < 20 else 3 if kib < 100 else 6
    last_applied = kib >= 100
    for key in ("object", "oldObject"):
        _grow_object(request[key], sidecars)
    step = 0
    while True:
        if last_applied:
            for key in ("object", "oldObject"):
                obj = request[key]
                obj["metadata"].setdefault("annotations", {})[
                    "kubectl.kubernetes.io/last-applied-configuration"
                ] = _last_applied(obj)
        if _size(review) >= target:
            break
        for _ in range(1 if _size(review) > target - 4096 else 8):
            for key in ("object", "oldObject"):
                _add_env(request[key], step)
            step += 1
    if filtered == "controller":
        request["userInfo"] = dict(CONTROLLER)
        request["options"]["fieldManager"] = "argocd-controller"
    elif filtered == "dry-run":
        request["dryRun"] = True
    elif filtered is not None:
        raise ValueError(filtered)
    return review


def admission_body(kib: int, *, filtered: str | None = None) -> bytes:
    return orjson.dumps(admission_review(kib, filtered=filtered))


def audit_events() -> list[dict[str, Any]]:
    """Every audit event of the recorded fixtures, in recording order."""
    out: list[dict[str, Any]] = []
    for path in sorted(RECORDED.glob("*.json")):
        out.extend(json.loads(path.read_text())["audit_events"]["items"])
    return out


def event_list(size: int = 400) -> tuple[bytes, dict[str, int]]:
    """An ``audit.k8s.io/v1`` EventList of ``size`` events cycled from the recorded ones.

    Each event gets the audit ID ``@@ID@@-<n>`` (unique per batch once the load generator
    fills in ``@@ID@@``) and loses its capture-id annotation, so a human's event is an
    audit-only capture (an insert) rather than a confirmation of a capture this benchmark never
    made.  Returns the body and how many events are from humans vs. automation.
    """
    pool = audit_events()
    items = []
    humans = 0
    for n in range(size):
        event = copy.deepcopy(pool[n % len(pool)])
        event["auditID"] = f"@@ID@@-{n}"
        annotations = event.get("annotations") or {}
        event["annotations"] = {
            k: v for k, v in annotations.items() if not k.endswith("/capture-id")
        }
        if not event["user"]["username"].startswith("system:"):
            humans += 1
        items.append(event)
    body = orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
    return body, {"events": size, "human": humans, "automation": size - humans}

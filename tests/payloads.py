"""Realistic AdmissionReviews and audit events, shaped like what a v1.3x API server sends.

Objects carry what the server adds (managedFields, status, resourceVersion, defaults, the
revision annotation) so tests prove that breakglass ignores it.  Each ``review_*`` builder
mirrors one kubectl verb: the operation, subresource, options and field manager kubectl uses.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from typing import Any

ALICE = {
    "username": "alice",
    "uid": "a1b2c3",
    "groups": ["oncall", "system:authenticated"],
}
BOB = {"username": "bob", "uid": "b0b", "groups": ["oncall", "system:authenticated"]}
ARGOCD = {
    "username": "system:serviceaccount:argocd:argocd-application-controller",
    "uid": "argo-1",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"],
}
CANARY = "canary-Zq8v3kTq-value-never-stored"


def deployment(
    *,
    name: str = "checkout",
    namespace: str = "payments",
    replicas: int = 2,
    image: str = "registry.example/checkout:1.4.2",
    labels: dict[str, str] | None = None,
    resource_version: str = "48213",
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "5f0c1a9e-8a55-4a4e-9d6c-0d3d1f7e2b11",
            "resourceVersion": resource_version,
            "generation": 7,
            "creationTimestamp": "2026-10-01T08:00:00Z",
            "labels": {"app": name, **(labels or {})},
            "annotations": {
                "deployment.kubernetes.io/revision": "7",
                "argocd.argoproj.io/tracking-id": f"payments:apps/Deployment:{namespace}/{name}",
            },
            "managedFields": [
                {
                    "manager": "argocd-controller",
                    "operation": "Apply",
                    "apiVersion": "apps/v1",
                    "time": "2026-10-01T08:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": "2026-10-02T08:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:replicas": {}}},
                    "subresource": "status",
                },
            ],
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "LOG_LEVEL", "value": "info"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        },
                        {
                            "name": "sidecar",
                            "image": "registry.example/proxy:2.0",
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        },
                    ],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                },
            },
        },
        "status": {
            "observedGeneration": 7,
            "replicas": replicas,
            "readyReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }


def secret(*, value: str = CANARY, name: str = "db-creds", namespace: str = "payments") -> dict:
    encoded = base64.b64encode(value.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "9a9a",
            "resourceVersion": "100",
            "creationTimestamp": "2026-10-01T08:00:00Z",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": (
                    '{"apiVersion":"v1","data":{"password":"' + encoded + '"},"kind":"Secret"}'
                )
            },
        },
        "data": {"password": encoded, "username": "YXBw"},
    }


def configmap(*, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "checkout-config",
            "namespace": "payments",
            "uid": "cm-1",
            "resourceVersion": "200",
            "creationTimestamp": "2026-10-01T08:00:00Z",
        },
        "data": data if data is not None else {"FEATURE_X": "off", "TIMEOUT": "30"},
    }


_RESOURCES = {
    "Deployment": ("apps", "v1", "deployments"),
    "Secret": ("", "v1", "secrets"),
    "ConfigMap": ("", "v1", "configmaps"),
    "Service": ("", "v1", "services"),
    "BreakglassSession": ("breakglass.dev", "v1alpha1", "breakglasssessions"),
}


def review(
    *,
    operation: str,
    obj: dict[str, Any] | None,
    old: dict[str, Any] | None,
    user: dict[str, Any] | None = None,
    field_manager: str | None = "kubectl-edit",
    subresource: str = "",
    dry_run: bool = False,
    uid: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """An ``admission.k8s.io/v1`` AdmissionReview for ``operation`` on ``obj``/``old``."""
    base = obj if obj is not None else old
    assert base is not None
    kind = kind or base["kind"]
    group, version, resource = _RESOURCES[kind]
    options_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}
    options: dict[str, Any] = {"kind": options_kind[operation], "apiVersion": "meta.k8s.io/v1"}
    if field_manager and operation != "DELETE":
        options["fieldManager"] = field_manager
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": base["metadata"]["name"],
        "namespace": base["metadata"].get("namespace", ""),
        "operation": operation,
        "userInfo": copy.deepcopy(user or ALICE),
        "object": copy.deepcopy(obj),
        "oldObject": copy.deepcopy(old),
        "dryRun": dry_run,
        "options": options,
    }
    if subresource:
        request["subResource"] = subresource
        request["requestSubResource"] = subresource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def scale_review(*, old_replicas: int, new_replicas: int, **kw: Any) -> dict[str, Any]:
    """``kubectl scale deployment/checkout --replicas=N``: the ``scale`` subresource."""

    def scale(n: int, rv: str) -> dict[str, Any]:
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                "name": "checkout",
                "namespace": "payments",
                "uid": "5f0c1a9e-8a55-4a4e-9d6c-0d3d1f7e2b11",
                "resourceVersion": rv,
                "creationTimestamp": "2026-10-01T08:00:00Z",
            },
            "spec": {"replicas": n},
            "status": {"replicas": old_replicas, "selector": "app=checkout"},
        }

    r = review(
        operation="UPDATE",
        obj=scale(new_replicas, "48213"),
        old=scale(old_replicas, "48213"),
        subresource="scale",
        field_manager="kubectl",
        kind="Deployment",
        **kw,
    )
    r["request"]["kind"] = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    r["request"]["requestKind"] = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    return r


def edited(obj: dict[str, Any], mutate: Any) -> dict[str, Any]:
    """A copy of ``obj`` changed by ``mutate`` and given a new resourceVersion, like the API
    server's view of the object after a write."""
    new = copy.deepcopy(obj)
    mutate(new)
    return new


def audit_event(
    *,
    verb: str,
    resource: str,
    name: str,
    namespace: str = "payments",
    group: str = "",
    version: str = "v1",
    user: dict[str, Any] | None = None,
    code: int = 200,
    request_object: Any = None,
    response_object: Any = None,
    capture_id: str | None = None,
    subresource: str = "",
    impersonated: dict[str, Any] | None = None,
    audit_id: str | None = None,
    stage: str = "ResponseComplete",
    query: str = "fieldManager=kubectl-edit",
) -> dict[str, Any]:
    """An ``audit.k8s.io/v1`` Event at level RequestResponse."""
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    uri = f"{prefix}/namespaces/{namespace}/{resource}/{name}"
    if subresource:
        uri += f"/{subresource}"
    if query:
        uri += f"?{query}"
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": audit_id or str(uuid.uuid4()),
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": copy.deepcopy(user or ALICE),
        "sourceIPs": ["10.0.3.7"],
        "userAgent": "kubectl/v1.36.3 (linux/amd64) kubernetes/abc1234",
        "objectRef": {
            "resource": resource,
            "namespace": namespace,
            "name": name,
            "apiGroup": group,
            "apiVersion": version,
        },
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": "2026-11-26T02:14:07.123456Z",
        "stageTimestamp": "2026-11-26T02:14:07.140000Z",
    }
    if subresource:
        event["objectRef"]["subresource"] = subresource
    if request_object is not None:
        event["requestObject"] = request_object
    if response_object is not None:
        event["responseObject"] = response_object
    if impersonated is not None:
        event["impersonatedUser"] = impersonated
    if capture_id is not None:
        event["annotations"] = {"capture.breakglass.dev/capture-id": capture_id}
    return event


def event_list(*events: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": list(events)}


def canary_audit_events(canary: str) -> list[dict[str, Any]]:
    """Audit events that carry ``canary`` as a Secret value every way the API server can send
    it (merge patch with data, stringData and last-applied; JSON patch; update; a secret-looking
    ConfigMap key).  Tests assert it reaches no byte breakglass writes."""
    encoded = base64.b64encode(canary.encode()).decode()
    return [
        audit_event(
            verb="patch",
            resource="secrets",
            name="db-creds",
            request_object={
                "data": {"password": encoded},
                "stringData": {"x": canary},
                "metadata": {
                    "annotations": {
                        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                            {"data": {"password": encoded}}
                        )
                    }
                },
            },
            response_object=secret(value=canary),
        ),
        audit_event(
            verb="patch",
            resource="secrets",
            name="db-creds",
            request_object=[{"op": "replace", "path": "/data/password", "value": encoded}],
        ),
        audit_event(
            verb="update",
            resource="secrets",
            name="db-creds",
            request_object=secret(value=canary),
            response_object=secret(value=canary),
        ),
        audit_event(
            verb="update",
            resource="configmaps",
            name="checkout-config",
            response_object=configmap(data={"DB_PASSWORD": canary}),
        ),
    ]

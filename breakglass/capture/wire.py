"""The API server's wire formats that breakglass reads, as ``TypedDict``s.

Only the fields breakglass uses are declared; everything is optional (``total=False``) because
payloads come from outside and are checked field by field where they are read.  References:
``admission.k8s.io/v1`` AdmissionReview and ``audit.k8s.io/v1`` Event/EventList.
"""

from __future__ import annotations

from typing import Any, TypedDict


class GroupVersionKind(TypedDict, total=False):
    group: str
    version: str
    kind: str


class GroupVersionResource(TypedDict, total=False):
    group: str
    version: str
    resource: str


class UserInfo(TypedDict, total=False):
    username: str
    uid: str
    groups: list[str]
    extra: dict[str, list[str]]


class AdmissionRequest(TypedDict, total=False):
    uid: str
    kind: GroupVersionKind
    resource: GroupVersionResource
    subResource: str
    requestKind: GroupVersionKind
    requestResource: GroupVersionResource
    requestSubResource: str
    name: str
    namespace: str
    operation: str
    userInfo: UserInfo
    object: dict[str, Any] | None
    oldObject: dict[str, Any] | None
    dryRun: bool
    options: dict[str, Any] | None


class AdmissionResponse(TypedDict, total=False):
    uid: str
    allowed: bool
    warnings: list[str]
    auditAnnotations: dict[str, str]
    status: dict[str, Any]


class AdmissionReview(TypedDict, total=False):
    apiVersion: str
    kind: str
    request: AdmissionRequest
    response: AdmissionResponse


class AuditObjectRef(TypedDict, total=False):
    resource: str
    namespace: str
    name: str
    uid: str
    apiGroup: str
    apiVersion: str
    resourceVersion: str
    subresource: str


class AuditResponseStatus(TypedDict, total=False):
    code: int
    status: str
    reason: str


class AuditEvent(TypedDict, total=False):
    level: str
    auditID: str
    stage: str
    requestURI: str
    verb: str
    user: UserInfo
    impersonatedUser: UserInfo
    sourceIPs: list[str]
    userAgent: str
    objectRef: AuditObjectRef
    responseStatus: AuditResponseStatus
    requestObject: Any
    responseObject: Any
    requestReceivedTimestamp: str
    stageTimestamp: str
    annotations: dict[str, str]


class EventList(TypedDict, total=False):
    apiVersion: str
    kind: str
    items: list[AuditEvent]


#: The ``auditAnnotations`` key breakglass sets; the API server prefixes it with the webhook's
#: name, so audit events carry ``<webhook-name>/capture-id``.
CAPTURE_ID_ANNOTATION = "capture-id"

#: Well-known kinds of resources, for turning a ``scale`` subresource request into its parent.
RESOURCE_KINDS: dict[tuple[str, str], str] = {
    ("apps", "deployments"): "Deployment",
    ("apps", "statefulsets"): "StatefulSet",
    ("apps", "replicasets"): "ReplicaSet",
    ("apps", "daemonsets"): "DaemonSet",
    ("", "replicationcontrollers"): "ReplicationController",
    ("", "configmaps"): "ConfigMap",
    ("", "secrets"): "Secret",
    ("", "services"): "Service",
    ("", "serviceaccounts"): "ServiceAccount",
    ("", "namespaces"): "Namespace",
    ("", "persistentvolumeclaims"): "PersistentVolumeClaim",
    ("", "pods"): "Pod",
    ("batch", "jobs"): "Job",
    ("batch", "cronjobs"): "CronJob",
    ("networking.k8s.io", "ingresses"): "Ingress",
    ("networking.k8s.io", "networkpolicies"): "NetworkPolicy",
    ("autoscaling", "horizontalpodautoscalers"): "HorizontalPodAutoscaler",
    ("policy", "poddisruptionbudgets"): "PodDisruptionBudget",
    ("rbac.authorization.k8s.io", "roles"): "Role",
    ("rbac.authorization.k8s.io", "rolebindings"): "RoleBinding",
    ("rbac.authorization.k8s.io", "clusterroles"): "ClusterRole",
    ("rbac.authorization.k8s.io", "clusterrolebindings"): "ClusterRoleBinding",
    ("", "persistentvolumes"): "PersistentVolume",
    ("", "limitranges"): "LimitRange",
    ("", "resourcequotas"): "ResourceQuota",
    ("storage.k8s.io", "storageclasses"): "StorageClass",
    ("scheduling.k8s.io", "priorityclasses"): "PriorityClass",
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): (
        "ValidatingWebhookConfiguration"
    ),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): (
        "MutatingWebhookConfiguration"
    ),
    ("apiextensions.k8s.io", "customresourcedefinitions"): "CustomResourceDefinition",
    ("autoscaling", "verticalpodautoscalers"): "VerticalPodAutoscaler",
    ("networking.k8s.io", "ingressclasses"): "IngressClass",
}

#: Resources that are never configuration a human would backfill into Git.
NOISE_RESOURCES: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "events"),
        ("events.k8s.io", "events"),
        ("coordination.k8s.io", "leases"),
        ("", "endpoints"),
        ("discovery.k8s.io", "endpointslices"),
        ("authentication.k8s.io", "tokenreviews"),
        ("authentication.k8s.io", "selfsubjectreviews"),
        ("authorization.k8s.io", "subjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectrulesreviews"),
        ("authorization.k8s.io", "localsubjectaccessreviews"),
        ("", "bindings"),
        ("", "serviceaccounts/token"),
    }
)

"""Generators of the Kubernetes objects and API-server files that put breakglass in the path.

One generator serves the end-to-end tests, ``deploy/`` and operators alike, so what is tested is
what is installed.  Everything here is a pure function from settings-like arguments to plain
data (dicts) — ``breakglass manifests`` renders them as YAML.

Facts that shape the webhook configuration (all observed against a real API server):

- a ``"*"`` resource rule does not match subresources, so ``*/scale`` is listed explicitly
  (``kubectl scale`` writes ``deployments/scale``), while ``*/status`` is left out on purpose;
- ``sideEffects: NoneOnDryRun`` is required for the API server to call a webhook on dry-run
  requests at all (breakglass then skips them itself);
- ``matchConditions`` (CEL) drop controller traffic before it reaches us, which matters because
  one human image change fans out into a dozen controller writes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

WEBHOOK_NAME = "capture.breakglass.dev"
CONFIG_NAME = "breakglass"
DEFAULT_NAMESPACE = "breakglass"
CERT_MANAGER_INJECT_ANNOTATION = "cert-manager.io/inject-ca-from"


def _cel_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def glob_to_cel(glob: str, subject: str) -> str:
    """A CEL expression that is true when ``subject`` matches the ``*`` glob."""
    if "*" not in glob:
        return f"{subject} == {_cel_string(glob)}"
    if glob.endswith("*") and glob.count("*") == 1:
        return f"{subject}.startsWith({_cel_string(glob[:-1])})"
    if glob.startswith("*") and glob.count("*") == 1:
        return f"{subject}.endsWith({_cel_string(glob[1:])})"
    pattern = "^" + ".*".join(re.escape(part) for part in glob.split("*")) + "$"
    return f"{subject}.matches({_cel_string(pattern)})"


def match_conditions(
    ignore_users: Sequence[str], ignore_groups: Sequence[str]
) -> list[dict[str, str]]:
    """CEL conditions that exclude ignored identities (the webhook is called only if all hold).

    At most 64 conditions are allowed per webhook; users and groups are folded into two.
    """
    conditions = []
    if ignore_users:
        users = " || ".join(glob_to_cel(g, "request.userInfo.username") for g in ignore_users)
        conditions.append({"name": "exclude-ignored-users", "expression": f"!({users})"})
    if ignore_groups:
        groups = " || ".join(glob_to_cel(g, "g") for g in ignore_groups)
        conditions.append(
            {
                "name": "exclude-ignored-groups",
                "expression": f"!request.userInfo.groups.exists(g, {groups})",
            }
        )
    return conditions


def validating_webhook(
    *,
    ca_bundle: bytes | None,
    url: str | None = None,
    service_name: str = "breakglass",
    service_namespace: str = DEFAULT_NAMESPACE,
    service_port: int = 443,
    ignore_users: Sequence[str] = ("system:*",),
    ignore_groups: Sequence[str] = (),
    skip_namespaces: Sequence[str] = ("kube-system", DEFAULT_NAMESPACE),
    timeout_seconds: int = 2,
    name: str = CONFIG_NAME,
    inject_ca_from: str | None = None,
) -> dict[str, Any]:
    """The ``ValidatingWebhookConfiguration`` that sends manual writes to ``/validate``.

    ``url`` is for an API server that reaches breakglass outside the cluster (tests, a
    self-managed control plane); otherwise the in-cluster Service is used.  With
    ``inject_ca_from`` (``NAMESPACE/CERTIFICATE``) and no ``ca_bundle``, the configuration
    carries cert-manager's ``inject-ca-from`` annotation and cert-manager fills ``caBundle``.
    """
    if not 1 <= timeout_seconds <= 30:
        raise ValueError("timeout_seconds must be between 1 and 30 (the API server's limits)")
    if ca_bundle is None and inject_ca_from is None:
        raise ValueError("give a CA bundle, or a cert-manager Certificate to inject it from")
    if inject_ca_from is not None and not re.fullmatch(r"[a-z0-9.-]+/[a-z0-9.-]+", inject_ca_from):
        raise ValueError(f"inject_ca_from must be NAMESPACE/CERTIFICATE, not {inject_ca_from!r}")
    client: dict[str, Any] = {}
    if ca_bundle is not None:
        client["caBundle"] = base64.b64encode(ca_bundle).decode()
    if url is not None:
        client["url"] = url.rstrip("/") + "/validate"
    else:
        client["service"] = {
            "name": service_name,
            "namespace": service_namespace,
            "path": "/validate",
            "port": service_port,
        }
    webhook: dict[str, Any] = {
        "name": WEBHOOK_NAME,
        "admissionReviewVersions": ["v1"],
        "clientConfig": client,
        "failurePolicy": "Ignore",
        "sideEffects": "NoneOnDryRun",
        "timeoutSeconds": timeout_seconds,
        "matchPolicy": "Equivalent",
        "rules": [
            {
                "apiGroups": ["*"],
                "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE", "DELETE"],
                "resources": ["*", "*/scale"],
                "scope": "*",
            }
        ],
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": list(skip_namespaces),
                }
            ]
        },
    }
    conditions = match_conditions(ignore_users, ignore_groups)
    if conditions:
        webhook["matchConditions"] = conditions
    metadata: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/name": "breakglass"}}
    if inject_ca_from is not None:
        metadata["annotations"] = {CERT_MANAGER_INJECT_ANNOTATION: inject_ca_from}
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": [webhook],
    }


def audit_policy(*, extra_workload_groups: Sequence[str] = ()) -> dict[str, Any]:
    """An audit policy that gives breakglass what it needs and no Secret bodies.

    RequestResponse for writes to workloads and ConfigMaps (the patch bodies are the record of
    intent), Metadata only for Secrets, nothing for reads and for high-volume noise.
    """
    write_verbs = ["create", "update", "patch", "delete"]
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "verbs": ["get", "list", "watch"]},
            {
                "level": "None",
                "resources": [
                    {"group": "", "resources": ["events", "endpoints"]},
                    {"group": "coordination.k8s.io", "resources": ["leases"]},
                    {"group": "events.k8s.io", "resources": ["events"]},
                    {"group": "discovery.k8s.io", "resources": ["endpointslices"]},
                ],
            },
            {"level": "None", "userGroups": ["system:nodes"]},
            {
                "level": "Metadata",
                "resources": [{"group": "", "resources": ["secrets"]}],
            },
            {
                "level": "RequestResponse",
                "verbs": write_verbs,
                "resources": [
                    {"group": "", "resources": ["configmaps", "services", "serviceaccounts"]},
                    {
                        "group": "apps",
                        "resources": [
                            "deployments",
                            "deployments/scale",
                            "statefulsets",
                            "statefulsets/scale",
                            "daemonsets",
                            "replicasets",
                            "replicasets/scale",
                        ],
                    },
                    {"group": "batch", "resources": ["jobs", "cronjobs"]},
                    {"group": "networking.k8s.io", "resources": ["ingresses", "networkpolicies"]},
                    {"group": "autoscaling", "resources": ["horizontalpodautoscalers"]},
                    {"group": "policy", "resources": ["poddisruptionbudgets"]},
                    *({"group": g} for g in extra_workload_groups),
                ],
            },
            {"level": "Metadata", "verbs": write_verbs},
            {"level": "None"},
        ],
    }


def audit_webhook_kubeconfig(
    *,
    url: str,
    ca_bundle: bytes | None = None,
    ca_path: str | None = None,
    token: str | None = None,
    token_file: str | None = None,
) -> dict[str, Any]:
    """The kubeconfig passed to ``--audit-webhook-config-file``.

    The CA is embedded (``ca_bundle``) or read by the API server from ``ca_path``; the bearer
    token likewise (``token``: keep the file 0600) or from ``token_file``, which keeps the
    kubeconfig itself free of secrets.
    """
    if (ca_bundle is None) == (ca_path is None):
        raise ValueError("give exactly one of ca_bundle and ca_path")
    if (token is None) == (token_file is None):
        raise ValueError("give exactly one of token and token_file")
    cluster: dict[str, Any] = {"server": url.rstrip("/") + "/audit"}
    if ca_bundle is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_bundle).decode()
    else:
        cluster["certificate-authority"] = ca_path
    user: dict[str, Any] = {"token": token} if token is not None else {"tokenFile": token_file}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "breakglass", "cluster": cluster}],
        "users": [{"name": "kube-apiserver", "user": user}],
        "contexts": [
            {"name": "breakglass", "context": {"cluster": "breakglass", "user": "kube-apiserver"}}
        ],
        "current-context": "breakglass",
    }


def service_hosts(service: str, namespace: str) -> list[str]:
    """The DNS names the API server may use for an in-cluster Service (serving cert SANs)."""
    return [
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
        f"{service}.{namespace}",
        service,
    ]


def tls_secret(*, name: str, namespace: str, cert: bytes, key: bytes, ca: bytes) -> dict[str, Any]:
    """A ``kubernetes.io/tls`` Secret holding the serving pair and the CA that signed it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "breakglass"},
        },
        "data": {
            "tls.crt": base64.b64encode(cert).decode(),
            "tls.key": base64.b64encode(key).decode(),
            "ca.crt": base64.b64encode(ca).decode(),
        },
    }

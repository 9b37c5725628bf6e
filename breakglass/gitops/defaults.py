"""Values the API server fills in by itself, to keep them out of new manifests.

An update's delta never contains defaults (they are the same before and after), but a
created object, or a container the human added, arrives with every defaulted field set:
``terminationMessagePath: /dev/termination-log``, ``imagePullPolicy``, ``protocol: TCP`` and so
on.  A reviewer must never see those, so they are removed here when — and only when — they
hold exactly the value the server would have chosen.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Final

from breakglass.gitops import edit
from breakglass.gitops.edit import AddItemOp, Op, SetOp

JSON = Any

_CONTAINER: Final[dict[str, JSON]] = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}
_POD: Final[dict[str, JSON]] = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "securityContext": {},
    "schedulerName": "default-scheduler",
    "enableServiceLinks": True,
    "priority": 0,
    "preemptionPolicy": "PreemptLowerPriority",
}
_WORKLOAD: Final[dict[str, dict[str, JSON]]] = {
    "Deployment": {
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        },
    },
    "StatefulSet": {
        "revisionHistoryLimit": 10,
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
    },
    "DaemonSet": {
        "revisionHistoryLimit": 10,
        "updateStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
        },
    },
    "Job": {
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "completions": 1,
        "parallelism": 1,
        "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed",
    },
    "CronJob": {
        "concurrencyPolicy": "Allow",
        "failedJobsHistoryLimit": 1,
        "successfulJobsHistoryLimit": 3,
        "suspend": False,
    },
}
_SERVICE: Final[dict[str, JSON]] = {
    "sessionAffinity": "None",
    "internalTrafficPolicy": "Cluster",
    "ipFamilyPolicy": "SingleStack",
    "type": "ClusterIP",
}
_SERVICE_ALLOCATED: Final = ("clusterIP", "clusterIPs", "ipFamilies")
_JOB_LABELS: Final = (
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
)


def _drop(mapping: dict[str, JSON], defaults: dict[str, JSON]) -> None:
    for key, value in defaults.items():
        if key in mapping and mapping[key] == value:
            del mapping[key]


def clean_container(container: JSON) -> JSON:
    """A container without the fields the server defaulted."""
    if not isinstance(container, dict):
        return container
    out = copy.deepcopy(container)
    _drop(out, _CONTAINER)
    image = str(out.get("image", ""))
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    default_policy = "Always" if tag in ("", "latest") and "@" not in image else "IfNotPresent"
    if out.get("imagePullPolicy") == default_policy:
        del out["imagePullPolicy"]
    for port in out.get("ports") or []:
        if isinstance(port, dict) and port.get("protocol") == "TCP":
            del port["protocol"]
    return out


def clean_pod_spec(spec: JSON) -> JSON:
    if not isinstance(spec, dict):
        return spec
    out = copy.deepcopy(spec)
    _drop(out, _POD)
    if out.get("serviceAccount") is not None and out.get("serviceAccount") == out.get(
        "serviceAccountName"
    ):
        del out["serviceAccount"]
    for field in ("containers", "initContainers"):
        if isinstance(out.get(field), list):
            out[field] = [clean_container(c) for c in out[field]]
    return out


def _clean_template(template: JSON, kind: str) -> JSON:
    if not isinstance(template, dict):
        return template
    out = copy.deepcopy(template)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        if "creationTimestamp" in meta and meta["creationTimestamp"] is None:
            del meta["creationTimestamp"]
        labels = meta.get("labels")
        if kind == "Job" and isinstance(labels, dict):
            for label in _JOB_LABELS:
                labels.pop(label, None)
        if not meta:
            del out["metadata"]
    if "spec" in out:
        out["spec"] = clean_pod_spec(out["spec"])
    return out


def clean_object(obj: JSON) -> JSON:
    """A whole object (already stripped of server metadata) without server defaults."""
    if not isinstance(obj, dict):
        return obj
    out = copy.deepcopy(obj)
    kind = str(out.get("kind", ""))
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    if kind in _WORKLOAD:
        _drop(spec, _WORKLOAD[kind])
    if kind == "Job" and isinstance(spec.get("selector"), dict):
        del spec["selector"]
    if isinstance(spec.get("template"), dict):
        spec["template"] = _clean_template(spec["template"], kind)
    if kind == "CronJob":
        job = spec.get("jobTemplate")
        if isinstance(job, dict) and isinstance(job.get("spec"), dict):
            _drop(job["spec"], _WORKLOAD["Job"])
            meta = job.get("metadata")
            if isinstance(meta, dict) and meta.get("creationTimestamp", 0) is None:
                del meta["creationTimestamp"]
                if not meta:
                    del job["metadata"]
            if isinstance(job["spec"].get("template"), dict):
                job["spec"]["template"] = _clean_template(job["spec"]["template"], "Job")
    if kind == "Pod":
        out["spec"] = clean_pod_spec(spec)
    if kind == "Service":
        _drop(spec, _SERVICE)
        for key in _SERVICE_ALLOCATED:
            spec.pop(key, None)
        for port in spec.get("ports") or []:
            if not isinstance(port, dict):
                continue
            if port.get("protocol") == "TCP":
                del port["protocol"]
            if port.get("targetPort") == port.get("port"):
                del port["targetPort"]
    return out


def clean_port(port: JSON) -> JSON:
    """A container port without the default ``protocol: TCP``."""
    if isinstance(port, dict) and port.get("protocol") == "TCP":
        return {k: v for k, v in port.items() if k != "protocol"}
    return port


#: How to clean a list item the human added, by the name of its list.
ITEM_CLEANERS: Final[dict[str, Callable[[JSON], JSON]]] = {
    "containers": clean_container,
    "initContainers": clean_container,
    "ports": clean_port,
}


def delta_ops(before: dict[str, JSON], after: dict[str, JSON]) -> list[Op]:
    """The operations of a sparse change, without what the server fills in by itself.

    An added container or port loses its defaulted fields, and ``serviceAccount`` is dropped
    where it only mirrors ``serviceAccountName`` (``kubectl set serviceaccount`` sets the one;
    the API server copies it into the deprecated other).  The engine writes these operations
    and the render check expects them, so both use this one function.
    """
    ops = edit.ops_from_delta(before, after)
    names = {
        op.path[:-1]: op.value
        for op in ops
        if isinstance(op, SetOp) and op.path and op.path[-1] == "serviceAccountName"
    }
    cleaned: list[Op] = []
    for op in ops:
        if (
            isinstance(op, SetOp)
            and op.path
            and op.path[-1] == "serviceAccount"
            and names.get(op.path[:-1], object()) == op.value
        ):
            continue
        if isinstance(op, AddItemOp) and op.path and op.path[-1] in ITEM_CLEANERS:
            item = ITEM_CLEANERS[str(op.path[-1])](op.item)
            cleaned.append(AddItemOp(op.path, item, op.key))
        else:
            cleaned.append(op)
    return cleaned

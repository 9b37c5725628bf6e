"""What a ``plan -refresh-only`` says drifted, attribute by attribute, without its secrets.

The plan's ``resource_drift`` holds each resource's state before and after the refresh; this
module turns the pair into the leaf attributes that changed.  A value marked sensitive (in
``before_sensitive`` or ``after_sensitive``, or under a marked parent) is dropped on the spot:
its ``Change`` keeps the path and ``sensitive=True``, never the value, so nothing downstream can
write, show or store it.  A missing value, ``null`` and an empty map or list count as the same
(providers normalise them differently on read, and that is not drift anyone made).

Pure: it reads the decoded plan JSON and returns frozen values; the plan itself is not kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

#: A path step: an attribute or map key (str) or a list index (int).
Step = str | int
Path = tuple[Step, ...]


class _Absent:
    """The value at a path that does not exist (a map key added or removed)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Final = _Absent()


@dataclass(frozen=True)
class Change:
    """One leaf that drifted: ``before`` and ``after`` are ``None`` when ``sensitive``."""

    path: Path
    before: object
    after: object
    sensitive: bool = False


@dataclass(frozen=True)
class ResourceDrift:
    """One resource instance that a refresh found changed (or gone)."""

    address: str
    #: module call names from the root module (``("app",)`` for ``module.app.x.y``)
    module: tuple[str, ...]
    #: instance keys of those module calls (``None`` where a call has neither count nor
    #: for_each); a resource inside a repeated module shares its configuration
    module_keys: tuple[str | int | None, ...]
    type: str
    name: str
    key: str | int | None
    provider: str
    changes: tuple[Change, ...]
    deleted: bool = False
    #: for Kubernetes resources: (kind, namespace, name) of the object, to find its capture
    kubernetes: tuple[str, str, str] | None = None

    @property
    def config_address(self) -> str:
        """The address without instance keys: how the configuration names it."""
        prefix = "".join(f"module.{name}." for name in self.module)
        return f"{prefix}{self.type}.{self.name}"


_STEP = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[("(?:[^"\\]|\\.)*"|\d+)\]')


def parse_address(address: str) -> list[tuple[str, str | int | None]]:
    """``module.a["x"].t.n[0]`` → ``[("module", None), ("a", "x"), ("t", None), ("n", 0)]``."""
    parts: list[tuple[str, str | int | None]] = []
    for match in _STEP.finditer(address):
        name, key = match.groups()
        if name is not None:
            parts.append((name, None))
        elif key is not None and parts:
            value: str | int = int(key) if key.isdigit() else _unquote(key)
            parts[-1] = (parts[-1][0], value)
    return parts


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def path_text(path: Sequence[Step]) -> str:
    """``("metadata", 0, "labels", "team")`` → ``metadata[0].labels["team"]``.

    A string step after the first is shown as a map key (``["k"]``) unless it is an attribute
    of a block (the step before it is a list index), the way ``plan`` prints them.
    """
    out = ""
    for number, step in enumerate(path):
        if isinstance(step, int):
            out += f"[{step}]"
        elif number == 0:
            out += step
        elif isinstance(path[number - 1], int):
            out += f".{step}"
        else:
            out += f'["{step}"]'
    return out


def _empty(value: object) -> bool:
    return value is None or value is ABSENT or value == {} or value == []


def _marked(marks: object, path: Path) -> bool:
    """Whether a ``*_sensitive`` tree marks ``path`` or one of its parents."""
    node = marks
    for step in path:
        if node is True:
            return True
        if isinstance(node, Mapping) and isinstance(step, str):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return False
    return node is True


def _leaves(before: object, after: object, path: Path) -> Iterator[tuple[Path, object, object]]:
    if _empty(before) and _empty(after):
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            yield from _leaves(before.get(key, ABSENT), after.get(key, ABSENT), (*path, key))
        return
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and any(isinstance(item, Mapping) for item in (*before, *after))
    ):
        # nested blocks (lists of objects) compare element by element; a list of plain
        # values is one attribute and changes as a whole
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            yield from _leaves(old, new, (*path, index))
        return
    if before != after:
        yield path, before, after


def changes(change: Mapping[str, Any]) -> tuple[Change, ...]:
    """The leaves that differ between a plan change's ``before`` and ``after``."""
    before, after = change.get("before"), change.get("after")
    marks_before = change.get("before_sensitive")
    marks_after = change.get("after_sensitive")
    found = []
    for path, old, new in _leaves(before, after, ()):
        if _marked(marks_before, path) or _marked(marks_after, path):
            found.append(Change(path=path, before=None, after=None, sensitive=True))
        else:
            found.append(Change(path=path, before=old, after=new))
    return tuple(found)


#: hashicorp/kubernetes resource types and the kinds they manage
_KUBERNETES_KINDS: Final[Mapping[str, str]] = {
    "config_map": "ConfigMap",
    "deployment": "Deployment",
    "stateful_set": "StatefulSet",
    "daemonset": "DaemonSet",
    "daemon_set": "DaemonSet",
    "service": "Service",
    "secret": "Secret",
    "namespace": "Namespace",
    "service_account": "ServiceAccount",
    "ingress": "Ingress",
    "cron_job": "CronJob",
    "job": "Job",
    "horizontal_pod_autoscaler": "HorizontalPodAutoscaler",
    "persistent_volume_claim": "PersistentVolumeClaim",
    "role": "Role",
    "role_binding": "RoleBinding",
    "cluster_role": "ClusterRole",
    "cluster_role_binding": "ClusterRoleBinding",
    "network_policy": "NetworkPolicy",
    "limit_range": "LimitRange",
    "resource_quota": "ResourceQuota",
    "pod_disruption_budget": "PodDisruptionBudget",
    "priority_class": "PriorityClass",
    "storage_class": "StorageClass",
}


def kubernetes_object(type_: str, values: object) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of the object a Kubernetes provider resource manages."""
    if not isinstance(values, Mapping):
        return None
    if type_ == "kubectl_manifest":
        kind, name = values.get("kind"), values.get("name")
        namespace = values.get("namespace") or ""
        if isinstance(kind, str) and isinstance(name, str) and isinstance(namespace, str):
            return kind, namespace, name
        return None
    if not type_.startswith("kubernetes_"):
        return None
    base = re.sub(r"_v\d+(?:beta\d+)?$", "", type_[len("kubernetes_") :])
    kind = _KUBERNETES_KINDS.get(base)
    metadata = values.get("metadata")
    if kind is None or not isinstance(metadata, list) or not metadata:
        return None
    first = metadata[0]
    if not isinstance(first, Mapping) or not isinstance(first.get("name"), str):
        return None
    namespace = first.get("namespace") if isinstance(first.get("namespace"), str) else ""
    return kind, str(namespace), str(first["name"])


def drifted(plan: Mapping[str, Any]) -> list[ResourceDrift]:
    """Every managed resource instance whose refresh changed something (data sources and
    resources whose only differences are ``null`` against empty are left out)."""
    found = []
    for entry in plan.get("resource_drift") or ():
        if not isinstance(entry, Mapping) or entry.get("mode", "managed") != "managed":
            continue
        change = entry.get("change")
        if not isinstance(change, Mapping):
            continue
        address = str(entry.get("address", ""))
        parts = parse_address(address)
        module: list[str] = []
        module_keys: list[str | int | None] = []
        index = 0
        while index + 1 < len(parts) and parts[index][0] == "module":
            module.append(parts[index + 1][0])
            module_keys.append(parts[index + 1][1])
            index += 2
        key = parts[-1][1] if parts else None
        after = change.get("after")
        deleted = after is None or "delete" in (change.get("actions") or ())
        leaves = () if deleted else changes(change)
        if not deleted and not leaves:
            continue
        type_ = str(entry.get("type", ""))
        found.append(
            ResourceDrift(
                address=address,
                module=tuple(module),
                module_keys=tuple(module_keys),
                type=type_,
                name=str(entry.get("name", "")),
                key=key,
                provider=str(entry.get("provider_name", "")),
                changes=leaves,
                deleted=deleted,
                kubernetes=kubernetes_object(type_, change.get("before")),
            )
        )
    return found

"""What a drill changes on an object, how it is marked, and how it is put back (pure).

Every drilled object carries two marks, written in the same patch as the change itself:

- the label ``breakglass.dev/drill=<drill id>``: what ``drill --cleanup`` selects on after a
  killed drill, and what the capture webhook recognises, so the change and its restore are
  recorded as a drill and never backfilled;
- the annotation ``breakglass.dev/drill``: JSON saying who drilled, until when, and the value to
  put back (``Marker``), so a cleanup needs nothing but the object.

The default change *is* the label (an added label is harmless: nothing selects on it).  The
other changes (``annotation``, ``replicas``, ``config``) change one more field, the probe.

A restore is a JSON Patch whose ``test`` operations make it conditional: the marker must still
be this drill's, and the probe is put back only if it still holds the drill's value (a person
who changed it since keeps their value).
"""

from __future__ import annotations

import enum
import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final

JSON = Any

LABEL: Final = "breakglass.dev/drill"
ANNOTATION: Final = "breakglass.dev/drill"
PROBE_ANNOTATION: Final = "breakglass.dev/drill-probe"
CONFIG_KEY: Final = "breakglass-drill"
#: the field manager of a drill's change: kubectl patch's own, so a GitOps controller treats
#: it as it treats an engineer's ``kubectl patch`` (Flux takes back fields of ``kubectl*``
#: managers and removes them; another manager's fields would survive and measure nothing)
FIELD_MANAGER: Final = "kubectl-patch"
#: the field manager of a restore by ``drill --cleanup`` (a running drill tells it apart)
CLEANUP_MANAGER: Final = "breakglass-drill-cleanup"
#: the field manager of a drill's own restore
RESTORE_MANAGER: Final = "breakglass-drill"


class Change(enum.StrEnum):
    """The change a drill makes."""

    LABEL = "label"
    ANNOTATION = "annotation"
    REPLICAS = "replicas"
    CONFIG = "config"

    @property
    def kinds(self) -> frozenset[str] | None:
        """The kinds this change applies to (``None``: any namespaced kind but a Secret)."""
        if self is Change.REPLICAS:
            return frozenset({"Deployment", "StatefulSet"})
        if self is Change.CONFIG:
            return frozenset({"ConfigMap"})
        return None


@dataclass(frozen=True)
class Probe:
    """The one field whose value tells whether the change was reverted."""

    change: Change
    #: JSON Pointer of the field (``/metadata/labels/breakglass.dev~1drill``)
    pointer: str
    original: JSON  # None: absent before the drill
    drilled: JSON

    @property
    def where(self) -> str:
        """The field as a person reads it: ``metadata.labels[breakglass.dev/drill]``."""
        parts = [_unescape(p) for p in self.pointer.strip("/").split("/")]
        head, last = parts[:-1], parts[-1]
        return ".".join(head) + (f"[{last}]" if "/" in last or "." in last else f".{last}")


@dataclass(frozen=True)
class Marker:
    """The annotation's content: enough for ``--cleanup`` to restore without the journal."""

    drill_id: str
    user: str
    started: str
    deadline: str
    application: str
    change: str
    pointer: str
    original: JSON
    drilled: JSON

    def text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @property
    def probe(self) -> Probe:
        return Probe(Change(self.change), self.pointer, self.original, self.drilled)

    @classmethod
    def read(cls, obj: Mapping[str, JSON]) -> Marker | None:
        """The marker on a live object, or ``None`` (absent or not a drill's JSON)."""
        raw = (((obj.get("metadata") or {}).get("annotations")) or {}).get(ANNOTATION)
        try:
            data = json.loads(raw) if isinstance(raw, str) else None
            return cls(**data) if isinstance(data, dict) else None
        except (TypeError, ValueError):
            return None


def new_drill_id(now: datetime) -> str:
    """``drill-20261207-210101-3fa2``: sortable, unique enough, a valid label value."""
    return f"drill-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def label_of(obj: Mapping[str, JSON]) -> str | None:
    """The drill id on a live object, if it carries the drill label."""
    value = (((obj.get("metadata") or {}).get("labels")) or {}).get(LABEL)
    return value if isinstance(value, str) else None


def probe_for(obj: Mapping[str, JSON], change: Change, drill_id: str) -> Probe | str:
    """The probe ``change`` sets on ``obj``, or why this object cannot take it."""
    kind = str(obj.get("kind", ""))
    if kind == "Secret":
        return "a Secret is never drilled"
    if change.kinds is not None and kind not in change.kinds:
        return f"--change {change} applies to {', '.join(sorted(change.kinds))} only"
    if change is Change.LABEL:
        return Probe(change, _pointer("metadata", "labels", LABEL), None, drill_id)
    if change is Change.ANNOTATION:
        return Probe(change, _pointer("metadata", "annotations", PROBE_ANNOTATION), None, drill_id)
    if change is Change.REPLICAS:
        replicas = (obj.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            return "spec.replicas is not set"
        return Probe(change, "/spec/replicas", replicas, replicas + 1)
    if obj.get("immutable") is True:
        return "an immutable ConfigMap cannot be changed"
    if CONFIG_KEY in (obj.get("data") or {}):
        return f"data already has a {CONFIG_KEY} key"
    return Probe(change, _pointer("data", CONFIG_KEY), None, drill_id)


def value_at(obj: Mapping[str, JSON], pointer: str) -> JSON:
    """The value at a JSON Pointer, ``None`` when absent."""
    node: JSON = obj
    for part in pointer.strip("/").split("/"):
        if not isinstance(node, Mapping):
            return None
        node = node.get(_unescape(part))
    return node


def reverted(obj: Mapping[str, JSON], probe: Probe) -> bool:
    """Whether the probe holds its original value (or is gone, for an added field) again."""
    return bool(value_at(obj, probe.pointer) == probe.original)


def drill_patch(obj: Mapping[str, JSON], probe: Probe, marker: Marker) -> dict[str, JSON]:
    """The merge patch that makes the change and marks it, conditional on the object's
    ``resourceVersion`` (a write in between makes it fail with a conflict, not clobber)."""
    meta = obj.get("metadata") or {}
    patch: dict[str, JSON] = {
        "metadata": {
            "resourceVersion": meta.get("resourceVersion"),
            "labels": {LABEL: marker.drill_id},
            "annotations": {ANNOTATION: marker.text()},
        }
    }
    parts = [_unescape(p) for p in probe.pointer.strip("/").split("/")]
    node = patch
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = probe.drilled
    return patch


def restore_ops(
    obj: Mapping[str, JSON], probe: Probe, drill_id: str
) -> tuple[list[dict[str, JSON]], bool]:
    """The JSON Patch that removes the drill's marks and puts the probe back, and whether it
    puts the probe back (``False``: someone changed it since the drill, so it stays).

    Empty when the object carries no mark of this drill and the probe needs nothing, or when
    it carries another drill's label (never touched)."""
    ops: list[dict[str, JSON]] = []
    labels = ((obj.get("metadata") or {}).get("labels")) or {}
    annotations = ((obj.get("metadata") or {}).get("annotations")) or {}
    label_pointer = _pointer("metadata", "labels", LABEL)
    if labels.get(LABEL) not in (None, drill_id):
        return [], False  # another drill's marks: that drill (or its cleanup) puts it back
    current = value_at(obj, probe.pointer)
    puts_back = current == probe.drilled and current != probe.original
    if labels.get(LABEL) == drill_id:
        ops.append({"op": "test", "path": label_pointer, "value": drill_id})
    if puts_back and probe.pointer != label_pointer:
        ops.append({"op": "test", "path": probe.pointer, "value": probe.drilled})
        if probe.original is None:
            ops.append({"op": "remove", "path": probe.pointer})
        else:
            ops.append({"op": "replace", "path": probe.pointer, "value": probe.original})
    if labels.get(LABEL) == drill_id:
        ops.append({"op": "remove", "path": label_pointer})
    marker = annotations.get(ANNOTATION)
    if isinstance(marker, str) and drill_id in marker:
        pointer = _pointer("metadata", "annotations", ANNOTATION)
        ops += [{"op": "test", "path": pointer, "value": marker}, {"op": "remove", "path": pointer}]
    return ops, puts_back


def in_change(before: JSON, after: JSON) -> str | None:
    """The drill id when a change adds, removes or alters the drill label (capture's test)."""
    for side in (after, before):
        meta = side.get("metadata") if isinstance(side, dict) else None
        labels = meta.get("labels") if isinstance(meta, dict) else None
        if isinstance(labels, dict) and LABEL in labels:
            value = labels[LABEL]
            return value if isinstance(value, str) else "unknown"
    return None


def in_patch(patch: JSON) -> str | None:
    """The drill id when a PATCH body (merge, strategic or JSON Patch) touches the drill
    label: what the audit event of a write the webhook missed still tells."""
    if isinstance(patch, dict):
        return in_change({}, patch)
    if isinstance(patch, list):
        label_pointer = _pointer("metadata", "labels", LABEL)
        for op in patch:
            if isinstance(op, dict) and str(op.get("path", "")) == label_pointer:
                value = op.get("value")
                return value if isinstance(value, str) else "unknown"
    return None


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")

"""What a human changed in a Kubernetes object, with the server's noise taken out.

Both the capture path (what to record) and the GitOps engine (what to write into Git) need the
same two answers: *which fields are the server's business* and *how do two versions of an
object differ*.  This module holds both, as pure functions over plain JSON-like data, so the
webhook and the engine can never disagree about what counts as a change.

The difference of two objects is a **sparse pair** ``(before, after)``: two objects that keep
only the fields that differ, plus the identity keys needed to find them again (``apiVersion``,
``kind``, ``metadata.name``/``namespace``, and the merge key of every list item on the way).
A field present in ``before`` and absent from ``after`` was removed; the reverse was added.
Lists of objects are matched by their strategic-merge key (containers by ``name``, ports by
``containerPort``, …) never by index, because the live order can differ from Git's.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

JSON = Any
"""A value decoded from JSON: dict, list, str, int, float, bool or None."""

#: Fields of ``metadata`` that the API server or controllers own.
SERVER_METADATA: Final = frozenset(
    {
        "resourceVersion",
        "managedFields",
        "generation",
        "uid",
        "creationTimestamp",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generateName",
    }
)

#: The annotation Argo CD tracks the objects of an Application by (``app:group/Kind:ns/name``);
#: the one spelling every module uses.
ARGO_TRACKING: Final = "argocd.argoproj.io/tracking-id"

#: Annotations written by the server, controllers, kubectl apply or GitOps tools.
SERVER_ANNOTATIONS: Final = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deprecated.daemonset.template.generation",
        "endpoints.kubernetes.io/last-change-trigger-time",
        "control-plane.alpha.kubernetes.io/leader",
        ARGO_TRACKING,
        "argocd.argoproj.io/compare-options",
        "argocd.argoproj.io/sync-options",
        "meta.helm.sh/release-name",
        "meta.helm.sh/release-namespace",
        # breakglass's own: the engineer's reason for a change travels with the capture
        # (into the PR body), it is not configuration to backfill
        "breakglass.dev/reason",
    }
)

#: Prefixes of labels and annotations that GitOps controllers stamp on the objects they own.
SERVER_KEY_PREFIXES: Final = (
    "kustomize.toolkit.fluxcd.io/",
    "helm.toolkit.fluxcd.io/",
    "source.toolkit.fluxcd.io/",
)

#: Strategic-merge keys by list field name, as the Kubernetes API types declare them.
#: A tuple means "the first of these that the items carry".
MERGE_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath", "name"),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "ports": ("name", "containerPort", "port"),
    "hostAliases": ("ip",),
    "resourceClaims": ("name",),
    "topologySpreadConstraints": ("topologyKey",),
    "ownerReferences": ("uid",),
    "conditions": ("type",),
    "subsets": (),
}


def json_copy(value: JSON) -> JSON:
    """A deep copy of parsed JSON (dicts, lists, scalars): several times faster than
    ``copy.deepcopy``, which it falls back to for any other type."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return copy.deepcopy(value)


class TooDeep(ValueError):
    """An object nests deeper than ``bounded_copy`` was allowed to go."""


def bounded_copy(value: JSON, depth: int) -> JSON:
    """``json_copy`` that goes at most ``depth`` containers deep, else ``TooDeep``.

    The capture path copies each object once anyway; bounding that copy is how it refuses
    hostile nesting without a second walk over every node.
    """
    if isinstance(value, dict):
        if depth <= 0:
            raise TooDeep
        return {k: bounded_copy(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        if depth <= 0:
            raise TooDeep
        return [bounded_copy(v, depth - 1) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return copy.deepcopy(value)


def merge_key(field: str, items: Iterable[JSON]) -> str | None:
    """The key that identifies items of list ``field``, or ``None`` if it is atomic.

    A key is usable only if every item is a mapping that carries it and no two items share a
    value; otherwise the list is compared as a whole, which is always safe.
    """
    candidates = MERGE_KEYS.get(field)
    if candidates is None:
        candidates = ("name",)
    materialised = list(items)
    if not materialised or not all(isinstance(i, dict) for i in materialised):
        return None
    for key in candidates:
        values = [i.get(key) for i in materialised]
        if all(v is not None for v in values) and len({_hashable(v) for v in values}) == len(
            values
        ):
            return key
    return None


def _hashable(value: JSON) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def is_server_key(key: str) -> bool:
    """Whether a label or annotation key belongs to the server or a GitOps controller."""
    return key in SERVER_ANNOTATIONS or key.startswith(SERVER_KEY_PREFIXES)


def strip_server_fields(
    obj: Mapping[str, JSON], *, max_depth: int | None = None
) -> dict[str, JSON]:
    """A deep copy of ``obj`` without ``status`` and without server-managed metadata.

    Empty ``labels``/``annotations`` maps left behind are dropped too, so an object that only
    lost server annotations compares equal to one that never had them.  With ``max_depth``,
    what is kept may nest at most that many levels below ``obj`` (else ``TooDeep``).
    """

    def copy_of(value: JSON, below: int) -> JSON:
        return json_copy(value) if max_depth is None else bounded_copy(value, max_depth - below)

    # copy everything but what is dropped anyway (status and managedFields are often most of
    # the object)
    out: dict[str, JSON] = {}
    for key, value in obj.items():
        if key == "status":
            continue
        if key == "metadata" and isinstance(value, dict):
            out[key] = {k: copy_of(v, 2) for k, v in value.items() if k not in SERVER_METADATA}
        else:
            out[key] = copy_of(value, 1)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for section in ("annotations", "labels"):
            values = meta.get(section)
            if isinstance(values, dict):
                for key in [k for k in values if is_server_key(k)]:
                    del values[key]
                if not values:
                    del meta[section]
    return out


def identity(obj: Mapping[str, JSON]) -> dict[str, JSON]:
    """The fields that name an object: ``apiVersion``, ``kind``, ``metadata.name/namespace``."""
    out: dict[str, JSON] = {}
    for key in ("apiVersion", "kind"):
        if key in obj:
            out[key] = obj[key]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        ident = {k: meta[k] for k in ("name", "namespace") if k in meta}
        if ident:
            out["metadata"] = ident
    return out


def sparse_delta(
    old: Mapping[str, JSON] | None, new: Mapping[str, JSON] | None
) -> tuple[dict[str, JSON], dict[str, JSON]]:
    """The sparse ``(before, after)`` pair of what changed from ``old`` to ``new``.

    Inputs should already be stripped of server fields.  ``None`` stands for "absent"
    (a creation or a deletion); then the other side is returned whole.  Both sides always
    carry the object's identity so the pair can be located without the full objects.
    """
    if old is None and new is None:
        return {}, {}
    if old is None:
        assert new is not None
        return identity(new), json_copy(dict(new))
    if new is None:
        return json_copy(dict(old)), identity(old)
    before, after = _diff_maps(old, new)
    for side, source in ((before, old), (after, new)):
        ident = identity(source)
        for key, value in ident.items():
            if key == "metadata":
                meta = side.setdefault("metadata", {})
                for mkey, mval in value.items():
                    meta.setdefault(mkey, mval)
            else:
                side.setdefault(key, value)
    return before, after


def is_empty_delta(before: Mapping[str, JSON], after: Mapping[str, JSON]) -> bool:
    """Whether a sparse pair carries no change beyond identity fields."""
    return _strip_identity(before) == _strip_identity(after) == {}


def _strip_identity(side: Mapping[str, JSON]) -> dict[str, JSON]:
    out = {k: v for k, v in side.items() if k not in ("apiVersion", "kind")}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        rest = {k: v for k, v in meta.items() if k not in ("name", "namespace")}
        if rest:
            out["metadata"] = rest
        else:
            out.pop("metadata")
    return out


def _diff_maps(
    old: Mapping[str, JSON], new: Mapping[str, JSON]
) -> tuple[dict[str, JSON], dict[str, JSON]]:
    before: dict[str, JSON] = {}
    after: dict[str, JSON] = {}
    for key in list(old) + [k for k in new if k not in old]:
        in_old, in_new = key in old, key in new
        if in_old and in_new and old[key] == new[key]:
            continue
        if in_old and in_new:
            b, a = _diff_values(key, old[key], new[key])
            nested = isinstance(old[key], dict | list) and type(old[key]) is type(new[key])
            if not (nested and b in ({}, [])):
                before[key] = b
            if not (nested and a in ({}, [])):
                after[key] = a
        elif in_old:
            before[key] = json_copy(old[key])
        else:
            after[key] = json_copy(new[key])
    return before, after


def _diff_values(field: str, old: JSON, new: JSON) -> tuple[JSON, JSON]:
    if isinstance(old, dict) and isinstance(new, dict):
        return _diff_maps(old, new)
    if isinstance(old, list) and isinstance(new, list):
        key_old = merge_key(field, old)
        key_new = merge_key(field, new)
        key = key_old or key_new
        if (
            key is not None
            and key_old in (key, None)
            and key_new in (key, None)
            and all(isinstance(i, dict) and key in i for i in [*old, *new])
        ):
            return _diff_keyed_list(key, old, new)
    return json_copy(old), json_copy(new)


def _diff_keyed_list(key: str, old: list[JSON], new: list[JSON]) -> tuple[JSON, JSON]:
    by_old = {_hashable(i[key]): i for i in old}
    by_new = {_hashable(i[key]): i for i in new}
    before: list[JSON] = []
    after: list[JSON] = []
    order = list(by_old) + [k for k in by_new if k not in by_old]
    for ident in order:
        o, n = by_old.get(ident), by_new.get(ident)
        if o is not None and n is not None:
            if o == n:
                continue
            b, a = _diff_maps(o, n)
            b[key] = o[key]
            a[key] = n[key]
            before.append(_key_first(key, b))
            after.append(_key_first(key, a))
        elif o is not None:
            before.append(json_copy(o))
        elif n is not None:
            after.append(json_copy(n))
    return before, after


def _key_first(key: str, item: dict[str, JSON]) -> dict[str, JSON]:
    return {key: item[key], **{k: v for k, v in item.items() if k != key}}


def changed_paths(before: Mapping[str, JSON], after: Mapping[str, JSON]) -> list[str]:
    """Dotted paths of what a sparse pair changes, for summaries and log lines.

    The two sides are walked together.  List items are shown by merge key:
    ``spec.template.spec.containers[name=app].image``.  An item only one side has was added or
    removed whole, so it is named by its key alone (``…env[name=DEBUG]``), not by its fields,
    which would read as a change of a field of an item that stays.  An item both sides name
    with nothing else on either side is context, not a change.
    """
    paths: set[str] = set()
    _walk_pair("", _strip_identity(before), _strip_identity(after), paths)
    return sorted(paths)


_ABSENT: Final = object()
_PATH_PART: Final = re.compile(r"\[[^\]]*\]|[^.\[\]]+")


def value_at(side: JSON, path: str) -> JSON:
    """The value a ``changed_paths`` path names in ``side`` (``None`` when there is none).

    Paths join keys with dots and do not escape them, so at a mapping the longest run of
    parts that is one of its keys is taken (``metadata.labels.app.kubernetes.io/name``);
    ``[key=value]`` finds a list item by its merge key, ``[n]`` by its position.
    """
    parts = _PATH_PART.findall(path)
    node = side
    index = 0
    while index < len(parts):
        part = parts[index]
        if part.startswith("["):
            inner = part[1:-1]
            if not isinstance(node, list):
                return None
            if inner.isdigit():
                position = int(inner)
                node = node[position] if position < len(node) else None
            else:
                key, _, wanted = inner.partition("=")
                node = next(
                    (i for i in node if isinstance(i, dict) and str(i.get(key)) == wanted), None
                )
            index += 1
        elif isinstance(node, dict):
            for end in range(len(parts), index, -1):
                run = parts[index:end]
                if any(p.startswith("[") for p in run):
                    continue
                key = ".".join(run)
                if key in node:
                    node, index = node[key], end
                    break
            else:
                return None
        else:
            return None
        if node is None:
            return None
    return node


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _walk_pair(prefix: str, old: Any, new: Any, out: set[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            _walk_pair(_join(prefix, str(key)), old.get(key, _ABSENT), new.get(key, _ABSENT), out)
        return
    if old == new:
        return  # context, e.g. a merge key both sides carry
    for side in (old, new):
        if side is not _ABSENT and not isinstance(side, list | dict):
            out.add(prefix)  # a scalar on either side: this field itself changed
            return
    lists = [s for s in (old, new) if isinstance(s, list)]
    if lists and all(s is _ABSENT or isinstance(s, list) for s in (old, new)):
        field = prefix.rsplit(".", 1)[-1]
        items = [i for s in lists for i in s]
        keys = [merge_key(field, s) for s in lists if s]
        key = keys[0] if keys and all(k == keys[0] for k in keys) else None
        if key is not None and all(isinstance(i, dict) and key in i for i in items):
            olds = {_hashable(i[key]): i for i in (old if isinstance(old, list) else [])}
            news = {_hashable(i[key]): i for i in (new if isinstance(new, list) else [])}
            for ident in list(olds) + [k for k in news if k not in olds]:
                o, n = olds.get(ident), news.get(ident)
                item = o if o is not None else n
                assert item is not None
                label = f"{prefix}[{key}={item[key]}]"
                if o is None or n is None:
                    out.add(label)
                    continue
                _walk_pair(
                    label,
                    {k: v for k, v in o.items() if k != key},
                    {k: v for k, v in n.items() if k != key},
                    out,
                )
            return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        # a list without a merge key whose items kept their places: name the items by place
        # (``spec.rules[0].host``), as reviewers count them
        for position, (was, now) in enumerate(zip(old, new, strict=True)):
            _walk_pair(f"{prefix}[{position}]", was, now, out)
        return
    if old is _ABSENT or new is _ABSENT:
        present = new if old is _ABSENT else old
        if isinstance(present, dict) and present:
            for key, sub in present.items():
                pair = (sub, _ABSENT) if new is _ABSENT else (_ABSENT, sub)
                _walk_pair(_join(prefix, str(key)), *pair, out)
            return
    out.add(prefix)


def holds(live: Mapping[str, JSON], before: Mapping[str, JSON], after: Mapping[str, JSON]) -> bool:
    """Whether ``live`` shows the change of a sparse pair: every value ``after`` sets is there,
    and every key only ``before`` had is gone.  Identity fields are not compared."""
    return _holds_map(live, _strip_identity(before), _strip_identity(after))


def _holds_map(
    live: Mapping[str, JSON], before: Mapping[str, JSON], after: Mapping[str, JSON]
) -> bool:
    for key, value in after.items():
        if key not in live:
            return False
        if not _holds_value(key, live[key], before.get(key), value):
            return False
    return all(key in after or _absent(key, live, before[key]) for key in before)


def _absent(field: str, live: Mapping[str, JSON], removed: JSON) -> bool:
    """Whether what a sparse ``before`` side removed under ``field`` is gone from ``live``."""
    if field not in live:
        return True
    current = live[field]
    if isinstance(removed, dict) and isinstance(current, dict):
        return all(_absent(k, current, v) for k, v in removed.items())
    if isinstance(removed, list) and isinstance(current, list) and removed:
        key = merge_key(field, removed)
        if key is not None:
            present = {_hashable(i.get(key)) for i in current if isinstance(i, dict)}
            return not any(_hashable(i[key]) in present for i in removed)
    return False


def _holds_value(field: str, live: JSON, before: JSON, after: JSON) -> bool:
    if isinstance(after, dict) and isinstance(live, dict):
        return _holds_map(live, before if isinstance(before, dict) else {}, after)
    if isinstance(after, list) and isinstance(live, list):
        key = merge_key(field, after) if after else None
        live_key = merge_key(field, live) if live else key
        if key is not None and live_key in (key, None):
            by_live = {_hashable(i[key]): i for i in live if isinstance(i, dict) and key in i}
            for item in after:
                match = by_live.get(_hashable(item[key]))
                old_item = None
                if isinstance(before, list):
                    old_item = next(
                        (b for b in before if isinstance(b, dict) and b.get(key) == item[key]),
                        None,
                    )
                if match is None or not _holds_map(match, old_item or {}, item):
                    return False
            removed = {
                _hashable(b[key])
                for b in (before or [])
                if isinstance(b, dict)
                and key in b
                and not any(a.get(key) == b[key] for a in after if isinstance(a, dict))
            }
            return not (removed & set(by_live))
    return bool(live == after)

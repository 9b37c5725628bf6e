"""What the worker gives the GitOps engine and the forge, decided from the journal's record.

Pure functions only: the engine's OLD and NEW from a capture (a PATCH body seen only by the
audit log becomes a sparse pair), the owner labels put back on a sparse delta, the engineer's
Git identity and forge handle, and whether a confirmed capture is backfilled at all.  Each is
tested without a journal, a repository or a forge.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

from breakglass import delta as deltas
from breakglass import model
from breakglass.capture.admission import OWNER_ANNOTATIONS
from breakglass.errors import PermanentError
from breakglass.settings import ForgeSettings, Settings, UserIdentity

_EMAIL_UNSAFE = re.compile(r"[^a-z0-9._-]+")
ARGO_TRACKING = deltas.ARGO_TRACKING
#: owner labels that name the application an object belongs to
_APP_LABELS = ("kustomize.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/name")


def identity_for(settings: Settings, username: str) -> UserIdentity:
    """The engineer as Git should show them: from ``users:``, else a clear placeholder."""
    known = settings.user(username)
    if known is not None:
        return known
    local = _EMAIL_UNSAFE.sub("-", username.lower()).strip("-.") or "unknown"
    return UserIdentity(name=username, email=f"{local}@{settings.cluster}.breakglass.invalid")


def handle_for(ident: UserIdentity, kind: str) -> str | None:
    """The assignee on a forge of ``kind``; the local forge records any known handle, else the
    engineer's name, since its records are read by people, not matched against accounts."""
    if kind == "github":
        return ident.github
    if kind == "gitlab":
        return ident.gitlab
    return ident.github or ident.gitlab or ident.name


def engine_inputs(capture: model.Capture) -> tuple[Any, Any]:
    """OLD and NEW for the GitOps engine from what the journal kept of a capture."""
    d = capture.delta
    if capture.operation is model.Operation.CREATE:
        return None, d.after
    if capture.operation is model.Operation.DELETE:
        return d.before, None
    if capture.source is model.Source.AUDIT:
        ident = deltas.identity(d.after or d.before or {})
        return patch_to_pair(ident, d.patch, d.patch_type)
    return d.before, d.after


def with_owner_hints(obj: Any, hints: Mapping[str, str], *, other: Any = None) -> Any:
    """``obj`` with the capture's owner labels and annotations back in its metadata.

    A sparse delta leaves out labels nobody changed, but the engine finds the Helm release
    that renders an object by them (``helm.toolkit.fluxcd.io/name``,
    ``meta.helm.sh/release-name``).  The hints are taken from the *new* object, so a key the
    delta mentions on either side (``obj`` or ``other``, the opposite side) is never put back:
    a label the engineer added would otherwise appear on the old side too, and the change
    would vanish.  Both sides get the same hints, so they add no change of their own.
    """
    if not isinstance(obj, dict) or not hints:
        return obj
    meta = dict(obj.get("metadata") or {})
    other_meta = (other.get("metadata") if isinstance(other, dict) else None) or {}
    for section, keys in (
        ("labels", [k for k in hints if k not in OWNER_ANNOTATIONS]),
        ("annotations", [k for k in hints if k in OWNER_ANNOTATIONS]),
    ):
        current = meta.get(section)
        theirs = other_meta.get(section) if isinstance(other_meta, dict) else None
        touched = set(current or {}) | set(theirs if isinstance(theirs, dict) else {})
        keys = [k for k in keys if k not in touched]
        if keys and (current is None or isinstance(current, dict)):
            meta[section] = {**{k: hints[k] for k in keys}, **(current or {})}
    return {**obj, "metadata": meta}


def patch_to_pair(ident: Mapping[str, Any], patch: Any, patch_type: str | None) -> tuple[Any, Any]:
    """A sparse ``(before, after)`` pair from a PATCH body, when it can be read as one.

    A merge (or strategic) patch *is* a sparse ``after``; ``null`` means "remove".  A JSON patch
    becomes one when its operations are add/replace/remove on plain object paths.
    """
    before: dict[str, Any] = dict(ident.items())
    after: dict[str, Any] = dict(ident.items())
    if isinstance(patch, dict):
        _merge_into(before, after, patch)
        return before, after
    if isinstance(patch, list):
        for op in patch:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
                raise PermanentError("the JSON patch uses operations breakglass cannot map")
            parts = [
                p.replace("~1", "/").replace("~0", "~")
                for p in str(op.get("path", "")).split("/")[1:]
            ]
            if not parts or any(p.isdigit() or p == "-" for p in parts):
                raise PermanentError("the JSON patch addresses list items by index")
            target_b, target_a = before, after
            for part in parts[:-1]:
                target_b = target_b.setdefault(part, {})
                target_a = target_a.setdefault(part, {})
            if op["op"] == "remove":
                target_b[parts[-1]] = "<removed>"
            else:
                target_a[parts[-1]] = op.get("value")
        return before, after
    raise PermanentError(
        "this change was seen only by the audit log without a patch body, so its exact delta "
        "is unknown"
    )


def _merge_into(before: dict[str, Any], after: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            before[key] = "<removed>"
        elif isinstance(value, dict):
            _merge_into(before.setdefault(key, {}), after.setdefault(key, {}), value)
        else:
            after[key] = value


def assignees(
    settings: Settings, captures: Sequence[model.Capture], forge: ForgeSettings
) -> tuple[list[str], list[str]]:
    """The forge handles of everyone who made ``captures``, and who has none."""
    handles: list[str] = []
    unassigned: list[str] = []
    people: list[str] = []
    for capture in captures:
        if capture.actor.username == model.UNKNOWN_USER and capture.source is model.Source.SCAN:
            people.extend(owners_for(settings, capture) or [model.UNKNOWN_USER])
        else:
            people.append(capture.actor.username)
    for username in dict.fromkeys(people):
        handle = handle_for(identity_for(settings, username), forge.kind)
        if handle is None:
            unassigned.append(username)
        elif handle not in handles:
            handles.append(handle)
    return handles, unassigned


def owners_for(settings: Settings, capture: model.Capture) -> list[str]:
    """Who ``scan.owners`` assigns drift whose author is unknown: the users of every rule whose
    namespace globs or application globs (an Argo CD Application, a Flux Kustomization or
    HelmRelease, as the object's owner labels name it) match."""
    apps = [
        value.split(":", 1)[0].split("_", 1)[-1] if key == ARGO_TRACKING else value
        for key, value in capture.labels.items()
        if key in (ARGO_TRACKING, *_APP_LABELS)
    ]
    out: list[str] = []
    for rule in settings.scan.owners:
        by_namespace = any(
            fnmatch.fnmatchcase(capture.object.namespace, g) for g in rule.namespaces
        )
        by_app = any(fnmatch.fnmatchcase(a, g) for a in apps for g in rule.apps)
        if by_namespace or by_app:
            out.extend(u for u in rule.users if u not in out)
    return out


def not_backfilled(capture: model.Capture, record_only: Sequence[str]) -> str | None:
    """Why a confirmed capture is only recorded, never backfilled; None if it is backfilled."""
    if capture.classification == model.OPAQUE:
        return f"{capture.reason}; not backfilled, update Git by hand"
    if capture.classification == model.DRILL:
        return "a breakglass drill's change, put back by the drill: never backfilled"
    if capture.classification in record_only:
        return f"{capture.classification} is an operation, not configuration drift"
    return None


def object_key(ref: model.ObjectRef) -> tuple[str, str, str, str]:
    """One object, whatever its version or subresource: group, kind, namespace, name."""
    return (ref.group, ref.kind, ref.namespace, ref.name)

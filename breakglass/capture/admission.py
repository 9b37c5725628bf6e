"""AdmissionReview request → ``Capture`` of a manual change, or ``Skip`` with the reason.

The rules, in the order they are applied (each skip names itself in logs and metrics):

1. ``dryRun`` requests, ``CONNECT``, the ``status`` subresource, and subresources other than
   ``scale`` are not configuration changes;
2. noise resources (events, leases, reviews) are never backfilled;
3. actors in ``actors.ignore`` (GitOps controllers, ``system:`` users) are automation;
4. an UPDATE that changes nothing once server-managed fields are stripped is a no-op.

A ``scale`` request becomes a ``spec.replicas`` change of the parent object.  Secret values are
redacted *before* the delta is computed, so nothing downstream ever holds one.  Operations that
are not configuration drift (``kubectl rollout restart``/``pause``) are classified so the worker
can record them without opening a PR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from breakglass import delta as deltas
from breakglass import model, repos
from breakglass.capture import redact, wire
from breakglass.capture.fields import MAX_DEPTH, Unusable, mapping, text, text_list
from breakglass.drill import marker as drill_marker
from breakglass.settings import ActorSettings

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass(frozen=True)
class Policy:
    """Everything the pure capture functions need to decide, built once from settings."""

    cluster: str
    actors: ActorSettings
    redactor: redact.Redactor
    record_only: tuple[str, ...] = ()
    #: the ``repos:`` rules, so the warning can say when no repository owns an object;
    #: ``None`` when unknown (the warning then promises nothing it cannot check)
    repo_rules: tuple[repos.RepoRule, ...] | None = None


@dataclass(frozen=True)
class Skip:
    """A request that is not a manual change; ``reason`` is a short metric-friendly word."""

    reason: str
    detail: str = ""


def skip_resource(group: str, plural: str, subresource: str) -> Skip | None:
    """The ``Skip`` for a request that changes no configuration by what it targets (the
    ``status`` subresource, a subresource other than ``scale``, a noise resource), else
    ``None``.  Admission and audit both apply it, so both paths skip the same requests."""
    if subresource == "status":
        return Skip("status")
    if subresource and subresource != "scale":
        return Skip("subresource", subresource)
    if (group, plural) in wire.NOISE_RESOURCES:
        return Skip("noise-resource", plural)
    return None


def skip_actor(actor: model.Actor, actors: ActorSettings, *, where: str) -> Skip | None:
    """The ``Skip`` for automation (an actor in ``actors.ignore``: GitOps controllers,
    ``system:`` users), else ``None``.  Raises ``Unusable`` when the request names no user;
    ``where`` is the field that should have (``request.userInfo``, ``user``)."""
    if not actor.username:
        raise Unusable(f"{where}.username is missing")
    if actors.is_ignored(actor.username, actor.groups):
        return Skip("ignored-actor", actor.username)
    return None


def actor_from_user(user: Any, *, field_manager: str | None = None) -> model.Actor:
    """An ``Actor`` from a ``userInfo``/``user`` block; raises ``Unusable`` on wrong types."""
    info = mapping(user, "userInfo")
    extra_raw = mapping(info.get("extra"), "userInfo.extra")
    extra = tuple(
        (str(k), text_list(v, f"userInfo.extra[{k}]")) for k, v in sorted(extra_raw.items())
    )
    return model.Actor(
        username=text(info.get("username"), "userInfo.username"),
        uid=text(info.get("uid"), "userInfo.uid"),
        groups=text_list(info.get("groups"), "userInfo.groups"),
        extra=extra,
        field_manager=field_manager,
    )


def parent_kind(group: str, resource: str) -> str:
    """The kind of a resource breakglass knows by name, else a readable guess from the name."""
    known = wire.RESOURCE_KINDS.get((group, resource))
    if known:
        return known
    singular = resource[:-1] if resource.endswith("s") else resource
    return singular[:1].upper() + singular[1:]


OWNER_ANNOTATIONS = (
    deltas.ARGO_TRACKING,
    "meta.helm.sh/release-name",
    "meta.helm.sh/release-namespace",
    "breakglass.dev/reason",
)


def owner_hints(obj: Any) -> dict[str, str]:
    """Labels and the few annotations that say who owns an object (Argo CD, Flux, Helm,
    rules) and why it was changed (``breakglass.dev/reason``).

    Kept with the capture so the worker can find the repository even after the object is gone.
    Bounded: at most 64 entries of at most 256 characters.
    """
    if not isinstance(obj, dict) or obj.get("kind") == "Scale":
        return {}
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return {}
    out: dict[str, str] = {}
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for key, value in list(labels.items())[:64]:
            if isinstance(key, str) and isinstance(value, str):
                out[key[:256]] = value[:256]
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in OWNER_ANNOTATIONS:
            value = annotations.get(key)
            if isinstance(value, str):
                out[key] = value[:256]
    return out


def classify(before: dict[str, Any], after: dict[str, Any]) -> str:
    """``drift`` for configuration changes, ``drill`` for a change carrying ``breakglass
    drill``'s marker (its change, its restore), or the name of an operational action."""
    if drill_marker.in_change(before, after) is not None:
        return model.DRILL
    paths = deltas.changed_paths(before, after)
    restart = f"spec.template.metadata.annotations.{RESTARTED_AT}"
    if paths and all(p == restart for p in paths):
        return "rollout-restart"
    if paths == ["spec.paused"]:
        return "rollout-pause"
    return "drift"


def decide(
    request: wire.AdmissionRequest, *, policy: Policy, now: datetime
) -> model.Capture | Skip:
    """Decide whether an admission request is a manual change, and capture it if so."""
    if not isinstance(request, dict):
        raise Unusable("request must be an object")
    uid = text(request.get("uid"), "request.uid")
    if not uid:
        raise Unusable("request.uid is missing")
    operation = text(request.get("operation"), "request.operation")
    if request.get("dryRun") is True:
        return Skip("dry-run")
    if operation == "CONNECT":
        return Skip("connect")
    if operation not in ("CREATE", "UPDATE", "DELETE"):
        raise Unusable(f"unknown operation {operation!r}")
    resource = mapping(request.get("resource"), "request.resource")
    group = text(resource.get("group"), "request.resource.group")
    version = text(resource.get("version"), "request.resource.version")
    plural = text(resource.get("resource"), "request.resource.resource")
    subresource = text(request.get("subResource"), "request.subResource")
    if skip := skip_resource(group, plural, subresource):
        return skip
    options = mapping(request.get("options"), "request.options")
    field_manager = options.get("fieldManager")
    actor = actor_from_user(
        request.get("userInfo"),
        field_manager=field_manager if isinstance(field_manager, str) else None,
    )
    if skip := skip_actor(actor, policy.actors, where="request.userInfo"):
        return skip

    kind_block = mapping(request.get("kind"), "request.kind")
    namespace = text(request.get("namespace"), "request.namespace")
    name = text(request.get("name"), "request.name")
    new_raw = request.get("object")
    old_raw = request.get("oldObject")
    if new_raw is not None and not isinstance(new_raw, dict):
        raise Unusable("request.object must be an object")
    if old_raw is not None and not isinstance(old_raw, dict):
        raise Unusable("request.oldObject must be an object")

    if subresource == "scale":
        kind = parent_kind(group, plural)
        before, after = _scale_delta(
            old_raw,
            new_raw,
            kind=kind,
            api_version=_api_version(group, version),
            namespace=namespace,
            name=name,
        )
        if not deltas.changed_paths(before, after):
            return Skip("no-op")
    else:
        kind = text(kind_block.get("kind"), "request.kind.kind") or parent_kind(group, plural)
        old_s = new_s = None
        too_deep = None
        for which, raw in (("request.oldObject", old_raw), ("request.object", new_raw)):
            try:
                prepared = _prepare(raw, kind=kind, policy=policy) if raw is not None else None
            except deltas.TooDeep:
                too_deep = which
                continue
            if which == "request.object":
                new_s = prepared
            else:
                old_s = prepared
        if too_deep is not None:
            return opaque_capture(
                object_ref(group, version, plural, kind, namespace, name, subresource),
                operation=operation,
                actor=actor,
                why=f"{too_deep} is nested more than {MAX_DEPTH} levels deep",
                now=now,
                cluster=policy.cluster,
                request_uid=uid,
            )
        if operation == "UPDATE" and (old_s is None or new_s is None):
            raise Unusable("an UPDATE needs both object and oldObject")
        if operation == "CREATE" and new_s is None:
            raise Unusable("a CREATE needs object")
        if operation == "DELETE":
            new_s = None
            if old_s is None:
                old_s = deltas.strip_server_fields(
                    {
                        "apiVersion": _api_version(group, version),
                        "kind": kind,
                        "metadata": {"name": name, "namespace": namespace},
                    }
                )
        if operation == "CREATE":
            old_s = None
        if operation == "UPDATE" and old_s == new_s:
            return Skip("no-op")
        before, after = deltas.sparse_delta(old_s, new_s)
        if not name:
            name = _object_name(new_s or old_s)
        if not namespace:
            namespace = _object_namespace(new_s or old_s)

    classification = classify(before, after) if operation == "UPDATE" else "drift"
    ref = object_ref(group, version, plural, kind, namespace, name, subresource)
    return model.Capture(
        id=model.new_capture_id(now.timestamp()),
        cluster=policy.cluster,
        source=model.Source.ADMISSION,
        status=model.Status.PROVISIONAL,
        operation=model.Operation(operation),
        object=ref,
        actor=actor,
        delta=model.Delta(
            before=before, after=after, paths=tuple(deltas.changed_paths(before, after))
        ),
        received_at=now,
        request_uid=uid,
        classification=classification,
        labels=owner_hints(new_raw if new_raw is not None else old_raw),
    )


def object_ref(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespace: str,
    name: str,
    subresource: str,
) -> model.ObjectRef:
    """The ``ObjectRef`` of a request; a Namespace is cluster-scoped, whatever the request says
    (the API server sets ``request.namespace`` and ``objectRef.namespace`` to its own name)."""
    return model.ObjectRef(
        group=group,
        version=version,
        resource=plural,
        kind=kind,
        namespace="" if (group, plural) == ("", "namespaces") else namespace,
        name=name,
        subresource=subresource,
    )


def opaque_capture(
    ref: model.ObjectRef,
    *,
    operation: str,
    actor: model.Actor,
    why: str,
    now: datetime,
    cluster: str,
    request_uid: str | None = None,
    audit_id: str | None = None,
) -> model.Capture:
    """A change to an object that cannot be read: who, what and when, without a delta.

    Such an object (nested deeper than any decision walks) is never diffed or backfilled, but
    the change is still journaled and audit-logged, so a deeply nested field cannot hide a
    manual edit from the record.
    """
    ident: dict[str, Any] = {
        "apiVersion": _api_version(ref.group, ref.version),
        "kind": ref.kind,
        "metadata": {"name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {})},
    }
    return model.Capture(
        id=model.new_capture_id(now.timestamp()),
        cluster=cluster,
        source=model.Source.AUDIT if audit_id else model.Source.ADMISSION,
        status=model.Status.CONFIRMED if audit_id else model.Status.PROVISIONAL,
        operation=model.Operation(operation),
        object=ref,
        actor=actor,
        delta=model.Delta(before=ident, after=dict(ident), paths=()),
        received_at=now,
        request_uid=request_uid,
        audit_id=audit_id,
        classification=model.OPAQUE,
        reason=f"recorded without a delta: {why}",
        confirmed_at=now if audit_id else None,
    )


def _prepare(raw: dict[str, Any], *, kind: str, policy: Policy) -> dict[str, Any]:
    """``raw`` without server fields and with secret values redacted, as a new object.

    The same as redacting and then stripping, in the cheaper order: ``status`` and
    ``managedFields`` (often half of a large object) are left out before the one deep copy
    (``strip_server_fields`` drops them anyway), and the copy is then redacted in place.
    Stripping removes keys and redaction replaces values of keys it keeps, so the order does
    not change the result.
    """
    trimmed = {k: v for k, v in raw.items() if k != "status"}
    meta = trimmed.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        trimmed["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    stripped = deltas.strip_server_fields(trimmed, max_depth=MAX_DEPTH)
    redacted: dict[str, Any] = policy.redactor.object(stripped, kind=kind, owned=True)
    return redacted


def _api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _object_name(obj: dict[str, Any] | None) -> str:
    meta = (obj or {}).get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _object_namespace(obj: dict[str, Any] | None) -> str:
    meta = (obj or {}).get("metadata")
    return str(meta.get("namespace", "")) if isinstance(meta, dict) else ""


def _replicas(scale: dict[str, Any] | None) -> Any:
    if scale is None:
        return None
    spec = scale.get("spec")
    return spec.get("replicas") if isinstance(spec, dict) else None


def _scale_delta(
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    *,
    kind: str,
    api_version: str,
    namespace: str,
    name: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    ident: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace} if namespace else {"name": name},
    }
    old_r, new_r = _replicas(old), _replicas(new)
    if old_r == new_r:
        return dict(ident), dict(ident)
    before = {**ident, "spec": {"replicas": old_r}} if old_r is not None else dict(ident)
    after = {**ident, "spec": {"replicas": new_r}} if new_r is not None else dict(ident)
    return before, after


def warning(
    capture: model.Capture,
    *,
    record_only: tuple[str, ...],
    repo_rules: tuple[repos.RepoRule, ...] | None = None,
) -> str:
    """The one line kubectl prints to the engineer (kept well under 256 characters).

    It says what will really happen, from what the webhook knows without reading anything:
    an operation is only recorded; an object nothing claims (no Argo CD or Flux tracking in
    its metadata, no ``repos:`` rule) gets no PR; a Secret's values or a secret-looking value
    never reach Git in the clear.  Only then does it promise a pull request.
    """
    what = capture.object.describe()
    head = f"breakglass: recorded {what} change as {capture.id}"
    if capture.classification == model.OPAQUE:
        text = (
            f"{head}; the object is too deeply nested to diff, so no backfill PR: "
            "update Git by hand"
        )
    elif capture.classification == model.DRILL:
        text = (
            f"breakglass: recorded {what} drill change as {capture.id}; a drill's change is "
            "put back by the drill, no backfill PR"
        )
    elif capture.classification in record_only:
        text = (
            f"breakglass: recorded {what} {capture.classification} as {capture.id}; "
            "operational action, no backfill PR"
        )
    elif (
        capture.object.subresource == "scale"
        and not capture.labels
        and not (
            repo_rules is not None
            and repos.claimed({}, namespace=capture.object.namespace, rules=repo_rules)
        )
    ):
        # a Scale carries no labels or annotations: unless a namespace rule owns the object,
        # who owns it is not known here
        text = f"{head}; a backfill PR will follow if a repository owns this object"
    elif repo_rules is not None and not repos.claimed(
        capture.labels, namespace=capture.object.namespace, rules=repo_rules
    ):
        text = (
            f"{head}; no repository owns this object (no Argo CD or Flux tracking, no repos: "
            "rule), so no PR: update Git by hand if it should stay"
        )
    elif _secret_values_changed(capture):
        text = (
            f"{head}; Secret values are never backfilled in the clear: a PR only where Git "
            "keeps this Secret SOPS-encrypted, else a review issue will be opened"
        )
    elif marked := redact.redacted_paths(capture.delta.after or {}, secret=False):
        text = (
            f"{head}; {marked[0].rsplit('.', 1)[0]} looks secret, so its value is not copied: "
            "a review issue will be opened instead of a PR"
        )
    else:
        text = f"{head}; a backfill PR will follow"
    return text if len(text) <= 250 else text[:247] + "..."


def _secret_values_changed(capture: model.Capture) -> bool:
    if (capture.object.group, capture.object.kind) != ("", "Secret"):
        return False
    if capture.operation is model.Operation.DELETE:
        return False
    fields = tuple(f"{f}." for f in redact.SECRET_FIELDS)
    return any(p.startswith(fields) or p in redact.SECRET_FIELDS for p in capture.delta.paths)

"""Audit Event → confirmation of a provisional capture, an audit-only capture, or ``Skip``.

The API server's audit webhook backend sends what actually happened: only a
``ResponseComplete`` event of a write verb with a 2xx status is a persisted change.  If the
admission webhook saw the same request, the event carries the capture id in an annotation
(``<webhook-name>/capture-id``) and *confirms* it.  If admission missed it (the webhook timed
out and the API server failed open), the event alone becomes an **audit-only** capture.

For a PATCH, ``requestObject`` is the patch body the engineer sent: the most precise record of
intent, kept (redacted) in the capture's delta.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from breakglass import delta as deltas
from breakglass import model
from breakglass.capture import wire
from breakglass.capture.admission import (
    Policy,
    Skip,
    actor_from_user,
    classify,
    object_ref,
    opaque_capture,
    owner_hints,
    parent_kind,
    skip_actor,
    skip_resource,
)
from breakglass.capture.fields import Unusable, mapping, shallow, text, text_list
from breakglass.drill import marker as drill_marker

WRITE_VERBS = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}


@dataclass(frozen=True)
class Confirmation:
    """An audit event that confirms the capture ``capture_id`` was persisted."""

    capture_id: str
    audit_id: str
    actor: model.Actor
    patch: Any
    patch_type: str | None
    at: datetime
    #: makes the capture as the audit event alone describes it, under ``capture_id``: stored
    #: when the admission capture never reached the journal (the webhook answered before it
    #: was durable), so the change is recorded all the same; built only then
    fallback: Callable[[], model.Capture] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AuditCapture:
    """A change admission never saw; recorded from the audit event alone."""

    capture: model.Capture


def _capture_id(annotations: dict[str, Any]) -> str | None:
    suffix = "/" + wire.CAPTURE_ID_ANNOTATION
    for key, value in annotations.items():
        if (key == wire.CAPTURE_ID_ANNOTATION or key.endswith(suffix)) and isinstance(value, str):
            return value
    return None


def _actor(event: wire.AuditEvent, field_manager: str | None) -> model.Actor:
    """Who the change is by: the impersonated user, if any (the authenticated one becomes the
    impersonator), with what only the audit event knows (source IPs, user agent)."""
    user = actor_from_user(event.get("user"))
    impersonated = event.get("impersonatedUser")
    ips = text_list(event.get("sourceIPs"), "sourceIPs")
    agent = text(event.get("userAgent"), "userAgent") or None
    actor = user
    if impersonated:
        actor = dataclasses.replace(
            actor_from_user(impersonated),
            impersonator=user.username,
            impersonator_groups=user.groups,
        )
    return dataclasses.replace(actor, field_manager=field_manager, user_agent=agent, source_ips=ips)


def _query(uri: str) -> dict[str, list[str]]:
    try:
        return parse_qs(urlsplit(uri).query)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL" for a host part like "//["
        raise Unusable(f"requestURI is not a URI: {exc}") from exc


def decide(
    event: wire.AuditEvent, *, policy: Policy, now: datetime
) -> Confirmation | AuditCapture | Skip:
    """Decide what one audit event means for the journal."""
    if not isinstance(event, dict):
        raise Unusable("event must be an object")
    audit_id = text(event.get("auditID"), "auditID")
    if not audit_id:
        raise Unusable("auditID is missing")
    if event.get("stage") != "ResponseComplete":
        return Skip("stage")
    verb = text(event.get("verb"), "verb")
    operation = WRITE_VERBS.get(verb)
    if operation is None:
        return Skip("verb", verb)
    status = mapping(event.get("responseStatus"), "responseStatus")
    code = status.get("code")
    if not isinstance(code, int) or not 200 <= code < 300:
        return Skip("failed-request", str(code))
    uri = text(event.get("requestURI"), "requestURI")
    query = _query(uri)
    if "All" in query.get("dryRun", []):
        return Skip("dry-run")
    ref = mapping(event.get("objectRef"), "objectRef")
    group = text(ref.get("apiGroup"), "objectRef.apiGroup")
    version = text(ref.get("apiVersion"), "objectRef.apiVersion")
    plural = text(ref.get("resource"), "objectRef.resource")
    subresource = text(ref.get("subresource"), "objectRef.subresource")
    if skip := skip_resource(group, plural, subresource):
        return skip
    managers = query.get("fieldManager", [])
    actor = _actor(event, managers[0] if managers else None)
    if skip := skip_actor(actor, policy.actors, where="user"):
        return skip

    received = _timestamp(event.get("requestReceivedTimestamp"), now)
    kind = parent_kind(group, plural)
    too_deep: str | None = None
    try:
        request_object = shallow(event.get("requestObject"), "requestObject")
        response_object = shallow(event.get("responseObject"), "responseObject")
    except Unusable as exc:  # still a change by someone: confirm or record it without a delta
        request_object = response_object = None
        too_deep = str(exc)
    patch: Any = None
    patch_type: str | None = None
    if verb == "patch" and "force" in query:
        # only a server-side apply takes `force` (kubectl always sends it); the URI says so
        # even where the policy logs no request body (Metadata level, custom resources)
        patch_type = "apply"
    if verb == "patch" and request_object is not None:
        patch = policy.redactor.patch(request_object, kind=kind)
        if isinstance(request_object, list):
            patch_type = "json"
        elif patch_type is None:
            patch_type = "merge"

    annotations = mapping(event.get("annotations"), "annotations")
    capture_id = _capture_id(annotations)

    def from_audit() -> model.Capture:
        return _audit_capture(
            event,
            policy=policy,
            now=now,
            ref=ref,
            actor=actor,
            kinds=(group, version, plural, kind, subresource),
            operation=operation,
            verb=verb,
            audit_id=audit_id,
            received=received,
            bodies=(request_object, response_object, too_deep),
            patch=(patch, patch_type),
        )

    if capture_id:
        confirmed_id = capture_id
        return Confirmation(
            capture_id=capture_id,
            audit_id=audit_id,
            actor=actor,
            patch=patch,
            patch_type=patch_type,
            at=_timestamp(event.get("stageTimestamp"), now),
            fallback=lambda: dataclasses.replace(from_audit(), id=confirmed_id),
        )
    return AuditCapture(from_audit())


def _audit_capture(
    event: wire.AuditEvent,
    *,
    policy: Policy,
    now: datetime,
    ref: dict[str, Any],
    actor: model.Actor,
    kinds: tuple[str, str, str, str, str],
    operation: str,
    verb: str,
    audit_id: str,
    received: datetime,
    bodies: tuple[Any, Any, str | None],
    patch: tuple[Any, str | None],
) -> model.Capture:
    """The capture the audit event alone describes (confirmed, source ``audit``)."""
    group, version, plural, kind, subresource = kinds
    request_object, response_object, too_deep = bodies
    patch_body, patch_type = patch
    namespace = text(ref.get("namespace"), "objectRef.namespace")
    if (group, plural) == ("", "namespaces"):
        namespace = ""  # a Namespace is cluster-scoped, whatever objectRef says
    name = text(ref.get("name"), "objectRef.name")
    if too_deep is not None:
        return opaque_capture(
            object_ref(group, version, plural, kind, namespace, name, subresource),
            operation=operation,
            actor=actor,
            why=too_deep,
            now=received,
            cluster=policy.cluster,
            audit_id=audit_id,
        )
    if subresource == "scale":
        replicas = _replicas(response_object if response_object is not None else request_object)
        ident = _identity(group, version, kind, namespace, name)
        before: dict[str, Any] = dict(ident)
        after: dict[str, Any] = {**ident, "spec": {"replicas": replicas}}
    else:
        body = response_object if isinstance(response_object, dict) else None
        if body is None and isinstance(request_object, dict) and verb != "patch":
            body = request_object
        obj_kind = body.get("kind") if isinstance(body, dict) else None
        if isinstance(obj_kind, str) and obj_kind and obj_kind != "Status":
            kind = obj_kind
        if operation == "DELETE" or body is None or obj_kind == "Status":
            obj = None
        else:
            obj = deltas.strip_server_fields(policy.redactor.object(body, kind=kind))
        ident = _identity(group, version, kind, namespace, name or _name_of(obj))
        if operation == "CREATE" and obj is not None:
            before, after = dict(ident), obj
        elif operation == "DELETE":
            before, after = dict(ident), dict(ident)
        else:
            # Without the old object the precise delta is unknown: keep the full new state
            # (server noise stripped) and, for a PATCH, the patch itself.
            before, after = dict(ident), (obj if obj is not None else dict(ident))
        if not name:
            name = _name_of(obj)
    return model.Capture(
        id=model.new_capture_id(received.timestamp()),
        cluster=policy.cluster,
        source=model.Source.AUDIT,
        status=model.Status.CONFIRMED,
        operation=model.Operation(operation),
        object=object_ref(group, version, plural, kind, namespace, name, subresource),
        actor=actor,
        delta=model.Delta(
            before=before,
            after=after,
            patch=patch_body,
            patch_type=patch_type,
            paths=tuple(
                deltas.changed_paths(patch_body, {}) if isinstance(patch_body, dict) else ()
            ),
        ),
        received_at=received,
        audit_id=audit_id,
        classification=(
            model.DRILL
            if drill_marker.in_patch(patch_body) is not None
            else classify(patch_body, {})
            if isinstance(patch_body, dict)
            else "drift"
        ),
        labels=owner_hints(
            response_object if isinstance(response_object, dict) else request_object
        ),
        confirmed_at=_timestamp(event.get("stageTimestamp"), now),
    )


def _identity(group: str, version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": kind,
        "metadata": meta,
    }


def _name_of(obj: dict[str, Any] | None) -> str:
    meta = (obj or {}).get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _replicas(scale: Any) -> Any:
    if isinstance(scale, dict) and isinstance(scale.get("spec"), dict):
        return scale["spec"].get("replicas")
    return None


def _timestamp(value: Any, default: datetime) -> datetime:
    """The event's time in UTC, or ``default`` when it is missing, malformed or out of range.

    A time the API server could not have written (before 1970 or past 9999 once in UTC) would
    otherwise fail later, when the capture is encoded for the journal.
    """
    if isinstance(value, str) and value:
        try:
            moment = model.parse_time(value).astimezone(UTC)
        except (ValueError, OverflowError):
            return default
        return moment if 1970 <= moment.year <= 9999 else default
    return default

"""``POST /validate``: the validating admission webhook.

The handler maps HTTP to the pure decisions in ``breakglass.capture.admission`` and
``breakglass.sessions`` and back.  Its promises to the cluster: it answers in milliseconds,
and always within ``admission.deadline_seconds``; it denies a manual write only when
``admission.mode`` says so (never in ``observe``), and a ``BreakglassSession`` that breaks the
session rules; a capture is durable in the
journal *before* the answer leaves, or, past the deadline, the answer says it is not and the
audit event records the change under the capture's id; if anything of ours fails, the request
is still allowed and the failure is logged and counted.  Only a body that cannot be
parsed at all gets an HTTP error (400, or 413 when too large); the API server then applies
``failurePolicy: Ignore`` and lets the request through.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from aiohttp import web

from breakglass import auditlog, logs, model
from breakglass.capture import admission, wire
from breakglass.capture.fields import Unusable
from breakglass.sessions import objects as session_objects
from breakglass.sessions import policy as session_policy
from breakglass.web.state import DEPS, instrumented, json_error, peer_verified

log = logs.get(__name__)
ENDPOINT = "validate"


def allowed(uid: str, **extra: Any) -> web.Response:
    """The only way this module builds an answer: an AdmissionReview that allows ``uid``."""
    response: wire.AdmissionResponse = {"uid": uid, "allowed": True}
    if extra.get("warnings"):
        response["warnings"] = extra["warnings"]
    if extra.get("audit_annotations"):
        response["auditAnnotations"] = extra["audit_annotations"]
    review: wire.AdmissionReview = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    }
    return web.Response(body=orjson.dumps(review), content_type="application/json")


def denied(uid: str, message: str) -> web.Response:
    """An AdmissionReview that refuses ``uid``, with the message kubectl prints."""
    review: wire.AdmissionReview = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": uid,
            "allowed": False,
            "status": {"code": 403, "reason": "Forbidden", "message": message},
        },
    }
    return web.Response(body=orjson.dumps(review), content_type="application/json")


def _describe(request: dict[str, Any]) -> dict[str, Any]:
    user = request.get("userInfo")
    resource = request.get("resource")
    return {
        "uid": request.get("uid"),
        "user": user.get("username") if isinstance(user, dict) else None,
        "resource": resource.get("resource") if isinstance(resource, dict) else None,
        "subresource": request.get("subResource") or None,
        "namespace": request.get("namespace") or None,
        "name": request.get("name") or None,
        "operation": request.get("operation"),
    }


#: journal inserts still running after their request was answered (kept referenced)
_LATE: set[asyncio.Future[Any]] = set()


def _left(started: float, budget: float) -> float:
    """What is left of the request's time budget, in seconds (never negative)."""
    return max(0.0, budget - (time.monotonic() - started))


def _late_insert_done(insert: asyncio.Future[Any]) -> None:
    _LATE.discard(insert)
    if insert.cancelled():
        return
    error = insert.exception()
    if error is None:
        log.info("admission_late_insert", capture_id=insert.result().capture.id)
    else:
        # the audit event records the change under the same id when this never lands
        log.warning("admission_late_insert_failed", error=str(error))


async def handle(request: web.Request) -> web.Response:
    return await instrumented(request, endpoint=ENDPOINT, event="admission", inner=_handle)


async def _handle(request: web.Request) -> tuple[web.Response, str]:
    deps = request.app[DEPS]
    if deps.settings.admission.require_client_cert and not peer_verified(request):
        return json_error(403, "a verified client certificate is required"), "forbidden"
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        deps.metrics.fail_open.labels("too-large").inc()
        limit = deps.settings.max_body_bytes
        return json_error(413, f"AdmissionReview larger than {limit} bytes"), "too-large"
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        deps.metrics.fail_open.labels("bad-request").inc()
        return json_error(400, f"body is not JSON: {exc}"), "bad-request"
    req = review.get("request") if isinstance(review, dict) else None
    uid = req.get("uid") if isinstance(req, dict) else None
    if not isinstance(uid, str) or not uid:
        deps.metrics.fail_open.labels("bad-request").inc()
        return json_error(400, "not an AdmissionReview: request.uid is missing"), "bad-request"
    assert isinstance(req, dict)
    structlog.contextvars.bind_contextvars(**_describe(req))
    if review.get("apiVersion") != "admission.k8s.io/v1" or review.get("kind") != (
        "AdmissionReview"
    ):
        deps.metrics.unusable.labels(ENDPOINT).inc()
        log.error("admission_unusable", error="expected apiVersion admission.k8s.io/v1")
        return allowed(uid), "unusable"

    now = model.utcnow()
    started = time.monotonic()
    resource = req.get("resource")
    if isinstance(resource, dict) and (resource.get("group"), resource.get("resource")) == (
        session_objects.GROUP,
        session_objects.PLURAL,
    ):
        return await _session(req, uid, request, now, started)
    mode = deps.settings.admission.mode
    if req.get("dryRun") is True and mode != session_policy.OBSERVE:
        # judged as the real write would be, never recorded
        return await _judge_dry_run(req, uid, request, now)
    try:
        decision = admission.decide(req, policy=deps.policy, now=now)  # type: ignore[arg-type]
    except Unusable as exc:
        deps.metrics.unusable.labels(ENDPOINT).inc()
        log.error("admission_unusable", error=str(exc))
        return allowed(uid), "unusable"
    except Exception as exc:  # never deny because of our own bug
        deps.metrics.unusable.labels(ENDPOINT).inc()
        log.exception("admission_bug", error=type(exc).__name__)
        return allowed(uid), "unusable"
    if isinstance(decision, admission.Skip):
        deps.metrics.skips.labels(ENDPOINT, decision.reason).inc()
        structlog.contextvars.bind_contextvars(decision="skip", reason=decision.reason)
        return allowed(uid), "skipped"
    try:
        decision, refusal = await _policy(decision, request, now)
    except Exception as exc:  # never deny because of our own bug
        log.exception("admission_policy_bug", error=type(exc).__name__)
        refusal = None
    if refusal is not None:
        return await _refuse(request, decision, refusal, dry_run=False), "denied"
    # The parsed review (often ten times its JSON size in Python objects) is not needed while
    # this request waits for the journal and the audit log: let it go now, so concurrent
    # requests do not each hold a full object tree through two fsyncs.
    del review, req, body

    budget = deps.settings.admission.deadline_seconds
    insert = asyncio.ensure_future(deps.journal.insert(decision))
    try:
        result = await asyncio.wait_for(asyncio.shield(insert), _left(started, budget))
    except TimeoutError:
        # the journal is slow: answer now (kubectl must not wait on us) and let the insert
        # finish on its own; the audit event carries the capture id and records the change
        # under it if the insert never lands
        _LATE.add(insert)
        insert.add_done_callback(_late_insert_done)
        deps.metrics.fail_open.labels("deadline").inc()
        log.error("admission_deadline", capture_id=decision.id, budget_seconds=budget)
        note = (
            f"breakglass: recorded {decision.object.describe()} change as {decision.id} too "
            "slowly to confirm it; the audit log will record it (tell your platform team if "
            "this repeats)"
        )
        return (
            allowed(
                uid,
                warnings=[note],
                audit_annotations={wire.CAPTURE_ID_ANNOTATION: decision.id},
            ),
            "deadline",
        )
    except Exception as exc:
        deps.metrics.journal_errors.labels("insert").inc()
        deps.metrics.fail_open.labels("journal").inc()
        log.error("journal_insert_failed", error=str(exc), error_type=type(exc).__name__)
        note = "breakglass: could not record this change; tell your platform team"
        return allowed(uid, warnings=[note]), "journal-error"
    capture = result.capture
    if result.created:
        deps.metrics.captures.labels(
            capture.source.value,
            capture.operation.value,
            capture.object.kind,
            capture.classification,
        ).inc()
        event = auditlog.from_capture(capture, auditlog.EventType.CAPTURE)
        await auditlog.record_safely(
            deps.audit_log,
            [event],
            metrics=deps.metrics,
            wait=min(auditlog.WRITE_TIMEOUT, _left(started, budget)),
        )
    structlog.contextvars.bind_contextvars(
        decision="capture",
        capture_id=capture.id,
        replay=not result.created,
        classification=capture.classification,
    )
    text = admission.warning(
        capture, record_only=deps.policy.record_only, repo_rules=deps.policy.repo_rules
    )
    return (
        allowed(
            uid,
            warnings=[text],
            audit_annotations={wire.CAPTURE_ID_ANNOTATION: capture.id},
        ),
        "captured",
    )


async def _policy(
    capture: model.Capture, request: web.Request, now: datetime
) -> tuple[model.Capture, str | None]:
    """The capture with the session it belongs to, and ``admission.mode``'s refusal if any."""
    deps = request.app[DEPS]
    session = None
    if deps.sessions is not None:
        session = session_policy.covering(await deps.sessions.open_at(now), capture)
        if session is not None:
            capture = dataclasses.replace(capture, session=session.name)
    refusal = session_policy.judge(
        capture,
        mode=deps.settings.admission.mode,
        session=session,
        breakglass_groups=deps.settings.admission.breakglass_groups,
        rules=deps.policy.repo_rules or (),
    )
    return capture, refusal


async def _refuse(
    request: web.Request, capture: model.Capture, message: str, *, dry_run: bool
) -> web.Response:
    """Deny, count it, and put the refused attempt in the audit log (never a value)."""
    deps = request.app[DEPS]
    mode = deps.settings.admission.mode
    deps.metrics.denied.labels(mode, "true" if dry_run else "false").inc()
    structlog.contextvars.bind_contextvars(decision="deny", mode=mode, dry_run=dry_run)
    if not dry_run:
        event = auditlog.from_capture(
            capture, auditlog.EventType.DENIED, outcome="denied", reason=f"admission.mode {mode}"
        )
        await auditlog.record_safely(
            deps.audit_log, [event], metrics=deps.metrics, wait=auditlog.WRITE_TIMEOUT
        )
    return denied(str(capture.request_uid or ""), message)


async def _judge_dry_run(
    req: dict[str, Any], uid: str, request: web.Request, now: datetime
) -> tuple[web.Response, str]:
    deps = request.app[DEPS]
    try:
        real: Any = {**req, "dryRun": False}
        judged = admission.decide(real, policy=deps.policy, now=now)
        if isinstance(judged, model.Capture):
            judged, refusal = await _policy(judged, request, now)
            if refusal is not None:
                return await _refuse(request, judged, refusal, dry_run=True), "denied"
    except Exception as exc:  # never deny because of our own bug
        log.warning("admission_dry_run_unjudged", error=str(exc) or type(exc).__name__)
    deps.metrics.skips.labels(ENDPOINT, "dry-run").inc()
    return allowed(uid), "skipped"


async def _session(
    req: dict[str, Any], uid: str, request: web.Request, now: datetime, started: float
) -> tuple[web.Response, str]:
    """A ``BreakglassSession`` write: the session rules, then the session in the journal
    before the answer (a session the journal does not hold would cover nothing)."""
    deps = request.app[DEPS]
    operation = str(req.get("operation") or "")
    user_info = req.get("userInfo")
    user = str(user_info.get("username") or "") if isinstance(user_info, dict) else ""
    obj, old = req.get("object"), req.get("oldObject")
    name = str(req.get("name") or "")
    stored = deps.sessions.get(name) if deps.sessions is not None else None
    if stored is None and operation != "CREATE" and name:
        stored = next((s for s in await deps.journal.sessions() if s.name == name), None)
    verdict = session_objects.admit(
        operation=operation,
        obj=obj if isinstance(obj, dict) else None,
        old=old if isinstance(old, dict) else None,
        user=user,
        stored=stored,
        now=now,
        max_duration=timedelta(hours=deps.settings.sessions.max_hours),
        dry_run=req.get("dryRun") is True,
        cluster=deps.settings.cluster,
    )
    if isinstance(verdict, session_objects.Refused):
        deps.metrics.sessions.labels(operation, "refused").inc()
        return denied(uid, f"breakglass: {verdict.message}"), "session-refused"
    session = verdict.session
    if session is None:
        deps.metrics.sessions.labels(operation, "allowed").inc()
        return allowed(uid), "session"
    try:
        await asyncio.wait_for(
            deps.journal.put_session(session),
            _left(started, deps.settings.admission.deadline_seconds),
        )
    except Exception as exc:
        deps.metrics.journal_errors.labels("put_session").inc()
        log.error("session_not_recorded", session=session.name, error=str(exc) or "timeout")
        return (
            denied(uid, "breakglass: could not record the session; try again in a moment"),
            "session-journal-error",
        )
    if deps.sessions is not None:
        deps.sessions.remember(session)
    deps.metrics.sessions.labels(operation, "recorded").inc()
    event = auditlog.Event(
        type=auditlog.EventType.SESSION,
        capture_id=session.name,
        cluster=session.cluster,
        actor=admission.actor_from_user(user_info),
        summary={
            "session": session.name,
            "reason": session.reason[:200],
            "namespaces": list(session.namespaces),
            "applications": list(session.applications),
            "members": list(session.members),
            "expires_at": model.format_time(session.expires_at),
        },
        outcome="closed" if session.closed_at is not None else "open",
    )
    await auditlog.record_safely(
        deps.audit_log,
        [event],
        metrics=deps.metrics,
        wait=min(auditlog.WRITE_TIMEOUT, _left(started, deps.settings.admission.deadline_seconds)),
    )
    structlog.contextvars.bind_contextvars(decision="session", session=session.name)
    return allowed(uid), "session"

"""``POST /audit``: the API server's audit-log webhook backend.

Authenticated by a bearer token (compared in constant time) or a verified client certificate.
Each batch is decided event by event by ``breakglass.capture.audit`` and applied to the journal
in one transaction; only then does the API server get its 200.  If the journal is down we answer
503, and the API server's batch backend retries the batch (for about 80 s by default), so
nothing is lost to a short outage.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Any

import orjson
import structlog
from aiohttp import web

from breakglass import auditlog, logs, model
from breakglass.capture import audit
from breakglass.capture.admission import Skip
from breakglass.capture.fields import Unusable
from breakglass.sessions import policy as session_policy
from breakglass.sessions.book import SessionBook
from breakglass.web.state import DEPS, instrumented, json_error, peer_verified

log = logs.get(__name__)
ENDPOINT = "audit"


def authorised(request: web.Request, token: str | None) -> bool:
    """A verified client certificate, or ``Authorization: Bearer <token>`` matching ours."""
    if peer_verified(request):
        return True
    if not token:
        return False
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


async def handle(request: web.Request) -> web.Response:
    return await instrumented(request, endpoint=ENDPOINT, event="audit_batch", inner=_handle)


async def _handle(request: web.Request) -> tuple[web.Response, str]:
    deps = request.app[DEPS]
    if not authorised(request, deps.audit_token):
        return json_error(401, "a bearer token or verified client certificate is required"), (
            "unauthorised"
        )
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, f"EventList larger than {deps.settings.max_body_bytes} bytes"), (
            "too-large"
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return json_error(400, f"body is not JSON: {exc}"), "bad-request"
    items: Any = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return json_error(400, "not an audit.k8s.io/v1 EventList: items is missing"), (
            "bad-request"
        )
    now = model.utcnow()
    outcomes: list[audit.Confirmation | audit.AuditCapture] = []
    skipped = unusable = 0
    for event in items:
        try:
            decision = audit.decide(event, policy=deps.policy, now=now)
        except Unusable as exc:
            unusable += 1
            deps.metrics.unusable.labels(ENDPOINT).inc()
            event_id = event.get("auditID") if isinstance(event, dict) else None
            log.error("audit_event_unusable", audit_id=event_id, error=str(exc))
            continue
        except Exception as exc:
            unusable += 1
            deps.metrics.unusable.labels(ENDPOINT).inc()
            log.exception("audit_event_bug", error=type(exc).__name__)
            continue
        if isinstance(decision, Skip):
            skipped += 1
            deps.metrics.skips.labels(ENDPOINT, decision.reason).inc()
        else:
            outcomes.append(decision)
    if (
        outcomes
        and deps.sessions is not None
        and any(isinstance(o, audit.AuditCapture) for o in outcomes)
    ):
        outcomes = [await _in_session(o, deps.sessions) for o in outcomes]
    if outcomes:
        try:
            result = await deps.journal.record_audit(outcomes, now=now)
        except Exception as exc:
            deps.metrics.journal_errors.labels("record_audit").inc()
            log.error("journal_audit_failed", error=str(exc), events=len(outcomes))
            return json_error(503, "journal unavailable; retry the batch"), "journal-error"
        if deps.wake_worker is not None and (result.confirmed or result.audit_only):
            deps.wake_worker()  # confirmed changes are ready to backfill now
        deps.metrics.confirmations.inc(result.confirmed)
        deps.metrics.audit_events.labels("confirmed").inc(result.confirmed)
        deps.metrics.audit_events.labels("audit_only").inc(result.audit_only)
        deps.metrics.audit_events.labels("duplicate").inc(result.duplicates)
        for item in outcomes:
            if isinstance(item, audit.AuditCapture):
                c = item.capture
                deps.metrics.captures.labels(
                    c.source.value, c.operation.value, c.object.kind, c.classification
                ).inc()
        events = [
            auditlog.from_capture(c, auditlog.EventType.CONFIRMATION)
            for c in result.confirmed_captures
        ] + [auditlog.from_capture(c, auditlog.EventType.CAPTURE) for c in result.created_captures]
        await auditlog.record_safely(deps.audit_log, events, metrics=deps.metrics)
        if result.orphaned_confirmations:
            log.warning(
                "audit_confirms_unknown_capture", capture_ids=result.orphaned_confirmations[:20]
            )
        structlog.contextvars.bind_contextvars(
            confirmed=result.confirmed, audit_only=result.audit_only, duplicates=result.duplicates
        )
    deps.metrics.audit_events.labels("skipped").inc(skipped)
    deps.metrics.audit_events.labels("unusable").inc(unusable)
    structlog.contextvars.bind_contextvars(events=len(items), skipped=skipped, unusable=unusable)
    return web.json_response({}), "ok"


async def _in_session(
    outcome: audit.Confirmation | audit.AuditCapture, book: SessionBook
) -> audit.Confirmation | audit.AuditCapture:
    """An audit-only capture with the session covering it, as admission would have had it."""
    if not isinstance(outcome, audit.AuditCapture):
        return outcome
    capture = outcome.capture
    try:
        session = session_policy.covering(await book.open_at(capture.received_at), capture)
    except Exception as exc:  # attribution is best effort: never lose the capture over it
        log.warning("audit_session_lookup_failed", error=str(exc) or type(exc).__name__)
        return outcome
    if session is None:
        return outcome
    return audit.AuditCapture(dataclasses.replace(capture, session=session.name))

"""``POST /validate``: the validating admission webhook.

The handler maps HTTP to the pure decision in ``breakglass.capture.admission`` and back.  Its
promises to the cluster: it answers in milliseconds, and always within
``admission.deadline_seconds``; it never denies (``observe`` mode); a capture is durable in the
journal *before* the answer leaves, or, past the deadline, the answer says it is not and the
audit event records the change under the capture's id; if anything of ours fails, the request
is still allowed and the failure is logged and counted.  Only a body that cannot be
parsed at all gets an HTTP error (400, or 413 when too large); the API server then applies
``failurePolicy: Ignore`` and lets the request through.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import structlog
from aiohttp import web

from breakglass import auditlog, logs, model
from breakglass.capture import admission, wire
from breakglass.capture.fields import Unusable
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

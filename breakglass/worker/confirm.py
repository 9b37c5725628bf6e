"""Stage 1 of a pass: confirm provisional captures against the live object.

A capture the webhook recorded is *provisional* until something shows the change was
persisted: its audit event (``/audit``), or here, once the grace period has passed, the live
object showing the change (``confirmed``) or not (``discarded``, after ``confirm_timeout``).
An audit confirmation that arrives meanwhile wins: the write is conditional on the capture
still being provisional.
"""

from __future__ import annotations

from typing import Any

from breakglass import delta as deltas
from breakglass import logs, model
from breakglass.auditlog import EventType
from breakglass.errors import PermanentError, TemporaryError
from breakglass.worker.context import Context, LostLeadership, PassSummary, ago

log = logs.get(__name__)


async def confirm_provisional(ctx: Context, summary: PassSummary) -> None:
    for capture in await ctx.captures_in("provisional"):
        if ctx.stopping():
            return
        try:
            await _confirm(ctx, capture, summary)
        except LostLeadership:
            raise
        except Exception as exc:  # a bug: say so loudly, and go on with the next capture
            ctx.metrics.worker_errors.labels("confirm").inc()
            log.exception("confirm_crashed", capture_id=capture.id, error=type(exc).__name__)


async def _confirm(ctx: Context, capture: model.Capture, summary: PassSummary) -> None:
    now = ctx.clock()
    if ago(capture.received_at, now) < ctx.settings.backfill.grace_seconds:
        return
    if ctx.cluster is None or capture.classification == model.OPAQUE:
        return  # only its audit event can confirm it
    try:
        verdict, reason = await _verify_live(ctx, capture)
    except TemporaryError as exc:
        log.warning("confirm_retry", capture_id=capture.id, error=str(exc))
        return
    except PermanentError as exc:
        log.error("confirm_failed", capture_id=capture.id, error=str(exc))
        return
    if verdict is None:
        if ago(capture.received_at, now) < ctx.settings.backfill.confirm_timeout:
            return
        verdict = False
    status = model.Status.CONFIRMED if verdict else model.Status.DISCARDED
    changes: dict[str, Any] = {"status": status, "reason": reason}
    if verdict:
        changes["confirmed_at"] = now
    else:
        changes["resolved_at"] = now
    # only while still provisional: an audit event that confirmed it meanwhile wins
    await ctx.fence()
    saved = await ctx.journal.update(capture.id, changes, expect_status=model.Status.PROVISIONAL)
    if saved is None or saved.status is not status:
        return
    if verdict:
        await ctx.record(saved, EventType.CONFIRMATION, reason=reason)
        summary.confirmed += 1
    else:
        await ctx.record(saved, EventType.DISCARD, reason=reason)
        ctx.metrics.backfills.labels("discarded").inc()
        summary.discarded += 1
    log.info("capture_checked", capture_id=capture.id, status=saved.status.value, reason=reason)


async def _verify_live(ctx: Context, capture: model.Capture) -> tuple[bool | None, str]:
    assert ctx.cluster is not None
    stripped = await ctx.comparable(capture.object)
    if capture.operation is model.Operation.DELETE:
        if stripped is None:
            return True, "the object is gone from the cluster"
        return False, "the object still exists: the delete did not happen"
    if stripped is None:
        return False, "the object does not exist: the change was not persisted"
    before, after = capture.delta.before or {}, capture.delta.after or {}
    if deltas.holds(stripped, before, after):
        return True, "the live object shows the change"
    return (
        False,
        "the live object does not show the change: it was rejected after "
        "admission or changed again since",
    )

"""The worker under conditions a demo never shows: writes racing with the audit webhook."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog

from breakglass import model
from breakglass.capture.audit import Confirmation
from breakglass.errors import RateLimited
from breakglass.worker import LostLeadership, PassSummary
from tests import payloads as p
from tests.backfill.conftest import edit_review, git


class ConfirmingJournal:
    """A journal where the audit event of ``capture_id`` arrives just before the worker's
    first write of it, as it does when /audit answers in the middle of a pass."""

    def __init__(self, inner: Any, capture_id: str) -> None:
        self.inner = inner
        self.capture_id = capture_id
        self.confirmed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def update(self, capture_id: str, changes: Any, **options: Any) -> Any:
        if capture_id == self.capture_id and not self.confirmed:
            self.confirmed = True
            current = await self.inner.get(capture_id)
            await self.inner.record_audit(
                [
                    Confirmation(
                        capture_id=capture_id,
                        audit_id="audit-during-pass",
                        actor=dataclasses.replace(current.actor, user_agent="kubectl/v1.36.3"),
                        patch={"spec": {"replicas": 6}},
                        patch_type="merge",
                        at=model.utcnow(),
                    )
                ],
                now=model.utcnow(),
            )
        return await self.inner.update(capture_id, changes, **options)


async def test_an_audit_confirmation_during_a_pass_is_not_lost(env):
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    env.worker.journal = ConfirmingJournal(env.journal, c.id)
    await env.worker.run_once()
    assert env.worker.journal.confirmed
    stored = await env.status(c.id)
    assert stored.status is model.Status.PR_OPEN
    assert stored.audit_id == "audit-during-pass"
    assert stored.delta.patch == {"spec": {"replicas": 6}}
    assert stored.actor.user_agent == "kubectl/v1.36.3"


class Clock:
    """Time the test moves by hand."""

    def __init__(self) -> None:
        self.now = model.utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class RateLimitedForge:
    """A forge that answers every call with a rate limit until ``until`` (by ``clock``)."""

    def __init__(self, inner: Any, clock: Clock, until: datetime) -> None:
        self.inner, self.clock, self.until = inner, clock, until
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.clock() < self.until:
                self.refused += 1
                wait = (self.until - self.clock()).total_seconds()
                raise RateLimited("API rate limit exceeded", delay=wait)
            return await attr(*args, **kwargs)

        return call


def rate_limited(env: Any, clock: Clock, minutes: float) -> RateLimitedForge:
    forge = env.settings.forge("local")
    inner = env.worker.provider(forge, str(env.remote))
    wrapped = RateLimitedForge(inner, clock, clock() + timedelta(minutes=minutes))
    env.worker.providers[f"{forge.name}|{env.remote}"] = wrapped
    env.worker.clock = clock
    return wrapped


async def test_a_40_minute_rate_limit_is_waited_out_and_every_capture_becomes_a_pr(env):
    clock = Clock()
    forge = rate_limited(env, clock, minutes=40)
    first = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    second = await env.capture(
        p.review(
            operation="UPDATE",
            obj=p.configmap(data={"FEATURE_X": "on", "TIMEOUT": "30"}),
            old=p.configmap(),
        )
    )
    summary = await env.worker.run_once()
    assert summary.retried == 2
    refused = forge.refused
    started = clock.now
    for minutes in (1, 5, 10, 20, 30, 39):  # the worker passes on, for 39 minutes
        clock.now = started + timedelta(minutes=minutes)
        await env.worker.run_once()
    assert forge.refused == refused  # it waited for the reset instead of asking again
    for c in (first, second):
        stored = await env.status(c.id)
        assert stored.status is model.Status.CONFIRMED
        assert stored.attempts == 1
        assert stored.next_attempt_at is not None
        assert stored.next_attempt_at >= forge.until
    clock.now = forge.until + timedelta(seconds=1)
    summary = await env.worker.run_once()
    assert summary.backfilled == 2
    for c in (first, second):
        assert (await env.status(c.id)).status is model.Status.PR_OPEN
    assert len(env.records()) == 2


async def test_a_capture_fails_only_after_the_retry_deadline(env):
    clock = Clock()
    rate_limited(env, clock, minutes=60 * 48)
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    for _ in range(30):  # many attempts within the day: none of them fails the capture
        await env.worker.run_once()
        stored = await env.status(c.id)
        assert stored.status is model.Status.CONFIRMED
        clock.now = max(clock.now, stored.next_attempt_at or clock.now) + timedelta(minutes=30)
        if clock.now - stored.received_at > timedelta(hours=23):
            break
    clock.now = stored.received_at + timedelta(hours=24, minutes=1)
    await env.worker.run_once()
    stored = await env.status(c.id)
    assert stored.status is model.Status.FAILED
    assert stored.reason is not None and "gave up after" in stored.reason
    assert "over 24.0 h" in stored.reason


async def test_a_crash_on_one_object_does_not_stop_the_others(env, monkeypatch):
    from breakglass.gitops import engine

    real = engine.backfill

    def backfill(idx, old, new, **kw):
        if (new or old)["kind"] == "Deployment":
            raise KeyError("spec")  # a bug in the engine, say
        return real(idx, old, new, **kw)

    monkeypatch.setattr(engine, "backfill", backfill)
    broken = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    fine = await env.capture(
        p.review(
            operation="UPDATE",
            obj=p.configmap(data={"FEATURE_X": "on", "TIMEOUT": "30"}),
            old=p.configmap(),
        )
    )
    with structlog.testing.capture_logs() as logs:
        summary = await env.worker.run_once()
    assert summary.backfilled == 1
    assert (await env.status(fine.id)).status is model.Status.PR_OPEN
    stored = await env.status(broken.id)
    assert stored.status is model.Status.CONFIRMED  # retried later, not lost
    assert stored.attempts == 1 and "internal error KeyError" in (stored.reason or "")
    [crash] = [e for e in logs if e["event"] == "backfill_crashed"]
    assert crash["log_level"] == "error" and crash["exc_info"] is True
    assert env.metrics.worker_errors.labels("backfill")._value.get() == 1


async def test_a_backlog_larger_than_a_page_is_worked_oldest_first(env, monkeypatch):
    from breakglass.worker import context

    monkeypatch.setattr(context, "PAGE", 2)
    ids = []
    for n in range(5):
        c = await env.capture(
            p.review(
                operation="UPDATE",
                obj=p.deployment(name=f"svc-{n}", replicas=3),
                old=p.deployment(name=f"svc-{n}"),
            )
        )
        ids.append(c.id)
    pending = await env.worker.captures_in("confirmed")
    # ids sort by the time they were made (within a millisecond, by their random part)
    assert [c.id for c in pending] == sorted(ids)


async def test_an_audit_confirmation_beats_a_late_discard(tmp_path, remote):
    """The worker found the live object without the change and is about to discard the
    capture, but its audit event confirmed it meanwhile: the capture stays confirmed."""
    from tests.backfill.conftest import FakeCluster, build_env

    cluster = FakeCluster()  # the object is gone: the worker would discard
    async for env in build_env(tmp_path, remote, cluster=cluster):
        c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)), confirmed=False)
        env.worker.journal = ConfirmingJournal(env.journal, c.id)
        clock = Clock()
        clock.advance(seconds=5)  # past the grace period
        env.worker.clock = clock
        await env.worker.confirm_provisional(PassSummary())
        assert env.worker.journal.confirmed
        stored = await env.status(c.id)
        assert stored.status is model.Status.CONFIRMED
        assert stored.audit_id == "audit-during-pass"


async def test_one_log_line_per_capture_handled_with_its_outcome(env):
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    with structlog.testing.capture_logs() as logs:
        await env.worker.run_once()
    [line] = [e for e in logs if e["event"] == "capture_handled"]
    assert line["capture_id"] == c.id
    assert line["object"] == "deployment payments/checkout"
    assert line["outcome"] == "pr_open" and line["pr_url"]


class TermJournal:
    """The real journal, whose leadership answers ``terms`` in turn (then the last one)."""

    def __init__(self, inner: Any, terms: list[int]) -> None:
        self.inner, self.terms = inner, terms

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def leadership(self) -> int:
        return self.terms.pop(0) if len(self.terms) > 1 else self.terms[0]


async def test_a_leader_that_lost_its_term_writes_nothing(env):
    """The pass began in term 1; by its first write this process leads in term 2 (it lost
    its database session and took the lock again; another replica may have worked meanwhile):
    it stops before pushing, opening a PR or writing the journal."""
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    env.worker.journal = TermJournal(env.journal, [2])
    env.worker.term = 1
    with pytest.raises(LostLeadership):
        await env.worker.run_once()
    assert env.records() == []
    assert git("branch", "--list", "breakglass/*", cwd=env.remote).strip() == ""
    stored = await env.status(c.id)
    assert stored.status is model.Status.CONFIRMED and stored.attempts == 0
    # in its own term, the same pass does the work
    env.worker.term = 2
    await env.worker.run_once()
    assert (await env.status(c.id)).status is model.Status.PR_OPEN


async def test_the_loop_stands_by_when_a_pass_loses_leadership(env):
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    stop = asyncio.Event()
    # leads in term 1 for the loop's check, then answers 0 (another replica) at the write
    env.worker.journal = TermJournal(env.journal, [1, 0])

    async def stop_soon() -> None:
        await asyncio.sleep(0.3)
        stop.set()

    with structlog.testing.capture_logs() as logs:
        await asyncio.gather(env.worker.run(stop), stop_soon())
    assert any(e["event"] == "worker_lost_leadership" for e in logs)
    assert env.records() == []

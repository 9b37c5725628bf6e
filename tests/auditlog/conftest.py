"""Fixtures for the audit log tests: a key, a log directory, and captures to record."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breakglass import model
from breakglass.auditlog import AuditLog, Event, EventType, from_capture
from breakglass.capture import admission
from tests import payloads as p
from tests.server.conftest import ca, cert_files  # noqa: F401 - fixtures for server tests

KEY = b"audit-log-test-key-0123456789abcdef"


class Clock:
    """A settable clock, so rotation by day is testable."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 26, 2, 14, 7, tzinfo=UTC))


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "audit"


@pytest.fixture
async def audit_log(log_dir: Path, clock: Clock) -> AsyncIterator[AuditLog]:
    log = AuditLog(log_dir, key=KEY, clock=clock)
    await log.open()
    try:
        yield log
    finally:
        await log.close()


def capture_of(policy, now, *, user=p.ALICE, namespace="payments", replicas=5) -> model.Capture:
    review = p.review(
        operation="UPDATE",
        obj=p.edited(
            p.deployment(namespace=namespace), lambda o: o["spec"].update(replicas=replicas)
        ),
        old=p.deployment(namespace=namespace),
        user=user,
    )
    decision = admission.decide(review["request"], policy=policy, now=now)
    assert isinstance(decision, model.Capture)
    return decision


@pytest.fixture
def make_event(policy, now) -> Callable[..., Event]:
    def make(type: EventType = EventType.CAPTURE, **kw) -> Event:
        return from_capture(capture_of(policy, now, **kw), type)

    return make


async def fill(log: AuditLog, count: int, make_event: Callable[..., Event]) -> list[dict]:
    return [await log.append(make_event()) for _ in range(count)]

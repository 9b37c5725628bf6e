"""forge.retry: backoff with full jitter, delay floors, limits, pacing, and the fakes' thread mode."""

from __future__ import annotations

import itertools
import random
import threading
import time
from pathlib import Path

import pytest
import requests
import structlog

from breakglass import errors
from breakglass.forge import retry
from tests.fakes.github import FakeGitHub

QUICK = retry.RetryPolicy(attempts=5, base=0.01, cap=0.02, deadline=5.0)


class Flaky:
    """Fails with the given errors in turn, then answers; records call times and threads."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.times: list[float] = []
        self.threads: list[int] = []

    def __call__(self, value: str) -> str:
        self.times.append(time.monotonic())
        self.threads.append(threading.get_ident())
        if self.failures:
            raise self.failures.pop(0)
        return value


async def test_runs_off_the_event_loop() -> None:
    fn = Flaky()
    assert await retry.call(fn, "ok", policy=QUICK) == "ok"
    assert fn.threads == [t for t in fn.threads if t != threading.get_ident()]


async def test_temporary_errors_are_retried() -> None:
    fn = Flaky(errors.TemporaryError("502", delay=0), errors.TemporaryError("timeout", delay=0))
    with structlog.testing.capture_logs() as logs:
        assert await retry.call(fn, "ok", policy=QUICK, what="list pulls") == "ok"
    assert len(fn.times) == 3
    assert [e["event"] for e in logs] == ["forge.retry", "forge.retry"]
    assert logs[0]["what"] == "list pulls" and logs[0]["attempt"] == 1


async def test_delay_is_a_floor() -> None:
    fn = Flaky(errors.RateLimited("slow down", delay=0.3))
    await retry.call(fn, "ok", policy=QUICK)
    assert fn.times[1] - fn.times[0] >= 0.3


async def test_permanent_and_unexpected_errors_propagate_at_once() -> None:
    fn = Flaky(errors.PermanentError("no permission"))
    with pytest.raises(errors.PermanentError):
        await retry.call(fn, "x", policy=QUICK)
    assert len(fn.times) == 1
    fn = Flaky(ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        await retry.call(fn, "x", policy=QUICK)
    assert len(fn.times) == 1


async def test_gives_up_after_attempts() -> None:
    fn = Flaky(*[errors.TemporaryError("502", delay=0) for _ in range(10)])
    with pytest.raises(errors.TemporaryError):
        await retry.call(fn, "x", policy=QUICK)
    assert len(fn.times) == QUICK.attempts


async def test_deadline_hands_a_long_wait_back() -> None:
    fn = Flaky(errors.RateLimited("come back in an hour", delay=3600))
    started = time.monotonic()
    with pytest.raises(errors.RateLimited) as info:
        await retry.call(fn, "x", policy=QUICK)
    assert info.value.delay == 3600 and time.monotonic() - started < 1
    assert len(fn.times) == 1


def test_backoff_is_full_jitter_capped() -> None:
    policy = retry.RetryPolicy(base=1.0, cap=8.0)
    rng = random.Random(7)
    for attempt in range(1, 10):
        ceiling = min(8.0, 2 ** (attempt - 1))
        waits = [policy.backoff(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling / 2  # spread over the whole range, not a fixed step
    assert policy.backoff(1, floor=5.0, rng=rng) >= 5.0


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="attempts"):
        retry.RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="pacing"):
        retry.Pacer(-1)


async def test_pacer_spaces_callers() -> None:
    import asyncio

    pacer = retry.Pacer(0.1)
    stamps: list[float] = []

    async def write() -> None:
        await pacer.wait()
        stamps.append(time.monotonic())

    await asyncio.gather(*(write() for _ in range(4)))
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(g >= 0.1 for g in gaps), gaps


async def test_pacer_zero_is_free() -> None:
    pacer = retry.Pacer(0)
    started = time.monotonic()
    for _ in range(100):
        await pacer.wait()
    assert time.monotonic() - started < 0.05


def test_fake_serves_from_a_thread(tmp_path: Path) -> None:
    """Synchronous callers (a worker run in a subprocess-like setting) use the thread mode."""
    fake = FakeGitHub(tmp_path, token="t0ken")
    origin = fake.start_in_thread()
    try:
        answer = requests.get(
            f"{origin}/repos/acme/gitops", headers={"Authorization": "token t0ken"}, timeout=5
        )
        assert answer.status_code == 200
        assert answer.json()["clone_url"] == str(fake.repo.path)
        assert fake.calls("GET") and fake.requests[0].status == 200
    finally:
        fake.stop_thread()

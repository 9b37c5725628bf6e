"""One retry layer for forge calls, so backoff and rate limits are handled the same everywhere.

The forge SDKs (PyGithub, python-gitlab) are synchronous and each ships its own retry logic.
Providers switch those off and run every SDK request through ``call``, which

- runs the request in a worker thread (``asyncio.to_thread``), so the event loop that also
  answers admission webhooks never blocks on a slow forge;
- retries ``TemporaryError`` (and so ``RateLimited``) with exponential backoff and full jitter,
  never sooner than the exception's ``delay`` (a ``Retry-After`` window is a floor, not a hint);
- gives up after ``RetryPolicy.attempts`` tries or once the next wait would pass
  ``RetryPolicy.deadline``, re-raising the last ``TemporaryError`` so the worker can reschedule
  the whole backfill with that error's ``delay``;
- lets ``PermanentError`` and anything unexpected through at once.

``Pacer`` spaces out the requests that create or change content: GitHub's secondary rate
limits punish bursts of writes and its guidance is to wait about a second between them.  One
pacer per provider instance; ``interval=0`` turns it off (tests).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, TypeVarTuple

from breakglass import errors, logs

log = logs.get(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard ``call`` tries before handing a temporary failure back to its caller.

    ``base`` and ``cap`` shape the backoff: before retry *n* (1-based) ``call`` waits a random
    time in ``[0, min(cap, base * 2**(n-1))]`` but never less than the error's ``delay``.
    ``deadline`` bounds the total time spent in one ``call``, waits included.
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    deadline: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base < 0 or self.cap < 0 or self.deadline < 0:
            raise ValueError("RetryPolicy times must not be negative")

    def backoff(self, retry: int, *, floor: float = 0.0, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry`` (1-based): full jitter, at least ``floor``."""
        ceiling = min(self.cap, self.base * (2 ** max(0, retry - 1)))
        jitter = (rng or _rng).uniform(0.0, ceiling)
        return max(floor, jitter)


DEFAULT_POLICY = RetryPolicy()

# Jitter is not security-sensitive; a module-level generator keeps tests able to seed it.
_rng = random.Random()  # noqa: S311


class Pacer:
    """Keeps write requests at least ``interval`` seconds apart, across tasks of one provider."""

    def __init__(self, interval: float = 1.0) -> None:
        if interval < 0:
            raise ValueError("pacing interval must not be negative")
        self.interval = interval
        self._next = 0.0
        self._lock: asyncio.Lock | None = None

    async def wait(self) -> None:
        """Return once a write may be sent; reserves the next slot for the caller."""
        if self.interval <= 0:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = time.monotonic()
            if now < self._next:
                await _sleep_at_least(self._next - now)
                now = time.monotonic()
            self._next = now + self.interval


async def call(
    fn: Callable[[*Ts], T],
    *args: *Ts,
    policy: RetryPolicy = DEFAULT_POLICY,
    what: str = "forge request",
    pacer: Pacer | None = None,
) -> T:
    """Run the synchronous ``fn(*args)`` in a thread, retrying temporary failures.

    ``what`` names the request in log lines ("create pull request").  With a ``pacer`` every
    attempt (retries too) waits for its slot first, because every attempt is a write.
    """
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        if pacer is not None:
            await pacer.wait()
        try:
            return await asyncio.to_thread(fn, *args)
        except errors.TemporaryError as exc:
            if attempt >= policy.attempts:
                log.warning("forge.retry.exhausted", what=what, attempts=attempt, error=str(exc))
                raise
            wait = policy.backoff(attempt, floor=max(0.0, exc.delay))
            elapsed = time.monotonic() - started
            if elapsed + wait > policy.deadline:
                log.warning(
                    "forge.retry.deadline",
                    what=what,
                    attempts=attempt,
                    elapsed=round(elapsed, 3),
                    wait=round(wait, 3),
                    error=str(exc),
                )
                raise
            log.info(
                "forge.retry",
                what=what,
                attempt=attempt,
                wait=round(wait, 3),
                rate_limited=isinstance(exc, errors.RateLimited),
                error=str(exc),
            )
            await _sleep_at_least(wait)


async def _sleep_at_least(seconds: float) -> None:
    """``asyncio.sleep`` may wake a clock tick early; a rate-limit window must not be cut."""
    until = time.monotonic() + seconds
    await asyncio.sleep(seconds)
    left = until - time.monotonic()
    if left > 0:
        await asyncio.sleep(left + 0.002)

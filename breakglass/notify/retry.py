"""When to try a notification again, and when to give it up.

Pure.  A response is *delivered* (2xx), worth *retrying* (no response at all, 408, 425, 429,
5xx) or *refused* (any other status: a deleted Slack webhook answers 404, a malformed message
400; trying again would not help).  Waits grow exponentially with *full jitter* (a random
time between 0 and ``base * 2**(attempt-1)``, at most ``cap``), so many workers retrying at
once do not arrive together; a ``Retry-After`` the destination sent (with 429 or 503) is a
floor under the wait.  A message is given up after ``max_attempts`` attempts, or when the next
wait would take it past ``give_up_seconds`` since its first attempt.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

#: statuses worth another attempt besides 5xx
_RETRYABLE: Final = frozenset({408, 425, 429})


class Verdict(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REFUSED = "refused"


def verdict(status: int | None) -> Verdict:
    """What a response status (``None``: no response) means for the message."""
    if status is None or status in _RETRYABLE or 500 <= status <= 599:
        return Verdict.RETRY
    if 200 <= status <= 299:
        return Verdict.DELIVERED
    return Verdict.REFUSED


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date), or
    ``None`` when there is none or it cannot be read."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


@dataclass(frozen=True)
class Limits:
    """How long one message is tried."""

    max_attempts: int
    give_up_seconds: float
    base: float = 1.0
    cap: float = 60.0


def backoff(attempt: int, limits: Limits, random: Callable[[], float]) -> float:
    """Full jitter after attempt number ``attempt`` (1 for the first)."""
    ceiling = min(limits.cap, limits.base * 2.0 ** max(attempt - 1, 0))
    return random() * ceiling


def next_wait(
    attempt: int,
    *,
    elapsed: float,
    asked: float | None,
    limits: Limits,
    random: Callable[[], float],
) -> float | None:
    """Seconds to wait before the next attempt, or ``None``: give up.

    ``attempt`` attempts were made, the first ``elapsed`` seconds ago; ``asked`` is what the
    destination's ``Retry-After`` asked for, if anything.
    """
    if attempt >= limits.max_attempts:
        return None
    wait = backoff(attempt, limits, random)
    if asked is not None:
        wait = max(wait, asked)
    if elapsed + wait > limits.give_up_seconds:
        return None
    return wait

"""The drift metrics' feed: every ``metrics.drift_refresh_seconds`` the worker process reads the
journal and hands ``driftstats.compute``'s numbers to ``metrics.DriftCollector``.

Every worker process does it, leading or standing by: the numbers come from the shared journal,
so replicas agree and a restart loses nothing.  A failed read keeps the last snapshot (the
refresh timestamp then stops moving) and is logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime

from breakglass import driftstats, logs, model
from breakglass.journal import Journal, every_capture
from breakglass.metrics import Metrics

log = logs.get(__name__)


async def refresh(
    journal: Journal, metrics: Metrics, *, clock: Callable[[], datetime] = model.utcnow
) -> driftstats.DriftStats:
    """One snapshot: read every capture, compute, publish."""
    started = time.monotonic()
    captures = await every_capture(journal)
    now = clock()
    stats = driftstats.compute(captures, now=now)
    stats.sessions_open = sum(1 for s in await journal.sessions(ended_after=now) if s.is_open(now))
    metrics.drift.stats = stats
    metrics.drift.refreshed = time.time()
    log.debug(
        "drift_metrics_refreshed",
        captures=len(captures),
        seconds=round(time.monotonic() - started, 3),
    )
    return stats


async def keep_fresh(
    journal: Journal, metrics: Metrics, *, every: float, stop: asyncio.Event
) -> None:
    """Refresh until ``stop`` is set."""
    while not stop.is_set():
        try:
            await refresh(journal, metrics)
        except Exception as exc:  # keep the last numbers; say why they are old
            metrics.worker_errors.labels("drift_metrics").inc()
            log.exception("drift_metrics_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)

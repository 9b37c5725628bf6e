"""The sessions the webhook consults: the journal's, kept in memory between short refreshes.

A session written through this replica is known at once (``remember``); one written through
another replica is known within ``sessions.refresh_seconds``.  A refresh that cannot reach the
journal in time keeps the sessions known so far: the webhook never waits on it for long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

from breakglass import logs, model
from breakglass.journal import Journal

log = logs.get(__name__)

#: the longest one refresh may hold up a request
REFRESH_TIMEOUT = 0.25


class SessionBook:
    def __init__(
        self,
        journal: Journal,
        *,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.journal = journal
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._known: dict[str, model.Session] = {}
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    def remember(self, session: model.Session) -> None:
        self._known[session.name] = session

    def get(self, name: str) -> model.Session | None:
        return self._known.get(name)

    async def open_at(self, at: datetime) -> list[model.Session]:
        """The sessions open at ``at``, refreshed from the journal when stale."""
        if self._read_at is None or self.clock() - self._read_at >= self.refresh_seconds:
            async with self._lock:
                if self._read_at is None or self.clock() - self._read_at >= self.refresh_seconds:
                    await self._refresh(at)
        return [s for s in self._known.values() if s.is_open(at)]

    async def _refresh(self, at: datetime) -> None:
        try:
            found = await asyncio.wait_for(
                self.journal.sessions(ended_after=at), timeout=REFRESH_TIMEOUT
            )
        except Exception as exc:  # a slow or failing journal: keep what is known
            log.warning("sessions_refresh_failed", error=str(exc) or type(exc).__name__)
            self._read_at = self.clock()
            return
        self._known = {name: s for name, s in self._known.items() if s.ends_at > at} | {
            s.name: s for s in found
        }
        self._read_at = self.clock()

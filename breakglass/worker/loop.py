"""The backfill worker: passes of confirm → backfill → track (→ scan, when due), while this
process leads.

``Worker`` is the ``Context`` that runs the stages in order (``run_once``) and repeats them
every ``backfill.interval`` seconds, or at once when woken (``run``).  A pass runs only while
the journal says this process leads (``Journal.leadership``); the term it began in fences every
write, and only a lost leadership is standby: any other exception is an error, logged with
its traceback and counted, and the worker goes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING

from breakglass import logs
from breakglass.worker import (
    announce,
    apply,
    confirm,
    pausing,
    scanning,
    terraforming,
    tracking,
)
from breakglass.worker.context import Context, LostLeadership, PassSummary, ago

if TYPE_CHECKING:
    pass

log = logs.get(__name__)


class Worker(Context):
    """Runs backfill passes; its dependencies are the ``Context``'s, so tests can fake each."""

    #: the journal could not say who leads at the last check (logged once, until it answers)
    _leadership_failing = False

    async def confirm_provisional(self, summary: PassSummary) -> None:
        await confirm.confirm_provisional(self, summary)

    async def backfill_confirmed(self, summary: PassSummary) -> None:
        await apply.backfill_confirmed(self, summary)

    async def track_pull_requests(self, summary: PassSummary) -> None:
        await tracking.track_pull_requests(self, summary)

    async def scan_if_due(self, summary: PassSummary) -> None:
        await scanning.scan_if_due(self, summary)

    async def terraform_if_due(self, summary: PassSummary) -> None:
        await terraforming.terraform_if_due(self, summary)

    async def pause_and_restore(self, summary: PassSummary) -> None:
        await pausing.pause_and_restore(self, summary)

    async def announce_sessions(self, summary: PassSummary) -> None:
        await announce.announce_sessions(self, summary)

    async def run_once(self, *, poll: bool = True) -> PassSummary:
        summary = PassSummary()
        try:  # first: a worker back after a deadline puts self-heal back at once
            await self.pause_and_restore(summary)
        except LostLeadership:
            raise
        except Exception as exc:  # a pause problem never holds up the backfill
            self.metrics.worker_errors.labels("pause").inc()
            log.exception("self_heal_stage_failed", error=type(exc).__name__)
        await self.confirm_provisional(summary)
        await self.backfill_confirmed(summary)
        now = self.clock()
        if poll and ago(self.last_poll, now) >= self.settings.backfill.pr_poll_interval:
            await self.track_pull_requests(summary)
            self.last_poll = now
        await self.scan_if_due(summary)
        try:
            await self.terraform_if_due(summary)
        except LostLeadership:
            raise
        except Exception as exc:  # starting a Terraform scan never fails a pass
            self.metrics.worker_errors.labels("terraform").inc()
            log.exception("terraform_stage_failed", error=type(exc).__name__)
        try:
            await self.announce_sessions(summary)
        except Exception as exc:  # a notification problem never fails a pass
            self.metrics.worker_errors.labels("announce").inc()
            log.exception("session_announce_failed", error=type(exc).__name__)
        return summary

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Passes every ``backfill.interval`` seconds until ``stop`` is set; setting ``wake``
        (the audit webhook does when a change is confirmed) starts the next pass at once.

        A pass runs only while the journal says this process leads (``Journal.leadership``:
        replicas sharing a journal elect one worker); the others ask again every interval.
        """
        log.info("worker_started", interval=self.settings.backfill.interval)
        self.stop = stop
        wake = wake if wake is not None else asyncio.Event()
        leading: bool | None = None
        while not stop.is_set():
            wake.clear()
            leading = await self._leadership(leading)
            try:
                if leading:
                    summary = await self.run_once()
                    self.metrics.worker_last_pass.set(time.time())
                    if summary.total():
                        log.info("backfill_pass", **dataclasses.asdict(summary))
            except LostLeadership as exc:
                # another replica leads now: this pass stopped before its next write
                log.warning("worker_lost_leadership", journal=self.journal.url, error=str(exc))
                leading = False
            except Exception as exc:  # one bad pass must not end the worker
                self.metrics.worker_errors.labels("pass").inc()
                log.exception("backfill_pass_failed", error=type(exc).__name__)
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            try:
                await asyncio.wait(
                    waiters,
                    timeout=self.settings.backfill.interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
        await terraforming.stop_terraform(self)

    async def _ensure_audit_log(self) -> None:
        log_ = self.audit_log
        if self.open_audit_log is not None and log_ is not None and not log_.is_open:
            await self.open_audit_log()

    async def _leadership(self, was: bool | None) -> bool:
        """Whether this process runs the next pass; logged only when that changes.

        Another replica holding the lock is standby, said at info.  A journal that cannot
        answer is an error: logged with its traceback when it starts failing, counted every
        time, and this process stands by until the journal answers again.
        """
        try:
            now = await self.journal.leadership()
        except Exception as exc:
            self.metrics.worker_errors.labels("leadership").inc()
            self.metrics.worker_leading.set(0)
            if was is not False or not self._leadership_failing:
                log.exception("worker_leadership_failed", journal=self.journal.url, error=str(exc))
            self._leadership_failing = True
            return False
        if self._leadership_failing:
            self._leadership_failing = False
            was = None  # say where this process stands again
        self.term = now  # the term this pass runs in: every write is fenced with it
        self.metrics.worker_leading.set(1 if now else 0)
        if now and was is not True:
            log.info("worker_leading", journal=self.journal.url)
            await self._ensure_audit_log()
        elif not now and was is not False:
            log.info(
                "worker_standby",
                journal=self.journal.url,
                reason="another replica holds the worker lock",
            )
        return bool(now)

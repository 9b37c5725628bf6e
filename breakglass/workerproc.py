"""The backfill worker as a child process of ``breakglass serve``, kept running and woken.

Why a process of its own: the worker builds GitOps indexes of large repositories and runs the
YAML engine, which hold the GIL for seconds; in the webhook's process that time is added to
admission latency.  In its own process (at a lower CPU priority, ``backfill.nice``) it competes
with admission only for cores, and the kernel gives the webhook the core first.

``WorkerProcess`` runs ``python -m breakglass worker --config FILE --parent-pid PID``, the
command an operator would run, with the same environment (secrets come from variables), and:

- **wakes** it (``SIGUSR1``) when the audit webhook confirms changes, so a pass starts at once
  instead of at the next ``backfill.interval``;
- **restarts** it when it exits, after 1 s, doubling to at most 60 s while it keeps failing
  (a worker that ran a minute starts over at 1 s); each restart is logged and counted;
- **stops** it with ``SIGTERM`` on shutdown, and ``SIGKILL`` after ``stop_timeout``.  The
  child also stops by itself when its parent is gone (``--parent-pid``), so a ``serve`` killed
  with SIGKILL leaves no worker behind.

The deploy manifests run the worker as a container of its own instead (``serve --worker
none``); both share the journal, and each process writes its own audit-log chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Final

from breakglass import logs
from breakglass.metrics import Metrics

log = logs.get(__name__)

#: restart delays: the first, and the most it grows to while the worker keeps failing
FIRST_DELAY: Final = 1.0
MAX_DELAY: Final = 60.0
#: a worker that ran this long counts as healthy: its next restart waits FIRST_DELAY again
HEALTHY_AFTER: Final = 60.0


class WorkerProcess:
    """One supervised worker child; ``start`` once, ``wake`` any time, ``stop`` once."""

    def __init__(
        self,
        config: Path,
        *,
        metrics: Metrics,
        command: tuple[str, ...] = (sys.executable, "-m", "breakglass", "worker"),
        stop_timeout: float = 20.0,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.command = command
        self.stop_timeout = stop_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()  # set once the first child is running (tests wait on it)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    def wake(self) -> None:
        """Ask the worker for a pass now; a no-op while it is not running."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR1)

    async def stop(self) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                log.error(
                    "worker_process_killed",
                    pid=proc.pid,
                    hint=f"it did not stop within {self.stop_timeout:.0f} s of SIGTERM; the "
                    "captures it held stay in the journal and the next worker resumes them",
                )
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            await self._task
        self.metrics.worker_up.set(0)

    async def _supervise(self) -> None:
        delay = FIRST_DELAY
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self.command,
                    "--config",
                    str(self.config),
                    "--parent-pid",
                    str(os.getpid()),
                )
            except OSError as exc:
                log.error("worker_process_failed_to_start", error=str(exc), command=self.command)
            else:
                self.metrics.worker_up.set(1)
                self.started.set()
                log.info("worker_process_started", pid=self._proc.pid)
                code = await self._proc.wait()
                self.metrics.worker_up.set(0)
                if self._stopping.is_set():
                    return
                log.error(
                    "worker_process_exited",
                    pid=self._proc.pid,
                    code=code,
                    restart_in=delay,
                    hint="its own log lines above say why; the webhooks go on capturing, and "
                    "the captures wait in the journal for the restarted worker",
                )
            if time.monotonic() - began >= HEALTHY_AFTER:
                delay = FIRST_DELAY
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            self.metrics.worker_restarts.inc()
            delay = min(delay * 2, MAX_DELAY)

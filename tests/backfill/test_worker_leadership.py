"""The worker loop runs a pass only while the journal says this replica leads, asks again every
interval, and logs once each time leadership changes (PostgreSQL's lock is tested for real in
``tests/journal/test_postgresql.py``)."""

from __future__ import annotations

import asyncio

import structlog

from breakglass import settings
from breakglass.errors import JournalInterrupted
from breakglass.metrics import Metrics
from breakglass.worker import PassSummary, Worker


class ScriptedJournal:
    """Only what ``Worker.run`` asks of a journal when its passes are stubbed out."""

    url = "postgresql://breakglass@db.example/breakglass"

    def __init__(self, answers: list[bool | Exception], stop: asyncio.Event) -> None:
        self.answers = answers
        self.stop = stop

    async def leadership(self) -> bool:
        answer = self.answers.pop(0)
        if not self.answers:
            self.stop.set()
        if isinstance(answer, Exception):
            raise answer
        return answer


async def run_with(tmp_path, answers: list[bool | Exception]) -> tuple[int, list[dict], Metrics]:
    conf = settings.from_mapping({"backfill": {"interval": 0.001}}, source="test", base=tmp_path)
    stop = asyncio.Event()
    worker = Worker(settings=conf, journal=ScriptedJournal(answers, stop), metrics=Metrics())
    passes = 0

    async def run_once(*, poll: bool = True) -> PassSummary:
        nonlocal passes
        passes += 1
        return PassSummary()

    worker.run_once = run_once  # type: ignore[method-assign]
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(worker.run(stop), timeout=10)
    events = ("worker_leading", "worker_standby", "worker_leadership_failed")
    return passes, [e for e in logs if e["event"] in events], worker.metrics


async def test_passes_only_while_leading_and_one_log_line_per_change(tmp_path):
    gone = JournalInterrupted("journal postgresql://…: worker lock: server closed the connection")
    passes, logs, metrics = await run_with(
        tmp_path, [False, False, True, True, True, gone, gone, False, True, True]
    )
    assert passes == 5
    assert [e["event"] for e in logs] == [
        "worker_standby",
        "worker_leading",
        "worker_leadership_failed",
        "worker_standby",
        "worker_leading",
    ]
    assert logs[0]["reason"] == "another replica holds the worker lock"
    # a journal that cannot answer is an error, with its traceback, once per outage, counted
    failed = logs[2]
    assert failed["log_level"] == "error" and failed["exc_info"] is True
    assert "server closed the connection" in failed["error"]
    assert metrics.worker_errors.labels("leadership")._value.get() == 2
    assert all(e["journal"] == ScriptedJournal.url for e in logs)


async def test_a_journal_that_always_leads_logs_once(tmp_path):
    passes, logs, _ = await run_with(tmp_path, [True] * 5)
    assert passes == 5
    assert [e["event"] for e in logs] == ["worker_leading"]

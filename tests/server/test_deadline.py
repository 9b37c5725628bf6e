"""/validate answers within its deadline whatever the journal does, and loses nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests import payloads as p
from tests.server.conftest import start_server


class StallingJournal:
    """The real journal, whose inserts hang until ``release`` is set (a busy SQLite file, a
    PostgreSQL failover)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def insert(self, capture: Any) -> Any:
        await self.release.wait()
        return await self.inner.insert(capture)


async def test_a_stalled_journal_gets_an_answer_in_time_and_the_audit_event_records_it(
    tmp_path, cert_files, ca
):
    stalled: list[StallingJournal] = []

    def stalling(inner: Any) -> StallingJournal:
        stalled.append(StallingJournal(inner))
        return stalled[0]

    budget = 0.5
    async for server in start_server(
        tmp_path, cert_files, ca, journal=stalling, admission={"deadline_seconds": budget}
    ):
        review = p.review(operation="UPDATE", obj=p.deployment(replicas=7), old=p.deployment())
        started = time.monotonic()
        resp = await server.validate(review)
        took = time.monotonic() - started
        body = await resp.json()
        answer = body["response"]
        assert answer["allowed"] is True
        assert took < budget + 0.5, took
        [warning] = answer["warnings"]
        assert "too slowly to confirm it; the audit log will record it" in warning
        capture_id = answer["auditAnnotations"]["capture-id"]
        assert server.metrics.fail_open.labels("deadline")._value.get() == 1
        # the insert never lands (the journal is stuck); the audit event records the change
        event = p.audit_event(
            verb="patch",
            resource="deployments",
            group="apps",
            name="checkout",
            request_object={"spec": {"replicas": 7}},
            capture_id=capture_id,
        )
        resp = await server.audit(p.event_list(event))
        assert resp.status == 200
        stored = await stalled[0].inner.get(capture_id)
        assert stored is not None and stored.status.value == "confirmed"
        assert stored.delta.patch == {"spec": {"replicas": 7}}
        # then the journal recovers: the late insert adds no second capture
        stalled[0].release.set()
        for _ in range(100):
            if "admission_late_insert" in server.logs.getvalue():
                break
            await asyncio.sleep(0.02)
        assert '"event": "admission_late_insert"' in server.logs.getvalue()
        assert [c.id for c in await stalled[0].inner.list()] == [capture_id]

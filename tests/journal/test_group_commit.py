"""Concurrent journal inserts share one transaction and fsync, each still answered on its own
(on every back-end: ``journal`` runs each test on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from breakglass import model
from breakglass.capture import admission
from breakglass.errors import JournalError
from tests import payloads as p


def capture(policy, now, name: str, uid: str) -> model.Capture:
    review = p.review(
        operation="UPDATE",
        obj=p.deployment(name=name, replicas=5),
        old=p.deployment(name=name),
        uid=uid,
    )
    c = admission.decide(review["request"], policy=policy, now=now)
    assert isinstance(c, model.Capture)
    return c


async def test_concurrent_inserts_each_get_their_own_result(journal, policy, now):
    captures = [capture(policy, now, f"app-{i}", f"uid-{i}") for i in range(40)]
    replay = capture(policy, now, "app-0", "uid-0")  # same request uid as the first
    clash = dataclasses.replace(capture(policy, now, "x", "uid-x"), id=captures[1].id)
    results = await asyncio.gather(
        *(journal.insert(c) for c in [*captures, replay, clash]), return_exceptions=True
    )
    assert all(r.created for r in results[:40])
    assert [r.capture.id for r in results[:40]] == [c.id for c in captures]
    assert results[40].created is False and results[40].capture.id == captures[0].id
    assert isinstance(results[41], JournalError)  # a duplicate id fails alone
    stored = await journal.list(limit=100)
    assert sorted(c.id for c in stored) == sorted(c.id for c in captures)


async def test_insert_after_close_is_refused(backend, policy, now):
    j = backend.journal()
    await j.open()
    await j.close()
    with pytest.raises(JournalError):
        await j.insert(capture(policy, now, "late", "uid-late"))

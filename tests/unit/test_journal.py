"""The SQLite journal: idempotent inserts, audit confirmation in one transaction, migrations."""

from __future__ import annotations

import sqlite3

import pytest

from breakglass import model
from breakglass.capture import admission, audit
from breakglass.errors import JournalUnavailable
from breakglass.journal import open_journal
from breakglass.journal.sqlite import SCHEMA_VERSION
from tests import payloads as p


@pytest.fixture
async def journal(tmp_path):
    j = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    await j.open()
    yield j
    await j.close()


def capture_for(policy, now, **kw):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=5), old=p.deployment(), **kw)
    c = admission.decide(review["request"], policy=policy, now=now)
    assert isinstance(c, model.Capture)
    return c


async def test_insert_is_idempotent_on_request_uid(journal, policy, now):
    first = capture_for(policy, now, uid="uid-1")
    again = capture_for(policy, now, uid="uid-1")
    assert (await journal.insert(first)).created
    replay = await journal.insert(again)
    assert not replay.created
    assert replay.capture.id == first.id
    assert [c.id for c in await journal.list()] == [first.id]
    assert await journal.get(first.id) == first


async def test_audit_confirms_then_dedupes(journal, policy, now):
    c = capture_for(policy, now)
    await journal.insert(c)
    event = p.audit_event(
        verb="patch",
        resource="deployments",
        group="apps",
        name="checkout",
        request_object={"spec": {"replicas": 5}},
        capture_id=c.id,
    )
    decision = audit.decide(event, policy=policy, now=now)
    result = await journal.record_audit([decision], now=now)
    assert result.confirmed == 1
    stored = await journal.get(c.id)
    assert stored.status is model.Status.CONFIRMED
    assert stored.audit_id == event["auditID"]
    assert stored.delta.patch == {"spec": {"replicas": 5}}
    assert stored.actor.source_ips == ("10.0.3.7",)
    again = await journal.record_audit([decision], now=now)
    assert again.duplicates == 1 and again.confirmed == 0
    assert [x.status for x in await journal.list(status="confirmed")] == [model.Status.CONFIRMED]


async def test_audit_only_capture_and_replay(journal, policy, now):
    event = p.audit_event(
        verb="update", resource="configmaps", name="checkout-config", response_object=p.configmap()
    )
    decision = audit.decide(event, policy=policy, now=now)
    assert (await journal.record_audit([decision], now=now)).audit_only == 1
    assert (await journal.record_audit([decision], now=now)).duplicates == 1
    assert len(await journal.list()) == 1


async def test_schema_version_and_newer_schema_refused(tmp_path):
    path = tmp_path / "j.db"
    j = open_journal(f"sqlite:///{path}")
    await j.open()
    await j.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(JournalUnavailable, match="newer"):
        await open_journal(f"sqlite:///{path}").open()


async def test_unwritable_location_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalUnavailable):
        await open_journal(f"sqlite:///{blocker}/sub/j.db").open()

"""The journal's behaviour, on every back-end (``journal`` runs each test on SQLite and on
PostgreSQL): idempotent inserts, audit confirmation in one transaction, statuses, listing order
and filters, what a stored capture keeps; then SQLite's own schema and file checks."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from breakglass import model
from breakglass.capture import admission, audit
from breakglass.capture.audit import Confirmation
from breakglass.errors import JournalError, JournalUnavailable
from breakglass.journal import open_journal
from breakglass.journal.sqlite import SCHEMA_VERSION
from tests import payloads as p
from tests.journal.conftest import capture


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


async def test_list_is_newest_first_with_status_filter_and_limit(journal, policy, now):
    stored = []
    for i, status in enumerate(["provisional", "confirmed", "provisional", "pr_open"]):
        c = capture(policy, now, name=f"app-{i}", uid=f"uid-{i}")
        c = dataclasses.replace(
            c, id=f"01K00000000000000000000{i:03d}", status=model.Status(status)
        )
        assert (await journal.insert(c)).created
        stored.append(c)
    newest_first = [c.id for c in reversed(stored)]
    assert [c.id for c in await journal.list()] == newest_first
    assert [c.id for c in await journal.list(limit=2)] == newest_first[:2]
    assert [c.id for c in await journal.list(status="provisional")] == [
        stored[2].id,
        stored[0].id,
    ]
    assert [c.id for c in await journal.list(status="provisional", limit=1)] == [stored[2].id]
    assert await journal.list(status="merged") == []


async def test_update_moves_a_capture_between_statuses(journal, policy, now):
    c = capture(policy, now)
    await journal.insert(c)
    later = now.replace(minute=30)
    for status in (model.Status.CONFIRMED, model.Status.PR_OPEN, model.Status.MERGED):
        changes = {
            "status": status,
            "updated_at": later,
            "pr_url": "https://git.example/pr/1",
            "attempts": 2,
        }
        stored = await journal.update(c.id, changes)
        c = dataclasses.replace(c, **changes)
        assert stored == c
        assert await journal.get(c.id) == c
        assert [x.id for x in await journal.list(status=status.value)] == [c.id]
    assert await journal.list(status="confirmed") == []
    assert await journal.get("01NOSUCHCAPTURE0000000000") is None
    assert await journal.update("01NOSUCHCAPTURE0000000000", {"reason": "x"}) is None


async def test_an_update_keeps_what_an_audit_confirmation_wrote_meanwhile(journal, policy, now):
    """The worker read a capture, the audit event confirmed it, then the worker saved its
    outcome: the audit ID, the exact patch and the user agent must survive."""
    c = capture(policy, now)
    await journal.insert(c)
    read_by_worker = await journal.get(c.id)
    assert read_by_worker is not None and read_by_worker.audit_id is None
    confirmation = Confirmation(
        capture_id=c.id,
        audit_id="audit-7f3e",
        actor=dataclasses.replace(c.actor, user_agent="kubectl/v1.36.3"),
        patch={"spec": {"replicas": 6}},
        patch_type="merge",
        at=now,
    )
    await journal.record_audit([confirmation], now=now)
    stored = await journal.update(
        read_by_worker.id, {"status": model.Status.PR_OPEN, "pr_url": "https://git.example/pr/9"}
    )
    assert stored is not None
    for found in (stored, await journal.get(c.id)):
        assert found is not None
        assert found.status is model.Status.PR_OPEN
        assert found.pr_url == "https://git.example/pr/9"
        assert found.audit_id == "audit-7f3e"
        assert found.delta.patch == {"spec": {"replicas": 6}}
        assert found.actor.user_agent == "kubectl/v1.36.3"


async def test_a_stored_capture_keeps_key_order_and_every_character(journal, policy, now):
    """The GitOps engine writes new objects and mappings in the captured key order, and a
    ConfigMap value may hold any character (U+0000 included)."""
    c = capture(policy, now)
    after = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}
    after["data"] = {"zeta": "nul\x00 and \u00e9 and \U0001f600", "alpha": "1", "mid": "2"}
    c = dataclasses.replace(c, delta=dataclasses.replace(c.delta, after=after))
    await journal.insert(c)
    (stored,) = await journal.list()
    assert stored == c
    assert list(stored.delta.after) == ["apiVersion", "kind", "metadata", "data"]
    assert list(stored.delta.after["data"]) == ["zeta", "alpha", "mid"]
    assert stored.delta.after["data"]["zeta"] == after["data"]["zeta"]


async def test_a_clashing_audit_id_fails_alone(journal, policy, now):
    first = dataclasses.replace(capture(policy, now, uid="uid-a"), audit_id="audit-1")
    second = dataclasses.replace(capture(policy, now, uid="uid-b"), audit_id="audit-1")
    assert (await journal.insert(first)).created
    with pytest.raises(JournalError):
        await journal.insert(second)
    third = capture(policy, now, uid="uid-c")
    assert (await journal.insert(third)).created
    assert sorted(c.id for c in await journal.list()) == sorted([first.id, third.id])


async def test_a_confirmation_whose_capture_never_landed_records_the_change(journal, policy, now):
    """The webhook answered before its capture was durable (a stalled journal): the audit
    event carries the capture id, and records the change under it, once."""
    event = p.audit_event(
        verb="patch",
        resource="deployments",
        group="apps",
        name="checkout",
        request_object={"spec": {"replicas": 5}},
        capture_id="01NOSUCHCAPTURE0000000000",
    )
    decision = audit.decide(event, policy=policy, now=now)
    result = await journal.record_audit([decision], now=now)
    assert result.orphaned_confirmations == []
    assert result.confirmed == 0 and result.audit_only == 1
    stored = await journal.get("01NOSUCHCAPTURE0000000000")
    assert stored is not None and stored.status is model.Status.CONFIRMED
    assert stored.source is model.Source.AUDIT and stored.audit_id == event["auditID"]
    assert stored.delta.patch == {"spec": {"replicas": 5}}
    assert (await journal.record_audit([decision], now=now)).duplicates == 1
    # the admission insert that was late finds the change recorded, and adds no second one
    late = dataclasses.replace(capture(policy, now), id="01NOSUCHCAPTURE0000000000")
    inserted = await journal.insert(late)
    assert inserted.created is False and inserted.capture.source is model.Source.AUDIT
    assert len(await journal.list()) == 1


async def test_a_confirmation_without_a_fallback_is_orphaned(journal, policy, now):
    event = p.audit_event(
        verb="patch",
        resource="deployments",
        group="apps",
        name="checkout",
        request_object={"spec": {"replicas": 5}},
        capture_id="01NOSUCHCAPTURE0000000000",
    )
    decision = audit.decide(event, policy=policy, now=now)
    assert isinstance(decision, audit.Confirmation)
    bare = dataclasses.replace(decision, fallback=None)
    result = await journal.record_audit([bare], now=now)
    assert result.orphaned_confirmations == ["01NOSUCHCAPTURE0000000000"]


async def test_confirmation_keeps_a_later_status(journal, policy, now):
    c = dataclasses.replace(capture(policy, now), status=model.Status.PR_OPEN)
    await journal.insert(c)
    event = p.audit_event(
        verb="patch",
        resource="deployments",
        group="apps",
        name="checkout",
        request_object={"spec": {"replicas": 5}},
        capture_id=c.id,
    )
    result = await journal.record_audit([audit.decide(event, policy=policy, now=now)], now=now)
    assert [x.status for x in result.confirmed_captures] == [model.Status.PR_OPEN]
    stored = await journal.get(c.id)
    assert stored.status is model.Status.PR_OPEN and stored.audit_id == event["auditID"]


async def test_one_journal_alone_leads_and_is_writable(journal):
    await journal.check_writable()
    assert await journal.leadership()
    assert await journal.leadership()


async def test_reopened_journal_has_everything(backend, policy, now):
    c = capture(policy, now)
    first = backend.journal()
    await first.open()
    await first.insert(c)
    await first.close()
    again = backend.journal()
    await again.open()  # the schema exists: opening again changes nothing
    try:
        assert await again.get(c.id) == c
        assert not (await again.insert(c)).created
    finally:
        await again.close()


async def test_sessions_are_stored_replaced_and_read_by_when_they_end(journal, now):
    from datetime import timedelta

    def session(name: str, minutes: float, **kw: object) -> model.Session:
        return model.Session(
            name=name, owner="alice", reason="INC-4242 checkout 502s", opened_at=now,
            expires_at=now + timedelta(minutes=minutes), namespaces=("shop",), **kw,
        )  # type: ignore[arg-type]  # fmt: skip

    await journal.put_session(session("early", 30))
    await journal.put_session(session("later", 60, members=("bob",)))
    assert [s.name for s in await journal.sessions()] == ["early", "later"]
    closed = dataclasses.replace(session("early", 30), closed_at=now + timedelta(minutes=5))
    await journal.put_session(closed)  # closed early: replaced, ends sooner
    stored = {s.name: s for s in await journal.sessions()}
    assert stored["early"] == closed and stored["later"].members == ("bob",)
    still = await journal.sessions(ended_after=now + timedelta(minutes=10))
    assert [s.name for s in still] == ["later"]


async def test_pauses_are_a_durable_schedule(journal, now):
    from datetime import timedelta

    pause = model.Pause(
        session="inc", tool="flux", kind="Kustomization", namespace="flux-system",
        name="payments", paused_at=now, due_at=now + timedelta(minutes=30), original=None,
    )  # fmt: skip
    await journal.put_pause(pause)
    assert await journal.pauses(active=True) == [pause]
    done = dataclasses.replace(pause, restored_at=now, note="session inc was closed")
    await journal.put_pause(done)
    assert await journal.pauses(active=True) == []
    assert await journal.pauses() == [done]


async def test_terraform_drifts_keep_names_and_outcomes_and_resolve(journal, now):
    from datetime import timedelta

    drift = model.TerraformDrift(
        root="infra", address="kubernetes_deployment.web", attributes=("spec[0].replicas",),
        fingerprint="ab12", outcome="pull_request", first_seen=now, last_seen=now,
        url="https://forge.example/pr/1", author="alice",
    )  # fmt: skip
    other = dataclasses.replace(
        drift, address="kubernetes_config_map.x", outcome="needs_human", reason="a local",
        first_seen=now + timedelta(seconds=1), last_seen=now + timedelta(seconds=1), author=None,
    )  # fmt: skip
    await journal.put_tf_drift(drift)
    await journal.put_tf_drift(other)
    assert await journal.tf_drifts(unresolved=True) == [drift, other]
    seen_again = dataclasses.replace(drift, last_seen=now + timedelta(minutes=10))
    await journal.put_tf_drift(seen_again)  # same key: replaced, not added
    resolved = dataclasses.replace(other, resolved_at=now + timedelta(hours=1))
    await journal.put_tf_drift(resolved)
    assert await journal.tf_drifts(unresolved=True) == [seen_again]
    assert await journal.tf_drifts() == [seen_again, resolved]


async def test_a_journal_from_before_sessions_is_migrated_and_keeps_its_captures(
    tmp_path, policy, now
):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    from breakglass.journal.sqlite import MIGRATIONS

    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    c = capture(policy, now)
    j = open_journal(f"sqlite:///{path}")
    await j.open()
    try:
        await j.insert(c)
        assert await j.get(c.id) == c and list(await j.sessions()) == []
    finally:
        await j.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


# -- SQLite's own checks -----------------------------------------------------------------


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

"""What only the PostgreSQL journal has to do: be shared by replicas, elect one worker, survive a
server restart and a crash, keep passwords out of sight, and own its schema.

Every test here runs against a real PostgreSQL server (``tests/journal_servers.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

import breakglass.journal as journal_package
from breakglass import model
from breakglass.capture import audit
from breakglass.errors import JournalError, JournalInterrupted, JournalUnavailable, TemporaryError
from breakglass.journal import open_journal
from tests import payloads as p
from tests.journal.conftest import Backend, capture
from tests.journal_servers import PostgresServer, postgres_server


@pytest.fixture
def pg(pg_server: PostgresServer, pg_database: str) -> Backend:
    return Backend("postgresql", pg_database, pg_server.password)


@pytest.fixture
def own_server(pg_server: PostgresServer) -> Iterator[PostgresServer]:
    """A server of this test's own, for tests that stop or crash it."""
    with postgres_server(pg_server.bindir) as server:
        yield server


async def opened(backend: Backend):
    j = backend.journal()
    await j.open()
    return j


@pytest.fixture
async def replicas(pg: Backend) -> AsyncIterator[tuple]:
    a, b = await opened(pg), await opened(pg)
    yield a, b
    await a.close()
    await b.close()


def query(url: str, password: str, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, password=password, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


# -- replicas ------------------------------------------------------------------------------


async def test_two_replicas_see_each_others_captures(replicas, policy, now):
    a, b = replicas
    first = capture(policy, now, uid="uid-a")
    assert (await a.insert(first)).created
    assert await b.get(first.id) == first
    replay = await b.insert(capture(policy, now, uid="uid-a"))  # the API server retried on b
    assert not replay.created and replay.capture.id == first.id
    event = p.audit_event(
        verb="patch",
        resource="deployments",
        group="apps",
        name="checkout",
        request_object={"spec": {"replicas": 5}},
        capture_id=first.id,
    )
    decision = audit.decide(event, policy=policy, now=now)
    assert (await b.record_audit([decision], now=now)).confirmed == 1
    assert (await a.record_audit([decision], now=now)).duplicates == 1
    assert [c.status for c in await a.list()] == [model.Status.CONFIRMED]


async def test_the_same_request_on_two_replicas_at_once_is_stored_once(replicas, policy, now):
    a, b = replicas
    results = await asyncio.gather(
        *(j.insert(capture(policy, now, uid="uid-race")) for j in (a, b, a, b))
    )
    assert sum(r.created for r in results) == 1
    assert len({r.capture.id for r in results}) == 1
    assert len(await a.list()) == 1


async def test_only_one_replica_leads_and_the_other_takes_over_on_close(pg: Backend):
    a, b = await opened(pg), await opened(pg)
    try:
        assert await a.leadership() == 1  # leads, in its first term
        assert await b.leadership() == 0
        assert await a.leadership() == 1  # holding it is idempotent: the same term
        assert await b.leadership() == 0
        await a.close()
        assert await b.leadership() == 1
        c = await opened(pg)
        try:
            assert await c.leadership() == 0
        finally:
            await c.close()
    finally:
        await a.close()
        await b.close()


async def test_a_leader_that_loses_its_session_loses_the_lock(replicas, pg: Backend):
    a, b = replicas
    assert await a.leadership() and not await b.leadership()
    holders = query(
        pg.url,
        pg.password,
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
        " AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    assert holders == [(True,)]
    # pg_terminate_backend only signals the backend; the lock is free once it has exited
    for _ in range(50):
        if await b.leadership():
            break
        await asyncio.sleep(0.1)
    assert await b.leadership() == 1
    with pytest.raises(JournalInterrupted):
        await a.leadership()  # the old leader finds out on its next pass (or write: fencing)
    assert await a.leadership() == 0
    await b.close()
    # taking the lock again is a new term: a pass begun in term 1 can tell it must stop
    assert await a.leadership() == 2


# -- the server goes away --------------------------------------------------------------------


async def test_a_restart_fails_the_next_call_temporarily_then_the_journal_recovers(
    own_server: PostgresServer, policy, now
):
    backend = Backend("postgresql", own_server.create_database("j"), own_server.password)
    j = await opened(backend)
    try:
        before = capture(policy, now, uid="uid-before")
        await j.insert(before)
        own_server.stop()
        own_server.start()
        with pytest.raises(JournalInterrupted) as info:
            await j.list()
        assert isinstance(info.value, TemporaryError)
        assert isinstance(info.value, JournalUnavailable)
        after = capture(policy, now, uid="uid-after")
        assert (await j.insert(after)).created  # one failed call was enough to reconnect
        assert {c.id for c in await j.list()} == {before.id, after.id}
        await j.check_writable()

        own_server.stop()
        with pytest.raises(JournalInterrupted):
            await j.insert(capture(policy, now, uid="uid-down"))
        with pytest.raises(JournalUnavailable):
            await j.check_writable()
        with pytest.raises(JournalInterrupted):
            await j.leadership()
        own_server.start()
        await j.check_writable()
        assert await j.leadership() == 1  # the lock was never taken before this
        assert len(await j.list()) == 2
    finally:
        await j.close()


async def test_50_concurrent_inserts_are_all_durable(own_server: PostgresServer, policy, now):
    backend = Backend("postgresql", own_server.create_database("j"), own_server.password)
    j = await opened(backend)
    captures = [capture(policy, now, name=f"app-{i}", uid=f"uid-{i}") for i in range(50)]
    commits_before = query(
        backend.url,
        backend.password,
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    try:
        results = await asyncio.gather(*(j.insert(c) for c in captures))
    finally:
        await j.close()
    assert all(r.created for r in results)
    assert [r.capture.id for r in results] == [c.id for c in captures]
    # A crash right after the answers: no shutdown checkpoint, recovery replays the WAL.
    own_server.stop("immediate")
    own_server.start()
    again = await opened(backend)
    try:
        stored = await again.list(limit=100)
    finally:
        await again.close()
    assert sorted(c.id for c in stored) == sorted(c.id for c in captures)
    assert {c.id: c for c in stored} == {c.id: c for c in captures}
    assert commits_before  # the statistics view answered; grouping is measured in bench/


# -- credentials and the URL -----------------------------------------------------------------


async def test_password_from_libpq_environment(pg: Backend, monkeypatch, policy, now):
    """No password in the URL or the settings: libpq's PGPASSWORD is used, and the journal
    really works with it (a write and a read back), while without it the server refuses."""
    assert pg.password and pg.password not in pg.url
    monkeypatch.delenv("PGPASSWORD", raising=False)
    refused = open_journal(pg.url)
    with pytest.raises(JournalUnavailable):
        await refused.open()
    monkeypatch.setenv("PGPASSWORD", pg.password)
    j = open_journal(pg.url)
    await j.open()
    try:
        c = capture(policy, now)
        await j.insert(c)
        assert await j.get(c.id) == c
    finally:
        await j.close()


async def test_password_in_the_url_is_masked(pg: Backend):
    with_password = pg.url.replace("breakglass@", f"breakglass:{pg.password}@")
    j = open_journal(with_password)
    assert pg.password not in j.url and "breakglass:***@" in j.url
    await j.open()
    await j.close()


async def test_a_wrong_password_is_a_clear_error_without_the_password(pg: Backend):
    wrong = "not-the-password-42"
    j = open_journal(pg.url.replace("breakglass@", f"breakglass:{wrong}@"))
    with pytest.raises(JournalUnavailable) as info:
        await j.open()
    text = f"{info.value} {info.value.hint}"
    assert wrong not in text
    assert "password authentication failed" in text
    assert "PGPASSWORD" in (info.value.hint or "")


def test_missing_driver_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "breakglass.journal.postgresql", raising=False)
    monkeypatch.delattr(journal_package, "postgresql", raising=False)
    with pytest.raises(JournalUnavailable) as info:
        open_journal("postgresql://breakglass@db.example/breakglass")
    assert info.value.hint == "pip install 'breakglass[postgresql]'"


# -- schema and server settings ---------------------------------------------------------------


async def test_schema_types_and_version(journal_pg_columns):
    columns, versions = journal_pg_columns
    assert columns["data"] == "json"
    assert columns["received_at"] == columns["updated_at"] == "timestamp with time zone"
    assert columns["seen_at"] == "timestamp with time zone"
    from breakglass.journal.postgresql import SCHEMA_VERSION

    assert versions == list(range(1, SCHEMA_VERSION + 1))


@pytest.fixture
async def journal_pg_columns(pg: Backend):
    j = await opened(pg)
    await j.close()
    rows = query(
        pg.url,
        pg.password,
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name IN ('captures', 'audit_events')",
    )
    versions = [r[0] for r in query(pg.url, pg.password, "SELECT version FROM schema_version")]
    return dict(rows), sorted(versions)


async def test_replicas_starting_together_create_the_schema_once(pg: Backend):
    journals = [pg.journal() for _ in range(4)]
    await asyncio.gather(*(j.open() for j in journals))
    for j in journals:
        await j.close()
    from breakglass.journal.postgresql import SCHEMA_VERSION

    # one row per version, each migration applied once
    assert query(pg.url, pg.password, "SELECT count(*) FROM schema_version") == [(SCHEMA_VERSION,)]


async def test_a_newer_schema_is_refused(pg: Backend):
    j = await opened(pg)
    await j.close()
    query(pg.url, pg.password, "INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(JournalUnavailable, match="newer"):
        await pg.journal().open()


async def test_commits_are_synchronous_even_where_the_database_says_otherwise(
    pg: Backend, policy, now
):
    database = pg.url.rsplit("/", 1)[1]
    query(pg.url, pg.password, f'ALTER DATABASE "{database}" SET synchronous_commit = off')
    j = await opened(pg)
    try:
        await j.insert(capture(policy, now))
        async with j._pool.connection() as conn:  # the journal's own session
            cur = await conn.execute("SHOW synchronous_commit")
            assert await cur.fetchone() == ("on",)
        async with j._writer.connection() as conn:
            cur = await conn.execute("SHOW synchronous_commit")
            assert await cur.fetchone() == ("on",)
    finally:
        await j.close()


async def test_a_read_only_database_is_not_ready(pg: Backend, policy, now):
    database = pg.url.rsplit("/", 1)[1]
    j = await opened(pg)
    await j.close()
    query(
        pg.url, pg.password, f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'
    )
    ro = pg.journal()
    await ro.open()  # the schema exists, so opening only reads
    try:
        with pytest.raises(JournalUnavailable, match="read-only"):
            await ro.check_writable()
        with pytest.raises(JournalError):
            await ro.insert(capture(policy, now))
    finally:
        await ro.close()


async def test_many_rows_and_one_bad_row_in_one_group_commit(pg: Backend, policy, now):
    j = await opened(pg)
    try:
        good = [capture(policy, now, name=f"app-{i}", uid=f"uid-{i}") for i in range(20)]
        await j.insert(good[0])
        bad = dataclasses.replace(
            capture(policy, now, uid="uid-bad"),
            object=dataclasses.replace(good[0].object, name="a\x00b"),
        )
        results = await asyncio.gather(*(j.insert(c) for c in [*good, bad]), return_exceptions=True)
        assert results[0].created is False
        assert all(r.created for r in results[1:20])
        assert isinstance(results[20], JournalError)
        assert len(await j.list(limit=100)) == 20
    finally:
        await j.close()

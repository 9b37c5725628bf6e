"""The shared journal: PostgreSQL through psycopg 3, so several replicas use one store.

Same contract as the SQLite journal, so the webhooks and the worker cannot tell them apart:

- **Durable before an answer.**  Every connection runs with ``synchronous_commit`` on (it is
  switched on if the server or role turned it off), so a commit returns only once its WAL is
  flushed; ``insert`` returns only after the commit that holds its row.  A server with
  ``fsync`` off cannot keep that promise: ``open`` logs a warning.
- **Group commit.**  Inserts that arrive while a commit is in flight are written together in
  the next transaction.  They go as one pipelined batch; if any row fails (a duplicate id, an
  audit ID already taken) the transaction is rolled back and redone with each row under its
  own savepoint, so the bad row fails alone and the others are stored.
- **The same deduplication.**  An insert with a ``request_uid`` already stored returns the
  stored capture (``INSERT … ON CONFLICT (request_uid) DO NOTHING``, so two replicas inserting
  the same request at once cannot both create it); an audit ID is applied once
  (``audit_events``, ``ON CONFLICT DO NOTHING``), and a confirmation locks the capture row it
  rewrites (``FOR UPDATE``).
- **The same statuses, order and filters.**  ``list`` is newest id first, optionally one
  status; ids are compared bytewise (``COLLATE "C"``) as SQLite compares them, whatever the
  database's collation.

Types: times are ``timestamptz``.  The capture document is ``json``, not ``jsonb``: ``jsonb``
re-orders object keys (shortest first) and rejects ``\\u0000``, while the GitOps engine writes a
created object, and any new mapping, in the key order the API server sent (``apiVersion``,
``kind``, ``metadata``, ``spec``…), and a ConfigMap value may hold any character.  ``json``
keeps the document exactly as written and still answers ``data->'actor'->>'username'``.

Schema: created on ``open`` (``CREATE … IF NOT EXISTS``, serialized by a transaction-level
advisory lock so replicas starting together do not race), its version kept in
``schema_version``; a database newer than this code is refused.  The indexes, and why:

- ``captures`` primary key ``id``: ``get``, the worker's ``update``, and ``list`` without a
  status (read backwards, newest first, no sort);
- ``captures_status (status, id)``: the worker's ``list(status=…)`` every pass, newest first
  straight from the index, without reading rows of other statuses;
- unique ``request_uid``: the deduplication of replayed AdmissionReviews (the conflict target
  of the insert);
- unique ``audit_id``: one audit event confirms at most one capture;
- ``audit_events`` primary key ``audit_id``: the deduplication of audit events.

SQLite's ``captures_object`` index is not created here: no query reads captures by object.

Connections (at most five per process, made on first use, replaced when broken): one for
group commits, so inserts never queue behind reads; three for everything else; and, once the
worker asks, one that holds the worker lock.  After a server restart the next call fails with
``JournalInterrupted`` (a ``TemporaryError``) and every pooled connection is dropped; the call
after that reconnects.

Worker leadership: a session-level advisory lock (``pg_try_advisory_lock``) keyed on this
schema's ``captures`` table, taken on a connection of its own.  The replica that holds it runs
the worker; the others try again each pass.  The lock lives as long as that session, so a
replica that exits, crashes or loses its connection releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

import orjson
import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from breakglass import logs, model
from breakglass.capture.audit import AuditCapture, Confirmation
from breakglass.errors import JournalError, JournalInterrupted, JournalUnavailable
from breakglass.journal import (
    AuditResult,
    InsertResult,
    audit_key,
    audit_write,
    capture_row,
    changed_capture,
    insert_query,
    list_query,
    recorded_by_audit,
)
from breakglass.urls import redact_url

T = TypeVar("T")
Connection = psycopg.AsyncConnection[Any]

log = logs.get(__name__)

#: Each entry migrates the schema from version ``index`` to ``index + 1``.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE IF NOT EXISTS captures (
            id text COLLATE "C" PRIMARY KEY,
            request_uid text UNIQUE,
            audit_id text UNIQUE,
            status text NOT NULL,
            source text NOT NULL,
            received_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            kind text NOT NULL,
            namespace text NOT NULL,
            name text NOT NULL,
            username text NOT NULL,
            data json NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS captures_status ON captures (status, id)",
        """
        CREATE TABLE IF NOT EXISTS audit_events (
            audit_id text PRIMARY KEY,
            capture_id text,
            seen_at timestamptz NOT NULL
        )
        """,
    ),
    (
        """
        CREATE TABLE IF NOT EXISTS sessions (
            name text PRIMARY KEY,
            opened_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            data json NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS sessions_ends ON sessions (ends_at)",
    ),
    (
        """
        CREATE TABLE IF NOT EXISTS pauses (
            key text PRIMARY KEY,
            paused_at timestamptz NOT NULL,
            restored boolean NOT NULL,
            data json NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS pauses_active ON pauses (restored, paused_at)",
    ),
    (
        """
        CREATE TABLE IF NOT EXISTS tf_drifts (
            key text PRIMARY KEY,
            first_seen timestamptz NOT NULL,
            resolved boolean NOT NULL,
            data json NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS tf_drifts_open ON tf_drifts (resolved, first_seen)",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

#: First half of every advisory lock key ("bgls"); the second half says which lock.
_LOCK_CLASS: Final = 0x62676C73
#: The worker lock: that class and the oid of the ``captures`` table the session resolves, so
#: two deployments in separate schemas of one database do not exclude each other.
_TRY_WORKER_LOCK: Final = (
    "SELECT pg_try_advisory_lock((%s::bigint << 32) | 'captures'::regclass::oid::bigint)"
)
_UNLOCK_WORKER_LOCK: Final = (
    "SELECT pg_advisory_unlock((%s::bigint << 32) | 'captures'::regclass::oid::bigint)"
)
#: The schema lock (transaction-level, held while ``open`` creates or migrates tables).
_SCHEMA_LOCK: Final = (_LOCK_CLASS << 32) | 1

#: Connections for reads, updates and audit batches (inserts have their own).
POOL_SIZE: Final = 3
#: libpq parameters used where the URL sets none.  A webhook has 2 s in all, so a dead server
#: should fail calls, not hang them: ``connect_timeout`` bounds connecting, and TCP keepalives
#: plus ``tcp_user_timeout`` (milliseconds) notice a peer that vanished without closing the
#: connection (a partition, a killed node) in about 20 s instead of the kernel's many minutes;
#: until then inserts would queue behind the stuck group commit.  ``application_name`` (what
#: ``pg_stat_activity`` shows) is libpq's ``PGAPPNAME`` when set, so a DBA can tell replicas
#: (and the process holding the worker lock) apart: set it to the pod name.
CONNECTION_DEFAULTS: Final = {
    "connect_timeout": 5,
    "application_name": "breakglass",
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20000,
}

_INSERT: Final = insert_query(mark="%s", data_mark="%s::json")
_INSERT_DEDUP: Final = _INSERT + " ON CONFLICT (request_uid) DO NOTHING RETURNING id"
#: Errors that belong to one row (a constraint, a value PostgreSQL cannot store): in a group
#: commit that row fails alone.
_ROW_ERRORS: Final = (psycopg.IntegrityError, psycopg.DataError)


def _dump(capture: model.Capture) -> str:
    return orjson.dumps(capture.to_json()).decode()


def _load(data: str) -> model.Capture:
    return model.Capture.from_json(orjson.loads(data))


def _row(capture: model.Capture) -> tuple[Any, ...]:
    return capture_row(capture, _dump(capture))


def _reason(exc: BaseException) -> str:
    """The first line of a driver error: enough to act on, never a connection string."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class _Pool:
    """A fixed number of connections, made when first needed and replaced when broken."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        size: int,
        on_broken: Callable[[], Awaitable[None]],
    ) -> None:
        self._connect = connect
        self._on_broken = on_broken
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(size)
        self.closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._slots:
            if self.closed:
                raise JournalUnavailable("the journal is closed")
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                yield conn
            except BaseException:
                if conn.broken or conn.closed:
                    await conn.close()
                    await self._on_broken()
                elif conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    await conn.close()  # interrupted mid-statement: its state is unknown
                else:
                    self._idle.append(conn)
                raise
            if self.closed or conn.closed:
                await conn.close()
            else:
                self._idle.append(conn)

    async def discard(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    async def close(self) -> None:
        self.closed = True
        await self.discard()


class PostgreSQLJournal:
    """``Journal`` on a PostgreSQL database several breakglass replicas may share."""

    def __init__(self, url: str, *, password: str | None = None) -> None:
        #: For logs and messages: the URL with any password masked.
        self.url = redact_url(url)
        params: dict[str, Any] = conninfo_to_dict(url)
        for key, value in CONNECTION_DEFAULTS.items():
            params.setdefault(key, value)
        if "application_name" not in conninfo_to_dict(url) and os.environ.get("PGAPPNAME"):
            params["application_name"] = os.environ["PGAPPNAME"]
        if password is not None:
            params["password"] = password
        self._conninfo = make_conninfo(**params)
        self._pool = _Pool(self._connect, POOL_SIZE, self._forget_idle)
        self._writer = _Pool(self._connect, 1, self._forget_idle)
        self._inserts: list[tuple[model.Capture, asyncio.Future[InsertResult]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._closing = False
        self._lock_conn: Connection | None = None
        self._leading = False
        self._term = 0  # counts the times this process took the worker lock
        self._lead_guard = asyncio.Lock()

    # -- plumbing -------------------------------------------------------------------------

    async def _connect(self) -> Connection:
        conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        try:
            await conn.execute(
                "SELECT set_config('synchronous_commit', 'on', false)"
                " WHERE current_setting('synchronous_commit') = 'off'"
            )
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _forget_idle(self) -> None:
        """A connection broke: the server restarted or is gone, and the idle connections of
        both pools with it.  Dropping them now makes the next call connect afresh instead of
        failing on another dead connection."""
        await self._pool.discard()
        await self._writer.discard()

    async def _run(
        self, what: str, func: Callable[[Connection], Awaitable[T]], *, pool: _Pool | None = None
    ) -> T:
        """``func`` on a pooled connection, with driver errors turned into journal errors."""
        try:
            async with (pool or self._pool).connection() as conn:
                return await func(conn)
        except psycopg.OperationalError as exc:
            raise JournalInterrupted(
                f"journal {self.url}: {what}: {_reason(exc)}",
                hint="temporary: the next call retries, reconnecting if the server went away",
            ) from exc
        except psycopg.InterfaceError as exc:
            raise JournalUnavailable(f"journal {self.url}: {what}: {_reason(exc)}") from exc
        except psycopg.Error as exc:
            raise JournalError(f"journal {self.url}: {what}: {_reason(exc)}") from exc

    async def open(self) -> None:
        try:
            async with self._pool.connection() as conn:
                await _migrate(conn, self.url)
                cur = await conn.execute("SELECT current_setting('fsync')")
                fsync = await cur.fetchone()
        except psycopg.Error as exc:
            raise JournalUnavailable(
                f"cannot open journal {self.url}: {_reason(exc)}",
                hint="check that the server is reachable, the database exists and the "
                "credentials work (journal.password_env, PGPASSWORD or ~/.pgpass)",
            ) from exc
        if fsync and fsync[0] != "on":
            log.warning(
                "journal_not_durable",
                journal=self.url,
                hint="the PostgreSQL server runs with fsync off: a power cut can lose "
                "captures the webhook already acknowledged",
            )

    async def close(self) -> None:
        self._closing = True
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        async with self._lead_guard:
            await self._drop_lock_connection()
        await self._pool.close()
        await self._writer.close()

    # -- writes ---------------------------------------------------------------------------

    async def insert(self, capture: model.Capture) -> InsertResult:
        if self._closing:
            raise JournalUnavailable(f"journal {self.url} is closed")
        future: asyncio.Future[InsertResult] = asyncio.get_running_loop().create_future()
        self._inserts.append((capture, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain_inserts())
        return await future

    async def _drain_inserts(self) -> None:
        """Every queued insert in one transaction; what queues meanwhile goes in the next."""
        try:
            while self._inserts:
                batch, self._inserts = self._inserts, []
                live = [(c, f) for c, f in batch if not f.done()]  # cancelled callers
                if not live:
                    continue
                write = functools.partial(_insert_many, captures=[c for c, _ in live])
                try:
                    outcomes = await self._run("insert", write, pool=self._writer)
                except Exception as exc:
                    for _, future in live:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), outcome in zip(live, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, InsertResult):
                        future.set_result(outcome)
                    else:
                        future.set_exception(
                            JournalError(f"journal {self.url}: insert: {_reason(outcome)}")
                        )
        finally:
            self._drainer = None

    async def record_audit(
        self, items: Sequence[Confirmation | AuditCapture], *, now: datetime
    ) -> AuditResult:
        return await self._run("record_audit", lambda conn: _record_audit(conn, items, now))

    async def update(
        self,
        capture_id: str,
        changes: Mapping[str, Any],
        *,
        expect_status: model.Status | None = None,
    ) -> model.Capture | None:
        async def _update(conn: Connection) -> model.Capture | None:
            async with conn.transaction():
                current = await _locked(conn, capture_id)
                changed = changed_capture(
                    current, changes, expect_status=expect_status, now=model.utcnow()
                )
                if changed is None:
                    return current
                await _rewrite(conn, capture_id, changed)
            return changed

        return await self._run("update", _update)

    async def check_writable(self) -> None:
        async def _probe(conn: Connection) -> tuple[Any, ...] | None:
            cur = await conn.execute(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
            )
            return await cur.fetchone()

        row = await self._run("check_writable", _probe)
        if row is None or row[0] or row[1] != "off":
            raise JournalUnavailable(
                f"journal {self.url} is read-only (a standby, or default_transaction_read_only)",
                hint="point journal at the primary server",
            )

    async def put_session(self, session: model.Session) -> None:
        row = (
            session.name,
            session.opened_at,
            session.ends_at,
            orjson.dumps(session.to_json()).decode(),
        )

        async def _put(conn: Connection) -> None:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO sessions (name, opened_at, ends_at, data) "
                    "VALUES (%s, %s, %s, %s::json) ON CONFLICT (name) DO UPDATE SET "
                    "opened_at = excluded.opened_at, ends_at = excluded.ends_at, "
                    "data = excluded.data",
                    row,
                )

        await self._run("put_session", _put)

    async def sessions(self, *, ended_after: datetime | None = None) -> Sequence[model.Session]:
        where = " WHERE ends_at > %s" if ended_after is not None else ""
        params = (ended_after,) if ended_after is not None else ()
        query = f"SELECT data::text FROM sessions{where} ORDER BY opened_at, name"  # noqa: S608

        async def _read(conn: Connection) -> list[model.Session]:
            cur = await conn.execute(query.encode(), params)
            return [model.Session.from_json(orjson.loads(r[0])) for r in await cur.fetchall()]

        return await self._run("sessions", _read)

    async def put_pause(self, pause: model.Pause) -> None:
        row = (
            pause.key,
            pause.paused_at,
            pause.restored_at is not None,
            orjson.dumps(pause.to_json()).decode(),
        )

        async def _put(conn: Connection) -> None:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO pauses (key, paused_at, restored, data) "
                    "VALUES (%s, %s, %s, %s::json) ON CONFLICT (key) DO UPDATE SET "
                    "paused_at = excluded.paused_at, restored = excluded.restored, "
                    "data = excluded.data",
                    row,
                )

        await self._run("put_pause", _put)

    async def pauses(self, *, active: bool = False) -> Sequence[model.Pause]:
        where = " WHERE NOT restored" if active else ""
        query = f"SELECT data::text FROM pauses{where} ORDER BY paused_at, key"  # noqa: S608

        async def _read(conn: Connection) -> list[model.Pause]:
            cur = await conn.execute(query.encode())
            return [model.Pause.from_json(orjson.loads(r[0])) for r in await cur.fetchall()]

        return await self._run("pauses", _read)

    # -- reads ----------------------------------------------------------------------------

    async def get(self, capture_id: str) -> model.Capture | None:
        return await self._run("get", lambda conn: _get(conn, capture_id))

    async def list(
        self,
        *,
        status: str | None = None,
        limit: int = 100,
        after: str | None = None,
        oldest_first: bool = False,
    ) -> Sequence[model.Capture]:
        query, params = list_query(
            "SELECT data::text FROM captures",
            status=status,
            after=after,
            oldest_first=oldest_first,
            mark="%s",
        )

        async def _list(conn: Connection) -> list[model.Capture]:
            cur = await conn.execute(query.encode(), (*params, limit))
            return [_load(r[0]) for r in await cur.fetchall()]

        return await self._run("list", _list)

    # -- worker leadership ----------------------------------------------------------------

    async def put_tf_drift(self, drift: model.TerraformDrift) -> None:
        row = (
            drift.key,
            drift.first_seen,
            drift.resolved_at is not None,
            orjson.dumps(drift.to_json()).decode(),
        )

        async def _put(conn: Connection) -> None:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO tf_drifts (key, first_seen, resolved, data) "
                    "VALUES (%s, %s, %s, %s::json) ON CONFLICT (key) DO UPDATE SET "
                    "first_seen = excluded.first_seen, resolved = excluded.resolved, "
                    "data = excluded.data",
                    row,
                )

        await self._run("put_tf_drift", _put)

    async def tf_drifts(self, *, unresolved: bool = False) -> Sequence[model.TerraformDrift]:
        where = " WHERE NOT resolved" if unresolved else ""
        query = f"SELECT data::text FROM tf_drifts{where} ORDER BY first_seen, key"  # noqa: S608

        async def _read(conn: Connection) -> list[model.TerraformDrift]:
            cur = await conn.execute(query.encode())
            return [
                model.TerraformDrift.from_json(orjson.loads(r[0])) for r in await cur.fetchall()
            ]

        return await self._run("tf_drifts", _read)

    async def leadership(self) -> int:
        """Hold, or try to take, the worker lock (see the module docstring): the term this
        process leads in (a new one each time it takes the lock), or 0."""
        async with self._lead_guard:
            if self._closing:
                return False
            try:
                if self._lock_conn is None or self._lock_conn.closed or self._lock_conn.broken:
                    await self._drop_lock_connection()
                    self._lock_conn = await self._connect()
                if self._leading:
                    # The lock lasts as long as the session: a live session still holds it.
                    await self._lock_conn.execute("SELECT 1")
                else:
                    cur = await self._lock_conn.execute(_TRY_WORKER_LOCK, (_LOCK_CLASS,))
                    row = await cur.fetchone()
                    self._leading = bool(row and row[0])
                    if self._leading:
                        self._term += 1
            except psycopg.Error as exc:
                await self._drop_lock_connection()
                raise JournalInterrupted(
                    f"journal {self.url}: worker lock: {_reason(exc)}"
                ) from exc
            return self._term if self._leading else 0

    async def _drop_lock_connection(self) -> None:
        """Close the lock's session, which releases the lock if held.  A held lock is released
        first, by name: the server frees it before answering, so a standby can take over at its
        next check; a closed connection alone frees it only once the server has noticed."""
        conn, leading = self._lock_conn, self._leading
        self._lock_conn, self._leading = None, False
        if conn is None:
            return
        if leading and not conn.closed and not conn.broken:
            with contextlib.suppress(psycopg.Error):
                await conn.execute(_UNLOCK_WORKER_LOCK, (_LOCK_CLASS,))
        await conn.close()


async def _migrate(conn: Connection, url: str) -> None:
    """Bring the schema to ``SCHEMA_VERSION``; a current schema is only read, so a journal on a
    read-only server (``breakglass journal list`` against a standby) still opens."""
    if await _schema_version(conn, url) == SCHEMA_VERSION:
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # Another replica may have migrated while this one waited for the lock.
        for index in range(await _schema_version(conn, url), SCHEMA_VERSION):
            for statement in MIGRATIONS[index]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (index + 1,))


async def _schema_version(conn: Connection, url: str) -> int:
    cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    exists = await cur.fetchone()
    if not (exists and exists[0]):
        return 0
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
    row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise JournalUnavailable(
            f"journal {url} has schema version {version}, newer than this breakglass "
            f"understands ({SCHEMA_VERSION})",
            hint="upgrade breakglass, or point journal at a new database",
        )
    return version


async def _insert_many(
    conn: Connection, captures: Sequence[model.Capture]
) -> list[InsertResult | psycopg.Error]:
    """Insert ``captures`` in one transaction, pipelined; on a failing row, again row by row."""
    try:
        async with conn.transaction():
            async with conn.cursor() as cur:
                await cur.executemany(_INSERT_DEDUP, [_row(c) for c in captures], returning=True)
                created: list[bool] = []
                while True:
                    created.append(await cur.fetchone() is not None)
                    if not cur.nextset():
                        break
            replays = [c.request_uid for c, made in zip(captures, created, strict=True) if not made]
            stored = await _stored_by_request_uid(conn, replays)
    except _ROW_ERRORS:
        return await _insert_each(conn, captures)
    out: list[InsertResult | psycopg.Error] = []
    for capture, made in zip(captures, created, strict=True):
        if made:
            out.append(InsertResult(capture, created=True))
        else:
            out.append(InsertResult(stored[capture.request_uid or ""], created=False))
    return out


async def _insert_each(
    conn: Connection, captures: Sequence[model.Capture]
) -> list[InsertResult | psycopg.Error]:
    """The slow path: each row under its own savepoint, so a failing row fails alone."""
    out: list[InsertResult | psycopg.Error] = []
    async with conn.transaction():
        for capture in captures:
            try:
                async with conn.transaction():  # a savepoint
                    cur = await conn.execute(_INSERT_DEDUP, _row(capture))
                    if await cur.fetchone() is not None:
                        out.append(InsertResult(capture, created=True))
                        continue
                    stored = await _stored_by_request_uid(conn, [capture.request_uid])
                    out.append(InsertResult(stored[capture.request_uid or ""], created=False))
            except _ROW_ERRORS as exc:
                late = await _recorded_by_audit(conn, capture.id)
                out.append(InsertResult(late, created=False) if late is not None else exc)
    return out


async def _recorded_by_audit(conn: Connection, capture_id: str) -> model.Capture | None:
    """The capture stored under ``capture_id`` when the audit event recorded it (the webhook
    answered before its insert was durable, and this insert is that late one)."""
    existing = await _get(conn, capture_id)
    return existing if recorded_by_audit(existing) else None


async def _stored_by_request_uid(
    conn: Connection, uids: Sequence[str | None]
) -> dict[str, model.Capture]:
    if not uids:
        return {}
    cur = await conn.execute(
        "SELECT request_uid, data::text FROM captures WHERE request_uid = ANY(%s)", (list(uids),)
    )
    return {uid: _load(data) for uid, data in await cur.fetchall()}


async def _record_audit(
    conn: Connection, items: Sequence[Confirmation | AuditCapture], now: datetime
) -> AuditResult:
    result = AuditResult()
    async with conn.transaction():
        for item in items:
            audit_id, known = audit_key(item)
            seen = await conn.execute(
                "INSERT INTO audit_events (audit_id, capture_id, seen_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (audit_id) DO NOTHING",
                (audit_id, known, now),
            )
            if seen.rowcount == 0:
                result.duplicates += 1
                continue
            stored = None
            if isinstance(item, Confirmation):
                stored = await _locked(conn, item.capture_id)
            write = audit_write(item, stored, now)
            if write.capture is not None:
                if write.new:
                    await conn.execute(_INSERT, _row(write.capture))
                else:
                    await _rewrite(conn, write.capture.id, write.capture)
                if known is None:
                    await conn.execute(
                        "UPDATE audit_events SET capture_id = %s WHERE audit_id = %s",
                        (write.capture.id, audit_id),
                    )
            result.count(write)
    return result


async def _get(conn: Connection, capture_id: str) -> model.Capture | None:
    cur = await conn.execute("SELECT data::text FROM captures WHERE id = %s", (capture_id,))
    row = await cur.fetchone()
    return _load(row[0]) if row else None


async def _locked(conn: Connection, capture_id: str) -> model.Capture | None:
    """The capture stored under ``capture_id``, its row locked until the transaction ends."""
    cur = await conn.execute(
        "SELECT data::text FROM captures WHERE id = %s FOR UPDATE", (capture_id,)
    )
    row = await cur.fetchone()
    return _load(row[0]) if row else None


async def _rewrite(conn: Connection, capture_id: str, capture: model.Capture) -> None:
    """Store ``capture`` over the row of ``capture_id``."""
    await conn.execute(
        "UPDATE captures SET status = %s, audit_id = %s, updated_at = %s, data = %s::json"
        " WHERE id = %s",
        (
            capture.status.value,
            capture.audit_id,
            capture.updated_at or model.utcnow(),
            _dump(capture),
            capture_id,
        ),
    )

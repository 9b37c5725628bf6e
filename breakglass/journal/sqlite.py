"""The embedded journal: one SQLite file in WAL mode with ``synchronous=FULL``.

Why these settings: WAL lets readers (``breakglass journal list``, ``/readyz``) run while the
server writes; ``synchronous=FULL`` fsyncs the WAL on every commit, so a capture acknowledged to
the API server survives a power cut, not just a process crash; ``BEGIN IMMEDIATE`` takes the
write lock up front so two writers never deadlock on upgrade.

All SQLite calls run on one dedicated thread (a connection belongs to one thread), keeping the
event loop free.  The schema carries a version in ``PRAGMA user_version`` and migrates forward.

Inserts are group-committed: captures that arrive while the thread is busy are written
together in one transaction with one fsync, each under its own savepoint (a row that fails,
say on a duplicate id, fails alone).  Every caller still gets its answer only after the commit
that made its row durable, so the webhook's promise holds; under concurrent load the fsync cost
is shared instead of queued.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson

from breakglass import model
from breakglass.capture.audit import AuditCapture, Confirmation
from breakglass.errors import JournalError, JournalUnavailable
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

T = TypeVar("T")

#: Each entry migrates the schema from version ``index`` to ``index + 1``.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE captures (
            id TEXT PRIMARY KEY,
            request_uid TEXT UNIQUE,
            audit_id TEXT UNIQUE,
            status TEXT NOT NULL,
            source TEXT NOT NULL,
            received_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            username TEXT NOT NULL,
            data BLOB NOT NULL
        )
        """,
        "CREATE INDEX captures_status ON captures (status, id)",
        "CREATE INDEX captures_object ON captures (kind, namespace, name, id)",
        """
        CREATE TABLE audit_events (
            audit_id TEXT PRIMARY KEY,
            capture_id TEXT,
            seen_at TEXT NOT NULL
        )
        """,
    ),
    (
        """
        CREATE TABLE sessions (
            name TEXT PRIMARY KEY,
            opened_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            data BLOB NOT NULL
        )
        """,
        "CREATE INDEX sessions_ends ON sessions (ends_at)",
    ),
    (
        """
        CREATE TABLE pauses (
            key TEXT PRIMARY KEY,
            paused_at TEXT NOT NULL,
            restored INTEGER NOT NULL,
            data BLOB NOT NULL
        )
        """,
        "CREATE INDEX pauses_active ON pauses (restored, paused_at)",
    ),
    (
        """
        CREATE TABLE tf_drifts (
            key TEXT PRIMARY KEY,
            first_seen TEXT NOT NULL,
            resolved INTEGER NOT NULL,
            data BLOB NOT NULL
        )
        """,
        "CREATE INDEX tf_drifts_open ON tf_drifts (resolved, first_seen)",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def _path_from_url(url: str) -> Path:
    return Path(url[len("sqlite:///") :])


def _dump(capture: model.Capture) -> bytes:
    return orjson.dumps(capture.to_json())


def _load(data: bytes | str) -> model.Capture:
    return model.Capture.from_json(orjson.loads(data))


_LOCK_FLAGS: Final = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC


class SQLiteJournal:
    """``Journal`` on a local SQLite file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = _path_from_url(url)
        self._conn: sqlite3.Connection | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="journal"
        )
        self._inserts: list[tuple[model.Capture, concurrent.futures.Future[InsertResult]]] = []
        self._inserts_lock = threading.Lock()
        self._leader_fd: int | None = None

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, func)

    def _call(self, func: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise JournalUnavailable(f"journal {self.path} is not open")
        try:
            return func(self._conn)
        except sqlite3.OperationalError as exc:
            if self._conn.in_transaction:
                self._conn.rollback()
            raise JournalUnavailable(f"journal {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            if self._conn.in_transaction:
                self._conn.rollback()
            raise JournalError(f"journal {self.path}: {exc}") from exc

    def _connect(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=5.0
            )
        except (OSError, sqlite3.Error) as exc:
            raise JournalUnavailable(
                f"cannot open journal {self.path}: {exc}",
                hint="check that the directory exists and is writable by breakglass",
            ) from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalUnavailable(
                    f"journal {self.path} has schema version {version}, newer than this "
                    f"breakglass understands ({SCHEMA_VERSION})",
                    hint="upgrade breakglass, or point journal at a new file",
                )
            for index in range(version, SCHEMA_VERSION):
                conn.execute("BEGIN IMMEDIATE")
                for statement in MIGRATIONS[index]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {index + 1}")
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.close()
            raise JournalUnavailable(f"cannot use journal {self.path}: {exc}") from exc
        except JournalUnavailable:
            conn.close()
            raise
        self._conn = conn

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._connect)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)
        if self._leader_fd is not None:
            os.close(self._leader_fd)  # lets go of the worker lock
            self._leader_fd = None

    # -- writes ---------------------------------------------------------------------------

    async def insert(self, capture: model.Capture) -> InsertResult:
        future: concurrent.futures.Future[InsertResult] = concurrent.futures.Future()
        with self._inserts_lock:
            self._inserts.append((capture, future))
        try:
            self._executor.submit(self._drain_inserts)
        except RuntimeError as exc:  # closed while we queued
            with self._inserts_lock:
                self._inserts = [(c, f) for c, f in self._inserts if f is not future]
            raise JournalUnavailable(f"journal {self.path} is closed") from exc
        return await asyncio.wrap_future(future)

    def _drain_inserts(self) -> None:
        """On the journal thread: every queued insert in one transaction, one fsync."""
        with self._inserts_lock:
            batch, self._inserts = self._inserts, []
        live = [(c, f) for c, f in batch if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            outcomes = self._call(lambda conn: _insert_many(conn, [c for c, _ in live]))
        except BaseException as exc:
            for _, future in live:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, sqlite3.Error):
                future.set_exception(JournalError(f"journal {self.path}: {outcome}"))
            else:
                future.set_result(outcome)

    async def record_audit(
        self, items: Sequence[Confirmation | AuditCapture], *, now: datetime
    ) -> AuditResult:
        return await self._run(lambda conn: _record_audit(conn, items, now))

    async def update(
        self,
        capture_id: str,
        changes: Mapping[str, Any],
        *,
        expect_status: model.Status | None = None,
    ) -> model.Capture | None:
        def _update(conn: sqlite3.Connection) -> model.Capture | None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = _get(conn, capture_id)
                changed = changed_capture(
                    current, changes, expect_status=expect_status, now=model.utcnow()
                )
                if changed is None:
                    conn.execute("ROLLBACK")
                    return current
                _rewrite(conn, capture_id, changed)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return changed

        return await self._run(_update)

    async def check_writable(self) -> None:
        def _probe(conn: sqlite3.Connection) -> None:
            if not self.path.exists():
                raise JournalUnavailable(f"journal file {self.path} has disappeared")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")

        await self._run(_probe)

    async def put_session(self, session: model.Session) -> None:
        row = (
            session.name,
            model.format_time(session.opened_at),
            model.format_time(session.ends_at),
            orjson.dumps(session.to_json()),
        )

        def _put(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO sessions (name, opened_at, ends_at, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET opened_at = excluded.opened_at, "
                "ends_at = excluded.ends_at, data = excluded.data",
                row,
            )

        await self._run(_put)

    async def sessions(self, *, ended_after: datetime | None = None) -> Sequence[model.Session]:
        query = "SELECT data FROM sessions"
        params: list[object] = []
        if ended_after is not None:
            query += " WHERE ends_at > ?"
            params.append(model.format_time(ended_after))
        query += " ORDER BY opened_at, name"

        def _read(conn: sqlite3.Connection) -> list[model.Session]:
            rows = conn.execute(query, params).fetchall()
            return [model.Session.from_json(orjson.loads(r[0])) for r in rows]

        return await self._run(_read)

    async def put_pause(self, pause: model.Pause) -> None:
        row = (
            pause.key,
            model.format_time(pause.paused_at),
            int(pause.restored_at is not None),
            orjson.dumps(pause.to_json()),
        )

        def _put(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO pauses (key, paused_at, restored, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET paused_at = excluded.paused_at, "
                "restored = excluded.restored, data = excluded.data",
                row,
            )

        await self._run(_put)

    async def pauses(self, *, active: bool = False) -> Sequence[model.Pause]:
        query = (
            "SELECT data FROM pauses WHERE restored = 0 ORDER BY paused_at, key"
            if active
            else "SELECT data FROM pauses ORDER BY paused_at, key"
        )

        def _read(conn: sqlite3.Connection) -> list[model.Pause]:
            return [model.Pause.from_json(orjson.loads(r[0])) for r in conn.execute(query)]

        return await self._run(_read)

    async def put_tf_drift(self, drift: model.TerraformDrift) -> None:
        row = (
            drift.key,
            model.format_time(drift.first_seen),
            int(drift.resolved_at is not None),
            orjson.dumps(drift.to_json()),
        )

        def _put(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO tf_drifts (key, first_seen, resolved, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET first_seen = excluded.first_seen, "
                "resolved = excluded.resolved, data = excluded.data",
                row,
            )

        await self._run(_put)

    async def tf_drifts(self, *, unresolved: bool = False) -> Sequence[model.TerraformDrift]:
        query = (
            "SELECT data FROM tf_drifts WHERE resolved = 0 ORDER BY first_seen, key"
            if unresolved
            else "SELECT data FROM tf_drifts ORDER BY first_seen, key"
        )

        def _read(conn: sqlite3.Connection) -> list[model.TerraformDrift]:
            return [model.TerraformDrift.from_json(orjson.loads(r[0])) for r in conn.execute(query)]

        return await self._run(_read)

    async def leadership(self) -> int:
        """1 while this process holds the worker lock, else 0.

        Several processes share the file (the webhook and its worker process, an operator's
        ``breakglass worker --once``); only one may run the worker.  The lock is an exclusive
        ``flock`` on ``<journal>.worker-lock``, taken without waiting and held until ``close``
        or the process's end (the kernel lets go of it even after SIGKILL), so the term never
        changes while it is held.
        """
        if self._leader_fd is None:
            fd = os.open(self.path.with_name(self.path.name + ".worker-lock"), _LOCK_FLAGS, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return 0
            self._leader_fd = fd
        return 1

    # -- reads ----------------------------------------------------------------------------

    async def get(self, capture_id: str) -> model.Capture | None:
        return await self._run(lambda conn: _get(conn, capture_id))

    async def list(
        self,
        *,
        status: str | None = None,
        limit: int = 100,
        after: str | None = None,
        oldest_first: bool = False,
    ) -> Sequence[model.Capture]:
        query, params = list_query(
            "SELECT data FROM captures",
            status=status,
            after=after,
            oldest_first=oldest_first,
            mark="?",
        )
        params.append(limit)

        def _list(conn: sqlite3.Connection) -> list[model.Capture]:
            return [_load(r[0]) for r in conn.execute(query, params).fetchall()]

        return await self._run(_list)


def _row(capture: model.Capture) -> tuple[Any, ...]:
    """``capture_row`` with its times as text, as this schema keeps them."""
    return tuple(
        model.format_time(value) if isinstance(value, datetime) else value
        for value in capture_row(capture, _dump(capture))
    )


_INSERT: Final = insert_query(mark="?", data_mark="?")


def _get(conn: sqlite3.Connection, capture_id: str) -> model.Capture | None:
    row = conn.execute("SELECT data FROM captures WHERE id = ?", (capture_id,)).fetchone()
    return _load(row[0]) if row else None


def _rewrite(conn: sqlite3.Connection, capture_id: str, capture: model.Capture) -> None:
    """Store ``capture`` over the row of ``capture_id``."""
    conn.execute(
        "UPDATE captures SET status = ?, audit_id = ?, updated_at = ?, data = ? WHERE id = ?",
        (
            capture.status.value,
            capture.audit_id,
            model.format_time(capture.updated_at or model.utcnow()),
            _dump(capture),
            capture_id,
        ),
    )


def _insert_many(
    conn: sqlite3.Connection, captures: Sequence[model.Capture]
) -> list[InsertResult | sqlite3.Error]:
    """Insert ``captures`` in one transaction; a row that violates a constraint fails alone."""
    out: list[InsertResult | sqlite3.Error] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for capture in captures:
            conn.execute("SAVEPOINT capture")
            try:
                out.append(_insert_one(conn, capture))
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK TO capture")
                out.append(exc)
            conn.execute("RELEASE capture")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return out


def _insert_one(conn: sqlite3.Connection, capture: model.Capture) -> InsertResult:
    existing = _get(conn, capture.id)
    if existing is not None and recorded_by_audit(existing):
        return InsertResult(existing, created=False)  # a late insert
    if capture.request_uid:
        row = conn.execute(
            "SELECT data FROM captures WHERE request_uid = ?", (capture.request_uid,)
        ).fetchone()
        if row:
            return InsertResult(_load(row[0]), created=False)
    conn.execute(_INSERT, _row(capture))
    return InsertResult(capture, created=True)


def _record_audit(
    conn: sqlite3.Connection, items: Sequence[Confirmation | AuditCapture], now: datetime
) -> AuditResult:
    result = AuditResult()
    stamp = model.format_time(now)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for item in items:
            audit_id, known = audit_key(item)
            seen = conn.execute(
                "INSERT OR IGNORE INTO audit_events (audit_id, capture_id, seen_at)"
                " VALUES (?, ?, ?)",
                (audit_id, known, stamp),
            )
            if seen.rowcount == 0:
                result.duplicates += 1
                continue
            stored = _get(conn, item.capture_id) if isinstance(item, Confirmation) else None
            write = audit_write(item, stored, now)
            if write.capture is not None:
                if write.new:
                    conn.execute(_INSERT, _row(write.capture))
                else:
                    _rewrite(conn, write.capture.id, write.capture)
                if known is None:
                    conn.execute(
                        "UPDATE audit_events SET capture_id = ? WHERE audit_id = ?",
                        (write.capture.id, audit_id),
                    )
            result.count(write)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result

"""The durable record of captures: a small store interface and how to open one from a URL.

The webhook answers only after ``insert`` returns, so a capture that got an answer survives a
crash.  Implementations run their blocking I/O off the event loop.  ``sqlite`` is the embedded
default (one process); ``postgresql`` is shared by several replicas.  Each back-end module is
imported only when a URL asks for it, so SQLite users never load the PostgreSQL driver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from breakglass import model
from breakglass.capture.audit import AuditCapture, Confirmation
from breakglass.errors import ConfigError, ConfigProblem, JournalUnavailable
from breakglass.urls import SQLITE_PREFIX, is_postgresql, redact_url


@dataclass(frozen=True)
class InsertResult:
    """The stored capture, and whether this call created it (``False`` = a replayed uid)."""

    capture: model.Capture
    created: bool


@dataclass
class AuditResult:
    """What one audit batch did to the journal.

    ``confirmed_captures`` and ``created_captures`` hold the captures as stored after this
    batch (duplicates excluded), for the audit log.
    """

    confirmed: int = 0
    audit_only: int = 0
    duplicates: int = 0
    orphaned_confirmations: list[str] = field(default_factory=list)
    confirmed_captures: list[model.Capture] = field(default_factory=list)
    created_captures: list[model.Capture] = field(default_factory=list)


class Journal(Protocol):
    """The store every back-end implements."""

    url: str

    async def open(self) -> None:
        """Create or migrate the schema; raise ``JournalUnavailable`` if impossible."""

    async def close(self) -> None: ...

    async def insert(self, capture: model.Capture) -> InsertResult:
        """Store a capture durably; idempotent on ``request_uid`` and ``audit_id``."""

    async def record_audit(
        self, items: Sequence[Confirmation | AuditCapture], *, now: datetime
    ) -> AuditResult:
        """Apply a batch of audit outcomes in one transaction, deduplicated by audit ID."""

    async def get(self, capture_id: str) -> model.Capture | None: ...

    async def list(
        self,
        *,
        status: str | None = None,
        limit: int = 100,
        after: str | None = None,
        oldest_first: bool = False,
    ) -> Sequence[model.Capture]:
        """Captures, newest first (or ``oldest_first``), at most ``limit``; with ``after``,
        only those whose id sorts after it, so a reader can page through all of them."""

    async def update(
        self,
        capture_id: str,
        changes: Mapping[str, Any],
        *,
        expect_status: model.Status | None = None,
    ) -> model.Capture | None:
        """Set ``changes`` (``Capture`` fields → values) on the stored capture and return it as
        stored now, or ``None`` if there is none.  With ``expect_status``, nothing is written
        unless the capture is still in that status (the stored one is returned as it is).

        The row is read and written in one transaction, so what another writer changed in the
        meantime (an audit confirmation: its ID, the exact patch, what only the audit event
        knows of the actor) is kept: a caller never writes back a copy it read earlier.
        ``updated_at`` is set to now unless ``changes`` names it.
        """

    async def check_writable(self) -> None:
        """Raise ``JournalUnavailable`` unless a write would succeed now."""

    async def leadership(self) -> int:
        """Whether this process should run the backfill worker now: ``0`` when it should not,
        else the *term* it leads in; asked before every pass, and before each write of a pass.

        A store only one process uses (SQLite) always answers ``1``.  A store several replicas
        share answers non-zero to one of them at a time, and keeps answering the same term
        until that replica closes the journal or loses its connection; leading again after
        that is a new term, so a pass begun in the old one can tell it must stop (fencing).
        Raises ``JournalError`` when it cannot tell; the worker then treats itself as not
        leading.
        """


def list_query(
    select: str, *, status: str | None, after: str | None, oldest_first: bool, mark: str
) -> tuple[str, list[object]]:
    """``Journal.list``'s query (``select`` with its ``WHERE … ORDER BY … LIMIT`` tail) and its
    parameters but the limit, which comes last (``mark`` is the back-end's placeholder).  The
    tail is built from fixed text and placeholders only: every value is a parameter."""
    where: list[str] = []
    params: list[object] = []
    if status:
        where.append(f"status = {mark}")
        params.append(status)
    if after:
        where.append(f"id > {mark}")
        params.append(after)
    tail = (" WHERE " + " AND ".join(where)) if where else ""
    tail += f" ORDER BY id {'ASC' if oldest_first else 'DESC'} LIMIT {mark}"
    return select + tail, params


def apply_changes(
    capture: model.Capture, changes: Mapping[str, Any], now: datetime
) -> model.Capture:
    """``capture`` with ``changes`` set (and ``updated_at``, unless given): what ``update``
    writes, the same on every back-end."""
    return dataclasses.replace(capture, **{"updated_at": now, **changes})


def apply_confirmation(capture: model.Capture, item: Confirmation, now: datetime) -> model.Capture:
    """``capture`` as an audit event confirming it leaves it: ``provisional`` becomes
    ``confirmed`` (a later status is kept), the audit ID and the exact patch are recorded, and
    the actor gains what only the audit event knows (source IPs, user agent, …)."""
    if capture.status is model.Status.PROVISIONAL:
        status = model.Status.CONFIRMED
    else:
        status = capture.status
    delta = capture.delta
    if item.patch is not None or item.patch_type is not None:
        delta = model.Delta(
            before=delta.before,
            after=delta.after,
            patch=item.patch if item.patch is not None else delta.patch,
            patch_type=item.patch_type,
            paths=delta.paths,
        )
    return dataclasses.replace(
        capture,
        status=status,
        audit_id=item.audit_id,
        actor=_merge_actor(capture.actor, item.actor),
        delta=delta,
        confirmed_at=capture.confirmed_at or item.at,
        updated_at=now,
    )


def _merge_actor(base: model.Actor, audit: model.Actor) -> model.Actor:
    return model.Actor(
        username=base.username,
        uid=base.uid or audit.uid,
        groups=base.groups or audit.groups,
        extra=base.extra or audit.extra,
        impersonator=base.impersonator or audit.impersonator,
        impersonator_groups=base.impersonator_groups or audit.impersonator_groups,
        field_manager=base.field_manager or audit.field_manager,
        user_agent=base.user_agent or audit.user_agent,
        source_ips=base.source_ips or audit.source_ips,
    )


def open_journal(url: str, *, password: str | None = None) -> Journal:
    """A journal for ``url`` (not yet opened): ``sqlite:///PATH`` or
    ``postgresql://USER@HOST[:PORT]/DATABASE``.

    ``password`` is for PostgreSQL (from ``journal.password_env``); without it libpq's own
    sources apply (``PGPASSWORD``, ``PGPASSFILE`` or ``~/.pgpass``).
    """
    if url.startswith(SQLITE_PREFIX):
        from breakglass.journal import sqlite

        return sqlite.SQLiteJournal(url)
    if is_postgresql(url):
        try:
            from breakglass.journal import postgresql
        except ImportError as exc:
            if not (exc.name or "").startswith("psycopg"):
                raise
            raise JournalUnavailable(
                f"the PostgreSQL journal needs the psycopg driver, which is not installed ({exc})",
                hint="pip install 'breakglass[postgresql]'",
            ) from exc
        return postgresql.PostgreSQLJournal(url, password=password)
    raise ConfigError(
        "journal",
        [ConfigProblem("journal", redact_url(url), "sqlite:///PATH or postgresql://…")],
    )

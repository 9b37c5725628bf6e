"""The durable record of captures: a small store interface and how to open one from a URL.

The webhook answers only after ``insert`` returns, so a capture that got an answer survives a
crash.  Implementations run their blocking I/O off the event loop.  ``sqlite`` is the embedded
default (one process); ``postgresql`` is shared by several replicas.  Each back-end module is
imported only when a URL asks for it, so SQLite users never load the PostgreSQL driver.

What the back-ends store and decide is the same for both, so it lives here: a capture's
``captures`` row (``capture_row``, ``insert_query``), the listing query (``list_query``), what
``update`` writes (``changed_capture``), when an insert finds its capture already recorded
(``recorded_by_audit``) and what each audit outcome writes (``audit_write``).  Each back-end
keeps only its SQL dialect, transactions and connections.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

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

    def count(self, write: AuditWrite) -> None:
        """Account for what one audit outcome not seen before wrote."""
        if write.capture is None:
            self.orphaned_confirmations.append(write.orphan)
        elif write.new:
            self.audit_only += 1
            self.created_captures.append(write.capture)
        else:
            self.confirmed += 1
            self.confirmed_captures.append(write.capture)


@dataclass(frozen=True)
class AuditWrite:
    """What one audit outcome not seen before writes: ``capture``, inserted if ``new``, else
    rewritten over the stored one; nothing when ``capture`` is ``None`` (the confirmation of
    the capture ``orphan``, which is not stored and has no fallback)."""

    capture: model.Capture | None
    new: bool = False
    orphan: str = ""


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

    async def put_session(self, session: model.Session) -> None:
        """Store a break-glass session durably, replacing the one of the same name."""

    async def sessions(self, *, ended_after: datetime | None = None) -> Sequence[model.Session]:
        """Every session, oldest first; with ``ended_after``, only those that end after it
        (the open ones, and those a reader still needs)."""

    async def put_pause(self, pause: model.Pause) -> None:
        """Store a paused self-heal durably (its schedule), replacing the one of the same key."""

    async def pauses(self, *, active: bool = False) -> Sequence[model.Pause]:
        """Every pause, oldest first; with ``active``, only those not yet restored."""

    async def put_tf_drift(self, drift: model.TerraformDrift) -> None:
        """Store what a Terraform scan found about one resource, replacing the same key."""

    async def tf_drifts(self, *, unresolved: bool = False) -> Sequence[model.TerraformDrift]:
        """Every Terraform drift, oldest first; with ``unresolved``, only those still found."""

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


#: The ``captures`` table's columns, in ``capture_row``'s order.
CAPTURE_COLUMNS: Final = (
    "id",
    "request_uid",
    "audit_id",
    "status",
    "source",
    "received_at",
    "updated_at",
    "kind",
    "namespace",
    "name",
    "username",
    "data",
)


async def every_capture(journal: Journal, *, page: int = 500) -> list[model.Capture]:
    """Every capture the journal holds, oldest first, read page by page."""
    out: list[model.Capture] = []
    after: str | None = None
    while True:
        batch = await journal.list(limit=page, after=after, oldest_first=True)
        out.extend(batch)
        if len(batch) < page:
            return out
        after = batch[-1].id


def capture_row(capture: model.Capture, data: object) -> tuple[object, ...]:
    """The ``captures`` row of ``capture`` (``CAPTURE_COLUMNS``): the fields queries filter or
    deduplicate on, then ``data``, the capture document as the back-end stores it.  Times are
    ``datetime``s; a back-end that stores them otherwise converts them."""
    return (
        capture.id,
        capture.request_uid,
        capture.audit_id,
        capture.status.value,
        capture.source.value,
        capture.received_at,
        capture.updated_at or capture.received_at,
        capture.object.kind,
        capture.object.namespace,
        capture.object.name,
        capture.actor.username,
        data,
    )


def insert_query(*, mark: str, data_mark: str) -> str:
    """The ``INSERT`` of one ``capture_row``: ``mark`` is the back-end's placeholder and
    ``data_mark`` the document's (which may cast it).  Fixed text only: every value is a
    parameter."""
    columns = ", ".join(CAPTURE_COLUMNS)
    marks = ", ".join([mark] * (len(CAPTURE_COLUMNS) - 1) + [data_mark])
    return f"INSERT INTO captures ({columns}) VALUES ({marks})"  # noqa: S608 (no values in it)


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


def changed_capture(
    current: model.Capture | None,
    changes: Mapping[str, Any],
    *,
    expect_status: model.Status | None,
    now: datetime,
) -> model.Capture | None:
    """What ``update`` writes over ``current``, the stored capture: ``current`` with ``changes``
    set (and ``updated_at``, unless given); ``None`` when it writes nothing (no capture stored,
    or not in ``expect_status``), and ``update`` then answers ``current`` as it is."""
    if current is None or (expect_status is not None and current.status is not expect_status):
        return None
    return dataclasses.replace(current, **{"updated_at": now, **changes})


def recorded_by_audit(existing: model.Capture | None) -> bool:
    """Whether ``existing``, stored under the id of a capture being inserted, is that capture
    as its audit event recorded it first (the webhook answered before its insert was durable):
    the late insert then answers it instead of failing on the id."""
    return (
        existing is not None
        and existing.source is model.Source.AUDIT
        and existing.request_uid is None
    )


def audit_key(item: Confirmation | AuditCapture) -> tuple[str, str | None]:
    """The audit ID an audit outcome is deduplicated by, and the capture it is known to be
    about before anything is read (an audit-only capture's own id; ``None`` for a
    confirmation, whose capture may turn out not to be stored)."""
    if isinstance(item, Confirmation):
        audit_id, known = item.audit_id, None
    else:
        audit_id, known = item.capture.audit_id or "", item.capture.id
    assert audit_id
    return audit_id, known


def audit_write(
    item: Confirmation | AuditCapture, stored: model.Capture | None, now: datetime
) -> AuditWrite:
    """What an audit outcome not seen before writes; ``stored`` is the capture a confirmation
    confirms, as stored (``None`` when it is not, or for an audit-only capture)."""
    if isinstance(item, AuditCapture):
        return AuditWrite(item.capture, new=True)
    if stored is not None:
        return AuditWrite(apply_confirmation(stored, item, now))
    if item.fallback is None:
        return AuditWrite(None, orphan=item.capture_id)
    # the webhook answered before its capture was durable: the audit event records the change
    # under the same id (a late insert then finds it)
    return AuditWrite(item.fallback(), new=True)


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


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite journal URL names; ``None`` for a PostgreSQL one, a database its
    server keeps (opening it creates nothing on this machine)."""
    return Path(url[len(SQLITE_PREFIX) :]) if url.startswith(SQLITE_PREFIX) else None


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

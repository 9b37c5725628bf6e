"""The durable record of captures: a small store interface and how to open one from a URL.

The webhook answers only after ``insert`` returns, so a capture that got an answer survives a
crash.  Implementations run their blocking I/O off the event loop.  ``sqlite`` is the embedded
default; other back-ends implement the same ``Journal`` protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from breakglass import model
from breakglass.capture.audit import AuditCapture, Confirmation
from breakglass.errors import ConfigError, ConfigProblem


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
        self, *, status: str | None = None, limit: int = 100
    ) -> Sequence[model.Capture]: ...

    async def update(self, capture: model.Capture) -> None:
        """Replace a stored capture (status changes by the worker)."""

    async def check_writable(self) -> None:
        """Raise ``JournalUnavailable`` unless a write would succeed now."""


def open_journal(url: str) -> Journal:
    """A journal for ``url`` (not yet opened): ``sqlite:///PATH``."""
    if url.startswith("sqlite:///"):
        from breakglass.journal import sqlite

        return sqlite.SQLiteJournal(url)
    raise ConfigError(
        "journal",
        [ConfigProblem("journal", url, "sqlite:///PATH (postgresql support is planned)")],
    )

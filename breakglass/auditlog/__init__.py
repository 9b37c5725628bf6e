"""The tamper-evident audit log: one HMAC-chained JSON line per event in a capture's life.

Security reviewers need a record of every manual change, and of what became of it, that they
can trust without trusting the journal (which breakglass rewrites as captures move on) or Git
(which only holds what was backfilled).  So the audit log is a third store: append-only JSON
Lines, each record carrying a contiguous ``seq``, the previous record's MAC (``prev``) and its
own ``mac`` (HMAC-SHA256 over the canonical JSON of the rest).  Anyone holding the key can
prove that no record was changed, removed or reordered; the chain head (``seq`` + ``mac``)
written into backfill commits and PR bodies makes cutting off the tail detectable too.

- ``records``: the record format, canonical JSON, MACs and events built from captures (pure);
- ``keys``: where the HMAC key comes from (environment, mounted file, generated file);
- ``writer``: ``AuditLog``, the fsync'd, rotating, single-writer appender;
- ``verify``: checks a set of files and names every problem;
- ``query``: reads records back and filters them for ``breakglass audit show``.
"""

from __future__ import annotations

from breakglass.auditlog.records import GENESIS, ChainHead, Event, EventType, from_capture
from breakglass.auditlog.writer import WRITE_TIMEOUT, AuditLog, record_safely

__all__ = [
    "GENESIS",
    "WRITE_TIMEOUT",
    "AuditLog",
    "ChainHead",
    "Event",
    "EventType",
    "from_capture",
    "record_safely",
]

"""The error tree, so callers decide by type and retries live in the exception itself.

::

    BreakglassError                    anything breakglass raises on purpose
    ├── ConfigError                    settings that cannot be used; carries every problem
    ├── InputError                     bad input from a user or a file (CLI exit code 2)
    ├── JournalError                   the durable store failed
    │   └── JournalUnavailable         ... and is not usable at all right now
    │       └── JournalInterrupted     ... for now: its server went away (also a TemporaryError)
    ├── AuditLogError                  the tamper-evident audit log cannot be written or read
    │   └── AuditLogCorrupt            ... its tail fails verification; appending would hide it
    ├── TemporaryError(delay=…)        try again later; ``delay`` is the suggested wait
    │   └── RateLimited                the remote said "slow down" and when to come back
    └── PermanentError                 retrying will not help (no permission, protected branch)

Only ``TemporaryError`` and its children are retried by workers; everything else is recorded
and surfaced.  The CLI maps these to one-line messages with a hint (see ``cli.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class BreakglassError(Exception):
    """Base class of every error breakglass raises on purpose."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a settings file: where, what was found, and what is allowed."""

    path: str
    value: str
    allowed: str

    def __str__(self) -> str:
        return f"{self.path}: {self.value} ({self.allowed})"


class ConfigError(BreakglassError):
    """Settings could not be loaded; ``problems`` lists every issue found, not just the first."""

    hint = "run `breakglass config check FILE` to see every problem at once"

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "; ".join(str(p) for p in self.problems)
        super().__init__(f"invalid configuration in {source}: {lines}")


class InputError(BreakglassError):
    """Input from a user or a file that cannot be used as given."""


class JournalError(BreakglassError):
    """The capture journal failed to read or write."""


class JournalUnavailable(JournalError):
    """The journal cannot be used at all (unwritable file, database down)."""


class AuditLogError(BreakglassError):
    """The audit log could not be opened, written or read."""


class AuditLogCorrupt(AuditLogError):
    """The last record of the audit log does not verify, so nothing more is appended to it."""

    hint = (
        "run `breakglass audit verify DIR` to see what is wrong; to start a new chain, move the "
        "directory aside (the old chain stays verifiable on its own)"
    )


class TemporaryError(BreakglassError):
    """A failure that is expected to go away; retry after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.delay = delay


class JournalInterrupted(JournalUnavailable, TemporaryError):
    """The journal's server dropped the connection (restart, failover, network).  Also a
    ``TemporaryError``: the journal reconnects on the next call, so retrying helps."""


class RateLimited(TemporaryError):
    """The remote asked us to slow down; ``delay`` is how long it asked us to wait."""


class PermanentError(BreakglassError):
    """A failure that retrying will not fix."""

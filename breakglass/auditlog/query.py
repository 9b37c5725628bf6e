"""Read audit records back and filter them: what ``breakglass audit show`` is built on.

Reading does not need the key and does not verify (``breakglass audit verify`` does); a line
that cannot be parsed is counted and skipped so that one damaged record does not hide the rest.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from breakglass import model
from breakglass.auditlog import records
from breakglass.auditlog.verify import expand
from breakglass.errors import InputError

Record = dict[str, Any]

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, *, now: datetime) -> datetime:
    """``7d``/``12h``/``30m``/``2w`` before ``now``, or an ISO date or date-time (UTC if bare)."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        return model.parse_time(value)
    except ValueError:
        raise InputError(
            f"cannot read time {text!r}",
            hint="use an ISO date or time (2026-11-20, 2026-11-20T14:00:00Z) or 7d, 12h, 30m",
        ) from None


@dataclass(frozen=True)
class Filter:
    """Conditions a record must meet; ``None`` means "any"."""

    user: str | None = None
    namespace: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None
    type: str | None = None
    capture_id: str | None = None

    def matches(self, record: Record) -> bool:
        actor = _section(record, "actor")
        obj = _section(record, "object")
        if self.user is not None:
            names = [actor.get("user"), actor.get("impersonator")]
            if not any(isinstance(n, str) and fnmatch.fnmatchcase(n, self.user) for n in names):
                return False
        if self.namespace is not None and not fnmatch.fnmatchcase(
            str(obj.get("namespace") or ""), self.namespace
        ):
            return False
        if self.kind is not None and str(obj.get("kind") or "").lower() != self.kind.lower():
            return False
        for wanted, field in (
            (self.outcome, "outcome"),
            (self.type, "type"),
            (self.capture_id, "capture_id"),
        ):
            if wanted is not None and record.get(field) != wanted:
                return False
        if self.since is not None or self.until is not None:
            try:
                when = model.parse_time(str(record.get("time")))
            except ValueError:
                return False
            if self.since is not None and when < self.since:
                return False
            if self.until is not None and when >= self.until:
                return False
        return True


def _section(record: Record, name: str) -> dict[str, Any]:
    value = record.get(name)
    return value if isinstance(value, dict) else {}


@dataclass
class Reading:
    """Records read so far and how many lines could not be parsed."""

    skipped: int = 0


def read(paths: Sequence[Path], reading: Reading | None = None) -> Iterator[Record]:
    """Every parseable record in ``paths`` (files or directories), in chain order."""
    state = reading if reading is not None else Reading()
    for path in expand(paths):
        with path.open("rb") as fh:
            for raw in fh:
                try:
                    yield records.parse_line(raw.rstrip(b"\n"))
                except ValueError:
                    state.skipped += 1


def select(paths: Sequence[Path], where: Filter, reading: Reading | None = None) -> list[Record]:
    return [r for r in read(paths, reading) if where.matches(r)]

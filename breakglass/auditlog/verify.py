"""Check an audit log chain across its files and name every problem found.

What is checked, record by record, in file order: the line is a complete JSON record (a final
line without its newline is a *truncated record*); its MAC is right under the key (*mac
mismatch*); its bytes are exactly the canonical encoding (so no tool can read it differently);
its ``seq`` is one more than the previous record's (*sequence gap* when records are missing,
*out of order* when a number comes back); and its ``prev`` is the previous record's MAC (*prev
mismatch*).  After a problem the check re-synchronises on the record it found, so one deleted
line is reported once, not for every record after it.

What it cannot see on its own is a chain cut off at the end: for that, pass the chain heads
recorded in Git (commit trailers, PR bodies) as anchors; each must be a record of the chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from breakglass.auditlog import records
from breakglass.auditlog.records import GENESIS, ChainHead
from breakglass.auditlog.writer import FILE_PATTERN, log_files
from breakglass.errors import InputError


@dataclass(frozen=True)
class Problem:
    """One thing wrong, with the record's ``seq`` when it is known and where it was found."""

    message: str
    file: str
    line: int
    seq: int | None = None

    def __str__(self) -> str:
        prefix = f"seq={self.seq} " if self.seq is not None else ""
        where = f" at {self.file}:{self.line}" if self.file else ""
        return f"{prefix}INVALID: {self.message}{where}"


@dataclass(frozen=True)
class Report:
    """The outcome of a verification: counts, problems, and the last record's place."""

    total: int
    valid: int
    problems: tuple[Problem, ...]
    head: ChainHead
    files: tuple[Path, ...]
    anchored: tuple[ChainHead, ...] = ()  # the anchors this chain holds, MAC for MAC

    @property
    def ok(self) -> bool:
        return not self.problems and self.total == self.valid

    def summary(self) -> str:
        return f"{self.valid}/{self.total} records valid"


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files named by ``paths`` (a directory stands for its log files), in chain order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(log_files(path))
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"no such audit log file or directory: {path}")
    unique = list(dict.fromkeys(p.resolve() for p in found))

    def order(item: tuple[int, Path]) -> tuple[int, int, int]:
        position, path = item
        match = FILE_PATTERN.match(path.name)
        return (0, int(match.group(2)), position) if match else (1, 0, position)

    return [p for _, p in sorted(enumerate(unique), key=order)]


def verify(paths: Sequence[Path], *, key: bytes, anchors: Sequence[ChainHead] = ()) -> Report:
    """Verify the chain made of ``paths`` (files or directories) under ``key``."""
    files = expand(paths)
    problems: list[Problem] = []
    total = valid = 0
    last_seq, last_mac = 0, GENESIS
    seen: dict[int, str] = {}
    for path in files:
        data = path.read_bytes()
        lines = data.split(b"\n")
        complete = lines[-1] == b""
        if complete:
            lines.pop()
        for index, raw in enumerate(lines, start=1):
            total += 1
            name = path.name
            partial = index == len(lines) and not complete
            try:
                record = records.parse_line(raw)
            except ValueError as exc:
                if partial:
                    problems.append(Problem("truncated record", name, index))
                else:
                    problems.append(Problem(f"unreadable record ({exc})", name, index))
                continue
            seq = int(record["seq"])
            good = True
            if not records.mac_ok(record, key):
                problems.append(Problem("mac mismatch", name, index, seq))
                good = False
            elif records.canonical(record) != raw:
                problems.append(Problem("record is not in canonical form", name, index, seq))
                good = False
            expected = last_seq + 1
            if seq > expected:
                problems.append(
                    Problem(f"sequence gap (expected {expected}, found {seq})", name, index)
                )
                good = False
            elif seq < expected:
                problems.append(
                    Problem(
                        f"sequence out of order (expected {expected}, found {seq})", name, index
                    )
                )
                good = False
            elif record.get("prev") != last_mac:
                problems.append(Problem("prev mismatch", name, index, seq))
                good = False
            if good and partial:
                problems.append(Problem("record has no final newline", name, index, seq))
            elif good:
                valid += 1
                seen[seq] = str(record["mac"])
            last_seq, last_mac = seq, str(record["mac"])
    for anchor in anchors:
        if anchor.seq not in seen:
            where = "is missing or invalid" if anchor.seq <= last_seq else "is past the end"
            problems.append(
                Problem(f"anchor seq={anchor.seq} {where} (log ends at seq={last_seq})", "", 0)
            )
        elif seen[anchor.seq] != anchor.mac:
            problems.append(Problem("anchor mac differs from the log", "", 0, anchor.seq))
    return Report(
        total=total,
        valid=valid,
        problems=tuple(problems),
        head=ChainHead(last_seq, last_mac),
        files=tuple(files),
        anchored=tuple(a for a in anchors if seen.get(a.seq) == a.mac),
    )

"""``AuditLog``: the one writer of the chain, durable before it answers, rotating as it goes.

Why it is built this way:

- **One thread owns the files.**  Callers on the event loop hand events to a single worker
  thread and await the result, so ``seq`` is assigned in one place and can never repeat, and
  blocking ``write``/``fsync`` calls never stall the loop.  Callers that arrive while a write
  is in flight are written together with one ``fsync`` (group commit).
- **Durable before it returns.**  A record is acknowledged only after ``fsync`` of the file
  (and of the directory when a rotation created a file).  If a write fails part-way, the file
  is truncated back to its last good byte and the chain state is left unchanged; if even that
  fails the writer refuses further appends rather than extend a damaged chain.
- **Resume, don't trust.**  On ``open`` the last record of the newest file is parsed and its
  MAC checked; a tail that does not verify (a partial line, an edited record, a different key)
  raises ``AuditLogCorrupt`` instead of chaining new records onto it.
- **One process per directory.**  An exclusive ``flock`` on ``<dir>/.lock`` stops a second
  replica from interleaving its own chain into the same files.

Files are named ``audit-YYYYMMDD-NNNN.jsonl``: the UTC day the file was started and a file
number that only grows, which is what ordering uses (a clock going backwards cannot reorder).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import fcntl
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from breakglass import logs, model
from breakglass.auditlog import records
from breakglass.auditlog.records import GENESIS, ChainHead, Event
from breakglass.errors import AuditLogCorrupt, AuditLogError
from breakglass.metrics import Metrics

log = logs.get(__name__)

FILE_PATTERN: Final = re.compile(r"^audit-(\d{8})-(\d{4,})\.jsonl$")
LOCK_NAME: Final = ".lock"
#: How long a webhook waits for the audit log before answering anyway (the write goes on).
WRITE_TIMEOUT: Final = 2.0
_TAIL_CHUNK: Final = 64 * 1024

Record = dict[str, Any]


def file_name(day: str, index: int) -> str:
    return f"audit-{day}-{index:04d}.jsonl"


def log_files(directory: Path) -> list[Path]:
    """The chain's files in ``directory``, oldest first (by file number, not by name)."""
    found: list[tuple[int, str, Path]] = []
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return []
    for path in entries:
        match = FILE_PATTERN.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(2)), match.group(1), path))
    return [p for _, _, p in sorted(found)]


def _day(moment: datetime) -> str:
    return model.format_time(moment)[:10].replace("-", "")


def last_line(path: Path) -> bytes:
    """The final line of ``path`` including its newline (``b""`` for an empty file)."""
    with path.open("rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end == 0:
            return b""
        data = b""
        pos = end
        while pos > 0:
            step = min(_TAIL_CHUNK, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
            if data.count(b"\n") >= 2 or (data.count(b"\n") == 1 and not data.endswith(b"\n")):
                break
    body = data[:-1] if data.endswith(b"\n") else data
    cut = body.rfind(b"\n")
    return data[cut + 1 :]


@dataclass
class _State:
    """Where the chain ends and which file the next record goes to."""

    seq: int = 0
    mac: str = GENESIS
    index: int = 0
    day: str = ""
    path: Path | None = None
    size: int = 0


class AuditLog:
    """Appends events to the HMAC chain in ``directory``; ``open`` before, ``close`` after."""

    def __init__(
        self,
        directory: Path,
        *,
        key: bytes,
        max_bytes: int = 64 * 1024 * 1024,
        rotate_daily: bool = True,
        clock: Callable[[], datetime] = model.utcnow,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.rotate_daily = rotate_daily
        self._key = key
        self._clock = clock
        self._state = _State()
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._broken: str | None = None
        self._opened = False
        self._pending: list[tuple[Sequence[Event], concurrent.futures.Future[list[Record]]]] = []
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="auditlog"
        )

    def __repr__(self) -> str:
        return f"AuditLog({str(self.directory)!r}, head={self.head})"

    @property
    def head(self) -> ChainHead:
        """The newest record's ``seq`` and ``mac`` (``0`` and ``GENESIS`` for an empty chain)."""
        state = self._state
        return ChainHead(state.seq, state.mac)

    @property
    def is_open(self) -> bool:
        return self._opened

    # -- life cycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Take the directory lock and resume the chain; ``AuditLogCorrupt`` if the tail is bad."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._open)

    def _open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
            lock_fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise AuditLogError(
                f"cannot use audit log directory {self.directory}: {exc.strerror}",
                hint="check audit_log.dir exists and is writable by breakglass",
            ) from exc
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(lock_fd)
            raise AuditLogError(
                f"audit log {self.directory} is in use by another process",
                hint="each breakglass replica needs its own audit_log.dir",
            ) from exc
        try:
            self._state = self._resume()
        except BaseException:
            os.close(lock_fd)
            raise
        self._lock_fd = lock_fd
        self._opened = True
        log.info("audit_log_opened", dir=str(self.directory), seq=self._state.seq)

    def _resume(self) -> _State:
        files = log_files(self.directory)
        if not files:
            return _State()
        newest = files[-1]
        match = FILE_PATTERN.match(newest.name)
        assert match is not None
        state = _State(
            index=int(match.group(2)),
            day=match.group(1),
            path=newest,
            size=newest.stat().st_size,
        )
        for path in reversed(files):
            tail = last_line(path)
            if not tail:
                continue
            record = self._check_tail(path, tail)
            state.seq = record["seq"]
            state.mac = record["mac"]
            break
        return state

    def _check_tail(self, path: Path, tail: bytes) -> Record:
        where = f"{path.name} (last record)"
        if not tail.endswith(b"\n"):
            raise AuditLogCorrupt(f"audit log {where} is a partial line; refusing to append")
        try:
            record = records.parse_line(tail[:-1])
        except ValueError as exc:
            raise AuditLogCorrupt(
                f"audit log {where} is unreadable ({exc}); refusing to append"
            ) from exc
        if not records.mac_ok(record, self._key) or records.canonical(record) != tail[:-1]:
            raise AuditLogCorrupt(
                f"audit log {where} fails its MAC (seq={record.get('seq')}): tampered, or "
                "written with a different key; refusing to append",
            )
        return record

    async def close(self) -> None:
        """Finish pending writes, then release the files and the directory lock."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(RuntimeError):  # already shut down
            await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        self._drain()
        with self._write_lock:
            self._opened = False
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # -- appending ------------------------------------------------------------------------

    def submit(self, events: Sequence[Event]) -> concurrent.futures.Future[list[Record]]:
        """Queue ``events``; the future resolves to their records once they are fsync'd."""
        if not self._opened:
            raise AuditLogError(
                f"audit log {self.directory} is not open", hint="see the start-up log for why"
            )
        future: concurrent.futures.Future[list[Record]] = concurrent.futures.Future()
        with self._pending_lock:
            self._pending.append((tuple(events), future))
        try:
            self._executor.submit(self._drain)
        except RuntimeError as exc:  # closed while we queued
            with self._pending_lock:
                self._pending = [(e, f) for e, f in self._pending if f is not future]
            raise AuditLogError(f"audit log {self.directory} is closed") from exc
        return future

    async def append_many(self, events: Sequence[Event]) -> list[Record]:
        """Append ``events`` in order; return their sealed records once durable."""
        return await asyncio.wrap_future(self.submit(events))

    async def append(self, event: Event) -> Record:
        """Append one event; return its sealed record once durable."""
        return (await self.append_many([event]))[0]

    def _drain(self) -> None:
        with self._pending_lock:
            batch, self._pending = self._pending, []
        live = [(events, f) for events, f in batch if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            written = self._write([events for events, _ in live])
        except BaseException as exc:
            for _, future in live:
                future.set_exception(exc)
            return
        for (_, future), recs in zip(live, written, strict=True):
            future.set_result(recs)

    def _write(self, groups: Sequence[Sequence[Event]]) -> list[list[Record]]:
        with self._write_lock:
            if self._broken is not None:
                raise AuditLogError(self._broken, hint="restart breakglass after fixing the disk")
            if not self._opened:
                raise AuditLogError(f"audit log {self.directory} is closed")
            saved = dataclasses.replace(self._state)
            touched: list[tuple[Path, int]] = []  # files written in this batch, size before
            now = self._clock()
            out: list[list[Record]] = []
            try:
                for group in groups:
                    sealed = []
                    for event in group:
                        state = self._state
                        record = records.seal(
                            event, seq=state.seq + 1, time=now, prev=state.mac, key=self._key
                        )
                        data = records.line(record)
                        self._rotate_if_needed(now, len(data), touched)
                        assert self._fd is not None
                        if not touched or touched[-1][0] != self._state.path:
                            assert self._state.path is not None
                            touched.append((self._state.path, self._state.size))
                        _write_all(self._fd, data)
                        state.size += len(data)
                        state.seq = record["seq"]
                        state.mac = record["mac"]
                        sealed.append(record)
                    out.append(sealed)
                if self._fd is not None:
                    os.fsync(self._fd)
            except OSError as exc:
                self._undo(saved, touched)
                raise AuditLogError(
                    f"cannot write audit log {self.directory}: {exc.strerror or exc}"
                ) from exc
            return out

    def _rotate_if_needed(self, now: datetime, size: int, touched: list[tuple[Path, int]]) -> None:
        state = self._state
        today = _day(now)
        if self._fd is None and state.path is not None:
            same_day = state.day == today or not self.rotate_daily
            if same_day and (state.size == 0 or state.size + size <= self.max_bytes):
                self._fd = os.open(state.path, os.O_WRONLY | os.O_APPEND)
                return
        if self._fd is not None:
            new_day = self.rotate_daily and state.day != today
            too_big = state.size > 0 and state.size + size > self.max_bytes
            if not (new_day or too_big):
                return
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        index = state.index + 1
        path = self.directory / file_name(today, index)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o640)
        touched.append((path, 0))
        self._fd = fd
        _fsync_dir(self.directory)
        state.index, state.day, state.path, state.size = index, today, path, 0
        log.info("audit_log_rotated", file=path.name, seq=state.seq + 1)

    def _undo(self, saved: _State, touched: list[tuple[Path, int]]) -> None:
        """Put the files and the chain state back as they were before a failed batch."""
        try:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            for path, size in touched:
                if size == 0 and path != saved.path:
                    path.unlink(missing_ok=True)
                else:
                    os.truncate(path, size)
            _fsync_dir(self.directory)
        except OSError as exc:
            self._broken = (
                f"audit log {self.directory} could not be restored after a failed write "
                f"({exc.strerror or exc}); refusing to extend a damaged chain"
            )
            log.error("audit_log_broken", error=self._broken)
        self._state = saved


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def record_safely(
    audit_log: AuditLog | None,
    events: Sequence[Event],
    *,
    metrics: Metrics,
    wait: float = WRITE_TIMEOUT,
) -> list[Record] | None:
    """Append ``events`` and emit each record as an ``audit_record`` log line.

    For callers that must never fail because of the audit log (the webhooks): every error is
    logged and counted in ``breakglass_auditlog_errors_total`` and ``None`` is returned.  After
    ``wait`` seconds the caller moves on; the write itself still completes or fails later.
    """
    if audit_log is None or not events:
        return None
    try:
        future = audit_log.submit(events)
    except AuditLogError as exc:
        metrics.auditlog_errors.labels("write").inc()
        log.error("audit_log_write_failed", error=str(exc), events=len(events))
        return None
    waiting = asyncio.wrap_future(future)
    try:
        written = await asyncio.wait_for(asyncio.shield(waiting), wait)
    except TimeoutError:
        metrics.auditlog_errors.labels("timeout").inc()
        log.error("audit_log_write_slow", timeout_s=wait, events=len(events))
        waiting.add_done_callback(_late(metrics, len(events)))
        return None
    except Exception as exc:
        metrics.auditlog_errors.labels("write").inc()
        log.error("audit_log_write_failed", error=str(exc), events=len(events))
        return None
    for record in written:
        metrics.auditlog_records.labels(record["type"]).inc()
        log.info("audit_record", record=record)
    metrics.auditlog_seq.set(written[-1]["seq"])
    return written


def _late(metrics: Metrics, count: int) -> Callable[[asyncio.Future[list[Record]]], None]:
    def done(future: asyncio.Future[list[Record]]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            metrics.auditlog_errors.labels("write").inc()
            log.error("audit_log_write_failed", error=str(exc), events=count)
            return
        for record in future.result():
            metrics.auditlog_records.labels(record["type"]).inc()
            log.info("audit_record", record=record, late=True)

    return done

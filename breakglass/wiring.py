"""Build the parts ``serve`` and ``worker`` share, the same way in both processes.

The webhook process and the worker process each open the journal (shared: SQLite in WAL mode
or PostgreSQL), each write their own audit-log chain (one writer per chain: the webhook's in
``audit_log.dir``, the worker's in ``audit_log.dir/worker``), and both redact with the same
salt so a marker in a capture matches the marker of the live value the worker reads later.
What only the worker talks to (the cluster, the forges) is built in ``breakglass.worker``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar

from breakglass import keyfiles, model
from breakglass.auditlog import AuditLog
from breakglass.auditlog import keys as auditlog_keys
from breakglass.capture.redact import Redactor
from breakglass.journal import Journal, every_capture, open_journal, sqlite_file
from breakglass.settings import Settings

T = TypeVar("T")

#: the worker's audit chain, a directory inside ``audit_log.dir``
WORKER_CHAIN: Final = "worker"
#: the chain ``breakglass scan --backfill`` writes when run as a command
SCAN_CHAIN: Final = "scan"
#: the chain ``breakglass drill`` writes (its changes, outcomes and cleanups)
DRILL_CHAIN: Final = "drill"
#: the chain ``breakglass tf scan --backfill`` writes when run as a command
TERRAFORM_CHAIN: Final = "terraform"


def journal(settings: Settings) -> Journal:
    """The configured journal, not yet opened (the password comes from ``password_env``)."""
    password = settings.secret(settings.journal_password_env)
    return open_journal(settings.journal_url, password=password)


async def recorded_captures(settings: Settings) -> list[model.Capture] | None:
    """Every capture the journal holds, for the commands that only read it; ``None`` when an
    SQLite journal does not exist yet (opening it would create it, and reading creates
    nothing)."""
    path = sqlite_file(settings.journal_url)
    if path is not None and not path.exists():
        return None
    store = journal(settings)
    await store.open()
    try:
        return await every_capture(store)
    finally:
        await store.close()


async def _read_journal(
    settings: Settings, read: Callable[[Journal], Awaitable[Sequence[T]]]
) -> list[T]:
    """What ``read`` gets from the journal (nothing when an SQLite journal does not exist yet:
    reading creates nothing)."""
    path = sqlite_file(settings.journal_url)
    if path is not None and not path.exists():
        return []
    store = journal(settings)
    await store.open()
    try:
        return list(await read(store))
    finally:
        await store.close()


async def recorded_sessions(settings: Settings) -> list[model.Session]:
    """Every break-glass session the journal holds."""
    return await _read_journal(settings, lambda store: store.sessions())


async def recorded_tf_drifts(settings: Settings) -> list[model.TerraformDrift]:
    """Every OpenTofu/Terraform drift the journal holds."""
    return await _read_journal(settings, lambda store: store.tf_drifts())


def audit_dir(settings: Settings, *, chain: str | None = None) -> Path:
    """The directory of one chain: the webhook's (``chain=None``) or a named one's."""
    base = settings.audit_log.dir
    return base if chain is None else base / chain


def audit_dirs(settings: Settings) -> list[Path]:
    """Every chain this installation writes: the webhook's, and the worker's, the scan
    command's, the drill's and the Terraform scan command's once they exist."""
    chains = (WORKER_CHAIN, SCAN_CHAIN, DRILL_CHAIN, TERRAFORM_CHAIN)
    named = [audit_dir(settings, chain=c) for c in chains]
    return [settings.audit_log.dir] + [d for d in named if d.is_dir()]


def audit_log(
    settings: Settings, *, chain: str | None = None, key: bytes | None = None
) -> AuditLog:
    """The audit log of one chain (not yet opened); the key defaults to the configured one."""
    secret = key if key is not None else auditlog_keys.resolve(settings, generate=True).secret
    return AuditLog(
        audit_dir(settings, chain=chain),
        key=secret,
        max_bytes=settings.audit_log.max_bytes,
        rotate_daily=settings.audit_log.rotate_daily,
    )


def redactor(settings: Settings, *, salt: bytes | None = None) -> Redactor:
    """The redactor both processes use: the configured (or generated) salt, extra patterns."""
    return Redactor(
        salt=salt if salt is not None else keyfiles.redaction_salt(settings),
        key_patterns=settings.redaction.extra_key_patterns,
    )

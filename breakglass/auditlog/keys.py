"""Where the audit log's HMAC key comes from: environment, mounted file, or a generated file.

The order is the same for ``breakglass serve`` and ``breakglass audit verify``, so both find the
same key from the same settings file: the environment variable ``audit_log.key_env``, then the
file ``audit_log.key_file``, then ``<state_dir>/audit-log.key``.  Only ``serve`` may create
that last one (random, mode 0600, with a warning): the embedded default must run without
set-up, but a key stored beside the log protects it only from someone who cannot read the
state directory, so production deployments mount a key from a Secret instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from breakglass import keyfiles, logs
from breakglass.errors import AuditLogError
from breakglass.settings import Settings

log = logs.get(__name__)

MIN_KEY_BYTES: Final = 16
GENERATED_NAME: Final = "audit-log.key"


@dataclass(frozen=True)
class Key:
    """The key and a description of where it came from (for logs; never the key itself)."""

    secret: bytes
    source: str

    def __repr__(self) -> str:
        return f"Key(source={self.source!r})"


def generated_path(settings: Settings) -> Path:
    return settings.state_dir / GENERATED_NAME


def _checked(raw: bytes, source: str) -> Key:
    secret = raw.strip()
    if len(secret) < MIN_KEY_BYTES:
        raise AuditLogError(
            f"audit log key from {source} is {len(secret)} bytes; at least {MIN_KEY_BYTES} needed",
            hint="generate one with `openssl rand -hex 32`",
        )
    return Key(secret, source)


def from_file(path: Path) -> Key:
    """The key held in ``path`` (surrounding whitespace ignored)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AuditLogError(
            f"cannot read audit log key file {path}: {exc.strerror}",
            hint="check audit_log.key_file and the file's permissions",
        ) from exc
    return _checked(raw, f"file {path}")


def from_env(name: str, environ: Mapping[str, str] | None = None) -> Key | None:
    """The key in environment variable ``name``, or ``None`` if it is unset or empty."""
    value = (os.environ if environ is None else environ).get(name, "")
    return _checked(value.encode("utf-8"), f"${name}") if value else None


def resolve(
    settings: Settings, *, environ: Mapping[str, str] | None = None, generate: bool = False
) -> Key:
    """The configured key; with ``generate``, create ``<state_dir>/audit-log.key`` if needed."""
    key = from_env(settings.audit_log.key_env, environ)
    if key is not None:
        return key
    if settings.audit_log.key_file is not None:
        return from_file(settings.audit_log.key_file)
    path = generated_path(settings)
    if path.exists():
        key = from_file(path)
        log.warning(
            "audit_log_key_generated_file",
            key_file=str(path),
            hint=f"set {settings.audit_log.key_env} or audit_log.key_file to a key kept away "
            "from the log, so someone who can write the state directory cannot forge records",
        )
        return key
    if not generate:
        raise AuditLogError(
            "no audit log key configured",
            hint=f"set {settings.audit_log.key_env}, audit_log.key_file, --key-env or --key-file",
        )
    return _generate(path, settings.audit_log.key_env)


def _generate(path: Path, env_name: str) -> Key:
    secret = secrets.token_hex(32).encode()
    try:
        stored = keyfiles.create_once(path, secret + b"\n")
    except OSError as exc:
        raise AuditLogError(
            f"cannot create audit log key file {path}: {exc.strerror}",
            hint=f"make the state directory writable, or set {env_name}",
        ) from exc
    if stored != secret + b"\n":  # another process made it first: use theirs
        return from_file(path)
    log.warning(
        "audit_log_key_generated",
        key_file=str(path),
        hint=f"a random audit log key was written to {path} (mode 0600); set {env_name} or "
        "audit_log.key_file to a key kept away from the log for a real deployment",
    )
    return Key(secret, f"file {path}")

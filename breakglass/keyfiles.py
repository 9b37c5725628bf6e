"""Small secrets breakglass generates for itself when the operator configured none.

The redaction salt must be the same for the webhook (which redacts at capture time) and the
worker (which compares the live object with a capture), and across restarts, or markers for the
same value stop matching.  When no environment variable provides it, it is created once as a
0600 file in ``state_dir`` and read back afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

from breakglass import logs
from breakglass.settings import Settings

log = logs.get(__name__)


def create_once(path: Path, data: bytes) -> bytes:
    """``data`` written to a new file ``path`` (mode 0600 from the start, fsynced), or, when
    another process created it first, what that process wrote: every generated secret of
    breakglass is made this way, so two processes starting together agree on one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return data


def load_or_create(path: Path, *, size: int = 32) -> bytes:
    """The bytes in ``path``; created with ``size`` random bytes (mode 0600) if missing."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return create_once(path, os.urandom(size))


def redaction_salt(settings: Settings) -> bytes:
    """The configured salt, else one kept in ``state_dir/redaction.salt``."""
    value = settings.secret(settings.redaction.salt_env)
    if value:
        return value.encode()
    path = settings.state_dir / "redaction.salt"
    if not path.exists():
        log.warning(
            "redaction_salt_generated",
            path=str(path),
            hint=f"set {settings.redaction.salt_env} to manage the salt yourself",
        )
    return load_or_create(path)

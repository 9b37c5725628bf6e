"""Live Secret values for SOPS re-encryption, used once and only if they are the captured ones.

Captures hold only redaction markers, so when the repository keeps Secrets SOPS-encrypted the
values are read from the cluster at backfill time (this needs the read-secrets component).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from breakglass import logs, model, sopsexec
from breakglass.capture.redact import Redactor
from breakglass.errors import PermanentError
from breakglass.gitops import sops
from breakglass.worker.context import Context

log = logs.get(__name__)


async def live_secret(
    ctx: Context,
    capture: model.Capture,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    tree: Path,
    subpath: str,
) -> tuple[sops.Secrets | None, str | None]:
    """The live Secret's values, when the repository keeps Secrets SOPS-encrypted.

    Captures hold only redaction markers, so the values are read from the cluster now (this
    needs the read-secrets component) and used once, to encrypt.  They must be the values
    the capture saw: each changed key's marker is compared with the live value's marker
    under the same salt.  A mismatch means the Secret changed again since; that capture is
    then ``superseded`` (the later change stands for it) instead of writing a value nobody
    captured.  Returns ``(secrets or None, reason it is stale or None)``.
    """
    if ctx.cluster is None or not sops.covers(subpath, lambda p: (tree / p).is_file()):
        return None, None
    try:
        live = await ctx.live_object(capture.object)
    except PermanentError as exc:
        log.warning("secret_unreadable", capture_id=capture.id, error=str(exc))
        return None, None
    if live is None:
        return None, "the Secret no longer exists in the cluster; a later change removed it"
    raw = live.get("data")
    values = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    if ctx.redactor is not None:
        stale = _secret_moved_on(ctx.redactor, values, old, new)
        if stale is not None:
            return None, stale
    binary = sopsexec.find_binary(ctx.settings.backfill.sops_binary)
    return sops.Secrets(values, sopsexec.Sops(tree, binary, values)), None


def _data_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    data = obj.get("data")
    return data if isinstance(data, dict) else {}


def _secret_moved_on(
    redactor: Redactor,
    values: Mapping[str, str],
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
) -> str | None:
    """Why the live Secret's ``values`` are not the ones a capture saw, or None if they are.

    ``old``/``new`` are the capture's (sparse, redacted) sides: a key in ``new`` must carry
    the marker of its live value; a key only in ``old`` (or set to null) must be gone.
    """
    marked = redactor.object({"data": dict(values)}, kind="Secret")["data"]
    after: dict[str, Any] = _data_of(new)
    before: dict[str, Any] = _data_of(old) if old is not None else {}
    for key, marker in after.items():
        if marker is None:
            continue
        if marked.get(key) != marker:
            return (
                f"the live Secret's key {key} no longer holds the value this capture saw; "
                "a later change replaced it"
            )
    for key in before:
        if (key not in after or after[key] is None) and key in values:
            return f"key {key}, which this capture removed, is back in the live Secret"
    return None

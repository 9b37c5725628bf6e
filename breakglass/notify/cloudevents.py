"""A notification as a signed CloudEvents 1.0 event, for any HTTP receiver (kind ``webhook``).

Pure.  The body is a CloudEvent in *structured mode* (``Content-Type:
application/cloudevents+json``): ``specversion`` "1.0", a unique ``id`` (the same on every retry
of one message, so a receiver can drop repeats), ``source`` ``breakglass/<cluster>``, ``type``
``dev.breakglass.<subject>.<what>``, ``time`` (RFC 3339), ``subject`` (the object, or the
session), ``datacontenttype`` application/json and ``data`` (the facts, never a value).

Each attempt is signed: ``X-Breakglass-Timestamp`` holds the Unix time of the attempt and
``X-Breakglass-Signature`` is ``sha256=`` and the hex HMAC-SHA256, keyed with the destination's
secret, of ``<timestamp>.<body>`` (the timestamp's digits, a dot, the body's exact bytes).  A
receiver recomputes it over the raw body, compares in constant time, and refuses a timestamp
too far from its clock (``verify`` is that check, for receivers written in Python and for
tests).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final

from breakglass import model
from breakglass.notify.events import Kind, Notification

CONTENT_TYPE: Final = "application/cloudevents+json"
TIMESTAMP_HEADER: Final = "X-Breakglass-Timestamp"
SIGNATURE_HEADER: Final = "X-Breakglass-Signature"
#: how far a receiver should let a signature's timestamp be from its own clock
TOLERANCE_SECONDS: Final = 300

TYPES: Final = {
    Kind.SESSION_OPENED: "dev.breakglass.session.opened",
    Kind.SESSION_CLOSED: "dev.breakglass.session.closed",
    Kind.PR_OPENED: "dev.breakglass.pr.opened",
    Kind.PR_MERGED: "dev.breakglass.pr.merged",
    Kind.PR_CLOSED: "dev.breakglass.pr.closed",
    Kind.REVERTED: "dev.breakglass.change.reverted",
    Kind.NEEDS_HUMAN: "dev.breakglass.change.needs_human",
}


def subject(n: Notification) -> str:
    """``Kind/namespace/name`` (``Kind/name`` cluster-wide), or ``session/<id>``."""
    if n.ref is not None:
        ref = n.ref
        return "/".join(p for p in (ref.kind, ref.namespace, ref.name) if p)
    if n.session is not None:
        return f"session/{n.session.id}"
    return n.subject


def data(n: Notification) -> dict[str, Any]:
    """The event's ``data``: who, what, where, the link, breakglass's reason, paths."""
    out: dict[str, Any] = {
        "event": n.kind.value,
        "cluster": n.cluster,
        "users": list(n.users),
        "url": n.url,
        "reason": n.reason,
        "state": n.state,
    }
    if n.ref is not None:
        out["object"] = {
            "apiVersion": n.ref.api_version,
            "kind": n.ref.kind,
            "namespace": n.ref.namespace or None,
            "name": n.ref.name,
            "subresource": n.ref.subresource or None,
        }
        out["application"] = n.application
        out["capture_id"] = n.capture_id
        out["paths"] = list(n.paths)
        out["paths_total"] = n.paths_total
    if n.session is not None:
        s = n.session
        out["session"] = {
            "id": s.id,
            "reason": n.reason,
            "user": s.user,
            "scope": list(s.scope),
            "deadline": model.format_time(s.deadline),
            "namespaces": list(s.namespaces),
            "applications": list(s.applications),
        }
    return out


def event(n: Notification) -> dict[str, Any]:
    """The structured-mode CloudEvent."""
    return {
        "specversion": "1.0",
        "id": n.id,
        "source": f"breakglass/{n.cluster}",
        "type": TYPES[n.kind],
        "time": model.format_time(n.time),
        "subject": subject(n),
        "datacontenttype": "application/json",
        "data": data(n),
    }


def body(n: Notification) -> bytes:
    """The bytes POSTed (and signed)."""
    return json.dumps(event(n), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: bytes, timestamp: int, raw: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    digest = hmac.new(secret, str(timestamp).encode("ascii") + b"." + raw, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def headers(secret: bytes, timestamp: int, raw: bytes) -> dict[str, str]:
    """The headers of one attempt (signed at ``timestamp``, Unix seconds)."""
    return {
        "Content-Type": CONTENT_TYPE,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, raw),
    }


def verify(
    secret: bytes,
    received: Mapping[str, str],
    raw: bytes,
    *,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """A receiver's check: the signature matches the raw body and the timestamp is recent.

    ``received`` are the request's headers (a case-insensitive mapping, or exact names).
    """
    stamp = received.get(TIMESTAMP_HEADER, "")
    given = received.get(SIGNATURE_HEADER, "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(given, signature(secret, int(stamp), raw))

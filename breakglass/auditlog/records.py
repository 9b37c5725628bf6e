"""The audit record: its fields, its canonical encoding, its MAC, and events built from captures.

A record is one JSON object on one line::

    {"actor":{...},"capture_id":"01J…","cluster":"prod-eu","mac":"…","object":{...},
     "outcome":"provisional","pr_url":null,"prev":"…","seq":124,"summary":{...},
     "time":"2026-11-26T02:14:07.140000Z","type":"capture","v":1}

``mac`` is HMAC-SHA256 (hex) over the *canonical JSON* of every other field: keys sorted, no
whitespace (separators ``,`` and ``:``), UTF-8 without ``\\u`` escapes for non-ASCII, no floats.
The line on disk is the canonical JSON of the whole record, so ``verify`` can also insist that
the bytes are exactly canonical (no duplicate keys or padding that other tools might read
differently).  ``prev`` is the MAC of the previous record, ``GENESIS`` for ``seq`` 1.

Summaries hold changed *paths*, never values: the capture was redacted when it was made, and
the audit log does not even carry the redacted markers.  Every string is bounded in length and
every list in size, so a hostile payload cannot make a record unbounded.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from breakglass import model

JSON = Any

FORMAT_VERSION: Final = 1
GENESIS: Final = "0" * 64
MAX_TEXT: Final = 512
MAX_ITEMS: Final = 64
MAX_PATHS: Final = 100
FIELDS: Final = frozenset(
    {"v", "seq", "time", "type", "cluster", "capture_id", "actor", "object", "summary"}
    | {"outcome", "pr_url", "prev", "mac"}
)


class EventType(enum.StrEnum):
    """What happened to a capture."""

    CAPTURE = "capture"
    CONFIRMATION = "confirmation"
    DISCARD = "discard"
    BRANCH_PUSHED = "branch_pushed"
    PR_OPENED = "pr_opened"
    PR_UPDATED = "pr_updated"
    PR_MERGED = "pr_merged"
    PR_CLOSED = "pr_closed"
    PR_SUPERSEDED = "pr_superseded"
    FAILED = "failed"
    #: ``breakglass drill`` changed an object on purpose, or recorded what became of it
    DRILL = "drill"
    #: a manual write refused by ``admission.mode`` (require-session, freeze)
    DENIED = "denied"
    #: a break-glass session opened, changed or closed
    SESSION = "session"
    #: ``tf scan`` found drift of an OpenTofu/Terraform resource, and what became of it
    TERRAFORM_DRIFT = "terraform_drift"


@dataclass(frozen=True)
class Event:
    """One thing to record, before it gets its place (``seq``, ``prev``, ``mac``) in the chain."""

    type: EventType
    capture_id: str
    cluster: str = ""
    actor: model.Actor | None = None
    object: model.ObjectRef | None = None
    summary: Mapping[str, JSON] = field(default_factory=dict)
    outcome: str = ""
    pr_url: str | None = None


@dataclass(frozen=True)
class ChainHead:
    """The newest record's place in the chain, for commit trailers and PR bodies."""

    seq: int
    mac: str

    def trailer(self) -> str:
        """``Breakglass-Audit-Head: 124:9f2c…``: a Git trailer anchoring the log in history."""
        return f"Breakglass-Audit-Head: {self}"

    def __str__(self) -> str:
        return f"{self.seq}:{self.mac}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """Read ``SEQ:MAC`` (what ``str()`` and the trailer print); raise ``ValueError``."""
        seq, sep, mac = text.strip().partition(":")
        if not sep or not seq.isdigit() or len(mac) != 64:
            raise ValueError(f"expected SEQ:MAC (a number, ':', 64 hex digits), got {text!r}")
        int(mac, 16)
        return cls(int(seq), mac.lower())


def clean(value: Any, limit: int = MAX_TEXT) -> str:
    """A bounded, valid-UTF-8 string (lone surrogates from hostile input become U+FFFD)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.encode("utf-8", "replace").decode("utf-8")


def _clean_list(values: Any, limit: int = MAX_ITEMS) -> list[str]:
    return [clean(v) for v in list(values)[:limit]]


def actor_json(actor: model.Actor | None) -> dict[str, JSON] | None:
    if actor is None:
        return None
    return {
        "user": clean(actor.username),
        "groups": _clean_list(actor.groups),
        "impersonator": clean(actor.impersonator) if actor.impersonator else None,
        "source_ips": _clean_list(actor.source_ips),
        "user_agent": clean(actor.user_agent) if actor.user_agent else None,
    }


def object_json(ref: model.ObjectRef | None) -> dict[str, JSON] | None:
    if ref is None:
        return None
    return {"kind": clean(ref.kind), "namespace": clean(ref.namespace), "name": clean(ref.name)}


def summarise(capture: model.Capture, *, reason: str | None = None) -> dict[str, JSON]:
    """What changed, as paths only: never a value, not even a redacted marker."""
    paths = list(capture.delta.paths)
    out: dict[str, JSON] = {
        "source": capture.source.value,
        "operation": capture.operation.value,
        "classification": clean(capture.classification),
        "paths": [clean(p) for p in paths[:MAX_PATHS]],
    }
    if len(paths) > MAX_PATHS:
        out["paths_total"] = len(paths)
    if capture.delta.patch_type:
        out["patch_type"] = clean(capture.delta.patch_type)
    if capture.object.subresource:
        out["subresource"] = clean(capture.object.subresource)
    if reason:
        out["reason"] = clean(reason)
    return out


def from_capture(
    capture: model.Capture,
    type: EventType,
    *,
    outcome: str | None = None,
    pr_url: str | None = None,
    reason: str | None = None,
) -> Event:
    """The event ``type`` for ``capture``; ``outcome`` defaults to the capture's status.

    ``reason`` is breakglass's own words (why a capture was discarded or failed), never data
    from the object.
    """
    return Event(
        type=type,
        capture_id=capture.id,
        cluster=capture.cluster,
        actor=capture.actor,
        object=capture.object,
        summary=summarise(capture, reason=reason),
        outcome=outcome if outcome is not None else capture.status.value,
        pr_url=pr_url if pr_url is not None else capture.pr_url,
    )


def body(event: Event, *, seq: int, time: datetime, prev: str) -> dict[str, JSON]:
    """The record without its ``mac``: exactly what the MAC covers."""
    return {
        "v": FORMAT_VERSION,
        "seq": seq,
        "time": model.format_time(time),
        "type": event.type.value,
        "cluster": clean(event.cluster),
        "capture_id": clean(event.capture_id),
        "actor": actor_json(event.actor),
        "object": object_json(event.object),
        "summary": _plain(event.summary),
        "outcome": clean(event.outcome),
        "pr_url": clean(event.pr_url, 2048) if event.pr_url else None,
        "prev": prev,
    }


def _plain(value: JSON, depth: int = 0) -> JSON:
    """A JSON-safe, bounded copy of a summary (ints, strings, bools, lists, mappings)."""
    if depth > 4:
        return clean(value)
    if isinstance(value, Mapping):
        return {clean(k, 64): _plain(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in list(value)[:MAX_PATHS]]
    if value is None or isinstance(value, bool | int):
        return value
    return clean(value)


def canonical(obj: Mapping[str, JSON]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes a MAC is computed over."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def compute_mac(key: bytes, unsealed: Mapping[str, JSON]) -> str:
    return hmac.new(key, canonical(unsealed), hashlib.sha256).hexdigest()


def seal(event: Event, *, seq: int, time: datetime, prev: str, key: bytes) -> dict[str, JSON]:
    """The complete record: ``body`` plus its ``mac``."""
    record = body(event, seq=seq, time=time, prev=prev)
    record["mac"] = compute_mac(key, record)
    return record


def mac_ok(record: Mapping[str, JSON], key: bytes) -> bool:
    """Whether ``record['mac']`` is the MAC of the rest of ``record`` under ``key``."""
    presented = record.get("mac")
    if not isinstance(presented, str):
        return False
    rest = {k: v for k, v in record.items() if k != "mac"}
    try:
        expected = compute_mac(key, rest)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(presented, expected)


def parse_line(raw: bytes) -> dict[str, JSON]:
    """A record from one line (without its newline); ``ValueError`` if it is not one."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError("not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from exc
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    seq, mac = record.get("seq"), record.get("mac")
    if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(mac, str):
        raise ValueError("no seq or mac")
    return record


def line(record: Mapping[str, JSON]) -> bytes:
    """The record as it is written: its canonical JSON and a newline."""
    return canonical(record) + b"\n"

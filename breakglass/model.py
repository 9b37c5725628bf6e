"""Domain values shared by every layer: who acted, on what, and the capture that records it.

Everything here is a frozen dataclass or an enum with no behaviour beyond conversion to and from
plain JSON, so values can cross from the pure capture functions to the journal, the worker and
the CLI without any layer depending on another.  Wire formats (AdmissionReview, audit Event)
are described in ``breakglass.capture.wire``.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

JSON = Any

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_capture_id(now: float | None = None) -> str:
    """A 26-character id that sorts by creation time (48-bit milliseconds + 80 random bits)."""
    millis = int((time.time() if now is None else now) * 1000)
    number = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 with microseconds and a ``Z``, the format every record uses."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """Parse the RFC 3339 timestamps the API server and this package write."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


class Source(enum.StrEnum):
    """Where a capture came from."""

    ADMISSION = "admission"
    AUDIT = "audit"
    #: found by ``breakglass scan`` in ``managedFields``: who made it may be unknown
    SCAN = "scan"
    #: a change ``breakglass drill`` made on purpose, with what became of it; never backfilled
    DRILL = "drill"


#: The username of a change whose author is not known (drift found by a scan, unattributed).
UNKNOWN_USER: Final = "unknown"


class Status(enum.StrEnum):
    """Where a capture is in its life.

    ``provisional`` → ``confirmed`` | ``discarded``; the backfill states follow confirmation.
    """

    PROVISIONAL = "provisional"
    CONFIRMED = "confirmed"
    DISCARDED = "discarded"
    IGNORED = "ignored"
    UNMANAGED = "unmanaged"
    PR_OPEN = "pr_open"
    MERGED = "merged"
    CLOSED = "closed"
    SUPERSEDED = "superseded"
    FAILED = "failed"


#: statuses a capture never leaves
FINAL_STATUSES: Final = frozenset(
    {Status.MERGED, Status.CLOSED, Status.SUPERSEDED, Status.DISCARDED, Status.IGNORED}
)


class Operation(enum.StrEnum):
    """The admission operation of a write (audit verbs are mapped onto these)."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


@dataclass(frozen=True)
class Actor:
    """Who made a change, as the API server authenticated them."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    impersonator: str | None = None
    impersonator_groups: tuple[str, ...] = ()
    field_manager: str | None = None
    user_agent: str | None = None
    source_ips: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JSON]:
        return {
            "username": self.username,
            "uid": self.uid,
            "groups": list(self.groups),
            "extra": {k: list(v) for k, v in self.extra},
            "impersonator": self.impersonator,
            "impersonator_groups": list(self.impersonator_groups),
            "field_manager": self.field_manager,
            "user_agent": self.user_agent,
            "source_ips": list(self.source_ips),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Actor:
        extra = data.get("extra") or {}
        return cls(
            username=str(data.get("username", "")),
            uid=str(data.get("uid", "")),
            groups=tuple(data.get("groups") or ()),
            extra=tuple((str(k), tuple(v)) for k, v in sorted(extra.items())),
            impersonator=data.get("impersonator"),
            impersonator_groups=tuple(data.get("impersonator_groups") or ()),
            field_manager=data.get("field_manager"),
            user_agent=data.get("user_agent"),
            source_ips=tuple(data.get("source_ips") or ()),
        )


@dataclass(frozen=True)
class ObjectRef:
    """The object a change was made to (for a subresource, its parent object)."""

    group: str
    version: str
    resource: str
    kind: str
    namespace: str
    name: str
    subresource: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def describe(self) -> str:
        """``deployment payments/checkout`` — the form used in warnings and PR titles."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind.lower()} {where}"

    def to_json(self) -> dict[str, JSON]:
        return {
            "group": self.group,
            "version": self.version,
            "resource": self.resource,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "subresource": self.subresource,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> ObjectRef:
        return cls(
            group=str(data.get("group", "")),
            version=str(data.get("version", "")),
            resource=str(data.get("resource", "")),
            kind=str(data.get("kind", "")),
            namespace=str(data.get("namespace", "")),
            name=str(data.get("name", "")),
            subresource=str(data.get("subresource", "")),
        )


@dataclass(frozen=True)
class Delta:
    """The human's change as a sparse ``(before, after)`` pair (see ``breakglass.delta``).

    ``patch`` is the request body of a PATCH as the audit event carried it (already redacted):
    the most precise record of what the engineer asked for.  ``paths`` lists the changed leaves
    for summaries.
    """

    before: JSON = None
    after: JSON = None
    patch: JSON = None
    patch_type: str | None = None
    paths: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JSON]:
        return {
            "before": self.before,
            "after": self.after,
            "patch": self.patch,
            "patch_type": self.patch_type,
            "paths": list(self.paths),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Delta:
        return cls(
            before=data.get("before"),
            after=data.get("after"),
            patch=data.get("patch"),
            patch_type=data.get("patch_type"),
            paths=tuple(data.get("paths") or ()),
        )


#: Classification of a change whose object could not be read (nested too deeply to diff): it is
#: recorded (who, what, when) in the journal and the audit log, and never backfilled.
OPAQUE: Final = "opaque"
#: Classification of a change that carries ``breakglass drill``'s marker (the drill's own change
#: and its restore): recorded as such, never backfilled.
DRILL: Final = "drill"


@dataclass(frozen=True)
class DrillRecord:
    """What one drilled object showed: the application's verdict and expected time to revert,
    the change made, and what became of it (``outcome``: running, reverted, survived,
    interrupted, deleted, conflict, cleaned-up, failed)."""

    drill_id: str
    application: str  # posture's key: ``flux:flux-system/payments``
    verdict: str
    change: str  # label | annotation | replicas | config
    expected_seconds: float | None
    deadline_seconds: float
    outcome: str = "running"
    measured_seconds: float | None = None
    restored: bool = False
    note: str = ""

    def to_json(self) -> dict[str, JSON]:
        return {
            "drill_id": self.drill_id,
            "application": self.application,
            "verdict": self.verdict,
            "change": self.change,
            "expected_seconds": self.expected_seconds,
            "deadline_seconds": self.deadline_seconds,
            "outcome": self.outcome,
            "measured_seconds": self.measured_seconds,
            "restored": self.restored,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> DrillRecord:
        expected = data.get("expected_seconds")
        measured = data.get("measured_seconds")
        return cls(
            drill_id=str(data.get("drill_id", "")),
            application=str(data.get("application", "")),
            verdict=str(data.get("verdict", "")),
            change=str(data.get("change", "")),
            expected_seconds=float(expected) if expected is not None else None,
            deadline_seconds=float(data.get("deadline_seconds") or 0),
            outcome=str(data.get("outcome", "running")),
            measured_seconds=float(measured) if measured is not None else None,
            restored=bool(data.get("restored")),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class Session:
    """A break-glass session: who opened it (as the API server authenticated them), why, for
    whom and what, and when it ends.  Captures its members make in its scope during its window
    belong to it."""

    name: str
    owner: str
    reason: str
    opened_at: datetime
    expires_at: datetime
    namespaces: tuple[str, ...] = ()
    applications: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    closed_at: datetime | None = None
    cluster: str = ""

    @property
    def ends_at(self) -> datetime:
        """When it stops covering changes: closed early, or its deadline."""
        if self.closed_at is not None and self.closed_at < self.expires_at:
            return self.closed_at
        return self.expires_at

    def is_open(self, at: datetime) -> bool:
        return self.opened_at <= at < self.ends_at

    def to_json(self) -> dict[str, JSON]:
        return {
            "name": self.name,
            "owner": self.owner,
            "reason": self.reason,
            "opened_at": format_time(self.opened_at),
            "expires_at": format_time(self.expires_at),
            "namespaces": list(self.namespaces),
            "applications": list(self.applications),
            "members": list(self.members),
            "closed_at": format_time(self.closed_at) if self.closed_at else None,
            "cluster": self.cluster,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Session:
        closed = data.get("closed_at")
        return cls(
            name=str(data["name"]),
            owner=str(data["owner"]),
            reason=str(data.get("reason", "")),
            opened_at=parse_time(data["opened_at"]),
            expires_at=parse_time(data["expires_at"]),
            namespaces=tuple(data.get("namespaces") or ()),
            applications=tuple(data.get("applications") or ()),
            members=tuple(data.get("members") or ()),
            closed_at=parse_time(closed) if closed else None,
            cluster=str(data.get("cluster", "")),
        )


@dataclass(frozen=True)
class Pause:
    """A GitOps application whose self-heal a session paused, and when it is put back.

    ``original`` is what the application had before (Flux: ``spec.suspend``, ``None`` when it
    was not set; Argo CD: ``automated.selfHeal``); ``due_at`` the session's deadline."""

    session: str
    tool: str  # flux | argocd
    kind: str  # Kustomization | HelmRelease | Application
    namespace: str
    name: str
    paused_at: datetime
    due_at: datetime
    original: JSON = None
    restored_at: datetime | None = None
    note: str = ""

    @property
    def app(self) -> str:
        return f"{self.tool}:{self.kind}:{self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        return f"{self.session}|{self.app}"

    def to_json(self) -> dict[str, JSON]:
        return {
            "session": self.session,
            "tool": self.tool,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "paused_at": format_time(self.paused_at),
            "due_at": format_time(self.due_at),
            "original": self.original,
            "restored_at": format_time(self.restored_at) if self.restored_at else None,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Pause:
        restored = data.get("restored_at")
        return cls(
            session=str(data["session"]),
            tool=str(data["tool"]),
            kind=str(data["kind"]),
            namespace=str(data["namespace"]),
            name=str(data["name"]),
            paused_at=parse_time(data["paused_at"]),
            due_at=parse_time(data["due_at"]),
            original=data.get("original"),
            restored_at=parse_time(restored) if restored else None,
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class TerraformDrift:
    """Drift of one OpenTofu/Terraform resource found by ``plan -refresh-only``, and what
    breakglass did about it.

    Only names are kept: the attribute paths that drifted and a digest of their new values
    (``fingerprint``), never the values themselves and never the plan.  ``outcome`` is
    ``pull_request`` (the HCL now says what the world is, ``url`` is the pull request),
    ``needs_human`` (``url`` is the issue, ``reason`` why it could not be mapped) or
    ``found`` (reported by a scan without ``--backfill``).  A drift no later scan finds again
    gets ``resolved_at`` (merged and applied, or reverted by an apply).
    """

    root: str
    address: str
    attributes: tuple[str, ...]
    fingerprint: str
    outcome: str
    first_seen: datetime
    last_seen: datetime
    url: str | None = None
    reason: str = ""
    author: str | None = None
    resolved_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.root}|{self.address}|{self.fingerprint}"

    def to_json(self) -> dict[str, JSON]:
        return {
            "root": self.root,
            "address": self.address,
            "attributes": list(self.attributes),
            "fingerprint": self.fingerprint,
            "outcome": self.outcome,
            "first_seen": format_time(self.first_seen),
            "last_seen": format_time(self.last_seen),
            "url": self.url,
            "reason": self.reason,
            "author": self.author,
            "resolved_at": format_time(self.resolved_at) if self.resolved_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> TerraformDrift:
        resolved = data.get("resolved_at")
        attributes = data.get("attributes")
        url = data.get("url")
        author = data.get("author")
        return cls(
            root=str(data["root"]),
            address=str(data["address"]),
            attributes=tuple(str(a) for a in attributes) if isinstance(attributes, list) else (),
            fingerprint=str(data["fingerprint"]),
            outcome=str(data["outcome"]),
            first_seen=parse_time(data["first_seen"]),
            last_seen=parse_time(data["last_seen"]),
            url=str(url) if url else None,
            reason=str(data.get("reason", "")),
            author=str(author) if author else None,
            resolved_at=parse_time(resolved) if resolved else None,
        )


@dataclass(frozen=True)
class Capture:
    """One manual change, as recorded in the journal."""

    id: str
    cluster: str
    source: Source
    status: Status
    operation: Operation
    object: ObjectRef
    actor: Actor
    delta: Delta
    received_at: datetime
    request_uid: str | None = None
    audit_id: str | None = None
    classification: str = "drift"
    reason: str | None = None
    confirmed_at: datetime | None = None
    updated_at: datetime | None = None
    pr_url: str | None = None
    attempts: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    #: not before this time is a temporary failure retried (a forge's rate-limit reset)
    next_attempt_at: datetime | None = None
    #: a scan's drift has existed at least since this time (its field manager's last write)
    since: datetime | None = None
    #: when its pull request was first opened (or the capture joined an open one)
    pr_opened_at: datetime | None = None
    #: when it reached a final state (merged, closed, superseded, discarded, ignored)
    resolved_at: datetime | None = None
    #: for a ``drill`` capture: the drill's result on this object
    drill: DrillRecord | None = None
    #: the break-glass session it belongs to (its name), if any
    session: str | None = None
    #: the branch of its pull request (a group's branch may be named after another object)
    branch: str | None = None

    def with_status(self, status: Status, *, reason: str | None = None) -> Capture:
        return replace(self, status=status, reason=reason if reason is not None else self.reason)

    def to_json(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "cluster": self.cluster,
            "source": self.source.value,
            "status": self.status.value,
            "operation": self.operation.value,
            "object": self.object.to_json(),
            "actor": self.actor.to_json(),
            "delta": self.delta.to_json(),
            "received_at": format_time(self.received_at),
            "request_uid": self.request_uid,
            "audit_id": self.audit_id,
            "classification": self.classification,
            "reason": self.reason,
            "confirmed_at": format_time(self.confirmed_at) if self.confirmed_at else None,
            "updated_at": format_time(self.updated_at) if self.updated_at else None,
            "pr_url": self.pr_url,
            "attempts": self.attempts,
            "labels": dict(self.labels),
            "next_attempt_at": (
                format_time(self.next_attempt_at) if self.next_attempt_at else None
            ),
            "since": format_time(self.since) if self.since else None,
            "pr_opened_at": format_time(self.pr_opened_at) if self.pr_opened_at else None,
            "resolved_at": format_time(self.resolved_at) if self.resolved_at else None,
            **({"drill": self.drill.to_json()} if self.drill is not None else {}),
            **({"session": self.session} if self.session is not None else {}),
            **({"branch": self.branch} if self.branch is not None else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Capture:
        confirmed = data.get("confirmed_at")
        updated = data.get("updated_at")
        retry = data.get("next_attempt_at")
        since = data.get("since")
        opened = data.get("pr_opened_at")
        resolved = data.get("resolved_at")
        return cls(
            id=str(data["id"]),
            cluster=str(data.get("cluster", "")),
            source=Source(data["source"]),
            status=Status(data["status"]),
            operation=Operation(data["operation"]),
            object=ObjectRef.from_json(data["object"]),
            actor=Actor.from_json(data["actor"]),
            delta=Delta.from_json(data.get("delta") or {}),
            received_at=parse_time(data["received_at"]),
            request_uid=data.get("request_uid"),
            audit_id=data.get("audit_id"),
            classification=str(data.get("classification", "drift")),
            reason=data.get("reason"),
            confirmed_at=parse_time(confirmed) if confirmed else None,
            updated_at=parse_time(updated) if updated else None,
            pr_url=data.get("pr_url"),
            attempts=int(data.get("attempts", 0)),
            labels=dict(data.get("labels") or {}),
            next_attempt_at=parse_time(retry) if retry else None,
            since=parse_time(since) if since else None,
            pr_opened_at=parse_time(opened) if opened else None,
            resolved_at=parse_time(resolved) if resolved else None,
            drill=DrillRecord.from_json(data["drill"]) if data.get("drill") else None,
            session=data.get("session"),
            branch=data.get("branch"),
        )

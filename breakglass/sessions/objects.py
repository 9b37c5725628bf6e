"""The ``BreakglassSession`` object: what ``breakglass open`` creates, and what the webhook
accepts (pure).

The API server authenticates whoever creates the object; the webhook admits it only when
``spec.owner`` is that person, so the owner on the object and in the journal is the
authenticated one, not a claim.  Only the owner changes a session afterwards: closing it
(``spec.closedAt``), adding members, moving its deadline within ``sessions.max_hours``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from breakglass import model

JSON = Any

GROUP: Final = "breakglass.dev"
VERSION: Final = "v1alpha1"
PLURAL: Final = "breakglasssessions"
KIND: Final = "BreakglassSession"
API_VERSION: Final = f"{GROUP}/{VERSION}"
MAX_REASON: Final = 500
_NAME_PART: Final = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Admitted:
    """A session write the webhook lets through, and the session as the journal keeps it
    (``None`` for a dry run, which is judged and never recorded)."""

    session: model.Session | None


@dataclass(frozen=True)
class Refused:
    message: str


def session_name(owner: str, now: datetime) -> str:
    """``alice-20261207-213005-3fa2``: the owner (as a DNS label), when, and a little noise."""
    person = _NAME_PART.sub("-", owner.lower().split(":")[-1].split("@")[0]).strip("-")[:30]
    return f"{person or 'session'}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def build(
    *,
    name: str,
    owner: str,
    reason: str,
    expires_at: datetime,
    namespaces: Sequence[str] = (),
    applications: Sequence[str] = (),
    members: Sequence[str] = (),
) -> dict[str, JSON]:
    """The object ``breakglass open`` creates (cluster-scoped)."""
    spec: dict[str, JSON] = {
        "owner": owner,
        "reason": reason,
        "expiresAt": model.format_time(expires_at.replace(microsecond=0)).replace(".000000Z", "Z"),
    }
    if namespaces:
        spec["namespaces"] = list(namespaces)
    if applications:
        spec["applications"] = list(applications)
    if members:
        spec["members"] = list(members)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}


def admit(
    *,
    operation: str,
    obj: Mapping[str, JSON] | None,
    old: Mapping[str, JSON] | None,
    user: str,
    stored: model.Session | None,
    now: datetime,
    max_duration: timedelta,
    dry_run: bool = False,
    cluster: str = "",
) -> Admitted | Refused:
    """The webhook's rules for a session object."""
    if operation == "DELETE":
        if stored is None:
            return Admitted(None)
        if user != stored.owner:
            return Refused(f"only {stored.owner}, who opened session {stored.name}, may delete it")
        ended = stored if stored.closed_at is not None else replace(stored, closed_at=now)
        return Admitted(None if dry_run else ended)
    if obj is None:
        return Refused("the request carries no BreakglassSession")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    name = str((obj.get("metadata") or {}).get("name") or "")
    owner = spec.get("owner")
    if operation == "CREATE":
        if owner != user:
            return Refused(
                f"spec.owner must be you ({user}), who opens the session; "
                "breakglass open sets it for you"
            )
        opened = now
    else:
        old_spec = (old or {}).get("spec") or {}
        first_owner = (stored.owner if stored is not None else None) or old_spec.get("owner")
        if user != first_owner:
            return Refused(f"only {first_owner}, who opened session {name}, may change it")
        if owner != first_owner:
            return Refused("spec.owner cannot change")
        if spec.get("reason") != old_spec.get("reason"):
            return Refused("spec.reason cannot change: open a new session for a new reason")
        opened = stored.opened_at if stored is not None else now
    problem, session = _session(name, spec, opened=opened, now=now, cluster=cluster)
    if session is None:
        return Refused(problem)
    if session.expires_at - opened > max_duration:
        hours = max_duration.total_seconds() / 3600
        return Refused(
            f"spec.expiresAt is more than sessions.max_hours ({hours:g} h) after the "
            "session opened: ask for less, and open another when it ends"
        )
    if operation == "CREATE" and session.expires_at <= now:
        return Refused("spec.expiresAt is in the past")
    return Admitted(None if dry_run else session)


def _session(
    name: str, spec: Mapping[str, JSON], *, opened: datetime, now: datetime, cluster: str
) -> tuple[str, model.Session | None]:
    reason = spec.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return "spec.reason is required: say why (an incident id and what is broken)", None
    if len(reason) > MAX_REASON:
        return f"spec.reason is longer than {MAX_REASON} characters", None
    try:
        expires = model.parse_time(str(spec.get("expiresAt")))
    except ValueError:
        return "spec.expiresAt must be an RFC 3339 time (breakglass open --for 30m sets it)", None
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("namespaces", "applications", "members"):
        value = spec.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return f"spec.{key} must be a list of names", None
        lists[key] = tuple(value)
    closed_raw = spec.get("closedAt")
    closed = None
    if closed_raw is not None:
        try:
            closed = model.parse_time(str(closed_raw))
        except ValueError:
            return "spec.closedAt must be an RFC 3339 time (breakglass close sets it)", None
        closed = min(closed, now)  # a close takes effect now at the latest
    return "", model.Session(
        name=name,
        owner=str(spec.get("owner")),
        reason=reason.strip(),
        opened_at=opened,
        expires_at=expires,
        namespaces=lists["namespaces"],
        applications=lists["applications"],
        members=lists["members"],
        closed_at=closed,
        cluster=cluster,
    )


def state(obj: Mapping[str, JSON], now: datetime) -> str:
    """open, closed or expired, from the object alone (``breakglass sessions``)."""
    spec = obj.get("spec") or {}
    try:
        if spec.get("closedAt") and model.parse_time(str(spec["closedAt"])) <= now:
            return "closed"
        if model.parse_time(str(spec.get("expiresAt"))) <= now:
            return "expired"
    except ValueError:
        return "invalid"
    return "open"

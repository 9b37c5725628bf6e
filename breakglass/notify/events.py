"""What a notification says happened: the events, and their facts taken from a capture or a
session.

Pure: a capture and the audit event the worker records for it (``EventType``) in, a
``Notification`` or ``None`` (nothing worth telling) out.  The worker calls this at its single
audit funnel (``Context.record``), so every state change it records is considered once.

A notification carries who, which object, which event, the pull request or issue, paths at
most, and breakglass's own reason text; never a field's value, not even a redaction marker
(``clean_reason`` takes those, and the render check's "the change wants …" values, out).
Whether a closed capture was *reverted* (its GitOps controller put production back) is
``driftstats.outcome``'s call, the same one the metrics and the report make.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from breakglass import driftstats, model
from breakglass.auditlog import EventType
from breakglass.capture.redact import MARKER_PREFIX
from breakglass.report.build import application

#: changed paths a notification lists (the count says how many more there were)
MAX_PATHS: Final = 20
#: characters of breakglass's reason text a notification keeps
MAX_REASON: Final = 600
MAX_TEXT: Final = 256

_MARKER: Final = re.compile(re.escape(MARKER_PREFIX) + r"[^>]*>")
#: the render check shows values it compared: "(the change wants X, the render has Y)"
_COMPARED: Final = re.compile(r"\s*\(the change wants .*?, the render has .*?\)(?=[;,.]|\s|$)")


class Kind(enum.StrEnum):
    """What a notification is about (``notifications.destinations[].events``)."""

    SESSION_OPENED = "session_opened"
    SESSION_CLOSED = "session_closed"
    PR_OPENED = "pr_opened"
    PR_MERGED = "pr_merged"
    PR_CLOSED = "pr_closed"
    REVERTED = "reverted"
    NEEDS_HUMAN = "needs_human"


@dataclass(frozen=True)
class Session:
    """A break-glass session, as its notifications describe it.

    ``scope`` is the session's own description of what it may change (shown as written);
    ``namespaces`` and ``applications`` are what destinations filter it by (none: it is
    routed only to destinations that take every namespace and application).
    """

    id: str
    reason: str
    user: str
    scope: tuple[str, ...]
    deadline: datetime
    namespaces: tuple[str, ...] = ()
    applications: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notification:
    """One thing to tell people, before it is shaped for a destination."""

    id: str
    kind: Kind
    cluster: str
    time: datetime
    #: the object's ``describe()`` ("deployment payments/checkout"), or "session ID"
    subject: str
    ref: model.ObjectRef | None = None
    application: str | None = None
    users: tuple[str, ...] = ()
    #: the pull request (or the "needs a human" issue)
    url: str | None = None
    reason: str | None = None
    paths: tuple[str, ...] = ()
    paths_total: int = 0
    capture_id: str | None = None
    #: the capture's state or outcome as driftstats names it (needs_human, failed, closed,
    #: withdrawn, reverted...), or how a session ended
    state: str | None = None
    session: Session | None = None
    namespaces: tuple[str, ...] = field(default=())

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes two notifications the same news: one pull request's captures are
        recorded one by one, and a pull request is one message."""
        about = self.url or self.capture_id or (self.session.id if self.session else self.id)
        return (self.kind.value, about, self.state or "")

    @property
    def is_issue(self) -> bool:
        """Whether ``url`` is an issue ("needs a human"), not a pull request."""
        return bool(self.url) and ("/issues/" in (self.url or "") or "#issue/" in (self.url or ""))


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """At most ``limit`` characters, valid UTF-8, one line."""
    text = " ".join(text.encode("utf-8", "replace").decode("utf-8").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_reason(reason: str | None) -> str | None:
    """breakglass's reason text without any value: redaction markers and the values a render
    check compared are taken out; bounded."""
    if not reason:
        return None
    text = _COMPARED.sub("", reason)
    text = _MARKER.sub("(value hidden)", text)
    # a marker cut short by an earlier bound has no closing '>'
    cut = text.find(MARKER_PREFIX)
    if cut != -1:
        text = text[:cut] + "(value hidden)"
    return clip(text, MAX_REASON) or None


def kind_of(capture: model.Capture, event: EventType) -> Kind | None:
    """Which notification an audit event of ``capture`` is, if any."""
    if event is EventType.PR_OPENED:
        return Kind.PR_OPENED
    if event is EventType.PR_MERGED:
        return Kind.PR_MERGED
    if event is EventType.FAILED:
        return Kind.NEEDS_HUMAN
    if event in (EventType.PR_CLOSED, EventType.PR_SUPERSEDED):
        ended = driftstats.outcome(capture)
        if ended == "reverted":
            return Kind.REVERTED
        if event is EventType.PR_CLOSED:
            return Kind.PR_CLOSED
    return None


def _state(capture: model.Capture, kind: Kind) -> str | None:
    if kind is Kind.NEEDS_HUMAN:
        return driftstats.state(capture)
    if kind in (Kind.PR_CLOSED, Kind.REVERTED):
        return driftstats.outcome(capture)
    return None


def _of_capture(
    capture: model.Capture,
    kind: Kind,
    *,
    id: str,
    now: datetime,
    url: str | None,
    reason: str | None,
    state: str | None,
) -> Notification:
    ref = capture.object
    paths = capture.delta.paths
    app = application(capture)
    return Notification(
        id=id,
        kind=kind,
        cluster=clip(capture.cluster, 63),
        time=now,
        subject=clip(ref.describe()),
        ref=ref,
        application=clip(app) if app else None,
        users=(clip(capture.actor.username),),
        url=url,
        reason=clean_reason(reason),
        paths=tuple(clip(p) for p in paths[:MAX_PATHS]),
        paths_total=len(paths),
        capture_id=capture.id,
        state=state,
        namespaces=(ref.namespace,),
    )


def from_capture(
    capture: model.Capture,
    event: EventType,
    *,
    reason: str | None = None,
    now: datetime,
    id: str,
) -> Notification | None:
    """The notification for ``event`` recorded on ``capture`` (as saved), or ``None``.

    ``reason`` is the one the audit record got; without it, the capture's own.  ``now`` and
    ``id`` are given, so this stays a function of its arguments.
    """
    if capture.classification == model.DRILL or capture.source is model.Source.DRILL:
        return None  # a drill's changes are results, never news
    kind = kind_of(capture, event)
    if kind is None:
        return None
    return _of_capture(
        capture,
        kind,
        id=id,
        now=now,
        url=capture.pr_url,
        reason=reason or capture.reason,
        state=_state(capture, kind),
    )


def reverted_by_sync(
    capture: model.Capture, pr_url: str, *, now: datetime, id: str
) -> Notification:
    """The GitOps controller put the object back at Git's value while its pull request is
    still open (the worker labels it ``reverted-by-sync``): merging re-applies the fix."""
    return _of_capture(
        capture,
        Kind.REVERTED,
        id=id,
        now=now,
        url=pr_url,
        reason="the live object went back to Git's value without a manual edit; merging the "
        "pull request re-applies the change",
        state=model.Status.PR_OPEN.value,
    )


def _session(
    kind: Kind,
    session: Session,
    *,
    cluster: str,
    now: datetime,
    id: str,
    state: str | None,
) -> Notification:
    return Notification(
        id=id,
        kind=kind,
        cluster=clip(cluster, 63),
        time=now,
        subject=clip(f"session {session.id}"),
        users=(clip(session.user),),
        reason=clean_reason(session.reason),
        state=state,
        session=session,
        application=session.applications[0] if len(session.applications) == 1 else None,
        namespaces=session.namespaces,
    )


def session_opened(session: Session, *, cluster: str, now: datetime, id: str) -> Notification:
    """A break-glass session was opened."""
    return _session(Kind.SESSION_OPENED, session, cluster=cluster, now=now, id=id, state="open")


def session_closed(
    session: Session, *, cluster: str, now: datetime, id: str, ended: str = "closed"
) -> Notification:
    """A break-glass session ended: ``ended`` says how ("closed", "expired", ...)."""
    return _session(
        Kind.SESSION_CLOSED, session, cluster=cluster, now=now, id=id, state=clip(ended, 64)
    )


#: the application name of a Terraform root in notifications and routing ("OpenTofu prod")
TERRAFORM_TOOL: Final = "OpenTofu "


def terraform(
    drift: model.TerraformDrift, *, namespace: str | None, cluster: str, now: datetime, id: str
) -> Notification | None:
    """The notification for what a Terraform scan did about one resource: a pull request
    opened (or updated to hold it) or a "needs a human" issue; ``None`` for anything else.
    ``namespace`` is the Kubernetes object's, when the resource is one."""
    kinds = {"pull_request": Kind.PR_OPENED, "needs_human": Kind.NEEDS_HUMAN}
    kind = kinds.get(drift.outcome)
    if kind is None:
        return None
    return Notification(
        id=id,
        kind=kind,
        cluster=clip(cluster, 63),
        time=now,
        subject=clip(f"{drift.address} (root {drift.root})"),
        application=clip(TERRAFORM_TOOL + drift.root),
        users=(clip(drift.author),) if drift.author else (),
        url=drift.url,
        reason=clean_reason(drift.reason) if kind is Kind.NEEDS_HUMAN else None,
        paths=tuple(clip(a) for a in drift.attributes[:MAX_PATHS]),
        paths_total=len(drift.attributes),
        capture_id=f"tf:{drift.key}",
        state=drift.outcome,
        namespaces=(namespace,) if namespace is not None else (),
    )


def routing_applications(notification: Notification) -> Sequence[str]:
    """The application names destinations filter ``notification`` by."""
    if notification.session is not None:
        return notification.session.applications
    return (notification.application,) if notification.application else ()

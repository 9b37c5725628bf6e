"""The words of a notification, in plain text, shared by every format.

Pure.  Each format (``slack``, ``teams``) escapes these for its own markup; keeping the
wording here means a Slack message and a Teams card say the same thing.  A title holds only
breakglass's words (no cluster data), so it needs no escaping anywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from breakglass import model
from breakglass.notify.events import Kind, Notification

#: paths listed in a message; the rest are counted
SHOWN_PATHS: Final = 10

_TITLES: Final = {
    Kind.SESSION_OPENED: "Break-glass session opened",
    Kind.SESSION_CLOSED: "Break-glass session closed",
    Kind.PR_OPENED: "Backfill pull request opened",
    Kind.PR_MERGED: "Backfill pull request merged",
    Kind.PR_CLOSED: "Backfill pull request closed without merging",
    Kind.REVERTED: "GitOps reverted a manual change",
    Kind.NEEDS_HUMAN: "A manual change needs a human",
}


def title(n: Notification) -> str:
    """A short headline, breakglass's words only."""
    if n.kind is Kind.PR_CLOSED and n.state == "withdrawn":
        return "Backfill pull request withdrawn"
    return _TITLES[n.kind]


def _who(n: Notification) -> str:
    return ", ".join(n.users) or "someone"


def summary(n: Notification) -> str:
    """One or two sentences: who, what, where, and what it means."""
    who, what, where = _who(n), n.subject, n.cluster
    if n.kind is Kind.SESSION_OPENED:
        assert n.session is not None
        until = when(n.session.deadline)
        return f"{who} opened break-glass {what} in {where}, until {until}."
    if n.kind is Kind.SESSION_CLOSED:
        return f"Break-glass {what} of {who} in {where} ended ({n.state or 'closed'})."
    if n.kind is Kind.PR_OPENED:
        return f"{who}'s manual change to {what} in {where} has a backfill pull request to review."
    if n.kind is Kind.PR_MERGED:
        return f"{who}'s manual change to {what} in {where} is now in Git."
    if n.kind is Kind.PR_CLOSED:
        if n.state == "withdrawn":
            return f"{who}'s manual change to {what} in {where} was undone by hand."
        return (
            f"The backfill pull request for {who}'s change to {what} in {where} was closed "
            "without merging: Git does not have the change."
        )
    if n.kind is Kind.REVERTED:
        if n.state == model.Status.PR_OPEN.value:
            return (
                f"The GitOps controller put {what} in {where} back at Git's value, undoing "
                f"{who}'s manual change; its pull request is still open."
            )
        return (
            f"The GitOps controller put {what} in {where} back at Git's value, undoing "
            f"{who}'s manual change."
        )
    # needs a human
    if n.state == "needs_human":
        return f"breakglass cannot backfill {who}'s manual change to {what} in {where} by itself."
    return f"The backfill of {who}'s manual change to {what} in {where} failed."


def when(moment: datetime) -> str:
    """A time as people read it in a message (UTC, to the second)."""
    return model.format_time(moment)[:19].replace("T", " ") + " UTC"


def facts(n: Notification) -> list[tuple[str, str]]:
    """Label → plain value rows, in the order a message shows them."""
    rows: list[tuple[str, str]] = [("Cluster", n.cluster)]
    if n.ref is not None:
        rows.append(("Object", n.subject))
    if n.application:
        rows.append(("Application", n.application))
    rows.append(("By", _who(n)))
    if n.session is not None:
        rows.append(("Session", n.session.id))
        if n.session.scope:
            rows.append(("Scope", ", ".join(n.session.scope)))
        rows.append(("Deadline", when(n.session.deadline)))
    if n.reason:
        rows.append(("Reason", n.reason))
    if n.paths:
        rows.append(("Changed", paths(n)))
    if n.url and link(n) is None:
        rows.append(("Issue" if n.is_issue else "Pull request", n.url))
    return rows


def paths(n: Notification) -> str:
    """The changed paths, the first few of them and how many more."""
    shown = list(n.paths[:SHOWN_PATHS])
    more = n.paths_total - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def link(n: Notification) -> str | None:
    """The address a button opens: ``n.url`` when it is a web address (the local forge's
    records are not; ``facts`` shows those as text)."""
    if n.url and n.url.startswith(("https://", "http://")):
        return n.url
    return None


def link_label(n: Notification) -> str:
    """The button or action that opens ``n.url``."""
    return "Open issue" if n.is_issue else "Open pull request"


def context(n: Notification) -> str:
    """The small print: where the message comes from."""
    parts = ["breakglass", f"cluster {n.cluster}", when(n.time)]
    if n.capture_id:
        parts.append(f"capture {n.capture_id}")
    return " · ".join(parts)

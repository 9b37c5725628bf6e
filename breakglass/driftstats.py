"""How much drifted, for how long, and how much reached Git: numbers computed from captures.

Pure: a sequence of captures (as the journal holds them) and the time now in, ``DriftStats``
out.  The worker exports them as Prometheus metrics (``metrics.DriftCollector``), refreshed
from the journal, so every replica and every restart reports the same numbers; ``breakglass
report`` prints them for a period.  Labels are bounded: namespace, kind, repository (from the
pull request's address, never an object or a person) and state.

A capture is *drift* from its change until it is resolved.  Its onset is the change itself
(``received_at``), or for drift a scan found, the time its field manager last wrote the object
(``since``: the drift is at least that old).  States and outcomes:

- open: ``pending`` (not yet backfilled), ``pr_open``, ``needs_human`` (the engine or the render
  check could not write it: an issue asks a person), ``failed``, ``unmanaged`` (no repository
  owns the object);
- resolved: ``merged``, ``closed`` (a reviewer closed the PR), ``withdrawn`` (its author put the
  object back by hand), ``reverted`` (the GitOps controller put it back: the PR was closed with
  production at Git's value, or nothing was left to change because a sync undid it),
  ``superseded``.

Discarded captures (the write never persisted) and ignored ones (operations such as ``rollout
restart``) are not drift.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from breakglass import model

OPEN_STATES: Final = ("pending", "pr_open", "needs_human", "failed", "unmanaged")
OUTCOMES: Final = ("merged", "closed", "withdrawn", "reverted", "superseded")
#: where manual changes come from (a drill's own records are results, never drift)
SOURCES: Final = tuple(s.value for s in model.Source if s is not model.Source.DRILL)

_PULL: Final = re.compile(
    r"(/pull/\d+|/pulls/\d+|/-/merge_requests/\d+|/merge_requests/\d+"
    r"|/issues/\d+|/-/issues/\d+|#pull/\d+|#issue/\d+)$"
)


@dataclass
class DriftStats:
    """The numbers, with the durations behind the histograms (seconds)."""

    open: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    oldest_open_seconds: float = 0.0
    resolved: Counter[str] = field(default_factory=Counter)
    time_to_detection: list[float] = field(default_factory=list)
    time_to_pr: list[float] = field(default_factory=list)
    time_to_merge: list[float] = field(default_factory=list)
    time_to_resolution: list[float] = field(default_factory=list)
    changes: Counter[str] = field(default_factory=Counter)
    attributed: Counter[str] = field(default_factory=Counter)
    #: manual changes made inside a break-glass session, by source
    in_session: Counter[str] = field(default_factory=Counter)
    #: sessions open when the numbers were computed (set by the caller that reads sessions)
    sessions_open: int = 0

    @property
    def total_changes(self) -> int:
        return sum(self.changes.values())

    def coverage(self) -> float | None:
        """The share of manual changes the webhooks saw (1 when a scan found none they missed);
        ``None`` with no changes at all."""
        total = self.total_changes
        if not total:
            return None
        return 1.0 - self.changes.get(model.Source.SCAN.value, 0) / total

    def backfilled_share(self) -> float | None:
        """Resolved drift that reached Git (merged), over all resolved drift."""
        done = sum(self.resolved.values())
        return self.resolved.get("merged", 0) / done if done else None


def repository(pr_url: str | None) -> str:
    """The repository a pull request (or issue) address belongs to, ``none`` without one."""
    if not pr_url:
        return "none"
    return _PULL.sub("", pr_url).removesuffix(".git").rstrip("/") or "none"


def onset(capture: model.Capture) -> datetime:
    """When the drift began, as far as is known (the change, or a scan's "at least since")."""
    if capture.source is model.Source.SCAN and capture.since is not None:
        return min(capture.since, capture.received_at)
    return capture.received_at


def state(capture: model.Capture) -> str | None:
    """The open state of a capture, or ``None`` when it is resolved or not drift."""
    status = capture.status
    if status in (model.Status.PROVISIONAL, model.Status.CONFIRMED):
        return "pending"
    if status is model.Status.PR_OPEN:
        return "pr_open"
    if status is model.Status.UNMANAGED:
        return "unmanaged"
    if status is model.Status.FAILED:
        reason = capture.reason or ""
        human = reason.startswith(("cannot be expressed", "render check failed"))
        return "needs_human" if human else "failed"
    return None


def outcome(capture: model.Capture) -> str | None:
    """How resolved drift ended, or ``None`` when it is open or not drift."""
    status, reason = capture.status, capture.reason or ""
    if status is model.Status.MERGED:
        return "merged"
    if status is model.Status.CLOSED:
        if reason.startswith("withdrawn"):
            return "withdrawn"
        if "production is back at Git's value" in reason:
            return "reverted"
        return "closed"
    if status is model.Status.SUPERSEDED:
        return "reverted" if "back at Git's value" in reason else "superseded"
    return None


def compute(captures: Iterable[model.Capture], *, now: datetime) -> DriftStats:
    """The numbers over ``captures`` (each once; any order)."""
    stats = DriftStats()
    oldest: datetime | None = None
    for capture in captures:
        if capture.status in (model.Status.DISCARDED, model.Status.IGNORED):
            continue
        began = onset(capture)
        stats.changes[capture.source.value] += 1
        if capture.actor.username and capture.actor.username != model.UNKNOWN_USER:
            stats.attributed[capture.source.value] += 1
        if capture.session is not None:
            stats.in_session[capture.source.value] += 1
        stats.time_to_detection.append(_seconds(began, capture.received_at))
        if capture.pr_opened_at is not None:
            stats.time_to_pr.append(_seconds(began, capture.pr_opened_at))
        now_state = state(capture)
        if now_state is not None:
            ref = capture.object
            stats.open[(ref.namespace, ref.kind, repository(capture.pr_url), now_state)] += 1
            oldest = began if oldest is None or began < oldest else oldest
            continue
        ended = outcome(capture)
        if ended is None:
            continue
        stats.resolved[ended] += 1
        resolved_at = capture.resolved_at or capture.updated_at or capture.received_at
        stats.time_to_resolution.append(_seconds(began, resolved_at))
        if ended == "merged":
            stats.time_to_merge.append(_seconds(began, resolved_at))
    if oldest is not None:
        stats.oldest_open_seconds = _seconds(oldest, now)
    return stats


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)

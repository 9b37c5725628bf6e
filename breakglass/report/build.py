"""A period's report from captures: pure, so it is tested without a journal."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from breakglass import driftstats, model, repos
from breakglass.drill.plan import AppResult, by_application
from breakglass.settings import Settings
from breakglass.worker import inputs

FLUX_NAME = repos.FLUX_KS_NAME


@dataclass(frozen=True)
class Item:
    """One object's drift, as a row of the debt, needs-a-human or reverted tables."""

    object: str
    namespace: str
    state: str
    age_seconds: float
    people: tuple[str, ...]
    assignees: tuple[str, ...]
    url: str | None
    reason: str | None = None


@dataclass(frozen=True)
class SessionRow:
    """One break-glass session: who, why, how long, and what came of its changes."""

    name: str
    owner: str
    reason: str
    opened_at: datetime
    ended_at: datetime
    members: tuple[str, ...]
    changes: int
    pull_requests: tuple[str, ...]


@dataclass(frozen=True)
class TerraformRow:
    """One OpenTofu/Terraform resource's drift: where, what, what became of it, how long."""

    root: str
    address: str
    attributes: tuple[str, ...]
    outcome: str
    age_seconds: float
    resolved: bool
    author: str | None
    url: str | None
    reason: str


@dataclass
class PeriodReport:
    cluster: str
    start: datetime
    end: datetime
    stats: driftstats.DriftStats
    objects_drifted: int = 0
    by_day: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    namespaces: list[tuple[str, int]] = field(default_factory=list)
    applications: list[tuple[str, int]] = field(default_factory=list)
    people: list[tuple[str, int]] = field(default_factory=list)
    debt: list[Item] = field(default_factory=list)
    needs_human: list[Item] = field(default_factory=list)
    reverted: list[Item] = field(default_factory=list)
    #: open drift (any age), counted the same way as the metrics
    open_now: driftstats.DriftStats | None = None
    #: ``breakglass drill`` results in the period, per application
    drills: list[AppResult] = field(default_factory=list)
    #: break-glass sessions open at some point in the period, oldest first
    sessions: list[SessionRow] = field(default_factory=list)
    #: OpenTofu/Terraform drift seen in the period or still unresolved, oldest first
    terraform: list[TerraformRow] = field(default_factory=list)

    def durations(self) -> dict[str, dict[str, float | None]]:
        """Median and 90th percentile, seconds, of each duration."""
        out: dict[str, dict[str, float | None]] = {}
        for name, values in (
            ("detection", self.stats.time_to_detection),
            ("pull_request", self.stats.time_to_pr),
            ("merge", self.stats.time_to_merge),
            ("resolution", self.stats.time_to_resolution),
        ):
            out[name] = {"median": _quantile(values, 0.5), "p90": _quantile(values, 0.9)}
        return out


def build(
    captures: Iterable[model.Capture],
    *,
    settings: Settings,
    now: datetime,
    since: timedelta,
    top: int = 10,
    sessions: Iterable[model.Session] = (),
    terraform: Iterable[model.TerraformDrift] = (),
) -> PeriodReport:
    """The report of the period ``[now - since, now]``: changes made (or found) in it, and the
    drift still open now whatever its age."""
    start = now - since
    captures = list(captures)
    everything = [
        c for c in captures if c.status not in (model.Status.DISCARDED, model.Status.IGNORED)
    ]
    in_period = [c for c in everything if c.received_at >= start]
    report = PeriodReport(
        cluster=settings.cluster,
        start=start,
        end=now,
        stats=driftstats.compute(in_period, now=now),
        open_now=driftstats.compute(
            [c for c in everything if driftstats.state(c) is not None], now=now
        ),
    )
    report.objects_drifted = len({_key(c) for c in in_period})
    days: dict[str, Counter[str]] = {}
    day = start.date()
    while day <= now.date():
        days[day.isoformat()] = Counter()
        day += timedelta(days=1)
    for c in in_period:
        days.setdefault(c.received_at.date().isoformat(), Counter())[c.source.value] += 1
    report.by_day = [(d, dict(days[d])) for d in sorted(days)]
    report.namespaces = Counter(c.object.namespace or "(cluster)" for c in in_period).most_common(
        top
    )
    report.applications = Counter(
        a for c in in_period if (a := application(c)) is not None
    ).most_common(top)
    report.people = Counter(
        c.actor.username for c in in_period if c.actor.username != model.UNKNOWN_USER
    ).most_common(top)
    report.debt = _items(
        [c for c in everything if driftstats.state(c) == "pr_open"], settings=settings, now=now
    )
    report.needs_human = _items(
        [c for c in everything if driftstats.state(c) in ("needs_human", "failed")],
        settings=settings,
        now=now,
    )
    report.reverted = _items(
        [c for c in in_period if driftstats.outcome(c) == "reverted"], settings=settings, now=now
    )
    report.drills = by_application(
        [
            c.drill
            for c in captures
            if c.source is model.Source.DRILL
            and c.drill is not None
            and c.drill.outcome != "running"
            and c.received_at >= start
        ]
    )
    for session in sorted(sessions, key=lambda s: (s.opened_at, s.name)):
        if session.ends_at < start or session.opened_at > now:
            continue
        mine = [c for c in captures if c.session == session.name]
        report.sessions.append(
            SessionRow(
                session.name,
                session.owner,
                session.reason,
                session.opened_at,
                session.ends_at,
                session.members,
                len(mine),
                tuple(dict.fromkeys(c.pr_url for c in mine if c.pr_url)),
            )
        )
    for drift in sorted(terraform, key=lambda d: (d.first_seen, d.root, d.address)):
        if drift.resolved_at is not None and drift.resolved_at < start:
            continue
        until = drift.resolved_at or now
        report.terraform.append(
            TerraformRow(
                drift.root,
                drift.address,
                drift.attributes,
                drift.outcome,
                (until - drift.first_seen).total_seconds(),
                drift.resolved_at is not None,
                drift.author,
                drift.url,
                drift.reason,
            )
        )
    return report


def application(capture: model.Capture) -> str | None:
    """The GitOps application an object belongs to, from its owner labels."""
    tracking = capture.labels.get(repos.ARGO_TRACKING)
    if tracking and ":" in tracking:
        return "Argo CD " + tracking.split(":", 1)[0]
    flux = capture.labels.get(FLUX_NAME)
    if flux:
        return "Flux " + flux
    helm = capture.labels.get(repos.FLUX_HR_NAME)
    return "Flux HelmRelease " + helm if helm else None


def _items(captures: Sequence[model.Capture], *, settings: Settings, now: datetime) -> list[Item]:
    """One row per pull request (or object), oldest drift first."""
    groups: dict[str, list[model.Capture]] = {}
    for c in captures:
        groups.setdefault(c.pr_url or "|".join(_key(c)), []).append(c)
    rows = []
    for members in groups.values():
        first = min(members, key=driftstats.onset)
        people = tuple(dict.fromkeys(c.actor.username for c in members))
        assigned: list[str] = []
        for c in members:
            names = (
                inputs.owners_for(settings, c)
                if c.actor.username == model.UNKNOWN_USER
                else [c.actor.username]
            )
            for name in names:
                ident = inputs.identity_for(settings, name)
                handle = ident.github or ident.gitlab or name
                if handle not in assigned:
                    assigned.append(handle)
        ref = first.object
        rows.append(
            Item(
                object=f"{ref.kind}/{ref.namespace + '/' if ref.namespace else ''}{ref.name}",
                namespace=ref.namespace,
                state=driftstats.state(first) or driftstats.outcome(first) or first.status.value,
                age_seconds=max((now - driftstats.onset(first)).total_seconds(), 0.0),
                people=people,
                assignees=tuple(assigned),
                url=first.pr_url,
                reason=first.reason,
            )
        )
    rows.sort(key=lambda r: -r.age_seconds)
    return rows


def _key(c: model.Capture) -> tuple[str, str, str, str]:
    return (c.object.group, c.object.kind, c.object.namespace, c.object.name)


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[int(q * 100) - 1]


def human_duration(seconds: float | None) -> str:
    """``42 s``, ``17 min``, ``5.2 h``, ``3.1 days``; ``-`` for none."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"

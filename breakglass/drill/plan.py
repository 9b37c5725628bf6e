"""Which objects a drill changes, for how long it waits, and what the results mean (pure).

An application's objects come from its controller's own record: a Flux Kustomization's
``status.inventory``, an Argo CD Application's ``status.resources`` (a HelmRelease keeps no
inventory: its objects are found by helm-controller's labels, in ``drill.run``).  The sample
prefers the kinds an on-call engineer edits (Deployments, StatefulSets, DaemonSets,
ConfigMaps, Services), never a Secret or a cluster-scoped object, and is the same on every run
(sorted), so two drills of one application measure the same objects.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from breakglass import model
from breakglass.drill.marker import Change, Probe
from breakglass.posture.classify import Posture, Verdict

JSON = Any

#: a drill never waits longer than this for one application (the issue's promise to on-call)
MAX_DEADLINE_SECONDS: Final = 1800.0
#: nor less: a controller needs a moment to notice even when its settings say "at once"
MIN_DEADLINE_SECONDS: Final = 30.0
#: how long to wait where posture expects no revert at all (notifying, triggered, suspended)
UNEXPECTED_DEADLINE_SECONDS: Final = 300.0
#: the kinds sampled first, in this order; any other namespaced kind follows by name
PREFERRED_KINDS: Final = ("Deployment", "StatefulSet", "DaemonSet", "ConfigMap", "Service")
#: never drilled: a value could leak or an object could be recreated
NEVER: Final = frozenset({"Secret", "Pod", "Event", "Lease", "Endpoints", "EndpointSlice"})


@dataclass(frozen=True)
class Ref:
    """One object an application manages, as its controller lists it."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str

    def describe(self) -> str:
        return f"{self.kind.lower()} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Target:
    """One object to drill and the change it gets."""

    ref: model.ObjectRef
    probe: Probe


@dataclass(frozen=True)
class AppPlan:
    posture: Posture
    deadline_seconds: float
    targets: tuple[Target, ...] = ()
    #: objects looked at and left alone, with why
    skipped: tuple[tuple[str, str], ...] = ()
    #: why the application has nothing to drill (no inventory, nothing drillable)
    empty_because: str = ""


@dataclass
class Plan:
    drill_id: str
    change: Change
    user: str
    field_manager: str
    apps: list[AppPlan] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def targets(self) -> int:
        return sum(len(a.targets) for a in self.apps)


def deadline_for(posture: Posture, override: float | None) -> float:
    """Twice the expected time to revert (at least ``MIN``), ``UNEXPECTED`` where nothing is
    expected to revert, or ``override``; never more than ``MAX``."""
    if override is not None:
        return min(override, MAX_DEADLINE_SECONDS)
    expected = posture.expected_revert_seconds
    if expected is None:
        return UNEXPECTED_DEADLINE_SECONDS
    return min(max(2 * expected, MIN_DEADLINE_SECONDS), MAX_DEADLINE_SECONDS)


def inventory(app: Mapping[str, JSON]) -> list[Ref] | None:
    """The objects an Argo CD Application or Flux Kustomization says it manages; ``None``
    when it keeps no such list (a HelmRelease, or a Kustomization never applied)."""
    status = app.get("status") or {}
    kind = app.get("kind")
    if kind == "Application" and isinstance(status.get("resources"), list):
        return [
            Ref(
                str(r.get("group") or ""),
                str(r.get("version") or ""),
                str(r.get("kind") or ""),
                str(r.get("namespace") or ""),
                str(r.get("name") or ""),
            )
            for r in status["resources"]
            if isinstance(r, dict)
        ]
    entries = (status.get("inventory") or {}).get("entries")
    if kind == "Kustomization" and isinstance(entries, list):
        out = []
        for entry in entries:
            parts = str((entry or {}).get("id", "")).split("_")
            if len(parts) != 4:
                continue  # not namespace_name_group_kind: a future format, left alone
            namespace, name, group, obj_kind = parts
            out.append(Ref(group, str(entry.get("v") or ""), obj_kind, namespace, name))
        return out
    return None


def candidates(refs: Sequence[Ref], change: Change) -> tuple[list[Ref], list[tuple[str, str]]]:
    """The objects worth reading for ``change``, in sampling order, and those left out."""
    keep: list[Ref] = []
    skipped: list[tuple[str, str]] = []
    for ref in refs:
        if not ref.namespace:
            skipped.append((ref.describe(), "cluster-scoped objects are never drilled"))
        elif ref.kind in NEVER:
            skipped.append((ref.describe(), f"a {ref.kind} is never drilled"))
        elif change.kinds is not None and ref.kind not in change.kinds:
            continue  # silently: most objects of an application are not Deployments
        else:
            keep.append(ref)

    def order(ref: Ref) -> tuple[int, str, str, str]:
        rank = PREFERRED_KINDS.index(ref.kind) if ref.kind in PREFERRED_KINDS else 99
        return (rank, ref.kind, ref.namespace, ref.name)

    return sorted(keep, key=order), skipped


def agreement(record: model.DrillRecord) -> str:
    """What a result says next to posture's verdict, in one line."""
    enforcing = record.verdict == Verdict.ENFORCING.value
    outcome = record.outcome
    if outcome == "reverted":
        measured = record.measured_seconds
        seconds = f"{measured:.0f} s" if measured is not None else "an unknown time"
        if not enforcing:
            return f"reverted in {seconds} though posture expected no revert: something else did"
        expected = record.expected_seconds
        if (
            expected is not None
            and measured is not None
            and measured > expected + max(10.0, expected / 2)
        ):
            return f"reverted, slower than its settings say ({seconds}, expected {expected:.0f} s)"
        return "as posture expected: reverted"
    if outcome == "survived":
        if enforcing:
            return "GitOps incomplete: posture says enforcing, the change survived"
        return "as posture expected: nothing reverts a manual change"
    return {
        "interrupted": "interrupted before the deadline: no verdict",
        "deleted": "the object was deleted during the drill",
        "conflict": "someone else changed the object during the drill: no verdict",
        "cleaned-up": "restored by drill --cleanup: no verdict",
        "running": "not finished",
    }.get(outcome, outcome)


@dataclass(frozen=True)
class AppResult:
    """One application's drill in a line: how many changes came back, how fast."""

    application: str
    verdict: str
    expected_seconds: float | None
    reverted: int
    survived: int
    other: int
    median_seconds: float | None
    verdict_of_drill: str


def by_application(records: Sequence[model.DrillRecord]) -> list[AppResult]:
    """Records grouped per application (a drill's, or every drill's in a period)."""
    groups: dict[str, list[model.DrillRecord]] = {}
    for record in records:
        groups.setdefault(record.application, []).append(record)
    out = []
    for application, items in sorted(groups.items()):
        reverted = [r for r in items if r.outcome == "reverted"]
        survived = [r for r in items if r.outcome == "survived"]
        times = [r.measured_seconds for r in reverted if r.measured_seconds is not None]
        first = items[0]
        if survived and first.verdict == Verdict.ENFORCING.value:
            said = "GitOps incomplete"
        elif survived and reverted:
            said = "mixed"
        elif survived:
            said = "survived (as posture expected)"
        elif reverted:
            said = "reverted"
        else:
            said = "no verdict"
        out.append(
            AppResult(
                application,
                first.verdict,
                first.expected_seconds,
                len(reverted),
                len(survived),
                len(items) - len(reverted) - len(survived),
                statistics.median(times) if times else None,
                said,
            )
        )
    return out

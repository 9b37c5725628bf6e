"""A drill's I/O: plan it from the cluster, run it, restore, and clean up after a killed one.

Every write goes through ``kube.Drilled`` as the person running the drill.  The order of each
object's drill is what makes it safe to interrupt at any point:

1. the journal records the drill on the object (``running``) before anything changes;
2. one conditional merge patch makes the change and marks it (label + annotation);
3. the object is watched until the probe holds its original value again (reverted), the
   deadline passes (survived), or the drill is stopped (interrupted);
4. a conditional JSON Patch removes the marks and, unless the controller already did,
   puts the probe back; it is retried until it succeeds or ``RESTORE_GIVE_UP_SECONDS`` pass;
5. the journal and the audit log get the outcome.

A process killed between 2 and 4 leaves marked objects that ``cleanup`` finds by label.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from breakglass import logs, model
from breakglass.auditlog.records import Event, EventType
from breakglass.drill import marker as marks
from breakglass.drill.marker import Change, Marker, Probe
from breakglass.drill.plan import (
    NEVER,
    AppPlan,
    Plan,
    Ref,
    Target,
    candidates,
    deadline_for,
    inventory,
)
from breakglass.errors import BreakglassError, PermanentError, TemporaryError
from breakglass.kube import JSON_PATCH, MERGE_PATCH, Conflict
from breakglass.listing import list_all
from breakglass.posture import classify
from breakglass.posture.run import collect, judge

if TYPE_CHECKING:
    from breakglass.auditlog import AuditLog
    from breakglass.journal import Journal
    from breakglass.kube import KubeCluster

JSON = Any
log = logs.get(__name__)

#: how long a restore is retried (a lost connection) before the drill gives up on it
RESTORE_GIVE_UP_SECONDS: Final = 120.0
#: the longest single watch request; the object is read again between two
WATCH_SECONDS: Final = 60.0
#: helm-controller's labels on every object of a release
HELM_NAME: Final = "helm.toolkit.fluxcd.io/name"
HELM_NAMESPACE: Final = "helm.toolkit.fluxcd.io/namespace"
HELM_KINDS: Final = (
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "Service", "services"),
)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    change: Change = Change.LABEL
    sample: int = 5
    deadline: float | None = None
    tool: str | None = None
    #: application names (``name`` or ``namespace/name``) to drill; empty: all of them
    apps: tuple[str, ...] = ()
    field_manager: str = marks.FIELD_MANAGER


def selected(posture: classify.Posture, options: Options) -> bool:
    if options.tool is not None and posture.tool != options.tool:
        return False
    if not options.apps:
        return True
    return any(a in (posture.name, f"{posture.namespace}/{posture.name}") for a in options.apps)


async def make_plan(
    cluster: KubeCluster, options: Options, *, drill_id: str, now: datetime
) -> Plan:
    """Read the applications and their objects, and choose what to change (reads only)."""
    user = await cluster.whoami()
    plan = Plan(drill_id, options.change, str(user.get("username") or "?"), options.field_manager)
    objects = await collect(cluster, problems=plan.problems)
    report = judge(objects, [], now=now, since=timedelta(days=1))
    raw = {
        (str(o.get("kind", "")), _meta(o, "namespace"), _meta(o, "name")): o
        for plural in ("applications", "kustomizations", "helmreleases")
        for o in objects.get(plural, [])
    }
    plurals = _Plurals(cluster)
    autoscaled = await _autoscaled(cluster) if options.change is Change.REPLICAS else set()
    for posture in report.postures:
        if not selected(posture, options):
            continue
        app = raw.get((posture.kind, posture.namespace, posture.name), {})
        deadline = deadline_for(posture, options.deadline)
        refs = inventory(app)
        if refs is None and posture.kind == "HelmRelease":
            refs = await _helm_objects(cluster, posture)
        if refs is None:
            plan.apps.append(
                AppPlan(posture, deadline, empty_because="its controller lists no objects yet")
            )
            continue
        keep, skipped = candidates(refs, options.change)
        targets: list[Target] = []
        for ref in keep:
            if len(targets) >= options.sample:
                break
            try:
                why = await _choose(cluster, plurals, ref, options, drill_id, autoscaled, targets)
            except BreakglassError as exc:
                why = f"cannot read it: {exc}"
            if why:
                skipped.append((ref.describe(), why))
        plan.apps.append(
            AppPlan(
                posture,
                deadline,
                tuple(targets),
                tuple(skipped),
                "" if targets else "nothing it manages can take this change",
            )
        )
    known = {a.posture.name for a in plan.apps} | {
        f"{a.posture.namespace}/{a.posture.name}" for a in plan.apps
    }
    for wanted in options.apps:
        if wanted not in known:
            plan.problems.append(f"no application named {wanted!r} (see breakglass posture)")
    return plan


async def _choose(
    cluster: KubeCluster,
    plurals: _Plurals,
    ref: Ref,
    options: Options,
    drill_id: str,
    autoscaled: set[tuple[str, str, str]],
    targets: list[Target],
) -> str:
    """Append ``ref`` to ``targets`` if it can be drilled; else say why not."""
    plural = await plurals.get(ref.group, ref.version, ref.kind)
    if plural is None:
        return "its kind is not served by this API server"
    obj = await cluster.get(
        group=ref.group, version=ref.version, plural=plural, namespace=ref.namespace, name=ref.name
    )
    if obj is None:
        return "not found in the cluster"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "being deleted"
    if (other := marks.label_of(obj)) is not None:
        return f"carries drill {other} already: let it finish, or run breakglass drill --cleanup"
    if (ref.kind, ref.namespace, ref.name) in autoscaled:
        return "a HorizontalPodAutoscaler sets its replicas"
    probe = marks.probe_for(obj, options.change, drill_id)
    if isinstance(probe, str):
        return probe
    ident = model.ObjectRef(ref.group, ref.version, plural, ref.kind, ref.namespace, ref.name)
    targets.append(Target(ident, probe))
    return ""


class _Plurals:
    """kind → resource name, by discovery of each group version once."""

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster
        self.cache: dict[str, dict[str, str]] = {}

    async def get(self, group: str, version: str, kind: str) -> str | None:
        gv = f"{group}/{version}" if group else version
        if gv not in self.cache:
            found = await self.cluster.resources(gv) or []
            self.cache[gv] = {
                str(r.get("kind")): str(r.get("name"))
                for r in found
                if "/" not in str(r.get("name", "")) and r.get("namespaced")
            }
        return self.cache[gv].get(kind)


async def _autoscaled(cluster: KubeCluster) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every object a HorizontalPodAutoscaler scales."""
    out: set[tuple[str, str, str]] = set()
    for hpa in await _all(cluster, "autoscaling", "v2", "horizontalpodautoscalers"):
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        out.add((str(target.get("kind")), _meta(hpa, "namespace"), str(target.get("name"))))
    return out


async def _helm_objects(cluster: KubeCluster, posture: classify.Posture) -> list[Ref]:
    selector = f"{HELM_NAME}={posture.name},{HELM_NAMESPACE}={posture.namespace}"
    refs = []
    for group, version, kind, plural in HELM_KINDS:
        for obj in await _all(cluster, group, version, plural, selector=selector):
            refs.append(Ref(group, version, kind, _meta(obj, "namespace"), _meta(obj, "name")))
    return refs


async def _all(
    cluster: KubeCluster, group: str, version: str, plural: str, *, selector: str | None = None
) -> list[dict[str, JSON]]:
    return await list_all(
        cluster, group=group, version=version, plural=plural, label_selector=selector
    )


def _meta(obj: Mapping[str, JSON], key: str) -> str:
    return str((obj.get("metadata") or {}).get(key) or "")


# -- running ----------------------------------------------------------------------------------


@dataclass
class Result:
    """One drilled object and what became of it."""

    app: AppPlan
    target: Target
    record: model.DrillRecord
    capture_id: str | None = None


class Drill:
    """Runs a plan: every object at once, each on its own deadline, all restored when
    ``stop`` is set (a signal)."""

    def __init__(
        self,
        cluster: KubeCluster,
        plan: Plan,
        *,
        journal: Journal | None,
        audit_log: AuditLog | None,
        cluster_name: str,
        stop: asyncio.Event,
        say: Say,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.plan = plan
        self.journal = journal
        self.audit_log = audit_log
        self.cluster_name = cluster_name
        self.stop = stop
        self.say = say
        self.clock = clock

    async def run(self) -> list[Result]:
        jobs = [(app, target) for app in self.plan.apps for target in app.targets]
        return list(await asyncio.gather(*(self._one(app, t) for app, t in jobs)))

    async def _one(self, app: AppPlan, target: Target) -> Result:
        ref, probe = target.ref, target.probe
        record = model.DrillRecord(
            drill_id=self.plan.drill_id,
            application=app.posture.key,
            verdict=app.posture.verdict.value,
            change=probe.change.value,
            expected_seconds=app.posture.expected_revert_seconds,
            deadline_seconds=app.deadline_seconds,
        )
        result = Result(app, target, record)
        if self.stop.is_set():
            result.record = replace(record, outcome="interrupted", note="stopped before it began")
            return result
        started = model.utcnow()
        marker = Marker(
            drill_id=self.plan.drill_id,
            user=self.plan.user,
            started=model.format_time(started),
            deadline=model.format_time(started + timedelta(seconds=app.deadline_seconds)),
            application=app.posture.key,
            change=probe.change.value,
            pointer=probe.pointer,
            original=probe.original,
            drilled=probe.drilled,
        )
        result.capture_id = await self._journal_start(result, started)
        try:
            patched = await self._change(target, marker)
        except BreakglassError as exc:
            result.record = replace(record, outcome="failed", note=f"not changed: {exc}")
            await self._finish(result)
            return result
        if patched is None:
            result.record = replace(record, outcome="deleted", note="deleted before the change")
            await self._finish(result)
            return result
        began = self.clock()
        await self._audit(result, "changed")
        self.say(
            f"changed {ref.describe()} ({probe.where}) for {app.posture.key}; "
            f"waiting up to {app.deadline_seconds:.0f} s"
        )
        outcome, seen_at, last = await self._wait(target, patched, began + app.deadline_seconds)
        measured = round(seen_at - began, 3) if seen_at is not None else None
        note = ""
        if outcome == "reverted" and last is not None and _cleaned_up(last, started):
            outcome, measured, note = "cleaned-up", None, "restored by drill --cleanup"
        record = replace(record, outcome=outcome, measured_seconds=measured, note=note)
        if outcome != "deleted":
            restored, why = await self._restore(target)
            record = replace(record, restored=restored, note="; ".join(n for n in (note, why) if n))
        result.record = record
        await self._finish(result)
        self.say(_said(result))
        return result

    async def _change(self, target: Target, marker: Marker) -> dict[str, JSON] | None:
        """The change, retried once on a conflict with a fresh read."""
        ref = target.ref
        for attempt in range(2):
            obj = await self._get(ref)
            if obj is None:
                return None
            if marks.label_of(obj) is not None:
                raise Conflict(f"{ref.describe()} carries drill {marks.label_of(obj)} already")
            probe = marks.probe_for(obj, target.probe.change, self.plan.drill_id)
            if isinstance(probe, str) or probe != target.probe:
                raise Conflict(f"{ref.describe()} changed since the plan was made")
            try:
                return await self.cluster.patch(
                    **_where(ref),
                    body=marks.drill_patch(obj, probe, marker),
                    content_type=MERGE_PATCH,
                    field_manager=self.plan.field_manager,
                )
            except Conflict:
                if attempt:
                    raise
        return None

    async def _wait(
        self, target: Target, patched: dict[str, JSON], deadline: float
    ) -> tuple[str, float | None, dict[str, JSON] | None]:
        """``(outcome, when it was seen, the object then)`` for reverted, survived,
        interrupted or deleted."""
        ref, probe = target.ref, target.probe
        version = str((patched.get("metadata") or {}).get("resourceVersion") or "")
        stop = asyncio.ensure_future(self.stop.wait())
        try:
            while True:
                remaining = deadline - self.clock()
                if self.stop.is_set():
                    return "interrupted", None, None
                if remaining <= 0:
                    return "survived", None, None
                watcher = asyncio.ensure_future(self._watch(ref, probe, version, remaining))
                done, _ = await asyncio.wait(
                    {watcher, stop}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if watcher not in done:
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
                    continue
                try:
                    seen = watcher.result()
                except TemporaryError as exc:
                    log.warning("drill_watch_lost", object=ref.describe(), error=str(exc))
                    await asyncio.sleep(min(2.0, max(0.0, deadline - self.clock())))
                    seen = None
                if seen is not None:
                    return seen[0], self.clock(), seen[1]
                # the watch ended (its time, a lost connection): read the object, watch again
                try:
                    obj = await self._get(ref)
                except TemporaryError:
                    continue
                if obj is None:
                    return "deleted", self.clock(), None
                if marks.reverted(obj, probe):
                    return "reverted", self.clock(), obj
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
        finally:
            stop.cancel()

    async def _watch(
        self, ref: model.ObjectRef, probe: Probe, version: str, remaining: float
    ) -> tuple[str, dict[str, JSON]] | None:
        async for kind, obj in self.cluster.watch(
            **_where(ref), resource_version=version, seconds=min(remaining, WATCH_SECONDS)
        ):
            if kind == "DELETED":
                return "deleted", obj
            if marks.reverted(obj, probe):
                return "reverted", obj
        return None

    async def _restore(self, target: Target) -> tuple[bool, str]:
        """Remove the marks and put the probe back; ``(restored, what to say)``."""
        give_up = self.clock() + RESTORE_GIVE_UP_SECONDS
        delay = 0.5
        while True:
            try:
                obj = await self._get(target.ref)
                if obj is None:
                    return True, "the object is gone"
                ops, puts_back = marks.restore_ops(obj, target.probe, self.plan.drill_id)
                current = marks.value_at(obj, target.probe.pointer)
                if ops:
                    await self.cluster.patch(
                        **_where(target.ref),
                        body=ops,
                        content_type=JSON_PATCH,
                        field_manager=marks.RESTORE_MANAGER,
                    )
                if not puts_back and current not in (
                    target.probe.original,
                    None,
                    target.probe.drilled,
                ):
                    return True, "changed again by someone during the drill: left as it is"
                return True, ""
            except Conflict:
                pass  # changed between the read and the patch: read again
            except TemporaryError as exc:
                if self.clock() > give_up:
                    return False, (
                        f"NOT restored ({exc}): run breakglass drill --cleanup when the "
                        "cluster is reachable"
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            except BreakglassError as exc:
                return False, f"NOT restored ({exc}): run breakglass drill --cleanup"

    async def _get(self, ref: model.ObjectRef) -> dict[str, JSON] | None:
        return await self.cluster.get(**_where(ref))

    async def _journal_start(self, result: Result, started: datetime) -> str | None:
        if self.journal is None:
            return None
        capture = _capture(result, self.plan, self.cluster_name, started)
        stored = await self.journal.insert(capture)
        return stored.capture.id

    async def _finish(self, result: Result) -> None:
        if self.journal is not None and result.capture_id is not None:
            await self.journal.update(
                result.capture_id,
                {
                    "drill": result.record,
                    "reason": f"drill {result.record.outcome}",
                    "resolved_at": model.utcnow(),
                },
            )
        await self._audit(result, result.record.outcome)

    async def _audit(self, result: Result, outcome: str) -> None:
        if self.audit_log is None:
            return
        await self.audit_log.append(
            drill_event(
                result.target.ref,
                result.record,
                capture_id=result.capture_id or "",
                user=self.plan.user,
                cluster=self.cluster_name,
                outcome=outcome,
            )
        )


def drill_event(
    ref: model.ObjectRef,
    record: model.DrillRecord,
    *,
    capture_id: str,
    user: str,
    cluster: str,
    outcome: str,
) -> Event:
    """The audit record of a drill's change, outcome or cleanup: who, which object, which
    field, never a value."""
    return Event(
        type=EventType.DRILL,
        capture_id=capture_id,
        cluster=cluster,
        actor=model.Actor(username=user),
        object=ref,
        summary={
            "drill_id": record.drill_id,
            "application": record.application,
            "change": record.change,
            "restored": record.restored,
        },
        outcome=outcome,
    )


def _capture(result: Result, plan: Plan, cluster: str, started: datetime) -> model.Capture:
    """The journal's record of one drilled object: a ``drill`` capture, never backfilled."""
    probe = result.target.probe
    before, after = _sparse(probe.pointer, probe.original), _sparse(probe.pointer, probe.drilled)
    return model.Capture(
        id=model.new_capture_id(started.timestamp()),
        cluster=cluster,
        source=model.Source.DRILL,
        status=model.Status.IGNORED,
        operation=model.Operation.UPDATE,
        object=result.target.ref,
        actor=model.Actor(
            username=plan.user, field_manager=plan.field_manager, user_agent="breakglass-drill"
        ),
        delta=model.Delta(before=before, after=after, paths=(probe.where,)),
        received_at=started,
        request_uid=f"{plan.drill_id}/{result.target.ref.namespace}/"
        f"{result.target.ref.kind}/{result.target.ref.name}",
        classification=model.DRILL,
        reason="drill running",
        drill=result.record,
    )


def _sparse(pointer: str, value: JSON) -> dict[str, JSON]:
    parts = [marks._unescape(p) for p in pointer.strip("/").split("/")]
    out: dict[str, JSON] = {}
    node = out
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _where(ref: model.ObjectRef) -> dict[str, str]:
    return {
        "group": ref.group,
        "version": ref.version,
        "plural": ref.resource,
        "namespace": ref.namespace,
        "name": ref.name,
    }


def _cleaned_up(obj: Mapping[str, JSON], since: datetime) -> bool:
    """Whether ``drill --cleanup`` wrote the object after the drill began (it restored the
    change, no controller did)."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if (
            entry.get("manager") == marks.CLEANUP_MANAGER
            and entry.get("time")
            and model.parse_time(str(entry["time"])) >= since.replace(microsecond=0)
        ):
            return True
    return False


def _said(result: Result) -> str:
    record, ref = result.record, result.target.ref
    if record.outcome == "reverted":
        text = f"reverted {ref.describe()} after {record.measured_seconds:.1f} s"
    elif record.outcome == "survived":
        text = f"survived {ref.describe()}: restored by the drill at its deadline"
    else:
        text = f"{record.outcome} {ref.describe()}"
    return text + (f" ({record.note})" if record.note else "")


# -- cleanup ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leftover:
    """A drill change found by ``--cleanup``, and whether it was restored."""

    ref: model.ObjectRef
    drill_id: str
    marker: Marker | None
    restored: bool
    note: str = ""


async def leftovers(
    cluster: KubeCluster, *, unreadable: list[str] | None = None
) -> list[tuple[model.ObjectRef, dict[str, JSON]]]:
    """Every object carrying the drill label, in every namespaced kind that can be listed and
    patched; the kinds the caller may not list go to ``unreadable``."""
    found = []
    for gv in await cluster.group_versions():
        group, _, version = gv.rpartition("/")
        for resource in await cluster.resources(gv) or []:
            name, verbs = str(resource.get("name", "")), resource.get("verbs") or []
            kind = str(resource.get("kind", ""))
            if "/" in name or not resource.get("namespaced") or kind in NEVER:
                continue
            if "list" not in verbs or "patch" not in verbs:
                continue
            try:
                items = await _all(cluster, group, version, name, selector=marks.LABEL)
            except PermanentError:
                if unreadable is not None:
                    unreadable.append(f"{name}.{group}" if group else name)
                continue
            except BreakglassError as exc:
                log.warning("drill_cleanup_list_failed", resource=f"{name}.{group}", error=str(exc))
                continue
            for obj in items:
                ref = model.ObjectRef(
                    group, version, name, kind, _meta(obj, "namespace"), _meta(obj, "name")
                )
                found.append((ref, obj))
    return found


async def cleanup(
    cluster: KubeCluster,
    *,
    journal: Journal | None,
    audit_log: AuditLog | None,
    cluster_name: str,
    user: str,
    say: Say,
) -> list[Leftover]:
    """Restore every drill change left behind, and close the journal's records of drills
    that never finished."""
    out: list[Leftover] = []
    unreadable: list[str] = []
    for ref, obj in await leftovers(cluster, unreadable=unreadable):
        drill_id = marks.label_of(obj) or ""
        marker = Marker.read(obj)
        probe = marker.probe if marker is not None else _label_probe(drill_id)
        try:
            ops, puts_back = marks.restore_ops(obj, probe, drill_id)
            if ops:
                await cluster.patch(
                    **_where(ref),
                    body=ops,
                    content_type=JSON_PATCH,
                    field_manager=marks.CLEANUP_MANAGER,
                )
            note = "" if puts_back or marker is None else "its field had changed since: kept"
            leftover = Leftover(ref, drill_id, marker, True, note)
        except BreakglassError as exc:
            leftover = Leftover(ref, drill_id, marker, False, str(exc))
        out.append(leftover)
        say(
            f"{'restored' if leftover.restored else 'could NOT restore'} {ref.describe()} "
            f"(drill {drill_id}"
            + (f" by {marker.user}, started {marker.started}" if marker else "")
            + ")"
            + (f": {leftover.note}" if leftover.note else "")
        )
    if unreadable:
        say(
            f"you may not list {len(unreadable)} kinds ({', '.join(sorted(unreadable)[:5])}"
            f"{', …' if len(unreadable) > 5 else ''}): drill changes there were not looked for"
        )
    if journal is not None:
        await _close_unfinished(journal, out, audit_log, cluster_name, user)
    return out


def _label_probe(drill_id: str) -> Probe:
    return Probe(Change.LABEL, marks._pointer("metadata", "labels", marks.LABEL), None, drill_id)


async def _close_unfinished(
    journal: Journal,
    found: Sequence[Leftover],
    audit_log: AuditLog | None,
    cluster_name: str,
    user: str,
) -> None:
    from breakglass.journal import every_capture

    restored = {(f.drill_id, f.ref.namespace, f.ref.kind, f.ref.name): f for f in found}
    for capture in await every_capture(journal):
        record = capture.drill
        if capture.source is not model.Source.DRILL or record is None:
            continue
        if record.outcome != "running":
            continue
        ref = capture.object
        leftover = restored.get((record.drill_id, ref.namespace, ref.kind, ref.name))
        if leftover is not None:
            new = replace(
                record,
                outcome="cleaned-up",
                restored=leftover.restored,
                note="restored by --cleanup",
            )
        else:
            new = replace(
                record,
                outcome="interrupted",
                note="the drill ended without a result; the object carried no drill mark",
            )
        await journal.update(
            capture.id,
            {"drill": new, "reason": f"drill {new.outcome}", "resolved_at": model.utcnow()},
        )
        if audit_log is not None:
            await audit_log.append(
                drill_event(
                    ref, new, capture_id=capture.id, user=user, cluster=cluster_name,
                    outcome=new.outcome,
                )
            )  # fmt: skip

"""One scan: list what Git's sources own, judge each live object, link, attribute, record.

The steps, each in its own module except the orchestration kept here:

1. ``sources.discover`` and ``sources.render_all``: the places Git applies from and their
   documents; the kinds those documents hold are what is listed.
2. Per kind, paginated LISTs (``kube.Lister``), one page in memory at a time.  Each live object
   is matched to the source that owns it (Argo CD tracking, Flux labels, ``repos:`` rules) and
   to its document there; ``fields.find`` says what drifted and whose tool did it.  An object
   nothing describes, in a namespace a source owns, that a person created is "created by hand".
3. Drift a capture already covers (the webhook saw it, or an earlier scan recorded it) is
   linked to that capture instead of being reported as new.
4. With an API-server audit log, ``attribution.AuditTrail`` names who made each change.
5. With ``backfill``, each object's new drift becomes one provisional capture with source
   ``scan``, its request id derived from the drift itself, so a second scan records nothing
   new; the worker confirms it against the live object and opens the same render-checked PR.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass import delta as deltas
from breakglass import logs, model, rendercheck, repos
from breakglass.auditlog import AuditLog, EventType, from_capture, record_safely
from breakglass.capture.admission import owner_hints
from breakglass.capture.redact import Redactor, contains_marker
from breakglass.drill import marker as drill_marker
from breakglass.errors import BreakglassError, PermanentError
from breakglass.forge.git import Git
from breakglass.gitops import defaults
from breakglass.journal import Journal, every_capture
from breakglass.metrics import Metrics
from breakglass.scan import fields, sources
from breakglass.scan.attribution import ANY_VALUE, REMOVED, AuditTrail, ObjectKey
from breakglass.scan.managers import ManagerPolicy, Role
from breakglass.settings import Settings

if TYPE_CHECKING:  # kubernetes_asyncio is imported only where a cluster is connected
    from breakglass.kube import Cluster, Lister

log = logs.get(__name__)

JSON = Any

#: kinds a scan never lists: they are events and heartbeats, not configuration
SKIPPED_KINDS = frozenset({"Event", "Event.events.k8s.io", "Lease.coordination.k8s.io"})
#: statuses of captures that still stand for a change the cluster holds
_LINKABLE = frozenset(
    {
        model.Status.PROVISIONAL,
        model.Status.CONFIRMED,
        model.Status.PR_OPEN,
        model.Status.FAILED,
        model.Status.UNMANAGED,
        model.Status.IGNORED,
        model.Status.CLOSED,
    }
)


@dataclass
class Field:
    """One drifted field as the report shows it."""

    finding: fields.Finding
    user: str | None = None
    linked: model.Capture | None = None


@dataclass
class ObjectDrift:
    """Everything a scan found on one object."""

    ref: model.ObjectRef
    source: str
    repo: str
    fields: list[Field]
    created_by_hand: bool = False
    hints: dict[str, str] = field(default_factory=dict)
    recorded: str | None = None  # the capture a --backfill recorded

    def new_fields(self) -> list[Field]:
        return [f for f in self.fields if f.linked is None]


@dataclass
class Report:
    """What one scan did and found."""

    started: datetime
    cluster: str
    seconds: float = 0.0
    sources: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    objects: int = 0
    list_requests: int = 0
    drift: list[ObjectDrift] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recorded: int = 0
    already_recorded: int = 0
    attributed_from: tuple[str, ...] = ()
    #: seconds spent per phase: discover, render, list (waiting on the API server), judge,
    #: record
    phases: dict[str, float] = field(default_factory=dict)

    def add_time(self, phase: str, since: float) -> float:
        now = time.monotonic()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - since
        return now

    def exit_code(self) -> int:
        """0 no drift, 1 drift, 2 the scan could not look everywhere it should."""
        if self.problems:
            return 2
        return 1 if self.drift else 0

    def uncaptured(self) -> int:
        """Drifted fields the webhooks never saw (no admission or audit capture covers them)."""
        return sum(
            1
            for d in self.drift
            for f in d.fields
            if f.linked is None or f.linked.source is model.Source.SCAN
        )


@dataclass
class Scanner:
    """The dependencies of a scan; ``run`` does one."""

    settings: Settings
    lister: Lister
    cluster: Cluster
    redactor: Redactor
    mirrors: Path
    git: Git = field(default_factory=Git)
    journal: Journal | None = None
    audit: AuditTrail | None = None
    audit_log: AuditLog | None = None
    metrics: Metrics | None = None
    clock: Any = model.utcnow

    async def run(self, *, backfill: bool = False) -> Report:
        started = time.monotonic()
        conf = self.settings.scan
        report = Report(started=self.clock(), cluster=self.settings.cluster)
        if self.audit is not None:
            report.attributed_from = self.audit.files
        judge = fields.Judge.of(
            ManagerPolicy.from_settings(conf.managers), self.settings.record_only
        )
        mark = time.monotonic()
        found, problems = await sources.discover(
            lister=self.lister,
            cluster=self.cluster,
            rules=repos.rules_from(self.settings.repos),
            argocd_namespace=self.settings.kube.argocd_namespace,
        )
        report.problems.extend(problems)
        report.sources = [s.label for s in found]
        backfill_conf = self.settings.backfill
        tools = rendercheck.Tools("auto", backfill_conf.kustomize_binary, backfill_conf.helm_binary)
        mark = report.add_time("discover", mark)
        rendered = await sources.render_all(found, git=self.git, mirrors=self.mirrors, tools=tools)
        mark = report.add_time("render", mark)
        for item in rendered:
            report.problems.extend(f"{item.source.label}: {p}" for p in item.problems)
        by_key = {r.source.key: r for r in rendered}
        captures = await self._captures() if self.journal is not None else {}
        owned_ns = _owned_namespaces(rendered)
        skip = SKIPPED_KINDS | set(conf.skip_kinds)
        for (group, kind), api_version in sorted(sources.kinds_of(rendered).items()):
            if kind in skip or f"{kind}.{group}" in skip:
                continue
            mark = time.monotonic()
            resource = await self._resource(api_version, kind, report)
            if resource is None:
                continue
            plural, _namespaced = resource
            report.kinds.append(f"{kind}.{group}" if group else kind)
            token: str | None = None
            version = api_version.rsplit("/", 1)[-1]
            while True:
                try:
                    page = await self.lister.list_page(
                        group=group,
                        version=version,
                        plural=plural,
                        limit=conf.page_size,
                        token=token,
                    )
                except PermanentError as exc:
                    report.warnings.append(f"{plural}: not scanned ({exc})")
                    break
                except BreakglassError as exc:
                    report.problems.append(f"listing {plural} failed: {exc}")
                    break
                report.list_requests += 1
                mark = report.add_time("list", mark)
                if page is None:
                    break
                for obj in page.items:
                    report.objects += 1
                    drift = self._judge(
                        obj, group, version, plural, by_key, rendered, owned_ns, judge
                    )
                    if drift is not None:
                        self._link(drift, captures)
                        self._attribute(drift)
                        report.drift.append(drift)
                token = page.next
                mark = report.add_time("judge", mark)
                if token is None:
                    break
        mark = time.monotonic()
        if backfill and self.journal is not None:
            for drift in report.drift:
                await self._record(drift, report)
        report.add_time("record", mark)
        report.seconds = time.monotonic() - started
        self._count(report)
        log.info(
            "scan_finished",
            objects=report.objects,
            drifted=len(report.drift),
            fields=sum(len(d.fields) for d in report.drift),
            uncaptured=report.uncaptured(),
            recorded=report.recorded,
            list_requests=report.list_requests,
            problems=len(report.problems),
            seconds=round(report.seconds, 3),
        )
        return report

    # -- judging --------------------------------------------------------------------------

    def _judge(
        self,
        obj: dict[str, JSON],
        group: str,
        version: str,
        plural: str,
        by_key: Mapping[str, sources.Rendered],
        rendered: Sequence[sources.Rendered],
        owned_ns: Mapping[str, sources.Rendered],
        judge: fields.Judge,
    ) -> ObjectDrift | None:
        meta = obj.get("metadata") or {}
        if drill_marker.label_of(obj) is not None:
            return None  # a drill is running on it (or left it: drill --cleanup), not drift
        kind = str(obj.get("kind", ""))
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        owner = _owner_of(meta, by_key, rendered, self.settings.kube.argocd_namespace)
        doc = owner.find(group, kind, namespace, name) if owner is not None else None
        ref = model.ObjectRef(group, version, plural, kind, namespace, name)
        live = self.redactor.object(obj, kind=kind)
        if doc is not None:
            assert owner is not None
            git = self.redactor.object(sources.as_applied(doc), kind=kind)
            found = fields.find(git, live, judge)
            if not found:
                return None
            return ObjectDrift(
                ref,
                owner.source.label,
                owner.source.target.url,
                [Field(f) for f in found],
                hints=owner_hints(obj),
            )
        if not self.settings.scan.hand_created or meta.get("ownerReferences"):
            return None
        # a namespace a repository owns: one its documents are in, or one a rule names
        # without a glob (a rule for "*" does not make every namespace a repository's)
        place = owner if owner is not None and owner.source.key.startswith("rule:") else None
        if (
            place is not None
            and namespace not in place.namespaces()
            and not any(g == namespace for g in place.source.namespaces)
        ):
            place = None
        place = place or owned_ns.get(namespace)
        if place is None or (owner is not None and owner is not place):
            return None  # tracked by a GitOps tool but not in Git: its controller's business
        managers = fields.owners_of(meta.get("managedFields"))
        policy = judge.policy
        if not managers or any(policy.role(m.manager) is Role.GITOPS for m in managers):
            return None
        if not any(policy.is_person(m.manager) for m in managers):
            return None
        people = [m for m in managers if policy.is_person(m.manager)]
        first = min(people, key=lambda m: m.time or model.utcnow())
        whole = defaults.clean_object(deltas.strip_server_fields(live))
        finding = fields.Finding(
            (),
            "created",
            fields.MISSING,
            whole,
            first.manager,
            policy.role(first.manager),
            max((m.time for m in people if m.time), default=None),
        )
        hints = {**owner_hints(obj), **place.source.hints}
        return ObjectDrift(
            ref, place.source.label, place.source.target.url, [Field(finding)], True, hints
        )

    async def _resource(
        self, api_version: str, kind: str, report: Report
    ) -> tuple[str, bool] | None:
        try:
            served = await self.lister.resources(api_version)
        except BreakglassError as exc:
            report.problems.append(f"discovering {api_version} failed: {exc}")
            return None
        report.list_requests += 1
        for item in served or []:
            name = str(item.get("name", ""))
            if item.get("kind") == kind and "/" not in name:
                return name, bool(item.get("namespaced"))
        report.warnings.append(f"{kind} ({api_version}) is in Git but not served by the cluster")
        return None

    # -- linking and attribution ----------------------------------------------------------

    async def _captures(self) -> dict[tuple[str, str, str, str], list[model.Capture]]:
        assert self.journal is not None
        out: dict[tuple[str, str, str, str], list[model.Capture]] = {}
        for capture in await every_capture(self.journal):
            if capture.status in _LINKABLE:
                ref = capture.object
                out.setdefault((ref.group, ref.kind, ref.namespace, ref.name), []).append(capture)
        return out

    def _link(
        self,
        drift: ObjectDrift,
        captures: Mapping[tuple[str, str, str, str], list[model.Capture]],
    ) -> None:
        ref = drift.ref
        mine = captures.get((ref.group, ref.kind, ref.namespace, ref.name), [])
        for item in drift.fields:
            path = fields.show_path(item.finding.path)
            for capture in reversed(mine):  # newest first
                if drift.created_by_hand:
                    if capture.operation is model.Operation.CREATE:
                        item.linked = capture
                        break
                    continue
                if _covers(capture, path, item.finding):
                    item.linked = capture
                    break

    def _attribute(self, drift: ObjectDrift) -> None:
        if self.audit is None:
            return
        ref = drift.ref
        key = ObjectKey(ref.group, ref.resource, ref.namespace, ref.name)
        for item in drift.fields:
            found = item.finding
            if drift.created_by_hand:
                writes = [w for w in self.audit.writes_to(key) if w.verb == "create"]
                item.user = writes[0].user if writes else None
                continue
            path, value = _first_leaf(found.path, found.live)
            wanted: JSON = REMOVED if value is fields.MISSING else value
            paths = [path]
            if ref.kind == "Secret" and path and path[0] in ("data", "stringData"):
                # the value is known only as a marker, and kubectl may have written either
                paths = [("data", *path[1:]), ("stringData", *path[1:])]
                wanted = ANY_VALUE if value is not fields.MISSING else REMOVED
            elif contains_marker([value]):
                wanted = ANY_VALUE
            writes = [
                w
                for p in paths
                if (w := self.audit.who(key, p, wanted, manager=found.manager, since=found.since))
            ]
            latest = max(writes, key=lambda w: w.at, default=None)
            item.user = latest.user if latest is not None else None

    # -- recording --------------------------------------------------------------------------

    async def _record(self, drift: ObjectDrift, report: Report) -> None:
        assert self.journal is not None
        new = drift.new_fields()
        if not new:
            return
        capture = to_capture(drift, new, cluster=self.settings.cluster, now=self.clock())
        result = await self.journal.insert(capture)
        if not result.created:
            report.already_recorded += 1
            return
        drift.recorded = capture.id
        report.recorded += 1
        if self.audit_log is not None and self.metrics is not None:
            await record_safely(
                self.audit_log, [from_capture(capture, EventType.CAPTURE)], metrics=self.metrics
            )

    def _count(self, report: Report) -> None:
        if self.metrics is None:
            return
        self.metrics.scan_runs.labels("error" if report.problems else "ok").inc()
        self.metrics.scan_objects.set(report.objects)
        self.metrics.scan_drifted_objects.set(len(report.drift))
        self.metrics.scan_uncaptured.inc(sum(1 for d in report.drift if d.recorded is not None))
        self.metrics.scan_seconds.observe(report.seconds)


def to_capture(
    drift: ObjectDrift, new: Sequence[Field], *, cluster: str, now: datetime
) -> model.Capture:
    """The provisional capture of an object's new drift; its request id is the drift itself, so
    the same drift found again is the same capture."""
    ref = drift.ref
    names: dict[str, JSON] = {"name": ref.name}
    if ref.namespace:
        names["namespace"] = ref.namespace
    ident: dict[str, JSON] = {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": names}
    findings = [f.finding for f in new]
    users = sorted({f.user for f in new if f.user})
    managers = sorted({f.manager for f in findings if f.manager})
    since = max((f.since for f in findings if f.since), default=None)
    if drift.created_by_hand:
        whole: dict[str, JSON] = findings[0].live
        after = {**ident, **{k: v for k, v in whole.items() if k != "metadata"}}
        meta = dict(whole.get("metadata") or {})
        after["metadata"] = {**meta, **names}
        before: JSON = None
        operation = model.Operation.CREATE
        paths: tuple[str, ...] = ()
    else:
        before, after = fields.sparse_pair(ident, findings)
        operation = model.Operation.UPDATE
        paths = tuple(deltas.changed_paths(before, after))
    digest = hashlib.sha256(
        json.dumps(
            [cluster, ref.group, ref.kind, ref.namespace, ref.name, before, after],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:32]
    return model.Capture(
        id=model.new_capture_id(now.timestamp()),
        cluster=cluster,
        source=model.Source.SCAN,
        status=model.Status.PROVISIONAL,
        operation=operation,
        object=ref,
        actor=model.Actor(
            username=users[0] if len(users) == 1 else model.UNKNOWN_USER,
            field_manager=", ".join(managers) or None,
        ),
        delta=model.Delta(before=before, after=after, paths=paths),
        received_at=now,
        request_uid=f"scan-{digest}",
        labels=dict(drift.hints),
        since=since,
    )


def _covers(capture: model.Capture, path: str, finding: fields.Finding) -> bool:
    """Whether a capture stands for this drifted field: it changed the field (or a field
    around it) to the value the cluster holds now."""
    paths = capture.delta.paths
    if not any(
        p == path or path.startswith((p + ".", p + "[")) or p.startswith(path) for p in paths
    ):
        return False
    after = capture.delta.after
    if finding.live is fields.MISSING:
        return True
    value = deltas.value_at(after, path) if isinstance(after, dict) else None
    if value is None:
        return capture.source is not model.Source.SCAN and capture.delta.patch is not None
    return fields.same(value, finding.live, finding.path) or value == finding.live


def _first_leaf(path: fields.FieldPath, value: JSON) -> tuple[fields.FieldPath, JSON]:
    """A scalar inside an added subtree: the audit log is searched for the write that set it."""
    while isinstance(value, dict) and value:
        key = next(iter(value))
        path, value = (*path, key), value[key]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        item = value[0]
        key_name = deltas.merge_key(str(path[-1]) if path else "", value)
        if key_name is not None:
            rest = {k: v for k, v in item.items() if k != key_name}
            return _first_leaf((*path, {key_name: item[key_name]}), rest or item[key_name])
    return path, value


def _owner_of(
    meta: Mapping[str, JSON],
    by_key: Mapping[str, sources.Rendered],
    rendered: Sequence[sources.Rendered],
    argocd_namespace: str,
) -> sources.Rendered | None:
    """The source that owns a live object by its metadata, as the worker's ``locate`` would."""
    app = repos.argo_application(meta, argo_namespace=argocd_namespace)
    if app is not None:
        return by_key.get(f"argocd:{app.namespace}/{app.name}")
    flux = repos.flux_owner(meta)
    if flux is not None:
        prefix = "flux" if flux.plural == repos.FLUX_KS[2] else "helmrelease"
        return by_key.get(f"{prefix}:{flux.namespace}/{flux.name}")
    labels = meta.get("labels") or {}
    namespace = str(meta.get("namespace") or "")
    for item in rendered:
        source = item.source
        if not source.key.startswith("rule:"):
            continue
        rule = repos.RepoRule(
            url=source.target.url, namespaces=source.namespaces, labels=source.selector
        )
        if repos.from_rules([rule], namespace=namespace, labels=labels) is not None:
            return item
    return None


def _owned_namespaces(rendered: Sequence[sources.Rendered]) -> dict[str, sources.Rendered]:
    """Each namespace Git puts objects in → the source with the most documents there."""
    counts: dict[str, tuple[int, sources.Rendered]] = {}
    for item in rendered:
        per: dict[str, int] = {}
        for key in item.docs:
            if key[2]:
                per[key[2]] = per.get(key[2], 0) + 1
        for namespace, count in per.items():
            if namespace not in counts or count > counts[namespace][0]:
                counts[namespace] = (count, item)
    return {ns: pair[1] for ns, pair in counts.items()}

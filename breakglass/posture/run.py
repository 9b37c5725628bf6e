"""Reading what ``posture`` judges: the GitOps tools' objects, the workloads, the journal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from breakglass import driftstats, model, repos
from breakglass.listing import gather
from breakglass.posture import classify
from breakglass.report.build import application

if TYPE_CHECKING:
    from breakglass.kube import Lister

JSON = Any

#: namespaces of the control plane itself, never reported as unmanaged
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
WORKLOADS = (
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("apps", "v1", "daemonsets"),
)
SOURCES = (
    ("source.toolkit.fluxcd.io", "v1", "gitrepositories"),
    ("source.toolkit.fluxcd.io", "v1beta2", "ocirepositories"),
    ("source.toolkit.fluxcd.io", "v1", "helmrepositories"),
    ("source.toolkit.fluxcd.io", "v1", "buckets"),
)


@dataclass
class Journaled:
    """What the journal says happened to manual changes of one application in the period."""

    changes: int = 0
    reverted: int = 0
    in_git: int = 0
    open: int = 0


@dataclass
class PostureReport:
    postures: list[classify.Posture] = field(default_factory=list)
    application_sets: list[dict[str, JSON]] = field(default_factory=list)
    unmanaged: dict[str, int] = field(default_factory=dict)
    journal: dict[str, Journaled] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    since: timedelta = timedelta(days=7)


async def collect(lister: Lister, *, problems: list[str]) -> dict[str, list[dict[str, JSON]]]:
    """Every object posture reads, by plural (a kind not served is an empty list)."""
    out: dict[str, list[dict[str, JSON]]] = {}
    wanted = [
        (*repos.ARGO_APP,),
        ("argoproj.io", "v1alpha1", "appprojects"),
        ("argoproj.io", "v1alpha1", "applicationsets"),
        (*repos.FLUX_KS,),
        (*repos.FLUX_HR,),
        *SOURCES,
        *WORKLOADS,
    ]
    for group, version, plural in wanted:
        out[plural] = await gather(
            lister, group=group, version=version, plural=plural, problems=problems
        )
    return out


def judge(
    objects: dict[str, list[dict[str, JSON]]],
    captures: Sequence[model.Capture],
    *,
    now: datetime,
    since: timedelta,
) -> PostureReport:
    """The report from what was read (pure)."""
    report = PostureReport(since=since)
    projects = objects.get("appprojects", [])
    for app in objects.get("applications", []):
        report.postures.append(classify.argo_application(app, projects))
    sources: dict[tuple[str, str], dict[str, JSON]] = {}
    for _, _, source_plural in SOURCES:
        for source in objects.get(source_plural, []):
            meta = source.get("metadata") or {}
            sources[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = source
    for ks in objects.get("kustomizations", []):
        report.postures.append(classify.flux_kustomization(ks, sources))
    for hr in objects.get("helmreleases", []):
        report.postures.append(classify.flux_helmrelease(hr))
    for appset in objects.get("applicationsets", []):
        template = ((appset.get("spec") or {}).get("template")) or {}
        meta = appset.get("metadata") or {}
        verdict = classify.argo_application({"metadata": {}, "spec": template.get("spec") or {}})
        report.application_sets.append(
            {
                "namespace": meta.get("namespace"),
                "name": meta.get("name"),
                "template_verdict": verdict.verdict.value,
                "why": verdict.why,
            }
        )
    report.postures.sort(key=lambda p: (-p.verdict.rank, p.tool, p.namespace, p.name))
    for plural in ("deployments", "statefulsets", "daemonsets"):
        for workload in objects.get(plural, []):
            meta = workload.get("metadata") or {}
            namespace = str(meta.get("namespace", ""))
            if namespace in SYSTEM_NAMESPACES or meta.get("ownerReferences"):
                continue
            managed = repos.argo_application(meta, argo_namespace="-") or repos.flux_owner(meta)
            if managed is None:
                report.unmanaged[namespace] = report.unmanaged.get(namespace, 0) + 1
    start = now - since
    names = {_label(p): p.key for p in report.postures}
    counts: dict[str, Journaled] = {}
    for capture in captures:
        if capture.received_at < start or capture.status in (
            model.Status.DISCARDED,
            model.Status.IGNORED,
        ):
            continue
        key = names.get(application(capture) or "")
        if key is None:
            continue
        entry = counts.setdefault(key, Journaled())
        entry.changes += 1
        outcome = driftstats.outcome(capture)
        entry.reverted += outcome == "reverted"
        entry.in_git += outcome == "merged"
        entry.open += driftstats.state(capture) is not None
    report.journal = counts
    return report


def _label(posture: classify.Posture) -> str:
    """The application name ``report.build.application`` gives captures of it."""
    if posture.tool == "argocd":
        return f"Argo CD {posture.name}"
    if posture.kind == "HelmRelease":
        return f"Flux HelmRelease {posture.name}"
    return f"Flux {posture.name}"


def verdict_counts(report: PostureReport) -> Counter[str]:
    return Counter(p.verdict.value for p in report.postures)

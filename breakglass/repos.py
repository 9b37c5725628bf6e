"""Which Git repository, branch and path own a live object: pure resolution rules.

In order: the Argo CD tracking annotation (or legacy instance label) names an ``Application``
whose ``spec.source`` gives repoURL, targetRevision and path; Flux's
``kustomize.toolkit.fluxcd.io/name|namespace`` labels name a ``Kustomization`` whose
``sourceRef`` names a ``GitRepository`` (url, ``ref.branch``) and whose ``path`` is the
directory; ``helm.toolkit.fluxcd.io/name|namespace`` labels name a ``HelmRelease``; then the
configured repo rules (namespace globs and label selectors).  An object none of these claims is
*unmanaged*: recorded and counted, never backfilled.

The cluster reads happen in ``breakglass.kube``; this module only decides from what was read.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from breakglass import delta

if TYPE_CHECKING:
    from breakglass.settings import RepoRuleSettings

ARGO_TRACKING = delta.ARGO_TRACKING
ARGO_INSTANCE = "app.kubernetes.io/instance"
FLUX_KS_NAME = "kustomize.toolkit.fluxcd.io/name"
FLUX_KS_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
FLUX_HR_NAME = "helm.toolkit.fluxcd.io/name"
FLUX_HR_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"


@dataclass(frozen=True)
class RepoRule:
    """``repos:`` entry in the settings: which objects a repository owns."""

    url: str
    branch: str = "main"
    path: str = ""
    namespaces: tuple[str, ...] = ("*",)
    labels: Mapping[str, str] = field(default_factory=dict)
    forge: str | None = None  # provider name from settings.forges, else the default


@dataclass(frozen=True)
class RepoTarget:
    url: str
    branch: str
    path: str
    owner: str
    forge: str | None = None
    helm: bool = False
    #: an Argo CD Helm source: release name, destination namespace, value files (relative to
    #: the repository root) and inline values, in the order Argo CD passes them to helm
    release: str = ""
    namespace: str = ""
    value_files: tuple[str, ...] = ()
    values: Mapping[str, Any] | None = None
    #: rendered by Flux's helm-controller from a HelmRelease this path applies
    flux_helm: bool = False
    #: what the pull request should say about the controller: it is suspended, say, so
    #: nothing reverts the change and a merge is not applied until it is resumed
    controller_note: str | None = None


@dataclass(frozen=True)
class Lookup:
    """A cluster object to read before deciding (the resolver asks, ``kube`` fetches)."""

    group: str
    version: str
    plural: str
    namespace: str
    name: str


ARGO_APP = ("argoproj.io", "v1alpha1", "applications")
FLUX_KS = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
FLUX_HR = ("helm.toolkit.fluxcd.io", "v2", "helmreleases")
FLUX_GIT = ("source.toolkit.fluxcd.io", "v1", "gitrepositories")


def argo_application(metadata: Mapping[str, Any], *, argo_namespace: str) -> Lookup | None:
    """The Application named by an object's tracking annotation or instance label."""
    annotations = metadata.get("annotations") or {}
    labels = metadata.get("labels") or {}
    tracking = annotations.get(ARGO_TRACKING)
    if isinstance(tracking, str) and ":" in tracking:
        app = tracking.split(":", 1)[0]
        namespace = argo_namespace
        if "_" in app:  # apps in any namespace: "<namespace>_<name>"
            namespace, app = app.split("_", 1)
        return Lookup(*ARGO_APP, namespace=namespace, name=app)
    instance = labels.get(ARGO_INSTANCE)
    if isinstance(instance, str) and instance:
        return Lookup(*ARGO_APP, namespace=argo_namespace, name=instance)
    return None


def from_argo(app: Mapping[str, Any]) -> RepoTarget | None:
    spec = app.get("spec") or {}
    source = spec.get("source") or ((spec.get("sources") or [None])[0]) or {}
    url = source.get("repoURL")
    if not isinstance(url, str) or not url:
        return None
    revision = source.get("targetRevision") or "HEAD"
    branch = "main" if revision in ("HEAD", "") else str(revision)
    name = (app.get("metadata") or {}).get("name", "?")
    path = str(source.get("path") or "")
    raw_helm = source.get("helm")
    helm: dict[str, Any] = raw_helm if isinstance(raw_helm, dict) else {}
    files = [str(f) for f in helm.get("valueFiles") or [] if isinstance(f, str)]
    return RepoTarget(
        url=url,
        branch=branch,
        path=path,
        owner=f"Argo CD application {name}",
        helm="helm" in source or "chart" in source,
        release=str(helm.get("releaseName") or name),
        namespace=str((spec.get("destination") or {}).get("namespace") or ""),
        value_files=tuple(
            posixpath.normpath(posixpath.join(path, f)) for f in files if not f.startswith("$")
        ),
        values=_inline_values(helm),
    )


def _inline_values(helm: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """An Argo CD helm source's ``valuesObject``, else its ``values`` text read as YAML."""
    obj = helm.get("valuesObject")
    if isinstance(obj, dict):
        return obj
    text = helm.get("values")
    if isinstance(text, str) and text.strip():
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
        return loaded if isinstance(loaded, dict) else None
    return None


def flux_owner(metadata: Mapping[str, Any]) -> Lookup | None:
    labels = metadata.get("labels") or {}
    if labels.get(FLUX_KS_NAME):
        return Lookup(
            *FLUX_KS,
            namespace=str(labels.get(FLUX_KS_NAMESPACE) or "flux-system"),
            name=str(labels[FLUX_KS_NAME]),
        )
    if labels.get(FLUX_HR_NAME):
        return Lookup(
            *FLUX_HR,
            namespace=str(labels.get(FLUX_HR_NAMESPACE) or "flux-system"),
            name=str(labels[FLUX_HR_NAME]),
        )
    return None


def flux_applier(release: Mapping[str, Any]) -> Lookup | None:
    """The Kustomization that applied a HelmRelease: where the release's own manifest lives."""
    found = flux_owner(release.get("metadata") or {})
    return found if found is not None and found.plural == FLUX_KS[2] else None


def flux_source(owner: Mapping[str, Any]) -> Lookup | None:
    """The GitRepository a Kustomization (or a HelmRelease's chart) comes from."""
    spec = owner.get("spec") or {}
    ref = spec.get("sourceRef") or ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")
    if not isinstance(ref, Mapping) or ref.get("kind") != "GitRepository":
        return None
    namespace = ref.get("namespace") or (owner.get("metadata") or {}).get("namespace") or ""
    return Lookup(*FLUX_GIT, namespace=str(namespace), name=str(ref.get("name", "")))


def from_flux(owner: Mapping[str, Any], source: Mapping[str, Any]) -> RepoTarget | None:
    url = (source.get("spec") or {}).get("url")
    if not isinstance(url, str) or not url:
        return None
    ref = (source.get("spec") or {}).get("ref") or {}
    kind = owner.get("kind", "Kustomization")
    spec = owner.get("spec") or {}
    path = (
        spec.get("path")
        if kind == "Kustomization"
        else (((spec.get("chart") or {}).get("spec") or {}).get("chart"))
    )
    meta = owner.get("metadata") or {}
    name = f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
    note = None
    paused_by = (meta.get("annotations") or {}).get("breakglass.dev/paused-by")
    if spec.get("suspend") is True and paused_by:
        note = (
            f"The Flux {kind} {name} that applies this object is paused for break-glass "
            f"session {paused_by} (spec.suspend: true): the fix is not reverted while the "
            "session lasts; breakglass resumes it when the session ends or this pull request "
            "merges, whichever comes first."
        )
    elif spec.get("suspend") is True:
        note = (
            f"The Flux {kind} {name} that applies this object is suspended "
            "(`spec.suspend: true`): nothing reverts the manual change, and merging this pull "
            "request changes nothing in the cluster until it is resumed."
        )
    return RepoTarget(
        url=url,
        branch=str(ref.get("branch") or "main"),
        path=str(path or "").removeprefix("./"),
        owner=f"Flux {kind} {meta.get('name', '?')}",
        helm=kind == "HelmRelease",
        controller_note=note,
    )


def rules_from(entries: Sequence[RepoRuleSettings]) -> tuple[RepoRule, ...]:
    """The ``repos:`` settings as rules this module matches against."""
    return tuple(
        RepoRule(
            url=r.url,
            branch=r.branch,
            path=r.path,
            namespaces=r.namespaces,
            labels=dict(r.labels),
            forge=r.forge,
        )
        for r in entries
    )


def from_rules(
    rules: Sequence[RepoRule], *, namespace: str, labels: Mapping[str, str]
) -> RepoTarget | None:
    """The first rule whose namespace globs and label selector match."""
    for rule in rules:
        if not any(fnmatch.fnmatchcase(namespace, g) for g in rule.namespaces):
            continue
        if any(labels.get(k) != v for k, v in rule.labels.items()):
            continue
        return RepoTarget(
            url=rule.url,
            branch=rule.branch,
            path=rule.path.strip("/"),
            owner="repo rule",
            forge=rule.forge,
        )
    return None


def claimed(hints: Mapping[str, str], *, namespace: str, rules: Sequence[RepoRule]) -> bool:
    """Whether anything claims an object with these owner hints (labels plus the owner
    annotations a capture keeps): Argo CD tracking, Flux labels, or a ``repos:`` rule.

    The webhook decides its warning with this, without reading the cluster; the worker's
    answer can still differ (an Application that no longer exists), never the other way.
    """
    metadata = {
        "annotations": {k: v for k, v in hints.items() if k == ARGO_TRACKING},
        "labels": {k: v for k, v in hints.items() if k != ARGO_TRACKING},
    }
    if argo_application(metadata, argo_namespace="-") is not None:
        return True
    if flux_owner(metadata) is not None:
        return True
    return from_rules(rules, namespace=namespace, labels=metadata["labels"]) is not None

"""What Git says the cluster holds: every place a GitOps tool or a ``repos:`` rule applies from,
and the documents each renders to.

A scan starts here.  The places (``Source``) are read from the cluster (Argo CD
``Application``s, Flux ``Kustomization``s and their ``GitRepository``s, Flux ``HelmRelease``s)
and from the ``repos:`` rules; each is rendered the way its controller would (``kustomize
build`` of a kustomization, each manifest of a plain directory, ``helm template`` of a chart,
Flux's post-build variables substituted) in a worktree of a mirror of its repository, one
mirror per repository.  The result, ``Rendered``, answers "what does Git say about this
object" by group, kind, namespace and name.  Rendered documents may hold Secret values in the
clear: they stay in memory and are redacted before anything compares or shows them.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from breakglass import logs, rendercheck, renderexec, repos
from breakglass.errors import BreakglassError
from breakglass.forge.git import Git, Mirror
from breakglass.gitops import index, kustomize, proof
from breakglass.listing import gather

if TYPE_CHECKING:  # kubernetes_asyncio is imported only where a cluster is connected
    from breakglass.kube import Cluster, Lister

log = logs.get(__name__)

JSON = Any
Key = tuple[str, str, str, str]  # group, kind, namespace ("" when Git leaves it out), name

try:  # the C parser: a 50,000-document repository renders in seconds, not a minute
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class Source:
    """One place objects are applied from, and how to tell the objects it owns."""

    key: str  # "argocd:<ns>/<name>", "flux:<ns>/<name>", "helmrelease:<ns>/<name>", "rule:<n>"
    label: str  # "Argo CD application shop", "Flux Kustomization flux-system/apps", "repo rule 1"
    target: repos.RepoTarget
    #: the namespace a document without one lands in (Argo CD destination, Flux target)
    namespace: str = ""
    #: labels/annotations that lead the worker's ``locate`` to this source (for objects made
    #: by hand, which carry none of their own)
    hints: Mapping[str, str] = field(default_factory=dict)
    #: the Flux Kustomization (name, namespace) whose post-build variables apply, as live
    flux_kustomization: tuple[str, str] | None = None
    live_kustomization: Mapping[str, JSON] | None = None
    #: a ``repos:`` rule: its namespace globs and label selector
    namespaces: tuple[str, ...] = ()
    selector: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Rendered:
    """Git's documents of one source, or why there are none."""

    source: Source
    docs: dict[Key, dict[str, JSON]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    revision: str = ""

    def find(self, group: str, kind: str, namespace: str, name: str) -> dict[str, JSON] | None:
        return self.docs.get((group, kind, namespace, name)) or self.docs.get(
            (group, kind, "", name)
        )

    def namespaces(self) -> set[str]:
        return {k[2] for k in self.docs if k[2]}


async def discover(
    *, lister: Lister, cluster: Cluster, rules: Sequence[repos.RepoRule], argocd_namespace: str
) -> tuple[list[Source], list[str]]:
    """Every source the cluster and the settings name, and what could not be read."""
    found: list[Source] = []
    problems: list[str] = []
    for app in await _all(lister, *repos.ARGO_APP, problems):
        meta = app.get("metadata") or {}
        target = repos.from_argo(app)
        if target is None:
            continue
        ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        tracked = name if ns in ("", argocd_namespace) else f"{ns}_{name}"
        found.append(
            Source(
                key=f"argocd:{ns}/{name}",
                label=f"Argo CD application {name}",
                target=target,
                namespace=target.namespace,
                hints={repos.ARGO_TRACKING: f"{tracked}:"},
            )
        )
    kustomizations = await _all(lister, *repos.FLUX_KS, problems)
    by_name = {
        (
            str((k.get("metadata") or {}).get("namespace")),
            str((k.get("metadata") or {}).get("name")),
        ): k
        for k in kustomizations
    }
    sources_cache: dict[tuple[str, str], dict[str, JSON] | None] = {}

    async def source_of(owner: Mapping[str, JSON]) -> dict[str, JSON] | None:
        ref = repos.flux_source(owner)
        if ref is None:
            return None
        if (ref.namespace, ref.name) not in sources_cache:
            sources_cache[(ref.namespace, ref.name)] = await cluster.get(**dataclasses.asdict(ref))
        return sources_cache[(ref.namespace, ref.name)]

    for ks in kustomizations:
        meta = ks.get("metadata") or {}
        ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        git = await source_of(ks)
        target = repos.from_flux(ks, git) if git is not None else None
        if target is None:
            continue
        found.append(
            Source(
                key=f"flux:{ns}/{name}",
                label=f"Flux Kustomization {ns}/{name}",
                target=target,
                namespace=str((ks.get("spec") or {}).get("targetNamespace") or ""),
                hints={repos.FLUX_KS_NAME: name, repos.FLUX_KS_NAMESPACE: ns},
                flux_kustomization=(name, ns),
                live_kustomization=ks,
            )
        )
    for release in await _all(lister, *repos.FLUX_HR, problems):
        meta = release.get("metadata") or {}
        ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        applier = repos.flux_applier(release)
        owner = by_name.get((applier.namespace, applier.name)) if applier is not None else None
        git = await source_of(owner) if owner is not None else None
        target = repos.from_flux(owner, git) if owner is not None and git is not None else None
        if target is None:
            continue
        found.append(
            Source(
                key=f"helmrelease:{ns}/{name}",
                label=f"Flux HelmRelease {ns}/{name}",
                target=dataclasses.replace(target, flux_helm=True, release=name, namespace=ns),
                namespace=str((release.get("spec") or {}).get("targetNamespace") or ns),
                hints={repos.FLUX_HR_NAME: name, repos.FLUX_HR_NAMESPACE: ns},
            )
        )
    for number, rule in enumerate(rules):
        found.append(
            Source(
                key=f"rule:{number}",
                label=f"repos[{number}] ({rule.url})",
                target=repos.RepoTarget(
                    url=rule.url,
                    branch=rule.branch,
                    path=rule.path.strip("/"),
                    owner="repo rule",
                    forge=rule.forge,
                ),
                namespaces=rule.namespaces,
                selector=dict(rule.labels),
            )
        )
    return found, problems


async def _all(
    lister: Lister, group: str, version: str, plural: str, problems: list[str]
) -> list[dict[str, JSON]]:
    """Every object of a GitOps tool's kind; none if the tool is not installed."""
    return await gather(lister, group=group, version=version, plural=plural, problems=problems)


async def render_all(
    sources: Sequence[Source], *, git: Git, mirrors: Path, tools: rendercheck.Tools
) -> list[Rendered]:
    """Each source's documents: one mirror sync and one worktree per repository and branch."""
    by_repo: dict[tuple[str, str], list[Source]] = {}
    for source in sources:
        by_repo.setdefault((source.target.url, source.target.branch), []).append(source)
    out: list[Rendered] = []
    for (url, branch), group in by_repo.items():
        mirror = Mirror(url=url, root=mirrors, git=git)
        try:
            await mirror.sync()
            head = await mirror.head(branch)
        except BreakglassError as exc:
            out.extend(
                Rendered(s, problems=[f"cannot fetch {git.mask(url)}: {exc}"]) for s in group
            )
            continue
        if head is None:
            out.extend(
                Rendered(s, problems=[f"branch {branch} not found in {git.mask(url)}"])
                for s in group
            )
            continue
        async with mirror.worktree(head) as tree:
            idx = await asyncio.to_thread(index.Index.build, tree)
            ktree = await asyncio.to_thread(kustomize.Tree.build, idx)
            for source in group:
                rendered = await asyncio.to_thread(render_one, source, tree, idx, ktree, tools)
                rendered.revision = head
                out.append(rendered)
    return out


def render_one(
    source: Source, root: Path, idx: index.Index, tree: kustomize.Tree, tools: rendercheck.Tools
) -> Rendered:
    """One source's documents from a checkout (blocking: run it in a thread)."""
    out = Rendered(source)
    target = source.target
    variables: proof.Substitution | None = None
    if source.flux_kustomization is not None:
        found = proof.flux_substitution(
            idx,
            *source.flux_kustomization,
            [source.live_kustomization] if source.live_kustomization else [],
        )
        if isinstance(found, proof.Substitution) and found.active:
            variables = found
    for render in plan(target, idx, tree):
        try:
            text, json_file = rendercheck.render_text(render, root, tools)
            docs = (
                proof.documents(text, json_file=json_file, substitution=variables)
                if variables is not None or json_file
                else _documents(text)
            )
        except (renderexec.RenderError, proof.Unrenderable, ValueError) as exc:
            out.problems.append(f"{render.describe()}: {exc}")
            continue
        for doc in docs:
            key = _key(doc, source.namespace)
            if key is not None:
                out.docs[key] = doc
    out.problems.extend(idx.problems())
    return out


def plan(target: repos.RepoTarget, idx: index.Index, tree: kustomize.Tree) -> list[proof.Render]:
    """What renders everything a source applies."""
    path = target.path.strip("/").removeprefix("./")
    if path in (".",):
        path = ""
    if target.flux_helm:
        return [proof.Render("flux-helm", "", release=target.release, namespace=target.namespace)]
    if target.helm:
        return [
            proof.Render(
                "helm",
                path,
                release=target.release,
                namespace=target.namespace,
                values_files=target.value_files,
                values=target.values,
            )
        ]
    if path in tree.kustomizations:
        return [proof.Render("kustomize", path)]
    roots = [
        d
        for d in sorted(tree.kustomizations)
        if index.under(d, path) and not tree.included_by.get(d) and d not in tree.component_dirs
    ]
    inside = {d.strip("/") for d in tree.kustomizations}
    plain = [
        proof.Render("plain", p)
        for p, entry in sorted(idx.files.items())
        if entry.docs
        and index.under(p, path)
        and not index.is_kustomization(p)
        and not _within(posixpath.dirname(p), inside)
    ]
    return [proof.Render("kustomize", d) for d in roots] + plain


def _within(directory: str, dirs: set[str]) -> bool:
    """Whether ``directory`` is one of ``dirs`` or inside one (``""``, the root, holds all):
    its own ancestors looked up, not every directory compared with it."""
    while True:
        if directory in dirs:
            return True
        if not directory:
            return False
        directory = posixpath.dirname(directory)


def _documents(text: str) -> list[dict[str, JSON]]:
    out: list[dict[str, JSON]] = []
    try:
        loaded = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        raise ValueError(f"not readable as YAML: {exc}") from None
    for doc in loaded:
        if (
            isinstance(doc, dict)
            and isinstance(doc.get("items"), list)
            and str(doc.get("kind", "")).endswith("List")
        ):
            out.extend(i for i in doc["items"] if isinstance(i, dict))
        elif isinstance(doc, dict) and "kind" in doc:
            out.append(doc)
    return out


def _key(doc: Mapping[str, JSON], namespace: str) -> Key | None:
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    return (
        index.group_of(str(doc.get("apiVersion", ""))),
        str(doc.get("kind", "")),
        str(meta.get("namespace") or namespace or ""),
        str(meta["name"]),
    )


def as_applied(doc: Mapping[str, JSON]) -> dict[str, JSON]:
    """Git's document as the API server would keep it: a Secret's ``stringData`` becomes
    ``data`` (base64), so both compare key by key."""
    out = dict(doc)
    if out.get("kind") == "Secret" and isinstance(out.get("stringData"), dict):
        data = dict(out.get("data") or {})
        for key, value in out.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        out["data"] = data
    return out


def kinds_of(rendered: Iterable[Rendered]) -> dict[tuple[str, str], str]:
    """``(group, kind)`` → the API version Git writes it in, over every source."""
    out: dict[tuple[str, str], str] = {}
    for item in rendered:
        for (group, kind, _, _), doc in item.docs.items():
            out.setdefault((group, kind), str(doc.get("apiVersion", "")))
    return out

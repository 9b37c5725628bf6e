"""Helm releases: write a change into chart values, where the mapping is known.

An object rendered by Helm has no manifest in Git, only the values of a Flux ``HelmRelease``
(``spec.values``) or an Argo CD ``Application`` (``spec.source.helm.valuesObject``, or the
``values`` string).  Without rendering the chart we cannot know which value produced which
field, so only the common, recognisable cases are mapped — replicas, container image tag and
repository, container resources — and only onto values keys that already exist and whose
current value equals what the live object had.  Everything else is refused with a reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from breakglass.gitops import edit, index, kustomize, roundtrip
from breakglass.gitops.edit import AddItemOp, Match, Op, Path, RemoveOp, SetOp

JSON = Any

_FLUX_NAME: Final = "helm.toolkit.fluxcd.io/name"
_FLUX_NAMESPACE: Final = "helm.toolkit.fluxcd.io/namespace"
_HELM_RELEASE: Final = "meta.helm.sh/release-name"
_ARGO_TRACKING: Final = "argocd.argoproj.io/tracking-id"
_INSTANCE: Final = "app.kubernetes.io/instance"


@dataclass(frozen=True)
class Release:
    """A HelmRelease or Application document and where its values are."""

    doc: index.DocRef
    values_path: Path
    embedded: bool  # values is a YAML string, not a mapping


def owners(live: Mapping[str, JSON]) -> tuple[set[str], set[str]]:
    """Names of the Flux HelmRelease and Argo CD Application that may own ``live``."""
    meta = live.get("metadata") if isinstance(live.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    notes = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    assert isinstance(labels, dict)
    assert isinstance(notes, dict)
    flux: set[str] = set()
    argo: set[str] = set()
    if isinstance(labels.get(_FLUX_NAME), str):
        flux.add(labels[_FLUX_NAME])
    if isinstance(notes.get(_HELM_RELEASE), str):
        flux.add(notes[_HELM_RELEASE])
        argo.add(notes[_HELM_RELEASE])
    tracking = notes.get(_ARGO_TRACKING)
    if isinstance(tracking, str) and ":" in tracking:
        argo.add(tracking.split(":", 1)[0])
    if isinstance(labels.get(_INSTANCE), str):
        argo.add(labels[_INSTANCE])
    return flux, argo


def find_releases(
    live: Mapping[str, JSON], *, idx: index.Index, read: kustomize.Loader, subpath: str = ""
) -> list[Release]:
    """Releases in the repository whose name matches the live object's Helm metadata."""
    flux, argo = owners(live)
    found: list[Release] = []
    if not flux and not argo:
        return found
    for doc in idx.docs_of_kind("helm.toolkit.fluxcd.io", "HelmRelease"):
        data = _load(doc, read)
        spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        names = {doc.name, str(spec.get("releaseName") or "")}
        if names & flux and index.under(doc.path, subpath):
            found.append(Release(doc, ("spec", "values"), False))
    for doc in idx.docs_of_kind("argoproj.io", "Application"):
        data = _load(doc, read)
        ok, helm = edit.plain_get(data, ("spec", "source", "helm"))
        if not ok or not isinstance(helm, dict) or doc.name not in argo:
            continue
        if isinstance(helm.get("valuesObject"), dict):
            found.append(Release(doc, ("spec", "source", "helm", "valuesObject"), False))
        elif isinstance(helm.get("values"), str):
            found.append(Release(doc, ("spec", "source", "helm", "values"), True))
        else:
            found.append(Release(doc, ("spec", "source", "helm", "valuesObject"), False))
    return found


def _load(doc: index.DocRef, read: kustomize.Loader) -> dict[str, JSON]:
    try:
        docs = roundtrip.split_documents(read(doc.path))
        data = index.load_plain(doc.path, docs[doc.chunk].text)
    except (OSError, ValueError, IndexError, roundtrip.YamlError):
        return {}
    return data[0] if data and isinstance(data[0], dict) else {}


def values_of(release: Release, read: kustomize.Loader) -> JSON:
    data = _load(release.doc, read)
    ok, values = edit.plain_get(data, release.values_path)
    if not ok:
        return {}
    if release.embedded and isinstance(values, str):
        loaded = index.load_plain(release.doc.path, values)
        return loaded[0] if loaded else {}
    return values


def route(
    release: Release, ops: list[Op], *, old: Mapping[str, JSON], read: kustomize.Loader
) -> kustomize.Routing:
    """Map each operation onto an existing values key, or refuse with the reason."""
    routing = kustomize.Routing()
    values = values_of(release, read)
    if not isinstance(values, dict):
        values = {}
    if release.embedded:
        target = kustomize.Target(release.doc.path, release.doc.chunk, release.values_path)
        prefix: Path = ()
    else:
        target = kustomize.Target(release.doc.path, release.doc.chunk)
        prefix = release.values_path
    unmapped: list[str] = []
    for op in ops:
        mapped = _map(op, values, old)
        if isinstance(mapped, str):
            unmapped.append(mapped)
            continue
        for value_op in mapped:
            routing.add(target, _prefixed(prefix, value_op))
    if unmapped:
        routing.cannot = (
            f"the object is rendered by Helm ({release.doc.describe()}) and these changes have "
            "no known values key with the live value: " + "; ".join(unmapped)
        )
    return routing


def _prefixed(prefix: Path, op: Op) -> Op:
    if isinstance(op, SetOp):
        return SetOp((*prefix, *op.path), op.value)
    if isinstance(op, RemoveOp):
        return RemoveOp((*prefix, *op.path))
    if isinstance(op, AddItemOp):
        return AddItemOp((*prefix, *op.path), op.item, op.key)
    return op


def _walk(value: JSON, path: Path = ()) -> Iterator[tuple[Path, JSON]]:
    yield path, value
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _walk(sub, (*path, key))


def _container_path(path: Path) -> int | None:
    for pos in range(len(path) - 1):
        if path[pos] in ("containers", "initContainers") and isinstance(path[pos + 1], Match):
            return pos + 2
    return None


def _map(op: Op, values: dict[str, JSON], old: Mapping[str, JSON]) -> list[Op] | str:
    where = edit.format_path(op.path)
    if isinstance(op, SetOp) and op.path == ("spec", "replicas"):
        _, was = edit.plain_get(old, op.path)
        hits = [
            p
            for p, v in _walk(values)
            if p and p[-1] in ("replicaCount", "replicas") and v in (was, op.value)
        ]
        if len(hits) == 1:
            return [SetOp(hits[0], op.value)]
        return f"{where} ({len(hits)} values keys named replicaCount/replicas hold {was})"
    cut = _container_path(op.path)
    if cut is None:
        return f"{where} (not a replicas, image or resources field)"
    rest = op.path[cut:]
    if rest == ("image",) and isinstance(op, SetOp) and isinstance(op.value, str):
        _, was = edit.plain_get(old, op.path)
        return _map_image(str(was), op.value, values, where)
    if rest and rest[0] == "resources":
        _, was = edit.plain_get(old, op.path[: cut + 1])
        hits = [p for p, v in _walk(values) if p and p[-1] == "resources" and v == (was or {})]
        if len(hits) != 1:
            return f"{where} ({len(hits)} values 'resources' mappings equal the live ones)"
        inner = rest[1:]
        if isinstance(op, SetOp):
            return [SetOp((*hits[0], *inner), op.value)]
        if isinstance(op, RemoveOp):
            return [RemoveOp((*hits[0], *inner))]
        return f"{where} (unsupported change to resources)"
    return f"{where} (not a replicas, image or resources field)"


def _map_image(was: str, new: str, values: dict[str, JSON], where: str) -> list[Op] | str:
    old_image = kustomize.Image.parse(was)
    new_image = kustomize.Image.parse(new)
    candidates: list[list[Op]] = []
    for path, value in _walk(values):
        if value == was and path:
            candidates.append([SetOp(path, new)])
            continue
        if not isinstance(value, dict) or "tag" not in value:
            continue
        if str(value["tag"]) not in (old_image.tag, new_image.tag):
            continue
        repo = value.get("repository")
        if isinstance(repo, str) and not _same_repo(repo, old_image.name, value):
            continue
        ops: list[Op] = []
        if new_image.tag and str(value["tag"]) != new_image.tag:
            ops.append(SetOp((*path, "tag"), new_image.tag))
        if new_image.name != old_image.name:
            if not isinstance(repo, str):
                continue
            registry = value.get("registry")
            name = new_image.name
            if isinstance(registry, str) and name.startswith(registry + "/"):
                name = name[len(registry) + 1 :]
            ops.append(SetOp((*path, "repository"), name))
        if new_image.digest:
            if "digest" not in value:
                continue
            ops.append(SetOp((*path, "digest"), new_image.digest))
        candidates.append(ops)
    if len(candidates) == 1:
        return candidates[0]
    return f"{where} ({len(candidates)} values entries match the image {was})"


def _same_repo(repo: str, name: str, value: dict[str, JSON]) -> bool:
    registry = value.get("registry")
    full = f"{registry}/{repo}" if isinstance(registry, str) and registry else repo
    return name in (repo, full) or name.endswith("/" + repo)

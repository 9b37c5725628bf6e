"""Helm releases: write a change into chart values, where the mapping is known.

An object rendered by Helm has no manifest in Git, only the values of a Flux ``HelmRelease``
or an Argo CD ``Application``.  Without rendering the chart we cannot know which value produced
which field, so only the common, recognisable cases are mapped — replicas, container image tag
and repository, container resources — and only onto values keys that already exist and whose
value in effect equals what the live object had (``helm_keys`` holds those rules).  Values come
from several places merged in Helm's order (``helm_values`` lists them); this module finds the
release and writes each change to the highest-precedence place that sets the key, since a change
anywhere below it has no effect.  Everything else is refused with a reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from breakglass import delta
from breakglass.gitops import edit, helm_keys, helm_values, helm_valuesfrom, index, kustomize
from breakglass.gitops.edit import AddItemOp, Op, Path, RemoveOp, SetOp
from breakglass.gitops.helm_values import Layer

JSON = Any

_FLUX_NAME: Final = "helm.toolkit.fluxcd.io/name"
_FLUX_NAMESPACE: Final = "helm.toolkit.fluxcd.io/namespace"
_HELM_RELEASE: Final = "meta.helm.sh/release-name"
_ARGO_TRACKING: Final = delta.ARGO_TRACKING
_INSTANCE: Final = "app.kubernetes.io/instance"


@dataclass(frozen=True)
class Release:
    """A HelmRelease, or one Helm source of an Application (``at`` is where the source is)."""

    doc: index.DocRef
    at: Path = ("spec",)  # Flux: ("spec",); Argo CD: ("spec", "source") or ("spec", "sources", i)
    #: the Application itself, when it lives only in the cluster (``doc`` then names it but no
    #: file of the checkout holds it): its inline values are read, never edited
    data: Mapping[str, JSON] | None = field(default=None, compare=False)

    @property
    def flux(self) -> bool:
        return self.doc.kind == "HelmRelease"

    def describe(self) -> str:
        doc = self.doc.describe()
        if self.data is not None:
            where = f"{self.doc.namespace}/" if self.doc.namespace else ""
            doc = f"Application {where}{self.doc.name} (read from the cluster)"
        if self.flux or self.at == ("spec", "source"):
            return doc
        return f"{doc} {edit.format_path(self.at)}"


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


#: where a cluster-only Application is said to be (it is in no file of the checkout)
IN_CLUSTER: Final = "(in the cluster)"


def find_releases(
    live: Mapping[str, JSON],
    *,
    idx: index.Index,
    read: kustomize.Loader,
    subpath: str = "",
    applications: Sequence[Mapping[str, JSON]] = (),
) -> list[Release]:
    """Releases in the repository whose name matches the live object's Helm metadata.

    ``applications`` are Argo CD Applications read from the cluster: one the repository does
    not hold (Applications kept in another repository, or made by an ApplicationSet) still
    names its chart directory and value files in this repository.
    """
    flux, argo = owners(live)
    found: list[Release] = []
    if not flux and not argo:
        return found
    for doc in idx.docs_of_kind("helm.toolkit.fluxcd.io", "HelmRelease"):
        data = helm_values.document(read, doc)
        spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        names = {doc.name, str(spec.get("releaseName") or "")}
        if names & flux and index.under(doc.path, subpath):
            found.append(Release(doc))
    in_repo = set()
    for doc in idx.docs_of_kind("argoproj.io", "Application"):
        if doc.name in argo:
            in_repo.add(doc.name)
            found.extend(_argo_sources(doc, helm_values.document(read, doc), read))
    for app in applications:
        meta = app.get("metadata") if isinstance(app.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        name = str(meta.get("name") or "")
        if name in argo and name not in in_repo:
            doc = index.DocRef(
                IN_CLUSTER, 0, 0, "argoproj.io/v1alpha1", "Application", name,
                str(meta.get("namespace") or "") or None,
            )  # fmt: skip
            data = dict(app)
            found.extend(Release(r.doc, r.at, data) for r in _argo_sources(doc, data, read))
    return found


def all_releases(idx: index.Index, read: kustomize.Loader) -> Iterator[Release]:
    """Every HelmRelease and Helm source of an Application in the repository."""
    for doc in idx.docs_of_kind("helm.toolkit.fluxcd.io", "HelmRelease"):
        yield Release(doc)
    for doc in idx.docs_of_kind("argoproj.io", "Application"):
        yield from _argo_sources(doc, helm_values.document(read, doc), read)


def _argo_sources(
    doc: index.DocRef, data: dict[str, JSON], read: kustomize.Loader
) -> list[Release]:
    """The Helm sources of an Application: with a ``helm`` section, a ``chart``, or a ``path``
    holding a chart of this repository."""
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    if isinstance(spec.get("source"), dict):
        places: list[Path] = [("spec", "source")]
        sources: list[JSON] = [spec["source"]]
    elif isinstance(spec.get("sources"), list):
        sources = spec["sources"]
        places = [("spec", "sources", i) for i in range(len(sources))]
    else:
        return []
    found: list[Release] = []
    for at, source in zip(places, sources, strict=True):
        if not isinstance(source, dict):
            continue
        helm = isinstance(source.get("helm"), dict) or bool(source.get("chart"))
        if helm or helm_values.chart_dir(read, source) is not None:
            found.append(Release(doc, at))
    return found


def layers_of(release: Release, ctx: helm_values.Context) -> helm_values.Sources:
    """Where the release's values come from, lowest precedence first."""
    data = (
        dict(release.data)
        if release.data is not None
        else helm_values.document(ctx.read, release.doc)
    )
    if release.flux:
        return helm_valuesfrom.flux_layers(ctx, release.doc, data)
    return helm_values.argo_layers(ctx, release.doc, release.at, data)


def route(
    release: Release,
    ops: list[Op],
    *,
    old: Mapping[str, JSON],
    read: kustomize.Loader,
    idx: index.Index,
    tree: kustomize.Tree,
    sub: str = "",
) -> kustomize.Routing:
    """Map each operation onto the values key in effect, or refuse with the reason.

    ``sub`` is the part of the repository the search was limited to (``--path``).
    """
    routing = kustomize.Routing()
    ctx = helm_values.Context(read, idx, tree, sub)
    sources = layers_of(release, ctx)
    routing.notes.extend(sources.notes)
    layers = sources.layers
    values = helm_values.merge(layers)
    unmapped: list[str] = []
    refused: list[str] = []
    for op in ops:
        mapped = helm_keys.map_op(op, values, old)
        if isinstance(mapped, str):
            disagreement = _disagreement(op, layers, old)
            if disagreement is not None:
                refused.append(disagreement)
            else:
                unmapped.append(mapped)
            continue
        for value_op in mapped:
            placed = _place(value_op, layers)
            if isinstance(placed, str):
                refused.append(placed)
                continue
            layer, note = placed
            key = edit.format_path(value_op.path)
            shared, overridden = _shared_with(release, layer, value_op.path, ctx)
            if shared:
                refused.append(
                    f"{layer.label} is also used by {', '.join(shared)}, where {key} would "
                    "change too; set it in a place only this release reads"
                )
                continue
            if overridden:
                others = ", ".join(overridden)
                note = f"{note}; also read by {others}, where a higher place overrides {key}"
            assert layer.target is not None
            routing.add(layer.target, _prefixed(layer.prefix, value_op))
            for said in (note, layer.remark):
                if said is not None and said not in routing.notes:
                    routing.notes.append(said)
    reasons = list(refused)
    if unmapped:
        reasons.append(
            "these changes have no known values key with the live value: " + "; ".join(unmapped)
        )
        unread = [f"{layer.label} ({layer.blocked})" for layer in layers if layer.values is None]
        if unread:
            reasons.append("values breakglass cannot read may also set them: " + "; ".join(unread))
    if reasons:
        helm = f"the object is rendered by Helm ({release.describe()})"
        routing.cannot = f"{helm} and " + "; ".join(reasons)
    return routing


def _place(op: Op, layers: list[Layer]) -> tuple[Layer, str] | str:
    """The layer a values operation goes to, and a note saying why; or why there is none."""
    path = op.path
    key = edit.format_path(path)
    setters = _setting(layers, path)
    if setters:
        top = setters[-1]
    else:
        readable = [(i, layer.values) for i, layer in enumerate(layers) if layer.values]
        best = max(((_depth(values, path), i) for i, values in readable), default=(0, -1))
        if best[0] == 0:
            return f"no values place holds {key}"
        top = best[1]
    layer = layers[top]
    where = f"{key} is set in {layer.label}" if setters else f"{key} would go to {layer.label}"
    for above in layers[top + 1 :]:
        if above.values is None and above.may_set(path):
            return f"{where}, but {above.label} ranks above it and may set it too: {above.blocked}"
    if layer.target is None:
        return f"{where}, which is not edited: {layer.blocked}"
    lower = [layers[i].label for i in setters[:-1] if layers[i].target != layer.target]
    if isinstance(op, RemoveOp) and lower:
        return (
            f"removing {key} from {layer.label} would bring back the value in {lower[-1]}; "
            "remove it there as well by hand, or set it instead"
        )
    if lower:
        return layer, f"{layer.label} overrides {', '.join(lower)} for {key}: edited there"
    higher = [above.label for above in layers[top + 1 :] if above.target != layer.target]
    if higher:
        return layer, (
            f"{key}: edited in {layer.label}; {', '.join(higher)} rank above it but do not set it"
        )
    return layer, f"{key}: edited in {layer.label}, the only values place that sets it"


def _setting(layers: list[Layer], path: Path) -> list[int]:
    """Positions of the readable layers that set ``path``."""
    return [
        i
        for i, layer in enumerate(layers)
        if layer.values is not None and edit.plain_get(layer.values, path)[0]
    ]


def _depth(values: JSON, path: Path) -> int:
    """How many leading steps of ``path`` exist as mappings in ``values``."""
    for depth in range(len(path) - 1, 0, -1):
        if isinstance(edit.plain_get(values, path[:depth])[1], dict):
            return depth
    return 0


def _disagreement(op: Op, layers: list[Layer], old: Mapping[str, JSON]) -> str | None:
    """When Git's value in effect differs from the live one: which place says what."""
    where = edit.format_path(op.path)
    _, was = edit.plain_get(old, op.path)
    merged = helm_values.merge(layers)
    for stop in range(len(layers) - 1, 0, -1):
        below = layers[:stop]
        mapped = helm_keys.map_op(op, helm_values.merge(below), old)
        if isinstance(mapped, str):
            continue
        for value_op in mapped:
            found, now = edit.plain_get(merged, value_op.path)
            key = edit.format_path(value_op.path)
            setters = _setting(layers, value_op.path)
            over = [layers[i].label for i in setters if i >= stop]
            under = [layers[i].label for i in setters if i < stop]
            if over:
                shown = f"sets {key} to {now!r}" if found else f"removes {key}"
                source = f"the value in {under[-1]}" if under else "the value"
                return (
                    f"Git and the cluster disagree about {where}: {over[-1]} {shown}, "
                    f"overriding {source}, which is what the live object had ({was!r})"
                )
        return None
    near = helm_keys.near(op, merged, old)
    if near is None:
        return None
    key = edit.format_path(near)
    _, value = edit.plain_get(merged, near)
    owner = [layers[i].label for i in _setting(layers, near)]
    return (
        f"Git and the cluster disagree about {where}: {owner[-1] if owner else 'Git'} sets "
        f"{key} to {value!r}, but the live object had {was!r}"
    )


def _shared_with(
    release: Release, layer: Layer, path: Path, ctx: helm_values.Context
) -> tuple[list[str], list[str]]:
    """Other releases that read ``layer`` too: those whose value at ``path`` comes from it
    (editing it changes them as well), and those that override ``path`` above it."""
    affected: list[str] = []
    unaffected: list[str] = []
    if layer.target is None or layer.target.file == release.doc.path:
        return affected, unaffected
    quiet = helm_values.Context(ctx.read, ctx.idx, ctx.tree)
    for other in all_releases(ctx.idx, ctx.read):
        if other == release:
            continue
        theirs = layers_of(other, quiet).layers
        positions = [i for i, mine in enumerate(theirs) if mine.target == layer.target]
        if not positions:
            continue
        if any(above.may_set(path) for above in theirs[positions[-1] + 1 :]):
            unaffected.append(other.describe())
        else:
            affected.append(other.describe())
    return affected, unaffected


def _prefixed(prefix: Path, op: Op) -> Op:
    if isinstance(op, SetOp):
        return SetOp((*prefix, *op.path), op.value)
    if isinstance(op, RemoveOp):
        return RemoveOp((*prefix, *op.path))
    if isinstance(op, AddItemOp):
        return AddItemOp((*prefix, *op.path), op.item, op.key)
    return op

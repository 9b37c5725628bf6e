"""Flux ``valuesFrom``: the values a HelmRelease reads from ConfigMaps, found in the repository.

A ``valuesFrom`` entry names a ConfigMap (or Secret) and a key; Flux merges the YAML document in
that key into the values, in order, below ``spec.values``.  In Git the ConfigMap is either a
manifest, with the document as a string in ``data``, or made by a kustomize
``configMapGenerator`` from a file.  This module finds that definition next to the HelmRelease
(in the overlay that renders it, or its directory) and turns each entry into a ``Layer``:
readable and writable when it is a plain file or manifest of this repository, and otherwise
blocked with the reason — a Secret, a ``targetPath`` entry, a ConfigMap that is missing,
defined twice, patched, or shared by other overlays.  It is kept apart from ``helm_values``
because finding a ConfigMap needs the index, the kustomize graph and ``locate``, which the
Argo CD side does not.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any, Final

from breakglass.gitops import helm_values, index, kustomize, locate
from breakglass.gitops.helm_values import Context, Layer, Sources

JSON = Any

_DEFAULT_VALUES_KEY: Final = "values.yaml"


def flux_layers(ctx: Context, doc: index.DocRef, data: dict[str, JSON]) -> Sources:
    """The layers of the HelmRelease ``doc`` holding ``data``: the values of a chart kept in
    this repository (``helm_values.flux_chart_layers``), ``spec.valuesFrom`` in order, then
    ``spec.values``."""
    spec = helm_values.mapping(data.get("spec"))
    out = helm_values.flux_chart_layers(ctx, doc, spec)
    entries = spec.get("valuesFrom")
    for position, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict):
            _values_from(ctx, out, doc, position, entry)
    values = helm_values.mapping(spec.get("values"))
    target = kustomize.Target(doc.path, doc.chunk)
    out.layers.append(Layer(f"{doc.path} spec.values", values, target, ("spec", "values")))
    return out


def _values_from(
    ctx: Context,
    out: Sources,
    doc: index.DocRef,
    position: int,
    entry: dict[str, JSON],
) -> None:
    kind = str(entry.get("kind") or "")
    name = str(entry.get("name") or "")
    key = str(entry.get("valuesKey") or _DEFAULT_VALUES_KEY)
    label = f"valuesFrom[{position}] {kind} {name} key {key}"
    target_path = entry.get("targetPath")
    only = None
    if isinstance(target_path, str) and target_path:
        only = helm_values.set_path(target_path)
    blocked = None
    if kind == "Secret":
        blocked = "values kept in a Secret are never read or written by breakglass"
    elif kind != "ConfigMap":
        blocked = f"kind {kind!r} is not a ConfigMap"
    elif only is not None:
        blocked = (
            f"it places the key's whole text at targetPath {target_path} as one value (parsed "
            "like `helm --set`), which is not a values document to edit"
        )
    if blocked is not None:
        out.layers.append(Layer(label, None, blocked=blocked, only=only))
        return
    found, missing = _configmap_layers(ctx, doc, name, key, position)
    if len(found) > 1:
        places = ", ".join(layer.label for layer in found)
        blocked = f"ConfigMap {name} is defined more than once: {places}"
        out.layers.append(Layer(label, None, blocked=blocked))
    elif found:
        out.layers.append(found[0])
    elif entry.get("optional") is True:
        out.notes.append(f"{label} is skipped, as Flux skips an optional one: {missing}")
    else:
        out.layers.append(Layer(label, None, blocked=missing))


def _configmap_layers(
    ctx: Context, doc: index.DocRef, name: str, key: str, position: int
) -> tuple[list[Layer], str]:
    """Every definition of ConfigMap ``name`` next to the HelmRelease, as layers; when there is
    none, why (the ConfigMap or its key is missing)."""
    scope, namespace = ctx.tree.scope(doc, ctx.subpath)
    label = f"valuesFrom[{position}] ConfigMap {name}"
    wanted = locate.Wanted("", "ConfigMap", name, namespace)
    outcome = locate.locate(wanted, idx=ctx.idx, tree=ctx.tree, subpath=scope)
    if isinstance(outcome, locate.Ambiguous):
        names = "; ".join(p.describe() for p in outcome.candidates)
        return [Layer(label, None, blocked=f"it matches several manifests: {names}")], ""
    found: list[Layer] = []
    missing: list[str] = []
    candidates: list[Layer | str] = []
    if isinstance(outcome, locate.Found):
        candidates.append(_manifest_layer(ctx, outcome.placement, key, position))
    candidates.extend(_generated(ctx, scope, name, namespace, key, position))
    for candidate in candidates:
        if isinstance(candidate, str):
            missing.append(candidate)
        else:
            found.append(candidate)
    where = scope or "the repository root"
    missing.append(f"ConfigMap {name} is not defined in this repository (under {where})")
    return found, missing[0]


def _manifest_layer(
    ctx: Context, placement: kustomize.Placement, key: str, position: int
) -> Layer | str:
    cm = placement.doc
    label = f"ConfigMap {cm.name} ({cm.path} data.{key}, valuesFrom[{position}])"
    data = helm_values.document(ctx.read, cm)
    text = helm_values.mapping(data.get("data")).get(key)
    if "sops" in data:
        return Layer(label, None, blocked=f"{cm.path} is SOPS-encrypted")
    if not isinstance(text, str):
        return f"ConfigMap {cm.name} ({cm.path}) has no data key {key}"
    if placement.chain:
        patched = kustomize._patches_for(
            placement, ctx.tree.names_at(placement), ctx.tree, ctx.read, kustomize.Routing()
        )
        if patched:
            where = patched[0].ref.file or patched[0].ref.kustomization
            return Layer(label, None, blocked=f"a kustomize patch ({where}) changes it")
    parsed = helm_values.parse_values(f"{cm.path} data.{key}", text)
    if isinstance(parsed, str):
        return Layer(label, None, blocked=parsed)
    target = kustomize.Target(cm.path, cm.chunk, ("data", key))
    if placement.chain and ctx.tree.is_shared(cm.path):
        return Layer(label, parsed[1], blocked=f"{cm.path} is a base shared by other overlays")
    return Layer(label, parsed[1], target)


def _generated(
    ctx: Context, scope: str, name: str, namespace: str | None, key: str, position: int
) -> Iterable[Layer | str]:
    """Layers for ``configMapGenerator`` entries under ``scope`` that make ConfigMap ``name``."""
    for directory, kust in sorted(ctx.tree.kustomizations.items()):
        if not index.under(directory, scope):
            continue
        generators = kust.data.get("configMapGenerator")
        for entry in generators if isinstance(generators, list) else []:
            if not isinstance(entry, dict):
                continue
            plain = str(entry.get("name") or "")
            if name not in (plain, kust.name_prefix + plain + kust.name_suffix):
                continue
            stated = entry.get("namespace") or kust.namespace
            if namespace and stated and stated != namespace:
                continue
            yield _generated_layer(ctx, kust, entry, name, key, position)


def _generated_layer(
    ctx: Context,
    kust: kustomize.Kustomization,
    entry: dict[str, JSON],
    name: str,
    key: str,
    position: int,
) -> Layer | str:
    where = f"configMapGenerator {name} in {kust.path}"
    literals = entry.get("literals")
    for literal in literals if isinstance(literals, list) else []:
        if isinstance(literal, str) and literal.partition("=")[0] == key:
            return Layer(f"{where} literal {key}", None, blocked="it is a literal, not a file")
    files = entry.get("files")
    for item in files if isinstance(files, list) else []:
        if not isinstance(item, str):
            continue
        file_key, _, file = item.partition("=") if "=" in item else ("", "", item)
        if (file_key or posixpath.basename(file)) != key:
            continue
        path = posixpath.normpath(posixpath.join(kust.dir, file))
        label = f"{path} ({where}, valuesFrom[{position}])"
        layer = helm_values.file_layer(ctx, path, label, missing=f"{path} is missing")
        assert layer is not None
        if layer.target is not None and ctx.tree.is_shared(kust.dir):
            blocked = f"{kust.path} is shared by other overlays"
            return Layer(label, layer.values, blocked=blocked)
        return layer
    return f"{where} has no file for key {key}"

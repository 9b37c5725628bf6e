"""Where a Helm release's values come from, lowest precedence first.

Helm merges several sources into the values a chart is rendered with, and a change written
anywhere but the source that wins has no effect.  This module lists the sources of one release
as ``Layer``s, in the order Helm merges them:

- Argo CD: the chart's own ``values.yaml`` (when the chart is a directory of this repository),
  ``helm.valueFiles`` in order (relative to the chart, or ``$ref/…`` for the ``ref`` source of a
  multi-source Application), then ``helm.valuesObject`` — or the ``helm.values`` string, which
  Argo CD ignores when ``valuesObject`` is set — and ``helm.parameters`` on top;
- Flux: ``spec.valuesFrom`` in order (a ConfigMap manifest's data key, or the file a kustomize
  ``configMapGenerator`` reads), then ``spec.values``.

A layer is readable (its values are known) or not, and writable (it names the document, and
the YAML string inside it, that holds the values) or not; when not, it says why — a Secret,
a file outside this repository, a ``targetPath`` entry.  ``helm.py`` decides which layer a
change goes to; this module only finds and reads them.  It reads through the ``read``
callable it is given and never writes.
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from breakglass.gitops import edit, index, kustomize, locate, roundtrip
from breakglass.gitops.edit import Path

JSON = Any

_DEFAULT_VALUES_KEY: Final = "values.yaml"
_SET_SEPARATOR: Final = re.compile(r"(?<!\\)\.")


@dataclass(frozen=True)
class Layer:
    """One place values come from.

    ``values`` is ``None`` when the place cannot be read; ``target`` is ``None`` when it must
    not be written, and ``blocked`` then says why.  ``only`` limits an unreadable layer to the
    one values path it can set (a ``targetPath`` entry or an Argo CD parameter).
    """

    label: str
    values: dict[str, JSON] | None
    target: kustomize.Target | None = None
    prefix: Path = ()  # where the values mapping sits inside the target document
    blocked: str | None = None
    only: Path | None = None

    def may_set(self, path: Path) -> bool:
        """Whether this layer sets ``path`` (or might, when it cannot be read)."""
        if self.values is not None:
            return edit.plain_get(self.values, path)[0]
        if self.only is None:
            return True
        size = min(len(self.only), len(path))
        return self.only[:size] == path[:size]


@dataclass
class Sources:
    """The layers of one release, lowest precedence first, and what was noticed on the way."""

    layers: list[Layer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """What finding the layers reads: the files, the index and the kustomize graph."""

    read: kustomize.Loader
    idx: index.Index
    tree: kustomize.Tree
    subpath: str = ""


def merge(layers: Iterable[Layer]) -> dict[str, JSON]:
    """The values in effect: readable layers merged the way Helm coalesces values."""
    out: dict[str, JSON] = {}
    for layer in layers:
        if layer.values is not None:
            _coalesce(out, layer.values)
    return out


def _coalesce(into: dict[str, JSON], values: dict[str, JSON]) -> None:
    for key, value in values.items():
        if value is None:  # Helm deletes a key set to null
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _coalesce(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def set_path(text: str) -> Path:
    """A ``--set``-style dotted name as a path; it stops before the first list index."""
    steps: list[str | int | edit.Match] = []
    for part in _SET_SEPARATOR.split(text):
        name = part.replace("\\.", ".")
        bracket = name.find("[")
        if bracket >= 0:
            if bracket:
                steps.append(name[:bracket])
            break
        steps.append(name)
    return tuple(steps)


# --------------------------------------------------------------------------------------------
# Reading one values document


def parse_values(path: str, text: str) -> tuple[int, dict[str, JSON]] | str:
    """``(chunk, values)`` of a values file with one document, or why it cannot be used."""
    found: list[tuple[int, JSON]] = []
    try:
        for number, chunk in enumerate(roundtrip.split_documents(text)):
            for data in index.load_plain(path, chunk.text):
                found.append((number, data))
    except roundtrip.YamlError as exc:
        return f"{exc}"
    if not found:
        return 0, {}
    if len(found) > 1:
        return f"{path} holds several YAML documents"
    number, data = found[0]
    if not isinstance(data, dict):
        return f"{path} is not a mapping of values"
    return number, data


def _read_file(ctx: Context, path: str) -> str | None:
    try:
        return ctx.read(path)
    except FileNotFoundError:
        return None


def _file_layer(ctx: Context, path: str, label: str, *, missing: str | None) -> Layer | None:
    """The layer of a values file in this repository; ``None`` when it is missing and may be."""
    if path.startswith("../") or path == ".." or posixpath.isabs(path):
        return Layer(label, None, blocked=f"{path} is outside the repository")
    try:
        text = _read_file(ctx, path)
    except (OSError, ValueError) as exc:
        return Layer(label, None, blocked=f"{path} cannot be read ({exc})")
    if text is None:
        if missing is None:
            return None
        return Layer(label, None, blocked=missing)
    parsed = parse_values(path, text)
    if isinstance(parsed, str):
        return Layer(label, None, blocked=parsed)
    chunk, values = parsed
    return Layer(label, values, kustomize.Target(path, chunk))


def document(read: kustomize.Loader, doc: index.DocRef) -> dict[str, JSON]:
    """The plain data of an indexed document (empty when it cannot be read any more)."""
    try:
        chunks = roundtrip.split_documents(read(doc.path))
        data = index.load_plain(doc.path, chunks[doc.chunk].text)
    except (OSError, ValueError, IndexError, roundtrip.YamlError):
        return {}
    return data[0] if data and isinstance(data[0], dict) else {}


def _mapping(value: JSON) -> dict[str, JSON]:
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------------------------
# Argo CD


def chart_dir(read: kustomize.Loader, source: dict[str, JSON]) -> str | None:
    """The repository directory of a source's chart, when the chart lives in this repository."""
    path = source.get("path")
    if not isinstance(path, str) or source.get("chart"):
        return None
    directory = posixpath.normpath(path.strip("/") or ".")
    directory = "" if directory == "." else directory
    if directory.startswith(".."):
        return None
    try:
        read(posixpath.join(directory, "Chart.yaml"))
    except (OSError, ValueError):
        return None
    return directory


def argo_layers(ctx: Context, doc: index.DocRef, at: Path, data: dict[str, JSON]) -> Sources:
    """The layers of the Helm source at ``at`` (``spec.source`` or ``spec.sources[i]``) of the
    Application ``doc`` holding ``data``."""
    out = Sources()
    _, found = edit.plain_get(data, at)
    source = _mapping(found)
    helm = _mapping(source.get("helm"))
    directory = chart_dir(ctx.read, source)
    if directory is not None:
        path = posixpath.join(directory, "values.yaml")
        layer = _file_layer(ctx, path, f"{path} (the chart's values.yaml)", missing=None)
        if layer is not None:
            out.layers.append(layer)
    ignore_missing = helm.get("ignoreMissingValueFiles") is True
    files = helm.get("valueFiles")
    for position, entry in enumerate(files if isinstance(files, list) else []):
        if isinstance(entry, str):
            _value_file(ctx, out, data, source, directory, position, entry, ignore_missing)
    where = f"{doc.path} {edit.format_path((*at, 'helm'))}"
    values_object = helm.get("valuesObject")
    values_string = helm.get("values")
    if values_object is not None:
        target = kustomize.Target(doc.path, doc.chunk)
        prefix: Path = (*at, "helm", "valuesObject")
        out.layers.append(
            Layer(f"{where}.valuesObject", _mapping(values_object), target, prefix=prefix)
        )
        if isinstance(values_string, str) and values_string.strip():
            out.notes.append(
                f"{where}.values is ignored: Argo CD uses valuesObject instead when both are set"
            )
    elif isinstance(values_string, str):
        inner = (*at, "helm", "values")
        parsed = parse_values(doc.path, values_string)
        if isinstance(parsed, str):
            out.layers.append(Layer(f"{where}.values", None, blocked=parsed))
        else:
            target = kustomize.Target(doc.path, doc.chunk, inner)
            out.layers.append(Layer(f"{where}.values", parsed[1], target))
    for fieldname in ("parameters", "fileParameters"):
        entries = helm.get(fieldname)
        for position, entry in enumerate(entries if isinstance(entries, list) else []):
            name = _mapping(entry).get("name")
            if isinstance(name, str) and name:
                label = f"{where}.{fieldname}[{position}] ({name})"
                blocked = f"{fieldname} (like `helm --set`) are not edited by breakglass"
                out.layers.append(Layer(label, None, blocked=blocked, only=set_path(name)))
    return out


def _value_file(
    ctx: Context,
    out: Sources,
    data: dict[str, JSON],
    source: dict[str, JSON],
    directory: str | None,
    position: int,
    entry: str,
    ignore_missing: bool,
) -> None:
    label = f"valueFiles[{position}] {entry}"
    if "://" in entry:
        out.layers.append(Layer(label, None, blocked=f"{entry} is not in this repository"))
        return
    if entry.startswith("$"):
        ref, _, rest = entry[1:].partition("/")
        refs = [
            s
            for s in _mapping(data.get("spec")).get("sources") or []
            if isinstance(s, dict) and s.get("ref") == ref
        ]
        if not refs or not rest:
            out.layers.append(Layer(label, None, blocked=f"no source has `ref: {ref}`"))
            return
        path = posixpath.normpath(rest)
        out.notes.append(
            f"{entry} is read as {path} in this repository: the source with `ref: {ref}` "
            f"({refs[0].get('repoURL', 'no repoURL')}) is taken to be this repository, "
            "whose own URL the engine does not know"
        )
    elif directory is None:
        chart = source.get("chart") or source.get("path") or "?"
        out.layers.append(
            Layer(label, None, blocked=f"{entry} belongs to the chart {chart}, not this repository")
        )
        return
    else:
        path = posixpath.normpath(posixpath.join(directory, entry))
    if ignore_missing:
        missing = None
    else:
        missing = f"{path} is not in this repository (and ignoreMissingValueFiles is not set)"
    layer = _file_layer(ctx, path, f"{path} (valueFiles[{position}])", missing=missing)
    if layer is None:
        out.notes.append(f"{path} (valueFiles[{position}]) is missing; skipped, as Argo CD does")
    else:
        out.layers.append(layer)


# --------------------------------------------------------------------------------------------
# Flux


def flux_layers(ctx: Context, doc: index.DocRef, data: dict[str, JSON]) -> Sources:
    """The layers of the HelmRelease ``doc`` holding ``data``: ``spec.valuesFrom`` in order,
    then ``spec.values``."""
    out = Sources()
    spec = _mapping(data.get("spec"))
    entries = spec.get("valuesFrom")
    for position, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict):
            _values_from(ctx, out, doc, position, entry)
    values = spec.get("values")
    target = kustomize.Target(doc.path, doc.chunk)
    out.layers.append(
        Layer(f"{doc.path} spec.values", _mapping(values), target, prefix=("spec", "values"))
    )
    return out


def _values_from(
    ctx: Context, out: Sources, doc: index.DocRef, position: int, entry: dict[str, JSON]
) -> None:
    kind = str(entry.get("kind") or "")
    name = str(entry.get("name") or "")
    key = str(entry.get("valuesKey") or _DEFAULT_VALUES_KEY)
    label = f"valuesFrom[{position}] {kind} {name} key {key}"
    target_path = entry.get("targetPath")
    only = set_path(target_path) if isinstance(target_path, str) and target_path else None
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


def _scope(ctx: Context, doc: index.DocRef) -> tuple[str, str | None]:
    """The directory a HelmRelease is applied from, and its namespace (``None``: not stated)."""
    placements = ctx.tree.place(doc, ctx.subpath) or ctx.tree.place(doc, "")
    namespaces = {p.namespace for p in placements}
    namespace = doc.namespace or (next(iter(namespaces)) if len(namespaces) == 1 else None)
    if len(placements) == 1 and placements[0].chain:
        return placements[0].chain[0], namespace
    return posixpath.dirname(doc.path), namespace


def _configmap_layers(
    ctx: Context, doc: index.DocRef, name: str, key: str, position: int
) -> tuple[list[Layer], str]:
    """Every definition of ConfigMap ``name`` next to the HelmRelease, as layers; when there is
    none, why (the ConfigMap or its key is missing)."""
    scope, namespace = _scope(ctx, doc)
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
    data = document(ctx.read, cm)
    text = _mapping(data.get("data")).get(key)
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
    parsed = parse_values(f"{cm.path} data.{key}", text)
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
        layer = _file_layer(ctx, path, label, missing=f"{path} is missing")
        assert layer is not None
        if layer.target is not None and ctx.tree.is_shared(kust.dir):
            blocked = f"{kust.path} is shared by other overlays"
            return Layer(label, layer.values, blocked=blocked)
        return layer
    return f"{where} has no file for key {key}"

"""Where a Helm release's values come from, lowest precedence first.

Helm merges several sources into the values a chart is rendered with, and a change written
anywhere but the source that wins has no effect.  This module lists the sources of one release
as ``Layer``s, in the order Helm merges them:

- Argo CD: the chart's own ``values.yaml`` (when the chart is a directory of this repository),
  ``helm.valueFiles`` in order (relative to the chart, or ``$ref/…`` for the ``ref`` source of a
  multi-source Application), then ``helm.valuesObject`` — or the ``helm.values`` string, which
  Argo CD ignores when ``valuesObject`` is set — and ``helm.parameters`` on top;
- Flux: the values of a chart from a ``GitRepository`` whose chart directory is in this
  checkout (its ``values.yaml``, or ``spec.chart.spec.valuesFiles`` in order instead of it),
  ``spec.valuesFrom`` in order (a ConfigMap manifest's data key, or the file a kustomize
  ``configMapGenerator`` reads; ``helm_valuesfrom`` finds them), then ``spec.values``.

A layer is readable (its values are known) or not, and writable (it names the document, and
the YAML string inside it, that holds the values) or not; when not, it says why — a Secret,
a file outside this repository, a ``targetPath`` entry.  ``helm.py`` decides which layer a
change goes to; this module only finds and reads them.  It reads through the ``read``
callable it is given and never writes.
"""

from __future__ import annotations

import copy
import dataclasses
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from breakglass.gitops import edit, index, jsonfile, kustomize, roundtrip
from breakglass.gitops.edit import Path

JSON = Any

_SET_SEPARATOR: Final = re.compile(r"(?<!\\)\.")


@dataclass(frozen=True)
class Layer:
    """One place values come from.

    ``values`` is ``None`` when the place cannot be read; ``target`` is ``None`` when it must
    not be written, and ``blocked`` then says why.  ``only`` limits an unreadable layer to the
    one values path it can set (a ``targetPath`` entry or an Argo CD parameter).  ``remark`` is
    a note to give when a change is written here.
    """

    label: str
    values: dict[str, JSON] | None
    target: kustomize.Target | None = None
    prefix: Path = ()  # where the values mapping sits inside the target document
    blocked: str | None = None
    only: Path | None = None
    remark: str | None = None  # said when a change is written to this layer

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


def file_layer(ctx: Context, path: str, label: str, *, missing: str | None) -> Layer | None:
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
        text = read(doc.path)
        if jsonfile.is_json(doc.path):
            data = [jsonfile.document(text, doc.chunk)]
        else:
            data = index.load_plain(doc.path, roundtrip.split_documents(text)[doc.chunk].text)
    except (OSError, ValueError, IndexError, roundtrip.YamlError):
        return {}
    return data[0] if data and isinstance(data[0], dict) else {}


def mapping(value: JSON) -> dict[str, JSON]:
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------------------------
# Argo CD


def chart_dir(read: kustomize.Loader, source: dict[str, JSON]) -> str | None:
    """The repository directory of a source's chart, when the chart lives in this repository."""
    path = source.get("path")
    if not isinstance(path, str) or source.get("chart"):
        return None
    return _chart_in_checkout(read, path)


def _source_path(path: str) -> str:
    """A path relative to the root of a source, normalised (``""`` for the root itself)."""
    normal = posixpath.normpath(path.strip().strip("/") or ".")
    return "" if normal == "." else normal


def _chart_in_checkout(read: kustomize.Loader, path: str) -> str | None:
    """``path`` normalised, when it is a chart directory (it has a ``Chart.yaml``) here."""
    directory = _source_path(path)
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
    source = mapping(found)
    helm = mapping(source.get("helm"))
    directory = chart_dir(ctx.read, source)
    if directory is not None:
        path = posixpath.join(directory, "values.yaml")
        layer = file_layer(ctx, path, f"{path} (the chart's values.yaml)", missing=None)
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
    if ctx.idx.files.get(doc.path) is None:
        # the Application is in the cluster only: its inline values count, but no file of
        # this repository holds them
        where = f"Application {doc.name} {edit.format_path((*at, 'helm'))}"
        inline = mapping(values_object) if values_object is not None else None
        if inline is None and isinstance(values_string, str):
            parsed = parse_values(where, values_string)
            inline = parsed[1] if not isinstance(parsed, str) else None
        if values_object is not None or isinstance(values_string, str):
            out.layers.append(
                Layer(
                    f"{where}.{'valuesObject' if values_object is not None else 'values'}",
                    inline,
                    blocked="the Application is not in this repository (it was read from the "
                    "cluster), so its inline values are not edited here",
                )
            )
        values_object = values_string = None
    if values_object is not None:
        target = kustomize.Target(doc.path, doc.chunk)
        prefix: Path = (*at, "helm", "valuesObject")
        out.layers.append(
            Layer(f"{where}.valuesObject", mapping(values_object), target, prefix=prefix)
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
            name = mapping(entry).get("name")
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
            for s in mapping(data.get("spec")).get("sources") or []
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
    layer = file_layer(ctx, path, f"{path} (valueFiles[{position}])", missing=missing)
    if layer is None:
        out.notes.append(f"{path} (valueFiles[{position}]) is missing; skipped, as Argo CD does")
    else:
        out.layers.append(layer)


# --------------------------------------------------------------------------------------------
# Flux: a chart from a GitRepository


def flux_chart_layers(ctx: Context, doc: index.DocRef, spec: dict[str, JSON]) -> Sources:
    """The lowest layers of the HelmRelease ``doc`` (``spec`` is its spec) when its chart comes
    from a ``GitRepository``: the chart's ``values.yaml`` — or, when ``valuesFiles`` (or the
    older ``valuesFile``) are given, those files in order instead of it, as source-controller
    packages them.  Paths are relative to the root of the source.

    The GitRepository object is in the cluster, not in the checkout, so it is taken to be this
    repository when the chart directory is here (a note says so); when it is not, one layer
    that cannot be read stands for the chart's values.  Any other source gives no layers.
    """
    out = Sources()
    template = mapping(mapping(spec.get("chart")).get("spec"))
    ref = mapping(template.get("sourceRef"))
    chart = template.get("chart")
    if ref.get("kind") != "GitRepository" or not isinstance(chart, str) or not chart.strip():
        return out
    namespace = ref.get("namespace") or doc.namespace
    source = f"GitRepository {namespace + '/' if namespace else ''}{ref.get('name') or '?'}"
    directory = _chart_in_checkout(ctx.read, chart)
    if directory is None:
        out.layers.append(
            Layer(
                f"the values of chart {chart} ({source})",
                None,
                blocked=f"{_source_path(chart) or '.'} is not a chart directory of this "
                f"checkout (no Chart.yaml), so {source} is not taken to be this repository",
            )
        )
        return out
    out.notes.append(
        f"chart {chart} is read from {directory or '.'} in this repository: {source} is taken "
        "to be this repository, whose own URL the engine does not know"
    )
    remark = None
    if template.get("reconcileStrategy") != "Revision":
        chart_yaml = posixpath.join(directory, "Chart.yaml")
        remark = (
            "spec.chart.spec.reconcileStrategy is ChartVersion (the default): Flux packages "
            f"{directory or 'the chart'} with its values files again only when the version in "
            f"{chart_yaml} changes; bump it, or use reconcileStrategy: Revision, for this edit "
            "to reach the release"
        )
    entries: list[tuple[str, str]] = []
    single = template.get("valuesFile")
    if isinstance(single, str) and single.strip():
        entries.append(("valuesFile", single))
    files = template.get("valuesFiles")
    for position, entry in enumerate(files if isinstance(files, list) else []):
        if isinstance(entry, str) and entry.strip():
            entries.append((f"valuesFiles[{position}]", entry))
    default = posixpath.join(directory, "values.yaml")
    if not entries:
        layer = file_layer(ctx, default, f"{default} (the chart's values.yaml)", missing=None)
        if layer is not None:
            out.layers.append(_remarked(layer, remark))
        return out
    ignore_missing = template.get("ignoreMissingValuesFiles") is True
    paths: list[str] = []
    for where, entry in entries:
        path = _source_path(entry)
        paths.append(path)
        missing = None
        if not ignore_missing:
            missing = f"{path} is not in this repository (and ignoreMissingValuesFiles is not set)"
        layer = file_layer(ctx, path, f"{path} ({where})", missing=missing)
        if layer is None:
            out.notes.append(f"{path} ({where}) is missing; skipped, as Flux does")
        else:
            out.layers.append(_remarked(layer, remark))
    if default not in paths and _exists(ctx, default):
        out.notes.append(
            f"{default} is not read: Flux uses valuesFiles instead of the chart's values.yaml"
        )
    return out


def _remarked(layer: Layer, remark: str | None) -> Layer:
    return layer if layer.target is None else dataclasses.replace(layer, remark=remark)


def _exists(ctx: Context, path: str) -> bool:
    try:
        return _read_file(ctx, path) is not None
    except (OSError, ValueError):
        return False

"""Flux Kustomizations kept in the repository: which one applies an object, and where each
post-build variable it substitutes is set.

A fleet repository shares manifests between clusters and lets each cluster's Flux
``Kustomization`` (``kustomize.toolkit.fluxcd.io``) fill in ``${VAR}`` placeholders from
``spec.postBuild``: the ``substitute`` map, and the ConfigMaps and Secrets listed in
``substituteFrom`` (in the Kustomization's namespace; a later entry overrides an earlier one,
``substitute`` overrides them all).  The engine needs to know which Kustomization applied a
live object (Flux's ``kustomize.toolkit.fluxcd.io/name|namespace`` labels, or the
Kustomizations whose ``spec.path`` builds the manifest) and every place that sets its
variables, each readable or not and editable or not; the render check needs the variables'
values.  This module answers both from the checkout, with no writing: ``postbuild`` routes a
change, ``proof`` renders.

A ``substituteFrom`` ConfigMap is found next to the Kustomization manifest (the overlay that
renders it, or its directory), as a manifest or a ``configMapGenerator`` — the same rule as a
HelmRelease's ``valuesFrom``.  Secrets are never read: a Secret in ``substituteFrom`` is a place
whose variables are unknown.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from breakglass.gitops import (
    edit,
    generators,
    helm_values,
    index,
    jsonfile,
    kustomize,
    kvsources,
    locate,
    roundtrip,
    varsub,
)

JSON = Any

GROUP: Final = "kustomize.toolkit.fluxcd.io"
NAME_LABEL: Final = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL: Final = "kustomize.toolkit.fluxcd.io/namespace"
SUBSTITUTE: Final = ("spec", "postBuild", "substitute")


@dataclass(frozen=True)
class Context:
    idx: index.Index
    tree: kustomize.Tree
    read: kustomize.Loader
    read_exact: kustomize.Loader


def _mapping(value: JSON) -> dict[str, JSON]:
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------------------------
# Kustomizations


@dataclass(frozen=True)
class Applier:
    """A Flux Kustomization manifest of the repository."""

    doc: index.DocRef
    data: dict[str, JSON] = field(compare=False)  # as rendered: kustomize patches applied
    raw: dict[str, JSON] = field(compare=False)  # as the manifest states it
    namespace: str | None
    placement: kustomize.Placement | None  # None: several overlays render the manifest
    blocked: str | None = None  # why its postBuild cannot be known from the checkout

    @property
    def spec(self) -> dict[str, JSON]:
        return _mapping(self.data.get("spec"))

    @property
    def path(self) -> str:
        return source_path(self.spec.get("path"))

    @property
    def postbuild(self) -> dict[str, JSON] | None:
        value = self.spec.get("postBuild")
        return value if isinstance(value, dict) else None

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"Kustomization {where}{self.doc.name} ({self.doc.path}:{self.doc.line})"


def source_path(value: JSON) -> str:
    """A Kustomization's ``spec.path`` as a repository directory (``""``: the root)."""
    text = str(value or "").strip().lstrip("/")
    normal = posixpath.normpath(text) if text else "."
    return "" if normal == "." else normal


def appliers(ctx: Context) -> list[Applier]:
    """Every Flux Kustomization manifest of the checkout."""
    found: list[Applier] = []
    patches = {r.file for k in ctx.tree.kustomizations.values() for r in k.patches if r.file}
    for doc in ctx.idx.docs_of_kind(GROUP, "Kustomization"):
        if doc.path in patches:  # a kustomize patch of one, not one
            continue
        try:
            raw = helm_values.document(ctx.read, doc)
        except (OSError, roundtrip.YamlError, jsonfile.JsonError, ValueError):
            continue
        placements = ctx.tree.place(doc, "")
        namespaces = {p.namespace for p in placements if p.namespace}
        namespace = doc.namespace or (next(iter(namespaces)) if len(namespaces) == 1 else None)
        placement = placements[0] if len(placements) == 1 else None
        data, blocked = _patched(ctx, placement, raw)
        found.append(Applier(doc, data, raw, namespace, placement, blocked))
    return found


def _patched(
    ctx: Context, placement: kustomize.Placement | None, raw: dict[str, JSON]
) -> tuple[dict[str, JSON], str | None]:
    """The manifest with the kustomize patches that reach it applied to ``spec.path`` and
    ``spec.postBuild.substitute`` (strategic-merge patches); why not, when a patch changes
    more of ``postBuild``, or a JSON patch changes either."""
    if placement is None or not placement.chain:
        return raw, None
    patches = kustomize._patches_for(
        placement, ctx.tree.names_at(placement), ctx.tree, ctx.read, kustomize.Routing()
    )
    data = edit.apply_plain(raw, [])
    for patch in reversed(patches):  # innermost kustomization first, as kustomize applies them
        where = patch.ref.file or f"an inline patch of {patch.ref.kustomization}"
        if patch.json6902:
            operations = patch.data if isinstance(patch.data, list) else []
            pointers = [str(o.get("path", "")) for o in operations if isinstance(o, dict)]
            if any(
                p in ("/spec", "/spec/path") or p.startswith("/spec/postBuild") for p in pointers
            ):
                return data, f"{where} changes its spec.path or spec.postBuild with a JSON patch"
            continue
        spec = _mapping(_mapping(patch.data).get("spec"))
        if isinstance(spec.get("path"), str):
            data.setdefault("spec", {})["path"] = spec["path"]
        post = _mapping(spec.get("postBuild"))
        if not post:
            continue
        if set(post) - {"substitute"} or not isinstance(post.get("substitute"), dict):
            return data, f"{where} changes its spec.postBuild beyond the substitute map"
        substitute = data.setdefault("spec", {}).setdefault("postBuild", {})
        merged = _mapping(substitute.get("substitute"))
        for key, value in post["substitute"].items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        substitute["substitute"] = merged
    return data, None


def named(all_appliers: Sequence[Applier], name: str, namespace: str | None) -> list[Applier]:
    """The Kustomizations called ``namespace/name`` (a manifest that leaves the namespace out
    matches by name)."""
    return [
        a
        for a in all_appliers
        if a.doc.name == name and (not namespace or a.namespace in (namespace, None))
    ]


def builds(tree: kustomize.Tree, applier: Applier, source: str) -> bool:
    """Whether ``kustomize build`` of the Kustomization's ``spec.path`` includes ``source`` (a
    manifest file, or the directory of a generator).  Without a ``kustomization.yaml`` there,
    Flux generates one that takes in every manifest below it."""
    root = applier.path
    chains = [(*chain, source) for chain in tree.chains(source)] or [(source,)]
    if root in tree.kustomizations:
        return any(root in chain for chain in chains)
    return any(any(index.under(step, root) for step in chain) for chain in chains)


def _postbuild_form(value: JSON) -> JSON:
    post = _mapping(value)
    if not isinstance(value, dict):
        return None
    refs = post.get("substituteFrom")
    return {
        "substitute": {str(k): str(v) for k, v in _mapping(post.get("substitute")).items()},
        "substituteFrom": [
            {
                "kind": str(r.get("kind") or ""),
                "name": str(r.get("name") or ""),
                "optional": r.get("optional") is True,
            }
            for r in (refs if isinstance(refs, list) else [])
            if isinstance(r, dict)
        ],
        "substituteStrategy": str(post.get("substituteStrategy") or "WithVariables"),
    }


def same_as_live(applier: Applier, live: Mapping[str, JSON]) -> bool:
    """Whether the manifest says what the cluster's Kustomization ``live`` says about the
    object's variables: the same name, namespace, ``spec.path`` and ``spec.postBuild``."""
    meta = _mapping(live.get("metadata"))
    spec = _mapping(live.get("spec"))
    if meta.get("name") != applier.doc.name:
        return False
    if applier.namespace and meta.get("namespace") not in (applier.namespace, None):
        return False
    if source_path(spec.get("path")) != applier.path:
        return False
    theirs: JSON = _postbuild_form(spec.get("postBuild"))
    return bool(theirs == _postbuild_form(applier.spec.get("postBuild")))


# --------------------------------------------------------------------------------------------
# Where variables are set


@dataclass(frozen=True)
class Place:
    """One place a Kustomization takes variables from."""

    label: str
    kind: str  # substitute | ConfigMap | Secret
    values: Mapping[str, str]  # what it is known to set (line breaks removed, as Flux does)
    complete: bool = True  # False: it may set variables breakglass cannot see
    why: str | None = None  # why it is not completely known, or not edited
    editable: bool = True
    placement: kustomize.Placement | None = None  # the manifest that holds the values
    base: dict[str, JSON] | None = field(default=None, compare=False)  # its document
    generated: generators.Generated | None = None  # or the generator that makes it


@dataclass
class Variables:
    """Every place of one Kustomization, lowest precedence first (``substitute`` last)."""

    applier: Applier
    places: list[Place] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        """What the known places set, merged as Flux merges them."""
        out: dict[str, str] = {}
        for place in self.places:
            out.update(place.values)
        return out

    def unknown(self) -> list[Place]:
        return [p for p in self.places if not p.complete]

    @property
    def strategy(self) -> str:
        post = self.applier.postbuild or {}
        return str(post.get("substituteStrategy") or "WithVariables")

    def active(self) -> bool:
        """Whether Flux substitutes at all: a ``postBuild`` with at least one variable (or a
        place that may hold some), or ``substituteStrategy: Always``."""
        if self.applier.postbuild is None:
            return False
        return self.strategy == "Always" or bool(self.values()) or bool(self.unknown())

    def setter(self, name: str) -> int:
        """The position of the known place whose value of ``name`` is in effect (-1: none)."""
        found = -1
        for position, place in enumerate(self.places):
            if name in place.values:
                found = position
        return found


def variables(ctx: Context, applier: Applier) -> Variables:
    """Where ``applier``'s variables come from, read from the checkout."""
    out = Variables(applier)
    post = applier.postbuild or {}
    refs = post.get("substituteFrom")
    for position, ref in enumerate(refs if isinstance(refs, list) else []):
        if not isinstance(ref, dict):
            continue
        kind = str(ref.get("kind") or "")
        name = str(ref.get("name") or "")
        label = f"{kind} {name} (substituteFrom[{position}])"
        if kind == "Secret":
            out.places.append(
                Place(
                    label,
                    kind,
                    {},
                    complete=False,
                    why="variables kept in a Secret are never read or written by breakglass",
                    editable=False,
                )
            )
        elif kind == "ConfigMap":
            place = _configmap(ctx, applier, label, name, optional=ref.get("optional") is True)
            if place is None:
                out.notes.append(
                    f"{label} is skipped, as Flux skips an optional one that does not exist: "
                    "no such ConfigMap is defined in this repository"
                )
            else:
                out.places.append(place)
        else:
            out.places.append(
                Place(label, kind, {}, complete=False, why=f"kind {kind!r} is unknown")
            )
    substitute = _mapping(post.get("substitute"))
    values = {str(k): varsub.clean_value(_text(v)) for k, v in substitute.items()}
    label = f"spec.postBuild.substitute of {applier.describe()}"
    why = applier.blocked
    if applier.placement is None and why is None:
        why = f"{applier.doc.path} is rendered by several kustomize overlays"
    out.places.append(
        Place(
            label,
            "substitute",
            values,
            complete=applier.blocked is None,
            why=why,
            editable=why is None,
            placement=applier.placement,
            base=applier.raw,
        )
    )
    return out


def _text(value: JSON) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _configmap(
    ctx: Context, applier: Applier, label: str, name: str, *, optional: bool
) -> Place | None:
    """The ConfigMap ``name`` a Kustomization reads variables from, found next to its manifest;
    ``None`` for an optional one that is not there."""
    scope, _ = ctx.tree.scope(applier.doc)
    namespace = applier.namespace
    wanted = locate.Wanted("", "ConfigMap", name, namespace)
    outcome = locate.locate(wanted, idx=ctx.idx, tree=ctx.tree, subpath=scope)
    manifests: list[kustomize.Placement] = []
    if isinstance(outcome, locate.Found):
        manifests.append(outcome.placement)
    elif isinstance(outcome, locate.Ambiguous):
        manifests.extend(outcome.candidates)
    gens: list[generators.Generated] = []
    found = generators.find(
        ctx.tree, group="", kind="ConfigMap", name=name, namespace=namespace, subpath=scope
    )
    if isinstance(found, generators.Found):
        gens.append(found.generated)
    elif isinstance(found, generators.Ambiguous):
        gens.extend(found.candidates)
    if len(manifests) + len(gens) > 1:
        names = "; ".join([p.describe() for p in manifests] + [g.describe() for g in gens])
        return Place(label, "ConfigMap", {}, False, f"it is defined more than once: {names}", False)
    if manifests:
        return _manifest_place(ctx, label, manifests[0])
    if gens:
        return _generated_place(ctx, label, gens[0])
    if optional:
        return None
    where = scope or "the repository root"
    return Place(
        label,
        "ConfigMap",
        {},
        complete=False,
        why=f"ConfigMap {name} is not defined in this repository (under {where})",
        editable=False,
    )


def _manifest_place(ctx: Context, label: str, placement: kustomize.Placement) -> Place:
    cm = placement.doc
    label = f"ConfigMap {cm.name} ({cm.path}, {label.split('(', 1)[1]}"
    data = helm_values.document(ctx.read, cm)
    if "sops" in data:
        return Place(label, "ConfigMap", {}, False, f"{cm.path} is SOPS-encrypted", False)
    if placement.chain:
        patched = kustomize._patches_for(
            placement, ctx.tree.names_at(placement), ctx.tree, ctx.read, kustomize.Routing()
        )
        if patched:
            where = patched[0].ref.file or patched[0].ref.kustomization
            why = f"a kustomize patch ({where}) changes it"
            return Place(label, "ConfigMap", {}, complete=False, why=why, editable=False)
    values = {
        str(k): varsub.clean_value(v)
        for k, v in _mapping(data.get("data")).items()
        if isinstance(v, str)
    }
    return Place(label, "ConfigMap", values, placement=placement, base=data)


def _generated_place(ctx: Context, label: str, gen: generators.Generated) -> Place:
    label = f"ConfigMap {gen.name} ({gen.describe()}, {label.split('(', 1)[1]}"
    src = generators.sources(gen, ctx.read_exact)
    values: dict[str, str] = {}
    unknown = list(src.unknown)
    for key, origins in src.keys.items():
        value = origin_value(ctx, key, origins[-1])
        if value is None:
            unknown.append(f"key {key} of {origins[-1].file}")
        else:
            values[key] = varsub.clean_value(value)
    why = f"{', '.join(unknown)} cannot be read" if unknown else None
    return Place(label, "ConfigMap", values, complete=not unknown, why=why, generated=gen)


def origin_value(ctx: Context, key: str, origin: generators.Origin) -> str | None:
    """The value ``origin`` gives ``key`` (``None``: it cannot be read, or kustomize takes it
    from its environment)."""
    if origin.source == "literals":
        parsed = kvsources.parse_literal(origin.text)
        return parsed[1] if parsed else None
    if origin.file is None or origin.from_environment:
        return None
    try:
        text = ctx.read_exact(origin.file)
    except (OSError, UnicodeDecodeError):
        return None
    if origin.source == "files":
        return text
    value = None
    for line in kvsources.env_lines(text):
        if line.key == key:
            value = line.value
    return value


# --------------------------------------------------------------------------------------------
# Where a variable is used


@dataclass(frozen=True)
class Use:
    """A value that refers to a variable: a file, and where in it."""

    file: str
    chunk: int  # -1 for a line of an env or data file
    path: edit.Path

    def describe(self) -> str:
        where = edit.format_path(self.path) if self.chunk >= 0 else "(a line of the file)"
        return f"{self.file} {where}"


def applied_files(ctx: Context, applier: Applier) -> list[str]:
    """The files ``kustomize build`` of the Kustomization's ``spec.path`` reads: kustomization
    files, resources, patch files and generator sources, every file below the path when it
    has no ``kustomization.yaml`` (Flux generates one)."""
    tree = ctx.tree
    seen: set[str] = set()
    files: list[str] = []
    todo: list[str] = []
    root = applier.path
    if root in tree.kustomizations:
        todo.append(root)
    else:
        for path in sorted(ctx.idx.files):
            if index.under(path, root):
                files.append(path)
        todo.extend(d for d in sorted(tree.kustomizations) if index.under(d, root))
    while todo:
        directory = todo.pop()
        if directory in seen:
            continue
        seen.add(directory)
        kust = tree.kustomizations[directory]
        files.append(kust.path)
        for target in kust.resources:
            if target in tree.kustomizations:
                todo.append(target)
            else:
                files.append(target)
        files.extend(ref.file for ref in kust.patches if ref.file)
        for fieldname in ("configMapGenerator", "secretGenerator"):
            for entry in generators.entries_of(kust, fieldname):
                for relative in generators.env_files(entry):
                    files.append(posixpath.normpath(posixpath.join(directory, relative)))
                sources = entry.data.get("files")
                for source in sources if isinstance(sources, list) else []:
                    parsed = (
                        kvsources.parse_file_source(source) if isinstance(source, str) else None
                    )
                    if parsed:
                        files.append(posixpath.normpath(posixpath.join(directory, parsed[1])))
    return list(dict.fromkeys(f for f in files if not f.startswith("../")))


def uses(ctx: Context, applier: Applier, name: str) -> list[Use]:
    """Every value the Kustomization applies that refers to variable ``name``."""
    found: list[Use] = []
    for path in applied_files(ctx, applier):
        try:
            text = ctx.read(path)
        except (OSError, UnicodeDecodeError):
            continue
        if "${" not in text:
            continue
        entry = ctx.idx.files.get(path)
        if index.is_kustomization(path) or (entry is not None and entry.docs):
            found.extend(_document_uses(path, text, name))
        elif _refers(text, name):
            found.append(Use(path, -1, ()))
    return found


def _document_uses(path: str, text: str, name: str) -> Iterator[Use]:
    try:
        if jsonfile.is_json(path):
            docs = [d.data for d in jsonfile.documents(text)]
        else:
            docs = index.load_plain(path, text)
    except (OSError, ValueError, roundtrip.YamlError, jsonfile.JsonError):
        return
    for chunk, data in enumerate(docs):
        for where, value in _strings(data, ()):
            if _refers(value, name):
                yield Use(path, chunk, where)


def _strings(value: JSON, path: edit.Path) -> Iterator[tuple[edit.Path, str]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _strings(sub, (*path, str(key)))
    elif isinstance(value, list):
        for position, sub in enumerate(value):
            yield from _strings(sub, (*path, position))
    elif isinstance(value, str) and "${" in value:
        yield path, value


def _refers(text: str, name: str) -> bool:
    try:
        return name in varsub.references(text)
    except varsub.SubstitutionError:
        return f"${{{name}" in text

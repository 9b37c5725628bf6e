"""Kustomize: which overlay renders an object, and where in it a changed field comes from.

A kustomize repository states a value in one of several places: the base manifest, an
overlay's ``images:`` or ``replicas:`` list, a strategic-merge or JSON 6902 patch, or a
``labels:`` transformer.  Writing the human's change into the base when an overlay patch sets
the field has no effect; writing it into a base that another overlay also uses changes that
other environment.  This module models the kustomizations of a checkout as a graph (who
includes whom), names every document with the name and namespace the overlays give it, and
routes each operation of a change to the file that really holds the value, adding a new
strategic-merge patch to the overlay when the value must not be changed at its source.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from breakglass import delta
from breakglass.gitops import edit, index, roundtrip
from breakglass.gitops.edit import Match, Op, Path, RemoveOp, SetOp

JSON = Any

_REMOTE: Final = re.compile(r"^(?:[a-z]+://|github\.com/|git@|[^/]+\.[a-z]+/.*\?ref=)")
_MAX_CHAINS: Final = 256


@dataclass(frozen=True)
class PatchRef:
    """One patch a kustomization lists: a file or an inline string, with its target."""

    kustomization: str  # path of the kustomization file
    field: str  # patches | patchesStrategicMerge | patchesJson6902
    position: int  # index in that list
    file: str | None  # repository path of the patch file
    inline: str | None  # the inline patch text
    target: dict[str, JSON] | None


@dataclass(frozen=True)
class Kustomization:
    """The parts of one ``kustomization.yaml`` the engine follows."""

    path: str
    dir: str
    data: dict[str, JSON]
    resources: tuple[str, ...]
    namespace: str | None
    name_prefix: str
    name_suffix: str
    patches: tuple[PatchRef, ...]
    components: tuple[str, ...] = ()  # directories listed in ``components:``, in order


@dataclass(frozen=True)
class Placement:
    """A document as one chain of kustomizations (outermost first) renders it."""

    doc: index.DocRef
    chain: tuple[str, ...]  # kustomization directories, root overlay first
    name: str
    namespace: str | None

    def describe(self) -> str:
        via = f" via {self.chain[0]}" if self.chain else ""
        return f"{self.doc.path}:{self.doc.line}{via}"


@dataclass
class Tree:
    """Every kustomization of a checkout and what each one includes."""

    kustomizations: dict[str, Kustomization] = field(default_factory=dict)
    included_by: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: (kustomization, what it includes) -> the components whose transformers reach it
    _over: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: directories some kustomization lists in ``components:``
    component_dirs: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, idx: index.Index) -> Tree:
        tree = cls()
        by_dir: dict[str, str] = {}
        for path in idx.kustomization_files():
            by_dir.setdefault(posixpath.dirname(path), path)
        for directory, path in by_dir.items():
            try:
                docs = index.load_plain(path, idx.read(path))
            except (OSError, ValueError, roundtrip.YamlError) as exc:
                tree.notes.append(f"{path}: cannot read kustomization ({exc})")
                continue
            data = docs[0] if docs and isinstance(docs[0], dict) else {}
            tree.kustomizations[directory] = _parse(path, directory, data, idx, by_dir, tree)
        for directory, kust in tree.kustomizations.items():
            for target in kust.resources:
                tree.included_by.setdefault(target, []).append(directory)
            tree.component_dirs.update(kust.components)
        return tree

    def chains(self, target: str, subpath: str = "") -> list[tuple[str, ...]]:
        """Kustomization chains (root first) that include ``target``.

        With ``subpath``, each chain starts at its outermost kustomization inside ``subpath``
        (the application there is what renders the object); chains never entering
        ``subpath`` are dropped.

        A chain also holds the components whose transformers reach ``target`` (see
        ``components_over``), each right after the kustomization that lists it, so reading a
        chain from the end gives the order kustomize transforms the object in.  A component
        never starts a chain: it does not include what follows it.
        """
        found: list[tuple[str, ...]] = []
        self._up(target, (), found, set())
        if not subpath:
            return found
        out: list[tuple[str, ...]] = []
        for chain in found:
            for pos, directory in enumerate(chain):
                if index.under(directory, subpath) and self.may_start(chain, pos, target):
                    if chain[pos:] not in out:
                        out.append(chain[pos:])
                    break
        return out

    def may_start(self, chain: tuple[str, ...], pos: int, target: str) -> bool:
        """Whether ``chain[pos]`` includes the rest of the chain (it is not a component that
        only transforms it)."""
        if chain[pos] not in self.component_dirs:
            return True
        included = target
        for step in range(len(chain) - 1, pos - 1, -1):
            if self.includes(chain[step], included):
                included = chain[step]
        return included == chain[pos]

    def includes(self, directory: str, target: str) -> bool:
        """Whether the kustomization in ``directory`` lists ``target`` (resource, base or
        component)."""
        kust = self.kustomizations.get(directory)
        return kust is not None and target in kust.resources

    def components_over(self, parent: str, child: str) -> tuple[str, ...]:
        """The components of ``parent`` that transform what ``child`` brings into it, as chain
        levels (outermost first).

        kustomize builds a kustomization as: its resources, then each component in turn (the
        component adds its own resources and generated objects, then runs its transformers
        over everything accumulated so far), then its own generators and transformers.  So
        every component reaches the kustomization's resources, and a component reaches what
        an earlier component added, not what a later one adds.  A component's own components
        run inside it, before its transformers.
        """
        kust = self.kustomizations[parent]
        if not kust.components:
            return ()
        key = (parent, child)
        levels = self._over.get(key)
        if levels is None:
            listed = kust.components
            later = listed[listed.index(child) + 1 :] if child in listed else listed
            inner_first: list[str] = []
            for component in later:
                self._component_levels(component, inner_first, (parent,))
            levels = self._over[key] = tuple(reversed(inner_first))
        return levels

    def _component_levels(self, component: str, out: list[str], seen: tuple[str, ...]) -> None:
        if component in seen or component not in self.kustomizations:
            return
        for inner in self.kustomizations[component].components:
            self._component_levels(inner, out, (*seen, component))
        out.append(component)

    def is_component(self, directory: str) -> bool:
        """Whether ``directory`` holds a kustomize ``Component`` (by kind, or by being listed
        in some kustomization's ``components:``)."""
        kust = self.kustomizations.get(directory)
        if kust is None:
            return False
        return directory in self.component_dirs or kust.data.get("kind") == "Component"

    def _up(
        self, target: str, tail: tuple[str, ...], out: list[tuple[str, ...]], visiting: set[str]
    ) -> None:
        parents = self.included_by.get(target, [])
        if not parents:
            if tail:
                out.append(tail)
            return
        for parent in parents:
            if parent in visiting or len(out) >= _MAX_CHAINS:
                continue
            visiting.add(parent)
            over = self.components_over(parent, target)
            self._up(parent, (parent, *over, *tail), out, visiting)
            visiting.discard(parent)

    def is_shared(self, target: str) -> bool:
        """Whether more than one overlay (anywhere in the repository) renders ``target``."""
        return len(self.chains(target)) > 1

    def place(self, doc: index.DocRef, subpath: str) -> list[Placement]:
        """Every way ``doc`` is rendered from within ``subpath`` (standalone if none)."""
        chains = self.chains(doc.path, subpath)
        if not chains:
            if self.included_by.get(doc.path) or not index.under(doc.path, subpath):
                return []
            return [Placement(doc, (), doc.name, doc.namespace)]
        return [self._render(doc, chain) for chain in chains]

    def scope(self, doc: index.DocRef, subpath: str = "") -> tuple[str, str | None]:
        """The directory ``doc`` is applied from (the overlay that renders it, or its own
        directory) and its namespace (``None``: not stated).  An object that names others by
        namespace and name (a HelmRelease's ``valuesFrom``, a Flux Kustomization's
        ``substituteFrom``) finds them there."""
        placements = self.place(doc, subpath) or self.place(doc, "")
        namespaces = {p.namespace for p in placements}
        namespace = doc.namespace or (next(iter(namespaces)) if len(namespaces) == 1 else None)
        if len(placements) == 1 and placements[0].chain:
            return placements[0].chain[0], namespace
        return posixpath.dirname(doc.path), namespace

    def _render(self, doc: index.DocRef, chain: tuple[str, ...]) -> Placement:
        name = doc.name
        namespace = doc.namespace
        for directory in reversed(chain):
            kust = self.kustomizations[directory]
            name = kust.name_prefix + name + kust.name_suffix
            if kust.namespace:
                namespace = kust.namespace
        return Placement(doc, chain, name, namespace)

    def names_at(self, placement: Placement) -> list[list[str]]:
        """For each chain level (root first): the names the object may have there."""
        names = [placement.doc.name]
        stages: list[list[str]] = []
        for directory in reversed(placement.chain):
            stages.append(list(names))
            kust = self.kustomizations[directory]
            names.append(kust.name_prefix + names[-1] + kust.name_suffix)
        return list(reversed(stages))


def _as_list(value: JSON) -> list[JSON]:
    return value if isinstance(value, list) else []


def _parse(
    path: str, directory: str, data: dict[str, JSON], idx: index.Index, by_dir: dict[str, str],
    tree: Tree,
) -> Kustomization:  # fmt: skip
    resources: list[str] = []
    components: list[str] = []
    listed = [*_as_list(data.get("resources")), *_as_list(data.get("bases"))]
    first_component = len(listed)
    listed += _as_list(data.get("components"))
    for position, entry in enumerate(listed):
        if not isinstance(entry, str) or _REMOTE.match(entry):
            continue
        target = posixpath.normpath(posixpath.join(directory, entry))
        if target.startswith("../") or target == "..":
            tree.notes.append(f"{path}: resource {entry!r} is outside the repository; ignored")
            continue
        target = "" if target == "." else target
        if target in by_dir or target in idx.files:
            resources.append(target)
            if position >= first_component and target in by_dir and target not in components:
                components.append(target)
    patches: list[PatchRef] = []
    for fieldname in ("patches", "patchesStrategicMerge", "patchesJson6902"):
        for position, entry in enumerate(_as_list(data.get(fieldname))):
            ref = _patch_ref(path, directory, fieldname, position, entry)
            if ref is not None:
                patches.append(ref)

    def text(key: str) -> str:
        return str(data.get(key) or "")

    namespace = data.get("namespace")
    return Kustomization(
        path=path,
        dir=directory,
        data=data,
        resources=tuple(resources),
        namespace=namespace if isinstance(namespace, str) and namespace else None,
        name_prefix=text("namePrefix"),
        name_suffix=text("nameSuffix"),
        patches=tuple(patches),
        components=tuple(components),
    )


def _patch_ref(
    path: str, directory: str, fieldname: str, position: int, entry: JSON
) -> PatchRef | None:
    file: str | None = None
    inline: str | None = None
    target: dict[str, JSON] | None = None
    if isinstance(entry, str):
        if "\n" in entry or ":" in entry:
            inline = entry
        else:
            file = entry
    elif isinstance(entry, dict):
        if isinstance(entry.get("path"), str):
            file = entry["path"]
        elif isinstance(entry.get("patch"), str):
            inline = entry["patch"]
        if isinstance(entry.get("target"), dict):
            target = entry["target"]
    if file is not None:
        file = posixpath.normpath(posixpath.join(directory, file))
        if file.startswith("../"):
            return None
    if file is None and inline is None:
        return None
    return PatchRef(path, fieldname, position, file, inline, target)


# --------------------------------------------------------------------------------------------
# Images


@dataclass(frozen=True)
class Image:
    """An image reference split the way kustomize's ``images:`` sees it."""

    name: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> Image:
        digest = None
        if "@" in text:
            text, digest = text.split("@", 1)
        tag = None
        slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > slash:
            text, tag = text[:colon], text[colon + 1 :]
        return cls(text, tag, digest)

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def apply_image_entry(image: Image, entry: dict[str, JSON]) -> Image:
    name = str(entry.get("newName") or image.name)
    tag, digest = image.tag, image.digest
    if entry.get("digest"):
        digest, tag = str(entry["digest"]), None
    elif entry.get("newTag") is not None:
        tag, digest = str(entry["newTag"]), None
    return Image(name, tag, digest)


# --------------------------------------------------------------------------------------------
# Routing a change


@dataclass(frozen=True)
class Target:
    """Where some operations go: a document of a file (optionally a string inside it)."""

    file: str
    chunk: int
    inner: Path | None = None  # path of a YAML string inside that document (inline patch)


@dataclass
class Routing:
    """The outcome of routing: operations per target, files written whole, notes, or a
    refusal."""

    ops: dict[Target, list[Op]] = field(default_factory=dict)
    new_files: dict[str, str] = field(default_factory=dict)  # new files, or generator sources
    notes: list[str] = field(default_factory=list)
    cannot: str | None = None

    def add(self, target: Target, op: Op) -> None:
        self.ops.setdefault(target, []).append(op)


Loader = Callable[[str], str]

_CONTAINER_LISTS: Final = ("containers", "initContainers")


@dataclass
class _PatchDoc:
    ref: PatchRef
    chunk: int
    data: JSON
    json6902: bool


def route(
    placement: Placement,
    ops: Sequence[Op],
    *,
    tree: Tree,
    base: dict[str, JSON],
    read: Loader,
) -> Routing:
    """Send every operation to the file where its value lives (see module docstring)."""
    routing = Routing()
    chain = placement.chain
    doc = placement.doc
    doc_target = Target(doc.path, doc.chunk)
    if not chain:
        for op in ops:
            routing.add(doc_target, op)
        return routing
    stages = tree.names_at(placement)
    patch_docs = _patches_for(placement, stages, tree, read, routing)
    base_shared = tree.is_shared(doc.path)
    root = chain[0]
    root_shared = tree.is_shared(root)
    overlay_ops: list[Op] = []
    reasons: list[str] = []
    for op in ops:
        if _route_image(op, placement, tree, base, routing, root_shared):
            continue
        if _route_replicas(op, placement, stages, tree, routing, root_shared):
            continue
        if route_labels(op, placement.chain, tree, routing):
            continue
        if routing.cannot:
            return routing
        if _route_patch(op, patch_docs, base, routing, tree, reasons):
            if len(reasons) > len(overlay_ops):
                overlay_ops.append(op)
            continue
        if not base_shared:
            routing.add(doc_target, op)
        else:
            overlay_ops.append(op)
            reasons.append(_shared_doc_reason(placement, tree))
    if routing.cannot:
        return routing
    if overlay_ops:
        why = "; ".join(dict.fromkeys(r for r in reasons if r)) or None
        if root_shared:
            routing.cannot = (
                f"{why}, and so is {root}"
                if why
                else f"{doc.path} is shared by several overlays and so is {root}"
            ) + "; there is no overlay of this object only to put the change in"
            return routing
        style = _style_of(read, tree.kustomizations[root].path)
        _new_overlay_patch(
            placement, stages, overlay_ops, tree, patch_docs, routing, style, why=why
        )
    return routing


def _shared_doc_reason(placement: Placement, tree: Tree) -> str:
    """Why a change to a shared document goes to the overlay ("" for a shared base, which
    the overlay note already states)."""
    path = placement.doc.path
    for directory in reversed(placement.chain):
        if tree.includes(directory, path):
            if tree.is_component(directory):
                return (
                    f"{path} belongs to the component {directory}, which several "
                    "kustomizations include"
                )
            break
    return ""


def _style_of(read: Loader, path: str) -> roundtrip.Style:
    try:
        chunks = roundtrip.split_documents(read(path))
        return roundtrip.detect_style(roundtrip.parse_chunk(chunks[0].text))
    except (OSError, roundtrip.YamlError):
        return roundtrip.Style()


def _kust_target(tree: Tree, directory: str) -> Target:
    return Target(tree.kustomizations[directory].path, 0)


def _route_image(
    op: Op, placement: Placement, tree: Tree, base: dict[str, JSON], routing: Routing,
    root_shared: bool,
) -> bool:  # fmt: skip
    path = op.path
    if not (
        isinstance(op, SetOp)
        and len(path) >= 2
        and path[-1] == "image"
        and isinstance(path[-2], Match)
        and len(path) >= 3
        and path[-3] in _CONTAINER_LISTS
        and isinstance(op.value, str)
    ):
        return False
    found, git_image = edit.plain_get(base, path)
    if not found or not isinstance(git_image, str):
        return False
    image = Image.parse(git_image)
    matched: list[tuple[str, int, dict[str, JSON]]] = []
    for directory in reversed(placement.chain):
        kust = tree.kustomizations[directory]
        for position, entry in enumerate(_as_list(kust.data.get("images"))):
            if isinstance(entry, dict) and entry.get("name") == image.name:
                matched.append((directory, position, entry))
                image = apply_image_entry(image, entry)
                break
    if not matched:
        return False
    new = Image.parse(op.value)
    directory, position, entry = matched[-1]
    if tree.is_shared(directory):
        if root_shared:
            routing.cannot = (
                f"the image of {placement.name} is set in {tree.kustomizations[directory].path}, "
                "which several overlays share"
            )
            return True
        directory = placement.chain[0]
        entry = {"name": image.name}
        position = -1
    target = _kust_target(tree, directory)
    base_path: Path = ("images", position)
    sets: dict[str, JSON] = {}
    removes: list[str] = []
    if new.name != image.name or ("newName" in entry and entry["newName"] != new.name):
        sets["newName"] = new.name
    if new.digest:
        sets["digest"] = new.digest
        if "newTag" in entry and not new.tag:
            removes.append("newTag")
    else:
        sets["newTag"] = new.tag or "latest"
        if "digest" in entry:
            removes.append("digest")
    if position < 0:
        routing.add(target, edit.AddItemOp(("images",), {**entry, **sets}))
        return True
    for key, value in sets.items():
        if entry.get(key) != value:
            routing.add(target, SetOp((*base_path, key), value))
    for key in removes:
        routing.add(target, RemoveOp((*base_path, key)))
    return True


def _route_replicas(
    op: Op, placement: Placement, stages: list[list[str]], tree: Tree, routing: Routing,
    root_shared: bool,
) -> bool:  # fmt: skip
    if not (isinstance(op, SetOp) and op.path == ("spec", "replicas")):
        return False
    for level, directory in enumerate(placement.chain):
        kust = tree.kustomizations[directory]
        for position, entry in enumerate(_as_list(kust.data.get("replicas"))):
            if isinstance(entry, dict) and entry.get("name") in stages[level]:
                if tree.is_shared(directory):
                    if root_shared:
                        routing.cannot = f"replicas are set in shared {kust.path}"
                        return True
                    root = placement.chain[0]
                    routing.add(
                        _kust_target(tree, root),
                        edit.AddItemOp(
                            ("replicas",), {"name": entry["name"], "count": op.value}, "name"
                        ),
                    )
                    return True
                routing.add(Target(kust.path, 0), SetOp(("replicas", position, "count"), op.value))
                return True
    return False


def route_labels(op: Op, chain: tuple[str, ...], tree: Tree, routing: Routing) -> bool:
    """Route a label change that a ``commonLabels``/``labels`` transformer of ``chain`` makes
    (or refuse it in ``routing.cannot``); ``False`` when no transformer sets that label."""
    path = op.path
    if len(path) != 3 or path[:2] != ("metadata", "labels") or not isinstance(path[2], str):
        return False
    label = path[2]
    for directory in chain:
        kust = tree.kustomizations[directory]
        common = kust.data.get("commonLabels")
        if isinstance(common, dict) and label in common:
            routing.cannot = (
                f"label {label!r} comes from commonLabels in {kust.path}, which also sets "
                "selectors; changing it there would change immutable selectors"
            )
            return True
        for position, entry in enumerate(_as_list(kust.data.get("labels"))):
            pairs = entry.get("pairs") if isinstance(entry, dict) else None
            if isinstance(pairs, dict) and label in pairs:
                if entry.get("includeSelectors"):
                    routing.cannot = (
                        f"label {label!r} comes from labels in {kust.path} with "
                        "includeSelectors; changing it would change immutable selectors"
                    )
                    return True
                if tree.is_shared(directory):
                    routing.cannot = f"label {label!r} comes from shared {kust.path}"
                    return True
                sub: Path = ("labels", position, "pairs", label)
                if isinstance(op, SetOp):
                    routing.add(Target(kust.path, 0), SetOp(sub, op.value))
                else:
                    routing.add(Target(kust.path, 0), RemoveOp(sub))
                return True
    return False


def _patch_matches(data: JSON, ref: PatchRef, kind: str, names: list[str]) -> bool:
    target = ref.target
    if target:
        if target.get("kind") and target["kind"] != kind:
            return False
        wanted = target.get("name")
        if wanted:
            return any(n == wanted or re.fullmatch(str(wanted), n) is not None for n in names)
        return not target.get("labelSelector") and not target.get("annotationSelector")
    if not isinstance(data, dict):
        return False
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return data.get("kind") == kind and isinstance(meta, dict) and meta.get("name") in names


def _patches_for(
    placement: Placement, stages: list[list[str]], tree: Tree, read: Loader, routing: Routing
) -> list[_PatchDoc]:
    """Patches of the chain that apply to this object, outermost kustomization first."""
    found: list[_PatchDoc] = []
    names_all = {n for stage in stages for n in stage} | {placement.name}
    for level, directory in enumerate(placement.chain):
        kust = tree.kustomizations[directory]
        names = [*stages[level], *names_all]
        for ref in kust.patches:
            try:
                text = ref.inline if ref.inline is not None else read(ref.file or "")
                docs = index.load_plain(ref.file or kust.path, text)
            except (OSError, ValueError, roundtrip.YamlError) as exc:
                routing.notes.append(
                    f"{kust.path}: patch {ref.file or '(inline)'} unreadable: {exc}"
                )
                continue
            for chunk, data in enumerate(docs):
                is_json = isinstance(data, list) or ref.field == "patchesJson6902"
                if _patch_matches(data if not is_json else None, ref, placement.doc.kind, names):
                    found.append(_PatchDoc(ref, chunk, data, is_json))
    return found


def _pointer_to_path(pointer: str, base: JSON) -> Path | None:
    steps: list[str | int | Match] = []
    node = base
    for raw in pointer.strip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return None
            item = node[int(part)]
            parent_field = steps[-1] if steps and isinstance(steps[-1], str) else ""
            key = delta.merge_key(str(parent_field), node)
            if key is not None and isinstance(item, dict):
                steps.append(Match(key, item[key]))
            else:
                steps.append(int(part))
            node = item
        elif isinstance(node, dict):
            steps.append(part)
            node = node.get(part)
        else:
            steps.append(part)
            node = None
    return tuple(steps)


def _route_patch(
    op: Op, patch_docs: list[_PatchDoc], base: dict[str, JSON], routing: Routing, tree: Tree,
    overlay: list[str],
) -> bool:  # fmt: skip
    """Route ``op`` to the patch that sets its field (``True``), refusing a patch of a shared
    kustomization.  A patch of a shared component is overridden instead: the reason goes to
    ``overlay`` and the caller writes the operation into an overlay patch, which kustomize
    applies after every component of the overlay."""
    for patch in patch_docs:
        owner = posixpath.dirname(patch.ref.kustomization)
        shared = tree.is_shared(owner)
        overridden = shared and tree.is_component(owner)
        target = (
            Target(patch.ref.file, patch.chunk)
            if patch.ref.file
            else Target(patch.ref.kustomization, 0, _inline_path(patch.ref))
        )
        if patch.json6902:
            for position, operation in enumerate(_as_list(patch.data)):
                if not isinstance(operation, dict) or operation.get("op") not in ("add", "replace"):
                    continue
                pointer_path = _pointer_to_path(str(operation.get("path", "")), base)
                if pointer_path is None or not isinstance(op, SetOp):
                    continue
                if op.path[: len(pointer_path)] != pointer_path:
                    continue
                if overridden:
                    return _defer_to_overlay(op, patch, owner, overlay)
                if shared:
                    routing.cannot = (
                        f"the field is set by a patch in shared {patch.ref.kustomization}"
                    )
                    return True
                rest = op.path[len(pointer_path) :]
                routing.add(target, SetOp((position, "value", *rest), op.value))
                return True
            continue
        found, _ = edit.plain_get(patch.data, op.path)
        if not found and isinstance(op, edit.AddItemOp):
            found, _ = edit.plain_get(patch.data, op.path)
        if not found:
            continue
        if overridden:
            return _defer_to_overlay(op, patch, owner, overlay)
        if shared:
            routing.cannot = f"the field is set by a patch in shared {patch.ref.kustomization}"
            return True
        routing.add(target, op)
        return True
    return False


def _defer_to_overlay(op: Op, patch: _PatchDoc, owner: str, overlay: list[str]) -> bool:
    where = patch.ref.file or f"an inline patch of {patch.ref.kustomization}"
    overlay.append(
        f"{edit.format_path(op.path)} is set by {where} in the component {owner}, which "
        "several kustomizations include"
    )
    return True


def _inline_path(ref: PatchRef) -> Path:
    if ref.field == "patchesStrategicMerge":
        return (ref.field, ref.position)
    return (ref.field, ref.position, "patch")


def _new_overlay_patch(
    placement: Placement, stages: list[list[str]], ops: list[Op], tree: Tree,
    patch_docs: list[_PatchDoc], routing: Routing, style: roundtrip.Style,
    *, why: str | None = None,
) -> None:  # fmt: skip
    """Write ``ops`` into the root overlay's strategic-merge patch for the object (a new file
    when it has none); ``why`` replaces the default reason in the note."""
    root = placement.chain[0]
    kust = tree.kustomizations[root]
    for patch in patch_docs:
        if patch.ref.kustomization == kust.path and patch.ref.file and not patch.json6902:
            target = Target(patch.ref.file, patch.chunk)
            for op in ops:
                # a removal is a directive in the patch (`$patch: delete`, a null), never a
                # removal from the patch, which would leave the base's value in effect
                routing.add(target, _as_patch_op(op))
            lead = f"{why}; " if why else ""
            routing.notes.append(f"{lead}added the change to the overlay patch {patch.ref.file}")
            return
    name = stages[0][-1]
    doc = placement.doc
    content: dict[str, JSON] = {
        "apiVersion": doc.api_version,
        "kind": doc.kind,
        "metadata": {"name": name},
    }
    content = edit.apply_plain(content, [_as_patch_op(op) for op in ops])
    stem = f"{name}-{doc.kind.lower()}-patch"
    file = posixpath.join(root, stem + ".yaml")
    counter = 2
    while file in routing.new_files or any(file == p.file for p in kust.patches):
        file = posixpath.join(root, f"{stem}-{counter}.yaml")
        counter += 1
    routing.new_files[file] = _render_patch(content, style)
    entry = posixpath.relpath(file, root)
    target = Target(kust.path, 0)
    if isinstance(kust.data.get("patches"), list):
        routing.add(target, edit.AddItemOp(("patches",), {"path": entry}))
    elif isinstance(kust.data.get("patchesStrategicMerge"), list):
        routing.add(target, edit.AddItemOp(("patchesStrategicMerge",), entry))
    else:
        routing.add(target, SetOp(("patches",), [{"path": entry}]))
    reason = why or f"{placement.doc.path} is shared with other overlays"
    routing.notes.append(f"{reason}; wrote the change as a strategic-merge patch {file} in {root}")


def _as_patch_op(op: Op) -> Op:
    """An operation as a strategic-merge patch states it (removals become directives)."""
    if isinstance(op, RemoveOp):
        last = op.path[-1]
        if isinstance(last, Match):
            return SetOp(op.path, {last.key: last.value, "$patch": "delete"})
        return SetOp(op.path, None)
    return op


def _render_patch(content: dict[str, JSON], style: roundtrip.Style) -> str:
    return roundtrip.render_document(content, style)

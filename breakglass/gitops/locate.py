"""Find the one manifest that owns a live object, or say precisely why there is not one.

Live objects and manifests rarely name things identically: kustomize adds prefixes, suffixes
and namespaces, and many manifests leave ``namespace`` to Argo CD's destination.  This module
matches a live object's group, kind, name and namespace against every rendering of every
indexed document (``kustomize.Placement``).  A match with the namespace stated beats one
where the manifest leaves it out; a remaining tie is broken by a path segment that names the
namespace; anything still ambiguous is returned as such, never guessed.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from breakglass.gitops import index, kustomize


@dataclass(frozen=True)
class Wanted:
    """The identity of the live object being looked for."""

    group: str
    kind: str
    name: str
    namespace: str | None

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        group = f".{self.group}" if self.group else ""
        return f"{self.kind}{group} {where}{self.name}"


@dataclass(frozen=True)
class Found:
    placement: kustomize.Placement
    loose: bool  # the manifest leaves the namespace out


@dataclass(frozen=True)
class Ambiguous:
    candidates: tuple[kustomize.Placement, ...]


@dataclass(frozen=True)
class NotFound:
    pass


Outcome = Found | Ambiguous | NotFound


def locate(wanted: Wanted, *, idx: index.Index, tree: kustomize.Tree, subpath: str = "") -> Outcome:
    """The placement that renders ``wanted`` within ``subpath`` of the repository."""
    exact: list[kustomize.Placement] = []
    loose: list[kustomize.Placement] = []
    names = source_names(wanted.name, *_affixes(tree))
    for doc in idx.docs_named(wanted.group, wanted.kind, names):
        if not index.under(doc.path, subpath) and not tree.included_by.get(doc.path):
            continue
        for placement in tree.place(doc, subpath):
            if placement.name != wanted.name:
                continue
            if placement.chain == () and not index.under(doc.path, subpath):
                continue
            if placement.namespace == wanted.namespace:
                exact.append(placement)
            elif placement.namespace is None:
                loose.append(placement)
    chosen = exact or loose
    if not chosen:
        return NotFound()
    if len(chosen) > 1 and wanted.namespace:
        by_path = [p for p in chosen if _names_namespace(p, wanted.namespace)]
        if len(by_path) == 1:
            chosen = by_path
    if len(chosen) > 1:
        return Ambiguous(tuple(chosen))
    return Found(chosen[0], loose=not exact)


def source_names(name: str, prefixes: frozenset[str], suffixes: frozenset[str]) -> set[str]:
    """Every manifest name that kustomize could render as ``name``.

    A rendered name is the document's name wrapped in the ``namePrefix``/``nameSuffix`` of each
    kustomization on its chain, so the document's name is ``name`` with a run of known
    prefixes cut from the front and a run of known suffixes cut from the back.  Only those
    candidates are looked up in the index; ``Tree.place`` still decides each placement.
    """
    starts = _cuts(name, prefixes, front=True)
    ends = _cuts(name, suffixes, front=False)
    return {name[i:j] for i in starts for j in ends if i < j}


def _cuts(name: str, affixes: frozenset[str], *, front: bool) -> set[int]:
    """Positions reachable by cutting any sequence of ``affixes`` from one end of ``name``."""
    start = 0 if front else len(name)
    found = {start}
    todo = [start]
    while todo and affixes:
        pos = todo.pop()
        for affix in affixes:
            if front and name.startswith(affix, pos):
                nxt = pos + len(affix)
            elif not front and pos - len(affix) >= 0 and name.endswith(affix, 0, pos):
                nxt = pos - len(affix)
            else:
                continue
            if nxt not in found:
                found.add(nxt)
                todo.append(nxt)
    return found


#: Per tree (by identity, while it is alive): the name prefixes and suffixes it can apply.
_AFFIXES: dict[int, tuple[weakref.ref[kustomize.Tree], frozenset[str], frozenset[str]]] = {}


def _affixes(tree: kustomize.Tree) -> tuple[frozenset[str], frozenset[str]]:
    cached = _AFFIXES.get(id(tree))
    if cached is not None and cached[0]() is tree:
        return cached[1], cached[2]
    kusts = tree.kustomizations.values()
    prefixes = frozenset(k.name_prefix for k in kusts if k.name_prefix)
    suffixes = frozenset(k.name_suffix for k in kusts if k.name_suffix)
    key = id(tree)
    _AFFIXES[key] = (weakref.ref(tree, lambda _ref: _AFFIXES.pop(key, None)), prefixes, suffixes)
    return prefixes, suffixes


def _names_namespace(placement: kustomize.Placement, namespace: str) -> bool:
    paths = [placement.doc.path, *placement.chain]
    return any(namespace in path.split("/") for path in paths)

"""Find the one manifest that owns a live object, or say precisely why there is not one.

Live objects and manifests rarely name things identically: kustomize adds prefixes, suffixes
and namespaces, and many manifests leave ``namespace`` to Argo CD's destination.  This module
matches a live object's group, kind, name and namespace against every rendering of every
indexed document (``kustomize.Placement``).  A match with the namespace stated beats one
where the manifest leaves it out; a remaining tie is broken by a path segment that names the
namespace; anything still ambiguous is returned as such, never guessed.
"""

from __future__ import annotations

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
    for doc in idx.docs_of_kind(wanted.group, wanted.kind):
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


def _names_namespace(placement: kustomize.Placement, namespace: str) -> bool:
    paths = [placement.doc.path, *placement.chain]
    return any(namespace in path.split("/") for path in paths)

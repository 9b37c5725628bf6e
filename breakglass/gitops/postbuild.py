"""A change to a value Flux substitutes goes where the cluster sets the variable.

When a Flux ``Kustomization`` with ``spec.postBuild`` applies an object, the manifest may say
``${REGION}`` where the live object says ``eu-west-1``.  Writing the live value over the
placeholder would change every other cluster that shares the manifest, and writing a literal
that holds ``${`` would have Flux substitute it.  This module reviews what the kustomize or
generator routing is about to write, value by value, against the text Git holds there:

- a value that is exactly one variable (``${VAR}``, ``${VAR:=default}``) is not edited; the
  variable is set instead, where the Kustomization that applied the object takes it from: its
  ``substitute`` map, or the ``substituteFrom`` ConfigMap (a manifest or a
  ``configMapGenerator``) that Git holds.  A variable set nowhere joins ``substitute``;
- a literal that substitution would change is written with Flux's ``$$`` escape;
- a value that mixes text and variables, comes from a Secret or from a place outside the
  repository, is removed while it holds a variable, or belongs to an object several
  Kustomizations could have applied, is refused with the reason.

Which Kustomization applied the object comes from Flux's labels on it (or, without them, from
which Kustomization's ``spec.path`` builds the manifest), narrowed by the cluster's own
Kustomization when the worker read it, then by which candidate's variables render what the
live object had.  Nothing here runs when no value involves ``$``: repositories without
substitution are edited exactly as before.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from breakglass.gitops import (
    edit,
    fluxvars,
    generators,
    index,
    jsonfile,
    kustomize,
    roundtrip,
    varsub,
)
from breakglass.gitops.edit import AddItemOp, InsertOp, Match, Op, Path, RemoveOp, SetOp

JSON = Any


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class _Cannot(Exception):
    pass


@dataclass
class Scene:
    """What the engine knows about the object whose change is being written."""

    ctx: fluxvars.Context
    live: Mapping[str, JSON]  # the object as captured (labels and annotations included)
    what: str  # how messages name it
    source: str  # the manifest file, or the generator's directory, that builds it
    git: Mapping[str, JSON] | None = None  # its Git document, for the opt-out
    chain: tuple[str, ...] = ()  # the kustomizations that render it
    kustomizations: Sequence[Mapping[str, JSON]] = ()  # read from the cluster by the worker
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Leaf:
    """One value of an operation that substitution concerns."""

    path: Path  # in the document the operation targets
    kind: str  # keep | change | literal | reshaped | removed
    git: JSON  # what Git holds there
    was: JSON = MISSING  # the live value before the change
    new: JSON = MISSING
    #: kustomize writes the value into a larger string (an ``images:`` entry's tag or name)
    embedded: bool = False


@dataclass
class _Item:
    op: Op
    leaves: list[_Leaf]
    target: kustomize.Target | None
    key: tuple[JSON, ...]  # identifies where the value is, to tell it from other uses


@dataclass
class _Flux:
    applier: fluxvars.Applier
    variables: fluxvars.Variables


# --------------------------------------------------------------------------------------------
# Entry points


def review(scene: Scene, routing: kustomize.Routing) -> kustomize.Routing:
    """``routing`` with values Flux substitutes sent to their variables (or refused in
    ``cannot``) and literals escaped; unchanged when nothing involves substitution."""
    if routing.cannot or not _dollars(scene.ctx, routing):
        return routing
    items: list[_Item] = []
    for target, ops in routing.ops.items():
        doc = _document(scene.ctx, target)
        embedded = index.is_kustomization(target.file) and target.inner is None
        for op in ops:
            path = _concrete(doc, op.path)
            key = (target.file, target.chunk, target.inner or path)
            leaves = _leaves(doc, op)
            if embedded and op.path[:1] == ("images",):
                leaves = [dataclasses.replace(leaf, embedded=True) for leaf in leaves]
            items.append(_Item(op, leaves, target, key))
    if not any(item.leaves for item in items):
        return routing
    out = kustomize.Routing(new_files=dict(routing.new_files), notes=list(routing.notes))
    try:
        settled = _settle(scene, items, out)
    except _Cannot as cannot:
        routing.cannot = str(cannot)
        return routing
    for item, written in zip(items, settled, strict=True):
        if written is not None and item.target is not None:
            out.add(item.target, written)
    return out


def review_generated(
    scene: Scene, gen: generators.Generated, ops: list[Op]
) -> tuple[list[Op], kustomize.Routing]:
    """For an object a ``configMapGenerator`` makes: the operations left for the generator
    (values escaped), and the routing of the variables its data keys come from."""
    extra = kustomize.Routing()
    src = generators.sources(gen, scene.ctx.read_exact)
    items: list[_Item] = []
    for op in ops:
        leaves: list[_Leaf] = []
        path = op.path
        if len(path) == 2 and path[0] == "data" and isinstance(path[1], str):
            origins = src.keys.get(path[1])
            git = fluxvars.origin_value(scene.ctx, path[1], origins[-1]) if origins else None
            key = _origin_key(origins[-1]) if origins else ()
            if isinstance(op, RemoveOp):
                if isinstance(git, str) and varsub.has_references(git):
                    leaves.append(_Leaf(path, "removed", git))
            elif isinstance(op, SetOp):
                leaves.extend(_walk(git if git is not None else MISSING, _was(op), op.value, path))
            items.append(_Item(op, leaves, None, key))
        else:
            items.append(_Item(op, [], None, ()))
    if not any(item.leaves for item in items):
        return ops, extra
    try:
        settled = _settle(scene, items, extra)
    except _Cannot as cannot:
        extra.cannot = str(cannot)
        return ops, extra
    return [op for op in settled if op is not None], extra


def _dollars(ctx: fluxvars.Context, routing: kustomize.Routing) -> bool:
    """Whether a ``$`` is anywhere near: in a file the routing edits or a value it writes
    (when not, substitution cannot be involved, and nothing is parsed again)."""
    for target, ops in routing.ops.items():
        try:
            if "$" in ctx.read(target.file):
                return True
        except (OSError, UnicodeDecodeError):
            return True
        if any("$" in repr(op) for op in ops):
            return True
    return False


def _origin_key(origin: generators.Origin) -> tuple[JSON, ...]:
    """Where a generated key's value is written, as ``fluxvars.uses`` names it."""
    if origin.source == "literals":
        entry = origin.entry
        return (entry.kustomization, 0, (*entry.path, "literals", origin.position))
    return (origin.file, -1, ())


# --------------------------------------------------------------------------------------------
# What Git holds where the operations write


def _document(ctx: fluxvars.Context, target: kustomize.Target) -> JSON:
    """The data of the document (or embedded document) ``target`` names, ``None`` if none."""
    try:
        text = ctx.read(target.file)
        if jsonfile.is_json(target.file):
            data = jsonfile.document(text, target.chunk)
        else:
            chunks = roundtrip.split_documents(text)
            data = roundtrip.to_plain(roundtrip.parse_chunk(chunks[target.chunk].text))
        if target.inner is not None:
            found, embedded = edit.plain_get(data, target.inner)
            if not found or not isinstance(embedded, str):
                return None
            docs = index.load_plain(target.file, embedded)
            data = docs[0] if docs else None
    except (OSError, IndexError, ValueError, roundtrip.YamlError, jsonfile.JsonError):
        return None
    return data


def _concrete(doc: JSON, path: Path) -> Path:
    """``path`` with list items chosen by key written as their positions in ``doc``."""
    out: list[str | int | Match] = []
    node = doc
    for step in path:
        if isinstance(step, Match) and isinstance(node, list):
            position = next(
                (
                    i
                    for i, item in enumerate(node)
                    if isinstance(item, dict) and item.get(step.key) == step.value
                ),
                None,
            )
            out.append(step if position is None else position)
            node = node[position] if position is not None else None
            continue
        out.append(step)
        if isinstance(step, str) and isinstance(node, dict):
            node = node.get(step)
        elif isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node):
            node = node[step]
        else:
            node = None
    return tuple(out)


def _was(op: SetOp) -> JSON:
    return MISSING if op.was is None else op.was


def _leaves(doc: JSON, op: Op) -> list[_Leaf]:
    if isinstance(op, RemoveOp):
        found, git = edit.plain_get(doc, op.path) if doc is not None else (False, None)
        return [_Leaf(op.path, "removed", git)] if found and _holds_variables(git) else []
    if isinstance(op, AddItemOp):
        return _walk(MISSING, MISSING, op.item, op.path)
    if isinstance(op, InsertOp):
        return _walk(MISSING, MISSING, op.value, op.path)
    found, git = edit.plain_get(doc, op.path) if doc is not None else (False, None)
    return _walk(git if found else MISSING, _was(op), op.value, op.path)


def _walk(git: JSON, was: JSON, new: JSON, path: Path) -> list[_Leaf]:
    out: list[_Leaf] = []
    if isinstance(new, dict):
        mine = git if isinstance(git, dict) else {}
        before = was if isinstance(was, dict) else {}
        for key, value in new.items():
            out.extend(_walk(mine.get(key, MISSING), before.get(key, MISSING), value, (*path, key)))
        return out
    if isinstance(new, list):
        if isinstance(git, list) and _special(git):
            if isinstance(was, list) and len(was) == len(new) == len(git):
                for position, (g, w, n) in enumerate(zip(git, was, new, strict=True)):
                    out.extend(_walk(g, w, n, (*path, position)))
            else:
                out.append(_Leaf(path, "reshaped", git, was, new))
            return out
        for position, value in enumerate(new):
            out.extend(_walk(MISSING, MISSING, value, (*path, position)))
        return out
    if isinstance(git, str) and varsub.special(git):
        same = was is not MISSING and was == new and type(was) is type(new)
        out.append(_Leaf(path, "keep" if same else "change", git, was, new))
    elif isinstance(git, dict | list) and _special(git):
        out.append(_Leaf(path, "reshaped", git, was, new))
    elif isinstance(new, str) and varsub.special(new):
        out.append(_Leaf(path, "literal", git, was, new))
    return out


def _special(value: JSON) -> bool:
    """Whether a value holds text that substitution changes."""
    if isinstance(value, str):
        return varsub.special(value)
    if isinstance(value, dict):
        return any(_special(k) or _special(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_special(v) for v in value)
    return False


def _holds_variables(value: JSON) -> bool:
    if isinstance(value, str):
        return varsub.has_references(value)
    if isinstance(value, dict):
        return any(_holds_variables(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_variables(v) for v in value)
    return False


# --------------------------------------------------------------------------------------------
# Deciding


@dataclass
class _Assignment:
    name: str
    text: str
    leaves: list[tuple[_Leaf, varsub.Variable]] = field(default_factory=list)
    keys: list[tuple[JSON, ...]] = field(default_factory=list)


def _settle(scene: Scene, items: list[_Item], out: kustomize.Routing) -> list[Op | None]:
    """The operations as they are to be written (``None``: dropped), the variables' edits
    added to ``out``.

    Values the change left alone inside a changed list keep Git's text whether or not Flux
    substitutes the object (without substitution that text is the live value anyway); the
    rest is decided only when a Kustomization substitutes the object, and left as it is when
    none does."""
    changes = [leaf for item in items for leaf in item.leaves if leaf.kind == "change"]
    decided = any(leaf.kind != "keep" for item in items for leaf in item.leaves)
    flux = _resolve(scene, changes, out) if decided else None
    assignments: dict[str, _Assignment] = {}
    settled: list[Op | None] = []
    for item in items:
        replace: dict[Path, JSON] = {}
        for leaf in item.leaves:
            if leaf.kind == "keep":
                replace[leaf.path] = leaf.git
            elif flux is not None:
                _decide(scene, flux, item, leaf, replace, assignments)
        settled.append(_rewritten(item.op, replace))
    if flux is not None:
        for assignment in assignments.values():
            _place(scene, flux, assignment, out)
    return settled


def _subject(leaf: _Leaf) -> str:
    return f"{edit.format_path(leaf.path)} (`{leaf.git}` in Git)"


def _decide(
    scene: Scene,
    flux: _Flux,
    item: _Item,
    leaf: _Leaf,
    replace: dict[Path, JSON],
    assignments: dict[str, _Assignment],
) -> None:
    who = flux.applier.describe()
    if leaf.kind == "literal":
        _escaped(scene, flux, leaf, replace)
        return
    if leaf.kind == "removed":
        raise _Cannot(
            f"{_subject(leaf)} was removed, but its value comes from variables that {who} "
            "substitutes per cluster; removing it from the manifest would remove it for every "
            "cluster that applies it. Remove it by hand, or set the variable instead"
        )
    if leaf.kind == "reshaped":
        raise _Cannot(
            f"{edit.format_path(leaf.path)} holds values that {who} substitutes, and the "
            "change adds or removes items of it, so which item holds which variable cannot be "
            "told; writing the live list would put literals where each cluster has its own "
            "values"
        )
    variable = varsub.whole_variable(leaf.git)
    if variable is None:
        try:
            names = varsub.references(leaf.git)
        except varsub.SubstitutionError as exc:
            raise _Cannot(
                f"{_subject(leaf)} is not something Flux can substitute ({exc}); "
                "breakglass does not edit it"
            ) from None
        if not names:  # only `$$` escapes: a literal
            _escaped(scene, flux, leaf, replace)
            return
        shown = ", ".join(f"${{{n}}}" for n in sorted(names))
        raise _Cannot(
            f"{_subject(leaf)} mixes text and variables ({shown}) that {who} substitutes; "
            "breakglass cannot tell which part changed, and writing the live value there "
            "would replace the variables with a literal for every cluster that shares the "
            "manifest. Change the manifest or the variable by hand"
        )
    text = _as_text(leaf.new)
    if text is None:
        raise _Cannot(
            f"{_subject(leaf)}: the new value {leaf.new!r} is not a string, number or boolean, "
            f"so variable {variable.name} of {who} cannot hold it"
        )
    if "\n" in text:
        raise _Cannot(
            f"{_subject(leaf)}: the new value has a line break, and Flux removes line breaks "
            f"from variable values, so variable {variable.name} of {who} cannot hold it"
        )
    if variable.value({variable.name: text}) != text:
        raise _Cannot(
            f"{_subject(leaf)}: the new value is empty, and Flux uses the default "
            f"{variable.default!r} for an empty variable, so variable {variable.name} of {who} "
            "cannot give it"
        )
    reads = text if leaf.embedded else _flux_reads(text)
    if not _same(reads, leaf.new):
        raise _Cannot(
            f"{_subject(leaf)}: Flux writes variable values into the YAML unquoted, and "
            f"{text!r} would read back as {_shown(reads)}, not as the live value "
            f"{leaf.new!r}; set variable {variable.name} of {who} by hand (Flux's docs suggest "
            "a `${quote}` variable)"
        )
    if not leaf.embedded and not roundtrip.plain_safe(leaf.git):
        raise _Cannot(
            f"{_subject(leaf)}: kustomize writes this text quoted, so what Flux makes of a "
            "new value of the variable is not known; breakglass does not edit it"
        )
    disagreement = _disagreement(flux, leaf, variable)
    if disagreement is not None:
        raise _Cannot(disagreement)
    assignment = assignments.setdefault(variable.name, _Assignment(variable.name, text))
    if assignment.text != text:
        raise _Cannot(
            f"variable {variable.name} of {who} is used by several changed values that now "
            f"differ ({assignment.text!r} and {text!r}); one variable cannot hold both"
        )
    assignment.leaves.append((leaf, variable))
    assignment.keys.append(_leaf_key(item, leaf))
    replace[leaf.path] = leaf.git


def _escaped(scene: Scene, flux: _Flux, leaf: _Leaf, replace: dict[Path, JSON]) -> None:
    """A literal written so that substitution gives it back (``$$`` where Flux looks)."""
    if not isinstance(leaf.new, str):
        replace[leaf.path] = leaf.new
        return
    written = varsub.escape(leaf.new)
    replace[leaf.path] = written
    if written != leaf.new:
        scene.notes.append(
            f"{edit.format_path(leaf.path)}: {flux.applier.describe()} substitutes variables "
            f"in this object, so the new value is written with Flux's `$$` escape "
            f"({written!r}) to reach the cluster as it is"
        )


def _leaf_key(item: _Item, leaf: _Leaf) -> tuple[JSON, ...]:
    if item.target is not None and item.target.inner is not None:
        return item.key
    if len(item.key) == 3 and isinstance(item.key[2], tuple):
        op_path = item.op.path
        return (item.key[0], item.key[1], (*item.key[2], *leaf.path[len(op_path) :]))
    return item.key


def _rewritten(op: Op, replace: Mapping[Path, JSON]) -> Op | None:
    """``op`` with the values at ``replace``'s paths set as given (``None``: nothing left)."""
    if not replace:
        return op
    if isinstance(op, SetOp):
        if op.path in replace:
            value = replace[op.path]
            if isinstance(value, str) and varsub.whole_variable(value) is not None:
                return None  # the variable carries the change
            return SetOp(op.path, value, op.was)
        value = _replaced(op.value, op.path, replace)
        was = _replaced(op.was, op.path, replace) if op.was is not None else None
        return SetOp(op.path, value, was)
    if isinstance(op, AddItemOp):
        return AddItemOp(op.path, _replaced(op.item, op.path, replace), op.key)
    if isinstance(op, InsertOp):
        return InsertOp(op.path, op.index, _replaced(op.value, op.path, replace))
    return op


def _replaced(value: JSON, base: Path, replace: Mapping[Path, JSON]) -> JSON:
    out = copy.deepcopy(value)
    for path, new in replace.items():
        rest = path[len(base) :]
        if path[: len(base)] != base or not rest:
            continue
        node = out
        last = rest[-1]
        try:
            for step in rest[:-1]:
                node = node[step]
            keyed = isinstance(node, dict) and isinstance(last, str)
            if keyed or (isinstance(node, list) and isinstance(last, int)):
                node[last] = new
        except (KeyError, IndexError, TypeError):
            continue
    return out


def _as_text(value: JSON) -> str | None:
    """A live value as the text of a variable (``None``: a variable cannot hold it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    return None


def _flux_reads(text: str) -> JSON:
    """What a plain YAML scalar reads as after Flux put ``text`` in its place (YAML 1.1, as
    Flux reads the substituted manifest); ``MISSING`` when it is no longer one scalar."""
    try:
        data = roundtrip.to_plain(roundtrip.parse_chunk(f"v: {text}\n"))
    except roundtrip.YamlError:
        return MISSING
    if not isinstance(data, dict) or list(data) != ["v"]:
        return MISSING
    value = data["v"]
    return MISSING if isinstance(value, dict | list) else value


def _same(a: JSON, b: JSON) -> bool:
    return a is not MISSING and type(a) is type(b) and a == b


def _shown(value: JSON) -> str:
    if value is MISSING:
        return "something else than one value"
    kind = {bool: "a boolean", int: "a number", float: "a number", type(None): "null"}.get(
        type(value), "the string"
    )
    return f"{kind} {value!r}" if kind == "the string" else f"{kind} ({value!r})"


def _rendered(variables: fluxvars.Variables, text: str) -> JSON:
    """What Flux makes of Git's ``text`` with these variables; ``MISSING`` when a variable
    comes from a place breakglass cannot read."""
    try:
        names = varsub.references(text)
    except varsub.SubstitutionError:
        return MISSING
    unknown = variables.unknown()
    for name in names:
        setter = variables.setter(name)
        if any(variables.places.index(p) > setter for p in unknown):
            return MISSING
    try:
        result = varsub.substitute(text, variables.values())
    except varsub.SubstitutionError:
        return MISSING
    return _flux_reads(result)


def _disagreement(flux: _Flux, leaf: _Leaf, variable: varsub.Variable) -> str | None:
    if leaf.was is MISSING:
        return None
    rendered = _rendered(flux.variables, leaf.git)
    if rendered is MISSING or _same(rendered, leaf.was):
        return None
    variables = flux.variables
    setter = variables.setter(variable.name)
    where = (
        f"{variables.places[setter].label} sets {variable.name} to "
        f"{variables.places[setter].values[variable.name]!r}"
        if setter >= 0
        else f"nothing sets {variable.name}"
    )
    return (
        f"Git and the cluster disagree about {_subject(leaf)}: {where}, so Flux renders "
        f"{rendered!r}, but the live object had {leaf.was!r}. Sync, or fix Git, first"
    )


# --------------------------------------------------------------------------------------------
# Which Kustomization


def _labels(obj: Mapping[str, JSON] | None) -> dict[str, str]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _disabled(scene: Scene) -> bool:
    if varsub.disabled(dict(scene.live)) or varsub.disabled(dict(scene.git or {})):
        return True
    for directory in scene.chain:
        kust = scene.ctx.tree.kustomizations.get(directory)
        if kust is None:
            continue
        for fieldname in ("commonLabels", "commonAnnotations"):
            values = kust.data.get(fieldname)
            if isinstance(values, dict) and values.get(varsub.DISABLE_KEY) == varsub.DISABLED:
                return True
        entries = kust.data.get("labels")
        for entry in entries if isinstance(entries, list) else []:
            pairs = entry.get("pairs") if isinstance(entry, dict) else None
            if isinstance(pairs, dict) and pairs.get(varsub.DISABLE_KEY) == varsub.DISABLED:
                return True
    return False


def _resolve(scene: Scene, changes: list[_Leaf], out: kustomize.Routing) -> _Flux | None:
    """The Kustomization that substitutes the object's variables; ``None`` when none does
    (no Flux Kustomization of the repository builds it, it has no ``postBuild`` or no
    variables, or the object opts out)."""
    if _disabled(scene):
        return None
    ctx = scene.ctx
    everything = fluxvars.appliers(ctx)
    building = [a for a in everything if fluxvars.builds(ctx.tree, a, scene.source)]
    labels = _labels(scene.live)
    name = labels.get(fluxvars.NAME_LABEL)
    namespace = labels.get(fluxvars.NAMESPACE_LABEL)
    first = changes[0] if changes else None
    about = f"{_subject(first)}: " if first is not None else ""
    if name:
        named = fluxvars.named(everything, name, namespace)
        candidates = [a for a in named if a in building]
        who = f"Kustomization {namespace + '/' if namespace else ''}{name}"
        if not candidates:
            if named:
                paths = ", ".join(f"{a.describe()} builds {a.path or '.'}" for a in named)
                raise _Cannot(
                    f"{about}{scene.what} was applied by Flux {who}, but {paths}, not "
                    f"{scene.source}; which variables it substitutes cannot be known"
                )
            raise _Cannot(
                f"{about}{scene.what} was applied by Flux {who}, which is not in this "
                "repository, so where its variables are set, and whether it substitutes them, "
                "cannot be known"
            )
    else:
        candidates = building
        if not candidates:
            return None
    if len(candidates) > 1 and scene.kustomizations:
        same = [
            a
            for a in candidates
            if any(fluxvars.same_as_live(a, live) for live in scene.kustomizations)
        ]
        if len(same) == 1:
            candidates = same
            out.notes.append(
                f"{same[0].describe()} is the manifest of the Kustomization the cluster runs "
                "(the same spec.path and postBuild)"
            )
    if len(candidates) > 1:
        agreeing = [a for a in candidates if _agrees(ctx, a, changes) is not False]
        if len(agreeing) == 1:
            out.notes.append(
                f"{len(candidates)} Flux Kustomizations build {scene.source}; "
                f"{agreeing[0].describe()} is the one whose variables render what the live "
                "object had"
            )
            candidates = agreeing
    states = [_substituting(ctx, a) for a in candidates]
    if all(state is None for state in states):
        return None  # whichever applied it, nothing is substituted
    if len(candidates) > 1 and (changes or None in states):
        names = "; ".join(a.describe() for a in candidates)
        raise _Cannot(
            f"{about}{scene.what} may have been applied by any of {len(candidates)} Flux "
            f"Kustomizations, each with its own variables, and nothing tells them apart: "
            f"{names}; setting a variable in the wrong one would change another cluster"
        )
    # one Kustomization, or several that all substitute and only literals are written (an
    # escape is the same for each of them)
    applier, variables = candidates[0], states[0]
    assert variables is not None
    bad = varsub.bad_names(variables.values())
    if bad:
        raise _Cannot(
            f"{applier.describe()} sets variables Flux refuses ({', '.join(bad)}: names must "
            "match ^[_[:alpha:]][_[:alpha:][:digit:]]*$); its reconcile fails as it stands"
        )
    out.notes.extend(n for n in variables.notes if n not in out.notes)
    return _Flux(applier, variables)


def _substituting(ctx: fluxvars.Context, applier: fluxvars.Applier) -> fluxvars.Variables | None:
    """The Kustomization's variables, when it substitutes at all."""
    if applier.postbuild is None:
        return None
    variables = fluxvars.variables(ctx, applier)
    return variables if variables.active() else None


def _agrees(ctx: fluxvars.Context, applier: fluxvars.Applier, changes: list[_Leaf]) -> bool | None:
    """Whether the Kustomization's variables render what the live object had at every changed
    value (``None``: cannot tell)."""
    known = [leaf for leaf in changes if leaf.was is not MISSING]
    if not known:
        return None
    variables = fluxvars.variables(ctx, applier) if applier.postbuild is not None else None
    active = variables is not None and variables.active()
    for leaf in known:
        if variables is None or not active:
            rendered: JSON = leaf.git
        else:
            rendered = _rendered(variables, leaf.git)
            if rendered is MISSING:
                return None
        if not _same(rendered, leaf.was):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Setting a variable


def _place(scene: Scene, flux: _Flux, assignment: _Assignment, out: kustomize.Routing) -> None:
    variables = flux.variables
    who = flux.applier.describe()
    name = assignment.name
    leaf, variable = assignment.leaves[0]
    subject = f"{_subject(leaf)} is variable {name} of {who}"
    setter = variables.setter(name)
    above = [p for p in variables.places[setter + 1 :] if not p.complete]
    if above:
        where = (
            f"it is set in {variables.places[setter].label}, but"
            if setter >= 0
            else "no place breakglass can read sets it, and"
        )
        raise _Cannot(f"{subject}: {where} {above[-1].label} may set it: {above[-1].why}")
    # a variable set nowhere goes to `substitute`, which wins over every other place
    place = variables.places[setter] if setter >= 0 else variables.places[-1]
    if not place.editable:
        verb = "is set in" if setter >= 0 else "would be added to"
        raise _Cannot(f"{subject}: it {verb} {place.label}, which is not edited: {place.why}")
    ctx = scene.ctx
    if place.kind == "substitute":
        assert place.placement is not None
        routing = kustomize.route(
            place.placement,
            [SetOp((*fluxvars.SUBSTITUTE, name), assignment.text)],
            tree=ctx.tree,
            base=place.base or {},
            read=ctx.read,
        )
    elif place.placement is not None:
        routing = kustomize.route(
            place.placement,
            [SetOp(("data", name), assignment.text)],
            tree=ctx.tree,
            base=place.base or {},
            read=ctx.read,
        )
    else:
        assert place.generated is not None
        routing = generators.route(
            place.generated,
            [SetOp(("data", name), assignment.text)],
            tree=ctx.tree,
            read=ctx.read_exact,
        )
    if routing.cannot:
        raise _Cannot(f"{subject}, set in {place.label}: {routing.cannot}")
    for target, ops in routing.ops.items():
        for op in ops:
            out.add(target, op)
    out.new_files.update(routing.new_files)
    out.notes.extend(routing.notes)
    if setter >= 0:
        out.notes.append(
            f"{edit.format_path(leaf.path)} is `{leaf.git}` in Git, which {who} substitutes: "
            f"set {name} to {assignment.text!r} in {place.label}, where its value comes from"
        )
    else:
        given = (
            f"its default {variable.default!r} was used"
            if variable.default is not None
            else "Flux substituted an empty value"
        )
        out.notes.append(
            f"{edit.format_path(leaf.path)} is `{leaf.git}` in Git, and {who} set {name} "
            f"nowhere ({given}): added {name}: {assignment.text!r} to its "
            "spec.postBuild.substitute"
        )
    others = _other_uses(scene, flux, place, assignment)
    if others:
        shown = ", ".join(u.describe() for u in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        out.notes.append(
            f"{name} is also used by {shown}{more}; those values change with it on the next "
            "reconcile"
        )


def _other_uses(
    scene: Scene, flux: _Flux, place: fluxvars.Place, assignment: _Assignment
) -> list[fluxvars.Use]:
    """Values, other than the changed ones, that take the variable from the same place."""
    ctx = scene.ctx
    readers = [flux.applier]
    if place.kind != "substitute":
        for other in fluxvars.appliers(ctx):
            if other == flux.applier or other.postbuild is None:
                continue
            theirs = fluxvars.variables(ctx, other)
            setter = theirs.setter(assignment.name)
            if setter >= 0 and _same_place(theirs.places[setter], place):
                readers.append(other)
    edited = set(assignment.keys)
    found: list[fluxvars.Use] = []
    for reader in readers:
        for use in fluxvars.uses(ctx, reader, assignment.name):
            if (use.file, use.chunk, use.path) not in edited and use not in found:
                found.append(use)
    return found


def _same_place(a: fluxvars.Place, b: fluxvars.Place) -> bool:
    if a.placement is not None and b.placement is not None:
        return (a.placement.doc.path, a.placement.doc.chunk) == (
            b.placement.doc.path,
            b.placement.doc.chunk,
        )
    if a.generated is not None and b.generated is not None:
        return a.generated.creator == b.generated.creator
    return False

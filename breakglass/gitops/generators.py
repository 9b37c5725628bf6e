"""Kustomize generators: which ``configMapGenerator``/``secretGenerator`` renders a live object,
and where each of its keys, labels and annotations is written.

A generated ConfigMap has no manifest: its data is assembled from ``literals``, env files and
``files`` entries of a generator, perhaps extended by ``behavior: merge`` (or replaced by
``behavior: replace``) generators of overlays, and its name is the generator's name wrapped in
each kustomization's ``namePrefix``/``nameSuffix``, followed by ``-`` and a 10-character hash
of the content unless ``disableNameSuffixHash`` is set.  This module follows the same steps
as ``kustomize build``: it lists what each kustomization chain generates and under which name
and namespace, finds the one generator behind a live object, and routes each changed key to
the literal, env file line or file it comes from (or to a ``behavior: merge`` entry of the
overlay when the generator sits in a base other overlays share).  ``configmap_hash`` computes
the hash kustomize appends, so a note can name the object's next name.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from breakglass.gitops import index, kustomize, kvsources
from breakglass.gitops.edit import AddItemOp, Op, Path, RemoveOp, SetOp, format_path

JSON = Any
Loader = Callable[[str], str]

#: The generator field that produces each kind (core group only).
FIELDS: Final = {"ConfigMap": "configMapGenerator", "Secret": "secretGenerator"}
#: The shape of the suffix kustomize appends (its alphabet is narrower; the shape is enough).
_HASH_SUFFIX: Final = re.compile(r"^-[a-z0-9]{10}$")
_HASH_LETTERS: Final = str.maketrans("013ae", "ghkmt")
_GO_HTML_ESCAPES: Final = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_META: Final = ("labels", "annotations")


def _mapping(value: JSON) -> dict[str, JSON]:
    return value if isinstance(value, dict) else {}


def _strings(value: JSON) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class Entry:
    """One generator entry of one kustomization."""

    kustomization: str  # path of the kustomization file
    dir: str
    field: str  # configMapGenerator | secretGenerator
    position: int  # index in that list
    data: dict[str, JSON]

    @property
    def name(self) -> str:
        return str(self.data.get("name") or "")

    @property
    def behavior(self) -> str:
        return str(self.data.get("behavior") or "create")

    @property
    def options(self) -> dict[str, JSON]:
        return _mapping(self.data.get("options"))

    @property
    def path(self) -> Path:
        return (self.field, self.position)

    def describe(self) -> str:
        return f"{self.field} {self.name!r} in {self.kustomization}"


def entries_of(kust: kustomize.Kustomization, fieldname: str) -> list[Entry]:
    """The usable entries of one generator list of a kustomization."""
    found: list[Entry] = []
    items = kust.data.get(fieldname)
    for position, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
            found.append(Entry(kust.path, kust.dir, fieldname, position, item))
    return found


def _generator_options(tree: kustomize.Tree, entry: Entry) -> dict[str, JSON]:
    return _mapping(tree.kustomizations[entry.dir].data.get("generatorOptions"))


def _hashes(tree: kustomize.Tree, entry: Entry) -> bool:
    local = entry.options.get("disableNameSuffixHash") is True
    return not (local or _generator_options(tree, entry).get("disableNameSuffixHash") is True)


@dataclass(frozen=True)
class Generated:
    """An object one chain of kustomizations generates."""

    kind: str
    chain: tuple[str, ...]  # kustomization directories, root first; the creator's is last
    entries: tuple[Entry, ...]  # the creating entry, then merge/replace entries outward
    name: str  # as rendered, without the hash suffix
    namespace: str | None
    hashed: bool

    @property
    def creator(self) -> Entry:
        return self.entries[0]

    def describe(self) -> str:
        via = f" via {self.chain[0]}" if self.chain[0] != self.creator.dir else ""
        return f"{self.creator.describe()}{via}"

    def renders(self, live_name: str) -> bool:
        """Whether a live object of this name is this one (any hash of the right shape)."""
        if not self.hashed:
            return live_name == self.name
        base, hashed = live_name[: len(self.name)], live_name[len(self.name) :]
        return base == self.name and _HASH_SUFFIX.match(hashed) is not None


def _chains(tree: kustomize.Tree, directory: str, subpath: str) -> list[tuple[str, ...]]:
    """Kustomization chains (root first, ending at ``directory``) that build ``directory``."""
    full = [(*chain, directory) for chain in tree.chains(directory)] or [(directory,)]
    out: list[tuple[str, ...]] = []
    for chain in full:
        for pos, step in enumerate(chain):
            if index.under(step, subpath) and (
                pos == len(chain) - 1 or tree.may_start(chain[:-1], pos, directory)
            ):
                if chain[pos:] not in out:
                    out.append(chain[pos:])
                break
    return out


def _ns(value: JSON) -> str | None:
    return value if isinstance(value, str) and value and value != "default" else None


def _render(tree: kustomize.Tree, kind: str, creator: Entry, chain: tuple[str, ...]) -> Generated:
    """What ``chain`` makes of ``creator``: merge/replace entries met on the way out, the
    name and namespace.  Each level runs its generators, then sets its namespace, then wraps
    the name in its prefix and suffix; an overlay's merge/replace generator extends the object
    when its name and namespace are a pair the object has had (kustomize's "any id")."""
    name = creator.name
    ns = _ns(creator.data.get("namespace"))
    ids = [(name, ns)]
    entries = [creator]
    for level, directory in enumerate(reversed(chain)):
        kust = tree.kustomizations[directory]
        if level > 0:
            for entry in entries_of(kust, creator.field):
                wanted = (entry.name, _ns(entry.data.get("namespace")))
                if entry.behavior in ("merge", "replace") and wanted in ids:
                    entries.append(entry)
        if kust.namespace:
            ns = _ns(kust.namespace)
            ids.append((name, ns))
        name = kust.name_prefix + name + kust.name_suffix
        ids.append((name, ns))
    namespace = _rendered_ns(tree, creator, chain)
    return Generated(kind, chain, tuple(entries), name, namespace, _hashes(tree, creator))


def _rendered_ns(tree: kustomize.Tree, creator: Entry, chain: tuple[str, ...]) -> str | None:
    for directory in chain:
        namespace = tree.kustomizations[directory].namespace
        if namespace:
            return namespace
    value = creator.data.get("namespace")
    return value if isinstance(value, str) and value else None


def generated(tree: kustomize.Tree, kind: str, subpath: str = "") -> list[Generated]:
    """Every object of ``kind`` that a generator renders from within ``subpath``."""
    fieldname = FIELDS.get(kind)
    if fieldname is None:
        return []
    out: list[Generated] = []
    for directory, kust in sorted(tree.kustomizations.items()):
        for entry in entries_of(kust, fieldname):
            if entry.behavior != "create":
                continue
            for chain in _chains(tree, directory, subpath):
                out.append(_render(tree, kind, entry, chain))
    return out


@dataclass(frozen=True)
class Found:
    generated: Generated
    loose: bool  # nothing states the namespace; matched by name


@dataclass(frozen=True)
class Ambiguous:
    candidates: tuple[Generated, ...]


def find(
    tree: kustomize.Tree,
    *,
    group: str,
    kind: str,
    name: str,
    namespace: str | None,
    subpath: str = "",
) -> Found | Ambiguous | None:
    """The generator behind a live object, several when nothing tells them apart, or None."""
    if group != "":
        return None
    exact: list[Generated] = []
    loose: list[Generated] = []
    for gen in generated(tree, kind, subpath):
        if not gen.renders(name):
            continue
        if gen.namespace == namespace:
            exact.append(gen)
        elif gen.namespace is None:
            loose.append(gen)
    chosen = exact or loose
    if not chosen:
        return None
    if len(chosen) > 1 and namespace:
        by_path = [g for g in chosen if _names_namespace(g, namespace)]
        if len(by_path) == 1:
            chosen = by_path
    if len(chosen) > 1:
        return Ambiguous(tuple(chosen))
    return Found(chosen[0], loose=not exact)


def _names_namespace(gen: Generated, namespace: str) -> bool:
    return any(namespace in directory.split("/") for directory in gen.chain)


# --------------------------------------------------------------------------------------------
# The name hash


def _go_json(value: JSON) -> str:
    """``value`` encoded as Go's ``json.Marshal`` encodes a map of strings (sorted keys,
    no spaces, HTML characters escaped)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_HTML_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def configmap_hash(data: JSON, binary_data: JSON = None) -> str:
    """The suffix kustomize appends to a generated ConfigMap's name for this content.

    kustomize (5.x) hashes the JSON of ``kind``, ``data``, ``binaryData`` when present and a
    ``name`` that its field lookup always finds empty, so the suffix depends on the content
    only; it keeps 10 hex digits and swaps ``0 1 3 a e`` for ``g h k m t``.
    """
    encoded: dict[str, JSON] = {
        "kind": "ConfigMap",
        "name": "",
        "data": data if isinstance(data, dict) else "",
    }
    if isinstance(binary_data, dict):
        encoded["binaryData"] = binary_data
    digest = hashlib.sha256(_go_json(encoded).encode("utf-8")).hexdigest()
    return digest[:10].translate(_HASH_LETTERS)


# --------------------------------------------------------------------------------------------
# Where keys come from


@dataclass(frozen=True)
class Origin:
    """Where one key of a generated object is stated."""

    entry: Entry
    source: str  # literals | env | files
    position: int  # index in the entry's literals/files list (-1 for env files)
    file: str | None  # repository path of the env file or of the file
    text: str = ""  # the literal entry as written
    from_environment: bool = False  # an env line without "=": kustomize reads the environment


@dataclass
class Sources:
    """Every key a generated object gets, with the places that state it (in effect order)."""

    keys: dict[str, list[Origin]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # sources whose keys cannot be listed
    binary: set[str] = field(default_factory=set)  # keys of files that are not UTF-8 text


def _repo_path(entry: Entry, relative: str) -> str | None:
    path = posixpath.normpath(posixpath.join(entry.dir, relative))
    if path == ".." or path.startswith("../") or posixpath.isabs(relative):
        return None
    return path


def env_files(entry: Entry) -> list[str]:
    """The env files an entry reads (``envs`` and the older single ``env``), as written."""
    files = _strings(entry.data.get("envs"))
    single = entry.data.get("env")
    if isinstance(single, str) and single:
        files.insert(0, single)
    return files


def sources(gen: Generated, read: Loader) -> Sources:
    """Which literal, env file line or file states each key (``read``: exact file text)."""
    out = Sources()
    for entry in gen.entries:
        if entry.behavior == "replace":
            out = Sources()
        for relative in env_files(entry):
            path = _repo_path(entry, relative)
            try:
                text = read(path) if path is not None else None
            except (OSError, UnicodeDecodeError):
                text = None
            if path is None or text is None:
                out.unknown.append(f"env file {relative} of {entry.describe()}")
                continue
            for line in kvsources.env_lines(text):
                origin = Origin(entry, "env", -1, path, from_environment=line.value is None)
                out.keys.setdefault(line.key, []).append(origin)
        for position, literal in enumerate(_list(entry.data.get("literals"))):
            parsed = kvsources.parse_literal(literal) if isinstance(literal, str) else None
            if parsed is None:
                out.unknown.append(f"literal {literal!r} of {entry.describe()}")
                continue
            origin = Origin(entry, "literals", position, None, text=str(literal))
            out.keys.setdefault(parsed[0], []).append(origin)
        for position, source in enumerate(_list(entry.data.get("files"))):
            parsed = kvsources.parse_file_source(source) if isinstance(source, str) else None
            path = _repo_path(entry, parsed[1]) if parsed else None
            if parsed is None or path is None:
                out.unknown.append(f"file {source!r} of {entry.describe()}")
                continue
            try:
                read(path)
            except UnicodeDecodeError:
                out.binary.add(parsed[0])
            except OSError:
                out.unknown.append(f"file {source!r} of {entry.describe()} (directory or missing)")
                continue
            out.keys.setdefault(parsed[0], []).append(Origin(entry, "files", position, path))
    return out


def _list(value: JSON) -> list[JSON]:
    return value if isinstance(value, list) else []


# --------------------------------------------------------------------------------------------
# Routing a change


class _Cannot(Exception):
    pass


@dataclass
class _Router:
    gen: Generated
    tree: kustomize.Tree
    read: Loader
    src: Sources
    routing: kustomize.Routing
    texts: dict[str, str] = field(default_factory=dict)  # env/data files as edited so far
    originals: dict[str, str] = field(default_factory=dict)
    sets: list[tuple[kustomize.Target, Op]] = field(default_factory=list)
    removes: list[tuple[kustomize.Target, Path]] = field(default_factory=list)
    overlay_new: dict[str, JSON] = field(default_factory=dict)
    file_values: dict[str, str] = field(default_factory=dict)

    # -- places ---------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return self.gen.chain[0]

    def editable(self, entry: Entry) -> bool:
        return not self.tree.is_shared(entry.dir)

    def target(self, entry: Entry) -> kustomize.Target:
        return kustomize.Target(entry.kustomization, 0)

    def file_text(self, path: str) -> str:
        if path not in self.texts:
            self.texts[path] = self.originals[path] = self.read(path)
        return self.texts[path]

    def overlay_entry(self) -> Entry | None:
        """The overlay's own merge/replace entry for this object, if it has one."""
        for entry in reversed(self.gen.entries[1:]):
            if entry.dir == self.root:
                return entry
        return None

    def check_overlay(self, what: str, source: Entry) -> None:
        if self.tree.is_shared(self.root):
            raise _Cannot(
                f"{what} comes from {source.kustomization}, which several overlays share, and "
                f"so is {self.root}; there is no overlay of this object only to put the change in"
            )

    def last_editable(self) -> Entry | None:
        for entry in reversed(self.gen.entries):
            if self.editable(entry):
                return entry
        return None

    # -- data -----------------------------------------------------------------------------

    def set_data(self, key: str, value: str) -> None:
        origins = self.src.keys.get(key)
        if key in self.src.binary:
            raise _Cannot(f"data key {key!r} comes from a file that is not UTF-8 text")
        if not origins:
            self.add_data(key, value)
            return
        origin = origins[-1]
        if not self.editable(origin.entry):
            self.overlay_literal(key, value, origin.entry)
            return
        entry = origin.entry
        if origin.source == "literals":
            text = kvsources.render_literal(key, value, kvsources.literal_quote(origin.text))
            self.sets.append(
                (self.target(entry), SetOp((*entry.path, "literals", origin.position), text))
            )
        elif origin.source == "env":
            assert origin.file is not None
            if origin.from_environment:
                raise _Cannot(
                    f"data key {key!r} comes from {origin.file}, whose {key} line has no `=`: "
                    "kustomize takes the value from the environment it runs in"
                )
            if not kvsources.env_value_ok(value):
                raise _Cannot(
                    f"the new value of data key {key!r} has a line break, which the env file "
                    f"{origin.file} cannot hold"
                )
            self.texts[origin.file] = kvsources.env_set(self.file_text(origin.file), key, value)
        else:
            assert origin.file is not None
            self.file_text(origin.file)
            earlier = self.file_values.get(origin.file)
            if earlier is not None and earlier != value:
                raise _Cannot(f"{origin.file} holds several keys that now differ")
            self.file_values[origin.file] = value
            self.texts[origin.file] = value

    def add_data(self, key: str, value: str) -> None:
        if self.src.unknown:
            raise _Cannot(
                f"data key {key!r} is new to Git, but it may come from "
                f"{'; '.join(self.src.unknown)}, which breakglass cannot read"
            )
        entry = self.last_editable()
        if entry is None:
            self.overlay_literal(key, value, self.gen.creator)
            return
        envs = env_files(entry)
        literals = _list(entry.data.get("literals"))
        if not literals and len(envs) == 1 and kvsources.env_key_ok(key):
            path = _repo_path(entry, envs[0])
            if path is not None and kvsources.env_value_ok(value):
                self.texts[path] = kvsources.env_add(self.file_text(path), key, value)
                return
        literal = kvsources.render_literal(key, value)
        self.sets.append((self.target(entry), AddItemOp((*entry.path, "literals"), literal)))

    def overlay_literal(self, key: str, value: str, source: Entry) -> None:
        self.check_overlay(f"data key {key!r}", source)
        literal = kvsources.render_literal(key, value)
        mine = self.overlay_entry()
        if mine is None:
            self.overlay_new.setdefault("literals", []).append(literal)
            return
        for position, text in enumerate(_list(mine.data.get("literals"))):
            parsed = kvsources.parse_literal(text) if isinstance(text, str) else None
            if parsed is not None and parsed[0] == key:
                literal = kvsources.render_literal(key, value, kvsources.literal_quote(text))
                self.sets.append(
                    (self.target(mine), SetOp((*mine.path, "literals", position), literal))
                )
                return
        self.sets.append((self.target(mine), AddItemOp((*mine.path, "literals"), literal)))

    def remove_data(self, key: str) -> None:
        origins = self.src.keys.get(key, [])
        if not origins:
            if self.src.unknown:
                raise _Cannot(
                    f"data key {key!r} was removed, but it may come from "
                    f"{'; '.join(self.src.unknown)}, which breakglass cannot read"
                )
            return
        for origin in origins:
            if not self.editable(origin.entry):
                raise _Cannot(
                    f"data key {key!r} comes from {origin.entry.describe()}, which several "
                    "overlays share; a `behavior: merge` generator can add or change keys but "
                    "not remove them"
                )
        for origin in origins:
            entry = origin.entry
            if origin.source == "env":
                assert origin.file is not None
                self.texts[origin.file] = kvsources.env_remove(self.file_text(origin.file), key)
            else:
                self.removes.append(
                    (self.target(entry), (*entry.path, origin.source, origin.position))
                )
                if origin.source == "files":
                    self.routing.notes.append(
                        f"{origin.file} no longer feeds {entry.describe()}; the file is kept"
                    )

    # -- labels and annotations -----------------------------------------------------------

    def providers(self, which: str, key: str) -> list[tuple[Entry, Path, bool]]:
        """Who sets label/annotation ``key``, in effect order: (entry, path, editable).

        Every generator of a kustomization gets its ``generatorOptions``, and the entry's own
        ``options`` win over them; an overlay's generator wins over the base's.  Options
        every generator of a kustomization shares are edited only when it has one generator.
        """
        found: list[tuple[Entry, Path, bool]] = []
        for entry in self.gen.entries:
            if key in _mapping(entry.options.get(which)):
                path: Path = (*entry.path, "options", which, key)
                found.append((entry, path, self.editable(entry)))
            elif key in _mapping(_generator_options(self.tree, entry).get(which)):
                editable = self.alone(entry) and self.editable(entry)
                found.append((entry, ("generatorOptions", which, key), editable))
        return found

    def alone(self, entry: Entry) -> bool:
        """Whether ``entry`` is the only generator of its kustomization."""
        kust = self.tree.kustomizations[entry.dir]
        return sum(len(entries_of(kust, f)) for f in FIELDS.values()) == 1

    def keeps_in_generator_options(self, entry: Entry, which: str) -> bool:
        """Whether the kustomization keeps this generator's labels (or annotations) in
        ``generatorOptions`` rather than in the entry: it has no others to affect."""
        if isinstance(entry.options.get(which), dict) or not self.alone(entry):
            return False
        return isinstance(_generator_options(self.tree, entry).get(which), dict)

    def set_meta(self, which: str, key: str, value: str) -> None:
        found = self.providers(which, key)
        if found and found[-1][2]:
            entry, where, _ = found[-1]
            self.sets.append((self.target(entry), SetOp(where, value)))
            return
        # the entry's own options win over generatorOptions and over earlier generators
        mine = self.last_editable()
        order = self.gen.entries.index
        if mine is not None and (not found or order(mine) >= order(found[-1][0])):
            path: Path = (*mine.path, "options", which, key)
            if not found and self.keeps_in_generator_options(mine, which):
                path = ("generatorOptions", which, key)
            self.sets.append((self.target(mine), SetOp(path, value)))
            return
        self.check_overlay(f"{which[:-1]} {key!r}", found[-1][0] if found else self.gen.creator)
        mine = self.overlay_entry()
        if mine is None:
            self.overlay_new.setdefault("options", {}).setdefault(which, {})[key] = value
            return
        self.sets.append((self.target(mine), SetOp((*mine.path, "options", which, key), value)))

    def remove_meta(self, which: str, key: str) -> None:
        for entry, _, editable in self.providers(which, key):
            if not editable:
                raise _Cannot(
                    f"{which[:-1]} {key!r} comes from {entry.describe()} (or the "
                    "generatorOptions of its kustomization), which other overlays or generators "
                    "share; an overlay's generator can add or change it but not remove it"
                )
        for entry, path, _ in self.providers(which, key):
            self.removes.append((self.target(entry), path))

    # -- the outcome ----------------------------------------------------------------------

    def finish(self) -> None:
        for target, op in self.sets:
            self.routing.add(target, op)
        # removals last, later list items first, so no index moves before it is used
        for target, path in sorted(self.removes, key=lambda tp: _rank(tp[1]), reverse=True):
            self.routing.add(target, RemoveOp(path))
        if self.overlay_new:
            creator = self.gen.creator
            entry: dict[str, JSON] = {"name": creator.name}
            if isinstance(creator.data.get("namespace"), str):
                entry["namespace"] = creator.data["namespace"]  # kustomize matches name and ns
            entry.update({"behavior": "merge", **self.overlay_new})
            kust = self.tree.kustomizations[self.root]
            self.routing.add(
                kustomize.Target(kust.path, 0), AddItemOp((self.gen.creator.field,), entry)
            )
            self.routing.notes.append(
                f"{self.gen.creator.kustomization} is shared with other overlays; wrote the "
                f"change as a `behavior: merge` {self.gen.creator.field} entry in {kust.path}"
            )
        for file, text in self.texts.items():
            if text != self.originals.get(file):
                self.routing.new_files[file] = text


def _rank(path: Path) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, s, "") if isinstance(s, int) else (1, 0, str(s)) for s in path)


def route(
    gen: Generated, ops: Sequence[Op], *, tree: kustomize.Tree, read: Loader
) -> kustomize.Routing:
    """Send each operation on a generated object to the generator source that states it.

    ``read`` returns a repository file's exact text.  Data keys go to their literal, env file
    line or file; new keys to the generator's literals (or its single env file when it has no
    literals); labels and annotations to ``options`` (or the ``generatorOptions`` they come
    from); values from a base shared by other overlays to a ``behavior: merge`` entry of the
    overlay.  Anything else is refused in ``Routing.cannot``.
    """
    routing = kustomize.Routing()
    router = _Router(gen, tree, read, sources(gen, read), routing)
    try:
        for op in ops:
            _route_one(router, op)
        router.finish()
    except _Cannot as cannot:
        routing.cannot = str(cannot)
    return routing


def _route_one(router: _Router, op: Op) -> None:
    path = op.path
    if router.gen.kind == "Secret" and path and path[0] in ("data", "stringData"):
        raise _Cannot("Secret values are never written to Git in the clear")
    if len(path) == 2 and path[0] == "data" and isinstance(path[1], str):
        if isinstance(op, RemoveOp):
            router.remove_data(path[1])
        elif isinstance(op, SetOp) and isinstance(op.value, str):
            router.set_data(path[1], op.value)
        else:
            raise _Cannot(f"data key {path[1]!r} must be a string")
        return
    if len(path) == 3 and path[0] == "metadata" and path[1] in _META:
        which, key = str(path[1]), str(path[2])
        if which == "labels" and kustomize.route_labels(
            op, router.gen.chain, router.tree, router.routing
        ):
            if router.routing.cannot:
                raise _Cannot(router.routing.cannot)
            return
        if which == "annotations":
            for directory in router.gen.chain:
                kust = router.tree.kustomizations[directory]
                if key in _mapping(kust.data.get("commonAnnotations")):
                    raise _Cannot(
                        f"annotation {key!r} comes from commonAnnotations in {kust.path}, "
                        "which annotates every object there"
                    )
        if isinstance(op, RemoveOp):
            router.remove_meta(which, key)
        elif isinstance(op, SetOp) and isinstance(op.value, str):
            router.set_meta(which, key, op.value)
        else:
            raise _Cannot(f"{format_path(path)} must be a string")
        return
    raise _Cannot(f"{format_path(path)} has no place in a {router.gen.creator.field} entry")

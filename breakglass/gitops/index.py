"""An index of every Kubernetes document in a Git checkout, by group, kind and name.

Locating the manifest that owns a live object starts here.  Reading a file into index
entries is a pure function of its path and text (``index_text``); ``Index`` is the thin edge
that walks the checkout, keeps one entry per file keyed by modification time and size, and on
``refresh()`` re-reads only files that changed, appeared or went away, so a worker can keep
one index per repository across many backfills.

Reading the checkout is careful about hostile content: symlinks are never followed out of the
repository, files above a size cap are skipped with a note, and a file that is not valid YAML
is reported with its line while the search goes on.  Files containing Go templates (Helm
chart sources) and YAML that is not a Kubernetes object are skipped silently.

``.json`` files are indexed too (``jsonfile``): one object per file, or the items of a
``List``.  One that does not name ``apiVersion`` and ``kind`` (``package.json``, a dashboard)
is skipped without being parsed; one that does but is not valid JSON is reported with its
line and column.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final

import yaml

from breakglass.gitops import jsonfile, roundtrip
from breakglass.gitops.roundtrip import YamlError

__all__ = ["DocRef", "FileEntry", "Index", "YamlError", "index_text", "load_plain"]

JSON = Any

#: Files bigger than this are not read (a note says so).
MAX_FILE_BYTES: Final = 2 * 1024 * 1024

#: The file names kustomize looks for in a directory.
KUSTOMIZATION_NAMES: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_SUFFIXES: Final = (".yaml", ".yml", jsonfile.SUFFIX)
#: How much of an oversized ``.json`` file is read to tell whether it may be a manifest.
_JSON_SNIFF_BYTES: Final = 64 * 1024
_SKIP_DIRS: Final = frozenset({".git", "node_modules", "vendor"})

try:  # the C parser is much faster; the pure one is the same grammar
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class DocRef:
    """One Kubernetes document: where it is and what it names."""

    path: str  # repository-relative, "/"-separated
    chunk: int  # position among the file's ``---``-separated chunks
    line: int  # 1-based line the document starts on
    api_version: str
    kind: str
    name: str
    namespace: str | None

    @property
    def group(self) -> str:
        return group_of(self.api_version)

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name} ({self.path}:{self.line})"


def group_of(api_version: str) -> str:
    """``apps/v1`` → ``apps``; ``v1`` → ``""`` (the core group)."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


@dataclass(frozen=True)
class FileEntry:
    """What one file contributed to the index, and the stat it was read at."""

    path: str
    mtime_ns: int
    size: int
    docs: tuple[DocRef, ...] = ()
    kustomization: bool = False
    problems: tuple[str, ...] = ()


def is_kustomization(path: str) -> bool:
    return PurePosixPath(path).name in KUSTOMIZATION_NAMES


def index_text(path: str, text: str) -> tuple[tuple[DocRef, ...], tuple[str, ...]]:
    """The Kubernetes documents of one file, and problems worth reporting (``path:line: …``)."""
    if jsonfile.is_json(path):
        return _index_json(path, text)
    if "{{" in text and "}}" in text:
        return (), ()
    docs: list[DocRef] = []
    problems: list[str] = []
    for number, chunk in enumerate(roundtrip.split_documents(text)):
        try:
            data = yaml.load(chunk.text, Loader=_Loader)  # noqa: S506 - a safe loader
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = chunk.line + (mark.line if mark is not None else 0) + 1
            line = min(line, chunk.line + max(chunk.text.count("\n"), 1))
            problems.append(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}")
            continue
        except (yaml.YAMLError, RecursionError) as exc:
            problems.append(f"{path}:{chunk.line + 1}: invalid YAML: {type(exc).__name__}")
            continue
        ref = _doc_ref(path, number, chunk, data)
        if ref is not None:
            docs.append(ref)
    return tuple(docs), tuple(problems)


def _index_json(path: str, text: str) -> tuple[tuple[DocRef, ...], tuple[str, ...]]:
    """The objects of a ``.json`` file; a broken one is reported only if it names
    ``apiVersion`` and ``kind`` and is not a Go template."""
    if not jsonfile.looks_like_manifest(text):
        return (), ()
    try:
        found = jsonfile.documents(text)
    except jsonfile.JsonError as exc:
        if "{{" in text and "}}" in text:
            return (), ()
        return (), (f"{path}:{exc.line or 1}:{exc.column or 1}: invalid JSON: {exc}",)
    docs: list[DocRef] = []
    for doc in found:
        identity = _identity(doc.data)
        if identity is not None:
            docs.append(DocRef(path, doc.chunk, doc.line, *identity))
    return tuple(docs), ()


def _doc_ref(path: str, number: int, chunk: roundtrip.Chunk, data: JSON) -> DocRef | None:
    identity = _identity(data)
    if identity is None:
        return None
    line = chunk.line
    for offset, text in enumerate(chunk.text.splitlines()):
        stripped = text.strip()
        if stripped and not stripped.startswith(("#", "---", "%")):
            line = chunk.line + offset
            break
    return DocRef(path, number, line + 1, *identity)


def _identity(data: JSON) -> tuple[str, str, str, str | None] | None:
    """``(apiVersion, kind, name, namespace)`` of a document naming a Kubernetes object."""
    if not isinstance(data, dict):
        return None
    api_version, kind, meta = data.get("apiVersion"), data.get("kind"), data.get("metadata")
    if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(meta, dict)):
        return None
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not name:
        return None
    return api_version, kind, name, namespace if isinstance(namespace, str) and namespace else None


@dataclass
class RefreshStats:
    """What one ``refresh()`` did."""

    files_seen: int = 0
    files_read: int = 0
    files_removed: int = 0


@dataclass
class Index:
    """The documents of one checkout; call ``refresh()`` after the files may have changed."""

    root: Path
    max_file_bytes: int = MAX_FILE_BYTES
    files: dict[str, FileEntry] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _by_kind: dict[tuple[str, str], dict[str, DocRef]] = field(default_factory=dict)
    _by_name: dict[tuple[str, str, str], dict[str, DocRef]] = field(default_factory=dict)
    _skipped: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, root: str | os.PathLike[str], **kwargs: Any) -> Index:
        index = cls(Path(root).resolve(), **kwargs)
        index.refresh()
        return index

    # -- queries ------------------------------------------------------------------------

    def docs_of_kind(self, group: str, kind: str) -> list[DocRef]:
        """Every document of one group and kind, in path order."""
        found = self._by_kind.get((group, kind), {})
        return [found[k] for k in sorted(found)]

    def docs_named(self, group: str, kind: str, names: Iterable[str]) -> list[DocRef]:
        """Documents of one group and kind whose ``metadata.name`` is one of ``names``, in the
        order ``docs_of_kind`` lists them (a dictionary lookup per name, not a scan)."""
        found: dict[str, DocRef] = {}
        for name in names:
            found.update(self._by_name.get((group, kind, name), {}))
        return [found[k] for k in sorted(found)]

    def all_docs(self) -> Iterator[DocRef]:
        for entry in self.files.values():
            yield from entry.docs

    def kustomization_files(self) -> list[str]:
        return sorted(p for p, e in self.files.items() if e.kustomization)

    def problems(self) -> list[str]:
        out: list[str] = []
        for path in sorted(self.files):
            out.extend(self.files[path].problems)
        return out + sorted(self._skipped.values())

    def read(self, path: str) -> str:
        """The text of a repository file, refusing anything that leaves the repository."""
        full = self.resolve(path)
        if not full.is_file():
            raise FileNotFoundError(path)
        if full.stat().st_size > self.max_file_bytes:
            raise OSError(f"{path} is larger than {self.max_file_bytes} bytes")
        return full.read_text(encoding="utf-8")

    def read_exact(self, path: str) -> str:
        """A repository file's text exactly as stored (``\r\n`` kept; not UTF-8 raises
        ``UnicodeDecodeError``), for files that are data rather than YAML."""
        full = self.resolve(path)
        if not full.is_file():
            raise FileNotFoundError(path)
        if full.stat().st_size > self.max_file_bytes:
            raise OSError(f"{path} is larger than {self.max_file_bytes} bytes")
        return full.read_bytes().decode("utf-8")

    def resolve(self, path: str) -> Path:
        """The absolute path of ``path``, which must stay inside the repository."""
        full = (self.root / path).resolve()
        if full != self.root and self.root not in full.parents:
            raise PermissionError(f"{path} is outside the repository")
        return full

    def exists(self, path: str) -> bool:
        try:
            return self.resolve(path).exists()
        except PermissionError:
            return False

    # -- refreshing -----------------------------------------------------------------------

    def refresh(self) -> RefreshStats:
        """Re-read files that changed since the last refresh (all of them the first time)."""
        stats = RefreshStats()
        seen: set[str] = set()
        self._skipped = {}
        for rel, info in self._walk():
            stats.files_seen += 1
            seen.add(rel)
            old = self.files.get(rel)
            if old is not None and (old.mtime_ns, old.size) == (info.st_mtime_ns, info.st_size):
                continue
            stats.files_read += 1
            self._forget(rel)
            self._add(self._read_entry(rel, info))
        for rel in [p for p in self.files if p not in seen]:
            stats.files_removed += 1
            self._forget(rel)
        return stats

    def refresh_paths(self, paths: Iterable[str]) -> RefreshStats:
        """Re-read only ``paths`` (repository-relative), e.g. ``git diff --name-only`` after a
        fetch: the same outcome as ``refresh()`` when nothing else changed, without a walk.

        A path that is gone is forgotten; one that the walk would not index (wrong suffix,
        under a skipped, hidden or symlinked directory, a symlink out of the repository) is
        ignored or noted exactly as ``refresh()`` would.
        """
        stats = RefreshStats()
        for raw in paths:
            rel = PurePosixPath(raw.strip("/")).as_posix()
            stats.files_seen += 1
            found = self._stat_one(rel)
            old = self.files.get(rel)
            if found is None:
                if old is not None:
                    stats.files_removed += 1
                    self._forget(rel)
                continue
            if old is not None and (old.mtime_ns, old.size) == (found.st_mtime_ns, found.st_size):
                continue
            stats.files_read += 1
            self._forget(rel)
            self._add(self._read_entry(rel, found))
        return stats

    def _stat_one(self, rel: str) -> os.stat_result | None:
        """The stat ``_walk`` would yield for ``rel``, or ``None`` if it would not yield it."""
        parts = rel.split("/")
        name = parts[-1]
        if rel in ("", ".") or ".." in parts:
            return None
        if not (name.endswith(_SUFFIXES) or name == "Kustomization"):
            return None
        here = str(self.root)
        for part in parts[:-1]:
            if part in _SKIP_DIRS or part.startswith("."):
                return None
            here = os.path.join(here, part)
            if os.path.islink(here) or not os.path.isdir(here):
                return None
        full = os.path.join(here, name)
        self._skipped.pop(rel, None)
        try:
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                target = Path(full).resolve()
                if self.root not in target.parents:
                    self._skipped[rel] = f"{rel}: symlink leads outside the repository"
                    return None
                info = target.stat()
            if stat.S_ISDIR(info.st_mode) or not stat.S_ISREG(info.st_mode):
                return None
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._skipped[rel] = f"{rel}: cannot read ({exc.strerror})"
            return None
        return info

    def _walk(self) -> Iterator[tuple[str, os.stat_result]]:
        """Candidate files (repository-relative path, stat), directory by directory in name
        order, a directory's files before its subdirectories.

        ``os.scandir`` with plain string paths: at 50,000 documents a refresh is one ``lstat``
        per file and little else, which is what makes an unchanged refresh cheap.
        """
        yield from self._walk_dir(str(self.root), "")

    def _walk_dir(self, path: str, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        subdirs: list[os.DirEntry[str]] = []
        for entry in entries:
            name = entry.name
            rel = prefix + name
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if name in _SKIP_DIRS or name.startswith("."):
                    continue
                if entry.is_symlink():
                    self._skipped[rel] = f"{rel}: symlinked directory not followed"
                    continue
                subdirs.append(entry)
                continue
            if not (name.endswith(_SUFFIXES) or name == "Kustomization"):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    target = Path(entry.path).resolve()
                    if self.root not in target.parents:
                        self._skipped[rel] = f"{rel}: symlink leads outside the repository"
                        continue
                    info = target.stat()
                if not stat.S_ISREG(info.st_mode):
                    continue
            except OSError as exc:
                self._skipped[rel] = f"{rel}: cannot read ({exc.strerror})"
                continue
            yield rel, info
        for sub in subdirs:
            yield from self._walk_dir(sub.path, f"{prefix}{sub.name}/")

    def _read_entry(self, rel: str, info: os.stat_result) -> FileEntry:
        kustomization = is_kustomization(rel)
        base = FileEntry(rel, info.st_mtime_ns, info.st_size, kustomization=kustomization)
        if info.st_size > self.max_file_bytes:
            if jsonfile.is_json(rel) and not self._may_be_manifest(rel):
                return FileEntry(rel, info.st_mtime_ns, info.st_size)
            note = f"{rel}: skipped, {info.st_size} bytes is above the {self.max_file_bytes} cap"
            return FileEntry(rel, info.st_mtime_ns, info.st_size, problems=(note,))
        try:
            text = (self.root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return FileEntry(rel, info.st_mtime_ns, info.st_size, problems=(f"{rel}: {exc}",))
        if kustomization:
            return base
        docs, problems = index_text(rel, text)
        return FileEntry(rel, info.st_mtime_ns, info.st_size, docs=docs, problems=problems)

    def _may_be_manifest(self, rel: str) -> bool:
        """Whether the start of an oversized ``.json`` file names ``apiVersion`` and ``kind``
        (a large ``package-lock.json`` or dashboard is not worth a note)."""
        try:
            with open(self.root / rel, "rb") as handle:
                start = handle.read(_JSON_SNIFF_BYTES).decode("utf-8", errors="replace")
        except OSError:
            return True
        return jsonfile.looks_like_manifest(start)

    def _add(self, entry: FileEntry) -> None:
        self.files[entry.path] = entry
        for doc in entry.docs:
            key = _doc_key(doc)
            self._by_kind.setdefault((doc.group, doc.kind), {})[key] = doc
            self._by_name.setdefault((doc.group, doc.kind, doc.name), {})[key] = doc

    def _forget(self, rel: str) -> None:
        entry = self.files.pop(rel, None)
        if entry is None:
            return
        for doc in entry.docs:
            key = _doc_key(doc)
            bucket = self._by_kind.get((doc.group, doc.kind))
            if bucket is not None:
                bucket.pop(key, None)
            named = self._by_name.get((doc.group, doc.kind, doc.name))
            if named is not None:
                named.pop(key, None)
                if not named:
                    del self._by_name[(doc.group, doc.kind, doc.name)]


def _doc_key(doc: DocRef) -> str:
    return f"{doc.path}\0{doc.chunk:06d}"


def under(path: str, prefix: str) -> bool:
    """Whether repository path ``path`` is ``prefix`` or inside it (``""`` is the root)."""
    prefix = prefix.strip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def limited_copy(value: JSON, budget: int = roundtrip.NODE_BUDGET) -> JSON:
    """A deep copy of parsed data that refuses to expand past ``budget`` values (alias bombs)."""
    left = [budget]

    def copy(v: JSON) -> JSON:
        left[0] -= 1
        if left[0] < 0:
            raise roundtrip.YamlError("document expands to too many values (alias limit reached)")
        if isinstance(v, dict):
            return {str(k): copy(x) for k, x in v.items()}
        if isinstance(v, list):
            return [copy(x) for x in v]
        return v

    return copy(value)


def load_plain(path: str, text: str) -> list[JSON]:
    """Every document of a small file (kustomization, patch) as bounded plain data."""
    out: list[JSON] = []
    for chunk in roundtrip.split_documents(text):
        try:
            data = yaml.load(chunk.text, Loader=_Loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = chunk.line + (mark.line if mark is not None else 0) + 1
            raise roundtrip.YamlError(f"{path}:{line}: invalid YAML", line=line) from None
        if data is not None:
            out.append(limited_copy(data))
    return out

"""JSON manifests: their documents, and edits that keep the layout the file already has.

Argo CD directory applications and kustomize ``resources:`` accept ``.json`` manifests, which
teams generate with jsonnet, CDK8s or ``kubectl get -o json``.  The YAML splice editor must
not touch them (it would write YAML syntax into the file), and JSON has no comments to keep,
so a JSON file is edited as data: parsed, changed with ``edit.apply_plain``, and serialised
again in the layout learnt from the file — indentation (a number of spaces, a tab, or one
line), separators, escaped or raw non-ASCII, Go's ``\\u003c``-style escapes, and what follows
the value (a final newline or nothing).  A file written by ``json.dumps``, ``JSON.stringify``,
``jq`` or ``kubectl`` is reproduced exactly, so only the changed lines differ.  For any other
layout the change (the unchanged and the changed document serialised alike, compared line by
line) is applied to the file where the lines it replaces are there verbatim, or else merged
so that the stretches it leaves alone keep their bytes; only as a last resort is the whole
file re-serialised, and ``Edited.note`` says when lines besides the change were rewritten.
Every candidate must read back as *Git document + delta*, key order included, or the next
is tried; when none does, ``EditError`` is raised and nothing is written.

A file holds one document, or, when its ``kind`` ends in ``List`` and it has ``items`` (what
kustomize and Argo CD flatten), one document per item, numbered like the ``---`` chunks of
a YAML file.  Everything here is a pure function of the text.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from breakglass.gitops import edit
from breakglass.gitops.edit import EditError, Op, RemoveOp

__all__ = [
    "Document",
    "Edited",
    "JsonError",
    "Layout",
    "detect_layout",
    "document",
    "documents",
    "dump",
    "edit_documents",
    "is_json",
    "is_list",
    "load",
    "looks_like_manifest",
    "remove_document",
    "render_new",
]

JSON = Any

SUFFIX: Final = ".json"
_BOM: Final = "\ufeff"
_SPACE: Final = " \t\n\r"
_SKIP: Final = re.compile(r"[ \t\n\r]*")
#: A ``\u`` escape (four hex digits) of a character outside ASCII (what ``ensure_ascii`` writes).
_ESCAPED_NON_ASCII: Final = re.compile(
    r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})"
)
_RAW_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]")
#: ``<``, ``>`` and ``&`` as Go's encoding/json escapes them (``kubectl get -o json``).
_HTML_ESCAPED: Final = re.compile(r"\\u00(?:3[cCeE]|26)")
_HTML_RAW: Final = re.compile(r"[<>&]")
#: A comma between two values on one line, and whether a space follows it.
_ONE_LINE_COMMA: Final = re.compile(r'[\]}"0-9el],( ?)["{\[0-9tfn-]')
#: Files longer than this are not merged line by line; the change re-serialises them whole.
_MERGE_LINES: Final = 20_000


class JsonError(ValueError):
    """Text that is not one JSON value; ``line`` and ``column`` are 1-based, or 0."""

    def __init__(self, message: str, *, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def is_json(path: str) -> bool:
    """Whether a repository file is read and written as JSON (by its name)."""
    return path.endswith(SUFFIX)


def looks_like_manifest(text: str) -> bool:
    """Whether a ``.json`` file may be a Kubernetes object: it names ``apiVersion`` and
    ``kind``.  ``package.json``, ``tsconfig.json`` or a dashboard does not, and is skipped
    without being parsed (or reported when it is broken)."""
    return '"apiVersion"' in text and '"kind"' in text


# --------------------------------------------------------------------------------------------
# Reading


def _unique_keys(pairs: list[tuple[str, JSON]]) -> dict[str, JSON]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonError(f"duplicate key {key!r}")
            seen.add(key)
    return out


def load(text: str, *, strict: bool = False) -> JSON:
    """The value of a JSON file (a leading byte-order mark allowed).

    ``strict`` refuses duplicate keys, which a re-serialised file could not keep.
    """
    body = text[1:] if text.startswith(_BOM) else text
    try:
        return json.loads(body, object_pairs_hook=_unique_keys if strict else None)
    except JsonError:
        raise
    except json.JSONDecodeError as exc:
        raise JsonError(exc.msg, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise JsonError("nested too deeply") from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise JsonError(str(exc)) from None


def is_list(data: JSON) -> bool:
    """Whether ``data`` is a ``List`` (``kind`` ending in ``List``, with an ``items`` list)."""
    if not isinstance(data, dict):
        return False
    kind = data.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list)


@dataclass(frozen=True)
class Document:
    """One document of a JSON file: its number, the 1-based line it starts on, its data."""

    chunk: int
    line: int
    data: JSON


def documents(text: str) -> list[Document]:
    """The documents of a JSON file: the value itself, or each item of a ``List``."""
    data = load(text)
    if not is_list(data):
        return [Document(0, _line_of(text, _skip(text, _start(text))), data)]
    items = data["items"]
    offsets = _item_offsets(text)
    if len(offsets) != len(items):  # pragma: no cover - the walk follows json.loads
        offsets = [_skip(text, _start(text))] * len(items)
    return [Document(n, _line_of(text, offsets[n]), item) for n, item in enumerate(items)]


def document(text: str, chunk: int) -> JSON:
    """The data of document ``chunk`` of a JSON file."""
    data = load(text)
    found, value = edit.plain_get(data, _prefix(data, chunk))
    if not found:
        raise JsonError(f"the file has no document {chunk}")
    return value


def _prefix(data: JSON, chunk: int) -> edit.Path:
    if is_list(data):
        return ("items", chunk)
    if chunk != 0:
        raise JsonError(f"the file has no document {chunk}")
    return ()


def _start(text: str) -> int:
    return 1 if text.startswith(_BOM) else 0


def _skip(text: str, pos: int) -> int:
    match = _SKIP.match(text, pos)
    return match.end() if match else pos


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _item_offsets(text: str) -> list[int]:
    """Where each item of the top-level ``items`` array starts (the last ``items`` key wins,
    as in ``json.loads``); empty if the walk does not get through."""
    decoder = json.JSONDecoder()
    found: list[int] = []
    try:
        pos = _skip(text, _start(text))
        if text[pos] != "{":
            return []
        pos = _skip(text, pos + 1)
        while text[pos] == '"':
            key, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, _skip(text, pos) + 1)  # past the colon
            if key == "items" and text[pos] == "[":
                found = []
                pos = _skip(text, pos + 1)
                while text[pos] != "]":
                    found.append(pos)
                    _, pos = decoder.raw_decode(text, pos)
                    pos = _skip(text, pos)
                    if text[pos] == ",":
                        pos = _skip(text, pos + 1)
                pos += 1
            else:
                _, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            if text[pos] == ",":
                pos = _skip(text, pos + 1)
    except (IndexError, ValueError):
        return []
    return found


# --------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class Layout:
    """How a JSON file is laid out, learnt from the file itself."""

    indent: int | str | None = 2  # spaces per level, "\t", or None for one line
    item_sep: str = ","
    key_sep: str = ": "
    ascii: bool = False  # non-ASCII characters written as \u escapes (four hex digits)
    html: bool = False  # <, > and & written as \u003c, \u003e, \u0026 (Go's encoding/json)
    head: str = ""  # what comes before the value: a byte-order mark, blank lines
    tail: str = "\n"  # what follows the value: the final newline, or nothing

    def describe(self) -> str:
        if self.indent is None:
            return "everything on one line"
        if self.indent == "\t":
            return "tab indentation"
        return f"{self.indent}-space indentation"


def detect_layout(text: str) -> Layout:
    """The layout of a JSON file, as ``json.dumps``, ``JSON.stringify``, ``jq`` or Go would
    have been asked for it."""
    body = text.lstrip(_BOM + _SPACE)
    head = text[: len(text) - len(body)]
    value = body.rstrip(_SPACE)
    tail = body[len(value) :]
    indent: int | str | None = None
    item_sep = ","
    if "\n" in value:
        indent = 2
        for line in value.split("\n")[1:]:
            if line.strip():
                lead = line[: len(line) - len(line.lstrip(" \t"))]
                indent = "\t" if lead.startswith("\t") else len(lead)
                break
        if ", \n" in value:
            item_sep = ", "
    else:
        commas = _ONE_LINE_COMMA.findall(value)
        if commas and commas.count(" ") * 2 > len(commas):
            item_sep = ", "
    spaced = value.count('": ')
    key_sep = ": " if spaced * 2 >= value.count('":') else ":"
    raw = _RAW_NON_ASCII.search(value) is not None
    return Layout(
        indent=indent,
        item_sep=item_sep,
        key_sep=key_sep,
        ascii=not raw and _ESCAPED_NON_ASCII.search(value) is not None,
        html=_HTML_RAW.search(value) is None and _HTML_ESCAPED.search(value) is not None,
        head=head,
        tail=tail,
    )


def dump(value: JSON, layout: Layout) -> str:
    """``value`` as a whole file in ``layout``."""
    text = json.dumps(
        value,
        indent=layout.indent,
        separators=(layout.item_sep, layout.key_sep),
        ensure_ascii=layout.ascii,
    )
    if layout.html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return layout.head + text + layout.tail


def render_new(value: JSON, layout: Layout) -> str:
    """A new file holding ``value``, laid out like a sibling file (``layout``)."""
    return dump(value, replace(layout, head=""))


# --------------------------------------------------------------------------------------------
# Editing


@dataclass(frozen=True)
class Edited:
    """A file's new text, and a note when lines besides the change were re-serialised."""

    text: str
    note: str | None = None


def edit_documents(text: str, ops: Mapping[int, Sequence[Op]], *, path: str) -> Edited:
    """The file with each document's operations applied (``ops`` by document number)."""
    original = _load_for_edit(text, path)
    expected = copy.deepcopy(original)
    for chunk, chunk_ops in sorted(ops.items()):
        try:
            prefix = _prefix(original, chunk)
        except JsonError as exc:
            raise EditError(f"{path}: {exc}") from None
        found, doc = edit.plain_get(expected, prefix)
        if not found:
            raise EditError(f"{path}: the file has no document {chunk}")
        changed = edit.apply_plain(doc, chunk_ops)
        if prefix:
            expected["items"][chunk] = changed
        else:
            expected = changed
    return _rewrite(text, original, expected, path)


def remove_document(text: str, chunk: int, *, path: str) -> Edited:
    """The file without item ``chunk`` of its ``List``."""
    original = _load_for_edit(text, path)
    if not is_list(original) or not 0 <= chunk < len(original["items"]):
        raise EditError(f"{path}: the file has no list item {chunk}")
    return _rewrite(text, original, edit.apply_plain(original, [RemoveOp(("items", chunk))]), path)


def _load_for_edit(text: str, path: str) -> JSON:
    try:
        return load(text, strict=True)
    except JsonError as exc:
        where = f"{path}:{exc.line}:{exc.column}" if exc.line else path
        raise EditError(f"{where}: {exc}") from None


def _same(a: JSON, b: JSON) -> bool:
    """Equal as JSON, types and key order included (``1`` is not ``1.0`` nor ``true``)."""
    return json.dumps(a) == json.dumps(b)


def _reads_back(text: str, expected: JSON) -> bool:
    try:
        return _same(load(text, strict=True), expected)
    except JsonError:
        return False


def _rewrite(text: str, original: JSON, expected: JSON, path: str) -> Edited:
    if _same(original, expected):
        return Edited(text)
    layout = detect_layout(text)
    spliced = _splice_scalars(text, original, expected, layout)
    if spliced is not None and _reads_back(spliced, expected):
        return Edited(spliced)
    before, after = dump(original, layout), dump(expected, layout)
    for candidate, rewritten, whole in _candidates(text, before, after):
        if not _reads_back(candidate, expected):
            continue
        if not rewritten:
            return Edited(candidate)
        if whole:
            return Edited(
                candidate,
                f"{path}: re-serialised as a whole with {layout.describe()}; its layout could "
                "not be kept around the change",
            )
        return Edited(
            candidate,
            f"{path}: the JSON layout around the change is not one breakglass reproduces "
            f"(hand-aligned, mixed indentation, values kept on one line, unusual escapes); "
            f"{rewritten} line(s) there were re-serialised with {layout.describe()}, the rest "
            "of the file is unchanged",
        )
    raise EditError(f"{path}: the edited JSON did not read back as the intended document")


def _splice_scalars(text: str, original: JSON, expected: JSON, layout: Layout) -> str | None:
    """``text`` with each changed scalar replaced where it stands, when the change is only
    scalars taking new values (the same keys in the same order, lists of the same lengths):
    whatever the layout around them (an object kept on one line, hand alignment), only the
    values change.  ``None`` when the change is more than that."""
    changed: list[tuple[tuple[Any, ...], JSON]] = []
    if not _scalar_changes(original, expected, (), changed):
        return None
    try:
        spans = _scalar_spans(text)
    except (ValueError, IndexError):
        return None
    out = text
    for path, value in sorted(changed, key=lambda c: spans.get(c[0], (-1, -1)), reverse=True):
        span = spans.get(path)
        if span is None:
            return None
        rendered = dump(value, replace(layout, head="", tail="", indent=None))
        out = out[: span[0]] + rendered + out[span[1] :]
    return out


def _scalar_changes(
    old: JSON, new: JSON, path: tuple[Any, ...], out: list[tuple[tuple[Any, ...], JSON]]
) -> bool:
    """Collect the scalars that differ into ``out``; False if anything else differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        if list(old) != list(new):
            return False
        return all(_scalar_changes(old[k], new[k], (*path, k), out) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return False
        pairs = enumerate(zip(old, new, strict=True))
        return all(_scalar_changes(o, n, (*path, i), out) for i, (o, n) in pairs)
    if isinstance(old, dict | list) or isinstance(new, dict | list):
        return False
    if not _same(old, new):
        out.append((path, new))
    return True


_NUMBER_OR_WORD: Final = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")


def _scalar_spans(text: str) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Where each scalar of a JSON text stands, by its path (keys and list positions)."""
    spans: dict[tuple[Any, ...], tuple[int, int]] = {}

    def value(pos: int, path: tuple[Any, ...]) -> int:
        pos = _skip(text, pos)
        char = text[pos]
        if char == "{":
            pos = _skip(text, pos + 1)
            if text[pos] == "}":
                return pos + 1
            while True:
                start = _skip(text, pos)
                pos = _string_end(text, start)
                key = json.loads(text[start:pos])
                pos = _skip(text, pos)
                if text[pos] != ":":
                    raise ValueError("expected ':'")
                pos = _skip(text, value(pos + 1, (*path, key)))
                if text[pos] == "}":
                    return pos + 1
                if text[pos] != ",":
                    raise ValueError("expected ','")
                pos += 1
        if char == "[":
            pos = _skip(text, pos + 1)
            if text[pos] == "]":
                return pos + 1
            index = 0
            while True:
                pos = _skip(text, value(pos, (*path, index)))
                index += 1
                if text[pos] == "]":
                    return pos + 1
                if text[pos] != ",":
                    raise ValueError("expected ','")
                pos += 1
        if char == '"':
            end = _string_end(text, pos)
            spans[path] = (pos, end)
            return end
        match = _NUMBER_OR_WORD.match(text, pos)
        if match is None:
            raise ValueError(f"unexpected {char!r}")
        spans[path] = (pos, match.end())
        return match.end()

    value(_skip(text, 0), ())
    return spans


def _string_end(text: str, pos: int) -> int:
    """Just past the JSON string that opens at ``pos``."""
    if text[pos] != '"':
        raise ValueError("expected a string")
    index = pos + 1
    while True:
        char = text[index]
        if char == "\\":
            index += 2
        elif char == '"':
            return index + 1
        else:
            index += 1


def _candidates(original: str, before: str, after: str) -> Iterator[tuple[str, int, bool]]:
    """New texts for the file, best first, each with the number of original lines it
    re-serialises besides the changed ones, and whether it is the whole file re-serialised.

    ``before`` and ``after`` are the unchanged and the changed document serialised in the
    layout learnt from ``original``.  When that layout is exact, ``after`` is the answer.
    Otherwise: the change (``before`` → ``after``) applied to ``original`` where the lines it
    replaces are there verbatim; then a merge that keeps every stretch of ``original`` the
    change leaves alone; then ``after`` as a whole.
    """
    if original == before:
        yield after, 0, False
        return
    a = original.splitlines(keepends=True)
    b = before.splitlines(keepends=True)
    c = after.splitlines(keepends=True)
    if max(len(a), len(b)) <= _MERGE_LINES:
        to_a = _matching(b, a)
        patched = _patch(a, b, c, to_a)
        if patched is not None:
            yield "".join(patched), 0, False
        yield *_anchored(a, b, c, to_a, _matching(b, c)), False
    yield after, len(a), True


def _patch(a: list[str], b: list[str], c: list[str], to_a: dict[int, int]) -> list[str] | None:
    """``a`` with each hunk of the ``b`` → ``c`` diff applied where its lines of ``b`` are
    lines of ``a`` (an insertion needs both neighbours there, next to each other); ``None``
    when a hunk has no such place."""
    hunks: list[tuple[int, int, list[str]]] = []
    matcher = difflib.SequenceMatcher(a=b, b=c, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:
            places = [to_a.get(k) for k in range(i1, i2)]
            first = places[0]
            if first is None or places != list(range(first, first + i2 - i1)):
                return None
            hunks.append((first, first + i2 - i1, c[j1:j2]))
            continue
        left = to_a.get(i1 - 1) if i1 > 0 else -1
        right = to_a.get(i1) if i1 < len(b) else len(a)
        if left is None or right is None or right != left + 1:
            return None
        hunks.append((right, right, c[j1:j2]))
    out = list(a)
    for start, end, lines in reversed(hunks):
        out[start:end] = lines
    return out


def _anchored(
    a: list[str], b: list[str], c: list[str], to_a: dict[int, int], to_c: dict[int, int]
) -> tuple[str, int]:
    """A three-way merge: lines of ``b`` matched in both ``a`` and ``c`` anchor it; between
    two anchors, ``a``'s lines are kept when ``b`` and ``c`` agree there, and ``c``'s are
    taken otherwise (counting the lines of ``a`` that differ from ``b``)."""
    out: list[str] = []
    rewritten = 0
    pb = pa = pc = -1
    for k in [*(k for k in range(len(b)) if k in to_a and k in to_c), len(b)]:
        ka, kc = (to_a[k], to_c[k]) if k < len(b) else (len(a), len(c))
        seg_a, seg_b, seg_c = a[pa + 1 : ka], b[pb + 1 : k], c[pc + 1 : kc]
        if seg_b == seg_c:
            out.extend(seg_a)
        else:
            out.extend(seg_c)
            canonical = set(seg_b)
            rewritten += sum(1 for line in seg_a if line not in canonical)
        if k < len(b):
            out.append(a[ka])
        pb, pa, pc = k, ka, kc
    return "".join(out), rewritten


def _matching(x: list[str], y: list[str]) -> dict[int, int]:
    """Line ``i`` of ``x`` → line of ``y`` it is matched with (in order, no crossings)."""
    out: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(a=x, b=y, autojunk=False)
    for i, j, size in matcher.get_matching_blocks():
        for step in range(size):
            out[i + step] = j + step
    return out

"""Splice edits that make HCL literals say new values, touching as few bytes as possible.

A backfill of Terraform drift must read like a person's change: the one map entry, list item or
number that drifted changes, and every comment, alignment and blank line around it stays. The
functions here compute such edits as byte-range replacements (`Edit`) from the spans of
`breakglass.terraform.hcl`; `apply` splices them into the text. `render` writes a JSON-like
value as HCL for the parts that are new.

Layout rules, so that an edit looks like what `tofu fmt` and the file's author would write:
- a changed scalar replaces only its own bytes; `=` columns and comments stay as they are;
- a new object element or attribute goes on its own line after its last sibling, with the
  siblings' indentation and separator (`=` or `:`), padded to their `=` column when the
  siblings are aligned and the new key fits (other lines are never re-aligned);
- a removed element takes its whole line with it (and a comment on that line), or just itself
  and one separator when it shares a line with others;
- lists keep their one-line or one-element-per-line form;
- everything new uses the file's line ending (LF or CRLF).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from breakglass.terraform.hcl import Body, Document, Expr, NotLiteral, Span

__all__ = ["Edit", "NotLiteral", "apply", "render", "replace_value", "set_attribute"]

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
# Bare words that the grammar reads as something other than an object key or attribute name.
_KEYWORDS: Final = frozenset(
    {"true", "false", "null", "for", "in", "if", "else", "endif", "endfor"}
)
_BLANK: Final = b" \t"
_TRIVIA: Final = b" \t\r"


@dataclass(frozen=True)
class Edit:
    """Replace bytes [start, end) of the UTF-8 encoded text with text."""

    start: int
    end: int
    text: str


def apply(text: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (in any order) to the UTF-8 bytes of text.

    Edits may touch (one ends where the next starts); insertions at the same offset apply in
    the order given. Raises ValueError when edits overlap, fall outside the text, or cut a
    multi-byte character.
    """
    data = text.encode()
    ordered = sorted(enumerate(edits), key=lambda pair: (pair[1].start, pair[1].end, pair[0]))
    out = bytearray()
    pos = 0
    for _, edit in ordered:
        if not 0 <= edit.start <= edit.end <= len(data):
            raise ValueError(f"edit {edit.start}..{edit.end} outside a text of {len(data)} bytes")
        if edit.start < pos:
            raise ValueError(f"edit {edit.start}..{edit.end} overlaps an edit ending at {pos}")
        out += data[pos : edit.start]
        out += edit.text.encode()
        pos = edit.end
    out += data[pos:]
    return out.decode()


# --- rendering --------------------------------------------------------------------------------


def _check_value(value: object, where: str = "value") -> None:
    """Reject what has no HCL literal: non-finite floats, non-string keys, other types."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} has no HCL literal")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: object key {key!r} is not a string")
            _check_value(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]")
        return
    raise TypeError(f"{where}: {type(value).__name__} has no HCL literal")


def render(value: object, *, indent: str = "", multiline: bool | None = None) -> str:
    """An HCL literal for a JSON-like value.

    Strings are quoted and escaped (backslash, quote, newline, tab, control characters;
    `${` becomes `$${` and `%{` becomes `%%{`), ints stay ints, floats are written in their
    shortest round-trip form, and objects are `{ key = value }` with keys quoted only when they
    are not identifiers. multiline=None lays out non-empty objects and lists that contain
    collections one element per line (indented two spaces relative to indent, `=` aligned
    like `tofu fmt` does) and everything else on one line; True forces the outer collection
    onto several lines, False keeps everything on one line. Lines are joined with LF.
    """
    _check_value(value)
    return _render(value, indent, multiline)


def _render(value: object, indent: str, multiline: bool | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _render_float(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Mapping):
        return _render_object(value, indent, multiline)
    if isinstance(value, list | tuple):
        return _render_tuple(value, indent, multiline)
    raise TypeError(f"{type(value).__name__} has no HCL literal")


def _render_float(value: float) -> str:
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        # the grammar reads `1e+16` as `1` followed by garbage; `1.0e+16` is the same number
        if "." not in mantissa:
            mantissa += ".0"
        text = f"{mantissa}e{exponent}"
    return text


def quote(text: str) -> str:
    """A quoted HCL string whose value is text."""
    out = ['"']
    n = len(text)
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch in "$%" and i + 1 < n and text[i + 1] == "{":
            out.append(ch + ch)  # `${` -> `$${`, `%{` -> `%%{`
        elif ch in "$%" and text.startswith(ch + "{", i + 1):
            # a `$` right before an escaped `$${` would read as `$$` + `${`
            out.append(f"\\u{ord(ch):04x}")
        elif unicodedata.category(ch) == "Cc":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def render_key(key: str) -> str:
    """An object key: bare when it is an identifier, quoted otherwise."""
    if _IDENTIFIER.match(key) and key not in _KEYWORDS:
        return key
    return quote(key)


def _is_collection(value: object) -> bool:
    return isinstance(value, Mapping | list | tuple) and len(value) > 0


def _render_object(value: Mapping[str, object], indent: str, multiline: bool | None) -> str:
    if not value:
        return "{}"
    if multiline is False:
        inner = ", ".join(
            f"{render_key(k)} = {_render(v, indent, False)}" for k, v in value.items()
        )
        return "{ " + inner + " }"
    deeper = indent + "  "
    rows = [(render_key(k), _render(v, deeper, None)) for k, v in value.items()]
    widths = _aligned_widths([(k, "\n" not in v) for k, v in rows])
    lines = [f"{deeper}{k.ljust(w)} = {v}\n" for (k, v), w in zip(rows, widths, strict=True)]
    return "{\n" + "".join(lines) + indent + "}"


def _aligned_widths(rows: list[tuple[str, bool]]) -> list[int]:
    """Key widths that align `=` within each run of single-line elements (as `tofu fmt`)."""
    widths = [len(k) for k, _ in rows]
    run: list[int] = []
    for i, (_, single) in enumerate([*rows, ("", False)]):
        if single:
            run.append(i)
            continue
        width = max((len(rows[j][0]) for j in run), default=0)
        for j in run:
            widths[j] = width
        run = []
    return widths


def _render_tuple(value: Sequence[object], indent: str, multiline: bool | None) -> str:
    if not value:
        return "[]"
    if multiline is None:
        multiline = any(_is_collection(v) for v in value)
    if not multiline:
        return "[" + ", ".join(_render(v, indent, False) for v in value) + "]"
    deeper = indent + "  "
    return "[\n" + "".join(f"{deeper}{_render(v, deeper, None)},\n" for v in value) + indent + "]"


def _flat(values: Iterable[object]) -> bool:
    """True when none of values is a non-empty collection (so they fit on one line)."""
    return not any(_is_collection(v) for v in values)


# --- comparing ----------------------------------------------------------------------------------


def same(a: object, b: object) -> bool:
    """Equal as HCL values: numbers by value, but a bool is never a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return False


# --- the structure of a collection literal ----------------------------------------------------


@dataclass(frozen=True)
class _Element:
    start: int
    end: int
    comma: Span | None  # the comma right after it
    sep: Span | None  # an object element's `=` or `:`
    key_end: int  # end of an object element's key (start for a tuple element)
    value_start: int  # start of an object element's value (start for a tuple element)


@dataclass(frozen=True)
class _Collection:
    open: Span
    close: Span
    elements: list[_Element]


def _collection(expr: Expr) -> _Collection:
    node = expr.collection_node()
    if node is None:
        raise NotLiteral(f"not an object or tuple: {expr.text}")
    open_ = close = None
    elements: list[_Element] = []
    for child in node.children:
        kind = child.type
        if kind in ("object_start", "tuple_start"):
            open_ = Span(child.start_byte, child.end_byte)
        elif kind in ("object_end", "tuple_end"):
            close = Span(child.start_byte, child.end_byte)
        elif kind == "," and elements:
            last = elements[-1]
            elements[-1] = _Element(
                last.start,
                last.end,
                Span(child.start_byte, child.end_byte),
                last.sep,
                last.key_end,
                last.value_start,
            )
        elif kind == "object_elem":
            key = child.child_by_field_name("key")
            val = child.child_by_field_name("val")
            sep = next(c for c in child.children if c.type in ("=", ":"))
            assert key is not None
            assert val is not None
            elements.append(
                _Element(
                    child.start_byte,
                    child.end_byte,
                    None,
                    Span(sep.start_byte, sep.end_byte),
                    key.end_byte,
                    val.start_byte,
                )
            )
        elif kind == "expression":
            elements.append(
                _Element(
                    child.start_byte, child.end_byte, None, None, child.start_byte, child.start_byte
                )
            )
    assert open_ is not None
    assert close is not None
    return _Collection(open_, close, elements)


# --- the editor ---------------------------------------------------------------------------------


class _Editor:
    """Line-aware edit computations over one document's bytes."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.src = doc.source
        self.nl = doc.newline
        self.comment_end = {c.start: c.end for c in doc.comments}
        self.comment_spans = doc.comments

    # lines

    def line(self, pos: int) -> int:
        return self.doc.line_of(pos)

    def line_start(self, pos: int) -> int:
        return self.src.rfind(b"\n", 0, pos) + 1

    def line_end(self, pos: int) -> int:
        """The offset of the newline that ends the line of pos (len(src) on the last line)."""
        found = self.src.find(b"\n", pos)
        return len(self.src) if found == -1 else found

    def past_line(self, pos: int) -> int:
        """The start of the line after pos's line (len(src) on the last line)."""
        end = self.line_end(pos)
        return end + 1 if end < len(self.src) else end

    def indent_of(self, pos: int) -> str:
        start = self.line_start(pos)
        i = start
        while i < len(self.src) and self.src[i] in _BLANK:
            i += 1
        return self.src[start:i].decode()

    def first_on_line(self, pos: int) -> bool:
        return self.src[self.line_start(pos) : pos].strip(_BLANK) == b""

    def column(self, pos: int) -> int:
        return len(self.src[self.line_start(pos) : pos].decode())

    def trivia(self, start: int, end: int) -> bool:
        """True when [start, end) holds only blanks and whole comments."""
        i = start
        while i < end:
            if self.src[i] in _TRIVIA:
                i += 1
                continue
            stop = self.comment_end.get(i)
            if stop is not None and stop <= end:
                i = stop
                continue
            return False
        return True

    def ends_line(self, pos: int) -> bool:
        """True when only blanks, one comma and comments follow pos on its line."""
        i = pos
        while i < len(self.src) and self.src[i] in _BLANK:
            i += 1
        if i < len(self.src) and self.src[i : i + 1] == b",":
            i += 1
        return self.trivia(i, self.line_end(i))

    def logical_end(self, pos: int) -> int:
        """The end of pos's line, or of the last line of a block comment that starts on it."""
        end = self.line_end(pos)
        for comment in self.comment_spans:
            if pos <= comment.start < end and comment.end > end:
                end = self.line_end(comment.end)
        return end

    def text(self, rendered: str) -> str:
        return rendered.replace("\n", self.nl) if self.nl != "\n" else rendered

    def render_at(self, value: object, pos: int, multiline: bool | None = None) -> str:
        return self.text(render(value, indent=self.indent_of(pos), multiline=multiline))

    # values

    def replace(self, expr: Expr, new: object) -> list[Edit]:
        old = expr.value()
        if same(old, new):
            return []
        if expr.kind == "object" and isinstance(new, Mapping) and isinstance(old, dict):
            return self.object_edit(expr, old, new)
        if expr.kind == "tuple" and isinstance(new, list | tuple) and isinstance(old, list):
            return self.tuple_edit(expr, old, list(new))
        if expr.kind == "heredoc" and isinstance(new, str):
            heredoc = self.heredoc_edit(expr, new)
            if heredoc is not None:
                return heredoc
        return [self.whole(expr, new, one_line=False)]

    def heredoc_edit(self, expr: Expr, new: str) -> list[Edit] | None:
        """New content lines between the markers, or None when new cannot be a heredoc's value."""
        parts = expr.heredoc_parts()
        if parts is None:
            return None
        if not new.endswith("\n") or "$${" in new or "%%{" in new:
            return None
        if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n" for ch in new):
            return None  # control characters (a CR too) have no heredoc spelling
        lines = new[:-1].split("\n")
        if any(line.strip() == parts.marker for line in lines):
            return None
        prefix = ""
        if parts.flush:
            content = self.src[parts.content.start : parts.content.end].decode()
            common = _common_indent(content.replace("\r\n", "\n").split("\n"))
            prefix = common if common is not None else self.indent_of(parts.closing_line_start)
            widths = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip(" \t")]
            if widths and min(widths) > 0:
                return None  # the common indentation of new itself would be removed too
        escaped = [line.replace("${", "$${").replace("%{", "%%{") for line in lines]
        body = "".join((prefix + line if line.strip(" \t") else line) + self.nl for line in escaped)
        return [Edit(parts.content.start, parts.content.end, body)]

    def object_edit(
        self, expr: Expr, old: dict[str, object], new: Mapping[str, object]
    ) -> list[Edit]:
        coll = _collection(expr)
        items = expr.items()
        one_line = self.line(coll.open.start) == self.line(coll.close.start)
        inside_blank = self.src[coll.open.end : coll.close.start].strip(b" \t\r\n") == b""
        added = [(k, v) for k, v in new.items() if k not in old]
        kept = [i for i, item in enumerate(items) if item.key in new]
        if not items and inside_blank:
            return [self.whole(expr, new, one_line=one_line and _flat(new.values()))]
        if items and not kept and one_line:
            return [self.whole(expr, new, one_line=_flat(new.values()))]
        edits: list[Edit] = []
        for item in items:
            if item.key in new:
                edits += self.replace(item.value, new[item.key])
        removed = [i for i, item in enumerate(items) if item.key not in new]
        edits += self.delete(coll, removed)
        if added:
            edits += self.append_object(coll, [coll.elements[i] for i in kept], added)
        return edits

    def tuple_edit(self, expr: Expr, old: list[object], new: list[object]) -> list[Edit]:
        coll = _collection(expr)
        elements = expr.elements()
        if not elements or not new:
            one_line = self.line(coll.open.start) == self.line(coll.close.start)
            return [self.whole(expr, new, one_line=one_line and _flat(new))]
        prefix = 0
        while prefix < min(len(old), len(new)) and same(old[prefix], new[prefix]):
            prefix += 1
        suffix = 0
        while suffix < min(len(old), len(new)) - prefix and same(
            old[-1 - suffix], new[-1 - suffix]
        ):
            suffix += 1
        old_mid = range(prefix, len(old) - suffix)
        new_mid = new[prefix : len(new) - suffix]
        if len(old_mid) == len(new_mid):
            edits: list[Edit] = []
            for i, value in zip(old_mid, new_mid, strict=True):
                edits += self.replace(elements[i], value)
            return edits
        if not old_mid:
            return self.insert_elements(coll, prefix, new_mid)
        if not new_mid:
            return self.delete(coll, list(old_mid))
        return [Edit(expr.span.start, expr.span.end, self.restyle_tuple(coll, new))]

    def whole(self, expr: Expr, new: object, *, one_line: bool) -> Edit:
        """Replace a whole expression: on one line when asked or when more code follows it on
        its line (an element of a one-line object), else laid out by render."""
        one_line = one_line or not self.ends_line(expr.span.end)
        text = self.render_at(new, expr.span.start, multiline=False if one_line else None)
        return Edit(expr.span.start, expr.span.end, text)

    def restyle_tuple(self, coll: _Collection, new: list[object]) -> str:
        """A rendering of new in the layout of the tuple coll: one line, or one per line."""
        first, last = coll.elements[0], coll.elements[-1]
        if self.line(coll.open.start) == self.line(coll.close.start):
            pad = " " if self.src[coll.open.end : first.start].startswith(b" ") else ""
            inner = ", ".join(render(v, multiline=False) for v in new)
            return f"[{pad}{inner}{pad}]"
        indent = (
            self.indent_of(first.start)
            if self.first_on_line(first.start)
            else self.indent_of(coll.open.start) + "  "
        )
        close_indent = (
            self.indent_of(coll.close.start)
            if self.first_on_line(coll.close.start)
            else self.indent_of(coll.open.start)
        )
        trailing = last.comma is not None
        rows = [
            indent + render(v, indent=indent) + ("," if i < len(new) - 1 or trailing else "") + "\n"
            for i, v in enumerate(new)
        ]
        return self.text("[\n" + "".join(rows) + close_indent + "]")

    # removing elements

    def own_line(self, element: _Element) -> bool:
        after = element.comma.end if element.comma else element.end
        return self.trivia(self.line_start(element.start), element.start) and self.trivia(
            after, self.line_end(after)
        )

    def delete(self, coll: _Collection, indices: list[int]) -> list[Edit]:
        """Remove the elements at indices (ascending) with their separators."""
        edits: list[Edit] = []
        runs: list[list[int]] = []
        for i in indices:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        for run in runs:
            edits += self.delete_run(coll, run[0], run[-1])
        return edits

    def delete_run(self, coll: _Collection, i: int, j: int) -> list[Edit]:
        elements = coll.elements
        run = elements[i : j + 1]
        first, last = run[0], run[-1]
        if all(self.own_line(e) for e in run):
            edits = [Edit(self.line_start(e.start), self.past_line(e.end), "") for e in run]
            before = elements[i - 1] if i > 0 else None
            if (
                j == len(elements) - 1
                and elements[-1].comma is None
                and before is not None
                and before.comma is not None
            ):
                # the new last element loses its comma, as the old last one had none
                edits.append(Edit(before.comma.start, before.comma.end, ""))
            return edits
        prev = elements[i - 1] if i > 0 else None
        nxt = elements[j + 1] if j + 1 < len(elements) else None
        after = last.comma.end if last.comma else last.end
        if nxt is not None and self.line(nxt.start) == self.line(after):
            return [Edit(first.start, nxt.start, "")]
        if prev is not None and self.line(prev.end) == self.line(first.start):
            return [Edit(prev.end, last.end, "")]
        if prev is None and nxt is None:
            return [Edit(coll.open.end, coll.close.start, "")]
        start = first.start
        while start > 0 and self.src[start - 1] in _BLANK:
            start -= 1
        return [Edit(start, after, "")]

    # adding elements

    def append_object(
        self, coll: _Collection, kept: list[_Element], added: list[tuple[str, object]]
    ) -> list[Edit]:
        """Insert added (key, value) pairs after the last element of the object coll."""
        style = kept or coll.elements
        ref = style[-1] if style else None
        sep = "="
        before, after_sep = " ", " "
        if ref is not None and ref.sep is not None:
            sep = self.src[ref.sep.start : ref.sep.end].decode()
            before = " " if ref.sep.start > ref.key_end else ""
            after_sep = " " if ref.value_start > ref.sep.end else ""
        # keys follow the siblings: quoted when theirs are, bare (where possible) otherwise
        quoted = ref is not None and self.src[ref.start : ref.start + 1] == b'"'

        def key_text(key: str) -> str:
            return quote(key) if quoted else render_key(key)

        if self.line(coll.open.start) == self.line(coll.close.start) and coll.elements:
            pieces = [
                f"{key_text(k)}{before}{sep}{after_sep}{render(v, multiline=False)}"
                for k, v in added
            ]
            return self.append_inline(coll, pieces)
        indent = self.element_indent(coll, style)
        column = self.aligned_column([(e.start, e.end, e.sep.start) for e in style if e.sep])
        pieces = []
        for key, value in added:
            text = key_text(key)
            rendered = render(value, indent=indent)
            pad = before
            if column is not None and "\n" not in rendered:
                width = column - len(indent) - len(text)
                if width >= 1:
                    pad = " " * width
            pieces.append(f"{text}{pad}{sep}{after_sep}{rendered}")
        return self.append_lines(
            coll, indent, pieces, comma=ref is not None and ref.comma is not None
        )

    def insert_elements(self, coll: _Collection, at: int, values: list[object]) -> list[Edit]:
        """Insert tuple elements before element at (after the last when at is past the end)."""
        elements = coll.elements
        one_line = self.line(coll.open.start) == self.line(coll.close.start)
        if at == len(elements):
            if one_line:
                return self.append_inline(coll, [render(v, multiline=False) for v in values])
            indent = self.element_indent(coll, elements)
            pieces = [render(v, indent=indent) for v in values]
            last = elements[-1]
            if last.comma is not None:
                return self.append_lines(coll, indent, pieces, comma=True)
            return self.append_lines(coll, indent, pieces, comma=False, separate=True)
        target = elements[at]
        if not one_line and self.first_on_line(target.start):
            indent = self.indent_of(target.start)
            rows = [indent + render(v, indent=indent) + ",\n" for v in values]
            pos = self.line_start(target.start)
            return [Edit(pos, pos, self.text("".join(rows)))]
        text = "".join(render(v, multiline=False) + ", " for v in values)
        return [Edit(target.start, target.start, text)]

    def append_inline(self, coll: _Collection, pieces: list[str]) -> list[Edit]:
        last = coll.elements[-1]
        joined = ", ".join(pieces)
        if last.comma is not None:
            return [Edit(last.comma.end, last.comma.end, f" {joined},")]
        return [Edit(last.end, last.end, f", {joined}")]

    def element_indent(self, coll: _Collection, style: list[_Element]) -> str:
        for element in reversed(style):
            if self.first_on_line(element.start):
                return self.indent_of(element.start)
        return self.indent_of(coll.close.start) + "  "

    def append_lines(
        self,
        coll: _Collection,
        indent: str,
        pieces: list[str],
        *,
        comma: bool,
        separate: bool = False,
    ) -> list[Edit]:
        """Insert pieces one per line before the closing bracket of a multi-line collection.

        comma: each new element gets a trailing comma (the siblings have one). separate: the
        old last element has no comma but needs one (a tuple), and the new last gets none.
        """
        nl = self.nl
        count = len(pieces)
        ends = ["," if comma or (separate and i < count - 1) else "" for i in range(count)]
        if coll.elements and not self.first_on_line(coll.close.start):
            last = coll.elements[-1]
            at = last.comma.end if last.comma else last.end
            lead = "," if separate else ""
            text = lead + "".join(
                nl + indent + self.text(p) + end for p, end in zip(pieces, ends, strict=True)
            )
            return [Edit(at, at, text)]
        at = self.line_start(coll.close.start)
        if not coll.elements and not self.first_on_line(coll.close.start):
            at = coll.close.start
        text = "".join(
            indent + self.text(p) + end + nl for p, end in zip(pieces, ends, strict=True)
        )
        edits = [Edit(at, at, text)]
        if separate and coll.elements:
            last = coll.elements[-1]
            edits.append(Edit(last.end, last.end, ","))
        return edits

    def aligned_column(self, elements: list[tuple[int, int, int]]) -> int | None:
        """The column of `=` shared by the last run of consecutive one-line elements, if any.

        elements are (start, end, separator start) in source order. None when the last element
        spans lines, is not first on its line, or the run's separators are not in one column.
        """
        run: list[int] = []
        expected: int | None = None
        for start, end, sep in reversed(elements):
            line = self.line(start)
            if self.line(end) != line or not self.first_on_line(start):
                break
            if expected is not None and line != expected:
                break
            run.append(self.column(sep))
            expected = line - 1
        if not run or any(c != run[0] for c in run):
            return None
        return run[0]

    # attributes

    def set_attribute(self, body: Body, name: str, new: object) -> list[Edit]:
        attribute = body.attribute(name)
        if attribute is not None:
            return self.replace(attribute.expr, new)
        if not _IDENTIFIER.match(name) or name in _KEYWORDS:
            raise ValueError(f"{name!r} is not an attribute name")
        _check_value(new)
        attributes = body.attributes()
        nl = self.nl
        if attributes:
            last = attributes[-1]
            indent = self.indent_of(last.span.start)
            column = self.aligned_column(
                [(a.span.start, a.span.end, a.equals_sign().start) for a in attributes]
            )
            rendered = render(new, indent=indent)
            pad = " "
            if column is not None and "\n" not in rendered:
                pad = " " * max(1, column - len(indent) - len(name))
            line = self.text(f"{name}{pad}= {rendered}")
            end = self.logical_end(last.span.end)
            if (
                body.open is not None
                and body.close is not None
                and (
                    self.line(body.open.start) == self.line(last.span.start)
                    or end >= body.close.start
                )
            ):
                return self.open_block(body, name, new)
            if end >= len(self.src):
                return [Edit(end, end, nl + indent + line)]
            return [Edit(end + 1, end + 1, indent + line + nl)]
        blocks = body.blocks()
        if blocks:
            indent = self.indent_of(blocks[0].span.start)
            line = self.text(f"{name} = {render(new, indent=indent)}")
            if body.open is None:
                at = self.line_start(blocks[0].span.start)
                return [Edit(at, at, indent + line + nl + nl)]
            at = self.past_line(body.open.end)
            if self.line(body.open.start) == self.line(blocks[0].span.start):
                return self.open_block(body, name, new)
            return [Edit(at, at, indent + line + nl + nl)]
        if body.open is None or body.close is None:
            line = self.text(f"{name} = {render(new)}")
            end = len(self.src)
            lead = nl if self.src and not self.src.endswith(b"\n") else ""
            return [Edit(end, end, lead + line + nl)]
        indent = self.indent_of(body.open.start) + "  "
        line = self.text(f"{name} = {render(new, indent=indent)}")
        if self.line(body.open.start) == self.line(body.close.start):
            close_indent = self.indent_of(body.open.start)
            return [Edit(body.open.end, body.close.start, nl + indent + line + nl + close_indent)]
        at = self.line_start(body.close.start)
        if not self.first_on_line(body.close.start):
            return [Edit(body.close.start, body.close.start, nl + indent + line + nl)]
        return [Edit(at, at, indent + line + nl)]

    def open_block(self, body: Body, name: str, new: object) -> list[Edit]:
        """Spread a block written on one line (`x { a = 1 }`) over lines, adding `name = new`."""
        assert body.open is not None
        assert body.close is not None
        nl = self.nl
        outer = self.indent_of(body.open.start)
        indent = outer + "  "
        line = self.text(f"{name} = {render(new, indent=indent)}")
        inner = self.src[body.open.end : body.close.start].decode().strip()
        text = nl + indent + inner + nl + indent + line + nl + outer
        return [Edit(body.open.end, body.close.start, text)]


def _common_indent(lines: list[str]) -> str | None:
    """The longest blank prefix shared by the non-blank lines; None when all are blank."""
    prefixes = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip(" \t")]
    if not prefixes:
        return None
    common = prefixes[0]
    for prefix in prefixes[1:]:
        while not prefix.startswith(common):
            common = common[:-1]
    return common


def replace_value(doc: Document, expr: Expr, new: object) -> list[Edit]:
    """Minimal edits that make the literal expr (of doc) evaluate to new.

    Raises NotLiteral when expr is not a literal, TypeError or ValueError when new is not a
    JSON-like value. An unchanged value gives no edits.
    - a scalar replaces just the expression's bytes; a heredoc keeps its marker, its `<<` or
      `<<-` form and (for `<<-`) its indentation, and only its content lines change (when new
      cannot be a heredoc's content, e.g. it does not end with a newline, it becomes a quoted
      string);
    - an object becoming a dict recurses into the elements whose value changed, deletes the
      elements of removed keys (their whole line with a comment on it when they sit on their
      own line) and inserts added keys before the closing brace in the siblings' style;
    - a tuple becoming a list of the same length recurses per element; elements added or
      removed in one place are inserted or deleted there; other changes re-render the tuple in
      its one-line or one-per-line layout;
    - a change of type replaces the expression with render(new).
    Edits lie within expr's span.
    """
    _check_value(new)
    return _Editor(doc).replace(expr, new)


def set_attribute(doc: Document, body: Body, name: str, new: object) -> list[Edit]:
    """Set attribute name in body to new.

    replace_value on it when present; otherwise `name = <render(new)>` goes on a new line after
    the last attribute of body (before any nested block; at the top of the block when it has only
    blocks), indented like its siblings and padded to their `=` column when they are aligned.
    """
    _check_value(new)
    return _Editor(doc).set_attribute(body, name, new)

"""YAML text with positions: the one place that talks to the round-trip YAML library.

A backfill diff must touch only the lines the human's change is about.  Rather than loading a
document into objects and dumping it back (which re-flows whatever the dumper has an opinion
on), the engine edits *text*: this module parses a document into a small tree of nodes that
know their exact character span, and renders new values as YAML snippets in the style of the
surrounding file.  ``breakglass.gitops.edit`` then splices snippets into the original text, so
every byte outside an edited span is left exactly as it was.

The tree is built from ruamel.yaml's composer (which keeps marks and does not expand aliases)
and resolved with YAML 1.1 rules, as the Kubernetes API machinery reads manifests.  Hostile
input is bounded: a node budget stops alias bombs and huge documents, and every failure is a
``YamlError`` carrying the line it happened on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

JSON = Any

#: Most nodes one document may expand to (aliases counted every time they are used).
NODE_BUDGET: Final = 200_000

_SEPARATOR = re.compile(r"^---(?:[ \t]|$)")


class YamlError(Exception):
    """A document that cannot be parsed or exceeds a limit; ``line`` is 1-based or 0."""

    def __init__(self, message: str, *, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


# --------------------------------------------------------------------------------------------
# Splitting a file into documents


@dataclass(frozen=True)
class Chunk:
    """One document's text (with its leading ``---`` line, if any) and where it starts."""

    text: str
    offset: int
    line: int  # 0-based line of the chunk's first character in the file


def split_documents(text: str) -> list[Chunk]:
    """Cut a file at its ``---`` separator lines; joining the chunks gives the file back.

    A separator at column 0 can only be a document marker: block scalar content at the top
    level has to be indented, so no scalar can start a line with ``---``.
    """
    chunks: list[Chunk] = []
    start = 0
    start_line = 0
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True)):
        if _SEPARATOR.match(line) and offset > start:
            chunks.append(Chunk(text[start:offset], start, start_line))
            start, start_line = offset, number
        offset += len(line)
    chunks.append(Chunk(text[start:], start, start_line))
    return chunks


# --------------------------------------------------------------------------------------------
# The node tree


@dataclass(eq=False)
class YNode:
    """A node with its span in the chunk text; ``alias`` marks a second use of an anchor."""

    start: int
    end: int
    line: int
    column: int
    tag: str
    anchor: str | None
    alias: bool


@dataclass(eq=False)
class YScalar(YNode):
    value: JSON = None
    style: str | None = None  # None (plain), "'", '"', "|" or ">"
    text: str = ""


@dataclass(eq=False)
class YMap(YNode):
    pairs: list[tuple[YScalar, YNode]] = field(default_factory=list)
    flow: bool = False


@dataclass(eq=False)
class YSeq(YNode):
    items: list[YNode] = field(default_factory=list)
    flow: bool = False


def _parser() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.version = (1, 1)
    return yaml


def parse_chunk(text: str) -> YNode | None:
    """The node tree of one document, or ``None`` when it holds only comments."""
    try:
        node = _parser().compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlError(f"{exc.problem or exc.context or 'invalid YAML'}", line=line) from None
    except YAMLError as exc:  # pragma: no cover - ruamel raises marked errors in practice
        raise YamlError(str(exc)) from None
    except RecursionError:
        raise YamlError("document is nested too deeply") from None
    if node is None:
        return None
    budget = [NODE_BUDGET]
    return _convert(node, {}, budget)


def _convert(node: Node, seen: dict[int, YNode], budget: list[int]) -> YNode:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlError("document has too many nodes (limit reached)")
    known = seen.get(id(node))
    if known is not None:
        return _alias_of(known)
    start, end = node.start_mark, node.end_mark
    tag = str(node.tag)
    anchor = getattr(node, "anchor", None)
    anchor = str(anchor) if anchor else None
    common = (start.index, end.index, start.line, start.column, tag, anchor, False)
    out: YNode
    if isinstance(node, ScalarNode):
        out = YScalar(*common, value=_resolve(tag, str(node.value)), style=node.style)
        out.text = str(node.value)
    elif isinstance(node, MappingNode):
        out = YMap(*common, flow=bool(node.flow_style))
        seen[id(node)] = out
        for key, value in node.value:
            ykey = _convert(key, seen, budget)
            if not isinstance(ykey, YScalar):
                raise YamlError("mapping keys must be scalars", line=key.start_mark.line + 1)
            out.pairs.append((ykey, _convert(value, seen, budget)))
    elif isinstance(node, SequenceNode):
        out = YSeq(*common, flow=bool(node.flow_style))
        seen[id(node)] = out
        out.items.extend(_convert(item, seen, budget) for item in node.value)
    else:  # pragma: no cover - the composer only builds these three
        raise YamlError(f"unexpected node {type(node).__name__}")
    seen[id(node)] = out
    return out


def _alias_of(node: YNode) -> YNode:
    if isinstance(node, YScalar):
        copy = YScalar(node.start, node.end, node.line, node.column, node.tag, node.anchor, True)
        copy.value, copy.style, copy.text = node.value, node.style, node.text
        return copy
    if isinstance(node, YMap):
        return YMap(
            node.start, node.end, node.line, node.column, node.tag, node.anchor, True,
            pairs=node.pairs, flow=node.flow,
        )  # fmt: skip
    assert isinstance(node, YSeq)
    return YSeq(
        node.start, node.end, node.line, node.column, node.tag, node.anchor, True,
        items=node.items, flow=node.flow,
    )  # fmt: skip


_PREFIX: Final = "tag:yaml.org,2002:"


def _resolve(tag: str, text: str) -> JSON:
    kind = tag[len(_PREFIX) :] if tag.startswith(_PREFIX) else "str"
    if kind == "null":
        return None
    if kind == "bool":
        return text.lower() in ("true", "yes", "on", "y")
    if kind == "int":
        return _parse_int(text)
    if kind == "float":
        return _parse_float(text)
    return text


def _parse_int(text: str) -> JSON:
    cleaned = text.replace("_", "")
    sign = -1 if cleaned.startswith("-") else 1
    body = cleaned.lstrip("+-")
    try:
        if ":" in body:
            total = 0
            for part in body.split(":"):
                total = total * 60 + int(part)
            return sign * total
        if body.startswith(("0x", "0X")):
            return sign * int(body[2:], 16)
        if body.startswith(("0b", "0B")):
            return sign * int(body[2:], 2)
        if body.startswith(("0o", "0O")):
            return sign * int(body[2:], 8)
        if len(body) > 1 and body.startswith("0"):
            return sign * int(body, 8)
        return sign * int(body)
    except ValueError:
        return text


def _parse_float(text: str) -> JSON:
    cleaned = text.replace("_", "").lower()
    if cleaned in (".nan",):
        return math.nan
    if cleaned.endswith(".inf"):
        return -math.inf if cleaned.startswith("-") else math.inf
    try:
        return float(cleaned)
    except ValueError:
        return text


def to_plain(node: YNode | None, *, budget: int = NODE_BUDGET) -> JSON:
    """The JSON-like value of a node, aliases and ``<<`` merges expanded within a budget."""
    left = [budget]
    return _plain(node, left)


def _plain(node: YNode | None, left: list[int]) -> JSON:
    left[0] -= 1
    if left[0] < 0:
        raise YamlError("document expands to too many values (alias limit reached)")
    if node is None:
        return None
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [_plain(item, left) for item in node.items]
    assert isinstance(node, YMap)
    out: dict[str, JSON] = {}
    merged: dict[str, JSON] = {}
    for key, value in node.pairs:
        if key.tag == _PREFIX + "merge":
            sources = value.items if isinstance(value, YSeq) else [value]
            for source in sources:
                extra = _plain(source, left)
                if isinstance(extra, dict):
                    for mkey, mval in extra.items():
                        merged.setdefault(mkey, mval)
            continue
        out[_key_text(key)] = _plain(value, left)
    for mkey, mval in merged.items():
        out.setdefault(mkey, mval)
    return out


def _key_text(key: YScalar) -> str:
    value = key.value
    if isinstance(value, bool):
        return key.text
    return str(value) if value is not None else key.text


def key_text(key: YScalar) -> str:
    """A mapping key as the string the JSON form of the object uses."""
    return _key_text(key)


def walk(node: YNode) -> Iterator[YNode]:
    """Every node below and including ``node``, aliases not entered."""
    yield node
    if node.alias:
        return
    if isinstance(node, YMap):
        for key, value in node.pairs:
            yield key
            yield from walk(value)
    elif isinstance(node, YSeq):
        for item in node.items:
            yield from walk(item)


def has_merge_keys(node: YNode) -> bool:
    """Whether the document uses ``<<`` merge keys (edits through them are refused)."""
    return any(isinstance(n, YScalar) and n.tag == _PREFIX + "merge" for n in walk(node))


# --------------------------------------------------------------------------------------------
# Rendering new values


@dataclass(frozen=True)
class Style:
    """How a file lays out block collections, learnt from the file itself."""

    indent: int = 2  # columns a nested mapping is indented under its key
    seq_offset: int = 0  # columns a ``-`` is indented under its key (0 = "indentless")
    quote: str = '"'  # quote character for strings that need quoting


def detect_style(root: YNode | None) -> Style:
    """The indentation habits of a document: first nested mapping and first nested list win."""
    indent: int | None = None
    seq_offset: int | None = None
    quotes = {"'": 0, '"': 0}
    if root is None:
        return Style()
    for node in walk(root):
        if isinstance(node, YScalar) and node.style in quotes:
            quotes[node.style] += 1
        if not isinstance(node, YMap) or node.flow:
            continue
        for key, value in node.pairs:
            if value.alias or value.line == key.line:
                continue
            if indent is None and isinstance(value, YMap) and not value.flow:
                indent = value.column - key.column
            if seq_offset is None and isinstance(value, YSeq) and not value.flow:
                seq_offset = value.column - key.column
    return Style(
        indent=indent if indent and indent > 0 else 2,
        seq_offset=seq_offset if seq_offset is not None and seq_offset >= 0 else 0,
        quote="'" if quotes["'"] > quotes['"'] else '"',
    )


_BOOL_NULL_11: Final = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|~|null|Null|NULL|=|<<)$"
)
_NUMBERISH: Final = re.compile(
    r"^(?:[-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*|[0-9][0-9_]*(?::[0-5]?[0-9])+)"
    r"|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_TIMESTAMP: Final = re.compile(r"^\d{4}-\d\d?-\d\d?")
_INDICATORS: Final = frozenset("-?:,[]{}#&*!|>'\"%@`")
#: What a ``|`` block cannot hold as itself: line breaks other than ``\n`` (YAML 1.1 also
#: breaks lines at ``\r``, NEL, LS and PS) and characters YAML does not allow unescaped.
_NOT_IN_BLOCK: Final = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
#: What JSON leaves raw but a double-quoted YAML scalar must escape.
_ESCAPE_IN_QUOTES: Final = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def plain_safe(text: str, *, flow: bool = False) -> bool:
    """Whether ``text`` can be written unquoted and still read back as that same string.

    Conservative on purpose: anything YAML 1.1 *or* 1.2 could read as a number, boolean,
    null or date is quoted, so ``"30"`` and ``"yes"`` stay strings under every parser.
    """
    if not text or text != text.strip() or not text.isprintable():
        return False
    if text[0] in _INDICATORS and not (text[0] in "-?:" and len(text) > 1 and text[1] != " "):
        return False
    if _BOOL_NULL_11.match(text) or _NUMBERISH.match(text) or _TIMESTAMP.match(text):
        return False
    if ": " in text or " #" in text or text.endswith(":") or "\t" in text:
        return False
    return not (flow and any(c in text for c in ",[]{}"))


def quote(text: str, char: str = '"') -> str:
    """``text`` as a quoted scalar, single-quoted only when that can represent it."""
    if char == "'" and "\n" not in text and text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    dumped = json.dumps(text, ensure_ascii=False)
    return _ESCAPE_IN_QUOTES.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def block_safe(text: str) -> bool:
    """Whether ``text`` can be written as a ``|`` block and read back unchanged."""
    return _NOT_IN_BLOCK.search(text) is None


def render_scalar(
    value: JSON, *, style: Style, flow: bool = False, prefer: str | None = None
) -> str:
    """One scalar on one line; ``prefer`` is the quoting the value had before (kept if valid)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    text = str(value)
    if prefer in ("'", '"'):
        return quote(text, prefer)
    if plain_safe(text, flow=flow):
        return text
    return quote(text, style.quote)


def render_flow(value: JSON, *, style: Style, prefer: str | None = None) -> str:
    """A value in flow style: ``{cpu: 500m, memory: 256Mi}`` or ``[a, b]``."""
    if isinstance(value, dict):
        inner = ", ".join(
            f"{render_scalar(k, style=style, flow=True)}: {render_flow(v, style=style)}"
            for k, v in value.items()
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render_flow(v, style=style) for v in value) + "]"
    return render_scalar(value, style=style, flow=True, prefer=prefer)


def block_scalar(text: str, column: int, *, header: str | None = None) -> list[str]:
    """A ``|`` literal: the header (without the leading key) and the indented content lines."""
    if header is None:
        if text.endswith("\n\n") or text == "\n":
            header = "|+"
        elif text.endswith("\n"):
            header = "|"
        else:
            header = "|-"
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n")
    if lines and lines[0].startswith(" "):
        header = header[0] + str(column if column > 0 else 1) + header[1:]
    pad = " " * column
    return [header] + [pad + line if line else "" for line in lines]


def render_entries(value: dict[str, JSON], column: int, style: Style) -> list[str]:
    """Block mapping lines, every line indented to ``column``."""
    lines: list[str] = []
    pad = " " * column
    for key, sub in value.items():
        head = pad + render_scalar(key, style=style) + ":"
        lines.extend(render_value_lines(head, sub, column, style))
    return lines


def render_items(
    value: list[JSON], column: int, style: Style, prefer: str | None = None
) -> list[str]:
    """Block sequence lines with the ``-`` at ``column``."""
    lines: list[str] = []
    pad = " " * column
    for item in value:
        if isinstance(item, dict) and item:
            inner = render_entries(item, column + 2, style)
            inner[0] = pad + "- " + inner[0][column + 2 :]
            lines.extend(inner)
        elif isinstance(item, list) and item:
            inner = render_items(item, column + 2, style)
            inner[0] = pad + "- " + inner[0][column + 2 :]
            lines.extend(inner)
        else:
            lines.extend(render_value_lines(pad + "-", item, column, style, prefer))
    return lines


def render_value_lines(
    head: str, value: JSON, column: int, style: Style, prefer: str | None = None
) -> list[str]:
    """``head`` (a key and colon, or a dash) followed by ``value`` in block style.

    ``column`` is where ``head`` itself starts; nested content is indented from there.
    """
    if isinstance(value, dict) and value:
        return [head, *render_entries(value, column + style.indent, style)]
    if isinstance(value, list) and value:
        return [head, *render_items(value, column + style.seq_offset, style)]
    if isinstance(value, dict | list):
        return [head + " " + render_flow(value, style=style)]
    if isinstance(value, str) and "\n" in value.strip("\n") and block_safe(value):
        block = block_scalar(value, column + style.indent)
        return [head + " " + block[0], *block[1:]]
    if not isinstance(value, str):
        prefer = None
    return [head + " " + render_scalar(value, style=style, prefer=prefer)]


def render_document(value: dict[str, JSON], style: Style) -> str:
    """A whole new document in block style, ending with a newline."""
    return "\n".join(render_entries(value, 0, style)) + "\n"

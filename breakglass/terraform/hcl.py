"""Read-only view of an HCL file (`.tf`, `.tfvars`) with exact byte positions.

Backfilling Terraform drift means finding the piece of text that sets a drifted value: an
attribute of a block, an entry of a map literal, a variable's default, a `.tfvars` assignment.
A splice edit needs the byte span of that text and the certainty that it is a constant (a
literal) rather than an expression the edit would break. This module parses a file with
tree-sitter-hcl and offers blocks, attributes and expressions with their spans (byte offsets
into the UTF-8 encoding of the file), the Python value of literal expressions, and the
traversals (`var.x`, `local.y`, `each.value.z`) an expression consists of or mentions.

Nothing here changes text; `breakglass.terraform.hcledit` computes edits from these spans.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Final

import tree_sitter_hcl
from tree_sitter import Language, Node, Parser

__all__ = [
    "Attribute",
    "Block",
    "Body",
    "Document",
    "Expr",
    "HclSyntaxError",
    "NotLiteral",
    "ObjectItem",
    "Span",
]

_LANGUAGE: Final = Language(tree_sitter_hcl.language())

# Roots of the traversals that Document.references reports.
REFERENCE_ROOTS: Final = frozenset({"var", "local", "each", "module", "data", "count"})

# Children of a heredoc or quoted template that are not part of its content.
_TEMPLATE_FRAME: Final = frozenset(
    {"quoted_template_start", "quoted_template_end", "heredoc_start", "heredoc_identifier"}
)

# What a MISSING node of these types means to a reader of the file.
_MISSING_NAMES: Final = {
    "quoted_template_end": "closing '\"'",
    "heredoc_identifier": "heredoc closing marker",
    "<<": "expression",
    "<<-": "expression",
}

_SIMPLE_ESCAPES: Final = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


class HclSyntaxError(ValueError):
    """The file does not parse; the message names path:line:column and what was found there."""

    def __init__(self, path: str, line: int, column: int, found: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.found = found
        super().__init__(f"{path}:{line}:{column}: HCL syntax error: {found}")


class NotLiteral(ValueError):
    """An expression is not a constant, so it has no value without evaluating Terraform."""


@dataclass(frozen=True)
class Span:
    """Byte offsets [start, end) into the UTF-8 encoding of a file."""

    start: int
    end: int


class _Source:
    """The parsed bytes with a line index, shared by every node wrapper of one document."""

    __slots__ = ("comments", "data", "line_starts", "path")

    def __init__(self, data: bytes, path: str) -> None:
        self.data = data
        self.path = path
        self.line_starts = [0]
        self.line_starts.extend(i + 1 for i, b in enumerate(data) if b == 0x0A)
        self.comments: list[Span] = []

    def line_of(self, pos: int) -> int:
        """The 1-based line of byte offset pos."""
        return bisect.bisect_right(self.line_starts, pos)

    def column_of(self, pos: int) -> int:
        """The 1-based column of byte offset pos, counted in characters."""
        start = self.line_starts[self.line_of(pos) - 1]
        return len(self.data[start:pos].decode(errors="replace")) + 1

    def text(self, node: Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode()


def _span(node: Node) -> Span:
    return Span(node.start_byte, node.end_byte)


def _named(node: Node) -> list[Node]:
    """Named children without comments."""
    return [c for c in node.named_children if c.type != "comment"]


def _unwrap(node: Node) -> Node:
    """The node that says what an expression is, below its `expression`-style wrappers."""
    while node.type in ("expression", "literal_value", "collection_value", "template_expr"):
        children = _named(node)
        if len(children) != 1 or children[0].type == "variable_expr":
            break
        if any(c.type == "(" for c in node.children):
            break  # a parenthesized expression is kept as "other"
        node = children[0]
    return node


def _unescape_quoted(raw: str) -> str:
    """The value of the text between the quotes of a quoted string without interpolation."""
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            if nxt in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[nxt])
                i += 2
                continue
            width = 4 if nxt == "u" else 8 if nxt == "U" else 0
            digits = raw[i + 2 : i + 2 + width]
            if (
                width
                and len(digits) == width
                and all(c in "0123456789abcdefABCDEF" for c in digits)
            ):
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            out.append(ch)
            i += 1
            continue
        if ch in "$%" and raw.startswith(ch + ch + "{", i):
            out.append(ch + "{")
            i += 3
            continue
        out.append(ch)
        i += 1
    return "".join(out)


_TEMPLATE_MARK = re.compile(r"([$%])\1\{")


def _unescape_template_marks(raw: str) -> str:
    """`$${` and `%%{` are the only escapes of a heredoc."""
    return _TEMPLATE_MARK.sub(r"\1{", raw)


def _leading_blank(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _flush_heredoc(lines: list[str]) -> list[str]:
    """Remove the indentation common to the non-blank lines, as HCL does for `<<-`."""
    widths = [_leading_blank(line) for line in lines if line.strip(" \t")]
    if not widths:
        return lines
    cut = min(widths)
    return [line[cut:] if line.strip(" \t") else line for line in lines]


@dataclass(frozen=True)
class HeredocParts:
    """The pieces of a heredoc an edit needs: its form, marker and the bytes of its content."""

    flush: bool  # `<<-` rather than `<<`
    marker: str
    content: Span  # from the line after the opening marker to the start of the closing line
    closing_line_start: int


class Expr:
    """One expression: its span, what kind of expression it is, and its value when constant.

    kind is one of "string", "heredoc", "number", "bool", "null", "object", "tuple",
    "traversal" (a plain reference such as `var.x` or `each.value.data`) and "other"
    (function calls, operations, conditionals, for expressions, splats, ...). A string with
    interpolation is still kind "string" but not a literal. A negative number (`-1`, which the
    grammar reads as unary minus) is kind "number".
    """

    __slots__ = ("_inner", "_node", "_src", "kind", "line", "span", "text")

    def __init__(self, src: _Source, node: Node) -> None:
        self._src = src
        self._node = node
        self._inner = _unwrap(node)
        self.span = _span(node)
        self.text = src.text(node)
        self.line = src.line_of(node.start_byte)
        self.kind = self._classify()

    def __repr__(self) -> str:
        return f"Expr({self.kind}, {self.text!r}, line {self.line})"

    @property
    def node(self) -> Node:
        """The tree-sitter node behind the expression (the `expression` node when there is one)."""
        return self._node

    def _classify(self) -> str:
        inner = self._inner
        simple = {
            "numeric_lit": "number",
            "bool_lit": "bool",
            "null_lit": "null",
            "string_lit": "string",
            "quoted_template": "string",
            "heredoc_template": "heredoc",
            "object": "object",
            "tuple": "tuple",
        }
        if inner.type in simple:
            return simple[inner.type]
        if self._negative_number() is not None:
            return "number"
        if self.traversal() is not None:
            return "traversal"
        return "other"

    def _negative_number(self) -> Node | None:
        """The numeric literal of `-N`, or None."""
        inner = self._inner
        if inner.type != "operation":
            return None
        children = _named(inner)
        if len(children) != 1 or children[0].type != "unary_operation":
            return None
        unary = children[0]
        if not unary.children or unary.children[0].type != "-":
            return None
        operand = _named(unary)
        if len(operand) != 1:
            return None
        lit = _unwrap(operand[0])
        return lit if lit.type == "numeric_lit" else None

    def is_literal(self) -> bool:
        """A constant: literals, strings and heredocs without `${`/`%{`, and objects and tuples
        made only of those whose keys are plain identifiers or literal strings."""
        kind = self.kind
        if kind in ("number", "bool", "null"):
            return True
        if kind in ("string", "heredoc"):
            return all(
                c.type in _TEMPLATE_FRAME or c.type == "template_literal"
                for c in self._inner.named_children
            )
        if kind == "object":
            return all(
                _literal_key(self._src, item_node) is not None and item.value.is_literal()
                for item_node, item in self._item_pairs()
            )
        if kind == "tuple":
            return all(e.is_literal() for e in self.elements())
        return False

    def value(self) -> object:
        """The Python value of a literal: str, int, float, bool, None, dict or list.

        Raises NotLiteral for anything that needs evaluation.
        """
        if not self.is_literal():
            raise NotLiteral(f"{self._src.path}:{self.line}: not a literal: {self.text}")
        return self._value()

    def _value(self) -> object:
        kind = self.kind
        if kind == "number":
            neg = self._negative_number()
            lit = neg if neg is not None else self._inner
            number = _number(self._src.text(lit))
            return -number if neg is not None else number
        if kind == "bool":
            return self.text.strip() == "true"
        if kind == "null":
            return None
        if kind == "string":
            raw = self._src.text(self._inner)
            return _unescape_quoted(raw[1:-1])
        if kind == "heredoc":
            return self._heredoc_value()
        if kind == "object":
            return {item.key: item.value._value() for item in self.items()}
        return [e._value() for e in self.elements()]

    def heredoc_parts(self) -> HeredocParts | None:
        """For a heredoc: its form, marker and content span; None for anything else."""
        if self.kind != "heredoc":
            return None
        node = self._inner
        start = next(c for c in node.children if c.type == "heredoc_start")
        idents = [c for c in node.children if c.type == "heredoc_identifier"]
        data = self._src.data
        opening, closing = idents[0], idents[-1]
        first = data.find(b"\n", opening.end_byte)
        content_start = first + 1 if first != -1 else opening.end_byte
        closing_line = data.rfind(b"\n", 0, closing.start_byte) + 1
        content_start = min(content_start, closing_line)
        return HeredocParts(
            flush=self._src.text(start) == "<<-",
            marker=self._src.text(opening),
            content=Span(content_start, closing_line),
            closing_line_start=closing_line,
        )

    def _heredoc_value(self) -> str:
        parts = self.heredoc_parts()
        assert parts is not None
        raw = self._src.data[parts.content.start : parts.content.end].decode()
        lines = raw.replace("\r\n", "\n").split("\n")
        if parts.flush:
            lines = _flush_heredoc(lines)
        return _unescape_template_marks("\n".join(lines))

    def traversal(self) -> tuple[str, ...] | None:
        """The names of a plain reference: ("var", "x") for `var.x`, ("each", "value", "data")
        for `each.value.data`; an index with a literal key appears as the key (`var.m["k"]` ->
        ("var", "m", "k"), `var.l[0]` -> ("var", "l", "0")).

        None for anything else: function calls, operations, splats, indexes that are not
        literal, and templates, including a template that is exactly one interpolation such as
        `"${var.x}"` (its value is a string conversion of `var.x`, not `var.x` itself).
        """
        node = self._node
        if node.type != "expression":
            return None
        children = _named(node)
        if not children or children[0].type != "variable_expr":
            return None
        steps = _traversal_steps(self._src, children)
        if steps is None or len(steps[0]) != len(children):
            return None
        return steps[0]

    def _item_pairs(self) -> list[tuple[Node, ObjectItem]]:
        if self.kind != "object":
            return []
        pairs: list[tuple[Node, ObjectItem]] = []
        for child in self._inner.named_children:
            if child.type != "object_elem":
                continue
            key_node = child.child_by_field_name("key")
            val_node = child.child_by_field_name("val")
            if key_node is None or val_node is None:
                continue
            key = _literal_key(self._src, child)
            pairs.append(
                (
                    child,
                    ObjectItem(
                        key=key if key is not None else self._src.text(key_node),
                        key_span=_span(key_node),
                        value=Expr(self._src, val_node),
                        span=_span(child),
                    ),
                )
            )
        return pairs

    def items(self) -> list[ObjectItem]:
        """For an object: its elements in source order; [] for anything else.

        A key that is neither an identifier nor a literal string (`(var.k) = 1`) appears with
        its source text as key, and makes the object not a literal.
        """
        return [item for _, item in self._item_pairs()]

    def elements(self) -> list[Expr]:
        """For a tuple: its elements in source order; [] for anything else."""
        if self.kind != "tuple":
            return []
        return [Expr(self._src, c) for c in self._inner.named_children if c.type == "expression"]

    def collection_node(self) -> Node | None:
        """The `object` or `tuple` node of a collection expression (its brackets and commas)."""
        return self._inner if self.kind in ("object", "tuple") else None


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def _literal_key(src: _Source, elem: Node) -> str | None:
    """The key of an object element when it is an identifier or a literal; None otherwise."""
    key_node = elem.child_by_field_name("key")
    if key_node is None:
        return None
    children = _named(key_node)
    if len(children) == 1 and children[0].type == "variable_expr":
        return src.text(children[0])
    inner = _unwrap(key_node)
    if inner.type == "string_lit":
        return _unescape_quoted(src.text(inner)[1:-1])
    if inner.type in ("numeric_lit", "bool_lit"):
        return src.text(inner)
    return None


def _traversal_steps(src: _Source, nodes: list[Node]) -> tuple[tuple[str, ...], Node] | None:
    """The literal steps of a traversal that starts at nodes[0] (a variable_expr), with the
    last node they cover; steps stop at the first splat or non-literal index."""
    if not nodes or nodes[0].type != "variable_expr":
        return None
    names = [src.text(nodes[0])]
    last = nodes[0]
    for node in nodes[1:]:
        step = _step_name(src, node)
        if step is None:
            break
        names.append(step)
        last = node
    return tuple(names), last


def _step_name(src: _Source, node: Node) -> str | None:
    if node.type == "get_attr":
        ident = [c for c in node.named_children if c.type == "identifier"]
        return src.text(ident[0]) if ident else None
    if node.type != "index":
        return None
    inner = _named(node)
    if len(inner) != 1:
        return None
    index = inner[0]
    if index.type == "legacy_index":
        return src.text(index).lstrip(".")
    if index.type != "new_index":
        return None
    keys = _named(index)
    if len(keys) != 1:
        return None
    key = _unwrap(keys[0])
    if key.type == "string_lit":
        return _unescape_quoted(src.text(key)[1:-1])
    if key.type == "numeric_lit":
        return src.text(key)
    return None


@dataclass(frozen=True)
class ObjectItem:
    """One element of an object literal."""

    key: str  # identifier or literal string key, unquoted
    key_span: Span
    value: Expr
    span: Span  # the whole element (key, `=` or `:`, value), without a trailing comma


class Attribute:
    """`name = expression` in a body."""

    __slots__ = ("_node", "expr", "line", "name", "span")

    def __init__(self, src: _Source, node: Node) -> None:
        self._node = node
        ident = next(c for c in node.named_children if c.type == "identifier")
        self.name = src.text(ident)
        self.span = _span(node)
        self.line = src.line_of(node.start_byte)
        expr_node = next(c for c in node.named_children if c.type == "expression")
        self.expr = Expr(src, expr_node)

    def __repr__(self) -> str:
        return f"Attribute({self.name!r}, line {self.line})"

    @property
    def node(self) -> Node:
        """The tree-sitter `attribute` node."""
        return self._node

    def equals_sign(self) -> Span:
        """The span of the `=` between name and value."""
        eq = next(c for c in self._node.children if c.type == "=")
        return _span(eq)


class Block:
    """`type "label" ... { body }`."""

    __slots__ = ("_node", "body", "labels", "line", "span", "type")

    def __init__(self, src: _Source, node: Node) -> None:
        self._node = node
        head = [c for c in node.named_children if c.type in ("identifier", "string_lit")]
        self.type = src.text(head[0])
        self.labels = tuple(
            _unescape_quoted(src.text(c)[1:-1]) if c.type == "string_lit" else src.text(c)
            for c in head[1:]
        )
        self.span = _span(node)
        self.line = src.line_of(node.start_byte)
        open_ = next(c for c in node.children if c.type == "block_start")
        close = next(c for c in node.children if c.type == "block_end")
        inner = next((c for c in node.named_children if c.type == "body"), None)
        self.body = Body(
            src, inner, Span(open_.end_byte, close.start_byte), _span(open_), _span(close)
        )

    def __repr__(self) -> str:
        return f"Block({self.type!r}, {self.labels!r}, line {self.line})"


class Body:
    """The attributes and nested blocks inside a block's braces, or at the top of a file."""

    __slots__ = ("_node", "_src", "close", "open", "span")

    def __init__(
        self,
        src: _Source,
        node: Node | None,
        span: Span,
        open_: Span | None = None,
        close: Span | None = None,
    ) -> None:
        self._src = src
        self._node = node
        self.span = span  # the inside, between `{` and `}` (the whole file at the top level)
        self.open = open_  # the `{` of the block, None at the top level
        self.close = close  # the `}` of the block, None at the top level

    def __repr__(self) -> str:
        return f"Body({self.span.start}..{self.span.end})"

    def _children(self, type_: str) -> list[Node]:
        if self._node is None:
            return []
        return [c for c in self._node.named_children if c.type == type_]

    def attribute(self, name: str) -> Attribute | None:
        """The attribute called name, or None (the last one if a broken file repeats it)."""
        found = [a for a in self.attributes() if a.name == name]
        return found[-1] if found else None

    def attributes(self) -> list[Attribute]:
        """The attributes directly in this body, in source order."""
        return [Attribute(self._src, n) for n in self._children("attribute")]

    def blocks(self, type_: str | None = None, *labels: str) -> list[Block]:
        """The blocks directly in this body, in source order; type_ filters by block type and
        labels by prefix (`blocks("resource", "aws_instance")` is every aws_instance)."""
        found = []
        for node in self._children("block"):
            block = Block(self._src, node)
            if type_ is not None and block.type != type_:
                continue
            if block.labels[: len(labels)] != labels:
                continue
            found.append(block)
        return found


class Document:
    """A parsed HCL file: its text, its top-level body and the references it contains."""

    __slots__ = ("_root", "_src", "body", "path", "text")

    def __init__(self, text: str, path: str, src: _Source, root: Node) -> None:
        self.text = text
        self.path = path
        self._src = src
        self._root = root
        top = next((c for c in root.named_children if c.type == "body"), None)
        self.body = Body(src, top, Span(0, len(src.data)))

    @classmethod
    def parse(cls, text: str, *, path: str) -> Document:
        """Parse text; raises HclSyntaxError when the grammar finds an error or a missing token."""
        data = text.encode()
        # The grammar needs a newline after a heredoc's closing marker; a file that ends without
        # one is parsed with one added, which moves no byte offset.
        parsed = data if data.endswith(b"\n") else data + b"\n"
        tree = Parser(_LANGUAGE).parse(parsed)
        src = _Source(data, path)
        root = tree.root_node
        if root.has_error:
            _raise_first_error(src, root)
        src.comments = [_span(n) for n in _walk(root) if n.type == "comment"]
        return cls(text, path, src, root)

    @property
    def source(self) -> bytes:
        """The UTF-8 bytes every span indexes."""
        return self._src.data

    @property
    def comments(self) -> list[Span]:
        """Every comment in the file, in source order (line comments include a trailing CR)."""
        return list(self._src.comments)

    @property
    def newline(self) -> str:
        """The file's line ending: CRLF when its first line ends with one, LF otherwise."""
        first = self._src.data.find(b"\n")
        return "\r\n" if first > 0 and self._src.data[first - 1] == 0x0D else "\n"

    def line_of(self, pos: int) -> int:
        """The 1-based line of a byte offset."""
        return self._src.line_of(pos)

    def references(self) -> list[tuple[tuple[str, ...], Span]]:
        """Every traversal rooted at var, local, each, module, data or count anywhere in the file
        (in templates, function arguments, for expressions and heredocs too), with the span of
        its literal steps, in source order. Object keys such as `{ count = 1 }` are not
        references."""
        found: list[tuple[tuple[str, ...], Span]] = []
        for node in _walk(self._root):
            if node.type != "variable_expr":
                continue
            parent = node.parent
            if parent is None:
                continue
            if _is_object_key(parent):
                continue
            siblings = _named(parent)
            at = next(i for i, s in enumerate(siblings) if s.id == node.id)
            steps = _traversal_steps(self._src, siblings[at:])
            if steps is None:
                continue
            names, last = steps
            if names[0] in REFERENCE_ROOTS and len(names) >= 2:
                found.append((names, Span(node.start_byte, last.end_byte)))
        return found


def _is_object_key(expression: Node) -> bool:
    parent = expression.parent
    if expression.type != "expression" or parent is None or parent.type != "object_elem":
        return False
    key = parent.child_by_field_name("key")
    return key is not None and key.id == expression.id and len(_named(expression)) == 1


def _walk(root: Node) -> list[Node]:
    """Every node below root in source order."""
    out: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def _error_start(node: Node) -> int:
    """Where an ERROR node stops making sense: after the complete constructs it swallowed."""
    complete = ("attribute", "block", "block_start", "body", "comment")
    kids = node.children
    done = [i for i, kid in enumerate(kids) if kid.type in complete]
    if done and done[-1] + 1 < len(kids):
        return kids[done[-1] + 1].start_byte
    return node.start_byte


def _raise_first_error(src: _Source, root: Node) -> None:
    for node in _walk(root):
        if node.is_missing:
            pos = min(node.start_byte, len(src.data))
            what = f"missing {_MISSING_NAMES.get(node.type, repr(node.type))}"
        elif node.type == "ERROR":
            pos = min(_error_start(node), len(src.data))
            snippet = src.data[pos : node.end_byte].decode(errors="replace")
            snippet = snippet.strip().splitlines()[0] if snippet.strip() else snippet
            if len(snippet) > 40:
                snippet = snippet[:40] + "..."
            what = f"unexpected {snippet!r}" if snippet else "unexpected end of file"
        else:
            continue
        raise HclSyntaxError(src.path, src.line_of(pos), src.column_of(pos), what)
    raise HclSyntaxError(src.path, 1, 1, "unparseable")

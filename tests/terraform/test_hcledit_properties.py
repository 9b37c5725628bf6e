"""Properties of the HCL splice editor over random JSON-like values and random changes.

For a file `resource "t" "n" { # comment / attr = <old> / other = "x" // keep }` and a random
new value: the edited file parses, the attribute's literal now evaluates to the new value,
no byte outside the edits changes, the edits stay inside the attribute's expression, new
lines use the file's line ending, and an unchanged value gives no edits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from breakglass.terraform.hcl import Document, Expr
from breakglass.terraform.hcledit import Edit, apply, render, replace_value, same, set_attribute

FRAGMENTS = st.sampled_from(
    [
        "${",
        "%{",
        "$${",
        "%%{",
        "$",
        "%",
        "{",
        "}",
        "\\",
        '"',
        "\n",
        "\r\n",
        "\t",
        "\x00",
        "\x7f",
        "é",
        "👋",
        "監視",
        "\u2028",
        "EOT",
        " ",
        "a",
        "\\n",
        "\\u0024",
    ]
)
TEXT = st.one_of(
    st.text(max_size=8),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=3)), max_size=6).map("".join),
)
KEYS = st.one_of(
    st.sampled_from(["a", "b", "name", "LOG_LEVEL", "app.kubernetes.io/name", "true", "for"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True),
    TEXT,
)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    FLOATS,
    TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(KEYS, inner, max_size=4),
    ),
    max_leaves=12,
)
LAYOUT = st.sampled_from([None, True, False])
NEWLINE = st.sampled_from(["\n", "\r\n"])


@st.composite
def changed(draw: st.DrawFn, old: object, depth: int = 0) -> object:
    """A value that shares most of its structure with old: the kind of change drift makes."""
    choice = draw(st.integers(0, 9))
    if choice == 0 or depth > 4:
        return draw(VALUES)
    if choice == 1:
        return old
    if isinstance(old, dict):
        new: dict[str, object] = {}
        for key, value in old.items():
            action = draw(st.integers(0, 4))
            if action == 0:
                continue  # removed
            new[key] = draw(changed(value, depth + 1)) if action == 1 else value
        for key in draw(st.lists(KEYS, max_size=2)):
            new.setdefault(key, draw(VALUES))
        return new
    if isinstance(old, list):
        items = list(old)
        action = draw(st.integers(0, 4))
        if action == 0 and items:
            del items[draw(st.integers(0, len(items) - 1))]
        elif action == 1:
            items.insert(draw(st.integers(0, len(items))), draw(VALUES))
        elif action == 2 and items:
            at = draw(st.integers(0, len(items) - 1))
            items[at] = draw(changed(items[at], depth + 1))
        elif action == 3:
            items.append(draw(VALUES))
        return items
    return draw(SCALARS)


def original(old: object, layout: bool | None, newline: str) -> str:
    text = (
        'resource "t" "n" {\n'
        "  # comment\n"
        f"  attr = {render(old, indent='  ', multiline=layout)}\n"
        '  other = "x" // keep\n'
        "}\n"
    )
    return text.replace("\n", newline)


def attr_expr(doc: Document, name: str = "attr") -> Expr:
    block = doc.body.blocks("resource", "t", "n")[0]
    attribute = block.body.attribute(name)
    assert attribute is not None
    return attribute.expr


def assert_only_edits_changed(text: str, edits: Sequence[Edit], result: str) -> None:
    before = text.encode()
    after = result.encode()
    if not edits:
        assert after == before
        return
    first = min(e.start for e in edits)
    last = max(e.end for e in edits)
    assert after[:first] == before[:first]
    assert after[len(after) - (len(before) - last) :] == before[last:]
    pos_in = pos_out = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        gap = before[pos_in : edit.start]
        assert after[pos_out : pos_out + len(gap)] == gap
        pos_out += len(gap) + len(edit.text.encode())
        pos_in = edit.end
    assert after[pos_out:] == before[pos_in:]


def assert_newlines(result: str, newline: str) -> None:
    if newline == "\r\n":
        assert "\n" not in result.replace("\r\n", "")
    else:
        assert "\r\n" not in result


def equal(a: object, b: object) -> bool:
    """Equality of values with floats compared by ==, and -0.0 equal to 0.0."""
    return same(a, b) and a == b


def check_replace(text: str, old: object, new: object, newline: str) -> str:
    """``attr``'s literal in ``text`` (holding ``old``) replaced by ``new``: it parses back to
    ``new``, only bytes inside the literal changed, the line endings are the file's, ``other``
    is untouched, and doing it again changes nothing.  Returns the new text."""
    doc = Document.parse(text, path="p.tf")
    expr = attr_expr(doc)
    assert equal(expr.value(), old)
    assert replace_value(doc, expr, old) == []
    edits = replace_value(doc, expr, new)
    result = apply(text, edits)
    reparsed = Document.parse(result, path="p.tf")
    assert equal(attr_expr(reparsed).value(), new)
    assert attr_expr(reparsed, "other").value() == "x"
    assert_only_edits_changed(text, edits, result)
    for edit in edits:
        assert expr.span.start <= edit.start <= edit.end <= expr.span.end
    assert_newlines(result, newline)
    assert replace_value(reparsed, attr_expr(reparsed), new) == []
    return result


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), old=VALUES, layout=LAYOUT, newline=NEWLINE)
def test_replace_value_property(
    data: st.DataObject, old: object, layout: bool | None, newline: str
) -> None:
    new = data.draw(changed(old))
    result = check_replace(original(old, layout, newline), old, new, newline)
    assert "# comment" in result
    assert "// keep" in result


@settings(max_examples=300, deadline=None)
@given(value=VALUES, indent=st.sampled_from(["", "  ", "\t"]), layout=LAYOUT)
def test_render_parses_back(value: object, indent: str, layout: bool | None) -> None:
    text = f"x = {render(value, indent=indent, multiline=layout)}\n"
    doc = Document.parse(text, path="r.tf")
    attribute = doc.body.attribute("x")
    assert attribute is not None
    assert attribute.expr.is_literal()
    assert equal(attribute.expr.value(), value)


@settings(max_examples=200, deadline=None)
@given(value=FLOATS)
def test_floats_round_trip(value: float) -> None:
    text = f"x = {render(value)}\n"
    attribute = Document.parse(text, path="f.tf").body.attribute("x")
    assert attribute is not None
    parsed = attribute.expr.value()
    assert isinstance(parsed, float)
    assert parsed == value
    assert math.copysign(1.0, parsed) == math.copysign(1.0, value)


HEREDOC_LINES = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=6),
        st.sampled_from(["", "  ", "  indented", "${x}", "%{y}", "EOT", "  EOT  ", "\t tab"]),
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(
    old_lines=HEREDOC_LINES.filter(lambda lines: bool(lines)),
    new=st.one_of(HEREDOC_LINES.map(lambda lines: "".join(f"{line}\n" for line in lines)), TEXT),
    flush=st.booleans(),
    indent=st.sampled_from(["", "  ", "    "]),
    newline=NEWLINE,
)
def test_heredoc_property(
    old_lines: list[str], new: str, flush: bool, indent: str, newline: str
) -> None:
    assume(all(line.strip() != "EOT" for line in old_lines))
    assume(all("$${" not in line and "%%{" not in line for line in old_lines))
    escaped = [line.replace("${", "$${").replace("%{", "%%{") for line in old_lines]
    assume(any(line.strip() for line in old_lines))
    body = "".join((indent + line if line.strip(" \t") else line) + "\n" for line in escaped)
    text = f'resource "t" "n" {{\n  attr = <<{"-" if flush else ""}EOT\n{body}{indent}EOT\n}}\n'
    text = text.replace("\n", newline)
    doc = Document.parse(text, path="h.tf")
    expr = attr_expr(doc)
    old = expr.value()
    assert replace_value(doc, expr, old) == []
    edits = replace_value(doc, expr, new)
    result = apply(text, edits)
    reparsed = attr_expr(Document.parse(result, path="h.tf"))
    assert reparsed.value() == new
    assert_only_edits_changed(text, edits, result)
    assert_newlines(result, newline)
    if reparsed.kind == "heredoc":
        assert reparsed.text.startswith("<<-EOT" if flush else "<<EOT")


@settings(max_examples=200, deadline=None)
@given(
    name=st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True),
    value=VALUES,
    aligned=st.booleans(),
    newline=NEWLINE,
)
def test_set_attribute_property(name: str, value: object, aligned: bool, newline: str) -> None:
    assume(name not in {"true", "false", "null", "for", "in", "if", "else", "endif", "endfor"})
    pad = "  " if aligned else ""
    text = (
        'resource "t" "n" {\n'
        f"  ab {pad}= 1 # one\n"
        '  abcd = "two"\n'
        "\n"
        "  nested {\n"
        "    x = 1\n"
        "  }\n"
        "}\n"
    ).replace("\n", newline)
    doc = Document.parse(text, path="s.tf")
    body = doc.body.blocks("resource")[0].body
    edits = set_attribute(doc, body, name, value)
    result = apply(text, edits)
    reparsed = Document.parse(result, path="s.tf")
    new_body = reparsed.body.blocks("resource")[0].body
    attribute = new_body.attribute(name)
    assert attribute is not None
    assert equal(attribute.expr.value(), value)
    assert_only_edits_changed(text, edits, result)
    assert_newlines(result, newline)
    for edit in edits:
        assert body.span.start <= edit.start <= edit.end <= body.span.end
    assert [b.type for b in new_body.blocks()] == ["nested"]
    assert set_attribute(reparsed, new_body, name, value) == []


@given(
    text=st.text(max_size=20),
    cuts=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 80), TEXT), max_size=4),
)
def test_apply_matches_slicing_or_rejects_overlap(
    text: str, cuts: list[tuple[int, int, str]]
) -> None:
    data = text.encode()
    edits = [Edit(min(a, b), max(a, b), t) for a, b, t in cuts]
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    valid = all(e.end <= len(data) for e in edits) and all(
        x.end <= y.start for x, y in itertools.pairwise(ordered)
    )
    if not valid:
        with pytest.raises(ValueError):
            apply(text, edits)
        return
    try:
        result = apply(text, edits)
    except UnicodeDecodeError:
        return  # an edit boundary inside a multi-byte character
    expected = bytearray()
    pos = 0
    for edit in ordered:
        expected += data[pos : edit.start] + edit.text.encode()
        pos = edit.end
    expected += data[pos:]
    assert result.encode() == bytes(expected)


COMMENTS = st.sampled_from(["# note", "// note", "/* note */"])


def _is_identifier(key: str) -> bool:
    return render({key: 1}, multiline=False) == f"{{ {key} = 1 }}"


@st.composite
def by_hand(draw: st.DrawFn, value: object, indent: str, one_line: bool = False) -> str:
    """value written the way people write HCL: either separator, quoted or bare keys, aligned or
    not, with or without trailing commas, comments and blank lines, one line or several."""
    deeper = indent + "  "
    if isinstance(value, dict):
        if not value:
            return draw(
                st.sampled_from(["{}", "{ }"] if one_line else ["{}", "{ }", "{\n" + indent + "}"])
            )
        sep = draw(st.sampled_from(["=", ":"]))
        keys = [k if _is_identifier(k) and draw(st.booleans()) else render(k) for k in value]
        single = one_line or draw(st.booleans())
        if single:
            inner = [
                f"{k} {sep} {draw(by_hand(v, indent, one_line=True))}"
                + (" /* c */" if draw(st.integers(0, 5)) == 0 else "")
                for k, v in zip(keys, value.values(), strict=True)
            ]
            trailing = "," if draw(st.booleans()) else ""
            return "{ " + ", ".join(inner) + trailing + " }"
        width = max(len(k) for k in keys) if draw(st.booleans()) else 0
        commas = draw(st.booleans())
        lines = ["{"]
        for k, v in zip(keys, value.values(), strict=True):
            if draw(st.integers(0, 4)) == 0:
                lines.append(deeper + draw(COMMENTS))
            if draw(st.integers(0, 6)) == 0:
                lines.append("")
            tail = f" {draw(COMMENTS)}" if draw(st.integers(0, 3)) == 0 else ""
            rendered = draw(by_hand(v, deeper))
            lines.append(f"{deeper}{k.ljust(width)} {sep} {rendered}{',' if commas else ''}{tail}")
        lines.append(indent + "}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        single = one_line or draw(st.booleans())
        items = [draw(by_hand(v, deeper, one_line=single)) for v in value]
        if single:
            pad = " " if draw(st.booleans()) else ""
            trailing = "," if draw(st.booleans()) else ""
            return "[" + pad + ", ".join(items) + trailing + pad + "]"
        trailing = draw(st.booleans())
        lines = ["["]
        for i, item in enumerate(items):
            if draw(st.integers(0, 4)) == 0:
                lines.append(deeper + draw(COMMENTS))
            comma = "," if trailing or i < len(items) - 1 else ""
            tail = f" {draw(COMMENTS)}" if draw(st.integers(0, 3)) == 0 else ""
            lines.append(f"{deeper}{item}{comma}{tail}")
        lines.append(indent + "]")
        return "\n".join(lines)
    return render(value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), old=VALUES, newline=NEWLINE)
def test_replace_value_in_hand_written_layouts(
    data: st.DataObject, old: object, newline: str
) -> None:
    written = data.draw(by_hand(old, "  "))
    new = data.draw(changed(old))
    text = (
        'resource "t" "n" {\n  # comment\n  attr = ' + written + '\n  other = "x" // keep\n}\n'
    ).replace("\n", newline)
    check_replace(text, old, new, newline)

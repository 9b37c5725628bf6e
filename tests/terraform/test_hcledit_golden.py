"""Golden tests of the HCL splice editor.

Each directory under golden/ holds an input file (`input.tf` or `input.tfvars`), an
`edit.json` saying what to change and the exact expected output (`expected.tf` /
`expected.tfvars`). edit.json is one of:

    {"op": "replace_value", "target": [...], "path": [...], "new": <value>}
    {"op": "set_attribute", "target": [...], "name": "<attribute>", "new": <value>}

target walks from the top of the file: a block type followed by as many of its labels as
match (`"resource", "kubernetes_deployment", "web"`), optionally the index among same-type
blocks (`"spec", 0`), and for replace_value finally an attribute name. path then walks into the
attribute's literal: a string is an object key, an integer a tuple index. For set_attribute
target names the body (a block, or [] for the top of the file).

Beyond the byte-for-byte comparison every case checks that bytes outside the edits are
unchanged, that the result parses and holds the new value, and that doing the same edit again
changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from breakglass.terraform.hcl import Attribute, Body, Document, Expr, NotLiteral
from breakglass.terraform.hcledit import (
    Edit,
    apply,
    render,
    replace_value,
    same,
    set_attribute,
)

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def navigate(doc: Document, target: Sequence[str | int]) -> Body | Attribute:
    """The body or attribute a golden edit's target names."""
    body = doc.body
    i = 0
    while i < len(target):
        step = target[i]
        assert isinstance(step, str), f"expected a block type or attribute at {target[i:]}"
        blocks = body.blocks(step)
        if not blocks:
            attribute = body.attribute(step)
            assert attribute is not None, f"no block or attribute {step!r}"
            assert i == len(target) - 1, f"attribute {step!r} must end the target"
            return attribute
        i += 1
        labels: list[str] = []
        while i < len(target):
            label = target[i]
            depth = len(labels)
            if not isinstance(label, str) or not any(
                len(b.labels) > depth and b.labels[depth] == label for b in blocks
            ):
                break
            labels.append(label)
            blocks = [b for b in blocks if b.labels[: depth + 1] == tuple(labels)]
            i += 1
        index = 0
        if i < len(target) and isinstance(target[i], int):
            index = int(target[i])
            i += 1
        else:
            assert len(blocks) == 1, f"{step} {labels} is ambiguous: {blocks}"
        body = blocks[index].body
    return body


def walk(expr: Expr, path: Sequence[str | int]) -> Expr:
    """The expression path leads to inside a literal."""
    for step in path:
        if isinstance(step, int):
            expr = expr.elements()[step]
        else:
            expr = next(item.value for item in expr.items() if item.key == step)
    return expr


def run_edit(doc: Document, spec: dict[str, object]) -> list[Edit]:
    target = spec["target"]
    assert isinstance(target, list)
    where = navigate(doc, target)
    if spec["op"] == "replace_value":
        assert isinstance(where, Attribute)
        path = spec.get("path", [])
        assert isinstance(path, list)
        return replace_value(doc, walk(where.expr, path), spec["new"])
    assert spec["op"] == "set_attribute"
    assert isinstance(where, Body)
    name = spec["name"]
    assert isinstance(name, str)
    return set_attribute(doc, where, name, spec["new"])


def new_value(doc: Document, spec: dict[str, object]) -> object:
    """The value at the edited place of doc."""
    target = spec["target"]
    assert isinstance(target, list)
    if spec["op"] == "set_attribute":
        where = navigate(doc, target)
        assert isinstance(where, Body)
        attribute = where.attribute(str(spec["name"]))
        assert attribute is not None
        return attribute.expr.value()
    where = navigate(doc, target)
    assert isinstance(where, Attribute)
    path = spec.get("path", [])
    assert isinstance(path, list)
    return walk(where.expr, path).value()


def assert_outside_unchanged(original: str, edits: Sequence[Edit], result: str) -> None:
    """Every byte of original outside the edits appears unchanged, in order, in result."""
    before = original.encode()
    after = result.encode()
    pos_in = 0
    pos_out = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        gap = before[pos_in : edit.start]
        assert after[pos_out : pos_out + len(gap)] == gap
        pos_out += len(gap) + len(edit.text.encode())
        pos_in = edit.end
    assert after[pos_out:] == before[pos_in:]


def read(path: Path) -> str:
    """File text with its line endings as they are (CRLF cases must stay CRLF)."""
    return path.read_bytes().decode()


def load(case: str) -> tuple[Path, str, dict[str, object], str]:
    directory = GOLDEN / case
    inputs = sorted(directory.glob("input.*"))
    assert len(inputs) == 1, f"{case}: one input file expected"
    source = inputs[0]
    spec = json.loads(read(directory / "edit.json"))
    expected = read(directory / f"expected{source.suffix}")
    return source, read(source), spec, expected


def test_enough_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    source, text, spec, expected = load(case)
    doc = Document.parse(text, path=str(source))
    edits = run_edit(doc, spec)
    result = apply(text, edits)
    assert result == expected
    assert_outside_unchanged(text, edits, result)
    reparsed = Document.parse(result, path=str(source))
    assert same(new_value(reparsed, spec), spec["new"])
    assert run_edit(reparsed, spec) == []


@pytest.mark.parametrize("case", CASES)
def test_golden_edits_are_local(case: str) -> None:
    """No edit reaches past the literal it changes (or, for a new attribute, its body)."""
    source, text, spec, _ = load(case)
    doc = Document.parse(text, path=str(source))
    edits = run_edit(doc, spec)
    where = navigate(doc, spec["target"])  # type: ignore[arg-type]
    if isinstance(where, Attribute):
        path = spec.get("path", [])
        assert isinstance(path, list)
        bounds = walk(where.expr, path).span
    else:
        bounds = where.span
    for edit in edits:
        assert bounds.start <= edit.start <= edit.end <= bounds.end, (edit, bounds)


# --- exact renderings and refusals ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (3, "3"),
        (-3, "-3"),
        (2.5, "2.5"),
        (1e16, "1.0e+16"),
        (1.5e-07, "1.5e-07"),
        ("plain", '"plain"'),
        ('q"b\\s', '"q\\"b\\\\s"'),
        ("line\nnext\ttab\r", '"line\\nnext\\ttab\\r"'),
        ("${var.x} %{if}", '"$${var.x} %%{if}"'),
        ("$${x}", '"\\u0024$${x}"'),
        ("%%{x}", '"\\u0025%%{x}"'),
        ("nul\x00", '"nul\\u0000"'),
        ("grüß 👋", '"grüß 👋"'),
        ([], "[]"),
        ([1, "a", None], '[1, "a", null]'),
        ({}, "{}"),
        (
            {"a": 1, "long_key": "x", "app.kubernetes.io/name": "web", "for": True},
            '{\n  a                        = 1\n  long_key                 = "x"\n'
            '  "app.kubernetes.io/name" = "web"\n  "for"                    = true\n}',
        ),
        (
            {"a": [1, 2], "nested": {"b": 1}, "z": 2},
            "{\n  a = [1, 2]\n  nested = {\n    b = 1\n  }\n  z = 2\n}",
        ),
        ([{"a": 1}, [2]], "[\n  {\n    a = 1\n  },\n  [2],\n]"),
    ],
)
def test_render_exact(value: object, text: str) -> None:
    assert render(value) == text


def test_render_layout_options() -> None:
    value = {"a": {"b": [1, {"c": 2}]}}
    assert render(value, multiline=False) == "{ a = { b = [1, { c = 2 }] } }"
    assert render(value, indent="    ") == (
        "{\n      a = {\n        b = [\n          1,\n          {\n            c = 2\n"
        "          },\n        ]\n      }\n    }"
    )
    assert render([1, 2], multiline=True) == "[\n  1,\n  2,\n]"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ({1: "x"}, TypeError),
        ({"a": object()}, TypeError),
        ({1, 2}, TypeError),
    ],
)
def test_render_refuses_what_has_no_literal(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        render(value)


def test_replace_value_refuses_non_literals() -> None:
    text = 'x = upper(var.a)\ny = "a-${var.b}"\nz = { a = var.c, b = 1 }\n'
    doc = Document.parse(text, path="t.tf")
    for name in ("x", "y", "z"):
        attribute = doc.body.attribute(name)
        assert attribute is not None
        with pytest.raises(NotLiteral):
            replace_value(doc, attribute.expr, "new")
    z = doc.body.attribute("z")
    assert z is not None
    # the literal element of an object that is not a literal as a whole can still change
    b = z.expr.items()[1].value
    assert apply(text, replace_value(doc, b, 2)) == text.replace("b = 1", "b = 2")


def test_set_attribute_refuses_bad_names() -> None:
    doc = Document.parse("a = 1\n", path="t.tfvars")
    for name in ("1x", "a.b", "for", ""):
        with pytest.raises(ValueError, match="attribute name"):
            set_attribute(doc, doc.body, name, 1)


def test_apply_rejects_overlap_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        apply("abcdef", [Edit(0, 3, "x"), Edit(2, 4, "y")])
    with pytest.raises(ValueError, match="outside"):
        apply("abc", [Edit(2, 9, "")])
    assert apply("abcdef", [Edit(3, 3, "-"), Edit(0, 1, "A"), Edit(3, 4, "D")]) == "Abc-Def"
    assert apply("é!", [Edit(2, 3, "?")]) == "é?"

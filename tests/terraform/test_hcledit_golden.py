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

from breakglass.terraform.hcl import Attribute, Body, Document, Expr
from breakglass.terraform.hcledit import Edit, apply, replace_value, same, set_attribute

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

"""Property tests for JSON manifests: random objects, random layouts, random changes.

A file written the usual way (``json.dumps`` with an indent of 2, 4 or a tab, escaped or raw
non-ASCII, with or without a final newline) that gets one scalar changed must differ from
the original on exactly one line.  Any change to any file, including files whose layout was
touched by hand, must read back as *Git document + delta* with the key order kept.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from breakglass import delta
from breakglass.gitops import edit, jsonfile
from tests.gitops.test_properties import SCALARS, leaves, maps, mutate

JSON = Any

INDENTS = st.sampled_from([2, 4, "\t"])


def example(spec: dict[str, JSON]) -> dict[str, JSON]:
    return {"apiVersion": "v1", "kind": "Example", "metadata": {"name": "x"}, "spec": spec}


@given(spec=maps(2), indent=INDENTS, ascii_=st.booleans(), newline=st.booleans(), data=st.data())
def test_a_scalar_change_rewrites_its_own_line_only(
    spec: dict[str, JSON], indent: int | str, ascii_: bool, newline: bool, data: st.DataObject
) -> None:
    git = example(spec)
    text = json.dumps(git, indent=indent, ensure_ascii=ascii_) + ("\n" if newline else "")
    scalars = [p for p in leaves(git) if not isinstance(edit.plain_get(git, p)[1], dict | list)]
    path = data.draw(st.sampled_from(scalars))
    old = edit.plain_get(git, path)[1]
    value = data.draw(SCALARS.filter(lambda v: json.dumps(v) != json.dumps(old)))
    edited = jsonfile.edit_documents(text, {0: [edit.SetOp(path, value)]}, path="x.json")
    assert edited.note is None
    before, after = text.split("\n"), edited.text.split("\n")
    assert len(before) == len(after)
    assert sum(1 for a, b in zip(before, after, strict=True) if a != b) == 1
    expected = edit.apply_plain(git, [edit.SetOp(path, value)])
    assert json.dumps(json.loads(edited.text)) == json.dumps(expected)


@given(spec=maps(2), indent=INDENTS, data=st.data())
def test_any_change_to_any_layout_reads_back_as_git_plus_delta(
    spec: dict[str, JSON], indent: int | str, data: st.DataObject
) -> None:
    git = example(spec)
    canonical = json.dumps(git, indent=indent).split("\n")
    lines = list(canonical)
    for number in data.draw(st.sets(st.integers(0, len(lines) - 1), max_size=4)):
        # aligned by hand, or a stray space before a comma
        lines[number] = lines[number].replace('": ', '":   ', 1).replace(",", " ,", 1)
    text = "\n".join(lines) + "\n"
    ops = edit.ops_from_delta(*delta.sparse_delta(git, mutate(data, git)))
    edited = jsonfile.edit_documents(text, {0: ops}, path="x.json")
    expected = edit.apply_plain(git, ops)
    assert json.dumps(json.loads(edited.text)) == json.dumps(expected)
    hand_made = [line for line, plain in zip(lines, canonical, strict=True) if line != plain]
    if edited.note is None:
        # a hand-made line is kept as it was, or, where a value on it changed, kept with its
        # layout (alignment, spacing) and only the value replaced
        kept = edited.text.split("\n")
        shapes = {_shape(line) for line in kept}
        assert all(line in kept or _shape(line) in shapes for line in hand_made)
    else:
        assert hand_made


_SCALAR = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null')


def _shape(line: str) -> str:
    """A line of JSON with every scalar replaced by ``_``: its layout alone."""
    return _SCALAR.sub("_", line)

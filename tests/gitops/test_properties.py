"""Property tests: random edits to random manifests.

For every generated manifest (random layout: indentation, list offset, quoting, comments) and
every random change to it, the edited file must read back as *Git document + delta*, every
original line outside the edited entries must still be there in order, and the other
documents of the file must be byte-for-byte the same.  Run longer with
``BREAKGLASS_HYPOTHESIS_PROFILE=long`` (see ``conftest.py``).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from breakglass import delta
from breakglass.gitops import edit, roundtrip

JSON = Any

KEYS = st.sampled_from(["alpha", "beta", "gamma", "delta", "port", "mode", "x-y", "a.b/c"])
STRINGS = st.sampled_from(
    ["web", "30", "yes", "1.5", "true", "x y", "0755", "with: colon", "#hash", "1.4.2",
     "500m", "off", "-dash", "~", "a'b", 'q"q', "2024-01-01", "1e3", "Ünï"]
)  # fmt: skip
SCALARS = st.one_of(st.integers(-3, 300), st.booleans(), STRINGS)


def maps(depth: int) -> st.SearchStrategy[dict[str, JSON]]:
    values: st.SearchStrategy[JSON] = SCALARS
    if depth > 0:
        values = st.one_of(
            SCALARS,
            maps(depth - 1),
            st.lists(SCALARS, min_size=1, max_size=4),
            st.lists(items(depth - 1), min_size=1, max_size=3, unique_by=lambda i: i["name"]),
        )
    return st.dictionaries(KEYS, values, min_size=1, max_size=4)


def items(depth: int) -> st.SearchStrategy[dict[str, JSON]]:
    return st.builds(
        lambda name, rest: {"name": name, **{k: v for k, v in rest.items() if k != "name"}},
        st.sampled_from(["app", "side", "init", "db"]),
        st.dictionaries(KEYS, SCALARS if depth <= 0 else st.one_of(SCALARS, maps(0)), max_size=3),
    )


STYLES = st.builds(
    roundtrip.Style,
    indent=st.sampled_from([2, 4]),
    seq_offset=st.sampled_from([0, 2]),
    quote=st.sampled_from(['"', "'"]),
)


def with_comments(text: str, every: int) -> str:
    """Sprinkle own-line and end-of-line comments over a rendered document."""
    out = []
    for number, line in enumerate(text.splitlines()):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if number % every == 1:
            out.append(" " * indent + f"# note {number}")
        if number % every == 2 and not stripped.endswith(":"):
            line += f"  # eol {number}"
        out.append(line)
    return "\n".join(out) + "\n"


def leaves(value: JSON, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(value, dict):
        for key, sub in value.items():
            out.extend(leaves(sub, (*path, key)))
    elif isinstance(value, list):
        for pos, sub in enumerate(value):
            out.extend(leaves(sub, (*path, pos)))
    return out


def prune(value: JSON) -> JSON:
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def mutate(data: st.DataObject, doc: dict[str, JSON]) -> dict[str, JSON]:
    new = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        # merge keys are identities, not values: changing one is a remove plus an add
        paths = [p for p in leaves(new["spec"], ("spec",)) if p[-1] != "name"]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = new
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["set", "add", "remove"]))
        last = path[-1]
        if action == "set":
            parent[last] = data.draw(SCALARS)
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["zeta", "eta", "theta"]))] = data.draw(
                st.one_of(SCALARS, maps(0))
            )
        elif action == "add" and isinstance(parent, list):
            if all(isinstance(i, dict) and "name" in i for i in parent):
                name = data.draw(st.sampled_from(["new1", "new2"]))
                if name not in [i["name"] for i in parent]:
                    parent.append({"name": name, "value": data.draw(SCALARS)})
            elif all(not isinstance(i, dict | list) for i in parent):
                parent.insert(data.draw(st.integers(0, len(parent))), data.draw(SCALARS))
        elif action == "remove" and len(path) > 1 and last != "name":
            del parent[last]
    return new


def untouched_lines(text: str, ops: list[edit.Op]) -> list[str]:
    """Original lines that no operation's existing entry covers."""
    root = roundtrip.parse_chunk(text)
    assert isinstance(root, roundtrip.YMap)
    probe = edit._TextEdit(text, root, roundtrip.Style())
    expected = edit.apply_plain(roundtrip.to_plain(root), ops)
    lines = text.splitlines()
    touched: set[int] = set()
    for op in ops:
        path = op.path if not isinstance(op, edit.AddItemOp) else ()
        chain = probe._walk(path)
        if len(chain) != len(path) + 1 or not path:
            continue
        while isinstance(op, edit.RemoveOp) and len(path) > 1:
            if edit.plain_get(expected, path[:-1])[0]:
                break
            path = path[:-1]  # the container went away with its last entry
            chain = chain[:-1]
        key, node = chain[-1]
        first = (key or node).line
        last = text.count("\n", 0, max(probe._content_end(node, key) - 1, 0))
        if isinstance(op, edit.RemoveOp):
            while first > 0 and lines[first - 1].lstrip().startswith("#"):
                first -= 1
            first = min(first, text.count("\n", 0, probe._dash(node))) if key is None else first
        touched.update(range(first, last + 1))
    return [line for number, line in enumerate(lines) if number not in touched]


def is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(line == hay for hay in it) for line in needles)


OTHER = "---\n# another document\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"


@given(spec=maps(2), style=STYLES, every=st.integers(3, 7), data=st.data())
def test_random_edit_reads_back_as_git_plus_delta(
    spec: dict[str, JSON], style: roundtrip.Style, every: int, data: st.DataObject
) -> None:
    git = {"apiVersion": "v1", "kind": "Example", "metadata": {"name": "x"}, "spec": spec}
    text = with_comments(roundtrip.render_document(git, style), every)
    assert roundtrip.to_plain(roundtrip.parse_chunk(text)) == git
    new = mutate(data, git)
    before, after = delta.sparse_delta(git, new)
    ops = edit.ops_from_delta(before, after)
    result = edit.edit_text(text, ops)
    got = roundtrip.to_plain(roundtrip.parse_chunk(result))
    assert got == edit.apply_plain(git, ops)
    assert prune(got) == prune(new)
    assert is_subsequence(untouched_lines(text, ops), result.splitlines())


@given(spec=maps(1), style=STYLES, data=st.data())
def test_other_documents_stay_byte_for_byte(
    spec: dict[str, JSON], style: roundtrip.Style, data: st.DataObject
) -> None:
    git = {"apiVersion": "v1", "kind": "Example", "metadata": {"name": "x"}, "spec": spec}
    text = roundtrip.render_document(git, style)
    chunks = roundtrip.split_documents(OTHER + "---\n" + text + OTHER)
    assert len(chunks) == 3
    new = mutate(data, git)
    ops = edit.ops_from_delta(*delta.sparse_delta(git, new))
    edited = edit.edit_text(chunks[1].text, ops)
    whole = chunks[0].text + edited + chunks[2].text
    again = roundtrip.split_documents(whole)
    assert again[0].text == chunks[0].text
    assert again[2].text == chunks[2].text

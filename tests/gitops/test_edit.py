"""Text edits of single documents: the layout rules one at a time."""

from __future__ import annotations

import pytest

from breakglass.gitops import edit, roundtrip
from breakglass.gitops.edit import AddItemOp, Match, RemoveOp, SetOp


def test_scalar_keeps_quoting_and_eol_comment() -> None:
    text = "a: 'x'  # single\nb: \"30\"\nc: 5\n"
    out = edit.edit_text(text, [SetOp(("a",), "y"), SetOp(("b",), "31"), SetOp(("c",), 6)])
    assert out == "a: 'y'  # single\nb: \"31\"\nc: 6\n"


def test_number_like_strings_are_quoted_when_added() -> None:
    out = edit.edit_text(
        "a: 1\n", [SetOp(("b",), "010"), SetOp(("c",), "on"), SetOp(("d",), "1e3")]
    )
    assert roundtrip.to_plain(roundtrip.parse_chunk(out)) == {
        "a": 1,
        "b": "010",
        "c": "on",
        "d": "1e3",
    }
    assert "b: 010" not in out and "c: on" not in out


@pytest.mark.parametrize("value", ["a\r\nb", "a\u2028b\nc", "x\x85y\nz", "del\x7f\nq"])
def test_values_a_block_cannot_hold_are_double_quoted_with_escapes(value: str) -> None:
    """YAML also breaks lines at CR, NEL, LS and PS: such values are escaped, never raw."""
    for text in ("a: x\n", "a: |\n  x\n"):
        out = edit.edit_text(text, [SetOp(("a",), value)])
        assert roundtrip.to_plain(roundtrip.parse_chunk(out)) == {"a": value}
        assert out.startswith('a: "')


def test_literal_block_stays_literal_with_its_indentation() -> None:
    text = "data:\n  script: |\n      echo one\n      echo two\n  other: x\n"
    out = edit.edit_text(text, [SetOp(("data", "script"), "echo one\necho three\n")])
    assert out == "data:\n  script: |\n      echo one\n      echo three\n  other: x\n"


@pytest.mark.parametrize("value", ["echo three\n", "echo three"])
def test_literal_block_with_one_line_stays_literal(value: str) -> None:
    text = "data:\n  script: |\n    echo one\n  other: x\n"
    out = edit.edit_text(text, [SetOp(("data", "script"), value)])
    chomp = "" if value.endswith("\n") else "-"
    assert out == f"data:\n  script: |{chomp}\n    echo three\n  other: x\n"


def test_multiline_value_becomes_literal_and_keeps_comment() -> None:
    out = edit.edit_text("a: x  # note\nb: 1\n", [SetOp(("a",), "l1\nl2")])
    assert out == "a: |-  # note\n  l1\n  l2\nb: 1\n"


def test_removed_key_takes_own_line_and_eol_comments_but_not_neighbours() -> None:
    text = "m:\n  # about a\n  a: 1  # eol\n\n  # about b\n  b: 2\n"
    assert edit.edit_text(text, [RemoveOp(("m", "a"))]) == "m:\n\n  # about b\n  b: 2\n"


def test_flow_sequence_item_removed_and_inserted() -> None:
    text = 'args: ["--a", "--b", "--c"]  # keep\n'
    out = edit.edit_text(text, [SetOp(("args",), ["--a", "--x", "--c", "--d"])])
    assert out == 'args: ["--a", "--x", "--c", "--d"]  # keep\n'
    out = edit.edit_text(text, [SetOp(("args",), ["--c"])])
    assert out == 'args: ["--c"]  # keep\n'


def test_block_sequence_insert_keeps_comments_of_other_items() -> None:
    text = "cmd:\n- run  # first\n- go\n"
    out = edit.edit_text(text, [SetOp(("cmd",), ["start", "run", "go"])])
    assert out == "cmd:\n- start\n- run  # first\n- go\n"


def test_keyed_item_found_by_merge_key_not_position() -> None:
    text = "env:\n  - name: B\n    value: b\n  - name: A\n    value: a\n"
    out = edit.edit_text(text, [SetOp(("env", Match("name", "A"), "value"), "z")])
    assert out == "env:\n  - name: B\n    value: b\n  - name: A\n    value: z\n"


def test_add_item_merges_into_existing_item() -> None:
    text = "env:\n- name: A\n  value: a\n"
    op = AddItemOp(("env",), {"name": "A", "value": "a"}, "name")
    assert edit.edit_text(text, [op]) == text


def test_empty_value_gets_content() -> None:
    text = "metadata:\n  annotations:  # none yet\n  name: x\n"
    out = edit.edit_text(text, [SetOp(("metadata", "annotations", "a"), "b")])
    assert roundtrip.to_plain(roundtrip.parse_chunk(out)) == {
        "metadata": {"annotations": {"a": "b"}, "name": "x"}
    }
    assert "# none yet" in out


def test_removing_last_entry_removes_the_container() -> None:
    text = "a:\n  b:\n    c: 1\nd: 2\n"
    assert edit.edit_text(text, [RemoveOp(("a", "b", "c"))]) == "d: 2\n"


def test_type_change_is_written() -> None:
    text = "a: 1\nb: x\n"
    out = edit.edit_text(text, [SetOp(("a",), {"k": "v"})])
    assert roundtrip.to_plain(roundtrip.parse_chunk(out)) == {"a": {"k": "v"}, "b": "x"}


def test_no_op_returns_text_unchanged() -> None:
    text = "a: 1   # spacing kept\n"
    assert edit.edit_text(text, [SetOp(("a",), 1)]) is text


def test_merge_keys_are_resolved_for_reading() -> None:
    node = roundtrip.parse_chunk("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n")
    assert roundtrip.to_plain(node)["use"] == {"x": 1, "y": 2}


def test_split_documents_round_trips() -> None:
    text = "# head\na: 1\n---\nb: 2\n--- # c\nc: 3\n...\n"
    chunks = roundtrip.split_documents(text)
    assert "".join(c.text for c in chunks) == text
    assert [c.line for c in chunks] == [0, 2, 4]


def test_style_detection() -> None:
    node = roundtrip.parse_chunk("a:\n    b:\n    - x\n    c: 'q'\n")
    assert roundtrip.detect_style(node) == roundtrip.Style(indent=4, seq_offset=0, quote="'")


@pytest.mark.parametrize(
    "text", ["x", "web-1", "500m", "a.b/c", "Ünï", "-dash", "registry:5000/img:1.2"]
)
def test_plain_safe_strings(text: str) -> None:
    assert roundtrip.plain_safe(text)


@pytest.mark.parametrize(
    "text", ["", "30", "1.5", "yes", "Off", "~", "null", "0x1F", "1:20", "2024-01-01", "a: b", "#x"]
)
def test_strings_that_need_quotes(text: str) -> None:
    assert not roundtrip.plain_safe(text)

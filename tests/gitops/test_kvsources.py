"""kustomize's key=value syntaxes: what breakglass writes is what kustomize reads back.

Literal entries and env file lines are read the way kustomize reads them (split at the first
``=``; literals lose one pair of matching quotes; env lines keep their value raw and skip
comments, blank lines and leading white space).  The properties check that any value written
by ``render_literal`` or ``env_set``/``env_add`` reads back as itself, through the YAML list
item too, and that an env file edit leaves every other line byte for byte.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from breakglass.gitops import edit, kvsources, roundtrip

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True)
#: Values rich in what trips literal and env syntaxes: = quotes spaces # and unicode.
VALUES = st.one_of(
    st.text(alphabet=list("ab0=\"' #:-{}[],\\\tü✓\u2028\n\r"), max_size=14),
    st.sampled_from(["yes", "30", "~", "-dash", "a: b", '"x"', "'y'", " padded "]),
)
LINE_VALUES = VALUES.filter(kvsources.env_value_ok)
QUOTES = st.sampled_from([None, '"', "'"])


def test_literal_parsing_follows_kustomize() -> None:
    assert kvsources.parse_literal("A=b=c") == ("A", "b=c")
    assert kvsources.parse_literal('A="x"') == ("A", "x")
    assert kvsources.parse_literal("A='x'") == ("A", "x")
    assert kvsources.parse_literal("A=\"x'") == ("A", "\"x'")
    assert kvsources.parse_literal('A="') == ("A", '"')
    assert kvsources.parse_literal("A=") == ("A", "")
    assert kvsources.parse_literal("=x") is None
    assert kvsources.parse_literal("novalue") is None
    assert kvsources.literal_quote('A="x"') == '"'
    assert kvsources.literal_quote("A=x") is None


def test_a_value_in_quotes_gets_one_more_pair() -> None:
    assert kvsources.render_literal("A", '"x"') == "A='\"x\"'"
    assert kvsources.render_literal("A", "plain") == "A=plain"
    assert kvsources.render_literal("A", "plain", "'") == "A='plain'"


@given(key=KEYS, value=VALUES, quote=QUOTES)
def test_literal_round_trip(key: str, value: str, quote: str | None) -> None:
    assert kvsources.parse_literal(kvsources.render_literal(key, value, quote)) == (key, value)


@given(key=KEYS, old=VALUES, new=VALUES, quote=QUOTES, yaml_quote=st.sampled_from(["", "'", '"']))
def test_literal_edited_in_a_kustomization_reads_back(
    key: str, old: str, new: str, quote: str | None, yaml_quote: str
) -> None:
    """Through the YAML list item as well: quoting styles of both layers are kept or chosen
    so that kustomize gets exactly ``new``."""
    first = kvsources.render_literal(key, old, quote)
    item = roundtrip.render_scalar(first, style=roundtrip.Style(), prefer=yaml_quote or None)
    text = f"configMapGenerator:\n- name: app\n  literals:\n  - OTHER=1  # kept\n  - {item}\n"
    literal = kvsources.render_literal(key, new, kvsources.literal_quote(first))
    result = edit.edit_text(text, [edit.SetOp(("configMapGenerator", 0, "literals", 1), literal)])
    data = roundtrip.to_plain(roundtrip.parse_chunk(result))
    assert kvsources.parse_literal(data["configMapGenerator"][0]["literals"][1]) == (key, new)
    assert "  - OTHER=1  # kept\n" in result


def test_env_lines_are_read_like_kustomize() -> None:
    text = "\ufeffA=1\n# comment\n\n   B = two \r\nC\n\tD=x=y\nE=last"
    lines = {line.key: line.value for line in kvsources.env_lines(text)}
    assert lines == {"A": "1", "B ": " two ", "C": None, "D": "x=y", "E": "last"}


def test_env_edits_keep_line_breaks_and_other_lines() -> None:
    text = "# settings\r\nA=1\r\nB=2\r\n"
    assert kvsources.env_set(text, "A", "9") == "# settings\r\nA=9\r\nB=2\r\n"
    assert kvsources.env_add(text, "C", "3") == text + "C=3\r\n"
    assert kvsources.env_remove(text, "A") == "# settings\r\nB=2\r\n"
    assert kvsources.env_add("A=1", "B", "2") == "A=1\nB=2\n"
    assert kvsources.env_add("", "B", "2") == "B=2\n"


ENV_LINES = st.lists(
    st.one_of(
        st.tuples(KEYS.filter(kvsources.env_key_ok), LINE_VALUES).map(
            lambda kv: f"{kv[0]}={kv[1]}"
        ),
        st.sampled_from(["# a comment", "", "   # indented comment", "  PADDED=x"]),
    ),
    max_size=8,
)


@given(lines=ENV_LINES, newline=st.sampled_from(["\n", "\r\n"]), value=LINE_VALUES, data=st.data())
def test_env_set_changes_one_value_and_nothing_else(
    lines: list[str], newline: str, value: str, data: st.DataObject
) -> None:
    text = newline.join([*lines, "TARGET=old"]) + data.draw(st.sampled_from(["", newline]))
    edited = kvsources.env_set(text, "TARGET", value)
    assert {e.key: e.value for e in kvsources.env_lines(edited)}["TARGET"] == value
    before, after = text.split(newline), edited.split(newline)
    assert len(before) == len(after)
    assert [b for b, a in zip(before, after, strict=True) if b != a] in ([], ["TARGET=old"])


@given(lines=ENV_LINES, newline=st.sampled_from(["\n", "\r\n"]), value=LINE_VALUES)
def test_env_add_then_remove_gives_the_file_back(
    lines: list[str], newline: str, value: str
) -> None:
    text = newline.join(lines) + (newline if lines else "")
    added = kvsources.env_add(text, "ADDED_KEY", value)
    assert added.startswith(text)
    assert {e.key: e.value for e in kvsources.env_lines(added)}.get("ADDED_KEY") == value
    assert kvsources.env_remove(added, "ADDED_KEY") == text


def test_file_sources() -> None:
    assert kvsources.parse_file_source("conf/nginx.conf") == ("nginx.conf", "conf/nginx.conf")
    assert kvsources.parse_file_source("site.conf=conf/nginx.conf") == (
        "site.conf",
        "conf/nginx.conf",
    )
    assert kvsources.parse_file_source("=x") is None
    assert kvsources.parse_file_source("a=b=c") is None

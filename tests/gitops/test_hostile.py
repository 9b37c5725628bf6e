"""Hostile repository content must end in a clear error or a safe result."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from breakglass.commands import backfill as command
from breakglass.gitops import edit, engine, index, roundtrip

BOMB = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: bomb
  namespace: shop
data:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""

CM = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n  k: v\n"
)


def live(name: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "1"},
        "data": {"k": value},
    }


def test_alias_bomb_is_indexed_quickly_and_not_expanded(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"bomb.yaml": BOMB, "ok.yaml": CM.format(name="ok")})
    started = time.monotonic()
    idx = index.Index.build(repo)
    assert time.monotonic() - started < 5
    assert [d.name for d in idx.docs_of_kind("", "ConfigMap")] == ["bomb", "ok"]
    result = engine.backfill(idx, live("ok", "v"), live("ok", "w"))
    assert isinstance(result, engine.Changed)


def test_alias_bomb_as_edit_target_is_refused(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"bomb.yaml": BOMB})
    idx = index.Index.build(repo)
    old = live("bomb", "v")
    new = live("bomb", "w")
    result = engine.backfill(idx, old, new)
    assert isinstance(result, engine.CannotExpress)
    assert "alias limit" in result.reason or "too many" in result.reason


def test_plain_expansion_has_a_budget() -> None:
    node = roundtrip.parse_chunk(BOMB.lstrip())
    with pytest.raises(roundtrip.YamlError):
        roundtrip.to_plain(node)


def test_big_file_skipped_with_note(make_repo) -> None:  # type: ignore[no-untyped-def]
    big = CM.format(name="big") + "  pad: " + "x" * 5000 + "\n"
    repo = make_repo({"big.yaml": big, "small.yaml": CM.format(name="small")})
    idx = index.Index.build(repo, max_file_bytes=1000)
    assert [d.name for d in idx.all_docs()] == ["small"]
    assert any("big.yaml" in p and "cap" in p for p in idx.problems())


def test_symlinks_out_of_the_repo_are_not_followed(tmp_path: Path, make_repo) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "cm.yaml").write_text(CM.format(name="stolen"))
    repo = make_repo({"ok.yaml": CM.format(name="ok")})
    os.symlink(outside / "cm.yaml", repo / "link.yaml")
    os.symlink(outside, repo / "linkdir")
    idx = index.Index.build(repo)
    assert [d.name for d in idx.all_docs()] == ["ok"]
    notes = " ".join(idx.problems())
    assert "link.yaml" in notes and "linkdir" in notes
    result = engine.backfill(idx, live("stolen", "v"), live("stolen", "w"))
    assert isinstance(result, engine.CannotExpress)
    assert (outside / "cm.yaml").read_text() == CM.format(name="stolen")
    with pytest.raises(PermissionError):
        idx.read("linkdir/cm.yaml")


def test_symlink_inside_the_repo_is_indexed(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"real/cm.yaml": CM.format(name="inside")})
    os.symlink(repo / "real/cm.yaml", repo / "alias.yaml")
    idx = index.Index.build(repo)
    assert sorted(d.path for d in idx.all_docs()) == ["alias.yaml", "real/cm.yaml"]


def test_names_that_climb_out_are_bad_input(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"shop/ok.yaml": CM.format(name="ok")})
    idx = index.Index.build(repo)
    bad = live("../../etc/passwd", "v")
    with pytest.raises(engine.errors.InputError):
        engine.backfill(idx, None, bad)


def test_writer_refuses_paths_outside_the_repo(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"ok.yaml": CM.format(name="ok")})
    idx = index.Index.build(repo)
    with pytest.raises(PermissionError):
        command.write_files(idx, {"../escape.yaml": "x: 1\n"})
    assert not (repo.parent / "escape.yaml").exists()


def test_deeply_nested_document_is_an_error_not_a_crash() -> None:
    text = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises((roundtrip.YamlError, edit.EditError)):
        edit.edit_text(text, [edit.SetOp(("b",), 1)])
    docs, _problems = index.index_text("deep.yaml", text)
    assert docs == ()


def test_anchored_values_are_not_edited_through() -> None:
    text = "base: &b\n  cpu: 1\nother:\n  limits: *b\n"
    with pytest.raises(edit.EditError, match="anchor"):
        edit.edit_text(text, [edit.SetOp(("other", "limits", "cpu"), 2)])

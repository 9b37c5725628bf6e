"""The ``backfill`` command: every exit code, and broken input that must end in exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breakglass import cli

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2  # HA minimum
"""

OLD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, resourceVersion: "10", uid: u-1}
spec: {replicas: 2, revisionHistoryLimit: 10}
status: {replicas: 2}
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["backfill", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(make_repo) -> Path:  # type: ignore[no-untyped-def]
    path: Path = make_repo({"apps/web.yaml": DEPLOY})
    return path


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_exit_0_changes_files_and_prints_json(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path, "old.yaml", OLD)
    new = write(tmp_path, "new.yaml", OLD.replace("replicas: 2,", "replicas: 6,"))
    code, out, _ = run(["--repo", str(repo), "--old", old, "--new", new], capsys)
    assert code == 0
    assert json.loads(out)["changed"] == ["apps/web.yaml"]
    assert "replicas: 6  # HA minimum" in (repo / "apps/web.yaml").read_text()


def test_exit_1_when_git_already_says_so(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path, "old.yaml", OLD.replace("replicas: 2,", "replicas: 4,"))
    new = write(tmp_path, "new.yaml", OLD)
    code, _, err = run(["--repo", str(repo), "--old", old, "--new", new], capsys)
    assert code == 1
    assert "nothing to change" in err


def test_exit_3_leaves_repo_untouched(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (repo / "apps/web.yaml").read_text()
    old = write(tmp_path, "old.yaml", OLD.replace("web", "api"))
    new = write(
        tmp_path, "new.yaml", OLD.replace("web", "api").replace("replicas: 2,", "replicas: 3,")
    )
    code, out, err = run(["--repo", str(repo), "--old", old, "--new", new], capsys)
    assert code == 3
    assert out == ""
    assert "no manifest" in err and "spec.replicas" in err
    assert (repo / "apps/web.yaml").read_text() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("key: [unclosed\n", "not YAML or JSON"),
        ("- just\n- a list\n", "not a Kubernetes object"),
        ("just a string\n", "not a Kubernetes object"),
        ("apiVersion: v1\nmetadata: {name: x}\n", "no kind"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "no apiVersion"),
        ("apiVersion: v1\nkind: ConfigMap\n", "no metadata.name"),
        ("apiVersion: v1\nkind: 'not a kind!'\nmetadata: {name: x}\n", "unknown kind"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ../../etc}\n", "not a valid name"),
        ("apiVersion: v1\nkind: List\nitems: []\nmetadata: {name: x}\n", "a List"),
        ("a: 1\n---\nb: 2\n", "expected one object, found 2"),
        ('{"apiVersion": "v1", "kind": "ConfigMap"', "not YAML or JSON"),
    ],
)
def test_exit_2_for_broken_input(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    new = write(tmp_path, "new.yaml", content)
    code, _, err = run(["--repo", str(repo), "--new", new], capsys)
    assert code == 2
    assert message in err
    assert str(new) in err


def test_exit_2_for_unreadable_file(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["--repo", str(repo), "--old", str(tmp_path / "missing.yaml")], capsys)
    assert code == 2
    assert "missing.yaml" in err and "cannot read" in err
    code, _, err = run(["--repo", str(repo), "--old", str(tmp_path)], capsys)
    assert code == 2
    assert "cannot read" in err


def test_exit_2_for_binary_file(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "blob.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    code, _, err = run(["--repo", str(repo), "--new", str(path)], capsys)
    assert code == 2
    assert "blob.yaml" in err


def test_exit_2_without_old_or_new(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["--repo", str(repo)], capsys)
    assert code == 2
    assert "--old" in err


def test_exit_2_when_repo_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = write(tmp_path, "new.yaml", OLD)
    code, _, err = run(["--repo", str(tmp_path / "nope"), "--new", new], capsys)
    assert code == 2
    assert "not a directory" in err


def test_exit_2_when_old_and_new_are_different_objects(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path, "old.yaml", OLD)
    new = write(tmp_path, "new.yaml", OLD.replace("name: web", "name: api"))
    code, _, err = run(["--repo", str(repo), "--old", old, "--new", new], capsys)
    assert code == 2
    assert "different objects" in err


def test_unknown_but_well_formed_kind_is_not_managed(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\n"
    old = write(tmp_path, "old.yaml", text + "spec: {size: 1}\n")
    new = write(tmp_path, "new.yaml", text + "spec: {size: 2}\n")
    code, _, err = run(["--repo", str(repo), "--old", old, "--new", new], capsys)
    assert code == 3
    assert "Widget" in err


def test_help_has_description_and_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["backfill", "--help"])
    out = capsys.readouterr().out
    assert "exit codes" in out
    assert "breakglass backfill --repo" in out

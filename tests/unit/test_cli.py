"""The command line: help, version, journal listing, and errors as one line plus a hint."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from breakglass import __version__, cli, model
from breakglass.capture import admission
from breakglass.journal import open_journal
from tests import payloads as p

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def test_help_lists_every_command_with_one_line():
    out = run("--help")
    assert out.returncode == 0
    for command in ("serve", "config", "journal"):
        assert f"    {command}" in out.stdout
    assert "examples:" in out.stdout


def test_version():
    out = run("--version")
    assert out.stdout.strip() == f"breakglass {__version__}"


def test_every_command_help_has_an_example():
    for command in ("serve", "config", "journal"):
        out = run(command, "--help")
        assert out.returncode == 0
        assert "example" in out.stdout


def test_journal_list_and_show(tmp_path, policy, now):
    db = tmp_path / "journal.db"
    config = tmp_path / "breakglass.yaml"
    config.write_text(f"journal: sqlite:///{db}\n")

    async def seed() -> model.Capture:
        j = open_journal(f"sqlite:///{db}")
        await j.open()
        review = p.review(operation="UPDATE", obj=p.deployment(replicas=5), old=p.deployment())
        c = admission.decide(review["request"], policy=policy, now=now)
        await j.insert(c)
        await j.close()
        return c

    capture = asyncio.run(seed())
    table = run("journal", "list", "--config", str(config))
    assert table.returncode == 0
    assert capture.id in table.stdout and "provisional" in table.stdout
    listed = json.loads(run("journal", "list", "--config", str(config), "--format", "json").stdout)
    assert listed[0]["id"] == capture.id
    assert listed[0]["actor"]["username"] == "alice"
    assert listed[0]["object"] == listed[0]["object"] | {
        "kind": "Deployment",
        "namespace": "payments",
        "name": "checkout",
    }
    assert listed[0]["source"] == "admission" and listed[0]["operation"] == "UPDATE"
    empty = run("journal", "list", "--config", str(config), "--status", "merged")
    assert "no captures with status merged" in empty.stdout
    shown = json.loads(run("journal", "show", "--config", str(config), capture.id).stdout)
    assert shown["delta"]["after"]["spec"] == {"replicas": 5}
    missing = run("journal", "show", "--config", str(config), "nope")
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: no capture nope")
    assert "hint:" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["journal", "list"],
        ["journal", "list", "--format", "json"],
        ["journal", "show", "01JC3W9X8R4T5Y6Z7A8B9C0D1E"],
        ["audit", "show"],
        ["pulls", "list"],
        ["pulls", "show", "1"],
    ],
)
def test_read_commands_create_no_state(tmp_path, command):
    config = tmp_path / "breakglass.yaml"
    config.write_text("cluster: fresh\n")  # state_dir defaults to breakglass-state beside it
    out = run(*command, "--config", str(config), cwd=ROOT)
    assert not (tmp_path / "breakglass-state").exists(), out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    said = f"no journal at {tmp_path}/breakglass-state/journal.db yet: breakglass has recorded "
    if command[:2] == ["journal", "list"]:
        assert out.returncode == 0
        if "json" in command:
            assert json.loads(out.stdout) == []
            assert out.stderr.startswith(said)
        else:
            assert out.stdout == said + "nothing\n"
    elif command[0] == "journal":
        assert out.returncode == 2
        assert out.stderr.startswith(f"error: {said}nothing\nhint: ")


def test_missing_config_is_one_line_with_a_hint(tmp_path):
    out = run("serve", "--config", str(tmp_path / "absent.yaml"))
    assert out.returncode == 2
    assert "invalid configuration" in out.stderr
    assert "hint:" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_command_that_cannot_be_loaded_is_a_broken_install_not_a_quiet_omission(
    monkeypatch, capsys
):
    import importlib

    real = importlib.import_module

    def import_module(name, *args):
        if name == "breakglass.commands.audit":
            raise ModuleNotFoundError("No module named 'breakglass.commands.audit'", name=name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", import_module)
    assert cli.main(["--help"]) == 70
    err = capsys.readouterr().err
    assert "error: the audit command cannot be loaded (ModuleNotFoundError" in err
    assert "installed incompletely" in err

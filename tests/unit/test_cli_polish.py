"""The command line as a newcomer meets it: one line per command in --help, an example in every
command's help, examples that parse in the help of every command a user runs (sub-commands'
included), --version, and errors as one line plus a hint (a traceback only with --debug,
before or after the command)."""

from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator

import pytest

from breakglass import __version__, cli, commands
from breakglass.journal import open_journal


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "80"},
    )


NAMES = [m.NAME for m in commands.all_commands()]


def test_help_lists_every_command_on_one_line_each():
    out = run("--help")
    assert out.returncode == 0
    for module in commands.all_commands():
        line = re.search(rf"^    {module.NAME} +(.+)$", out.stdout, re.M)
        assert line, f"{module.NAME} is not on one line:\n{out.stdout}"
        assert line.group(1) == module.SUMMARY
    assert set(NAMES) >= {"demo", "serve", "worker", "config", "journal", "backfill"}
    assert {"audit", "manifests"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_command_help_has_an_example(name):
    out = run(name, "--help")
    assert out.returncode == 0
    heading = re.search(r"^examples?:$", out.stdout, re.M)
    assert heading, out.stdout
    assert f"breakglass {name}" in out.stdout[heading.end() :]


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command a user runs: the parsers with no sub-commands below them."""
    below = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not below:
        yield path, parser
    for action in below:
        for name, child in action.choices.items():
            yield from leaves(child, (*path, name))


LEAVES = dict(leaves(cli.build_parser()))
_SHELL = {"|", ">", ">>", "<", "&&", "||", ";", "&"}


def examples(help_text: str) -> list[list[str]]:
    """The `breakglass` commands under the help's `examples:` heading, as argv after the
    program's name: shell around them (variables, pipes, redirections, comments) left out."""
    heading = re.search(r"^examples:$", help_text, re.M)
    assert heading, help_text
    body = re.sub(r"\\\n\s*", " ", help_text[heading.end() :])
    found = []
    for line in body.splitlines():
        words = shlex.split(line, comments=True)
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words.pop(0)
        if words and words[0] == "breakglass":
            words = words[1:]
            cut = next((i for i, w in enumerate(words) if w in _SHELL), len(words))
            found.append(words[:cut])
    return found


def test_every_leaf_command_is_walked():
    assert {
        ("config", "check"),
        ("journal", "list"),
        ("journal", "show"),
        ("audit", "verify"),
        ("audit", "show"),
        ("pulls", "list"),
        ("pulls", "show"),
        ("pulls", "merge"),
        ("pulls", "close"),
        ("manifests", "webhook"),
        ("manifests", "self-signed"),
        ("manifests", "audit-policy"),
        ("manifests", "audit-kubeconfig"),
        ("serve",),
        ("demo",),
    } <= set(LEAVES)


@pytest.mark.parametrize("path", list(LEAVES), ids=" ".join)
def test_every_leaf_command_help_has_runnable_examples(path, capsys):
    help_text = LEAVES[path].format_help()
    found = examples(help_text)
    own = [argv for argv in found if tuple(argv[: len(path)]) == path]
    assert own, f"`breakglass {' '.join(path)} --help` has no example of itself:\n{help_text}"
    for argv in found:
        try:
            cli.build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"example `breakglass {' '.join(argv)}`: {capsys.readouterr().err}")


def test_version():
    for args in (["--version"], ["--debug", "--version"]):
        out = run(*args)
        assert out.stdout.strip() == f"breakglass {__version__}"


def test_usage_errors_are_one_line_and_a_hint():
    for args in (["nope"], ["journal", "list"], ["audit", "verify", "--bogus"]):
        out = run(*args)
        assert out.returncode == 2
        lines = out.stderr.splitlines()
        assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), out.stderr
        assert len(lines) == 2 and "usage:" not in out.stderr


def test_expected_errors_show_no_traceback_unless_debug(tmp_path):
    config = tmp_path / "breakglass.yaml"
    config.write_text(f"journal: sqlite:///{tmp_path / 'j.db'}\n")
    journal = open_journal(f"sqlite:///{tmp_path / 'j.db'}")
    asyncio.run(journal.open())
    asyncio.run(journal.close())
    quiet = run("journal", "show", "--config", str(config), "nope")
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines()[0] == f"error: no capture nope in sqlite:///{tmp_path}/j.db"
    assert "Traceback" not in quiet.stderr
    for args in (["--debug", "journal", "show"], ["journal", "show", "--debug"]):
        loud = run(*args, "--config", str(config), "nope")
        assert loud.returncode == 2
        assert "Traceback (most recent call last)" in loud.stderr
        assert "error: no capture nope" in loud.stderr


def test_debug_is_accepted_after_a_nested_action(tmp_path):
    out = run("manifests", "audit-policy", "--debug")
    assert out.returncode == 0 and out.stdout.startswith("apiVersion: audit.k8s.io/v1")


def test_config_errors_name_the_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("listen: {port: 99999}\n")
    out = run("serve", "--config", str(config))
    assert out.returncode == 2
    assert "listen.port" in out.stderr and "hint:" in out.stderr
    assert "Traceback" not in out.stderr

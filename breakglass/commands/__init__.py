"""One module per ``breakglass`` sub-command, so the command line grows without one huge file.

Each module exposes the same three names, which ``breakglass.cli`` wires into argparse:

- ``NAME``: the sub-command word (``serve``, ``backfill`` …);
- ``SUMMARY``: the one line shown by ``breakglass --help``;
- ``configure(parser)``: adds arguments, a description and an example to its parser;
- ``run(args) -> int``: does the work and returns the exit code.

Commands raise ``breakglass.errors`` exceptions for expected failures; ``cli.main`` turns those
into one line plus a hint.
"""

from __future__ import annotations

import argparse
from typing import Protocol


class Command(Protocol):
    """The shape every command module has."""

    NAME: str
    SUMMARY: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def all_commands() -> list[Command]:
    """Every sub-command, in the order ``--help`` lists them."""
    import importlib

    names = (
        "demo",
        "serve",
        "worker",
        "config",
        "journal",
        "backfill",
        "scan",
        "tf",
        "report",
        "posture",
        "drill",
        "open",
        "close",
        "sessions",
        "pulls",
        "audit",
        "manifests",
    )
    modules: list[Command] = []
    for name in names:
        try:
            module = importlib.import_module(f"breakglass.commands.{name}")
        except ImportError as exc:
            # a command that does not import is a broken installation, never a command to
            # leave out of --help without a word
            raise BrokenInstall(
                f"the {name} command cannot be loaded ({type(exc).__name__}: {exc})"
            ) from exc
        modules.append(module)
    return modules


class BrokenInstall(Exception):
    """A part of breakglass itself cannot be imported: the installation is incomplete."""

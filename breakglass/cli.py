"""The ``breakglass`` command line: argument parsing, error reporting and exit codes.

Sub-commands live in ``breakglass.commands``; this module only assembles them, owns the global
flags (``--version``, ``--debug``) and turns expected errors into one clear line with a hint.
A traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
import traceback
from collections.abc import Sequence
from typing import NoReturn

from breakglass import __version__, commands, errors

DESCRIPTION = """\
breakglass records manual changes to GitOps-managed Kubernetes objects (kubectl edit, scale,
set image, label, patch, delete), and backfills them into Git as pull requests assigned to the
engineer who made them.
"""

EPILOG = """\
examples:
  breakglass demo                                  # the whole loop, locally, in seconds
  breakglass serve --config examples/breakglass.yaml
  breakglass config check examples/breakglass.yaml
  breakglass journal list --config examples/breakglass.yaml --status confirmed
  breakglass backfill --repo ./gitops --old live-before.yaml --new live-after.yaml

Run `breakglass COMMAND --help` for the options and an example of each command.
--debug (before or after the command) shows the traceback of an error.
"""


class Parser(argparse.ArgumentParser):
    """argparse with breakglass's error format: one line, then a hint (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\nhint: run `{self.prog} --help` for usage\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps each command's one-line summary on its line: argparse measures sub-commands two
    columns short of where it prints them, so a long command name pushed its help below it."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Descriptions and epilogs as written, but a line of prose longer than the terminal
        is wrapped; indented lines (examples) are kept whole, to be copied."""
        lines: list[str] = []
        for line in text.splitlines():
            if line[:1].isspace() or len(indent + line) <= width:
                lines.append(indent + line)
            else:
                lines.extend(
                    textwrap.wrap(line, width, initial_indent=indent, subsequent_indent=indent)
                )
        return "\n".join(lines)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            names = [len(self._format_action_invocation(a)) for a in action._get_subactions()]
            longest = max(names, default=0) + self._current_indent + self._indent_increment
            self._action_max_length = max(self._action_max_length, longest)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return _Formatter(prog)


def _finish(parser: argparse.ArgumentParser) -> None:
    """At every level below the top: accept ``--debug`` after the sub-command too, without
    resetting it, and print the help as written (each example on its line)."""
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    parser.formatter_class = _formatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                _finish(child)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one sub-parser per command module."""
    parser = Parser(
        prog="breakglass",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"breakglass {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in commands.all_commands():
        child = sub.add_parser(
            module.NAME,
            help=module.SUMMARY,
            description=module.SUMMARY,
            formatter_class=_formatter,
        )
        module.configure(child)
        _finish(child)
        child.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    try:
        parser = build_parser()
    except commands.BrokenInstall as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            "hint: breakglass is installed incompletely; reinstall it "
            "(pip install --force-reinstall breakglass, or `make install` in a checkout)",
            file=sys.stderr,
        )
        return 70
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    debug = bool(getattr(args, "debug", False))
    try:
        code: int = args.handler(args)
    except errors.ConfigError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: invalid configuration in {exc.source}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except errors.BreakglassError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`breakglass journal list | head`): stop quietly, as cat does;
        # point stdout at nothing so the interpreter's final flush does not complain again
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if debug:
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"error: unexpected {type(exc).__name__}: {first}", file=sys.stderr)
        print("hint: re-run with --debug for the traceback, and report it", file=sys.stderr)
        return 70
    return code

"""The ``breakglass`` command line: argument parsing, error reporting and exit codes.

Sub-commands live in ``breakglass.commands``; this module only assembles them, owns the global
flags (``--version``, ``--debug``) and turns expected errors into one clear line with a hint.
A traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from breakglass import __version__, commands, errors

DESCRIPTION = """\
breakglass records manual changes to GitOps-managed Kubernetes objects (kubectl edit, scale,
set image, label, patch, delete), and backfills them into Git as pull requests assigned to the
engineer who made them.
"""

EPILOG = """\
examples:
  breakglass serve --config examples/breakglass.yaml
  breakglass config check examples/breakglass.yaml
  breakglass journal list --config examples/breakglass.yaml --status confirmed
  breakglass backfill --repo ./gitops --old live-before.yaml --new live-after.yaml

Run `breakglass COMMAND --help` for the options and an example of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one sub-parser per command module."""
    parser = argparse.ArgumentParser(
        prog="breakglass",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"breakglass {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in commands.all_commands():
        child = sub.add_parser(
            module.NAME,
            help=module.SUMMARY,
            description=module.SUMMARY,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(child)
        child.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    debug = bool(getattr(args, "debug", False))
    try:
        code: int = args.handler(args)
    except errors.ConfigError as exc:
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
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if debug:
            traceback.print_exc()
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        print("hint: re-run with --debug for the traceback, and report it", file=sys.stderr)
        return 70
    return code

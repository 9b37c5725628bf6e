"""``breakglass pulls list|show|merge|close``: review the local forge's pull requests.

On embedded defaults (no GitHub or GitLab) the worker's pull requests are JSON records beside
the Git remote.  This command is the reviewer's side of that forge: read one as a forge would
show it, merge it (a merge commit pushed to the remote, which a GitOps controller then syncs)
or close it, and the worker follows the new state at its next poll, as it does on GitHub.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from pathlib import Path

from breakglass import settings
from breakglass.errors import InputError
from breakglass.forge import PullRequest
from breakglass.forge.git import Git
from breakglass.forge.local import LocalProvider

NAME = "pulls"
SUMMARY = "list, show, merge or close the local forge's pull requests"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\nFor `forges.<name>.kind: local` (the default): pull requests are JSON "
        "records in records_dir (state_dir/pull-requests). merge makes a merge commit of the "
        "branch into its base and pushes it to the remote; close closes it unmerged. The worker "
        "sees either at its next pull-request poll (backfill.pr_poll_interval)."
    )
    parser.epilog = (
        "examples:\n  breakglass pulls list --config breakglass.yaml\n"
        "  breakglass pulls show 3 --config breakglass.yaml\n"
        "  breakglass pulls merge 3 --config breakglass.yaml --as bob"
    )
    sub = parser.add_subparsers(dest="pulls_command", metavar="ACTION", required=True)
    for action, text, examples in (
        (
            "list",
            "one line per pull request and issue",
            ("--config breakglass.yaml", "--config breakglass.yaml --json"),
        ),
        (
            "show",
            "one pull request: title, branch, labels, assignees, body, comments",
            ("3 --config breakglass.yaml",),
        ),
        (
            "merge",
            "merge an open pull request into its base and push",
            ("3 --config breakglass.yaml --as bob",),
        ),
        (
            "close",
            "close an open pull request without merging",
            ("3 --config breakglass.yaml --as bob",),
        ),
    ):
        cmd = sub.add_parser(
            action,
            help=text,
            description=text[0].upper() + text[1:] + ".",
            epilog="examples:\n" + "\n".join(f"  breakglass pulls {action} {e}" for e in examples),
        )
        if action != "list":
            cmd.add_argument("number", type=int, metavar="N", help="pull request number")
        cmd.add_argument("--config", required=True, metavar="FILE", help="settings file")
        cmd.add_argument(
            "--forge", metavar="NAME", help="a local forge from forges: (default: backfill.forge)"
        )
        if action in ("merge", "close"):
            cmd.add_argument(
                "--as",
                dest="reviewer",
                metavar="USER",
                default=getpass.getuser(),
                help="who merges or closes it (default: you)",
            )
        if action == "list":
            cmd.add_argument("--json", action="store_true", help="JSON instead of a table")


def _provider(args: argparse.Namespace) -> LocalProvider:
    conf = settings.load(args.config)
    name = args.forge or conf.backfill.forge
    forge = conf.forge(name)
    if forge is None or forge.kind != "local":
        raise InputError(
            f"forge {name!r} is not a local forge",
            hint="review GitHub or GitLab pull requests there; --forge names a local one",
        )
    records = forge.records_dir or conf.state_dir / "pull-requests"
    return LocalProvider(Path(records), remote="")


def _line(pr: PullRequest) -> str:
    return f"#{pr.number:<4} {pr.state:<7} {pr.branch or '(issue)'}  {pr.title}"


def run(args: argparse.Namespace) -> int:
    provider = _provider(args)
    if args.pulls_command == "list":
        found = provider.records()
        if args.json:
            rows = [
                {"number": p.number, "state": p.state, "branch": p.branch, "title": p.title}
                for p in found
            ]
            print(json.dumps(rows, indent=2))
        else:
            print("\n".join(_line(p) for p in found) or "no pull requests")
        return 0
    if args.pulls_command == "show":
        matching = [p for p in provider.records() if p.number == args.number]
        if not matching:
            raise InputError(f"no pull request {args.number} in {provider.dir}")
        pr = matching[0]
        print(_line(pr))
        labels, assignees = ", ".join(pr.labels) or "-", ", ".join(pr.assignees) or "-"
        print(f"{pr.branch} → {pr.base}   labels: {labels}   assignees: {assignees}")
        print()
        print(pr.body)
        return 0
    provider.remote = _remote_of(provider, args.number)
    pr = asyncio.run(
        provider.review(
            args.number, merge=args.pulls_command == "merge", by=args.reviewer, git=Git()
        )
    )
    print(f"#{pr.number} {pr.state}: {pr.title}")
    return 0


def _remote_of(provider: LocalProvider, number: int) -> str:
    """The remote a record's branch was pushed to (its URL is ``REMOTE#pull/N``)."""
    for pr in provider.records():
        if pr.number == number:
            return pr.url.rsplit("#", 1)[0]
    raise InputError(f"no pull request {number} in {provider.dir}")

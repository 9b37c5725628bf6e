"""``breakglass journal list|show``: read captured changes from the journal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from breakglass import model, settings
from breakglass.errors import InputError
from breakglass.journal import Journal, open_journal, sqlite_file

NAME = "journal"
SUMMARY = "list and show captured changes and their backfill state"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  breakglass journal list --config breakglass.yaml --status confirmed\n"
        "  breakglass journal list --config breakglass.yaml --format json | jq '.[].id'\n"
        "  breakglass journal show --config breakglass.yaml 01JC3W9X8R4T5Y6Z7A8B9C0D1E"
    )
    sub = parser.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    lst = sub.add_parser(
        "list",
        help="captures, newest first",
        description="List captures, newest first: id, time, source, status, operation, user, "
        "object, pull request and, for the ones that ended without one, why.",
        epilog="examples:\n"
        "  breakglass journal list --config breakglass.yaml\n"
        "  breakglass journal list --config breakglass.yaml --status failed --limit 20\n"
        "  breakglass journal list --config breakglass.yaml --format json | jq '.[].id'",
    )
    lst.add_argument("--config", required=True, metavar="FILE")
    lst.add_argument(
        "--status", choices=[s.value for s in model.Status], help="only captures in this state"
    )
    lst.add_argument("--limit", type=int, default=100)
    lst.add_argument("--format", choices=["table", "json"], default="table")
    show = sub.add_parser(
        "show",
        help="one capture in full (JSON)",
        description="Print one capture in full, as JSON: who, what, the change, its state and "
        "its pull request.",
        epilog="examples:\n"
        "  breakglass journal show --config breakglass.yaml 01JC3W9X8R4T5Y6Z7A8B9C0D1E\n"
        "  breakglass journal show --config breakglass.yaml 01JC3W9X8R4T5Y6Z7A8B9C0D1E "
        "| jq .delta",
    )
    show.add_argument("--config", required=True, metavar="FILE")
    show.add_argument("id", metavar="ID")


def _not_yet(conf: settings.Settings) -> str | None:
    """What to say when there is no journal to read yet, else ``None``.

    Reading must create nothing: opening an SQLite journal creates its file, and ``state_dir``
    with it, so a missing file is said instead.  A PostgreSQL journal is unaffected: it is a
    database on its server, which opening does not create (a missing one is the server's error).
    """
    path = sqlite_file(conf.journal_url)
    if path is None or path.exists():
        return None
    return f"no journal at {path} yet: breakglass has recorded nothing"


def _journal(conf: settings.Settings) -> Journal:
    return open_journal(conf.journal_url, password=conf.secret(conf.journal_password_env))


async def _list(conf: settings.Settings, status: str | None, limit: int) -> Sequence[model.Capture]:
    journal = _journal(conf)
    await journal.open()
    try:
        return await journal.list(status=status, limit=limit)
    finally:
        await journal.close()


async def _get(conf: settings.Settings, capture_id: str) -> model.Capture | None:
    journal = _journal(conf)
    await journal.open()
    try:
        return await journal.get(capture_id)
    finally:
        await journal.close()


_SHOW_REASON = frozenset({"failed", "discarded", "unmanaged", "ignored", "closed", "superseded"})


def _short(text: str | None, limit: int = 80) -> str:
    one_line = " ".join((text or "-").split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _table(captures: Sequence[model.Capture]) -> str:
    header = ("ID", "TIME", "SOURCE", "STATUS", "OP", "USER", "OBJECT", "PR", "REASON")
    rows = [header]
    for c in captures:
        obj = f"{c.object.kind}/{c.object.namespace + '/' if c.object.namespace else ''}"
        rows.append(
            (
                c.id,
                model.format_time(c.received_at)[:19] + "Z",
                c.source.value,
                c.status.value,
                c.operation.value,
                c.actor.username,
                obj + c.object.name,
                c.pr_url or "-",
                _short(c.reason) if c.status.value in _SHOW_REASON else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def run(args: argparse.Namespace) -> int:
    loaded = settings.load(args.config)
    nothing = _not_yet(loaded)
    if args.journal_command == "list":
        if nothing is not None:
            if args.format == "json":  # stdout stays JSON: an empty list
                print("[]")
                print(nothing, file=sys.stderr)
            else:
                print(nothing)
            return 0
        captures = asyncio.run(_list(loaded, args.status, args.limit))
        if args.format == "json":
            json.dump([c.to_json() for c in captures], sys.stdout, indent=2)
            print()
        elif captures:
            print(_table(captures))
        else:
            print("no captures" + (f" with status {args.status}" if args.status else ""))
        return 0
    if nothing is not None:
        raise InputError(
            nothing,
            hint=f"check state_dir and journal in {args.config}: they must name the journal "
            "breakglass serve writes",
        )
    capture = asyncio.run(_get(loaded, args.id))
    if capture is None:
        raise InputError(
            f"no capture {args.id} in {loaded.journal_url}",
            hint="`breakglass journal list` shows the ids",
        )
    json.dump(capture.to_json(), sys.stdout, indent=2)
    print()
    return 0

"""``breakglass close``: end a break-glass session before its deadline."""

from __future__ import annotations

import argparse
import asyncio

from breakglass import model
from breakglass.commands import _person
from breakglass.commands.sessions import listed
from breakglass.errors import InputError
from breakglass.kube import MERGE_PATCH
from breakglass.sessions import objects

NAME = "close"
SUMMARY = "end a break-glass session early"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\n"
        "Sets spec.closedAt on the session: changes made after it no longer belong to it. "
        "Without NAME, closes your one open session. Only its owner may close it."
    )
    parser.epilog = "examples:\n  breakglass close\n  breakglass close alice-20261207-213005-3fa2"
    parser.add_argument("name", nargs="?", metavar="NAME", help="the session (default: yours)")
    _person.add_arguments(parser, what="the session is closed as")


def run(args: argparse.Namespace) -> int:
    print(asyncio.run(_close(args)))
    return 0


async def _close(args: argparse.Namespace) -> str:
    cluster = await _person.connect(args, what="a session is closed")
    try:
        now = model.utcnow()
        name = args.name
        if name is None:
            me = str((await cluster.whoami()).get("username") or "")
            mine = [
                o
                for o in await listed(cluster)
                if (o.get("spec") or {}).get("owner") == me and objects.state(o, now) == "open"
            ]
            if not mine:
                raise InputError(
                    f"{me} has no open session", hint="breakglass sessions lists them all"
                )
            if len(mine) > 1:
                names = ", ".join(str(o["metadata"]["name"]) for o in mine)
                raise InputError(f"{me} has {len(mine)} open sessions: {names}", hint="name one")
            name = str(mine[0]["metadata"]["name"])
        stamp = model.format_time(now).replace(".000000Z", "Z")
        done = await cluster.patch(
            group=objects.GROUP,
            version=objects.VERSION,
            plural=objects.PLURAL,
            namespace="",
            name=name,
            body={"spec": {"closedAt": stamp}},
            content_type=MERGE_PATCH,
            field_manager="breakglass-close",
        )
    finally:
        await cluster.close()
    if done is None:
        raise InputError(f"no session named {name}", hint="breakglass sessions --all")
    return f"{name}: closed at {stamp}"

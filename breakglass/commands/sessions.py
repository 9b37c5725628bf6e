"""``breakglass sessions``: the break-glass sessions, open ones first."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING, Any

from breakglass import model
from breakglass.commands import _person
from breakglass.listing import list_all
from breakglass.sessions import objects

if TYPE_CHECKING:
    from breakglass.kube import KubeCluster

NAME = "sessions"
SUMMARY = "list break-glass sessions (open ones; --all for every one)"
HEADER = ("NAME", "OWNER", "STATE", "UNTIL", "SCOPE", "MEMBERS", "REASON")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\nReads the BreakglassSession objects with your kubeconfig identity."
    )
    parser.epilog = "examples:\n  breakglass sessions\n  breakglass sessions --all --output json"
    parser.add_argument("--all", action="store_true", help="closed and expired ones too")
    parser.add_argument("--output", choices=["table", "json"], default="table", help="format")
    _person.add_arguments(parser, what="sessions are read as")


async def listed(cluster: KubeCluster) -> list[dict[str, Any]]:
    """Every BreakglassSession (none when the CRD is not installed)."""
    return await list_all(
        cluster, group=objects.GROUP, version=objects.VERSION, plural=objects.PLURAL
    )


def run(args: argparse.Namespace) -> int:
    found = asyncio.run(_read(args))
    now = model.utcnow()
    rows = []
    for obj in sorted(
        found, key=lambda o: str((o.get("metadata") or {}).get("creationTimestamp", ""))
    ):
        spec = obj.get("spec") or {}
        state = objects.state(obj, now)
        if state != "open" and not args.all:
            continue
        scope = [f"ns:{n}" for n in spec.get("namespaces") or []] + [
            f"app:{a}" for a in spec.get("applications") or []
        ]
        rows.append(
            {
                "name": str((obj.get("metadata") or {}).get("name", "")),
                "owner": str(spec.get("owner", "")),
                "state": state,
                "until": str(spec.get("closedAt") or spec.get("expiresAt") or ""),
                "scope": ", ".join(scope) or "everything",
                "members": ", ".join(spec.get("members") or []) or "-",
                "reason": str(spec.get("reason", "")),
            }
        )
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no open sessions" if not args.all else "no sessions")
        return 0
    table = [HEADER] + [tuple(r.values()) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


async def _read(args: argparse.Namespace) -> list[dict[str, Any]]:
    cluster = await _person.connect(args, what="sessions are read")
    try:
        return await listed(cluster)
    finally:
        await cluster.close()

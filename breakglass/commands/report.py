"""``breakglass report``: how much drifted, for how long, and how much reached Git."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import timedelta
from pathlib import Path

from breakglass import model, settings, wiring
from breakglass.errors import InputError
from breakglass.journal import sqlite_file
from breakglass.report import build, write

NAME = "report"
SUMMARY = "the period's drift: how much, how long, how much reached Git"

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\n"
        "Answers, from the journal, for the period: resources drifted, time to detection, to "
        "a pull request and to Git, the share backfilled, what the GitOps controllers "
        "reverted, the drift debt (open pull requests, oldest first, with age and assignee), "
        "the busiest namespaces, applications and people, and what needs a human. Markdown "
        "for a pull request or a wiki, JSON for tools, or one self-contained HTML file "
        "(inline SVG charts, no scripts)."
    )
    parser.epilog = (
        "examples:\n"
        "  breakglass report --config breakglass.yaml                 # last 7 days, Markdown\n"
        "  breakglass report --config breakglass.yaml --since 30d --output html --out week.html\n"
        "  breakglass report --config breakglass.yaml --output json | jq .backfilled_share"
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="settings file (YAML)")
    parser.add_argument(
        "--since",
        default="7d",
        metavar="SPAN",
        help="the period, back from now: 90m, 24h, 7d (default), 4w",
    )
    parser.add_argument(
        "--output", choices=["markdown", "json", "html"], default="markdown", help="the format"
    )
    parser.add_argument("--out", metavar="FILE", help="write here instead of standard output")


def span(text: str, *, flag: str = "--since") -> timedelta:
    found = _SPAN.match(text.strip())
    if found is None:
        raise InputError(
            f"{flag} {text!r} is not a span", hint="a number and a unit: 90s, 90m, 24h, 7d, 4w"
        )
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])


def run(args: argparse.Namespace) -> int:
    conf = settings.load(args.config)
    period = span(args.since)
    captures = asyncio.run(_captures(conf))
    sessions = asyncio.run(wiring.recorded_sessions(conf))
    terraform = asyncio.run(wiring.recorded_tf_drifts(conf))
    report = build.build(
        captures,
        settings=conf,
        now=model.utcnow(),
        since=period,
        sessions=sessions,
        terraform=terraform,
    )
    if args.output == "json":
        text = json.dumps(write.to_json(report), indent=2) + "\n"
    elif args.output == "html":
        text = write.html_page(report)
    else:
        text = write.markdown(report)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


async def _captures(conf: settings.Settings) -> list[model.Capture]:
    found = await wiring.recorded_captures(conf)
    if found is None:
        # reading creates nothing: no journal yet is a report of nothing
        path = sqlite_file(conf.journal_url)
        print(f"no journal at {path} yet: breakglass has recorded nothing", file=sys.stderr)
        return []
    return found

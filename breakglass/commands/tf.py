"""``breakglass tf scan``: OpenTofu/Terraform drift, as pull requests that change the code."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from breakglass import logs, settings, wiring
from breakglass.errors import InputError
from breakglass.metrics import Metrics
from breakglass.terraform import mapping
from breakglass.terraform.drift import Change, path_text
from breakglass.terraform.scan import RootReport, TerraformScanner
from breakglass.worker.connect import make_provider

NAME = "tf"
SUMMARY = "OpenTofu/Terraform drift as pull requests to the .tf code"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\n"
        "For each root in terraform.roots: a worktree of its repository at its branch, "
        "`tofu init`, `tofu plan -refresh-only` (read as JSON in memory, never stored), and "
        "each drifted attribute mapped to the text that sets it: a literal argument or nested "
        "block, a variable's default or .tfvars value (when the argument is exactly var.x and "
        "nothing else uses it), a literal module input, a literal for_each entry. Anything "
        "else (locals, expressions, functions, shared variables, sensitive values, attributes "
        "the code does not set) needs a human, with the reason.\n\n"
        "Without --backfill it only reports: no journal row, audit record, branch or forge "
        "record (providers still go to the plugin cache). With --backfill the "
        "edits are spliced into the files (comments and alignment kept), `plan` on the edited "
        "tree must show no change for those resources, and then one pull request per root and "
        "one issue per resource that needs a human are opened on the root's forge, recorded in "
        "the journal (breakglass report shows them) and the audit log. Exit code: 0 no "
        "drift, 1 drift found, 2 a root could not be scanned (the report says why). "
        "terraform.interval runs this in the worker."
    )
    parser.epilog = (
        "examples:\n"
        "  breakglass tf scan --config breakglass.yaml\n"
        "  breakglass tf scan --config breakglass.yaml --root prod --output json\n"
        "  breakglass tf scan --config breakglass.yaml --backfill"
    )
    sub = parser.add_subparsers(dest="tf_command", metavar="ACTION", required=True)
    scan = sub.add_parser(
        "scan",
        help="plan -refresh-only each root; report or backfill what drifted",
        description=parser.description,
        epilog=parser.epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument("--config", required=True, metavar="FILE", help="settings file (YAML)")
    scan.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="NAME",
        help="scan only this root (terraform.roots[].name); repeatable",
    )
    scan.add_argument(
        "--backfill",
        action="store_true",
        help="edit the code, verify with plan, open the pull request and issues",
    )
    scan.add_argument(
        "--output", choices=["table", "json"], default="table", help="table (default) or json"
    )


def run(args: argparse.Namespace) -> int:
    conf = settings.load(args.config)
    quiet = conf.logging.level if conf.logging.level in ("warning", "error") else "warning"
    logs.configure(level=quiet, fmt=conf.logging.format, stream=sys.stderr)
    if not conf.terraform.roots:
        raise InputError(
            f"{args.config} has no terraform.roots",
            hint="add a root: terraform: {roots: [{name: prod, repo: <git url>, path: envs/prod}]}",
        )
    unknown = sorted(set(args.root) - {r.name for r in conf.terraform.roots})
    if unknown:
        raise InputError(
            f"no terraform root named {', '.join(unknown)}",
            hint="the names are: " + ", ".join(r.name for r in conf.terraform.roots),
        )
    reports = asyncio.run(_scan(conf, backfill=args.backfill, only=args.root))
    if args.output == "json":
        json.dump([to_json(r) for r in reports], sys.stdout, indent=2)
        print()
    else:
        print(table(reports))
    if any(r.error for r in reports):
        return 2
    return 1 if any(r.outcomes for r in reports) else 0


async def _scan(conf: settings.Settings, *, backfill: bool, only: list[str]) -> list[RootReport]:
    journal = None
    audit_log = None
    scratch = None if backfill else tempfile.TemporaryDirectory(prefix="breakglass-tf-")
    mirrors = Path(scratch.name) if scratch else conf.state_dir / "terraform" / "mirrors"
    try:
        if backfill:
            journal = wiring.journal(conf)
            await journal.open()
            audit_log = wiring.audit_log(conf, chain=wiring.TERRAFORM_CHAIN)
            await audit_log.open()
        scanner = TerraformScanner(
            settings=conf,
            mirrors=mirrors,
            metrics=Metrics(),
            journal=journal,
            audit_log=audit_log,
            providers=lambda forge, remote: make_provider(forge, remote=remote, settings=conf),
        )
        return await scanner.run(backfill=backfill, only=only)
    finally:
        if audit_log is not None:
            await audit_log.close()
        if journal is not None:
            await journal.close()
        if scratch is not None:
            scratch.cleanup()


def _shown(leaf: Change | None, *, after: bool) -> str:
    """A value for the report: never a sensitive one."""
    if leaf is None:
        return ""
    if leaf.sensitive:
        return "(sensitive)"
    return mapping.shown(leaf.after if after else leaf.before)


def _rows(report: RootReport) -> list[dict[str, Any]]:
    rows = []
    for outcome in report.outcomes:
        decision = outcome.decision
        for item in decision.mapped:
            for change in item.changes:
                rows.append(
                    {
                        "address": decision.drift.address,
                        "attribute": path_text(change.path),
                        "before": _shown(change, after=False),
                        "after": _shown(change, after=True),
                        "where": f"{item.target.file}:{item.target.line}",
                        "mapped_to": item.target.what,
                        "outcome": outcome.outcome,
                        "reason": outcome.reason,
                    }
                )
        for refusal in decision.refused:
            leaves: tuple[Change | None, ...] = refusal.changes or (None,)
            for leaf in leaves:
                rows.append(
                    {
                        "address": decision.drift.address,
                        "attribute": path_text(leaf.path) if leaf else refusal.attribute,
                        "before": _shown(leaf, after=False),
                        "after": _shown(leaf, after=True),
                        "where": "",
                        "mapped_to": "",
                        "outcome": "needs_human",
                        "reason": refusal.reason,
                    }
                )
    return rows


def to_json(report: RootReport) -> dict[str, Any]:
    return {
        "root": report.root,
        "path": report.path,
        "error": report.error,
        "pull_request": report.pull_request,
        "seconds": round(report.seconds, 1),
        "resources": [
            {
                "address": o.decision.drift.address,
                "outcome": o.outcome,
                "url": o.url,
                "author": o.author,
                "reason": o.reason,
            }
            for o in report.outcomes
        ],
        "attributes": _rows(report),
    }


def table(reports: list[RootReport]) -> str:
    lines: list[str] = []
    for report in reports:
        head = f"root {report.root} ({report.path}): "
        if report.error:
            lines.append(head + "NOT SCANNED")
            lines += ["  " + line for line in report.error.splitlines()]
            continue
        if not report.outcomes:
            lines.append(head + f"no drift ({report.seconds:.1f} s)")
            continue
        lines.append(head + f"{len(report.outcomes)} drifted resource(s) ({report.seconds:.1f} s)")
        header = ("RESOURCE", "ATTRIBUTE", "CODE SAID", "NOW", "WRITTEN IN / NEEDS A HUMAN")
        body = []
        for row in _rows(report):
            last = row["where"] + f" ({row['mapped_to']})" if row["where"] else row["reason"]
            body.append((row["address"], row["attribute"], row["before"], row["after"], last))
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]
        for row_cells in [header, *body]:
            cells = [c.ljust(widths[i]) for i, c in enumerate(row_cells[:4])]
            lines.append("  " + "  ".join([*cells, row_cells[4]]))
        for outcome in report.outcomes:
            if outcome.url:
                kind = "pull request" if outcome.outcome == "pull_request" else "issue"
                lines.append(f"  {outcome.decision.drift.address}: {kind} {outcome.url}")
            if outcome.author:
                lines.append(f"  {outcome.decision.drift.address}: made by {outcome.author}")
    return "\n".join(lines)

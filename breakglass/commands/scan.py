"""``breakglass scan``: find drift the webhook never saw, say how old it is and who made it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from breakglass import logs, settings, wiring
from breakglass.errors import InputError
from breakglass.journal import sqlite_file
from breakglass.metrics import Metrics
from breakglass.scan import output
from breakglass.scan.attribution import AuditTrail
from breakglass.scan.run import Report, Scanner
from breakglass.worker.connect import connect_cluster

NAME = "scan"
SUMMARY = "find manual drift that bypassed breakglass, as backfill PRs"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\n"
        "Lists the objects that Argo CD, Flux or a repos: rule applies from Git (page by "
        "page, only the kinds Git holds), compares each with Git's render, and reports the "
        "fields a person's tool changed: visible drift (Git sets another value) and invisible "
        "drift (a field Git never had, owned in managedFields by kubectl-edit, kubectl-label, "
        "k9s, Lens, ...). Fields owned by a GitOps controller or the system are never drift. "
        "'Since at least' is the time that field manager last wrote the object. Objects in a "
        "repository's namespaces that nothing in Git describes, created by a person, are "
        "listed as created by hand.\n\n"
        "Run it first on the day you install breakglass, then from cron or CI: the exit code "
        "is 0 when there is no drift, 1 when there is, 2 when the scan could not look "
        "everywhere (a repository, a render or a LIST failed; the report says which).\n\n"
        "--backfill records each drifted object as a capture (source scan) that the worker "
        "turns into the same render-checked pull request as a webhook capture; a second run "
        "records nothing new. scan.interval runs this inside the worker instead."
    )
    parser.epilog = (
        "examples:\n"
        "  breakglass scan --config breakglass.yaml\n"
        "  breakglass scan --config breakglass.yaml --output markdown > drift.md\n"
        "  breakglass scan --config breakglass.yaml --audit-log /var/log/kube/audit*.log*\n"
        "  breakglass scan --config breakglass.yaml --backfill   # PRs for what it found"
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="settings file (YAML)")
    parser.add_argument(
        "--output",
        choices=["table", "json", "markdown"],
        default="table",
        help="table (default), json, or markdown for a PR or a wiki page",
    )
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="record new drift as captures so the worker opens backfill pull requests",
    )
    parser.add_argument(
        "--audit-log",
        nargs="+",
        default=[],
        metavar="FILE",
        help="the API server's own audit log files (--audit-log-path; rotated and .gz files "
        "too), to name who made each change; unset, who is unknown",
    )


def run(args: argparse.Namespace) -> int:
    conf = settings.load(args.config)
    # the report is stdout's; log lines go to stderr, and only warnings and errors
    quiet = conf.logging.level if conf.logging.level in ("warning", "error") else "warning"
    logs.configure(level=quiet, fmt=conf.logging.format, stream=sys.stderr)
    trail = AuditTrail.read(args.audit_log) if args.audit_log else None
    if trail is not None and trail.events == 0:
        raise InputError(
            f"no audit events in {', '.join(trail.files)}",
            hint="pass the files the API server writes with --audit-log-path (JSON lines)",
        )
    report = asyncio.run(_scan(conf, trail=trail, backfill=args.backfill))
    if args.output == "json":
        json.dump(output.to_json(report), sys.stdout, indent=2, default=str)
        print()
    elif args.output == "markdown":
        sys.stdout.write(output.markdown(report))
    else:
        print(output.table(report))
    return report.exit_code()


async def _scan(conf: settings.Settings, *, trail: AuditTrail | None, backfill: bool) -> Report:
    cluster = await connect_cluster(conf)
    if cluster is None:
        raise InputError(
            "a scan reads the cluster, and kube: gives no way to reach it",
            hint="set kube.kubeconfig (and kube.context), or run the scan in a pod",
        )
    from breakglass.kube import KubeCluster

    assert isinstance(cluster, KubeCluster)
    # Without --backfill a scan only reads: where breakglass has no state yet it creates none
    # (no journal to link captures from, a salt for this run only, mirrors in a temporary
    # directory); with --backfill it records, so it opens (or creates) them as serve would.
    fresh = not backfill and not conf.state_dir.exists()
    path = sqlite_file(conf.journal_url)
    journal = None
    if backfill or path is None or path.exists():
        journal = wiring.journal(conf)
        await journal.open()
    salt = os.urandom(32) if fresh and not conf.secret(conf.redaction.salt_env) else None
    scratch = tempfile.TemporaryDirectory(prefix="breakglass-scan-") if fresh else None
    mirrors = Path(scratch.name) if scratch else conf.state_dir / "scan" / "mirrors"
    audit_log = None
    metrics = Metrics()
    try:
        if backfill:
            audit_log = wiring.audit_log(conf, chain=wiring.SCAN_CHAIN)
            await audit_log.open()
        scanner = Scanner(
            settings=conf,
            lister=cluster,
            cluster=cluster,
            redactor=wiring.redactor(conf, salt=salt),
            mirrors=mirrors,
            journal=journal,
            audit=trail,
            audit_log=audit_log,
            metrics=metrics,
        )
        return await scanner.run(backfill=backfill)
    finally:
        if audit_log is not None:
            await audit_log.close()
        if journal is not None:
            await journal.close()
        await cluster.close()
        if scratch is not None:
            scratch.cleanup()

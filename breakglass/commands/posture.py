"""``breakglass posture``: which GitOps applications would revert a manual change, and how fast."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta

from breakglass import logs, model, settings, wiring
from breakglass.commands.report import span
from breakglass.errors import InputError
from breakglass.posture import classify, output
from breakglass.posture.run import PostureReport, collect, judge
from breakglass.worker.connect import connect_cluster

NAME = "posture"
SUMMARY = "which GitOps apps would revert a manual change, how fast"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\n"
        "Reads Argo CD Applications, ApplicationSets and AppProjects and Flux Kustomizations, "
        "HelmReleases and their sources (read-only; deploy/components/posture has the RBAC) "
        "and classifies each application: enforcing (drift is reverted, within the expected "
        "time its settings give), notifying (drift is shown, not reverted), triggered only "
        "(applied when Git changes, never compared again), suspended. Lists the namespaces "
        "whose workloads no GitOps tool manages, and what the journal says happened to manual "
        "changes of each application in the period.\n\n"
        "Exit 0, or 1 with --fail-on when an application is at that verdict or worse "
        "(enforcing < notifying < triggered < suspended), 2 when the cluster could not be read."
    )
    parser.epilog = (
        "examples:\n"
        "  breakglass posture --config breakglass.yaml\n"
        "  breakglass posture --config breakglass.yaml --fail-on notifying   # CI gate\n"
        "  breakglass posture --config breakglass.yaml --output markdown --since 30d"
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="settings file (YAML)")
    parser.add_argument(
        "--output", choices=["table", "json", "markdown"], default="table", help="the format"
    )
    parser.add_argument(
        "--since", default="7d", metavar="SPAN", help="the journal's period: 24h, 7d (default)"
    )
    parser.add_argument(
        "--fail-on",
        choices=["notifying", "triggered", "suspended"],
        help="exit 1 when an application is at this verdict or worse",
    )


def run(args: argparse.Namespace) -> int:
    conf = settings.load(args.config)
    logs.configure(level="warning", fmt=conf.logging.format, stream=sys.stderr)
    report = asyncio.run(_posture(conf, span(args.since)))
    if args.output == "json":
        json.dump(output.to_json(report), sys.stdout, indent=2)
        print()
    elif args.output == "markdown":
        sys.stdout.write(output.markdown(report))
    else:
        print(output.table(report))
    if report.problems:
        return 2
    threshold = {
        "notifying": classify.Verdict.NOTIFYING,
        "triggered": classify.Verdict.TRIGGERED,
        "suspended": classify.Verdict.SUSPENDED,
    }.get(args.fail_on or "")
    return 1 if classify.fails(report.postures, threshold) else 0


async def _posture(conf: settings.Settings, since: timedelta) -> PostureReport:
    cluster = await connect_cluster(conf)
    if cluster is None:
        raise InputError(
            "posture reads the cluster, and kube: gives no way to reach it",
            hint="set kube.kubeconfig (and kube.context), or run it in a pod",
        )
    from breakglass.kube import KubeCluster

    assert isinstance(cluster, KubeCluster)
    problems: list[str] = []
    try:
        objects = await collect(cluster, problems=problems)
    finally:
        await cluster.close()
    captures = await wiring.recorded_captures(conf) or []
    report = judge(objects, captures, now=model.utcnow(), since=since)
    report.problems.extend(problems)
    return report

"""``breakglass drill``: make a small, marked manual change to a few objects of each GitOps
application, time how long its controller takes to put Git's value back, and restore it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, TextIO

from breakglass import logs, model, settings, wiring
from breakglass.commands import _person
from breakglass.commands.report import span
from breakglass.drill import output
from breakglass.drill.marker import FIELD_MANAGER, Change, new_drill_id
from breakglass.drill.plan import MAX_DEADLINE_SECONDS, Plan, by_application
from breakglass.drill.run import Drill, Options, Result, cleanup, make_plan
from breakglass.errors import InputError
from breakglass.journal import sqlite_file

if TYPE_CHECKING:
    from breakglass.auditlog import AuditLog
    from breakglass.journal import Journal
    from breakglass.kube import KubeCluster

NAME = "drill"
SUMMARY = "time how long each GitOps app takes to revert a marked change"

#: exit codes beyond 0 (done) and 2 (could not read or plan)
EXIT_INCOMPLETE = 1
EXIT_NOT_RESTORED = 3
EXIT_INTERRUPTED = 130


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\n"
        "Plans first: for each application posture finds (Argo CD Applications, Flux "
        "Kustomizations and HelmReleases), it picks a few objects the application manages "
        "(five by default: Deployments, StatefulSets, DaemonSets, ConfigMaps, Services first; "
        "never a Secret) and shows the change each would get. Nothing changes without --yes.\n\n"
        "With --yes it makes each change as you (your kubeconfig, field manager kubectl-patch, "
        "as kubectl patch would), marked with the label breakglass.dev/drill so breakglass "
        "records it as a drill and never backfills it, then watches each object. A change "
        "the controller puts back is 'reverted' (with the time it took); one still there at "
        "the deadline (twice the expected time to revert, at least 30 s, at most 30 min; 5 min "
        "where posture expects no revert) is 'survived', and the drill puts it back itself. "
        "Ctrl-C, SIGTERM or a lost connection: every change is put back before it exits. After "
        "a kill -9, --cleanup finds and restores what is left.\n\n"
        "Results go to the journal (breakglass report shows them) and the audit log "
        "(audit_log.dir/drill).\n\n"
        "Exit 0; 1 when a change survived in an application posture calls enforcing (its "
        "GitOps is incomplete); 2 when the cluster could not be read; 3 when a change could "
        "not be put back (run --cleanup); 130 when interrupted (everything put back)."
    )
    parser.epilog = (
        "examples:\n"
        "  breakglass drill --config breakglass.yaml                      # the plan only\n"
        "  breakglass drill --config breakglass.yaml --tool flux --yes\n"
        "  breakglass drill --config breakglass.yaml --app payments --change replicas --yes\n"
        "  breakglass drill --config breakglass.yaml --cleanup            # after a kill -9"
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="settings file (YAML)")
    parser.add_argument(
        "--yes", action="store_true", help="make the changes (without it: the plan only)"
    )
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="NAME",
        help="drill this application only (name or namespace/name; repeatable)",
    )
    parser.add_argument("--tool", choices=["argocd", "flux"], help="drill this tool's apps only")
    parser.add_argument(
        "--change",
        choices=[c.value for c in Change],
        default=Change.LABEL.value,
        help="label (default: adds the drill label), annotation (adds one more), replicas "
        "(+1 on Deployments/StatefulSets no HPA scales), config (adds a key to ConfigMaps)",
    )
    parser.add_argument(
        "--sample", type=int, default=5, metavar="N", help="objects per application (5)"
    )
    parser.add_argument(
        "--deadline",
        metavar="SPAN",
        help="wait this long for every application instead of its own deadline (90s, 10m; "
        "at most 30m)",
    )
    parser.add_argument(
        "--field-manager",
        default=FIELD_MANAGER,
        metavar="NAME",
        help="the field manager of the change (kubectl-patch; a dashboard's name, e.g. lens, "
        "measures what a dashboard's change meets)",
    )
    _person.add_arguments(parser, what="the drill writes with")
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="find drill changes a killed drill left behind and put them back",
    )
    parser.add_argument(
        "--output", choices=["table", "json", "markdown"], default="table", help="the format"
    )


def run(args: argparse.Namespace) -> int:
    conf = settings.load(args.config)
    logs.configure(level="warning", fmt=conf.logging.format, stream=sys.stderr)
    if args.sample < 1:
        raise InputError("--sample must be at least 1", hint="--sample 5 (the default)")
    deadline = span(args.deadline, flag="--deadline").total_seconds() if args.deadline else None
    if deadline is not None and deadline > MAX_DEADLINE_SECONDS:
        print(f"--deadline {args.deadline} is more than a drill waits: using 30m", file=sys.stderr)
    options = Options(
        change=Change(args.change),
        sample=args.sample,
        deadline=deadline,
        tool=args.tool,
        apps=tuple(args.app),
        field_manager=args.field_manager,
    )
    return asyncio.run(_main(conf, args, options))


def _say(text: str) -> None:
    print(f"drill: {text}", file=sys.stderr, flush=True)


async def _main(conf: settings.Settings, args: argparse.Namespace, options: Options) -> int:
    cluster = await _person.connect(args, what="a drill writes")
    try:
        if args.cleanup:
            return await _cleanup(conf, cluster)
        plan = await make_plan(
            cluster, options, drill_id=new_drill_id(model.utcnow()), now=model.utcnow()
        )
        if not args.yes or not plan.targets:
            _print_plan(plan, args.output, acting=False)
            return 2 if plan.problems else 0
        _print_plan(plan, "table", acting=True, stream=sys.stderr)
        return await _drill(conf, cluster, plan, args.output)
    finally:
        await cluster.close()


def _print_plan(plan: Plan, fmt: str, *, acting: bool, stream: TextIO | None = None) -> None:
    out = stream if stream is not None else sys.stdout
    if fmt == "json":
        print(json.dumps(output.to_json(plan, None), indent=2), file=out)
    else:
        print(output.plan_table(plan, acting=acting), file=out)


@contextlib.asynccontextmanager
async def _recording(
    conf: settings.Settings, *, create: bool
) -> AsyncIterator[tuple[Journal | None, AuditLog]]:
    """The journal (``None`` when ``create`` is false and an SQLite journal does not exist
    yet: a cleanup creates nothing) and the drill's audit chain, open for the block."""
    journal = None
    if create or (path := sqlite_file(conf.journal_url)) is None or path.exists():
        journal = wiring.journal(conf)
        await journal.open()
    audit_log = wiring.audit_log(conf, chain=wiring.DRILL_CHAIN)
    try:
        await audit_log.open()
        yield journal, audit_log
    finally:
        await audit_log.close()
        if journal is not None:
            await journal.close()


async def _drill(conf: settings.Settings, cluster: KubeCluster, plan: Plan, fmt: str) -> int:
    stop = asyncio.Event()
    _on_signals(stop)
    async with _recording(conf, create=True) as (journal, audit_log):
        drill = Drill(
            cluster,
            plan,
            journal=journal,
            audit_log=audit_log,
            cluster_name=conf.cluster,
            stop=stop,
            say=_say,
        )
        results = await drill.run()
    _print_results(plan, results, fmt)
    if any(
        not r.record.restored and r.record.outcome not in ("reverted", "deleted") for r in results
    ):
        return EXIT_NOT_RESTORED
    if stop.is_set():
        return EXIT_INTERRUPTED
    incomplete = [
        a
        for a in by_application([r.record for r in results])
        if a.verdict_of_drill == "GitOps incomplete"
    ]
    return EXIT_INCOMPLETE if incomplete else 0


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def stopping(signum: int) -> Callable[[], None]:
        def handler() -> None:
            if stop.is_set():
                _say("still putting changes back; kill -9 now leaves them for --cleanup")
                return
            _say(f"{signal.Signals(signum).name}: putting every change back before exiting")
            stop.set()

        return handler

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stopping(signum))


def _print_results(plan: Plan, results: list[Result], fmt: str) -> None:
    records = [(r.target.ref.describe(), r.record) for r in results]
    if fmt == "json":
        print(json.dumps(output.to_json(plan, records), indent=2))
    elif fmt == "markdown":
        sys.stdout.write(output.results_markdown(records))
    else:
        print(output.results_table(records))


async def _cleanup(conf: settings.Settings, cluster: KubeCluster) -> int:
    user = str((await cluster.whoami()).get("username") or "?")
    async with _recording(conf, create=False) as (journal, audit_log):
        found = await cleanup(
            cluster,
            journal=journal,
            audit_log=audit_log,
            cluster_name=conf.cluster,
            user=user,
            say=_say,
        )
    if not found:
        print("no drill changes left behind")
        return 0
    restored = sum(f.restored for f in found)
    print(f"{restored} of {len(found)} drill changes put back")
    return 0 if restored == len(found) else EXIT_NOT_RESTORED

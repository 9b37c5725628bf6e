"""``breakglass worker``: the backfill worker in a process of its own (``--once``: one pass)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal

import structlog

from breakglass import logs, settings, wiring
from breakglass.errors import TemporaryError
from breakglass.metrics import Metrics
from breakglass.worker import Worker, connect_cluster, stats, terraforming

NAME = "worker"
SUMMARY = "turn confirmed captures into backfill pull requests"

log = logs.get(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\nEach pass confirms provisional captures against the live object, "
        "backfills confirmed ones (locate repo, edit, commit, push, open or update the pull "
        "request) and tracks open pull requests. `breakglass serve` starts this command as "
        "its child process; run it yourself beside `serve --worker none` (its own container), "
        "or with --once for a one-off pass while troubleshooting.\n\n"
        "It writes its own audit-log chain in audit_log.dir/worker, serves its metrics at "
        "metrics.worker_listen when set, runs at CPU niceness backfill.nice, starts a "
        "pass at once on SIGUSR1, and posts to the notifications: destinations in the "
        "background (a slow destination never holds a pass up)."
    )
    parser.epilog = (
        "examples:\n  breakglass worker --config breakglass.yaml --once\n"
        "  breakglass worker --config breakglass.yaml    # until SIGTERM\n"
        "  kill -USR1 <pid>                              # a pass now"
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="settings file (YAML)")
    parser.add_argument("--once", action="store_true", help="run one pass, print a summary")
    parser.add_argument(
        "--parent-pid",
        type=int,
        metavar="PID",
        help="stop when process PID is no longer this worker's parent (serve sets it)",
    )


def lower_priority(nice: int) -> None:
    """Run at CPU niceness ``nice`` (never raises it back: that needs privileges)."""
    with contextlib.suppress(OSError):
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, 0, nice)


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once ``parent`` is gone (this process was handed to another parent)."""
    while not stop.is_set():
        if os.getppid() != parent:
            log.warning("worker_parent_gone", parent_pid=parent)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _main(conf: settings.Settings, once: bool, parent: int | None) -> dict[str, int]:
    from breakglass.notify.notifier import Notifier
    from breakglass.web.app import open_audit_log, serve_metrics

    journal = wiring.journal(conf)
    await journal.open()
    if once and not await journal.leadership():
        await journal.close()
        raise TemporaryError(
            "another breakglass worker runs now (it holds the worker lock)",
            hint="its passes do this work; run --once again when no worker is running "
            "(`serve --worker none` starts none)",
        )
    metrics = Metrics()
    audit_log = wiring.audit_log(conf, chain=wiring.WORKER_CHAIN)
    metrics_runner = None
    if not once and conf.metrics.worker_listen is not None:
        metrics_runner = await serve_metrics(metrics, conf.metrics.worker_listen)
    cluster = await connect_cluster(conf)
    notifier = Notifier.from_settings(conf, metrics)
    if notifier is not None:
        await notifier.start()
    worker = Worker(
        settings=conf,
        journal=journal,
        metrics=metrics,
        cluster=cluster,
        audit_log=audit_log,
        redactor=wiring.redactor(conf),
        open_audit_log=lambda: open_audit_log(audit_log, metrics),
        notifier=notifier,
    )
    try:
        if once:
            await open_audit_log(audit_log, metrics)
            summary = await worker.run_once()
            await terraforming.finish(worker)  # a one-off pass waits for a scan it started
            return dataclasses.asdict(summary)
        stop, wake = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        metrics.export_drift()
        feed = loop.create_task(
            stats.keep_fresh(journal, metrics, every=conf.metrics.drift_refresh_seconds, stop=stop)
        )
        for sig, event in ((signal.SIGTERM, stop), (signal.SIGINT, stop), (signal.SIGUSR1, wake)):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, event.set)
        watch = loop.create_task(_watch_parent(parent, stop)) if parent else None
        await worker.run(stop, wake)
        if watch is not None:
            await watch
        await feed
        return {}
    finally:
        if notifier is not None:
            await notifier.close()  # drains for notifications.drain_seconds at most
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        if cluster is not None:
            await cluster.close()
        await audit_log.close()
        await journal.close()


def run(args: argparse.Namespace) -> int:
    conf = settings.load(args.config)
    logs.configure(level=conf.logging.level, fmt=conf.logging.format)
    structlog.contextvars.bind_contextvars(process="worker")
    lower_priority(conf.backfill.nice)
    summary = asyncio.run(_main(conf, args.once, args.parent_pid))
    if args.once:
        print(json.dumps(summary))
    return 0

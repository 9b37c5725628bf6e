"""``breakglass serve``: run the admission and audit webhooks over HTTPS, and the worker."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from breakglass import logs, settings, workerproc
from breakglass.metrics import Metrics

NAME = "serve"
SUMMARY = "run the webhooks over HTTPS, and the backfill worker"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\nRecords every manual change durably in the journal before answering, "
        "never denies a request, and exposes /healthz, /readyz and /metrics.\nSecrets come "
        "from environment variables named in the config (audit_webhook.token_env).\n\n"
        "The backfill worker runs in a process of its own (`breakglass worker`), started, "
        "woken and restarted by serve, so backfill work never slows admission down. Run it "
        "as a container of its own instead with --worker none."
    )
    parser.epilog = (
        "examples:\n  BREAKGLASS_AUDIT_TOKEN=s3cret breakglass serve --config "
        "examples/breakglass.yaml\n"
        "  breakglass serve --config breakglass.yaml --worker none   # and `breakglass worker` "
        "beside it"
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="settings file (YAML)")
    parser.add_argument("--port", type=int, help="override listen.port")
    parser.add_argument("--host", help="override listen.host")
    parser.add_argument(
        "--worker",
        choices=("child", "none"),
        default="child",
        help="child (default): start `breakglass worker` as a child process when "
        "backfill.enabled; none: the webhooks only (run the worker yourself)",
    )


async def _main(loaded: settings.Settings, config: Path, worker: str) -> None:
    metrics = Metrics()
    child = None
    if worker == "child" and loaded.backfill.enabled:
        child = workerproc.WorkerProcess(config, metrics=metrics)
        await child.start()
    try:
        from breakglass.web import app  # aiohttp: loaded by the command that serves, only

        await app.serve(loaded, metrics=metrics, wake_worker=child.wake if child else None)
    finally:
        if child is not None:
            await child.stop()


def run(args: argparse.Namespace) -> int:
    loaded = settings.load(args.config)
    if args.port is not None or args.host is not None:
        listen = {
            "host": args.host if args.host is not None else loaded.listen.host,
            "port": args.port if args.port is not None else loaded.listen.port,
        }
        loaded = settings.replace(
            loaded, source=f"{loaded.source} with --host/--port", listen=listen
        )
    logs.configure(level=loaded.logging.level, fmt=loaded.logging.format)
    asyncio.run(_main(loaded, Path(args.config).resolve(), args.worker))
    return 0

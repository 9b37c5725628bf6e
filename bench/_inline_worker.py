"""The shape breakglass had before its worker got a process: webhooks and worker in one loop.

    python -m bench._inline_worker CONFIG

Runs the webhooks exactly as ``breakglass serve --worker none`` does (``web.app.serve``) and,
in the same event loop and process, the backfill worker as ``breakglass worker`` builds it.
It exists only so that ``bench/admission_under_backfill.py`` can measure, in one run, what the
worker costs admission when they share a GIL.
"""

from __future__ import annotations

import asyncio
import sys

from breakglass import logs, settings, wiring
from breakglass.metrics import Metrics
from breakglass.web import app
from breakglass.worker import Worker, connect_cluster


async def main(path: str) -> None:
    conf = settings.load(path)
    metrics = Metrics()
    wake = asyncio.Event()
    journal = wiring.journal(conf)
    await journal.open()
    audit_log = wiring.audit_log(conf, chain=wiring.WORKER_CHAIN)
    await audit_log.open()
    worker = Worker(
        settings=conf,
        journal=journal,
        metrics=metrics,
        cluster=await connect_cluster(conf),
        audit_log=audit_log,
        redactor=wiring.redactor(conf),
    )
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(worker.run(stop, wake))
    try:
        await app.serve(conf, metrics=metrics, wake_worker=wake.set)
    finally:
        stop.set()
        await task
        await audit_log.close()
        await journal.close()


if __name__ == "__main__":
    conf = settings.load(sys.argv[1])
    logs.configure(level=conf.logging.level, fmt=conf.logging.format)
    asyncio.run(main(sys.argv[1]))

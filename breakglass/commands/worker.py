"""``breakglass worker``: run the backfill worker alone (``--once`` for one pass)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal

from breakglass import backfill, keyfiles, logs, settings
from breakglass.auditlog import keys as auditlog_keys
from breakglass.auditlog.writer import AuditLog
from breakglass.capture.redact import Redactor
from breakglass.errors import TemporaryError
from breakglass.journal import open_journal
from breakglass.metrics import Metrics

NAME = "worker"
SUMMARY = "turn confirmed captures into backfill pull requests"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\nEach pass confirms provisional captures against the live object, "
        "backfills confirmed ones (locate repo, edit, commit, push, open or update the pull "
        "request) and tracks open pull requests. `breakglass serve` runs the same worker in "
        "the background; use this command for one-off passes and troubleshooting."
    )
    parser.epilog = (
        "examples:\n  breakglass worker --config breakglass.yaml --once\n"
        "  breakglass worker --config breakglass.yaml    # until SIGTERM"
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="settings file (YAML)")
    parser.add_argument("--once", action="store_true", help="run one pass, print a summary")


async def _main(conf: settings.Settings, once: bool) -> dict[str, int]:
    journal = open_journal(conf.journal_url, password=conf.secret(conf.journal_password_env))
    await journal.open()
    if once and not await journal.leadership():
        await journal.close()
        raise TemporaryError(
            "another breakglass replica runs the backfill worker now (it holds the worker lock)",
            hint="its passes do this work; run --once again when no worker is running",
        )
    audit_log = AuditLog(
        conf.audit_log.dir,
        key=auditlog_keys.resolve(conf, generate=True).secret,
        max_bytes=conf.audit_log.max_bytes,
        rotate_daily=conf.audit_log.rotate_daily,
    )
    await audit_log.open()
    salt = keyfiles.redaction_salt(conf)
    cluster = await backfill.connect_cluster(conf)
    worker = backfill.Worker(
        settings=conf,
        journal=journal,
        metrics=Metrics(),
        cluster=cluster,
        audit_log=audit_log,
        redactor=Redactor(salt=salt, key_patterns=conf.redaction.extra_key_patterns),
    )
    try:
        if once:
            return dataclasses.asdict(await worker.run_once())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)
        return {}
    finally:
        if cluster is not None:
            await cluster.close()
        await audit_log.close()
        await journal.close()


def run(args: argparse.Namespace) -> int:
    conf = settings.load(args.config)
    logs.configure(level=conf.logging.level, fmt=conf.logging.format)
    summary = asyncio.run(_main(conf, args.once))
    if args.once:
        print(json.dumps(summary))
    return 0

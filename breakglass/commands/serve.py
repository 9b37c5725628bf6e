"""``breakglass serve``: run the admission and audit webhooks over HTTPS."""

from __future__ import annotations

import argparse
import asyncio

from breakglass import logs, settings
from breakglass.web import app

NAME = "serve"
SUMMARY = "run the webhooks over HTTPS, and the backfill worker"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\nRecords every manual change durably in the journal before answering, "
        "never denies a request, and exposes /healthz, /readyz and /metrics.\nSecrets come "
        "from environment variables named in the config (audit_webhook.token_env)."
    )
    parser.epilog = (
        "example:\n  BREAKGLASS_AUDIT_TOKEN=s3cret breakglass serve --config "
        "examples/breakglass.yaml"
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="settings file (YAML)")
    parser.add_argument("--port", type=int, help="override listen.port")
    parser.add_argument("--host", help="override listen.host")


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
    asyncio.run(app.serve(loaded))
    return 0

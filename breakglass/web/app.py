"""Assemble the aiohttp application and run it over HTTPS.

``build`` wires routes to handlers and pairs start-up with teardown through ``cleanup_ctx``
(the journal opens before the first request and closes after the last).  ``serve`` is what
``breakglass serve`` runs: TLS context, certificate reloader, ``AppRunner`` + ``TCPSite``, and a
clean shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from breakglass import certs, logs
from breakglass.capture.admission import Policy
from breakglass.capture.redact import Redactor
from breakglass.journal import Journal, open_journal
from breakglass.metrics import Metrics
from breakglass.settings import Settings
from breakglass.web import admission, audit, health, tls
from breakglass.web.state import DEPS, Deps

log = logs.get(__name__)


def make_policy(settings: Settings, salt: bytes) -> Policy:
    return Policy(
        cluster=settings.cluster,
        actors=settings.actors,
        redactor=Redactor(salt=salt, key_patterns=settings.redaction.extra_key_patterns),
        record_only=settings.record_only,
    )


def redaction_salt(settings: Settings) -> bytes:
    """The configured salt, or a random one for this process (markers then differ per run)."""
    value = settings.secret(settings.redaction.salt_env)
    if value:
        return value.encode()
    log.warning(
        "redaction_salt_random",
        hint=f"set {settings.redaction.salt_env} so redaction markers are stable across restarts",
    )
    return os.urandom(32)


def build(
    settings: Settings,
    *,
    journal: Journal | None = None,
    metrics: Metrics | None = None,
    salt: bytes | None = None,
    audit_token: str | None = None,
) -> web.Application:
    """The application with every route; opens the journal on start-up."""
    journal = journal if journal is not None else open_journal(settings.journal_url)
    deps = Deps(
        settings=settings,
        journal=journal,
        metrics=metrics if metrics is not None else Metrics(),
        policy=make_policy(settings, salt if salt is not None else redaction_salt(settings)),
        audit_token=audit_token,
    )
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[DEPS] = deps

    async def journal_ctx(app: web.Application) -> AsyncIterator[None]:
        await deps.journal.open()
        log.info("journal_opened", url=deps.journal.url)
        yield
        await deps.journal.close()

    app.cleanup_ctx.append(journal_ctx)
    app.router.add_post("/validate", admission.handle)
    if settings.audit_webhook.enabled:
        app.router.add_post("/audit", audit.handle)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    return app


def serving_files(settings: Settings) -> tuple[Path, Path]:
    """The certificate and key to serve; generates a self-signed pair when none is configured."""
    if settings.tls.cert_file is not None and settings.tls.key_file is not None:
        return settings.tls.cert_file, settings.tls.key_file
    hosts = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    paths = certs.generate(settings.state_dir / "tls", hosts)
    log.warning(
        "tls_self_signed",
        cert_file=str(paths.cert_file),
        ca_file=str(paths.ca_file),
        hint="set tls.cert_file and tls.key_file for a real deployment",
    )
    return paths.cert_file, paths.key_file


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    token = settings.secret(settings.audit_webhook.token_env)
    if settings.audit_webhook.enabled and not token and settings.tls.client_ca_file is None:
        log.warning(
            "audit_endpoint_locked",
            hint=f"set {settings.audit_webhook.token_env} (or tls.client_ca_file) so the API "
            "server can post audit events; until then /audit answers 401",
        )
    cert_file, key_file = serving_files(settings)
    ctx = tls.make_context(cert_file, key_file, settings.tls.client_ca_file)
    metrics = Metrics()
    app = build(settings, metrics=metrics, audit_token=token)
    reloader = tls.CertReloader(
        ctx, cert_file, key_file, interval=settings.tls.reload_interval, metrics=metrics
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.listen.host, settings.listen.port, ssl_context=ctx, backlog=512
    )
    await site.start()
    reloader.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    addresses = [str(a) for a in runner.addresses]
    log.info(
        "serving",
        host=settings.listen.host,
        addresses=addresses,
        cluster=settings.cluster,
        journal=settings.journal_url,
        mode=settings.admission.mode,
    )
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting_down")
        await reloader.stop()
        await runner.cleanup()

"""Assemble the aiohttp application and run it over HTTPS.

``build`` wires routes to handlers and pairs start-up with teardown through ``cleanup_ctx``
(the journal and the audit log open before the first request and close after the last).
``serve`` is what ``breakglass serve`` runs: TLS context, certificate reloader, ``AppRunner`` +
``TCPSite``, an optional plain-HTTP metrics listener on its own address, and a clean shutdown on
SIGTERM/SIGINT.

The backfill worker runs in a process of its own (``breakglass.workerproc``), so nothing here
competes with admission but the webhooks themselves.

An audit log that cannot be opened (a corrupt tail, a locked directory) does not stop the
webhooks: the cluster is never blocked by breakglass.  It is logged as an error at start-up and
every record that cannot be written counts in ``breakglass_auditlog_errors_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from breakglass import certs, logs, repos, wiring
from breakglass.auditlog import AuditLog
from breakglass.capture.admission import Policy
from breakglass.errors import AuditLogError
from breakglass.journal import Journal
from breakglass.metrics import Metrics
from breakglass.sessions.book import SessionBook
from breakglass.settings import ListenSettings, Settings
from breakglass.urls import redact_url
from breakglass.web import admission, audit, health, tls
from breakglass.web.state import DEPS, METRICS, Deps

log = logs.get(__name__)


def make_policy(settings: Settings, salt: bytes | None = None) -> Policy:
    return Policy(
        cluster=settings.cluster,
        actors=settings.actors,
        redactor=wiring.redactor(settings, salt=salt),
        record_only=settings.record_only,
        repo_rules=repos.rules_from(settings.repos),
    )


def build(
    settings: Settings,
    *,
    journal: Journal | None = None,
    metrics: Metrics | None = None,
    salt: bytes | None = None,
    audit_token: str | None = None,
    audit_log: AuditLog | None = None,
    audit_log_key: bytes | None = None,
    wake_worker: Callable[[], None] | None = None,
) -> web.Application:
    """The application with every route; opens the journal and the audit log on start-up.

    Without ``audit_log`` the webhook's chain is made from ``settings.audit_log`` with
    ``audit_log_key``, or the configured key (generated in ``state_dir`` when none is
    configured).  ``wake_worker`` is called when the audit webhook confirms changes, so a
    worker process starts its next pass at once.
    """
    store = journal if journal is not None else wiring.journal(settings)
    deps = Deps(
        settings=settings,
        journal=store,
        metrics=metrics if metrics is not None else Metrics(),
        policy=make_policy(settings, salt),
        audit_token=audit_token,
        audit_log=audit_log or wiring.audit_log(settings, key=audit_log_key),
        wake_worker=wake_worker,
        sessions=SessionBook(store, refresh_seconds=settings.sessions.refresh_seconds),
    )
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[DEPS] = deps
    app[METRICS] = deps.metrics

    async def journal_ctx(app: web.Application) -> AsyncIterator[None]:
        await deps.journal.open()
        log.info("journal_opened", url=deps.journal.url)
        yield
        await deps.journal.close()

    async def audit_log_ctx(app: web.Application) -> AsyncIterator[None]:
        log_ = deps.audit_log
        assert log_ is not None
        await open_audit_log(log_, deps.metrics)
        yield
        await log_.close()

    app.cleanup_ctx.append(journal_ctx)
    app.cleanup_ctx.append(audit_log_ctx)
    app.router.add_post("/validate", admission.handle)
    if settings.audit_webhook.enabled:
        app.router.add_post("/audit", audit.handle)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    if settings.metrics.listen is None:
        app.router.add_get("/metrics", health.metrics)
    return app


async def open_audit_log(audit_log: AuditLog, metrics: Metrics) -> bool:
    """Open a chain; one that cannot be opened (a corrupt tail, a locked directory) is logged
    as an error and counted, and the process goes on: breakglass never blocks the cluster."""
    try:
        await audit_log.open()
    except AuditLogError as exc:
        metrics.auditlog_errors.labels("open").inc()
        log.error(
            "audit_log_unavailable", dir=str(audit_log.directory), error=str(exc), hint=exc.hint
        )
        return False
    metrics.auditlog_seq.set(audit_log.head.seq)
    return True


def build_metrics(metrics: Metrics) -> web.Application:
    """The plain-HTTP metrics listener's application: ``/metrics`` and ``/healthz`` only."""
    app = web.Application(client_max_size=1024)
    app[METRICS] = metrics
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/healthz", health.healthz)
    return app


def serving_files(settings: Settings) -> tuple[Path, Path]:
    """The certificate and key to serve; generates a self-signed pair when none is configured."""
    if settings.tls.cert_file is not None and settings.tls.key_file is not None:
        return settings.tls.cert_file, settings.tls.key_file
    hosts = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    paths, state = certs.ensure(settings.state_dir / "tls", hosts)
    log.warning(
        "tls_self_signed",
        cert_file=str(paths.cert_file),
        ca_file=str(paths.ca_file),
        expires=state.expires.isoformat(),
        hint="set tls.cert_file and tls.key_file for a real deployment",
    )
    if state.renewed:
        log.error(
            "tls_self_signed_renewed",
            ca_file=str(paths.ca_file),
            hint="the certificate was about to expire and was made anew with a new CA: put "
            "the new ca.crt in the webhook configuration's caBundle (breakglass manifests "
            "webhook --ca-file ...) or the API server rejects every call",
        )
    elif state.expiring:
        log.warning(
            "tls_self_signed_expiring",
            expires=state.expires.isoformat(),
            hint=f"breakglass makes a new pair {certs.RENEW_DAYS} days before expiry, with a "
            "new CA for the webhook's caBundle; use tls.cert_file and tls.key_file (for "
            "example from cert-manager) to avoid that",
        )
    return paths.cert_file, paths.key_file


def _freeze_startup_objects() -> None:
    """Move everything allocated at start-up out of the garbage collector's reach.

    Every AdmissionReview parses into thousands of dicts and lists, which trigger frequent
    collections; a full collection then walks every object of the process (imported modules,
    SDKs, metrics), most of which live until exit.  ``gc.freeze()`` after start-up keeps them
    out of those walks: the parse of a 27 KiB review went from ~150 µs to ~80 µs with it.
    Cycles created later are collected as before.
    """
    gc.collect()
    gc.freeze()


async def serve_metrics(metrics: Metrics, where: ListenSettings) -> web.AppRunner:
    """Start a plain-HTTP ``/metrics`` listener at ``where``; the caller cleans the runner up."""
    runner = web.AppRunner(build_metrics(metrics), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, where.host, where.port).start()
    log.info(
        "serving_metrics",
        addresses=[str(a) for a in runner.addresses],
        hint="plain HTTP: bind it to an address only the metrics scraper can reach",
    )
    return runner


async def serve(
    settings: Settings,
    *,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    metrics: Metrics | None = None,
    wake_worker: Callable[[], None] | None = None,
) -> None:
    """Run the webhooks until SIGTERM or SIGINT (or until ``stop`` is set).

    The backfill worker is not in this process: ``breakglass serve`` starts it as a child
    (``breakglass.workerproc``) and passes its ``wake_worker``.
    """
    token = settings.secret(settings.audit_webhook.token_env)
    if settings.audit_webhook.enabled and not token and settings.tls.client_ca_file is None:
        log.warning(
            "audit_endpoint_locked",
            hint=f"set {settings.audit_webhook.token_env} (or tls.client_ca_file) so the API "
            "server can post audit events; until then /audit answers 401",
        )
    cert_file, key_file = serving_files(settings)
    ctx = tls.make_context(cert_file, key_file, settings.tls.client_ca_file)
    metrics = metrics if metrics is not None else Metrics()
    app = build(settings, metrics=metrics, audit_token=token, wake_worker=wake_worker)
    reloader = tls.CertReloader(
        ctx, cert_file, key_file, interval=settings.tls.reload_interval, metrics=metrics
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.listen.host, settings.listen.port, ssl_context=ctx, backlog=512
    )
    await site.start()
    metrics_runner: web.AppRunner | None = None
    if settings.metrics.listen is not None:
        metrics_runner = await serve_metrics(metrics, settings.metrics.listen)
    reloader.start()
    _freeze_startup_objects()
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    addresses = [str(a) for a in runner.addresses]
    log.info(
        "serving",
        host=settings.listen.host,
        addresses=addresses,
        cluster=settings.cluster,
        journal=redact_url(settings.journal_url),
        mode=settings.admission.mode,
    )
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("shutting_down")
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        await reloader.stop()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await runner.cleanup()

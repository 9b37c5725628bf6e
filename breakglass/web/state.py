"""What every handler needs, stored once on the application under one typed ``AppKey``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from breakglass import logs
from breakglass.auditlog import AuditLog
from breakglass.capture.admission import Policy
from breakglass.journal import Journal
from breakglass.metrics import Metrics
from breakglass.sessions.book import SessionBook
from breakglass.settings import Settings

log = logs.get(__name__)


@dataclass(frozen=True)
class Deps:
    settings: Settings
    journal: Journal
    metrics: Metrics
    policy: Policy
    audit_token: str | None
    audit_log: AuditLog | None = None
    #: called when a change becomes ready to backfill, so the worker runs its next pass now
    wake_worker: Callable[[], None] | None = None
    #: the open break-glass sessions (``None``: sessions are not consulted)
    sessions: SessionBook | None = None


DEPS: web.AppKey[Deps] = web.AppKey("deps", Deps)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


def peer_verified(request: web.Request) -> bool:
    """Whether the client presented a certificate that our client CA verified."""
    transport = request.transport
    if transport is None:
        return False
    return bool(transport.get_extra_info("peercert"))


Handler = Callable[[web.Request], Awaitable[tuple[web.Response, str]]]


async def instrumented(
    request: web.Request, *, endpoint: str, event: str, inner: Handler
) -> web.Response:
    """Run ``inner`` with a fresh per-request log context, then count it, time it and write the
    one canonical log line (``event``) with its outcome and duration."""
    metrics = request.app[DEPS].metrics
    started = time.perf_counter()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(endpoint=endpoint)
    outcome = "error"
    try:
        response, outcome = await inner(request)
        return response
    finally:
        elapsed = time.perf_counter() - started
        metrics.requests.labels(endpoint, outcome).inc()
        metrics.latency.labels(endpoint).observe(elapsed)
        log.info(event, outcome=outcome, duration_ms=round(elapsed * 1000, 3))
        structlog.contextvars.clear_contextvars()


def json_error(status: int, message: str) -> web.Response:
    """An error body the API server logs verbatim: ``{"error": "..."}``."""
    return web.json_response({"error": message}, status=status)

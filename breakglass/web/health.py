"""``/healthz`` (the process answers), ``/readyz`` (the journal takes writes) and ``/metrics``.

Readiness is what a Service and the API server's retries care about: while the journal cannot
be written, the pod is taken out of rotation instead of accepting captures it cannot keep.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from breakglass import logs
from breakglass.web.state import DEPS, METRICS

log = logs.get(__name__)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    try:
        await deps.journal.check_writable()
    except Exception as exc:
        deps.metrics.ready.set(0)
        log.warning("not_ready", error=str(exc))
        return web.Response(status=503, text=f"journal not writable: {exc}\n")
    deps.metrics.ready.set(1)
    return web.Response(text="ok\n")


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

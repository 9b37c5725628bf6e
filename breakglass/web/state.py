"""What every handler needs, stored once on the application under one typed ``AppKey``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from breakglass.auditlog import AuditLog
from breakglass.capture.admission import Policy
from breakglass.journal import Journal
from breakglass.metrics import Metrics
from breakglass.settings import Settings


@dataclass(frozen=True)
class Deps:
    settings: Settings
    journal: Journal
    metrics: Metrics
    policy: Policy
    audit_token: str | None
    audit_log: AuditLog | None = None


DEPS: web.AppKey[Deps] = web.AppKey("deps", Deps)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


def peer_verified(request: web.Request) -> bool:
    """Whether the client presented a certificate that our client CA verified."""
    transport = request.transport
    if transport is None:
        return False
    return bool(transport.get_extra_info("peercert"))


def json_error(status: int, message: str) -> web.Response:
    """An error body the API server logs verbatim: ``{"error": "..."}``."""
    return web.json_response({"error": message}, status=status)

"""The serving ``SSLContext``: TLS 1.2+, optional client-certificate verification, and reload.

The kube-apiserver keeps long-lived connections to webhooks, and cert-manager rotates the
serving certificate in place.  ``CertReloader`` watches the certificate and key files and loads
a new pair into the *same* context, so new handshakes use it without a restart.  A pair that
fails to load (a half-written rotation) is logged and retried on the next tick; the old pair
stays in service.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

from cryptography import x509

from breakglass import logs
from breakglass.metrics import Metrics

log = logs.get(__name__)


def make_context(
    cert_file: Path, key_file: Path, client_ca_file: Path | None = None
) -> ssl.SSLContext:
    """A server context with modern defaults; verifies client certificates if a CA is given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        ctx.load_verify_locations(cafile=str(client_ca_file))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def _stamp(*paths: Path) -> tuple[tuple[float, int], ...]:
    out = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            out.append((0.0, -1))
        else:
            out.append((st.st_mtime, st.st_size))
    return tuple(out)


def expiry(cert_file: Path) -> float | None:
    """When the first certificate of ``cert_file`` expires (Unix time); ``None`` if unreadable."""
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return None
    return cert.not_valid_after_utc.timestamp()


class CertReloader:
    """Reloads ``cert_file``/``key_file`` into ``ctx`` whenever either file changes."""

    def __init__(
        self,
        ctx: ssl.SSLContext,
        cert_file: Path,
        key_file: Path,
        *,
        interval: float,
        metrics: Metrics,
    ) -> None:
        self.ctx = ctx
        self.cert_file = cert_file
        self.key_file = key_file
        self.interval = interval
        self.metrics = metrics
        self._last = _stamp(cert_file, key_file)
        self._task: asyncio.Task[None] | None = None
        self._publish_expiry()

    def _publish_expiry(self) -> None:
        ends = expiry(self.cert_file)
        if ends is not None:
            self.metrics.tls_expiry.set(ends)

    def check(self) -> bool:
        """Reload if the files changed since the last look; return whether a reload happened."""
        current = _stamp(self.cert_file, self.key_file)
        if current == self._last:
            return False
        try:
            self.ctx.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            self.metrics.tls_reloads.labels("error").inc()
            log.error("tls_reload_failed", cert_file=str(self.cert_file), error=str(exc))
            return False
        self._last = current
        self.metrics.tls_reloads.labels("ok").inc()
        self._publish_expiry()
        log.info("tls_reloaded", cert_file=str(self.cert_file))
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.check()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

"""Servers for the webhook tests: in-process over real TLS, or a real subprocess.

The in-process server runs the production ``web.app.build`` behind an ``AppRunner`` and
``TCPSite`` with the production TLS context, on a free loopback port, with a certificate from
trustme.  The subprocess server runs ``python -m breakglass serve`` exactly as an operator would.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from breakglass import logs, settings
from breakglass.demo.cluster import free_port
from breakglass.journal import open_journal
from breakglass.metrics import Metrics
from breakglass.web import app as webapp
from breakglass.web import tls

TOKEN = "audit-token-for-tests"
SALT = b"server-test-salt"
AUDIT_LOG_KEY = b"audit-log-key-for-server-tests"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def cert_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("certs")
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_file, key_file, ca_file = d / "tls.crt", d / "tls.key", d / "ca.crt"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    return cert_file, key_file, ca_file


@dataclass
class Server:
    url: str
    session: aiohttp.ClientSession
    settings: settings.Settings
    metrics: Metrics
    logs: io.StringIO
    app: web.Application
    extra: dict[str, Any] = field(default_factory=dict)

    async def validate(self, review: Any, **kw: Any) -> aiohttp.ClientResponse:
        return await self.session.post(f"{self.url}/validate", json=review, **kw)

    async def audit(
        self, body: Any, token: str | None = TOKEN, **kw: Any
    ) -> aiohttp.ClientResponse:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.session.post(f"{self.url}/audit", json=body, headers=headers, **kw)


def make_settings(
    tmp_path: Path, cert_files: tuple[Path, Path, Path], **overrides: Any
) -> settings.Settings:
    cert_file, key_file, _ = cert_files
    data: dict[str, Any] = {
        "cluster": "test",
        "state_dir": str(tmp_path / "state"),
        "tls": {"cert_file": str(cert_file), "key_file": str(key_file)},
        "journal": f"sqlite:///{tmp_path / 'state' / 'journal.db'}",
    }
    data.update(overrides)
    return settings.from_mapping(data, source="test", base=tmp_path)


@pytest.fixture
async def server(tmp_path: Path, cert_files, ca: trustme.CA) -> AsyncIterator[Server]:
    async for s in start_server(tmp_path, cert_files, ca):
        yield s


async def start_server(
    tmp_path: Path,
    cert_files,
    ca: trustme.CA,
    *,
    client_cert: bool = False,
    journal: Any = None,
    **overrides: Any,
) -> AsyncIterator[Server]:
    """The production app on loopback TLS; ``journal`` wraps the configured one when given
    (a callable taking it), to make it slow or failing."""
    stream = io.StringIO()
    logs.configure(fmt="json", stream=stream, cache=False)
    conf = make_settings(tmp_path, cert_files, **overrides)
    metrics = Metrics()
    app = webapp.build(
        conf,
        metrics=metrics,
        salt=SALT,
        audit_token=TOKEN,
        audit_log_key=AUDIT_LOG_KEY,
        journal=journal(open_journal(conf.journal_url)) if journal is not None else None,
    )
    ctx = tls.make_context(conf.tls.cert_file, conf.tls.key_file, conf.tls.client_ca_file)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx)
    await site.start()
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    if client_cert:
        ca.issue_cert("kube-apiserver").configure_cert(client_ctx)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx))
    try:
        yield Server(f"https://localhost:{port}", session, conf, metrics, stream, app)
    finally:
        await session.close()
        await runner.cleanup()


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    url: str
    config: Path
    state: Path
    log_file: Path
    ca_file: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def spawn_server(
    tmp_path: Path,
    cert_files,
    *,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Process:
    """``python -m breakglass serve`` in a subprocess; returns once /healthz answers."""
    cert_file, key_file, ca_file = cert_files
    port = free_port()
    state = tmp_path / "state"
    config = tmp_path / "breakglass.yaml"
    config.write_text(
        f"""
cluster: test
state_dir: {state}
listen: {{host: 127.0.0.1, port: {port}}}
tls: {{cert_file: {cert_file}, key_file: {key_file}}}
journal: sqlite:///{state}/journal.db
logging: {{format: json, level: debug}}
"""
    )
    log_file = tmp_path / "server.log"
    env = {**os.environ, "BREAKGLASS_AUDIT_TOKEN": TOKEN, "BREAKGLASS_REDACTION_SALT": "salt"}
    env.update(extra_env or {})
    handle = log_file.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "breakglass", "serve", "--config", str(config), *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"https://localhost:{port}"
    ctx = ssl.create_default_context(cafile=str(ca_file))
    deadline = time.monotonic() + 30
    import urllib.request

    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", context=ctx, timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log_file.read_text()}") from None
            time.sleep(0.1)
    return Process(proc, url, config, state, log_file, ca_file)


@pytest.fixture
def subprocess_server(tmp_path: Path, cert_files) -> Iterator[Process]:
    process = spawn_server(tmp_path, cert_files)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.send_signal(signal.SIGTERM)
            try:
                process.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.proc.kill()


__all__ = ["AUDIT_LOG_KEY", "TOKEN", "Process", "Server", "asyncio", "spawn_server", "start_server"]

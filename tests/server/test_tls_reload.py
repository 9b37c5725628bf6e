"""A rotated serving certificate is picked up without a restart; a broken one is not."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import trustme

from breakglass import certs
from breakglass.metrics import Metrics
from breakglass.web import tls


def served_cert_subject(port: int, ca_file) -> str:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as s,
    ):
        cert = s.getpeercert()
    return dict(x[0] for x in cert["subject"])["organizationName"]


async def test_certificate_files_are_reloaded_when_they_change(tmp_path):
    ca = trustme.CA()
    first = ca.issue_cert("localhost", organization_name="first")
    second = ca.issue_cert("localhost", organization_name="second")
    cert_file, key_file, ca_file = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.crt"
    first.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    first.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))

    ctx = tls.make_context(cert_file, key_file)
    metrics = Metrics()
    reloader = tls.CertReloader(ctx, cert_file, key_file, interval=0.05, metrics=metrics)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    reloader.start()
    try:
        assert await asyncio.to_thread(served_cert_subject, port, ca_file) == "first"
        # a half-written rotation (garbage) keeps the old pair in service
        time.sleep(0.01)
        cert_file.write_text("not a certificate")
        await asyncio.sleep(0.2)
        assert await asyncio.to_thread(served_cert_subject, port, ca_file) == "first"
        # the completed rotation is served without a restart
        second.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        second.private_key_pem.write_to_path(str(key_file))
        await asyncio.sleep(0.3)
        assert await asyncio.to_thread(served_cert_subject, port, ca_file) == "second"
    finally:
        await reloader.stop()
        server.close()
        await server.wait_closed()
    text = metrics.render().decode()
    assert 'breakglass_tls_reloads_total{outcome="ok"}' in text
    assert 'breakglass_tls_reloads_total{outcome="error"}' in text


async def test_self_signed_pair_is_generated_once_and_verifies(tmp_path):
    paths = certs.generate(tmp_path / "tls", ["localhost", "127.0.0.1"])
    before = paths.cert_file.read_bytes()
    again = certs.generate(tmp_path / "tls", ["localhost"])
    assert again.cert_file.read_bytes() == before
    assert (paths.key_file.stat().st_mode & 0o777) == 0o600
    ctx = tls.make_context(paths.cert_file, paths.key_file)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        subject = await asyncio.to_thread(served_cert_subject, port, paths.ca_file)
    finally:
        server.close()
        await server.wait_closed()
    assert subject == "breakglass"

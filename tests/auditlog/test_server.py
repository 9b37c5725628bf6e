"""The webhooks write the audit log, never fail because of it, and leak no secret into it."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl

import aiohttp
import pytest

from breakglass import settings
from breakglass.auditlog.verify import verify
from breakglass.auditlog.writer import log_files
from breakglass.web import app as webapp
from breakglass.web.state import DEPS
from tests import payloads as p
from tests.server.conftest import AUDIT_LOG_KEY, free_port, make_settings, start_server


@pytest.fixture
async def server(tmp_path, cert_files, ca):
    async for s in start_server(tmp_path, cert_files, ca):
        yield s


def audit_records(server) -> list[dict]:
    files = log_files(server.settings.audit_log.dir)
    return [json.loads(line) for f in files for line in f.read_bytes().splitlines()]


async def test_a_capture_is_recorded_once_even_when_its_uid_is_replayed(server):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
    ids = set()
    for _ in range(3):
        answer = await (await server.validate(review)).json()
        ids.add(answer["response"]["auditAnnotations"]["capture-id"])
    [capture_id] = ids
    [record] = audit_records(server)
    assert record["type"] == "capture" and record["capture_id"] == capture_id
    assert record["actor"]["user"] == "alice" and record["outcome"] == "provisional"
    assert record["summary"]["paths"] == ["spec.replicas"]
    log_lines = [json.loads(x) for x in server.logs.getvalue().splitlines()]
    siem = [x for x in log_lines if x["event"] == "audit_record"]
    assert [x["record"] for x in siem] == [record]
    assert (
        'breakglass_auditlog_records_total{type="capture"} 1.0' in server.metrics.render().decode()
    )


async def test_skipped_requests_write_nothing(server):
    review = p.review(operation="UPDATE", obj=p.deployment(), old=p.deployment(), dry_run=True)
    await server.validate(review)
    assert audit_records(server) == []


async def test_audit_events_confirm_and_capture(server):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
    answer = await (await server.validate(review)).json()
    capture_id = answer["response"]["auditAnnotations"]["capture-id"]
    confirm = p.audit_event(
        verb="update", resource="deployments", group="apps", name="checkout", capture_id=capture_id
    )
    audit_only = p.audit_event(
        verb="patch",
        resource="configmaps",
        name="checkout-config",
        request_object={"data": {"TIMEOUT": "60"}},
    )
    resp = await server.audit(p.event_list(confirm, audit_only))
    assert resp.status == 200
    resp = await server.audit(p.event_list(confirm))  # a retried batch is not recorded twice
    assert resp.status == 200
    records = audit_records(server)
    assert [r["type"] for r in records] == ["capture", "confirmation", "capture"]
    assert records[1]["capture_id"] == capture_id and records[1]["outcome"] == "confirmed"
    assert records[1]["actor"]["source_ips"] == ["10.0.3.7"]
    assert records[1]["actor"]["user_agent"].startswith("kubectl/")
    assert records[2]["object"] == {
        "kind": "ConfigMap",
        "namespace": "payments",
        "name": "checkout-config",
    }
    assert records[2]["summary"]["source"] == "audit"
    assert records[2]["summary"]["paths"] == ["data.TIMEOUT"]
    assert verify([server.settings.audit_log.dir], key=AUDIT_LOG_KEY).ok


async def test_an_audit_log_failure_never_blocks_the_api_server(server):
    audit_log = server.app[DEPS].audit_log
    assert audit_log is not None
    await audit_log.close()  # every later write fails
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
    resp = await server.validate(review)
    answer = (await resp.json())["response"]
    assert answer["allowed"] is True and "capture-id" in answer["auditAnnotations"]
    event = p.audit_event(verb="patch", resource="configmaps", name="c", request_object={})
    assert (await server.audit(p.event_list(event))).status == 200
    text = server.metrics.render().decode()
    assert 'breakglass_auditlog_errors_total{operation="write"} 2.0' in text
    assert "audit_log_write_failed" in server.logs.getvalue()


async def test_a_corrupt_audit_log_at_start_up_is_reported_and_serving_goes_on(
    tmp_path, cert_files, ca
):
    audit_dir = tmp_path / "state" / "audit"
    audit_dir.mkdir(parents=True)
    (audit_dir / "audit-20261126-0001.jsonl").write_bytes(b'{"seq":1,"mac":"x"')
    async for server in start_server(tmp_path, cert_files, ca):
        review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
        answer = (await (await server.validate(review)).json())["response"]
        assert answer["allowed"] is True
        text = server.metrics.render().decode()
        assert 'breakglass_auditlog_errors_total{operation="open"} 1.0' in text
        assert "audit_log_unavailable" in server.logs.getvalue()


async def test_a_canary_secret_value_reaches_no_byte_of_the_audit_log(server):
    canary = p.CANARY
    encoded = base64.b64encode(canary.encode()).decode()
    old = p.secret(value="previous-value")
    new = p.secret(value=canary)
    new["stringData"] = {"token": canary}
    for review in (
        p.review(operation="UPDATE", obj=new, old=old, field_manager="kubectl-client-side-apply"),
        p.review(operation="CREATE", obj=p.secret(value=canary, name="fresh"), old=None),
        p.review(operation="DELETE", obj=None, old=p.secret(value=canary, name="gone")),
    ):
        assert (await server.validate(review)).status == 200
    events = p.event_list(*p.canary_audit_events(canary))
    assert (await server.audit(events)).status == 200
    records = audit_records(server)
    assert len(records) == 7
    blob = b"".join(f.read_bytes() for f in log_files(server.settings.audit_log.dir))
    blob += server.logs.getvalue().encode()
    for needle in (canary, encoded, "previous-value"):
        assert needle.encode() not in blob
    assert any("data.password" in r["summary"]["paths"] for r in records)


async def test_metrics_get_their_own_plain_http_listener(tmp_path, cert_files, ca):
    https_port, metrics_port = free_port(), free_port()
    conf = make_settings(
        tmp_path,
        cert_files,
        listen={"host": "127.0.0.1", "port": https_port},
        metrics={"listen": {"host": "127.0.0.1", "port": metrics_port}},
    )
    assert conf.metrics.listen == settings.ListenSettings(host="127.0.0.1", port=metrics_port)
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(webapp.serve(conf, ready=ready, stop=stop))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
                assert resp.status == 200
                text = await resp.text()
                assert "breakglass_requests_total" in text
                assert "breakglass_auditlog_errors_total" in text
            async with session.get(f"http://127.0.0.1:{metrics_port}/validate") as resp:
                assert resp.status == 404
            url = f"https://localhost:{https_port}"
            async with session.get(f"{url}/metrics", ssl=client_ctx) as resp:
                assert resp.status == 404  # no longer on the webhook port
            async with session.get(f"{url}/healthz", ssl=client_ctx) as resp:
                assert resp.status == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_metrics_listener_settings_are_checked(tmp_path):
    from breakglass.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        settings.from_mapping(
            {"listen": {"port": 8443}, "metrics": {"listen": {"port": 8443, "host": 7}}},
            source="t",
            base=tmp_path,
        )
    paths = {p.path for p in info.value.problems}
    assert paths == {"metrics.listen.port", "metrics.listen.host"}
    loaded = settings.from_mapping({"state_dir": "s"}, source="t", base=tmp_path)
    assert loaded.metrics.listen is None
    assert loaded.audit_log.dir == (tmp_path / "s" / "audit").resolve()
    assert loaded.audit_log.key_env == "BREAKGLASS_AUDIT_LOG_KEY"
    assert loaded.audit_log.max_bytes == 64 * 1024 * 1024 and loaded.audit_log.rotate_daily

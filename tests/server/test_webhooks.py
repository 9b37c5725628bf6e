"""The webhooks over real TLS: answers, fail-open paths, authentication, readiness, metrics."""

from __future__ import annotations

import json
import ssl
import warnings

import aiohttp
import pytest

from breakglass.journal import open_journal
from tests import payloads as p
from tests.server.conftest import start_server


async def test_manual_edit_is_allowed_with_a_warning_and_an_audit_annotation(server):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
    resp = await server.validate(review)
    assert resp.status == 200
    body = await resp.json()
    answer = body["response"]
    assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
    assert answer["uid"] == review["request"]["uid"]
    assert answer["allowed"] is True
    capture_id = answer["auditAnnotations"]["capture-id"]
    assert answer["warnings"] == [
        f"breakglass: recorded deployment payments/checkout change as {capture_id}; "
        "a backfill PR will follow"
    ]
    lines = [json.loads(x) for x in server.logs.getvalue().splitlines()]
    line = next(x for x in lines if x["event"] == "admission")
    assert line["uid"] == review["request"]["uid"]
    assert line["user"] == "alice"
    assert line["resource"] == "deployments"
    assert line["namespace"] == "payments" and line["name"] == "checkout"
    assert line["decision"] == "capture" and line["capture_id"] == capture_id
    assert "duration_ms" in line


async def test_skipped_requests_get_a_plain_allow(server):
    review = p.review(
        operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment(), dry_run=True
    )
    answer = (await (await server.validate(review)).json())["response"]
    assert answer == {"uid": review["request"]["uid"], "allowed": True}


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe\x00garbage", b"[1,2,3]", b'{"request": {}}', b"{" * 5000],
)
async def test_garbage_gets_400_with_a_json_error(server, body):
    resp = await server.session.post(
        f"{server.url}/validate", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert "error" in await resp.json()


async def test_parseable_nonsense_is_allowed_and_counted(server):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
    review["request"]["userInfo"] = "alice"
    answer = (await (await server.validate(review)).json())["response"]
    assert answer["allowed"] is True
    metrics = await (await server.session.get(f"{server.url}/metrics")).text()
    assert 'breakglass_unusable_payloads_total{endpoint="validate"} 1.0' in metrics
    assert "admission_unusable" in server.logs.getvalue()


async def test_bodies_over_the_limit_get_413_and_under_it_are_taken(server):
    limit = server.settings.max_body_bytes
    big = p.review(operation="UPDATE", obj=p.configmap(), old=p.configmap())
    big["request"]["object"]["data"]["blob"] = "x" * (limit - 2000)
    body = json.dumps(big).encode()
    assert len(body) < limit
    resp = await server.session.post(f"{server.url}/validate", data=body)
    assert resp.status == 200
    assert (await resp.json())["response"]["allowed"] is True
    too_big = body + b" " * (limit - len(body) + 10)
    resp = await server.session.post(f"{server.url}/validate", data=too_big)
    assert resp.status == 413
    assert "error" in await resp.json()
    metrics = await (await server.session.get(f"{server.url}/metrics")).text()
    assert 'breakglass_fail_open_total{reason="too-large"} 1.0' in metrics


async def test_same_uid_replayed_gives_one_capture(server):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
    ids = set()
    for _ in range(20):
        answer = (await (await server.validate(review)).json())["response"]
        ids.add(answer["auditAnnotations"]["capture-id"])
    assert len(ids) == 1
    journal = open_journal(server.settings.journal_url)
    await journal.open()
    try:
        assert len(await journal.list()) == 1
    finally:
        await journal.close()


async def test_audit_requires_the_bearer_token(server):
    batch = p.event_list()
    assert (await server.audit(batch, token=None)).status == 401
    assert (await server.audit(batch, token="wrong")).status == 401
    assert (await server.audit(batch)).status == 200


async def test_audit_confirms_the_admission_capture(server):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
    capture_id = (await (await server.validate(review)).json())["response"]["auditAnnotations"][
        "capture-id"
    ]
    event = p.audit_event(
        verb="patch",
        resource="deployments",
        group="apps",
        name="checkout",
        request_object={"spec": {"replicas": 6}},
        capture_id=capture_id,
    )
    missed = p.audit_event(
        verb="update", resource="configmaps", name="checkout-config", response_object=p.configmap()
    )
    noise = p.audit_event(verb="get", resource="pods", name="x")
    resp = await server.audit(p.event_list(event, missed, noise, event))
    assert resp.status == 200
    journal = open_journal(server.settings.journal_url)
    await journal.open()
    try:
        confirmed = await journal.get(capture_id)
        assert confirmed.status.value == "confirmed"
        assert confirmed.delta.patch == {"spec": {"replicas": 6}}
        sources = sorted(c.source.value for c in await journal.list())
        assert sources == ["admission", "audit"]
    finally:
        await journal.close()


async def test_audit_bad_payloads(server):
    resp = await server.session.post(
        f"{server.url}/audit",
        data=b"{{{",
        headers={"Authorization": "Bearer audit-token-for-tests"},
    )
    assert resp.status == 400
    resp = await server.audit({"kind": "EventList"})
    assert resp.status == 400


async def test_readiness_flips_when_the_journal_is_unwritable(server, tmp_path):
    assert (await server.session.get(f"{server.url}/readyz")).status == 200
    db = tmp_path / "state" / "journal.db"
    moved = tmp_path / "moved.db"
    db.rename(moved)
    resp = await server.session.get(f"{server.url}/readyz")
    assert resp.status == 503
    assert "journal" in await resp.text()
    moved.rename(db)
    assert (await server.session.get(f"{server.url}/readyz")).status == 200
    assert (await server.session.get(f"{server.url}/healthz")).status == 200


async def test_journal_failure_still_allows_and_counts(server):
    class Broken:
        url = "broken://"

        async def insert(self, capture):
            raise OSError("disk full")

    from breakglass.web.state import DEPS

    deps = server.app[DEPS]
    real = deps.journal
    object.__setattr__(deps, "journal", Broken())
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
    try:
        answer = (await (await server.validate(review)).json())["response"]
    finally:
        object.__setattr__(deps, "journal", real)
    assert answer["allowed"] is True
    assert "could not record" in answer["warnings"][0]
    metrics = deps.metrics.render().decode()
    assert 'breakglass_fail_open_total{reason="journal"} 1.0' in metrics


async def test_tls_1_1_is_refused(server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
        with pytest.raises(aiohttp.ClientError):
            await s.get(f"{server.url}/healthz")


async def test_client_certificate_required_for_validate(tmp_path, cert_files, ca):
    _, _, ca_file = cert_files
    overrides = {
        "tls": {
            "cert_file": str(cert_files[0]),
            "key_file": str(cert_files[1]),
            "client_ca_file": str(ca_file),
        },
        "admission": {"require_client_cert": True},
    }
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment())
    async for s in start_server(tmp_path / "a", cert_files, ca, **overrides):
        assert (await s.validate(review)).status == 403
    async for s in start_server(tmp_path / "b", cert_files, ca, client_cert=True, **overrides):
        assert (await s.validate(review)).status == 200
        # a verified client certificate also opens /audit without a token
        assert (await s.audit(p.event_list(), token=None)).status == 200

"""Hostile bodies over real HTTPS: the webhooks answer every one, and the server stays well.

The rule under test is the webhook's promise to the cluster: an AdmissionReview it can parse
is always *allowed* (whatever is inside), anything else gets a 400 or 413 with a JSON error,
and nothing becomes a 500 or a dropped connection.  Hypothesis drives the generated cases from
a worker thread while the server runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from breakglass.auditlog.writer import log_files
from breakglass.web.state import DEPS
from tests import payloads as p
from tests.fuzz import strategies as s
from tests.fuzz.conftest import EXAMPLES, FUZZ
from tests.server.conftest import TOKEN, start_server

LIMIT = 3 * 1024 * 1024
HTTP_EXAMPLES = max(10, EXAMPLES // 4)


@pytest.fixture
async def server(tmp_path, cert_files, ca):
    async for s_ in start_server(tmp_path, cert_files, ca):
        yield s_


async def post(server, path: str, body: bytes) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    async with server.session.post(f"{server.url}{path}", data=body, headers=headers) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw else None


def assert_answered(path: str, status: int, answer: Any, uid: Any = None) -> None:
    assert status in (200, 400, 413), (status, answer)
    if status != 200:
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str)
    elif path == "/validate":
        assert answer["response"]["allowed"] is True
        if uid is not None:
            assert answer["response"]["uid"] == uid


async def drive(property_test: Callable[[Callable[..., Any]], None], server) -> None:
    """Run a blocking hypothesis test whose examples post to ``server`` on this loop."""
    loop = asyncio.get_running_loop()

    def call(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    await loop.run_in_executor(None, property_test, call)


async def healthy(server) -> None:
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=4), old=p.deployment())
    status, answer = await post(server, "/validate", orjson.dumps(review))
    assert status == 200 and "capture-id" in answer["response"]["auditAnnotations"]
    async with server.session.get(f"{server.url}/readyz") as resp:
        assert resp.status == 200


async def test_garbage_bytes(server):
    @FUZZ.__class__(FUZZ, max_examples=HTTP_EXAMPLES)
    @given(body=st.binary(max_size=2_000), path=st.sampled_from(["/validate", "/audit"]))
    def prop(call, body, path):
        status, answer = call(post(server, path, body))
        assert_answered(path, status, answer)

    await drive(prop, server)
    await healthy(server)


async def test_mutated_reviews_are_always_allowed_with_their_uid(server):
    @FUZZ.__class__(FUZZ, max_examples=HTTP_EXAMPLES)
    @given(request=s.mutated(s.admission_bases(), s.ADMISSION_EXTRA))
    def prop(call, request):
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request,
        }
        status, answer = call(post(server, "/validate", orjson.dumps(review)))
        uid = request.get("uid") if isinstance(request, dict) else None
        if isinstance(uid, str) and uid:
            assert status == 200, answer
        assert_answered("/validate", status, answer, uid if status == 200 else None)

    await drive(prop, server)
    await healthy(server)


async def test_mutated_audit_batches_are_accepted(server):
    @FUZZ.__class__(FUZZ, max_examples=HTTP_EXAMPLES)
    @given(events=st.lists(s.mutated(s.audit_bases(), s.AUDIT_EXTRA), max_size=5))
    def prop(call, events):
        status, answer = call(post(server, "/audit", orjson.dumps(p.event_list(*events))))
        assert status == 200, answer

    await drive(prop, server)
    await healthy(server)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"request": {"uid": "\xff\xfe"}}', id="invalid-utf8"),
        pytest.param(b'{"request": {"uid": "\\ud800"}}', id="lone-surrogate"),
        pytest.param(b"[" * 10_000 + b"]" * 10_000, id="10000-deep-list"),
        pytest.param(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, id="10000-deep-object"),
        pytest.param(b"", id="empty"),
        pytest.param(b"null", id="null"),
        pytest.param(b'"AdmissionReview"', id="string"),
        pytest.param(b'{"request": []}', id="request-is-a-list"),
        pytest.param(b'{"request": {"uid": 7}}', id="uid-is-a-number"),
        pytest.param(b"1e400", id="infinite-number"),
    ],
)
@pytest.mark.parametrize("path", ["/validate", "/audit"])
async def test_malformed_bodies_get_a_clear_400(server, path, body):
    status, answer = await post(server, path, body)
    assert status == 400, answer
    assert_answered(path, status, answer)


def with_nesting(doc: Any, depth: int) -> bytes:
    """``doc`` encoded, its ``"@deep@"`` string replaced by a list nested ``depth`` deep."""
    deep = b"[" * depth + b'"x"' + b"]" * depth
    return orjson.dumps(doc).replace(b'"@deep@"', deep)


@pytest.mark.parametrize(("depth", "diffed"), [(90, True), (1_000, False)])
async def test_deep_nesting_inside_a_parsable_review_is_still_recorded(server, depth, diffed):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=3), old=p.deployment())
    review["request"]["object"]["spec"]["deep"] = "@deep@"
    status, answer = await post(server, "/validate", with_nesting(review, depth))
    assert_answered("/validate", status, answer, review["request"]["uid"])
    assert "capture-id" in answer["response"]["auditAnnotations"]
    assert ("too deeply nested" in answer["response"]["warnings"][0]) is not diffed
    assert "breakglass_unusable_payloads_total{" not in server.metrics.render().decode()
    event = p.audit_event(
        verb="update", resource="configmaps", name="c", response_object={"data": "@deep@"}
    )
    status, _ = await post(server, "/audit", with_nesting(p.event_list(event), depth))
    assert status == 200
    stored = await server.app[DEPS].journal.list(limit=10)
    assert len(stored) == 2
    opaque = [c for c in stored if c.classification == "opaque"]
    assert len(opaque) == (0 if diffed else 2)
    for capture in opaque:
        assert "nested more than 100 levels deep" in (capture.reason or "")
    await healthy(server)


async def test_duplicate_keys_take_the_last_value(server):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=3), old=p.deployment())
    body = orjson.dumps(review).replace(b'"uid":"', b'"uid":"first","uid":"', 1)
    status, answer = await post(server, "/validate", body)
    assert status == 200
    assert answer["response"]["uid"] == review["request"]["uid"]


async def test_huge_arrays_and_strings_under_the_limit(server):
    big_list = p.configmap(data={"list": "x"})
    big_list["data"] = {f"k{i}": "v" for i in range(40_000)}
    huge_string = p.configmap(data={"blob": "y" * (LIMIT - 10_000)})
    many_groups = p.review(
        operation="UPDATE",
        obj=p.deployment(replicas=3),
        old=p.deployment(),
        user={"username": "alice", "groups": [f"g{i}" for i in range(100_000)]},
    )
    for review in (
        p.review(operation="UPDATE", obj=big_list, old=p.configmap()),
        p.review(operation="UPDATE", obj=huge_string, old=p.configmap()),
        many_groups,
    ):
        body = orjson.dumps(review)
        assert len(body) < LIMIT
        status, answer = await post(server, "/validate", body)
        assert status == 200 and "capture-id" in answer["response"]["auditAnnotations"]
    records = [
        line
        for f in log_files(server.settings.audit_log.dir)
        for line in f.read_bytes().splitlines()
    ]
    assert len(records) == 3
    assert max(len(r) for r in records) < 64 * 1024  # records stay bounded


async def test_bodies_just_under_and_over_the_limit(server):
    review = p.review(operation="UPDATE", obj=p.configmap(data={"blob": ""}), old=p.configmap())
    base = len(orjson.dumps(review))
    review["request"]["object"]["data"]["blob"] = "z" * (LIMIT - base)
    under = orjson.dumps(review)
    assert len(under) == LIMIT
    status, answer = await post(server, "/validate", under)
    assert status == 200 and answer["response"]["allowed"] is True
    over = under[:-1] + b" }"
    assert len(over) == LIMIT + 1
    for path in ("/validate", "/audit"):
        status, answer = await post(server, path, over)
        assert status == 413 and "larger than" in answer["error"]
    await healthy(server)


async def test_one_uid_replayed_a_thousand_times_is_one_capture(server):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=8), old=p.deployment())
    body = orjson.dumps(review)
    ids: set[str] = set()
    for _ in range(10):
        answers = await asyncio.gather(*(post(server, "/validate", body) for _ in range(100)))
        for status, answer in answers:
            assert status == 200
            ids.add(answer["response"]["auditAnnotations"]["capture-id"])
    assert len(ids) == 1
    stored = await server.app[DEPS].journal.list(limit=10)
    assert [c.id for c in stored] == list(ids)
    records = [f.read_bytes().splitlines() for f in log_files(server.settings.audit_log.dir)]
    assert sum(len(r) for r in records) == 1

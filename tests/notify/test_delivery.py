"""Delivery against HTTP fakes of Slack, Teams and a CloudEvents receiver: shapes as received,
retries, Retry-After, giving up, a hung destination, a full queue, shutdown, and logs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import structlog

from breakglass import model
from breakglass.auditlog import EventType
from breakglass.metrics import Metrics
from breakglass.notify import events
from tests.notify.conftest import NOW, capture, notifier, session, until


def opened(**kw) -> events.Notification:
    n = events.from_capture(capture(**kw), EventType.PR_OPENED, now=NOW, id=f"id-{kw}")
    assert n is not None
    return n


def count(metrics: Metrics, destination: str, event: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "breakglass_notifications_total",
        {"destination": destination, "event": event, "outcome": outcome},
    )
    return value or 0.0


@pytest.mark.parametrize("kind", ["slack", "teams", "webhook"])
async def test_each_service_receives_its_documented_shape(receivers, kind):
    receiver = await receivers(kind)
    metrics = Metrics()
    n = notifier([receiver.destination()], metrics)
    await n.start()
    n.publish(opened())
    n.session_opened(session())
    await until(lambda: len(receiver.requests) == 2)
    await n.close()
    assert receiver.problems == []
    assert count(metrics, kind, "pr_opened", "delivered") == 1
    assert count(metrics, kind, "session_opened", "delivered") == 1
    first = receiver.requests[0]
    if kind == "webhook":
        assert first.headers["Content-Type"] == "application/cloudevents+json"
        assert first.json()["type"] == "dev.breakglass.pr.opened"
    else:
        assert first.headers["Content-Type"] == "application/json"
    assert first.headers["User-Agent"].startswith("breakglass/")


async def test_500_500_200_is_delivered_once(receivers):
    receiver = await receivers("webhook", script=[500, 500, 200])
    metrics = Metrics()
    n = notifier([receiver.destination()], metrics)
    await n.start()
    n.publish(opened())
    await until(lambda: count(metrics, "webhook", "pr_opened", "delivered") == 1)
    await n.close()
    assert len(receiver.requests) == 3
    ids = {r.json()["id"] for r in receiver.requests}
    assert len(ids) == 1  # the same event, retried: a receiver can drop repeats by id
    # each attempt is signed afresh, and each signature verifies
    assert receiver.problems == []
    retries = metrics.registry.get_sample_value(
        "breakglass_notification_retries_total", {"destination": "webhook"}
    )
    assert retries == 2


async def test_429_retry_after_is_honoured(receivers):
    receiver = await receivers("slack", script=[(429, {"Retry-After": "1"}), 200])
    metrics = Metrics()
    n = notifier([receiver.destination()], metrics)
    await n.start()
    n.publish(opened())
    await until(lambda: count(metrics, "slack", "pr_opened", "delivered") == 1)
    await n.close()
    first, second = receiver.requests
    assert second.at - first.at >= 0.95  # jitter is 0 here: only Retry-After made it wait


async def test_gives_up_after_the_attempt_limit_and_says_so(receivers):
    receiver = await receivers("teams", script=[503, 503, 503, 503, 503])
    metrics = Metrics()
    n = notifier([receiver.destination()], metrics, max_attempts=3)
    with structlog.testing.capture_logs() as logged:
        await n.start()
        n.publish(opened())
        await until(lambda: count(metrics, "teams", "pr_opened", "gave_up") == 1)
        await n.close()
    assert len(receiver.requests) == 3
    [gave_up] = [e for e in logged if e["event"] == "notification_gave_up"]
    assert gave_up["destination"] == "teams" and gave_up["attempts"] == 3
    assert gave_up["status"] == 503
    dumped = json.dumps(logged, default=str)
    assert "T0KEN-in-the-url" not in dumped and receiver.url not in dumped
    assert gave_up["host"] == "http://127.0.0.1/…"


async def test_gives_up_after_the_time_limit(receivers):
    receiver = await receivers("slack", script=[(429, {"Retry-After": "120"})])
    metrics = Metrics()
    n = notifier([receiver.destination()], metrics, give_up_seconds=60.0)
    started = time.monotonic()
    await n.start()
    n.publish(opened())
    await until(lambda: count(metrics, "slack", "pr_opened", "gave_up") == 1)
    await n.close()
    assert time.monotonic() - started < 5  # a wait past the limit is not waited
    assert len(receiver.requests) == 1


async def test_a_refusal_is_not_retried(receivers):
    receiver = await receivers("slack", script=[404])
    metrics = Metrics()
    n = notifier([receiver.destination()], metrics)
    with structlog.testing.capture_logs() as logged:
        await n.start()
        n.publish(opened())
        await until(lambda: count(metrics, "slack", "pr_opened", "refused") == 1)
        await n.close()
    assert len(receiver.requests) == 1
    [refused] = [e for e in logged if e["event"] == "notification_refused"]
    assert refused["status"] == 404 and "T0KEN" not in json.dumps(refused, default=str)


async def test_an_unreachable_destination_is_retried_then_given_up():
    from breakglass.notify.destinations import Destination

    closed_port = Destination(name="gone", kind="slack", url="http://127.0.0.1:9/hook/T0KEN")
    metrics = Metrics()
    n = notifier([closed_port], metrics, max_attempts=2)
    with structlog.testing.capture_logs() as logged:
        await n.start()
        n.publish(opened())
        await until(lambda: count(metrics, "gone", "pr_opened", "gave_up") == 1)
        await n.close()
    [gave_up] = [e for e in logged if e["event"] == "notification_gave_up"]
    assert gave_up["status"] is None and "T0KEN" not in json.dumps(logged, default=str)


async def test_a_hung_destination_never_delays_publish_nor_the_others(receivers):
    hung = await receivers("slack", script=["hang"])
    healthy = await receivers("teams")
    metrics = Metrics()
    n = notifier([hung.destination(), healthy.destination()], metrics, timeout_seconds=30.0)
    await n.start()
    started = time.monotonic()
    for number in range(50):
        n.publish(opened(pr_url=f"https://github.com/acme/gitops/pull/{number}"))
    assert time.monotonic() - started < 0.1
    await until(lambda: len(healthy.requests) == 50)
    await hung.arrived.wait()
    assert len(hung.requests) == 1  # still waiting on its first answer
    assert (
        metrics.registry.get_sample_value(
            "breakglass_notification_queue_depth", {"destination": "slack"}
        )
        == 49
    )
    started = time.monotonic()
    await n.close()  # drain_seconds 1: the hung one is cut off, its queue abandoned
    assert time.monotonic() - started < 3
    assert count(metrics, "slack", "pr_opened", "abandoned") == 50
    assert count(metrics, "teams", "pr_opened", "delivered") == 50


async def test_a_full_queue_drops_the_oldest_and_counts_it(receivers):
    receiver = await receivers("webhook")
    metrics = Metrics()
    n = notifier([receiver.destination()], metrics, queue_size=3)
    # not started yet: nothing is taken off the queue
    for number in range(5):
        n.publish(opened(pr_url=f"https://github.com/acme/gitops/pull/{number}"))
    assert count(metrics, "webhook", "pr_opened", "dropped") == 2
    await n.start()
    await until(lambda: len(receiver.requests) == 3)
    await n.close()
    urls = [r.json()["data"]["url"] for r in receiver.requests]
    assert urls == [f"https://github.com/acme/gitops/pull/{i}" for i in (2, 3, 4)]


async def test_close_drains_what_is_queued(receivers):
    receiver = await receivers("teams")
    metrics = Metrics()
    n = notifier([receiver.destination()], metrics, drain_seconds=5.0)
    for number in range(10):
        n.publish(opened(pr_url=f"https://github.com/acme/gitops/pull/{number}"))
    await n.start()
    await n.close()
    assert len(receiver.requests) == 10
    assert count(metrics, "teams", "pr_opened", "abandoned") == 0
    n.publish(opened(pr_url="https://github.com/acme/gitops/pull/99"))  # after close: counted
    assert count(metrics, "teams", "pr_opened", "abandoned") == 1


async def test_captures_of_one_pull_request_make_one_message(receivers):
    receiver = await receivers("slack")
    n = notifier([receiver.destination()])
    await n.start()
    n.recorded(capture(user="alice"), EventType.PR_OPENED)
    n.recorded(capture(user="bob"), EventType.PR_OPENED)
    n.recorded(capture(status=model.Status.PR_OPEN), EventType.CONFIRMATION)  # no news
    await n.close()
    assert len(receiver.requests) == 1


async def test_routing_sends_each_destination_only_its_own(receivers):
    payments = await receivers("slack")
    humans = await receivers("teams")
    n = notifier(
        [
            payments.destination(namespaces=("payments",)),
            humans.destination(events=("needs_human",)),
        ]
    )
    await n.start()
    n.publish(opened(namespace="payments"))
    n.publish(opened(namespace="shop", pr_url="https://github.com/acme/gitops/pull/8"))
    failed = capture(status=model.Status.FAILED, namespace="shop", reason="cannot be expressed")
    n.recorded(failed, EventType.FAILED)
    await n.close()
    assert [r.json()["blocks"][0]["text"]["text"] for r in payments.requests] == [
        "Backfill pull request opened"
    ]
    assert len(humans.requests) == 1
    assert humans.requests[0].json()["attachments"][0]["content"]["body"][0]["text"] == (
        "A manual change needs a human"
    )


async def test_publish_never_waits_even_without_a_running_notifier():
    from breakglass.notify.destinations import Destination

    n = notifier([Destination(name="x", kind="slack", url="http://127.0.0.1:9/h")])
    started = time.monotonic()
    for number in range(5000):
        n.publish(opened(pr_url=f"https://github.com/acme/gitops/pull/{number}"))
    assert time.monotonic() - started < 1.0
    await n.close()
    await asyncio.sleep(0)

"""The worker publishes through its audit funnel, never waits on a destination, and never lets a
Secret's value into a message."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from breakglass import model
from breakglass.capture.redact import MARKER_PREFIX, Redactor
from breakglass.metrics import Metrics
from tests import payloads as p
from tests.backfill.conftest import FakeCluster, build_env, edit_review, git
from tests.notify.conftest import notifier, until


async def worker_with(tmp_path, remote, destinations, *, cluster=None, **changes: Any):
    async for env in build_env(tmp_path, remote, cluster=cluster):
        notes = notifier(destinations, env.metrics, **changes)
        env.worker.notifier = notes
        await notes.start()
        try:
            yield env, notes
        finally:
            await notes.close()


async def test_a_pass_notifies_the_pull_request_and_its_merge(tmp_path, remote, receivers):
    slack = await receivers("slack")
    hook = await receivers("webhook")
    async for env, _ in worker_with(tmp_path, remote, [slack.destination(), hook.destination()]):
        c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
        await env.worker.run_once()
        await until(lambda: len(slack.requests) == 1 and len(hook.requests) == 1)
        event = hook.requests[0].json()
        assert event["type"] == "dev.breakglass.pr.opened"
        assert event["subject"] == "Deployment/payments/checkout"
        assert event["data"]["capture_id"] == c.id
        assert event["data"]["users"] == ["alice"]
        assert event["data"]["paths"] == ["spec.replicas"]
        [record] = env.records()
        assert event["data"]["url"] == record["url"]
        # merged on the forge: the next poll records it, and says so
        path = env.settings.state_dir / "pull-requests" / f"{record['number']:06d}.json"
        record.update(state="merged", merged_at=model.format_time(model.utcnow()))
        path.write_text(json.dumps(record))
        env.worker.last_poll = env.worker.last_poll.min.replace(tzinfo=model.utcnow().tzinfo)
        await env.worker.run_once()
        await until(lambda: len(hook.requests) == 2)
        assert hook.requests[1].json()["type"] == "dev.breakglass.pr.merged"
        assert slack.problems == [] and hook.problems == []


async def test_a_hung_destination_never_delays_the_pass(tmp_path, remote, receivers):
    hung = await receivers("teams", script=["hang", "hang", "hang"])
    async for env, notes in worker_with(
        tmp_path, remote, [hung.destination()], timeout_seconds=60.0, drain_seconds=0.1
    ):
        await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
        started = time.monotonic()
        summary = await env.worker.run_once()
        took = time.monotonic() - started
        assert summary.backfilled == 1
        await hung.arrived.wait()
        # the pass is over while the destination still holds the request (60 s limit)
        assert took < 30
        assert notes._lanes[0].current is not None


async def test_a_secret_canary_reaches_no_payload(tmp_path, remote, receivers):
    dests = [await receivers(kind) for kind in ("slack", "teams", "webhook")]
    async for env, _ in worker_with(tmp_path, remote, [d.destination() for d in dests]):
        work = remote.parent / "w"
        git("clone", "-q", str(remote), str(work), cwd=remote.parent)
        (work / "apps" / "payments" / "secret.yaml").write_text(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\n"
            "stringData:\n  password: a\n"
        )
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", "secret", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
        c = await env.capture(
            p.review(operation="UPDATE", obj=p.secret(value=p.CANARY), old=p.secret(value="a"))
        )
        await env.worker.run_once()
        assert (await env.status(c.id)).status is model.Status.FAILED  # needs a human
        await until(lambda: all(len(d.requests) == 1 for d in dests))
        marker = Redactor(salt=b"salt").mark(p.CANARY)
        for d in dests:
            raw = d.requests[0].body.decode()
            assert p.CANARY not in raw
            assert MARKER_PREFIX not in raw and marker not in raw
            assert "db-creds" in raw  # the object is named; its values are not
            assert d.problems == []
        event = dests[2].requests[0].json()
        assert event["type"] == "dev.breakglass.change.needs_human"
        assert event["data"]["url"].endswith(".json") or "issue" in event["data"]["url"]


async def test_a_revert_by_the_controller_is_told_once(tmp_path, remote, receivers):
    hook = await receivers("webhook")
    cluster = FakeCluster()
    async for env, _ in worker_with(tmp_path, remote, [hook.destination()], cluster=cluster):
        cluster.put("deployments", p.deployment(replicas=6))
        await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
        await env.worker.run_once()
        cluster.put("deployments", p.deployment(replicas=2))  # synced back to Git's value
        for _ in range(2):
            env.worker.last_poll = env.worker.last_poll.min.replace(tzinfo=model.utcnow().tzinfo)
            await env.worker.run_once()
        await until(lambda: len(hook.requests) == 2)
        types = [r.json()["type"] for r in hook.requests]
        assert types == ["dev.breakglass.pr.opened", "dev.breakglass.change.reverted"]
        assert hook.requests[1].json()["data"]["state"] == "pr_open"


async def test_a_broken_notifier_never_fails_the_pass(tmp_path, remote):
    class Broken:
        def recorded(self, capture, event, *, reason=None):
            raise RuntimeError("a bug")

        def reverted_by_sync(self, capture, pr_url):
            raise RuntimeError("a bug")

    async for env in build_env(tmp_path, remote):
        env.worker.notifier = Broken()
        await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
        summary = await env.worker.run_once()
        assert summary.backfilled == 1
        metrics: Metrics = env.metrics
        assert (
            metrics.registry.get_sample_value("breakglass_worker_errors_total", {"stage": "notify"})
            >= 1
        )


async def test_a_session_opening_and_ending_reach_slack_once(tmp_path, remote, receivers):
    from datetime import timedelta

    slack = await receivers("slack")
    hook = await receivers("webhook")
    async for env, _ in worker_with(tmp_path, remote, [slack.destination(), hook.destination()]):
        now = model.utcnow()
        session = model.Session(
            name="alice-inc-4242",
            owner="alice",
            reason="INC-4242 checkout 502s",
            opened_at=now,
            expires_at=now + timedelta(minutes=30),
            namespaces=("payments",),
        )
        await env.journal.put_session(session)
        await env.worker.run_once()
        await env.worker.run_once()  # told once, not every pass
        await until(lambda: len(hook.requests) == 1 and len(slack.requests) == 1)
        opened = hook.requests[0].json()
        assert opened["type"] == "dev.breakglass.session.opened"
        assert "INC-4242 checkout 502s" in json.dumps(slack.requests[0].json())
        closed = dataclasses.replace(session, closed_at=model.utcnow())
        await env.journal.put_session(closed)
        await env.worker.run_once()
        await until(lambda: len(hook.requests) == 2)
        ended = hook.requests[1].json()
        assert ended["type"] == "dev.breakglass.session.closed"
        assert "closed" in json.dumps(ended["data"])
        await env.worker.run_once()
        assert len(hook.requests) == 2
        assert slack.problems == [] and hook.problems == []

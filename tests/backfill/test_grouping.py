"""One pull request per break-glass session and repository, and per person's burst of changes,
through the real worker, Git and the local forge: the title and rows a reviewer reads, later
changes joining, a change undone by hand leaving the others, and the per-object setting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from breakglass import model
from tests import payloads as p
from tests.backfill.conftest import build_env, edit_review, git, read_branch

SESSION_BRANCH = "breakglass/prod-eu-1/session/alice-inc-4242"
GROUPED = {"grace_seconds": 0.01, "labels": ["breakglass"], "group_window_seconds": 300}


def configmap_review(user: dict[str, Any] | None = None, **data: str) -> dict[str, Any]:
    cm = p.configmap()
    return p.review(
        operation="UPDATE", obj=p.edited(cm, lambda d: d["data"].update(**data)), old=cm, user=user
    )


async def in_session(env, review: dict[str, Any], session: str | None) -> model.Capture:
    capture = await env.capture(review, confirmed=True)
    if session is None:
        return capture
    stored = await env.journal.update(capture.id, {"session": session})
    assert stored is not None
    return stored


async def open_session(env, *members: str) -> model.Session:
    now = model.utcnow()
    session = model.Session(
        name="alice-inc-4242",
        owner="alice",
        reason="INC-4242 checkout 502s",
        opened_at=now - timedelta(minutes=1),
        expires_at=now + timedelta(minutes=30),
        namespaces=("payments",),
        members=members,
    )
    await env.journal.put_session(session)
    return session


def table_rows(body: str) -> list[str]:
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Change | By |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append(line)
    return rows


async def test_a_session_is_one_pull_request_titled_with_its_reason(tmp_path: Path, remote: Path):
    async for env in build_env(tmp_path, remote, backfill=GROUPED):
        await open_session(env, "bob")
        await in_session(env, edit_review(lambda d: d["spec"].update(replicas=6)), "alice-inc-4242")
        await in_session(env, configmap_review(TIMEOUT="60"), "alice-inc-4242")
        await in_session(
            env,
            edit_review(
                lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
                    image="registry.example/checkout:1.4.3"
                ),
                old=p.edited(p.deployment(), lambda d: d["spec"].update(replicas=6)),
                user=p.BOB,
            ),
            "alice-inc-4242",
        )
        await env.worker.run_once()
        [record] = env.records()
        assert record["branch"] == SESSION_BRANCH
        assert record["title"] == (
            "breakglass: INC-4242 checkout 502s (3 manual changes to 2 objects by alice and bob)"
        )
        body = record["body"]
        assert "| Session | `alice-inc-4242` opened by `alice`, with `bob`: INC-4242" in body
        rows = table_rows(body)
        assert len(rows) == 3
        assert "`apps/v1 Deployment payments/checkout`" in rows[0] and "`alice`" in rows[0]
        assert "`v1 ConfigMap payments/checkout-config`" in rows[1]
        assert "`bob`" in rows[2]
        deployment = read_branch(env.remote, SESSION_BRANCH, "apps/payments/deployment.yaml")
        assert "replicas: 6  # HA minimum" in deployment and "checkout:1.4.3" in deployment
        assert 'TIMEOUT: "60"' in read_branch(
            env.remote, SESSION_BRANCH, "apps/payments/configmap.yaml"
        )
        # a later change of the session updates the same pull request
        await in_session(env, configmap_review(FEATURE_X="on"), "alice-inc-4242")
        await env.worker.run_once()
        [record] = env.records()
        assert len(table_rows(record["body"])) == 4
        stored = {c.status for c in await env.journal.list(limit=10)}
        assert stored == {model.Status.PR_OPEN}


async def test_undoing_one_change_by_hand_keeps_the_others(tmp_path: Path, remote: Path):
    async for env in build_env(tmp_path, remote, backfill=GROUPED):
        await open_session(env)
        await in_session(env, edit_review(lambda d: d["spec"].update(replicas=6)), "alice-inc-4242")
        await in_session(env, configmap_review(TIMEOUT="60"), "alice-inc-4242")
        await env.worker.run_once()
        # alice puts the ConfigMap back as Git has it: only its change leaves the branch
        changed = p.configmap(data={"FEATURE_X": "off", "TIMEOUT": "60"})
        back = p.review(operation="UPDATE", obj=p.configmap(), old=changed)
        await in_session(env, back, "alice-inc-4242")
        await env.worker.run_once()
        [record] = env.records()
        assert record["state"] == "open"
        diff = git("diff", "main", SESSION_BRANCH, cwd=env.remote)
        assert "configmap.yaml" not in diff and "replicas: 6" in diff


async def test_a_burst_of_one_persons_changes_is_one_pull_request(tmp_path: Path, remote: Path):
    async for env in build_env(tmp_path, remote, backfill=GROUPED):
        await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
        await env.worker.run_once()
        await env.capture(configmap_review(TIMEOUT="60"))
        await env.capture(configmap_review(user=p.BOB, FEATURE_X="on"))
        await env.worker.run_once()
        records = env.records()
        assert len(records) == 1  # bob's change is to an object in alice's pull request
        [record] = records
        assert record["branch"] == "breakglass/prod-eu-1/payments/deployment/checkout"
        assert record["title"] == (
            "breakglass: 3 manual changes (kubectl edit) to 2 objects in payments by alice and bob"
        )
        assert len(table_rows(record["body"])) == 3


async def test_a_burst_after_the_window_is_a_pull_request_of_its_own(tmp_path: Path, remote: Path):
    async for env in build_env(tmp_path, remote, backfill=GROUPED):
        first = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
        await env.worker.run_once()
        # the first change is older than the window: the next one opens its own pull request
        await env.journal.update(first.id, {"received_at": model.utcnow() - timedelta(minutes=10)})
        await env.capture(configmap_review(TIMEOUT="60"))
        await env.worker.run_once()
        assert [r["branch"] for r in env.records()] == [
            "breakglass/prod-eu-1/payments/deployment/checkout",
            "breakglass/prod-eu-1/payments/configmap/checkout-config",
        ]


async def test_per_object_pull_requests_stay_a_setting(tmp_path: Path, remote: Path):
    async for env in build_env(tmp_path, remote, backfill={**GROUPED, "group_window_seconds": 0}):
        await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
        await env.capture(configmap_review(TIMEOUT="60"))
        await env.worker.run_once()
        assert len(env.records()) == 2

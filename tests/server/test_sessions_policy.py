"""Break-glass sessions and ``admission.mode`` through the real webhook over TLS: who may open,
change and close a session, which changes a session covers, what require-session and freeze
refuse (with the command to run), dry runs judged and never recorded, and observe untouched."""

from __future__ import annotations

import json
from datetime import timedelta

from breakglass import model
from breakglass.journal import open_journal
from breakglass.sessions import objects
from tests import payloads as p
from tests.server.conftest import start_server

SRE = {"username": "carol", "uid": "c4", "groups": ["sre-breakglass", "system:authenticated"]}


def session_obj(owner: str, *, minutes: float = 30, **spec: object) -> dict:
    obj = objects.build(
        name=f"{owner}-inc-4242",
        owner=owner,
        reason="INC-4242 checkout 502s",
        expires_at=model.utcnow() + timedelta(minutes=minutes),
        **spec,  # type: ignore[arg-type]
    )
    obj["metadata"]["uid"] = "s-1"
    return obj


def session_review(operation: str, obj: dict | None, old: dict | None = None, *, user=None):
    return p.review(operation=operation, obj=obj, old=old, user=user, field_manager=None)


def edit(user=None, **kw):
    return p.review(
        operation="UPDATE", obj=p.deployment(replicas=6), old=p.deployment(), user=user, **kw
    )


async def answer(server, review) -> dict:
    resp = await server.validate(review)
    assert resp.status == 200
    return dict((await resp.json())["response"])


async def journal_of(server):
    j = open_journal(server.settings.journal_url)
    await j.open()
    return j


async def recorded(server) -> list[model.Capture]:
    j = await journal_of(server)
    try:
        return list(await j.list(limit=100))
    finally:
        await j.close()


async def test_require_session_refuses_with_the_command_and_a_session_lets_its_owner_through(
    tmp_path, cert_files, ca
):
    async for server in start_server(
        tmp_path, cert_files, ca, admission={"mode": "require-session"}
    ):
        refused = await answer(server, edit(p.BOB))
        assert refused["allowed"] is False and refused["status"]["code"] == 403
        message = refused["status"]["message"]
        assert "managed by payments" in message and "require-session" in message
        assert 'breakglass open --reason "<incident and why>" --for 30m --namespace payments' in (
            message
        )
        assert await recorded(server) == []  # a refused write is not a change
        dry = await answer(server, edit(p.BOB, dry_run=True))
        assert dry["allowed"] is False  # judged as the real write would be
        assert server.metrics.denied.labels("require-session", "true")._value.get() == 1

        opened = await answer(server, session_review("CREATE", session_obj("alice")))
        assert opened == {"uid": opened["uid"], "allowed": True}
        ok = await answer(server, edit(p.ALICE))
        assert ok["allowed"] is True and "recorded deployment" in ok["warnings"][0]
        [capture] = await recorded(server)
        assert capture.session == "alice-inc-4242" and capture.actor.username == "alice"
        assert (await answer(server, edit(p.BOB)))["allowed"] is False  # not a member

        # only the owner changes it; closing it ends what it covers
        later = session_obj("alice")
        later["spec"]["closedAt"] = model.format_time(model.utcnow())
        by_bob = await answer(
            server, session_review("UPDATE", later, session_obj("alice"), user=p.BOB)
        )
        assert by_bob["allowed"] is False and "only alice" in by_bob["status"]["message"]
        closed = await answer(server, session_review("UPDATE", later, session_obj("alice")))
        assert closed["allowed"] is True
        assert (await answer(server, edit(p.ALICE)))["allowed"] is False

        j = await journal_of(server)
        try:
            [stored] = await j.sessions()
        finally:
            await j.close()
        assert stored.owner == "alice" and stored.closed_at is not None
        records = [
            json.loads(line)
            for path in sorted(server.settings.audit_log.dir.glob("*.jsonl"))
            for line in path.read_text().splitlines()
        ]
        assert [r["type"] for r in records].count("denied") == 3  # the dry run is not one
        assert {r["outcome"] for r in records if r["type"] == "session"} == {"open", "closed"}


async def test_session_rules(tmp_path, cert_files, ca):
    async for server in start_server(tmp_path, cert_files, ca, sessions={"max_hours": 1}):
        spoof = await answer(server, session_review("CREATE", session_obj("bob")))
        assert spoof["allowed"] is False
        assert "spec.owner must be you (alice)" in spoof["status"]["message"]
        long = await answer(server, session_review("CREATE", session_obj("alice", minutes=120)))
        assert "sessions.max_hours (1 h)" in long["status"]["message"]
        reasonless = session_obj("alice")
        reasonless["spec"]["reason"] = " "
        assert (
            "spec.reason is required"
            in (await answer(server, session_review("CREATE", reasonless)))["status"]["message"]
        )
        team = session_obj("alice", members=["bob"], namespaces=["payments"])
        assert (await answer(server, session_review("CREATE", team)))["allowed"] is True
        # observe: nothing is refused, and a member's change still belongs to the session
        assert (await answer(server, edit(p.BOB)))["allowed"] is True
        [capture] = await recorded(server)
        assert capture.session == "alice-inc-4242"


async def test_what_require_session_lets_through(tmp_path, cert_files, ca):
    async for server in start_server(
        tmp_path, cert_files, ca, admission={"mode": "require-session"}
    ):
        annotated = p.deployment(replicas=6)
        annotated["metadata"]["annotations"]["breakglass.dev/reason"] = "INC-9 hotfix"
        with_reason = p.review(operation="UPDATE", obj=annotated, old=p.deployment(), user=p.BOB)
        assert (await answer(server, with_reason))["allowed"] is True
        unmanaged = p.configmap()
        assert "argocd.argoproj.io/tracking-id" not in json.dumps(unmanaged)
        changed = p.configmap(data={"x": "y"})
        review = p.review(operation="UPDATE", obj=changed, old=unmanaged, user=p.BOB)
        assert (await answer(server, review))["allowed"] is True
        scale = p.scale_review(old_replicas=2, new_replicas=5, user=p.BOB)
        refused = await answer(server, scale)
        assert refused["allowed"] is False  # a Scale carries no labels: judged managed


async def test_freeze_lets_only_the_breakglass_groups_through(tmp_path, cert_files, ca):
    async for server in start_server(
        tmp_path,
        cert_files,
        ca,
        admission={"mode": "freeze", "breakglass_groups": ["sre-*"]},
    ):
        await answer(server, session_review("CREATE", session_obj("alice")))
        frozen = await answer(server, edit(p.ALICE))  # a session does not thaw a freeze
        assert frozen["allowed"] is False
        assert "frozen (admission.mode: freeze)" in frozen["status"]["message"]
        assert "sre-*" in frozen["status"]["message"]
        assert (await answer(server, edit(SRE)))["allowed"] is True

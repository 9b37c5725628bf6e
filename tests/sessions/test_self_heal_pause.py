"""Self-heal paused for a session and put back, by the worker against an in-memory API server
and the real journal: which applications a session pauses, that a pass never pauses twice,
that closing the session, its deadline (also after a restart) or merged pull requests put the
application back as it was, that a person's own change to the switch wins, and that two
sessions hold one application until the last one ends."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

from breakglass import model, wiring
from breakglass.sessions.pause import PAUSED_BY
from breakglass.worker import PassSummary
from tests.backfill.conftest import build_env
from tests.drill.memory import MemoryCluster


class GitOpsCluster(MemoryCluster):
    KINDS = {
        **MemoryCluster.KINDS,
        "kustomizations": ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
        "applications": ("argoproj.io/v1alpha1", "Application"),
    }


def kustomization(name: str = "payments", **spec: object) -> dict:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system", "resourceVersion": "1"},
        "spec": {"interval": "1m", "path": "./apps/payments", **spec},
        "status": {"inventory": {"entries": [{"id": "payments_web_apps_Deployment", "v": "v1"}]}},
    }


def application(name: str, namespace: str) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "resourceVersion": "1"},
        "spec": {
            "destination": {"namespace": namespace},
            "syncPolicy": {"automated": {"selfHeal": True, "prune": True}},
        },
    }


def session(name: str, *, minutes: float = 30, **kw: object) -> model.Session:
    now = model.utcnow()
    return model.Session(
        name=name, owner="alice", reason="INC-4242", opened_at=now - timedelta(minutes=1),
        expires_at=now + timedelta(minutes=minutes), **kw,
    )  # type: ignore[arg-type]  # fmt: skip


def flux_change(session: str, status: model.Status) -> model.Capture:
    """alice's change, in ``session``, to an object Kustomization flux-system/payments applied."""
    return model.Capture(
        id="c1", cluster="prod-eu-1", source=model.Source.ADMISSION, status=status,
        operation=model.Operation.UPDATE,
        object=model.ObjectRef("apps", "v1", "deployments", "Deployment", "payments", "web"),
        actor=model.Actor("alice"), delta=model.Delta(), received_at=model.utcnow(),
        labels={
            "kustomize.toolkit.fluxcd.io/name": "payments",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        },
        session=session,
    )  # fmt: skip


def ks_of(cluster: GitOpsCluster, name: str = "payments") -> dict:
    return cluster.objects[("kustomizations", "flux-system", name)]


async def pass_(env) -> None:
    await env.worker.pause_and_restore(PassSummary())


def audit_outcomes(env) -> list[str]:
    folder = env.settings.audit_log.dir / "worker"
    return [
        json.loads(line)["outcome"]
        for path in sorted(folder.glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if json.loads(line)["type"] == "session"
    ]


async def test_a_session_pauses_its_applications_only_and_closing_it_puts_them_back(
    tmp_path: Path, remote: Path
):
    cluster = GitOpsCluster(
        [
            ("kustomizations", kustomization()),
            ("kustomizations", kustomization("elsewhere") | {"status": {}}),
            ("applications", application("payments-ui", "payments")),
            ("applications", application("billing", "billing")),
        ]
    )
    async for env in build_env(
        tmp_path, remote, cluster=cluster, sessions={"pause_self_heal": True}
    ):
        env.worker.audit_log = wiring.audit_log(
            env.settings, chain=wiring.WORKER_CHAIN, key=b"k" * 32
        )
        await env.worker.audit_log.open()
        open_one = session("alice-inc", namespaces=("payments",))
        await env.journal.put_session(open_one)
        await pass_(env)
        ks = ks_of(cluster)
        assert ks["spec"]["suspend"] is True
        assert ks["metadata"]["annotations"][PAUSED_BY] == "alice-inc"
        assert "suspend" not in ks_of(cluster, "elsewhere")["spec"]
        ui = cluster.objects[("applications", "argocd", "payments-ui")]
        assert ui["spec"]["syncPolicy"]["automated"] == {"selfHeal": False, "prune": True}
        billing = cluster.objects[("applications", "argocd", "billing")]
        assert billing["spec"]["syncPolicy"]["automated"]["selfHeal"] is True
        patches = len(cluster.patches)
        await pass_(env)
        assert len(cluster.patches) == patches  # never paused twice
        assert (
            env.metrics.self_heal_paused.labels(
                "flux", "Kustomization", "flux-system", "payments"
            )._value.get()
            == 1
        )

        await env.journal.put_session(dataclasses.replace(open_one, closed_at=model.utcnow()))
        await pass_(env)
        ks = ks_of(cluster)
        assert "suspend" not in ks["spec"] and PAUSED_BY not in ks["metadata"].get(
            "annotations", {}
        )
        ui = cluster.objects[("applications", "argocd", "payments-ui")]
        assert ui["spec"]["syncPolicy"]["automated"] == {"selfHeal": True, "prune": True}
        assert await env.journal.pauses(active=True) == []
        notes = {p.note for p in await env.journal.pauses()}
        assert notes == {"session alice-inc was closed; self-heal put back"}
        await env.worker.audit_log.close()
        assert audit_outcomes(env).count("paused") == 2
        assert audit_outcomes(env).count("restored") == 2


async def test_a_worker_back_after_the_deadline_puts_it_back_at_once(tmp_path: Path, remote: Path):
    cluster = GitOpsCluster([("kustomizations", kustomization(suspend=False))])
    async for env in build_env(
        tmp_path, remote, cluster=cluster, sessions={"pause_self_heal": True}
    ):
        short = session("short", minutes=30, namespaces=("payments",))
        await env.journal.put_session(short)
        await pass_(env)
        assert ks_of(cluster)["spec"]["suspend"] is True
        # the worker is gone for an hour: the session's deadline passes without it
        later = dataclasses.replace(short, expires_at=model.utcnow() - timedelta(minutes=5))
        await env.journal.put_session(later)
        [held] = await env.journal.pauses(active=True)
        await env.journal.put_pause(dataclasses.replace(held, due_at=later.expires_at))
        await pass_(env)  # a new pass, as after a restart: restoring comes first
        assert ks_of(cluster)["spec"]["suspend"] is False  # as it was: false, not removed
        [done] = await env.journal.pauses()
        assert "reached its deadline" in done.note
        assert env.metrics.self_heal_overdue._value.get() == 0


async def test_merged_pull_requests_end_the_pause_and_a_persons_change_wins(
    tmp_path: Path, remote: Path
):
    cluster = GitOpsCluster([("kustomizations", kustomization())])
    async for env in build_env(
        tmp_path, remote, cluster=cluster, sessions={"pause_self_heal": True}
    ):
        await env.journal.put_session(session("inc", applications=("payments",)))
        await pass_(env)
        assert ks_of(cluster)["spec"]["suspend"] is True
        await env.journal.insert(flux_change("inc", model.Status.MERGED))
        # meanwhile a person resumed it by hand and took the mark off
        ks = ks_of(cluster)
        ks["spec"]["suspend"] = False
        del ks["metadata"]["annotations"][PAUSED_BY]
        await pass_(env)
        assert ks_of(cluster)["spec"]["suspend"] is False
        [done] = await env.journal.pauses()
        assert done.restored_at is not None
        assert "merged" in done.note and "left as it is" in done.note


async def test_two_sessions_hold_one_application_until_the_last_ends(tmp_path: Path, remote: Path):
    cluster = GitOpsCluster([("kustomizations", kustomization())])
    async for env in build_env(
        tmp_path, remote, cluster=cluster, sessions={"pause_self_heal": True}
    ):
        first = session("first", namespaces=("payments",))
        second = session("second", applications=("payments",))
        await env.journal.put_session(first)
        await pass_(env)
        await env.journal.put_session(second)
        await pass_(env)
        assert len(await env.journal.pauses(active=True)) == 2
        await env.journal.put_session(dataclasses.replace(first, closed_at=model.utcnow()))
        await pass_(env)
        assert ks_of(cluster)["spec"]["suspend"] is True  # second still holds it
        await env.journal.put_session(dataclasses.replace(second, closed_at=model.utcnow()))
        await pass_(env)
        assert "suspend" not in ks_of(cluster)["spec"]
        assert await env.journal.pauses(active=True) == []


async def test_nothing_is_paused_unless_asked(tmp_path: Path, remote: Path):
    cluster = GitOpsCluster([("kustomizations", kustomization())])
    async for env in build_env(tmp_path, remote, cluster=cluster):
        await env.journal.put_session(session("inc", namespaces=("payments",)))
        await pass_(env)
        assert cluster.patches == []


async def test_a_change_pauses_the_application_that_applied_it_not_its_namesakes(
    tmp_path: Path, remote: Path
):
    twin = kustomization() | {"metadata": {"name": "payments", "namespace": "team-b",
                                           "resourceVersion": "1"}}  # fmt: skip
    twin["status"] = {"inventory": {"entries": [{"id": "other_web_apps_Deployment", "v": "v1"}]}}
    cluster = GitOpsCluster([("kustomizations", kustomization()), ("kustomizations", twin)])
    async for env in build_env(
        tmp_path, remote, cluster=cluster, sessions={"pause_self_heal": True}
    ):
        # an unscoped session: only the applications of what its members changed pause
        await env.journal.put_session(session("inc"))
        await env.journal.insert(flux_change("inc", model.Status.PR_OPEN))
        await pass_(env)
        assert ks_of(cluster)["spec"]["suspend"] is True
        assert "suspend" not in cluster.objects[("kustomizations", "team-b", "payments")]["spec"]

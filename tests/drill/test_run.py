"""The drill runner against an in-memory API server: a revert is timed, a survivor is put
back at its deadline, a stop puts everything back at once, a lost connection is waited out,
a restore that cannot reach the cluster says so, and ``cleanup`` finds what a kill left."""

from __future__ import annotations

import asyncio
import copy

import pytest

from breakglass import model
from breakglass.drill import marker as marks
from breakglass.drill import run as drill_run
from breakglass.drill.marker import Change
from breakglass.drill.plan import AppPlan, Plan, Target
from breakglass.drill.run import Drill, cleanup
from breakglass.posture.classify import Posture, Verdict
from tests.drill.memory import MemoryCluster

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "1", "labels": {"a": "b"}},
    "spec": {"replicas": 2},
}
REF = model.ObjectRef("apps", "v1", "deployments", "Deployment", "shop", "web")


def plan_for(change: Change, deadline: float, verdict: Verdict = Verdict.ENFORCING) -> Plan:
    probe = marks.probe_for(DEPLOYMENT, change, "drill-t")
    assert isinstance(probe, marks.Probe)
    posture = Posture("flux", "Kustomization", "flux-system", "shop", verdict, 1.0, "why")
    plan = Plan("drill-t", change, "alice", marks.FIELD_MANAGER)
    plan.apps.append(AppPlan(posture, deadline, (Target(REF, probe),)))
    return plan


async def run(cluster: MemoryCluster, plan: Plan, stop: asyncio.Event | None = None):
    said: list[str] = []
    drill = Drill(
        cluster, plan, journal=None, audit_log=None, cluster_name="c",
        stop=stop or asyncio.Event(), say=said.append,
    )  # type: ignore[arg-type]  # fmt: skip
    [result] = await drill.run()
    return result, said


def live(cluster: MemoryCluster) -> dict:
    return cluster.objects[("deployments", "shop", "web")]


def clean(obj: dict) -> dict:
    out = copy.deepcopy(obj)
    out["metadata"].pop("resourceVersion")
    return out


async def controller_reverts(cluster: MemoryCluster, after: float) -> None:
    """Flux's next reconcile: Git's object back, the kubectl-patch fields gone."""
    await asyncio.sleep(after)
    await cluster.set("deployments", "shop", "web", copy.deepcopy(DEPLOYMENT))


async def test_a_revert_is_timed_and_nothing_is_left():
    cluster = MemoryCluster([("deployments", DEPLOYMENT)])
    reverter = asyncio.ensure_future(controller_reverts(cluster, 0.3))
    result, said = await run(cluster, plan_for(Change.REPLICAS, 5))
    await reverter
    assert result.record.outcome == "reverted"
    assert 0.25 < result.record.measured_seconds < 1.5
    assert clean(live(cluster)) == clean(DEPLOYMENT)
    assert [m for _, _, m in cluster.patches] == ["kubectl-patch"]  # the change only
    assert said[0].startswith("changed deployment shop/web (spec.replicas)")


async def test_a_survivor_is_put_back_at_its_deadline():
    cluster = MemoryCluster([("deployments", DEPLOYMENT)])
    result, said = await run(cluster, plan_for(Change.REPLICAS, 0.3))
    assert result.record.outcome == "survived" and result.record.restored
    assert clean(live(cluster)) == clean(DEPLOYMENT)
    assert [m for _, _, m in cluster.patches] == ["kubectl-patch", "breakglass-drill"]
    assert "restored by the drill at its deadline" in said[-1]


async def test_a_stop_puts_the_change_back_at_once():
    cluster = MemoryCluster([("deployments", DEPLOYMENT)])
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, stop.set)
    started = asyncio.get_running_loop().time()
    result, _ = await run(cluster, plan_for(Change.LABEL, 600), stop)
    assert asyncio.get_running_loop().time() - started < 3
    assert result.record.outcome == "interrupted" and result.record.restored
    assert clean(live(cluster)) == clean(DEPLOYMENT)


async def test_a_lost_connection_is_waited_out(monkeypatch):
    cluster = MemoryCluster([("deployments", DEPLOYMENT)])
    loop = asyncio.get_running_loop()

    def down() -> None:
        cluster.offline = True
        loop.call_later(1.0, setattr, cluster, "offline", False)

    loop.call_later(0.1, down)
    result, _ = await run(cluster, plan_for(Change.REPLICAS, 0.5))
    assert result.record.outcome == "survived" and result.record.restored
    assert clean(live(cluster)) == clean(DEPLOYMENT)


async def test_a_restore_that_cannot_reach_the_cluster_says_so(monkeypatch):
    monkeypatch.setattr(drill_run, "RESTORE_GIVE_UP_SECONDS", 0.5)
    cluster = MemoryCluster([("deployments", DEPLOYMENT)])
    asyncio.get_running_loop().call_later(0.1, setattr, cluster, "offline", True)
    result, said = await run(cluster, plan_for(Change.REPLICAS, 0.3))
    assert not result.record.restored
    assert "NOT restored" in result.record.note and "drill --cleanup" in result.record.note
    assert live(cluster)["spec"]["replicas"] == 3  # still drilled: --cleanup's job

    cluster.offline = False
    found = await cleanup(
        cluster, journal=None, audit_log=None, cluster_name="c", user="bob", say=said.append
    )  # type: ignore[arg-type]
    assert [(f.ref.name, f.drill_id, f.restored) for f in found] == [("web", "drill-t", True)]
    assert "restored deployment shop/web (drill drill-t by alice" in said[-1]
    assert clean(live(cluster)) == clean(DEPLOYMENT)
    assert cluster.patches[-1][2] == marks.CLEANUP_MANAGER


async def test_a_change_is_never_made_over_someone_elses_write():
    cluster = MemoryCluster([("deployments", DEPLOYMENT)])
    plan = plan_for(Change.REPLICAS, 5)
    live(cluster)["spec"]["replicas"] = 4  # scaled after the plan was made
    result, _ = await run(cluster, plan)
    assert result.record.outcome == "failed" and "changed since the plan" in result.record.note
    assert cluster.patches == []


@pytest.fixture(autouse=True)
def _no_slow_restore(monkeypatch):
    monkeypatch.setattr(drill_run, "WATCH_SECONDS", 5.0)

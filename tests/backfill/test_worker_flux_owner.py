"""What the worker says about the Flux controller and production: a suspended Kustomization,
and what a closed, unmerged pull request leaves in the cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from breakglass import model
from tests import payloads as p
from tests.backfill.conftest import FakeCluster, build_env, edit_review

FLUX_LABELS = {
    "kustomize.toolkit.fluxcd.io/name": "apps",
    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}


def flux_cluster(remote: Path, *, suspend: bool) -> FakeCluster:
    cluster = FakeCluster()
    cluster.put(
        "kustomizations",
        {
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {
                "path": "./apps/payments",
                "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                "suspend": suspend,
            },
        },
    )
    cluster.put(
        "gitrepositories",
        {
            "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "flux-system"},
            "spec": {"url": str(remote), "ref": {"branch": "main"}},
        },
    )
    return cluster


def live(replicas: int) -> dict[str, Any]:
    return p.deployment(replicas=replicas, labels={"app": "checkout", **FLUX_LABELS})


@pytest.fixture
async def flux_env(tmp_path, remote, request):
    cluster = flux_cluster(remote, suspend=getattr(request, "param", False))
    async for env in build_env(tmp_path, remote, cluster=cluster, repos=[]):
        yield env


@pytest.mark.parametrize("flux_env", [True], indirect=True)
async def test_a_suspended_kustomization_is_named_in_the_pull_request(flux_env):
    env = flux_env
    env.cluster.put("deployments", live(6))
    old = live(2)
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6), old=old))
    await env.worker.run_once()
    assert (await env.status(c.id)).status is model.Status.PR_OPEN
    [record] = env.records()
    assert (
        "The Flux Kustomization flux-system/apps that applies this object is suspended"
        in (record["body"])
    )


async def test_an_active_kustomization_adds_no_such_note(flux_env):
    env = flux_env
    env.cluster.put("deployments", live(6))
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6), old=live(2)))
    await env.worker.run_once()
    [record] = env.records()
    assert "suspended" not in record["body"]


@pytest.mark.parametrize(
    ("now_live", "says"),
    [
        (6, "production still has the manual change, which Git does not: it differs from Git"),
        (2, "production is back at Git's value"),
        (4, "production has changed again since"),
    ],
)
async def test_a_closed_pull_request_says_what_production_holds(flux_env, now_live, says):
    env = flux_env
    env.cluster.put("deployments", live(6))
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6), old=live(2)))
    await env.worker.run_once()
    [record] = env.records()
    path = env.settings.state_dir / "pull-requests" / f"{record['number']:06d}.json"
    record.update(state="closed", closed_by="bob", closed_at=model.format_time(model.utcnow()))
    path.write_text(json.dumps(record))
    env.cluster.put("deployments", live(now_live))  # what the controller did meanwhile
    env.worker.last_poll = env.worker.last_poll.min.replace(tzinfo=model.utcnow().tzinfo)
    await env.worker.run_once()
    stored = await env.status(c.id)
    assert stored.status is model.Status.CLOSED
    assert stored.reason == f"pull request closed; {says}"

"""A GitOps repository in a real bare Git remote, a journal, and a worker wired to them."""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from breakglass import model, settings
from breakglass.capture import admission
from breakglass.journal import open_journal
from breakglass.metrics import Metrics
from breakglass.worker import Worker
from tests import payloads as p
from tests.rendertools import render_tools

DEPLOYMENT = textwrap.dedent(
    """\
    # The checkout service. Owned by team payments.
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: checkout
      labels:
        app: checkout
    spec:
      replicas: 2  # HA minimum, do not go below 2
      selector:
        matchLabels:
          app: checkout
      template:
        metadata:
          labels:
            app: checkout
        spec:
          containers:
            - name: app
              image: registry.example/checkout:1.4.2
              env:
                - name: LOG_LEVEL
                  value: "info"
              resources:
                limits: {cpu: 500m, memory: 256Mi}
            - name: sidecar
              image: registry.example/proxy:2.0
    """
)
CONFIGMAP = textwrap.dedent(
    """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: checkout-config
    data:
      FEATURE_X: "off"
      TIMEOUT: "30"
    """
)
KUSTOMIZATION = textwrap.dedent(
    """\
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    namespace: payments
    resources:
      - deployment.yaml
      - configmap.yaml
    """
)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "dev",
            "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "dev",
            "GIT_COMMITTER_EMAIL": "dev@example.com",
            "HOME": str(cwd),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    ).stdout


def bare_remote(seed: Path, message: str = "initial") -> Path:
    """``seed``'s files committed on ``main`` and cloned into a bare ``gitops.git`` beside it."""
    git("init", "-q", "-b", "main", cwd=seed)
    git("add", ".", cwd=seed)
    git("commit", "-q", "-m", message, cwd=seed)
    bare = seed.parent / "gitops.git"
    git("clone", "-q", "--bare", str(seed), str(bare), cwd=seed.parent)
    return bare


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    work = tmp_path / "seed"
    (work / "apps" / "payments").mkdir(parents=True)
    (work / "apps" / "payments" / "deployment.yaml").write_text(DEPLOYMENT)
    (work / "apps" / "payments" / "configmap.yaml").write_text(CONFIGMAP)
    (work / "apps" / "payments" / "kustomization.yaml").write_text(KUSTOMIZATION)
    return bare_remote(work)


def read_branch(remote: Path, branch: str, path: str) -> str:
    return git("show", f"{branch}:{path}", cwd=remote)


@dataclass
class FakeCluster:
    """``kube.Cluster`` over a dict of objects keyed by (plural, namespace, name)."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    reads: int = 0

    def put(self, plural: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(plural, meta.get("namespace", ""), meta["name"])] = obj

    async def get(self, *, group: str, version: str, plural: str, namespace: str, name: str):
        self.reads += 1
        return self.objects.get((plural, namespace, name))

    async def close(self) -> None:
        return None


@dataclass
class Env:
    settings: settings.Settings
    journal: Any
    worker: Worker
    remote: Path
    metrics: Metrics
    cluster: FakeCluster | None

    async def capture(
        self, review: dict[str, Any], *, confirmed: bool = True, now: Any = None
    ) -> model.Capture:
        policy = admission.Policy(
            cluster=self.settings.cluster,
            actors=self.settings.actors,
            redactor=self.worker.redactor,
            record_only=self.settings.record_only,
        )
        c = admission.decide(review["request"], policy=policy, now=now or model.utcnow())
        assert isinstance(c, model.Capture), c
        if confirmed:
            c = c.with_status(model.Status.CONFIRMED)
        await self.journal.insert(c)
        return c

    async def status(self, capture_id: str) -> model.Capture:
        found = await self.journal.get(capture_id)
        assert found is not None
        return found

    def records(self) -> list[dict[str, Any]]:
        import json

        folder = self.settings.state_dir / "pull-requests"
        return [json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))]


def make_settings(tmp_path: Path, remote: Path, **extra: Any) -> settings.Settings:
    data: dict[str, Any] = {
        "cluster": "prod-eu-1",
        "state_dir": str(tmp_path / "state"),
        "repos": [
            {
                "url": str(remote),
                "branch": "main",
                "path": "apps/payments",
                "namespaces": ["payments"],
            }
        ],
        "users": {
            "alice": {
                "name": "Alice Doe",
                "email": "alice@example.com",
                "github": "alice-doe",
                "gitlab": "alice",
            }
        },
        # one pull request per object unless a test groups (backfill.group_window_seconds)
        "backfill": {
            "grace_seconds": 0.01,
            "labels": ["breakglass", "backfill"],
            "group_window_seconds": 0,
        },
    }
    data.update(extra)
    kustomize, helm = render_tools()
    data["backfill"] = {
        "render_check": "required",
        "kustomize_binary": str(kustomize),
        "helm_binary": str(helm),
        **data["backfill"],
    }
    return settings.from_mapping(data, source="test", base=tmp_path)


@pytest.fixture
async def env(tmp_path: Path, remote: Path):
    async for e in build_env(tmp_path, remote):
        yield e


async def build_env(
    tmp_path: Path, remote: Path, *, cluster: FakeCluster | None = None, **extra: Any
):
    from breakglass.capture.redact import Redactor

    conf = make_settings(tmp_path, remote, **extra)
    journal = open_journal(conf.journal_url)
    await journal.open()
    metrics = Metrics()
    worker = Worker(
        settings=conf,
        journal=journal,
        metrics=metrics,
        cluster=cluster,
        redactor=Redactor(salt=b"salt", key_patterns=()),
    )
    try:
        yield Env(conf, journal, worker, remote, metrics, cluster)
    finally:
        await journal.close()


def edit_review(mutate, *, user=None, old=None, **kw) -> dict[str, Any]:
    old = old or p.deployment()
    return p.review(operation="UPDATE", obj=p.edited(old, mutate), old=old, user=user, **kw)


def flux_helm_cluster(remote: Path, chart: dict[str, Any]) -> FakeCluster:
    """A cluster where Flux Kustomization ``flux-system/prod`` (``./clusters/prod`` of
    ``remote``) applied HelmRelease ``payments/web`` with ``chart`` as its ``spec.chart.spec``."""
    cluster = FakeCluster()
    cluster.put(
        "helmreleases",
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {
                "name": "web",
                "namespace": "payments",
                "labels": {
                    "kustomize.toolkit.fluxcd.io/name": "prod",
                    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
                },
            },
            "spec": {"chart": {"spec": chart}},
        },
    )
    cluster.put(
        "kustomizations",
        {
            "kind": "Kustomization",
            "metadata": {"name": "prod", "namespace": "flux-system"},
            "spec": {
                "path": "./clusters/prod",
                "sourceRef": {"kind": "GitRepository", "name": "fleet"},
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


def helm_rendered_deployment() -> dict[str, Any]:
    """Deployment ``payments/web`` as helm-controller leaves it: release labels and annotation."""
    old = p.deployment(name="web")
    old["metadata"]["labels"] = {
        "app": "web",
        "helm.toolkit.fluxcd.io/name": "web",
        "helm.toolkit.fluxcd.io/namespace": "payments",
    }
    old["metadata"]["annotations"] = {"meta.helm.sh/release-name": "web"}
    return old

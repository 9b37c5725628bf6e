"""kubectl edit on an Argo CD-managed Deployment → a pull request on (fake) GitHub, opened by
the real PyGithub, assigned to the engineer's handle, with the minimal diff."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import wait_for_webhook, wait_until
from tests.e2e.controlplane import ControlPlane, ToolchainMissing, binaries
from tests.e2e.test_backfill import MANIFEST, edit_replicas, install_argocd_crd, sync_as_argocd
from tests.fakes.github import FakeGitHub

TOKEN = "ghp_E2EsecretTOKEN000000000000000000"
NAMESPACE = "shop"


@pytest.fixture(scope="module")
def github_plane(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ControlPlane, FakeGitHub]]:
    mode = os.environ.get("BREAKGLASS_E2E", "")
    if mode == "skip":
        pytest.skip("BREAKGLASS_E2E=skip")
    try:
        bins = binaries()
    except ToolchainMissing as exc:
        if mode == "required":
            pytest.fail(f"BREAKGLASS_E2E=required but the control plane is unavailable: {exc}")
        pytest.skip(f"{exc} (set BREAKGLASS_E2E=required to make this a failure)")
    root = tmp_path_factory.mktemp("github-plane")
    fake = FakeGitHub(
        root / "github",
        repo="acme/gitops",
        token=TOKEN,
        files={
            "apps/checkout/deployment.yaml": MANIFEST,
            "apps/checkout/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                f"namespace: {NAMESPACE}\nresources:\n  - deployment.yaml\n"
            ),
        },
    )
    fake.start_in_thread()
    plane = ControlPlane(
        root / "plane",
        bins,
        forge="github",
        extra_env={"E2E_GITHUB_TOKEN": TOKEN},
        extra_config=(
            "forges:\n  github:\n    kind: github\n    repo: acme/gitops\n"
            f"    base_url: {fake.base_url}\n    token_env: E2E_GITHUB_TOKEN\n"
        ),
    )
    try:
        plane.start()
        wait_for_webhook(plane)
        yield plane, fake
    finally:
        plane.stop()
        fake.stop_thread()


def test_kubectl_edit_opens_a_github_pull_request_for_alice(github_plane, tmp_path):
    cluster, fake = github_plane
    install_argocd_crd(cluster)
    cluster.kubectl("create", "namespace", NAMESPACE, user="argocd")
    sync_as_argocd(cluster, app="shop", namespace=NAMESPACE, repo_url=fake.clone_url)
    started = time.monotonic()
    proc = edit_replicas(cluster, NAMESPACE, tmp_path)
    assert "Warning: breakglass: recorded deployment shop/checkout change as" in proc.stderr
    pulls = wait_until(
        lambda: [pr for pr in fake.pulls if pr.assignees and pr.reviewers is not None],
        timeout=30,
        what="an assigned pull request on GitHub",
    )
    print(f"kubectl edit → GitHub PR in {time.monotonic() - started:.1f}s")
    [pr] = pulls
    assert pr.head == f"breakglass/e2e/{NAMESPACE}/deployment/checkout"
    assert pr.assignees == ["alice-doe"]
    assert "breakglass" in pr.labels
    assert pr.title == (
        f"breakglass: kubectl edit of deployment {NAMESPACE}/checkout by alice (2 → 6 replicas)"
    )
    text = fake.repo.read(pr.head, "apps/checkout/deployment.yaml")
    assert text == MANIFEST.replace("replicas: 2  #", "replicas: 6  #")
    assert fake.repo.log(pr.head, "%an")[0] == "Alice Doe"
    assert TOKEN not in cluster.log("breakglass")

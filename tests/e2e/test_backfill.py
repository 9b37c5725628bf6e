"""The whole loop through real parts: kubectl edit → capture → audit → Argo CD lookup →
minimal edit in Git → pull request record, within seconds."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.backfill.conftest import bare_remote, git
from tests.e2e.conftest import wait_until

MANIFEST = textwrap.dedent(
    """\
    # checkout: the payments front door
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: checkout
      labels:
        app: checkout
    spec:
      replicas: 2  # HA minimum, do not go below 2
      selector:
        matchLabels: {app: checkout}
      template:
        metadata:
          labels: {app: checkout}
        spec:
          containers:
            - name: app
              image: registry.example/checkout:1.4.2
    """
)


def install_argocd_crd(cluster) -> None:
    """The stand-in Application CRD and the ``argocd`` namespace, served and ready."""
    crd = Path(__file__).parent / "manifests" / "argocd-application-crd.yaml"
    cluster.kubectl("apply", "-f", str(crd), user="admin")
    cluster.kubectl("create", "namespace", "argocd", user="admin", check=False)
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/applications.argoproj.io",
        "--timeout=30s",
        user="admin",
    )
    wait_until(
        lambda: (
            cluster.kubectl(
                "get", "applications", "-n", "argocd", user="admin", check=False
            ).returncode
            == 0
        ),
        what="CRD served",
    )


def apply_application(cluster, *, app: str, namespace: str, repo_url: str) -> None:
    """An Argo CD Application for ``apps/checkout`` of ``repo_url`` on ``main``."""
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": app, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": "main", "path": "apps/checkout"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
        },
    }
    cluster.kubectl("apply", "-f", "-", user="admin", stdin=json.dumps(application))


def apply_as_argocd(cluster, live: str) -> None:
    """``live`` applied server-side with Argo CD's identity and field manager."""
    cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=argocd-controller",
        "-f",
        "-",
        user="argocd",
        stdin=live,
    )


def sync_as_argocd(cluster, *, app: str, namespace: str, repo_url: str) -> None:
    """What Argo CD would have done: an Application for ``apps/checkout`` in ``repo_url`` and
    the Deployment applied server-side by its identity, carrying the tracking annotation."""
    apply_application(cluster, app=app, namespace=namespace, repo_url=repo_url)
    live = MANIFEST.replace(
        "  labels:\n    app: checkout\n",
        f"  namespace: {namespace}\n  labels:\n    app: checkout\n  annotations:\n"
        f"    argocd.argoproj.io/tracking-id: {app}:apps/Deployment:{namespace}/checkout\n",
        1,
    )
    apply_as_argocd(cluster, live)


def edit_replicas(cluster, namespace: str, tmp_path: Path):
    """alice runs ``kubectl edit`` with an editor that turns 2 replicas into 6."""
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import pathlib, sys\np = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('replicas: 2', 'replicas: 6', 1))\n"
    )
    return cluster.kubectl(
        "edit",
        "deployment/checkout",
        "-n",
        namespace,
        env={"KUBE_EDITOR": f"{sys.executable} {editor}"},
    )


def wait_for_pull_request(cluster, branch_suffix: str) -> dict:
    """The local forge's record of the pull request whose branch ends with ``branch_suffix``."""
    records_dir = cluster.state / "pull-requests"

    def pull_request():
        for path in sorted(records_dir.glob("*.json")) if records_dir.is_dir() else []:
            record = json.loads(path.read_text())
            if record["branch"].endswith(branch_suffix):
                return record
        return None

    return wait_until(pull_request, timeout=30, what="the backfill pull request")


@pytest.fixture(scope="module")
def argocd_crd(cluster):
    install_argocd_crd(cluster)


@pytest.fixture
def gitops_repo(tmp_path, namespace) -> Path:
    seed = tmp_path / "seed"
    path = seed / "apps" / "checkout"
    path.mkdir(parents=True)
    (path / "deployment.yaml").write_text(MANIFEST)
    (path / "kustomization.yaml").write_text(
        f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {namespace}\nresources:\n  - deployment.yaml\n"
    )
    return bare_remote(seed, "checkout")


def test_kubectl_edit_becomes_a_minimal_pull_request(
    cluster, argocd_crd, namespace, gitops_repo, tmp_path
):
    sync_as_argocd(cluster, app=f"shop-{namespace}", namespace=namespace, repo_url=str(gitops_repo))
    started = time.monotonic()
    edit_replicas(cluster, namespace, tmp_path)
    record = wait_for_pull_request(cluster, f"/{namespace}/deployment/checkout")
    elapsed = time.monotonic() - started
    print(f"capture → PR in {elapsed:.1f}s")
    assert record["title"] == (
        f"breakglass: kubectl edit of deployment {namespace}/checkout by alice (2 → 6 replicas)"
    )
    assert "Argo CD application" in record["body"]
    diff = git("diff", f"main...{record['branch']}", cwd=gitops_repo)
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-  replicas: 2  # HA minimum, do not go below 2",
        "+  replicas: 6  # HA minimum, do not go below 2",
    ]
    author = git("log", "-1", "--format=%an <%ae>", record["branch"], cwd=gitops_repo).strip()
    assert author == "Alice Doe <alice@example.com>"
    captures = [c for c in cluster.journal() if c["object"]["namespace"] == namespace]
    assert [c["status"] for c in captures] == ["pr_open"]
    assert captures[0]["pr_url"] == record["url"]

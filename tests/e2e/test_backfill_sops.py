"""A hand-edited Secret that Git keeps SOPS-encrypted comes back as an encrypted pull request.

Real parts throughout: kubectl edit against the real API server, capture with redaction, the
worker reading the live Secret (the e2e reader role may get Secrets, as the opt-in
read-secrets component allows), the real ``sops`` encrypting for the repository's age
recipient, and the holder of the private key decrypting the branch's file.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backfill.conftest import bare_remote, git
from tests.e2e.test_backfill import (
    apply_application,
    apply_as_argocd,
    install_argocd_crd,
    wait_for_pull_request,
)
from tests.sopstools import AgeKey, new_age_key, sops_tools

OLD_PASSWORD = "e2e-old-pw-1a2b3c"
NEW_PASSWORD = "e2e-sops-canary-7f6e5d"

SECRET = textwrap.dedent(
    f"""\
    # the checkout database login; decrypt with the platform team's age key
    apiVersion: v1
    kind: Secret
    metadata:
      name: checkout-db
      labels:
        app: checkout
    type: Opaque
    stringData:
      username: checkout
      password: {OLD_PASSWORD}
    """
)


@pytest.fixture(scope="module")
def argocd_crd(cluster):
    install_argocd_crd(cluster)


@pytest.fixture
def key(tmp_path: Path) -> AgeKey:
    public, key_file = new_age_key(tmp_path)
    return AgeKey(public, key_file)


@pytest.fixture
def encrypted_repo(tmp_path: Path, namespace: str, key: AgeKey) -> Path:
    sops, _ = sops_tools()
    seed = tmp_path / "seed"
    app = seed / "apps" / "checkout"
    app.mkdir(parents=True)
    (seed / ".sops.yaml").write_text(
        "creation_rules:\n"
        "  - path_regex: .*secret.*\\.yaml$\n"
        "    encrypted_regex: ^(data|stringData)$\n"
        f"    age: {key.public}\n"
    )
    (app / "db-secret.yaml").write_text(SECRET)
    (app / "kustomization.yaml").write_text(
        f"namespace: {namespace}\nresources:\n  - db-secret.yaml\n"
    )
    subprocess.run(
        [str(sops), "--encrypt", "--in-place", "apps/checkout/db-secret.yaml"],
        cwd=seed,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=True,
    )
    return bare_remote(seed, "checkout secret, encrypted")


def sync_secret_as_argocd(cluster, *, namespace: str, repo_url: str) -> None:
    app = f"secrets-{namespace}"
    apply_application(cluster, app=app, namespace=namespace, repo_url=repo_url)
    live = SECRET.replace(
        "  labels:\n",
        f"  namespace: {namespace}\n  annotations:\n"
        f"    argocd.argoproj.io/tracking-id: {app}:/Secret:{namespace}/checkout-db\n"
        "  labels:\n",
        1,
    )
    apply_as_argocd(cluster, live)


def test_kubectl_edit_of_an_encrypted_secret_opens_an_encrypted_pull_request(
    cluster, argocd_crd, namespace, encrypted_repo, key, tmp_path
):
    sops, _ = sops_tools()
    sync_secret_as_argocd(cluster, namespace=namespace, repo_url=str(encrypted_repo))
    old_b64 = base64.b64encode(OLD_PASSWORD.encode()).decode()
    new_b64 = base64.b64encode(NEW_PASSWORD.encode()).decode()
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import pathlib, sys\np = pathlib.Path(sys.argv[1])\n"
        f"p.write_text(p.read_text().replace({old_b64!r}, {new_b64!r}, 1))\n"
    )
    cluster.kubectl(
        "edit",
        "secret/checkout-db",
        "-n",
        namespace,
        env={"KUBE_EDITOR": f"{sys.executable} {editor}"},
    )
    record = wait_for_pull_request(cluster, f"/{namespace}/secret/checkout-db")
    changed = git("diff", "--name-only", f"main...{record['branch']}", cwd=encrypted_repo)
    assert changed.split() == ["apps/checkout/db-secret.yaml"]
    assert "SOPS-encrypted" in record["body"]

    branch_file = tmp_path / "branch-db-secret.yaml"
    branch_file.write_text(
        git("show", f"{record['branch']}:apps/checkout/db-secret.yaml", cwd=encrypted_repo)
    )
    assert key.public in branch_file.read_text()
    plain = key.decrypt(branch_file, sops)
    assert f"password: {NEW_PASSWORD}" in plain
    assert "username: checkout" in plain
    assert "# the checkout database login" in plain
    assert "tracking-id" not in plain and "managedFields" not in plain

    history = git("log", "-p", record["branch"], cwd=encrypted_repo)
    blobs = [history, json.dumps(record), cluster.log("breakglass")]
    blobs += [json.dumps(c) for c in cluster.journal()]
    blobs += [
        p.read_text(errors="replace")
        for p in cluster.state.rglob("*")
        if p.is_file() and "mirrors" not in p.parts
    ]
    for blob in blobs:
        assert NEW_PASSWORD not in blob and new_b64 not in blob
    captures = [c for c in cluster.journal() if c["object"]["namespace"] == namespace]
    assert [c["status"] for c in captures] == ["pr_open"]

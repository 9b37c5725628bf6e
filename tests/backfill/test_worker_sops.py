"""The worker and SOPS-encrypted Secrets: the live values are read once, checked against the
capture, encrypted by the real ``sops`` and never stored anywhere else."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from breakglass import model
from breakglass.errors import PermanentError
from tests import payloads as p
from tests.backfill.conftest import FakeCluster, build_env, git, read_branch
from tests.sopstools import AgeKey

BRANCH = "breakglass/prod-eu-1/payments/secret/db-creds"
SECRET_PATH = "apps/payments/db-creds-secret.yaml"


@pytest.fixture
def encrypted(remote: Path, sops_bin: Path, age_key: AgeKey) -> Path:
    """The remote, with a .sops.yaml for ``age_key`` and the db-creds Secret encrypted."""
    work = remote.parent / "sops-work"
    git("clone", "-q", str(remote), str(work), cwd=remote.parent)
    (work / ".sops.yaml").write_text(
        "creation_rules:\n  - path_regex: secret\\.yaml$\n"
        f"    encrypted_regex: ^(data|stringData)$\n    age: {age_key.public}\n"
    )
    (work / SECRET_PATH).write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\ntype: Opaque\n"
        "stringData:\n  password: a\n  username: app\n"
    )
    subprocess.run(
        [str(sops_bin), "--encrypt", "--in-place", SECRET_PATH],
        cwd=work,
        env={"PATH": "/usr/bin:/bin", "HOME": str(work)},
        check=True,
    )
    kustomization = work / "apps" / "payments" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - db-creds-secret.yaml\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "encrypted secret", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    return remote


@pytest.fixture(autouse=True)
def sops_on_path(monkeypatch: pytest.MonkeyPatch, sops_bin: Path) -> None:
    monkeypatch.setenv("BREAKGLASS_SOPS", str(sops_bin))


def secret_edit(value: str) -> dict:
    return p.review(operation="UPDATE", obj=p.secret(value=value), old=p.secret(value="a"))


async def test_a_secret_edit_becomes_an_encrypted_pull_request(
    tmp_path: Path, encrypted: Path, sops_bin: Path, age_key: AgeKey
) -> None:
    cluster = FakeCluster()
    cluster.put("secrets", p.secret(value=p.CANARY))
    async for env in build_env(tmp_path, encrypted, cluster=cluster):
        c = await env.capture(secret_edit(p.CANARY))
        summary = await env.worker.run_once()
        assert summary.backfilled == 1, (await env.status(c.id)).reason
        [record] = env.records()
        assert record["kind"] == "pull" and record["branch"] == BRANCH
        assert "SOPS-encrypted" in record["body"]
        branch_file = tmp_path / "branch.yaml"
        branch_file.write_text(read_branch(encrypted, BRANCH, SECRET_PATH))
        plain = age_key.decrypt(branch_file, sops_bin)
        assert f"password: {p.CANARY}" in plain and "username: app" in plain
        encoded = base64.b64encode(p.CANARY.encode()).decode()
        stored = json.dumps([c.to_json() for c in await env.journal.list(limit=100)])
        for blob in (json.dumps(env.records()), git("log", "--all", "-p", cwd=encrypted), stored):
            assert p.CANARY not in blob and encoded not in blob


async def test_a_value_that_changed_again_is_superseded_not_written(
    tmp_path: Path, encrypted: Path
) -> None:
    cluster = FakeCluster()
    cluster.put("secrets", p.secret(value="a-later-value"))
    async for env in build_env(tmp_path, encrypted, cluster=cluster):
        c = await env.capture(secret_edit(p.CANARY))
        await env.worker.run_once()
        stored = await env.status(c.id)
        assert stored.status is model.Status.SUPERSEDED
        assert "no longer holds the value this capture saw" in (stored.reason or "")
        assert env.records() == []


class ForbiddenSecrets(FakeCluster):
    async def get(self, *, group: str, version: str, plural: str, namespace: str, name: str):
        if plural == "secrets":
            raise PermanentError('secrets "db-creds" is forbidden', hint="RBAC")
        return await super().get(
            group=group, version=version, plural=plural, namespace=namespace, name=name
        )


async def test_without_read_access_an_issue_explains_what_is_missing(
    tmp_path: Path, encrypted: Path
) -> None:
    async for env in build_env(tmp_path, encrypted, cluster=ForbiddenSecrets()):
        c = await env.capture(secret_edit(p.CANARY))
        summary = await env.worker.run_once()
        assert summary.failed == 1
        stored = await env.status(c.id)
        assert stored.status is model.Status.FAILED
        assert "read-secrets component" in (stored.reason or "")
        [issue] = env.records()
        assert issue["kind"] == "issue" and "read-secrets" in issue["body"]
        assert p.CANARY not in json.dumps(issue)

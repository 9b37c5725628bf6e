"""SOPS-encrypted Secrets through ``breakglass backfill`` and the real ``sops`` binary.

The user-visible promise: when the repository keeps a Secret encrypted for age recipients, a
manual change to it lands in Git still encrypted, decryptable by the holder of the private key
into exactly "Git's document + the human's change"; everything else refuses with a reason and
writes nothing; and no plaintext value ever shows in the files, stdout or stderr.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from breakglass import cli

PASSWORD_OLD = "old-Pa55word-3141"
PASSWORD_NEW = "new-Pa55word-2718"
API_KEY = "sk-live-canary-9f8e7d"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(labels: dict[str, str], data: dict[str, str], *, rv: str = "41") -> str:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "shop",
            "labels": labels,
            "resourceVersion": rv,
            "uid": "5b0c-uid",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "managedFields": [{"manager": "kustomize-controller", "operation": "Apply"}],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"data": data}),
            },
        },
        "type": "Opaque",
        "data": {k: b64(v) for k, v in data.items()},
    }
    return yaml.safe_dump(obj)


SECRET_FILE = """\
# the shop's database login, encrypted for the platform team
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
  labels:
    app: shop # owner
type: Opaque
stringData:
  username: shop
  password: old-Pa55word-3141
"""

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
"""


def sops_config(public: str, *, regex: str = "^(data|stringData)$") -> str:
    return f"creation_rules:\n  - path_regex: .*\\.yaml$\n    encrypted_regex: {regex}\n    age: {public}\n"


def encrypt_in_place(sops_bin: Path, repo: Path, path: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo)}
    subprocess.run([str(sops_bin), "--encrypt", "--in-place", path], cwd=repo, env=env, check=True)


@pytest.fixture
def repo(tmp_path: Path, sops_bin: Path, age_key: Any) -> Path:
    root = tmp_path / "gitops"
    (root / "shop").mkdir(parents=True)
    (root / ".sops.yaml").write_text(sops_config(age_key.public))
    (root / "shop" / "db-secret.yaml").write_text(SECRET_FILE)
    (root / "shop" / "web-deployment.yaml").write_text(DEPLOY)
    (root / "shop" / "kustomization.yaml").write_text(
        "resources:\n  - db-secret.yaml\n  - web-deployment.yaml\n"
    )
    encrypt_in_place(sops_bin, root, "shop/db-secret.yaml")
    return root


def backfill(
    capsys: pytest.CaptureFixture[str], sops_bin: Path, repo: Path, tmp: Path, **objs: str
) -> tuple[int, str, str]:
    args = ["backfill", "--repo", str(repo), "--sops", str(sops_bin)]
    for label, text in objs.items():
        path = tmp / f"{label}.yaml"
        path.write_text(text)
        args += [f"--{label}", str(path)]
    code = cli.main(args)
    out, err = capsys.readouterr()
    for value in (PASSWORD_OLD, PASSWORD_NEW, API_KEY, b64(PASSWORD_NEW), b64(API_KEY)):
        assert value not in out and value not in err
    return code, out, err


def snapshot(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*") if p.is_file()}


def test_a_changed_value_is_written_encrypted_and_decrypts_to_git_plus_the_change(
    repo: Path, sops_bin: Path, age_key: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(repo)
    old = secret({"app": "shop"}, {"username": "shop", "password": PASSWORD_OLD})
    new = secret(
        {"app": "shop", "tier": "db"},
        {"username": "shop", "password": PASSWORD_NEW, "apikey": API_KEY},
        rv="42",
    )
    code, out, _ = backfill(capsys, sops_bin, repo, tmp_path, old=old, new=new)
    assert code == 0
    report = json.loads(out)
    assert report["changed"] == ["shop/db-secret.yaml"]
    assert any(
        "encrypted it again with creation rule 1 of .sops.yaml" in n
        and "`sops -d shop/db-secret.yaml`" in n
        for n in report["notes"]
    )
    after = snapshot(repo)
    assert {k for k in after if after[k] != before.get(k)} == {"shop/db-secret.yaml"}
    text = (repo / "shop" / "db-secret.yaml").read_text()
    for value in (PASSWORD_NEW, API_KEY, b64(PASSWORD_NEW), b64(API_KEY)):
        assert value not in text
    assert age_key.public in text
    decrypted = age_key.decrypt(repo / "shop" / "db-secret.yaml", sops_bin)
    assert "# the shop's database login, encrypted for the platform team" in decrypted
    assert "app: shop # owner" in decrypted
    doc = yaml.safe_load(decrypted)
    assert doc["metadata"]["labels"] == {"app": "shop", "tier": "db"}
    assert doc["stringData"] == {"username": "shop", "password": PASSWORD_NEW, "apikey": API_KEY}
    assert "last-applied-configuration" not in decrypted
    assert "resourceVersion" not in decrypted and "managedFields" not in decrypted


def test_a_label_change_alone_still_re_encrypts_because_the_mac_covers_it(
    repo: Path, sops_bin: Path, age_key: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = {"username": "shop", "password": PASSWORD_OLD}
    old = secret({"app": "shop"}, data)
    new = secret({"app": "shop", "on-call": "yes"}, data, rv="42")
    code, _, _ = backfill(capsys, sops_bin, repo, tmp_path, old=old, new=new)
    assert code == 0
    doc = yaml.safe_load(age_key.decrypt(repo / "shop" / "db-secret.yaml", sops_bin))
    assert doc["metadata"]["labels"] == {"app": "shop", "on-call": "yes"}
    assert doc["stringData"]["password"] == PASSWORD_OLD


def test_a_created_secret_becomes_an_encrypted_file_next_to_its_siblings(
    repo: Path, sops_bin: Path, age_key: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = secret({"app": "billing"}, {"apikey": API_KEY}).replace("name: db", "name: billing")
    code, out, _ = backfill(capsys, sops_bin, repo, tmp_path, new=new)
    assert code == 0, out
    assert sorted(json.loads(out)["changed"]) == [
        "shop/billing-secret.yaml",
        "shop/kustomization.yaml",
    ]
    created = repo / "shop" / "billing-secret.yaml"
    assert API_KEY not in created.read_text() and b64(API_KEY) not in created.read_text()
    doc = yaml.safe_load(age_key.decrypt(created, sops_bin))
    assert doc["data"] == {"apikey": b64(API_KEY)}
    assert doc["metadata"] == {"name": "billing", "namespace": "shop", "labels": {"app": "billing"}}
    assert "billing-secret.yaml" in (repo / "shop" / "kustomization.yaml").read_text()


def test_deleting_an_encrypted_secret_needs_no_key(
    repo: Path, sops_bin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = secret({"app": "shop"}, {"username": "shop", "password": PASSWORD_OLD})
    code, _, _ = backfill(capsys, sops_bin, repo, tmp_path, old=old)
    assert code == 0
    assert not (repo / "shop" / "db-secret.yaml").exists()
    assert "db-secret.yaml" not in (repo / "shop" / "kustomization.yaml").read_text()


def test_a_rule_that_would_leave_values_readable_writes_nothing(
    repo: Path, sops_bin: Path, age_key: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".sops.yaml").write_text(sops_config(age_key.public, regex="^spec$"))
    before = snapshot(repo)
    old = secret({"app": "shop"}, {"username": "shop", "password": PASSWORD_OLD})
    new = secret({"app": "shop"}, {"username": "shop", "password": PASSWORD_NEW}, rv="42")
    code, _, err = backfill(capsys, sops_bin, repo, tmp_path, old=old, new=new)
    assert code == 3
    assert "left stringData unencrypted" in err or "left data unencrypted" in err
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("creation_rules:\n  - path_regex: ^elsewhere/\n    age: {key}\n", "no creation rule"),
        (
            "creation_rules:\n  - age: {key}\n    kms: arn:aws:kms:eu-west-1:1:key/k\n",
            "also encrypts with kms",
        ),
    ],
)
def test_rules_breakglass_cannot_honour_are_refused(
    repo: Path,
    sops_bin: Path,
    age_key: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config: str,
    message: str,
) -> None:
    (repo / ".sops.yaml").write_text(config.format(key=age_key.public))
    before = snapshot(repo)
    old = secret({"app": "shop"}, {"username": "shop", "password": PASSWORD_OLD})
    new = secret({"app": "shop"}, {"username": "shop", "password": PASSWORD_NEW}, rv="42")
    code, _, err = backfill(capsys, sops_bin, repo, tmp_path, old=old, new=new)
    assert code == 3 and message in err
    assert snapshot(repo) == before


def test_redacted_values_cannot_be_encrypted(
    repo: Path, sops_bin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = secret({"app": "shop"}, {"username": "shop", "password": PASSWORD_OLD})
    new = old.replace(b64(PASSWORD_OLD), "<redacted:0123456789abcdef>").replace('"41"', '"42"')
    code, _, err = backfill(capsys, sops_bin, repo, tmp_path, old=old, new=new)
    assert code == 3
    assert "the value of key password is not available" in err
    assert "0123456789abcdef" not in err


def test_a_missing_sops_binary_is_explained(
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = secret({"app": "shop"}, {"username": "shop", "password": PASSWORD_OLD})
    new = secret({"app": "shop"}, {"username": "shop", "password": PASSWORD_NEW}, rv="42")
    (tmp_path / "old.yaml").write_text(old)
    (tmp_path / "new.yaml").write_text(new)
    args = ["backfill", "--repo", str(repo), "--old", str(tmp_path / "old.yaml")]
    args += ["--new", str(tmp_path / "new.yaml")]
    assert cli.main([*args, "--sops", str(tmp_path / "nope")]) == 2
    assert "not an executable file" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BREAKGLASS_SOPS", raising=False)
    assert cli.main(args) == 3
    err = capsys.readouterr().err
    assert "the sops binary was not found" in err and PASSWORD_NEW not in err


def test_an_encrypted_file_of_another_kind_is_not_touched(
    repo: Path, sops_bin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "shop" / "settings.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n"
        "data:\n  mode: fast\n"
    )
    encrypt_in_place(sops_bin, repo, "shop/settings.yaml")
    before = snapshot(repo)
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: shop}}\n"
    code, _, err = backfill(
        capsys,
        sops_bin,
        repo,
        tmp_path,
        old=cm.format() + "data: {mode: fast}\n",
        new=cm.format() + "data: {mode: slow}\n",
    )
    assert code == 3 and "re-encrypts Secrets only" in err
    assert snapshot(repo) == before

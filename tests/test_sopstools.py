"""The real sops with an age key: what the Secret-encryption code relies on sops to do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.sopstools import AgeKey

PASSWORD = "hunter2-correct-horse"
API_KEY_B64 = "c2stbGl2ZS0xMjM0NQ=="  # base64 of "sk-live-12345"

SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: checkout-db
  namespace: payments
type: Opaque
data:
  api-key: {API_KEY_B64}
stringData:
  password: {PASSWORD}
"""


def encrypted_secret(directory: Path, sops: Path, age_key: AgeKey) -> Path:
    """secret.yaml in ``directory``, encrypted in place by sops under a repository's .sops.yaml."""
    (directory / ".sops.yaml").write_text(
        "creation_rules:\n"
        "  - path_regex: .*\\.yaml$\n"
        "    encrypted_regex: ^(data|stringData)$\n"
        f"    age: {age_key.public}\n"
    )
    path = directory / "secret.yaml"
    path.write_text(SECRET)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory)}
    proc = subprocess.run(
        [str(sops), "--encrypt", "--in-place", path.name],
        cwd=directory,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return path


def test_encrypts_only_data_for_the_age_recipient_and_decrypts_back(
    tmp_path: Path, sops_bin: Path, age_key: AgeKey
):
    repo = tmp_path / "repo"
    repo.mkdir()
    path = encrypted_secret(repo, sops_bin, age_key)

    ciphertext = path.read_text()
    assert PASSWORD not in ciphertext
    assert API_KEY_B64 not in ciphertext
    doc = yaml.safe_load(ciphertext)
    assert doc["stringData"]["password"].startswith("ENC[AES256_GCM,")
    assert doc["data"]["api-key"].startswith("ENC[AES256_GCM,")
    # encrypted_regex leaves everything else readable, which is what lets Git diffs and owners
    # of the manifest see which Secret it is.
    assert doc["metadata"] == {"name": "checkout-db", "namespace": "payments"}
    assert doc["type"] == "Opaque"
    assert [r["recipient"] for r in doc["sops"]["age"]] == [age_key.public]
    assert doc["sops"]["encrypted_regex"] == "^(data|stringData)$"
    assert doc["sops"]["mac"].startswith("ENC[AES256_GCM,")

    plain = yaml.safe_load(age_key.decrypt(path, sops_bin))
    assert plain["stringData"] == {"password": PASSWORD}
    assert plain["data"] == {"api-key": API_KEY_B64}
    assert plain["metadata"]["name"] == "checkout-db"


def test_editing_an_unencrypted_value_breaks_the_mac(
    tmp_path: Path, sops_bin: Path, age_key: AgeKey
):
    # The MAC covers the values sops left in clear as well, so a change anywhere in an
    # encrypted file has to go through sops; a plain text edit makes the file undecryptable.
    repo = tmp_path / "repo"
    repo.mkdir()
    path = encrypted_secret(repo, sops_bin, age_key)
    text = path.read_text()
    assert text.count("name: checkout-db\n") == 1
    path.write_text(text.replace("name: checkout-db\n", "name: checkout-db-v2\n"))

    with pytest.raises(AssertionError, match="MAC mismatch"):
        age_key.decrypt(path, sops_bin)

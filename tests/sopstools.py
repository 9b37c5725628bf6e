"""The real ``sops`` and ``age-keygen`` binaries for tests, or a skip that says how to get them.

Repositories may keep their Secrets SOPS-encrypted for age recipients, and the backfill worker
then has to write an encrypted value that Flux or a human with the private key can decrypt.  No
hand-written imitation of sops can prove that, so the tests use the real binaries, built from
their Go modules by ``tests/e2e/testbin.sh`` into the same versioned cache as kube-apiserver and
etcd.  The policy is the end-to-end tests' one (``tests/e2e/conftest.py``): when the binaries
cannot be had (no Go, a failed build) the test is skipped with a message saying how to enable
it, unless ``BREAKGLASS_E2E=required``, which makes that a failure; ``BREAKGLASS_E2E=skip``
skips on purpose.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests import testbin


@functools.cache
def sops_tools() -> tuple[Path, Path]:
    """(sops, age-keygen), built into the test-binary cache if needed; skips or fails if not."""
    sops, age_keygen = testbin.tools(
        ("SOPS", "AGE_KEYGEN"), cache_glob="sops-*/.complete", what="sops/age-keygen"
    )
    return sops, age_keygen


@dataclass(frozen=True)
class AgeKey:
    """An age identity: the recipient to encrypt for and the file holding the private key."""

    public: str
    key_file: Path

    def decrypt(self, path: Path, sops: Path) -> str:
        """``sops --decrypt path`` with only this key available; the plaintext, or AssertionError.

        The environment holds PATH, HOME and SOPS_AGE_KEY_FILE only; HOME is the key's own
        directory, so no age key of the person running the tests (~/.config/sops/age) and no
        SOPS_* setting of theirs takes part.
        """
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.key_file.parent),
            "SOPS_AGE_KEY_FILE": str(self.key_file),
        }
        proc = subprocess.run(
            [str(sops), "--decrypt", str(path)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"sops --decrypt {path} failed (exit {proc.returncode}):\n{proc.stderr}"
            )
        return proc.stdout


def new_age_key(directory: Path) -> tuple[str, Path]:
    """A fresh age identity in ``directory/age.key``: (public key ``age1...``, key file)."""
    _, age_keygen = sops_tools()
    key_file = directory / "age.key"
    proc = subprocess.run(
        [str(age_keygen), "-o", str(key_file)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    # age-keygen writes "# public key: age1..." into the file (and to stderr with -o).
    for line in key_file.read_text().splitlines():
        if line.startswith("# public key: "):
            public = line.removeprefix("# public key: ").strip()
            assert public.startswith("age1"), public
            return public, key_file
    raise AssertionError(f"no public key in {key_file}")

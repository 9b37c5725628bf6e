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
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTBIN = ROOT / "tests" / "e2e" / "testbin.sh"


@functools.cache
def _outcome() -> tuple[Path, Path] | str:
    """Run testbin.sh once per process: the two paths, or why they cannot be had.

    A failure is remembered as well, so a broken build is tried once, not once per test.
    """
    if shutil.which("go") is None and not os.environ.get("BREAKGLASS_TESTBIN_DIR"):
        cached = Path.home() / ".cache" / "breakglass" / "testbin"
        if not any(cached.glob("sops-*/.complete")):
            return (
                "Go is not installed, so sops and age-keygen cannot be built; install Go "
                "(>= 1.25) and run tests/e2e/testbin.sh (or `make testbin`)"
            )
    proc = subprocess.run(["bash", str(TESTBIN)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return (
            f"tests/e2e/testbin.sh failed (exit {proc.returncode}); run it by hand (or "
            f"`make testbin`) to see why:\n{proc.stderr[-4000:]}"
        )
    found = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    paths = []
    for key in ("SOPS", "AGE_KEYGEN"):
        if key not in found or not Path(found[key]).is_file():
            return f"tests/e2e/testbin.sh did not produce {key}"
        paths.append(Path(found[key]).resolve())
    return paths[0], paths[1]


@functools.cache
def sops_tools() -> tuple[Path, Path]:
    """(sops, age-keygen), built into the test-binary cache if needed; skips or fails if not."""
    mode = os.environ.get("BREAKGLASS_E2E", "")
    if mode == "skip":
        pytest.skip("BREAKGLASS_E2E=skip")
    outcome = _outcome()
    if isinstance(outcome, str):
        if mode == "required":
            pytest.fail(f"BREAKGLASS_E2E=required but sops/age-keygen are unavailable: {outcome}")
        pytest.skip(f"{outcome} (set BREAKGLASS_E2E=required to make this a failure)")
    return outcome


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

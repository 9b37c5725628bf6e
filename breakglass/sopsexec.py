"""Running the ``sops`` binary: the edge behind ``breakglass.gitops.sops.Encrypt``.

SOPS's file format (per-value AES-GCM, a MAC over the document, the data key wrapped for each
age recipient, creation rules, ``encrypted_regex``) is defined by its reference
implementation, and a file Flux cannot decrypt is worse than no file.  So breakglass does not
reimplement it: it runs the real ``sops`` the same way a person would, with the repository's
own ``.sops.yaml``.  The plaintext goes in on stdin and the result comes back on stdout; it
never touches the disk.  The child gets a minimal environment (no forge tokens, no
``SOPS_AGE_*`` variables that could change the recipients) and a time limit, and whatever it
prints on failure is scrubbed of the values before it becomes a message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from breakglass.gitops import sops

#: Environment variable naming the sops binary (else ``sops`` on PATH).
BINARY_ENV: Final = "BREAKGLASS_SOPS"
TIMEOUT_SECONDS: Final = 30.0


def find_binary(explicit: str | None = None) -> str | None:
    """The sops binary to run: ``explicit``, else ``$BREAKGLASS_SOPS``, else ``sops`` on PATH."""
    chosen = explicit or os.environ.get(BINARY_ENV)
    if chosen:
        return chosen if os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None
    return shutil.which("sops")


@dataclass(frozen=True)
class Sops:
    """Encrypts files of one checkout (``repo``) with one sops binary (None: not installed)."""

    repo: Path
    binary: str | None
    values: Mapping[str, str]  # only to scrub failure messages

    def __call__(self, path: str, plaintext: str) -> str:
        if self.binary is None:
            raise sops.EncryptError(
                "the sops binary was not found; install sops 3.9 or later on PATH, or point "
                f"{BINARY_ENV} at it"
            )
        repo = self.repo.resolve()
        config = sops.config_for(path, lambda p: (repo / p).is_file())
        if config is None:
            raise sops.EncryptError(f"no .sops.yaml applies to {path}")
        # HOME points nowhere: no per-user sops setting of the host takes part
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
        command = [
            self.binary,
            "--config",
            str(repo / config),
            "encrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "--filename-override",
            str(repo / path),
        ]
        try:
            done = subprocess.run(
                command,
                input=plaintext,
                capture_output=True,
                text=True,
                env=env,
                cwd=repo,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise sops.EncryptError(f"sops did not finish within {TIMEOUT_SECONDS:.0f}s") from None
        except OSError as exc:
            raise sops.EncryptError(f"sops could not be run: {exc.strerror or exc}") from None
        if done.returncode != 0:
            detail = sops.scrub(done.stderr.strip(), self.values)[-600:] or "no message"
            raise sops.EncryptError(f"sops failed (exit {done.returncode}): {detail}")
        return done.stdout

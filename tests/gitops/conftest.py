"""Shared fixtures for the GitOps engine tests, and the hypothesis profiles.

The property tests run a bounded number of examples by default; for a longer search set
``BREAKGLASS_HYPOTHESIS_PROFILE=long`` (2,000 examples per property) or ``=ci`` (the default).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("BREAKGLASS_HYPOTHESIS_PROFILE", "ci"))


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


@pytest.fixture
def make_repo(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(files: dict[str, str]) -> Path:
        return write_tree(tmp_path / "repo", files)

    return make

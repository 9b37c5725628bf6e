"""Shared fixtures: a capture policy, settings in a temp dir, and structlog reset per test."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from breakglass import settings
from breakglass.capture.admission import Policy
from breakglass.capture.redact import Redactor

SALT = b"test-salt-0123456789"
NOW = datetime(2026, 11, 26, 2, 14, 7, tzinfo=UTC)


@pytest.fixture
def policy() -> Policy:
    return Policy(
        cluster="prod-eu",
        actors=settings.ActorSettings(),
        redactor=Redactor(salt=SALT, key_patterns=("*_TOKEN", "*_PASSWORD")),
        record_only=settings.DEFAULT_RECORD_ONLY,
    )


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _reset_structlog() -> None:
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


# The real sops and age-keygen (tests/sopstools.py), for tests of SOPS-encrypted Secrets.
from tests.sopstools import AgeKey, new_age_key, sops_tools  # noqa: E402


@pytest.fixture(scope="session")
def sops_bin() -> Path:
    """The real sops binary; skips without it (fails under BREAKGLASS_E2E=required)."""
    return sops_tools()[0]


@pytest.fixture
def age_key(tmp_path: Path) -> AgeKey:
    """A fresh age identity whose key file lives in its own directory under tmp_path."""
    directory = tmp_path / "age"
    directory.mkdir()
    public, key_file = new_age_key(directory)
    return AgeKey(public=public, key_file=key_file)

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

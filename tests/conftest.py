"""Shared fixtures: a capture policy, settings in a temp dir, and structlog reset per test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from breakglass import settings
from breakglass.capture.admission import Policy
from breakglass.capture.redact import Redactor
from tests.journal_servers import INSTALL_HINT, PostgresServer, find_bindir, postgres_server

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


# A real PostgreSQL server (journal suite, worker takeover): skipped with a message saying how
# to install it, unless BREAKGLASS_E2E=required (.ci/run), which makes that a failure.
_databases = itertools.count()


def _unavailable(why: str) -> None:
    if os.environ.get("BREAKGLASS_E2E", "") == "required":
        pytest.fail(f"BREAKGLASS_E2E=required but PostgreSQL is unavailable: {why}")
    pytest.skip(f"{why} (set BREAKGLASS_E2E=required to make this a failure)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (run as an unprivileged user under root)."""
    if os.environ.get("BREAKGLASS_E2E", "") == "skip":
        pytest.skip("BREAKGLASS_E2E=skip")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable(
            "the PostgreSQL driver is not installed: pip install 'breakglass[postgresql]' "
            "(`make install` does)"
        )
    bindir = find_bindir()
    if bindir is None:
        _unavailable(INSTALL_HINT)
    assert bindir is not None
    with postgres_server(bindir) as server:
        yield server


@pytest.fixture
def pg_database(pg_server: PostgresServer) -> Iterator[str]:
    """The URL (no password) of a fresh database on the session's server."""
    name = f"journal_{os.getpid()}_{next(_databases)}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)

"""Journal fixtures: every behavioural journal test runs once per back-end, SQLite and PostgreSQL.

PostgreSQL is a real server (``tests/journal_servers.py``), started once per session; each test
gets a database of its own.  Without the server binaries or the driver the PostgreSQL cases are
skipped with a message saying how to install them, unless ``BREAKGLASS_E2E=required`` (set by
``.ci/run``), which makes that a failure; ``BREAKGLASS_E2E=skip`` skips them on purpose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from breakglass import model
from breakglass.capture import admission
from breakglass.journal import Journal, open_journal
from tests import payloads as p
from tests.journal_servers import PostgresServer


@dataclass(frozen=True)
class Backend:
    """How to open another journal object on the same store (a second replica, a reopen)."""

    name: str
    url: str
    password: str | None = None

    def journal(self) -> Journal:
        return open_journal(self.url, password=self.password)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite:///{tmp_path / 'journal.db'}")
    server: PostgresServer = request.getfixturevalue("pg_server")
    return Backend("postgresql", request.getfixturevalue("pg_database"), server.password)


@pytest.fixture
async def journal(backend: Backend) -> AsyncIterator[Journal]:
    j = backend.journal()
    await j.open()
    yield j
    await j.close()


def capture(policy, now, name: str = "checkout", uid: str = "uid-1", **kw) -> model.Capture:
    """A provisional admission capture of a Deployment scaled from 2 to 5 replicas."""
    review = p.review(
        operation="UPDATE",
        obj=p.deployment(name=name, replicas=5),
        old=p.deployment(name=name),
        uid=uid,
        **kw,
    )
    c = admission.decide(review["request"], policy=policy, now=now)
    assert isinstance(c, model.Capture)
    return c

"""Two real ``breakglass worker`` processes on one real PostgreSQL journal: one leads at a time.

The leader is stopped in the middle of a backfill, at the two points where a crash can leave a
write behind without its record: after the push but before the pull request exists, and after
the pull request exists but before the journal says so.  It is stopped either by SIGKILL or by
cutting its database sessions (``pg_terminate_backend``: what a network partition or a
failover does), while its request to the forge is still in flight.  The other replica must
take over within a bounded time and finish the job, and exactly one pull request must exist,
carrying the capture; a leader whose session was cut must not write to the journal, the forge
or its audit log again once its in-flight request returns.

GitHub is the HTTP-level fake with a real bare repository behind it; PyGithub runs unmodified
in each worker process.  Each worker has a state directory of its own, as replicas do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from breakglass import model, settings
from breakglass.capture import admission
from breakglass.capture.redact import Redactor
from breakglass.journal import open_journal
from tests.backfill.conftest import CONFIGMAP, DEPLOYMENT, KUSTOMIZATION, edit_review
from tests.fakes.github import FakeGitHub
from tests.journal_servers import PostgresServer

TOKEN = "ghp_takeoverTOKEN0123456789abcdef"
SALT = "takeover-salt"
BRANCH = "breakglass/prod-eu-1/payments/deployment/checkout"
INTERVAL = 1.0  # backfill.interval: how often a standby asks for the lock
#: what the takeover may take: the standby's next leadership check (about INTERVAL when a session
#: ends), plus slack for a loaded machine
TAKEOVER_BOUND = INTERVAL + 4.0


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    log_file: Path
    state: Path

    def events(self) -> list[dict[str, object]]:
        found = []
        for line in self.log_file.read_text().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def first(self, event: str) -> dict[str, object] | None:
        return next((e for e in self.events() if e["event"] == event), None)

    def audit_types(self) -> list[str]:
        folder = self.state / "audit" / "worker"
        return [
            json.loads(line)["type"]
            for f in sorted(folder.glob("audit-*.jsonl"))
            for line in f.read_text().splitlines()
        ]


def wait_for(condition, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGitHub]:
    files = {
        "apps/payments/deployment.yaml": DEPLOYMENT,
        "apps/payments/configmap.yaml": CONFIGMAP,
        "apps/payments/kustomization.yaml": KUSTOMIZATION,
    }
    github = FakeGitHub(tmp_path / "gh", repo="acme/gitops", token=TOKEN, files=files)
    github.start_in_thread()
    yield github
    github.stop_thread()


def config(tmp_path: Path, name: str, journal_url: str, fake: FakeGitHub) -> Path:
    path = tmp_path / f"{name}.yaml"
    data = {
        "cluster": "prod-eu-1",
        "state_dir": str(tmp_path / name),
        "journal": {"url": journal_url, "password_env": "BG_JOURNAL_PASSWORD"},
        "kube": {"mode": "off"},
        "forges": {
            "github": {
                "kind": "github",
                "repo": "acme/gitops",
                "base_url": fake.base_url,
                "token_env": "BG_GITHUB_TOKEN",
            }
        },
        "repos": [
            {
                "url": fake.clone_url,
                "branch": "main",
                "path": "apps/payments",
                "namespaces": ["payments"],
            }
        ],
        "backfill": {
            "forge": "github",
            "interval": INTERVAL,
            "grace_seconds": 0.01,
            "render_check": "off",
        },
    }
    path.write_text(yaml.safe_dump(data))
    return path


def start(tmp_path: Path, name: str, conf: Path, server: PostgresServer) -> Replica:
    log_file = tmp_path / f"{name}.log"
    env = {
        **os.environ,
        "BG_JOURNAL_PASSWORD": server.password,
        "BG_GITHUB_TOKEN": TOKEN,
        "BREAKGLASS_REDACTION_SALT": SALT,
        "BREAKGLASS_AUDIT_LOG_KEY": "takeover-key-" * 3,
        "PGAPPNAME": f"breakglass-{name}",  # so the test can cut this replica's sessions
    }
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "breakglass", "worker", "--config", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return Replica(name, proc, log_file, tmp_path / name)


async def insert_capture(url: str, password: str) -> model.Capture:
    conf = settings.from_mapping({"cluster": "prod-eu-1"}, source="test", base=Path("."))
    policy = admission.Policy(
        cluster=conf.cluster,
        actors=conf.actors,
        redactor=Redactor(salt=SALT.encode(), key_patterns=()),
        record_only=conf.record_only,
    )
    review = edit_review(lambda d: d["spec"].update(replicas=6))
    capture = admission.decide(review["request"], policy=policy, now=model.utcnow())
    assert isinstance(capture, model.Capture)
    journal = open_journal(url, password=password)
    await journal.open()
    try:
        await journal.insert(capture.with_status(model.Status.CONFIRMED))
    finally:
        await journal.close()
    return capture


async def stored(url: str, password: str, capture_id: str) -> model.Capture:
    journal = open_journal(url, password=password)
    await journal.open()
    try:
        found = await journal.get(capture_id)
    finally:
        await journal.close()
    assert found is not None
    return found


def at(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("how", ["sigkill", "cut-session"])
@pytest.mark.parametrize("point", ["after-push", "after-pr"])
async def test_the_standby_takes_over_and_exactly_one_pr_exists(
    tmp_path: Path, fake: FakeGitHub, pg_server: PostgresServer, point: str, how: str
):
    name = f"takeover_{os.getpid()}_{point}_{how}".replace("-", "_")
    url = pg_server.create_database(name)
    leader = standby = None
    try:
        capture = await insert_capture(url, pg_server.password)
        if point == "after-push":
            # the branch is pushed; the request that would open the PR hangs, then fails
            fault = fake.inject(r"/pulls$", method="POST", status=502, latency=8.0)
            fault.body = {"message": "Server Error"}
        else:
            # the PR is opened on the forge, but the worker hears of it 8 s later
            fake.hold_answer(r"/pulls$", 8.0, method="POST")
        leader = start(tmp_path, "a", config(tmp_path, "a", url, fake), pg_server)
        wait_for(lambda: leader.first("worker_leading"), "a to lead")
        standby = start(tmp_path, "b", config(tmp_path, "b", url, fake), pg_server)
        wait_for(lambda: standby.first("worker_standby"), "b to stand by")
        # a is now inside its forge call, after the push (and, for after-pr, after the PR)
        wait_for(lambda: fake.calls("POST", r"/pulls$"), "a to ask for the pull request")
        assert fake.repo.branch_exists(BRANCH)
        assert len(fake.pulls) == (1 if point == "after-pr" else 0)

        stopped = time.time()
        if how == "sigkill":
            leader.proc.kill()
            leader.proc.wait(timeout=10)
        else:
            pg_server.admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'breakglass-a'"
            )
        leading = wait_for(lambda: standby.first("worker_leading"), "b to take over", 30)
        takeover = at(leading) - stopped
        assert takeover < TAKEOVER_BOUND, f"took {takeover:.1f} s"
        print(f"\n{point}/{how}: the standby led {takeover:.2f} s after the leader was stopped")

        done = await wait_for_async(url, pg_server.password, capture.id)
        [pr] = fake.pulls  # exactly one, whoever opened it
        assert pr.head == BRANCH and pr.state == "open"
        assert done.status is model.Status.PR_OPEN and (done.pr_url or "").endswith(
            f"/acme/gitops/pull/{pr.number}"
        )
        # b records the PR in its audit chain right after the journal write
        wait_for(lambda: "pr_opened" in standby.audit_types(), "b's pr_opened record", 10)

        if how == "cut-session":
            # a's forge call returns; a notices it no longer leads before its next write
            wait_for(lambda: leader.first("worker_lost_leadership"), "a to stand down", 30)
            time.sleep(INTERVAL * 2)
            assert len(fake.pulls) == 1
            assert "pr_opened" not in leader.audit_types()
            assert (await stored(url, pg_server.password, capture.id)).pr_url == done.pr_url
            assert leader.proc.poll() is None  # a stands by; it does not crash
    finally:
        for replica in (leader, standby):
            if replica is not None and replica.proc.poll() is None:
                replica.proc.send_signal(signal.SIGTERM)
                replica.proc.wait(timeout=30)
        pg_server.drop_database(name)


async def wait_for_async(url: str, password: str, capture_id: str) -> model.Capture:
    import asyncio

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = await stored(url, password, capture_id)
        if found.status is not model.Status.CONFIRMED:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError("the capture was never backfilled")

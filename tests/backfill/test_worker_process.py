"""``breakglass worker`` as its own process: its own audit chain, woken by SIGUSR1, one leader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from breakglass import model, settings
from breakglass.capture import admission
from breakglass.capture.redact import Redactor
from breakglass.journal import open_journal
from tests import payloads as p
from tests.backfill.conftest import edit_review

SALT = "a-salt-for-these-tests"


def write_config(tmp_path: Path, remote: Path, **backfill: object) -> Path:
    config = tmp_path / "breakglass.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cluster": "prod-eu-1",
                "state_dir": str(tmp_path / "state"),
                "repos": [
                    {
                        "url": str(remote),
                        "branch": "main",
                        "path": "apps/payments",
                        "namespaces": ["payments"],
                    }
                ],
                "kube": {"mode": "off"},
                "backfill": {"render_check": "off", "grace_seconds": 0.01, **backfill},
            }
        )
    )
    return config


def env() -> dict[str, str]:
    return {**os.environ, "BREAKGLASS_REDACTION_SALT": SALT, "BREAKGLASS_AUDIT_LOG_KEY": "k" * 32}


async def insert_capture(config: Path, replicas: int, name: str = "checkout") -> model.Capture:
    conf = settings.load(config)
    policy = admission.Policy(
        cluster=conf.cluster,
        actors=conf.actors,
        redactor=Redactor(salt=SALT.encode(), key_patterns=()),
        record_only=conf.record_only,
    )
    old = p.deployment(name=name)
    review = edit_review(lambda d: d["spec"].update(replicas=replicas), old=old)
    capture = admission.decide(review["request"], policy=policy, now=model.utcnow())
    assert isinstance(capture, model.Capture)
    journal = open_journal(conf.journal_url)
    await journal.open()
    try:
        await journal.insert(capture.with_status(model.Status.CONFIRMED))
    finally:
        await journal.close()
    return capture


def breakglass(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        capture_output=True,
        text=True,
        env=env(),
        timeout=timeout,
    )


def records(directory: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for f in sorted(directory.glob("audit-*.jsonl"))
        for line in f.read_text().splitlines()
    ]


async def test_the_worker_writes_its_own_audit_chain_and_verify_reads_both(
    tmp_path: Path, remote: Path
):
    config = write_config(tmp_path, remote)
    capture = await insert_capture(config, replicas=5)
    out = breakglass("worker", "--config", str(config), "--once")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["backfilled"] == 1
    audit = tmp_path / "state" / "audit"
    worker_records = records(audit / "worker")
    assert [r["type"] for r in worker_records] == ["branch_pushed", "pr_opened"]
    assert {r["capture_id"] for r in worker_records} == {capture.id}
    assert records(audit) == []  # the webhook's chain is the webhook's alone
    verified = breakglass("audit", "verify", "--config", str(config))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{audit / 'worker'}: 2/2 records valid" in verified.stdout
    shown = breakglass("audit", "show", "--config", str(config), "--format", "json")
    assert [r["type"] for r in json.loads(shown.stdout)] == ["branch_pushed", "pr_opened"]


def start_worker(config: Path, log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "breakglass", "worker", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env(),
        )


def wait_for_line(proc: subprocess.Popen[bytes], log_file: Path, event: str) -> None:
    deadline = time.monotonic() + 60
    while f'"{event}"' not in log_file.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log_file.read_text()
        time.sleep(0.05)


async def test_sigusr1_starts_a_pass_at_once(tmp_path: Path, remote: Path):
    config = write_config(tmp_path, remote, interval=3600)
    log_file = tmp_path / "worker.log"
    proc = start_worker(config, log_file)
    try:
        wait_for_line(proc, log_file, "worker_leading")  # its first pass is under way
        time.sleep(0.5)
        await insert_capture(config, replicas=7)
        os.kill(proc.pid, signal.SIGUSR1)
        prs = tmp_path / "state" / "pull-requests"
        deadline = time.monotonic() + 30
        while not list(prs.glob("*.json")):  # an hour's interval, but it was woken
            assert proc.poll() is None and time.monotonic() < deadline, log_file.read_text()
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert '"process": "worker"' in log_file.read_text()


async def test_a_second_worker_on_the_same_sqlite_journal_stands_by(tmp_path: Path, remote: Path):
    config = write_config(tmp_path, remote)
    conf = settings.load(config)
    holder = open_journal(conf.journal_url)
    await holder.open()
    try:
        assert await holder.leadership() == 1
        out = breakglass("worker", "--config", str(config), "--once")
        assert out.returncode != 0
        assert "another breakglass worker runs now" in out.stderr
    finally:
        await holder.close()
    out = breakglass("worker", "--config", str(config), "--once")  # the lock went with it
    assert out.returncode == 0, out.stderr


async def test_sigterm_ends_a_long_pass_after_the_object_at_hand(tmp_path: Path, remote: Path):
    # one pull request per object: forty objects of one person would otherwise be one group,
    # whose captures fail too fast here (none is in Git) for the signal to land after one
    config = write_config(tmp_path, remote, group_window_seconds=0)
    ids = [(await insert_capture(config, replicas=3, name=f"svc-{n}")).id for n in range(40)]
    log_file = tmp_path / "worker.log"
    proc = start_worker(config, log_file)
    try:
        wait_for_line(proc, log_file, "capture_handled")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)  # not after the other 39
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    conf = settings.load(config)
    journal = open_journal(conf.journal_url)
    await journal.open()
    try:
        statuses = [(await journal.get(i)).status for i in ids]  # type: ignore[union-attr]
    finally:
        await journal.close()
    # what the pass did not reach waits, confirmed, for the next worker: nothing is lost
    assert statuses.count(model.Status.CONFIRMED) >= 30


async def test_mirrors_go_where_backfill_mirrors_dir_says(tmp_path: Path, remote: Path):
    config = write_config(tmp_path, remote, mirrors_dir=str(tmp_path / "cache"))
    await insert_capture(config, replicas=4)
    out = breakglass("worker", "--config", str(config), "--once")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["backfilled"] == 1
    assert any((tmp_path / "cache").iterdir())  # the mirror and its worktree
    assert not (tmp_path / "state" / "mirrors").exists()

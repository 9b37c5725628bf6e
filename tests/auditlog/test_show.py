"""``breakglass audit show``: the filters a reviewer uses, in table, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from breakglass import cli, model
from breakglass.auditlog import AuditLog, EventType, from_capture
from tests import payloads as p
from tests.auditlog.conftest import KEY, capture_of

MALLORY = {"username": '=HYPERLINK("http://x")\x1b[2J', "uid": "m", "groups": ["oncall"]}


@pytest.fixture
async def history(log_dir, clock, policy, now) -> None:
    log = AuditLog(log_dir, key=KEY, clock=clock)
    await log.open()
    alice = capture_of(policy, now)
    bob = capture_of(policy, now, user=p.BOB, namespace="web")
    await log.append(from_capture(alice, EventType.CAPTURE))  # 2026-11-26
    clock.advance(days=2)
    await log.append(from_capture(bob, EventType.CAPTURE))  # 2026-11-28
    merged = alice.with_status(model.Status.MERGED)
    await log.append(from_capture(merged, EventType.PR_MERGED, pr_url="https://git.example/pr/7"))
    clock.advance(days=1)
    await log.append(from_capture(capture_of(policy, now, user=MALLORY), EventType.CAPTURE))
    await log.close()


def show(capsys, *args: str) -> str:
    code = cli.main(["audit", "show", *args])
    out = capsys.readouterr().out
    assert code == 0
    return out


async def test_table_lists_every_record(history, log_dir, capsys):
    out = show(capsys, "--dir", str(log_dir)).splitlines()
    assert out[0].split() == ["SEQ", "TIME", "TYPE", "USER", "OBJECT", "OUTCOME", "CAPTURE", "PR"]
    assert len(out) == 5
    assert "Deployment/payments/checkout" in out[1] and "alice" in out[1]
    assert "pr_merged" in out[3] and "https://git.example/pr/7" in out[3]
    assert "\x1b" not in "".join(out)  # control characters never reach the terminal


async def test_filters(history, log_dir, capsys):
    def seqs(*args: str) -> list[int]:
        out = show(capsys, "--dir", str(log_dir), "--format", "json", *args)
        return [r["seq"] for r in json.loads(out)]

    assert seqs("--user", "alice") == [1, 3]
    assert seqs("--user", "b*") == [2]
    assert seqs("--namespace", "web") == [2]
    assert seqs("--kind", "deployment") == [1, 2, 3, 4]
    assert seqs("--kind", "Secret") == []
    assert seqs("--outcome", "merged") == [3]
    assert seqs("--type", "capture") == [1, 2, 4]
    assert seqs("--since", "2026-11-27") == [2, 3, 4]
    assert seqs("--until", "2026-11-28") == [1]
    assert seqs("--since", "2026-11-28T00:00:00Z", "--until", "2026-11-29") == [2, 3]
    assert seqs("--since", "36500d") == [1, 2, 3, 4]


async def test_csv_is_parseable_and_defuses_formulas(history, log_dir, capsys):
    out = show(capsys, "--dir", str(log_dir), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["user"] == "alice" and rows[0]["paths"] == "spec.replicas"
    assert rows[0]["groups"] == "oncall;system:authenticated"
    assert rows[2]["pr_url"] == "https://git.example/pr/7"
    assert rows[3]["user"].startswith("'=HYPERLINK")


async def test_show_reads_the_directory_from_the_config(history, log_dir, tmp_path, capsys):
    config = tmp_path / "breakglass.yaml"
    config.write_text(f"audit_log: {{dir: {log_dir}}}\n")
    out = show(capsys, "--config", str(config), "--user", "bob")
    assert len(out.splitlines()) == 2


async def test_show_skips_and_reports_unreadable_lines(history, log_dir, capsys):
    [path] = sorted(log_dir.glob("audit-*.jsonl"))[:1]
    with path.open("ab") as fh:
        fh.write(b"not json\n")
    out = show(capsys, "--dir", str(log_dir), "--format", "json")
    assert len(json.loads(out)) == 4


def test_bad_time_is_an_input_error(log_dir, capsys):
    log_dir.mkdir()
    assert cli.main(["audit", "show", "--dir", str(log_dir), "--since", "last tuesday"]) == 2
    assert "cannot read time" in capsys.readouterr().err


async def test_several_replicas_logs_merge_by_time(tmp_path, clock, policy, now, capsys):
    dirs = [tmp_path / "replica-0", tmp_path / "replica-1"]
    logs = [AuditLog(d, key=KEY, clock=clock) for d in dirs]
    for log in logs:
        await log.open()
    users = [p.ALICE, p.BOB, p.ALICE]
    for n, user in enumerate(users):  # alternate replicas, one day apart
        await logs[n % 2].append(
            from_capture(capture_of(policy, now, user=user), EventType.CAPTURE)
        )
        clock.advance(days=1)
    for log in logs:
        await log.close()
    capsys.readouterr()  # what the logs printed while writing
    args = ["--dir", str(dirs[1]), "--dir", str(dirs[0]), "--format", "json"]
    found = json.loads(show(capsys, *args))
    assert [r["time"][:10] for r in found] == ["2026-11-26", "2026-11-27", "2026-11-28"]
    assert [r["actor"]["user"] for r in found] == ["alice", "bob", "alice"]
    assert [r["seq"] for r in found] == [1, 1, 2]

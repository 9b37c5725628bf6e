"""Tampering with the log is caught, each kind with its own message; so is a cut-off tail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from breakglass.auditlog import AuditLog, ChainHead
from breakglass.auditlog.verify import verify
from breakglass.auditlog.writer import log_files
from tests.auditlog.conftest import KEY, fill


@pytest.fixture
async def chain(log_dir, clock, make_event) -> list[dict]:
    log = AuditLog(log_dir, key=KEY, clock=clock)
    await log.open()
    try:
        return await fill(log, 10, make_event)
    finally:
        await log.close()


@pytest.fixture
async def rotated(log_dir, clock, make_event) -> list[dict]:
    log = AuditLog(log_dir, key=KEY, clock=clock, max_bytes=1_500)
    await log.open()
    try:
        return await fill(log, 12, make_event)
    finally:
        await log.close()


def lines_of(log_dir: Path) -> tuple[Path, list[bytes]]:
    [path] = log_files(log_dir)
    return path, path.read_bytes().splitlines(keepends=True)


def problems(log_dir: Path, **kw) -> list[str]:
    return [str(p) for p in verify([log_dir], key=KEY, **kw).problems]


async def test_an_untouched_chain_verifies(chain, log_dir):
    report = verify([log_dir], key=KEY)
    assert report.ok and report.summary() == "10/10 records valid"
    assert report.head == ChainHead(10, chain[-1]["mac"])


async def test_a_flipped_byte_is_a_mac_mismatch(chain, log_dir):
    path, lines = lines_of(log_dir)
    line = lines[3]
    at = line.index(b'"namespace":"payments"') + len(b'"namespace":"p')
    lines[3] = line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]
    path.write_bytes(b"".join(lines))
    report = verify([log_dir], key=KEY)
    assert [str(p) for p in report.problems] == [f"seq=4 INVALID: mac mismatch at {path.name}:4"]
    assert report.summary() == "9/10 records valid"


async def test_a_flipped_byte_in_a_mac_breaks_the_next_link_too(chain, log_dir):
    path, lines = lines_of(log_dir)
    lines[4] = lines[4].replace(chain[4]["mac"].encode(), ("f" * 64).encode())
    path.write_bytes(b"".join(lines))
    found = problems(log_dir)
    assert found == [
        f"seq=5 INVALID: mac mismatch at {path.name}:5",
        f"seq=6 INVALID: prev mismatch at {path.name}:6",
    ]


async def test_a_deleted_line_is_a_sequence_gap(chain, log_dir):
    path, lines = lines_of(log_dir)
    del lines[4]
    path.write_bytes(b"".join(lines))
    assert problems(log_dir) == [f"INVALID: sequence gap (expected 5, found 6) at {path.name}:5"]


async def test_swapped_lines_are_out_of_order(chain, log_dir):
    path, lines = lines_of(log_dir)
    lines[4], lines[5] = lines[5], lines[4]
    path.write_bytes(b"".join(lines))
    found = problems(log_dir)
    assert f"INVALID: sequence gap (expected 5, found 6) at {path.name}:5" in found
    assert f"INVALID: sequence out of order (expected 7, found 5) at {path.name}:6" in found
    assert verify([log_dir], key=KEY).valid < 10


async def test_a_truncated_tail_is_a_truncated_record(chain, log_dir):
    path, lines = lines_of(log_dir)
    path.write_bytes(b"".join(lines)[:-25])
    assert problems(log_dir) == [f"INVALID: truncated record at {path.name}:10"]


async def test_a_record_spliced_from_another_chain_is_a_prev_mismatch(
    chain, log_dir, tmp_path, clock, make_event
):
    other_dir = tmp_path / "other"
    other = AuditLog(other_dir, key=KEY, clock=clock)
    await other.open()
    await fill(other, 10, make_event)
    await other.close()
    path, lines = lines_of(log_dir)
    _, foreign = lines_of(other_dir)
    lines[6] = foreign[6]
    path.write_bytes(b"".join(lines))
    assert problems(log_dir) == [
        f"seq=7 INVALID: prev mismatch at {path.name}:7",
        f"seq=8 INVALID: prev mismatch at {path.name}:8",
    ]


async def test_a_record_with_a_duplicate_key_is_not_canonical(chain, log_dir):
    path, lines = lines_of(log_dir)
    lines[2] = lines[2].replace(b'{"actor"', b'{"outcome":"merged","actor"', 1)
    path.write_bytes(b"".join(lines))
    assert problems(log_dir) == [f"seq=3 INVALID: record is not in canonical form at {path.name}:3"]


async def test_a_deleted_middle_file_is_a_sequence_gap(rotated, log_dir):
    files = log_files(log_dir)
    assert len(files) >= 3
    assert verify([log_dir], key=KEY).ok
    middle = files[1]
    first_missing = json.loads(middle.read_bytes().splitlines()[0])["seq"]
    after = json.loads(files[2].read_bytes().splitlines()[0])["seq"]
    middle.unlink()
    assert problems(log_dir) == [
        f"INVALID: sequence gap (expected {first_missing}, found {after}) at {files[2].name}:1"
    ]


async def test_files_are_ordered_by_number_whatever_order_they_are_given(rotated, log_dir):
    files = log_files(log_dir)
    assert verify(list(reversed(files)), key=KEY).ok


async def test_a_cut_off_tail_is_caught_by_an_anchor_from_git(chain, log_dir):
    path, lines = lines_of(log_dir)
    path.write_bytes(b"".join(lines[:7]))
    assert verify([log_dir], key=KEY).ok  # on its own, a clean cut is invisible
    head = ChainHead(10, chain[-1]["mac"])
    assert problems(log_dir, anchors=[head]) == [
        "INVALID: anchor seq=10 is past the end (log ends at seq=7)"
    ]
    assert problems(log_dir, anchors=[ChainHead(5, chain[4]["mac"])]) == []
    assert problems(log_dir, anchors=[ChainHead(5, "0" * 64)]) == [
        "seq=5 INVALID: anchor mac differs from the log"
    ]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "BREAKGLASS_AUDIT_LOG_KEY"}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "breakglass", "audit", *args],
        capture_output=True,
        text=True,
        check=False,
        env=full,
    )


async def test_cli_verify_reports_and_exits_non_zero(chain, log_dir, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY + b"\n")
    ok = cli("verify", str(log_dir), "--key-file", str(key_file))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == "10/10 records valid"
    assert f"head: 10:{chain[-1]['mac']}" in ok.stdout
    path, lines = lines_of(log_dir)
    del lines[2]
    path.write_bytes(b"".join(lines))
    bad = cli("verify", str(path), env={"BREAKGLASS_AUDIT_LOG_KEY": KEY.decode()})
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[:2] == [
        "8/9 records valid",
        f"INVALID: sequence gap (expected 3, found 4) at {path.name}:3",
    ]
    anchored = cli(
        "verify", str(log_dir), "--key-file", str(key_file), "--anchor", f"10:{chain[-1]['mac']}"
    )
    assert anchored.returncode == 1


async def test_cli_verify_with_the_wrong_key_says_so(chain, log_dir):
    out = cli("verify", str(log_dir), env={"OTHER_KEY": "x" * 32})
    assert out.returncode == 2 and "no audit log key" in out.stderr
    wrong = cli("verify", str(log_dir), "--key-env", "OTHER_KEY", env={"OTHER_KEY": "x" * 32})
    assert wrong.returncode == 1
    assert "0/10 records valid" in wrong.stdout
    assert "hint: every MAC fails; is $OTHER_KEY the key that wrote this log?" in wrong.stdout


async def test_cli_verify_uses_the_config_key_and_dir(chain, log_dir, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    config = tmp_path / "breakglass.yaml"
    config.write_text(f"audit_log: {{dir: {log_dir}, key_file: {key_file}}}\n")
    out = cli("verify", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{log_dir}: 10/10 records valid")


def test_cli_verify_without_files_is_an_input_error(tmp_path):
    out = cli("verify", str(tmp_path), env={"BREAKGLASS_AUDIT_LOG_KEY": KEY.decode()})
    assert out.returncode == 2 and "no audit log files" in out.stderr


def test_audit_help_has_examples():
    for args in (("--help",), ("verify", "--help"), ("show", "--help")):
        out = cli(*args)
        assert out.returncode == 0
    assert "example" in cli("--help").stdout


async def test_cli_verify_each_checks_one_chain_per_replica(tmp_path, clock, make_event):
    replicas = []
    for name in ("replica-0", "replica-1"):
        log = AuditLog(tmp_path / name, key=KEY, clock=clock)
        await log.open()
        try:
            replicas.append((tmp_path / name, await fill(log, 4, make_event)))
        finally:
            await log.close()
    env = {"BREAKGLASS_AUDIT_LOG_KEY": KEY.decode()}
    dirs = [str(d) for d, _ in replicas]
    merged = cli("verify", *dirs, env=env)
    assert merged.returncode == 1  # two chains read as one: seq restarts at 1
    head_of_1 = f"4:{replicas[1][1][-1]['mac']}"
    each = cli("verify", "--each", *dirs, "--anchor", head_of_1, env=env)
    assert each.returncode == 0, each.stdout + each.stderr
    assert each.stdout.splitlines() == [
        f"{d}: 4/4 records valid, head 4:{records[-1]['mac']} (1 file(s))"
        for d, records in replicas
    ]
    path, lines = lines_of(replicas[0][0])
    del lines[1]
    path.write_bytes(b"".join(lines))
    broken = cli("verify", "--each", *dirs, "--anchor", "4:" + "0" * 64, env=env)
    assert broken.returncode == 1
    assert "  INVALID: sequence gap (expected 2, found 3)" in broken.stdout
    assert f"anchor 4:{'0' * 64} is in none of these chains" in broken.stdout

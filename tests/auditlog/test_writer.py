"""The writer: contiguous seq, durable appends, rotation that continues the chain, resume."""

from __future__ import annotations

import asyncio
import json
import os
import threading

import pytest

from breakglass.auditlog import GENESIS, AuditLog, ChainHead, EventType, from_capture, records
from breakglass.auditlog import writer as writer_module
from breakglass.auditlog.verify import verify
from breakglass.auditlog.writer import log_files
from breakglass.errors import AuditLogCorrupt, AuditLogError
from tests import payloads as p
from tests.auditlog.conftest import KEY, capture_of, fill


async def test_records_chain_from_genesis_with_every_field(audit_log, make_event, log_dir):
    first, second = await fill(audit_log, 2, make_event)
    assert first["seq"] == 1 and first["prev"] == GENESIS
    assert second["seq"] == 2 and second["prev"] == first["mac"]
    assert set(first) == records.FIELDS
    assert first["actor"] == {
        "user": "alice",
        "groups": ["oncall", "system:authenticated"],
        "impersonator": None,
        "source_ips": [],
        "user_agent": None,
    }
    assert first["object"] == {"kind": "Deployment", "namespace": "payments", "name": "checkout"}
    assert first["summary"]["paths"] == ["spec.replicas"]
    assert first["outcome"] == "provisional" and first["type"] == "capture"
    assert audit_log.head == ChainHead(2, second["mac"])
    [path] = log_files(log_dir)
    lines = path.read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [first, second]
    assert lines[0] == records.canonical(first)
    assert verify([log_dir], key=KEY).ok


def test_the_mac_is_hmac_sha256_of_the_canonical_json_of_the_rest():
    import hashlib
    import hmac

    event = records.Event(type=EventType.DISCARD, capture_id="c1", outcome="discarded")
    from datetime import UTC, datetime

    record = records.seal(
        event, seq=7, time=datetime(2026, 1, 2, tzinfo=UTC), prev="ab" * 32, key=KEY
    )
    rest = {k: v for k, v in record.items() if k != "mac"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record["mac"] == hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


def test_summaries_hold_paths_never_values(policy, now):
    old = p.secret(value="old-value")
    new = p.secret(value=p.CANARY)
    new["stringData"] = {"token": p.CANARY}
    review = p.review(operation="UPDATE", obj=new, old=old)
    from breakglass.capture import admission

    capture = admission.decide(review["request"], policy=policy, now=now)
    record = records.seal(
        from_capture(capture, EventType.CAPTURE), seq=1, time=now, prev=GENESIS, key=KEY
    )
    text = records.line(record).decode()
    assert "data.password" in record["summary"]["paths"]
    assert "stringData.token" in record["summary"]["paths"]
    assert p.CANARY not in text and "<redacted:" not in text


def test_hostile_strings_are_bounded_and_valid_utf8(now):
    from breakglass import model

    actor = model.Actor(
        username="x" * 100_000 + "\ud800", groups=tuple(f"g{i}" for i in range(10_000))
    )
    event = records.Event(type=EventType.CAPTURE, capture_id="c", actor=actor)
    line = records.line(records.seal(event, seq=1, time=now, prev=GENESIS, key=KEY))
    assert len(line) < 10_000
    line.decode("utf-8")


async def test_rotation_by_size_continues_the_chain(log_dir, clock, make_event):
    log = AuditLog(log_dir, key=KEY, max_bytes=2_000, clock=clock)
    await log.open()
    try:
        written = await fill(log, 30, make_event)
    finally:
        await log.close()
    files = log_files(log_dir)
    assert len(files) > 3
    assert all(f.stat().st_size <= 2_000 for f in files)
    assert [f.name for f in files][:2] == ["audit-20261126-0001.jsonl", "audit-20261126-0002.jsonl"]
    second_first = json.loads(files[1].read_bytes().splitlines()[0])
    last_of_first = json.loads(files[0].read_bytes().splitlines()[-1])
    assert second_first["prev"] == last_of_first["mac"]
    assert second_first["seq"] == last_of_first["seq"] + 1
    report = verify([log_dir], key=KEY)
    assert report.ok and report.total == 30 and report.head.mac == written[-1]["mac"]


async def test_rotation_by_utc_day(log_dir, clock, make_event):
    log = AuditLog(log_dir, key=KEY, clock=clock)
    await log.open()
    try:
        await fill(log, 2, make_event)
        clock.advance(days=1)
        await fill(log, 2, make_event)
        clock.advance(days=-1)  # a clock that steps back still gets a new, later file
        await fill(log, 1, make_event)
    finally:
        await log.close()
    names = [f.name for f in log_files(log_dir)]
    assert names == [
        "audit-20261126-0001.jsonl",
        "audit-20261127-0002.jsonl",
        "audit-20261126-0003.jsonl",
    ]
    assert verify([log_dir], key=KEY).ok


async def test_no_daily_rotation_when_disabled(log_dir, clock, make_event):
    log = AuditLog(log_dir, key=KEY, clock=clock, rotate_daily=False)
    await log.open()
    await fill(log, 1, make_event)
    clock.advance(days=3)
    await fill(log, 1, make_event)
    await log.close()
    assert len(log_files(log_dir)) == 1


async def test_restart_resumes_seq_and_prev(log_dir, clock, make_event):
    log = AuditLog(log_dir, key=KEY, clock=clock)
    await log.open()
    await fill(log, 5, make_event)
    head = log.head
    await log.close()
    again = AuditLog(log_dir, key=KEY, clock=clock)
    await again.open()
    assert again.head == head
    record = await again.append(make_event(EventType.PR_OPENED))
    await again.close()
    assert record["seq"] == 6 and record["prev"] == head.mac
    report = verify([log_dir], key=KEY)
    assert report.ok and report.total == 6


async def test_resume_skips_an_empty_newest_file(log_dir, clock, make_event):
    log = AuditLog(log_dir, key=KEY, clock=clock)
    await log.open()
    await fill(log, 3, make_event)
    await log.close()
    (log_dir / "audit-20261126-0002.jsonl").touch()
    again = AuditLog(log_dir, key=KEY, clock=clock)
    await again.open()
    assert again.head.seq == 3
    await again.append(make_event())
    await again.close()
    assert verify([log_dir], key=KEY).ok


async def test_many_concurrent_appends_get_contiguous_seq(audit_log, make_event, log_dir):
    events = [make_event() for _ in range(20)]
    results = await asyncio.gather(*(audit_log.append(events[i % 20]) for i in range(300)))
    batches = await asyncio.gather(*(audit_log.append_many(events[:5]) for _ in range(20)))
    seqs = [r["seq"] for r in results] + [r["seq"] for b in batches for r in b]
    assert sorted(seqs) == list(range(1, 401))
    for batch in batches:  # a batch is contiguous and in order
        assert [r["seq"] for r in batch] == list(range(batch[0]["seq"], batch[0]["seq"] + 5))
    report = verify([log_dir], key=KEY)
    assert report.ok and report.total == 400


async def test_appends_from_several_threads_and_loops(audit_log, make_event, log_dir):
    seqs: list[int] = []
    event = make_event()
    main_loop = asyncio.get_running_loop()

    def worker() -> None:
        for _ in range(25):
            future = audit_log.submit([event])
            seqs.append(future.result()[0]["seq"])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    await main_loop.run_in_executor(None, lambda: [t.start() for t in threads])
    own = await asyncio.gather(*(audit_log.append(event) for _ in range(50)))
    await main_loop.run_in_executor(None, lambda: [t.join() for t in threads])
    assert sorted(seqs + [r["seq"] for r in own]) == list(range(1, 151))
    assert verify([log_dir], key=KEY).ok


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:-10], "partial line"),
        (lambda b: b"merged".join(b.rsplit(b"provisional", 1)), "fails its MAC"),
        (lambda b: b[:-1] + b"]\n", "unreadable"),
    ],
)
async def test_a_corrupt_tail_is_refused(log_dir, clock, make_event, damage, message):
    log = AuditLog(log_dir, key=KEY, clock=clock)
    await log.open()
    await fill(log, 3, make_event)
    await log.close()
    [path] = log_files(log_dir)
    path.write_bytes(damage(path.read_bytes()))
    again = AuditLog(log_dir, key=KEY, clock=clock)
    with pytest.raises(AuditLogCorrupt, match=message) as info:
        await again.open()
    assert "breakglass audit verify" in (info.value.hint or "")
    with pytest.raises(AuditLogError, match="not open"):
        again.submit([make_event()])
    await again.close()


async def test_a_different_key_is_refused(log_dir, clock, make_event):
    log = AuditLog(log_dir, key=KEY, clock=clock)
    await log.open()
    await fill(log, 1, make_event)
    await log.close()
    other = AuditLog(log_dir, key=b"another-key-another-key", clock=clock)
    with pytest.raises(AuditLogCorrupt, match="different key"):
        await other.open()
    await other.close()


async def test_one_writer_per_directory(audit_log, log_dir):
    second = AuditLog(log_dir, key=KEY)
    with pytest.raises(AuditLogError, match="in use by another process"):
        await second.open()
    await second.close()


async def test_a_failed_write_leaves_the_chain_intact(audit_log, make_event, log_dir, monkeypatch):
    await fill(audit_log, 2, make_event)
    real = os.fsync
    calls = {"n": 0}

    def failing(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(writer_module.os, "fsync", failing)
    with pytest.raises(AuditLogError, match="No space left"):
        await audit_log.append(make_event())
    assert audit_log.head.seq == 2
    record = await audit_log.append(make_event())
    assert record["seq"] == 3
    report = verify([log_dir], key=KEY)
    assert report.ok and report.total == 3


def test_chain_head_round_trips_through_its_trailer():
    head = ChainHead(124, "ab" * 32)
    assert head.trailer() == f"Breakglass-Audit-Head: 124:{'ab' * 32}"
    assert ChainHead.parse(str(head)) == head
    for bad in ("124", "x:" + "ab" * 32, "1:abc", "1:" + "zz" * 32):
        with pytest.raises(ValueError):
            ChainHead.parse(bad)


async def test_capture_of_helper_uses_namespace(policy, now):
    assert capture_of(policy, now, namespace="web").object.namespace == "web"

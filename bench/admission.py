"""Admission throughput and latency: breakglass vs. the ceiling vs. kopf, side by side.

    python -m bench admission [--sizes 14,27,170] [--concurrency 1,16,64]
                              [--requests 3000] [--seconds 6] [--warmup 200]

Three servers run at once, each in its own process on loopback HTTPS with a self-signed pair:

- ``breakglass``: ``breakglass serve`` as deployed (SQLite journal with ``synchronous=FULL``,
  the HMAC-chained audit log, the backfill worker running);
- ``ceiling``: ``bench/_ceiling.py``, a minimal aiohttp handler in the same TLS set-up that
  parses the review and allows it;
- ``kopf``: ``bench/_kopf_peer.py``, kopf's ``WebhookServer`` and admission pipeline with one
  validating handler that allows everything.

For every size and concurrency the targets are measured in interleaved rounds (``--rounds``,
each target in turn, ``--seconds / --rounds`` each; the round with the median req/s is
reported), so the ratios compare targets under the same machine state even though this machine
is shared and absolute numbers drift.  The server's CPU time per request (``/proc/PID/stat``,
all threads) is reported too: it moves much less than req/s when the machine is busy.
``breakglass`` gets a human's Deployment UPDATE (captured: journal insert + fsync and
audit-log fsync before the answer); ``filtered`` is the same review sent by Argo CD's
service account (skipped); ``dry-run`` (27 KiB only) is a server-side dry run by the
human.  Every request has a fresh ``uid``, so none is a replay.  Load: see
``bench/common.py`` (wrk, one connection per concurrent client, keep-alive).
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench import _payloads
from bench.common import (
    Load,
    Server,
    breakglass_process,
    load,
    ratio,
    rss_mib,
    script_server,
    table,
    write_result,
)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def check(server: Server, body: bytes, *, expect_capture: bool | None) -> None:
    """One request by hand: the answer must allow the uid we sent (and capture when expected)."""
    uid = "check-" + server.name
    request = urllib.request.Request(
        f"{server.url}/validate",
        data=body.replace(b"@@ID@@", uid.encode()),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=server.ctx, timeout=10) as resp:
        answer = orjson.loads(resp.read())["response"]
    assert answer["uid"] == uid, answer
    assert answer["allowed"] is True, answer
    if expect_capture is not None:
        captured = "capture-id" in (answer.get("auditAnnotations") or {})
        assert captured == expect_capture, answer


def journal_rows(server: Server) -> int:
    assert server.state is not None
    with contextlib.closing(sqlite3.connect(server.state / "journal.db")) as conn:
        return int(conn.execute("SELECT count(*) FROM captures").fetchone()[0])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench admission")
    parser.add_argument("--sizes", type=_ints, default=list(_payloads.SIZES_KIB))
    parser.add_argument("--concurrency", type=_ints, default=[1, 16, 64])
    parser.add_argument("--requests", type=int, default=6000, help="per target and cell, at most")
    parser.add_argument("--seconds", type=float, default=6.0, help="per target and cell")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell")
    parser.add_argument("--warmup", type=int, default=200, help="requests before each cell")
    parser.add_argument("--no-kopf", action="store_true", help="skip the kopf peer")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also run breakglass from this source tree (target 'baseline'), e.g. "
        "`git archive HEAD breakglass | tar -x -C DIR` for before/after in one run",
    )
    parser.add_argument("--name", default="admission", help="result file name")
    args = parser.parse_args(argv)

    bodies: dict[tuple[str, int], bytes] = {}
    for kib in args.sizes:
        bodies[("captured", kib)] = _payloads.admission_body(kib)
        bodies[("controller", kib)] = _payloads.admission_body(kib, filtered="controller")
    dry_kib = 27 if 27 in args.sizes else args.sizes[0]
    bodies[("dry-run", dry_kib)] = _payloads.admission_body(dry_kib, filtered="dry-run")

    results: list[dict[str, Any]] = []
    memory: dict[str, Any] = {}
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        bg = stack.enter_context(breakglass_process())
        ceiling = stack.enter_context(script_server("ceiling", "bench._ceiling"))
        kopf = (
            None if args.no_kopf else stack.enter_context(script_server("kopf", "bench._kopf_peer"))
        )
        baseline = (
            None
            if args.baseline_src is None
            else stack.enter_context(breakglass_process(src=args.baseline_src, name="baseline"))
        )
        time.sleep(1.0)
        memory["idle"] = rss_mib(bg.pid)
        kib0 = args.sizes[0]
        check(bg, bodies[("captured", kib0)], expect_capture=True)
        check(bg, bodies[("controller", kib0)], expect_capture=False)
        check(bg, bodies[("dry-run", dry_kib)], expect_capture=False)
        check(ceiling, bodies[("captured", kib0)], expect_capture=None)
        if kopf is not None:
            check(kopf, bodies[("captured", kib0)], expect_capture=None)
        rows_before = journal_rows(bg)
        captured_requests = 0

        targets: list[tuple[str, Server, str]] = [
            ("ceiling", ceiling, "captured"),
            ("breakglass", bg, "captured"),
            ("filtered", bg, "controller"),
        ]
        if kopf is not None:
            targets.append(("kopf", kopf, "captured"))
        if baseline is not None:
            targets.append(("baseline", baseline, "captured"))
            targets.append(("baseline-filtered", baseline, "controller"))
        for kib in args.sizes:
            for conc in args.concurrency:
                cell = [*targets]
                if kib == dry_kib and conc == sorted(args.concurrency)[len(args.concurrency) // 2]:
                    cell.append(("dry-run", bg, "dry-run"))
                rounds: dict[str, list[Load]] = {label: [] for label, _, _ in cell}
                for label, server, case in cell:
                    if args.warmup:
                        warm = load(
                            f"{server.url}/validate",
                            bodies[(case, kib)],
                            concurrency=conc,
                            requests=args.warmup,
                            seconds=1,
                        )
                        if label == "breakglass":
                            captured_requests += warm.requests
                for _ in range(args.rounds):
                    for label, server, case in cell:
                        got = load(
                            f"{server.url}/validate",
                            bodies[(case, kib)],
                            concurrency=conc,
                            requests=args.requests // args.rounds,
                            seconds=args.seconds / args.rounds,
                            server_pid=server.pid,
                        )
                        rounds[label].append(got)
                        if label == "breakglass":
                            captured_requests += got.requests
                for label, runs in rounds.items():
                    got = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
                    row = {
                        "target": label,
                        "kib": kib,
                        "concurrency": conc,
                        **got.as_dict(),
                        "rounds_rps": [round(r.rps, 1) for r in runs],
                    }
                    results.append(row)
                    print(
                        f"  {label:<10} {kib:>4} KiB c={conc:<3} {got.rps:8.1f} req/s "
                        f"p50 {got.p50_ms:7.2f} p99 {got.p99_ms:7.2f} ms "
                        f"cpu/req {row['server_cpu_ms_per_req']:.2f} ms errors {got.errors}",
                        flush=True,
                    )
        memory["after_load"] = rss_mib(bg.pid)
        stored = journal_rows(bg) - rows_before
        if kopf is not None:
            memory["kopf_after_load"] = rss_mib(kopf.pid)
        memory["ceiling_after_load"] = rss_mib(ceiling.pid)
        if baseline is not None:
            memory["baseline_after_load"] = rss_mib(baseline.pid)

    summary = summarise(results)
    print()
    print(report(results, summary, memory))
    path = write_result(
        args.name,
        {
            "parameters": {
                "baseline_src": str(args.baseline_src) if args.baseline_src else None,
                "sizes_kib": args.sizes,
                "concurrency": args.concurrency,
                "requests": args.requests,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "warmup": args.warmup,
                "body_bytes": {f"{c}-{k}": len(b) for (c, k), b in bodies.items()},
            },
            "results": results,
            "ratios": summary,
            "memory_mib": memory,
            "captures_stored": stored,
            "captured_requests": captured_requests,
            "wall_s": round(time.monotonic() - started, 1),
        },
    )
    print(f"\ncaptures stored: {stored} for {captured_requests} captured requests")
    print(f"wrote {path}")
    return 0


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["target"], r["kib"], r["concurrency"]): r for r in results}
    out = []
    for (target, kib, conc), row in by.items():
        if target != "breakglass":
            continue
        ceiling = by.get(("ceiling", kib, conc))
        kopf = by.get(("kopf", kib, conc))
        filtered = by.get(("filtered", kib, conc))
        dry = by.get(("dry-run", kib, conc))
        base = by.get(("baseline", kib, conc))
        base_f = by.get(("baseline-filtered", kib, conc))
        out.append(
            {
                "kib": kib,
                "concurrency": conc,
                "breakglass_vs_ceiling": ratio(row["rps"], ceiling["rps"]) if ceiling else None,
                "breakglass_vs_kopf": ratio(row["rps"], kopf["rps"]) if kopf else None,
                "filtered_vs_ceiling": (
                    ratio(filtered["rps"], ceiling["rps"]) if filtered and ceiling else None
                ),
                "dry_run_vs_ceiling": ratio(dry["rps"], ceiling["rps"])
                if dry and ceiling
                else None,
                "breakglass_p99_ms": row["p99_ms"],
                "breakglass_vs_baseline": ratio(row["rps"], base["rps"]) if base else None,
                "filtered_vs_baseline_filtered": (
                    ratio(filtered["rps"], base_f["rps"]) if filtered and base_f else None
                ),
            }
        )
    return out


def report(
    results: list[dict[str, Any]], summary: list[dict[str, Any]], memory: dict[str, Any]
) -> str:
    lines = [
        table(
            [
                "target",
                "KiB",
                "conc",
                "req/s",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "CPU ms/req",
                "errors",
            ],
            [
                [
                    r["target"],
                    r["kib"],
                    r["concurrency"],
                    r["rps"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["p999_ms"],
                    r["server_cpu_ms_per_req"],
                    r["errors"],
                ]
                for r in results
            ],
        ),
        "",
        table(
            [
                "KiB",
                "conc",
                "bg/ceiling",
                "bg/kopf",
                "filtered/ceiling",
                "dry-run/ceiling",
                "bg p99 ms",
                "bg/before",
                "filtered/before",
            ],
            [
                [
                    s["kib"],
                    s["concurrency"],
                    _r(s["breakglass_vs_ceiling"]),
                    _r(s["breakglass_vs_kopf"]),
                    _r(s["filtered_vs_ceiling"]),
                    _r(s["dry_run_vs_ceiling"]),
                    s["breakglass_p99_ms"],
                    _r(s["breakglass_vs_baseline"]),
                    _r(s["filtered_vs_baseline_filtered"]),
                ]
                for s in summary
            ],
        ),
        "",
        f"breakglass RSS MiB: idle {memory['idle']['rss_mib']}, after load "
        f"{memory['after_load']['rss_mib']} (peak {memory['after_load']['peak_rss_mib']})",
    ]
    return "\n".join(lines)


def _r(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"

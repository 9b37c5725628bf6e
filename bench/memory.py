"""Memory: resident set size of ``breakglass serve`` idle, and under admission and audit load.

    python -m bench memory [--seconds 10]

RSS is read from ``/proc/PID/status`` (``VmRSS`` now, ``VmHWM`` peak).  The load is the
admission benchmark's worst case for memory (64 concurrent 170 KiB reviews, all captured),
then 64 concurrent 27 KiB reviews, then audit batches of 400 events from 4 clients.  The
target is RSS ≤ 150 MB under load.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench import _payloads
from bench.common import breakglass_process, load, rss_mib, table, write_result

TARGET_MB = 150


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench memory")
    parser.add_argument("--seconds", type=float, default=10.0, help="per load phase")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--name", default="memory")
    parser.add_argument(
        "--src", type=Path, help="run breakglass from this source tree (what-if comparisons)"
    )
    args = parser.parse_args(argv)
    rows = []
    with breakglass_process(src=args.src) as bg:
        time.sleep(1.0)
        rows.append({"phase": "idle", "requests": 0, **rss_mib(bg.pid)})
        for kib in (170, 27):
            body = _payloads.admission_body(kib)
            got = load(
                f"{bg.url}/validate",
                body,
                concurrency=args.concurrency,
                requests=10**9,
                seconds=args.seconds,
            )
            rows.append(
                {
                    "phase": f"admission {kib} KiB c={args.concurrency}",
                    "requests": got.requests,
                    **rss_mib(bg.pid),
                }
            )
        events, _ = _payloads.event_list(400)
        got = load(
            f"{bg.url}/audit",
            events,
            concurrency=4,
            requests=10**9,
            seconds=args.seconds,
            authorization="Bearer bench",
        )
        rows.append({"phase": "audit 400 events c=4", "requests": got.requests, **rss_mib(bg.pid)})
        time.sleep(2.0)
        rows.append({"phase": "idle again", "requests": 0, **rss_mib(bg.pid)})
    peak = max(r["peak_rss_mib"] for r in rows)
    print(
        table(
            ["phase", "requests", "RSS MiB", "peak RSS MiB"],
            [[r["phase"], r["requests"], r["rss_mib"], r["peak_rss_mib"]] for r in rows],
        )
    )
    peak_mb = peak * 1.048576
    verdict = "met" if peak_mb <= TARGET_MB else "missed"
    print(f"peak {peak_mb:.0f} MB vs target {TARGET_MB} MB: {verdict}")
    path = write_result(
        args.name,
        {
            "parameters": {
                "seconds": args.seconds,
                "concurrency": args.concurrency,
                "src": str(args.src) if args.src else None,
            },
            "results": rows,
            "peak_mb": round(peak_mb, 1),
            "target_mb": TARGET_MB,
        },
    )
    print(f"wrote {path}")
    return 0

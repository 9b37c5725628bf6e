"""Sequential ``/validate`` latency: one client, keep-alive HTTPS, durable SQLite journal.

Measures the time kubectl's request spends in breakglass for a captured change (journal fsync
included) and for a request breakglass filters out (dry-run), side by side in the same run.
Load comes from this process over loopback (an aiohttp client); the server is a separate
``breakglass serve`` process, as in production.

    python -m bench validate_latency [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import aiohttp

from bench.common import breakglass_server, percentile, write_result
from tests import payloads as p


async def run(url: str, ctx: Any, calls: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=1)) as s:
        for case in ("captured", "filtered"):
            times: list[float] = []
            for i in range(calls + 20):
                review = p.review(
                    operation="UPDATE",
                    obj=p.deployment(name=f"app-{i}", replicas=5),
                    old=p.deployment(name=f"app-{i}"),
                    uid=str(uuid.uuid4()),
                    dry_run=case == "filtered",
                )
                started = time.perf_counter()
                async with s.post(f"{url}/validate", json=review) as resp:
                    await resp.read()
                if i >= 20:  # warm-up excluded
                    times.append(time.perf_counter() - started)
            out[case] = {
                "p50_ms": percentile(times, 50) * 1000,
                "p99_ms": percentile(times, 99) * 1000,
                "max_ms": max(times) * 1000,
            }
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench validate_latency")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args(argv)
    with breakglass_server() as (url, ctx, _):
        numbers = asyncio.run(run(url, ctx, args.calls))
    print(f"/validate, {args.calls} sequential calls, ~{len(str(p.deployment())) // 1024 + 1} KiB")
    print(f"{'case':<10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for case, row in numbers.items():
        print(f"{case:<10} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['max_ms']:8.2f}")
    ratio = numbers["captured"]["p50_ms"] / numbers["filtered"]["p50_ms"]
    print(f"captured/filtered p50 ratio: {ratio:.2f}")
    path = write_result(
        "validate_latency", {"parameters": {"calls": args.calls}, "results": numbers}
    )
    print(f"wrote {path}")
    return 0

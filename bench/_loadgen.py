"""Fallback load generator when ``wrk`` is not installed: an asyncio aiohttp client process.

    python bench/_loadgen.py URL TEMPLATE PREFIX CONCURRENCY REQUESTS SECONDS [AUTHORIZATION]

Same contract as ``bench/_wrk.lua``: ``@@ID@@`` in the template becomes a unique id per request,
keep-alive connections (one per concurrent worker), TLS without verification (loopback only),
one JSON line of results on stdout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from pathlib import Path

import aiohttp


async def main(argv: list[str]) -> None:
    url, template_file, prefix, conc, limit, seconds = argv[:6]
    auth = argv[6] if len(argv) > 6 else ""
    template = Path(template_file).read_bytes()  # noqa: ASYNC240 - before any load
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    counter = itertools.count(1)
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + float(seconds)
    connector = aiohttp.TCPConnector(ssl=False, limit=int(conc))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < stop_at:
                n = next(counter)
                if n > int(limit):
                    return
                body = template.replace(b"@@ID@@", f"{prefix}-{n}".encode())
                started = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status >= 400:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(int(conc))))
        duration = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> int:
        if not latencies:
            return 0
        return int(latencies[min(len(latencies) - 1, round(q / 100 * (len(latencies) - 1)))] * 1e6)

    print(
        json.dumps(
            {
                "requests": len(latencies),
                "duration_us": int(duration * 1e6),
                "errors": errors,
                "p50_us": pct(50),
                "p99_us": pct(99),
                "p999_us": pct(99.9),
                "max_us": int(latencies[-1] * 1e6) if latencies else 0,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

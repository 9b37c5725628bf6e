"""Journal back-ends: insert latency and throughput of SQLite and PostgreSQL in the same run.

    python -m bench journal [--inserts 2000] [--concurrency 1,16,64] [--rounds 3]

What ``/validate`` waits for before it answers: ``Journal.insert`` until the commit holding the
capture is durable.  Both journals run in this process, as in ``breakglass serve``, on the same
disk: SQLite in WAL mode with ``synchronous=FULL`` in a temporary directory, and PostgreSQL
(``synchronous_commit=on``) on a throw-away local server started with ``fsync=on`` by
``tests/journal_servers.py`` (as an unprivileged user when run as root), reached over loopback
TCP.  Without PostgreSQL's server binaries only SQLite is measured, and the run says so.

Each cell inserts ``--inserts`` distinct captures (every AdmissionReview uid new, so nothing is
a replay) from ``concurrency`` tasks at once, as concurrent webhook requests do; concurrent
inserts are group-committed by both journals.  Cells run in ``--rounds`` interleaved rounds
(SQLite, PostgreSQL, SQLite, …) so both see the same machine load; the median round is shown.
The captures are built before the clock starts.  The PostgreSQL server shares the CPU with this
process, which a networked server would not: its numbers include the server's own CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.common import percentile, ratio, table, write_result
from breakglass import model, settings
from breakglass.capture import admission
from breakglass.capture.redact import Redactor
from breakglass.journal import Journal, open_journal
from tests import payloads as p


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def captures(count: int) -> list[model.Capture]:
    policy = admission.Policy(
        cluster="bench",
        actors=settings.ActorSettings(),
        redactor=Redactor(salt=b"bench", key_patterns=()),
        record_only=settings.DEFAULT_RECORD_ONLY,
    )
    now = model.utcnow()
    out = []
    for i in range(count):
        review = p.review(
            operation="UPDATE",
            obj=p.deployment(name=f"app-{i % 500}", replicas=5),
            old=p.deployment(name=f"app-{i % 500}"),
            uid=str(uuid.uuid4()),
        )
        c = admission.decide(review["request"], policy=policy, now=now)
        assert isinstance(c, model.Capture)
        out.append(c)
    return out


async def cell(journal: Journal, batch: list[model.Capture], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    todo = iter(batch)

    async def client() -> None:
        for c in todo:
            started = time.perf_counter()
            result = await journal.insert(c)
            latencies.append(time.perf_counter() - started)
            assert result.created

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "inserts_per_s": len(batch) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str, str] | str]:
    """(URL, password) of a fresh database on a throw-away server, or why there is none."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        yield "the PostgreSQL driver is missing: pip install 'breakglass[postgresql]'"
        return
    from tests.journal_servers import INSTALL_HINT, find_bindir, postgres_server

    bindir = find_bindir()
    if bindir is None:
        yield INSTALL_HINT
        return
    with postgres_server(bindir) as server:
        yield server.create_database("bench"), server.password


async def measure(
    targets: dict[str, tuple[str, str | None]], inserts: int, conc: list[int], rounds: int
) -> list[dict[str, Any]]:
    journals: dict[str, Journal] = {}
    for name, (url, password) in targets.items():
        journals[name] = open_journal(url, password=password)
        await journals[name].open()
    try:
        for j in journals.values():  # warm-up: connections, caches, the table's first pages
            await cell(j, captures(50), 4)
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for round_ in range(rounds):
            for c in conc:
                for name, j in journals.items():
                    got = await cell(j, captures(inserts), c)
                    runs.setdefault((name, c), []).append(got)
                    print(
                        f"  round {round_ + 1} {name:<10} c={c:<3} "
                        f"{got['inserts_per_s']:8.0f} inserts/s  p50 {got['p50_ms']:6.2f} ms"
                        f"  p99 {got['p99_ms']:6.2f} ms",
                        flush=True,
                    )
    finally:
        for j in journals.values():
            await j.close()
    rows = []
    for (name, c), cells in runs.items():
        by_rate = sorted(cells, key=lambda r: r["inserts_per_s"])
        median = by_rate[len(by_rate) // 2]
        rows.append(
            {
                "journal": name,
                "concurrency": c,
                **{k: round(v, 3) for k, v in median.items()},
                "rounds_inserts_per_s": [round(r["inserts_per_s"]) for r in cells],
            }
        )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench journal")
    parser.add_argument("--inserts", type=int, default=2000, help="inserts per cell")
    parser.add_argument("--concurrency", type=_ints, default=[1, 16, 64])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    size = len(orjson.dumps(captures(1)[0].to_json()))
    with tempfile.TemporaryDirectory(prefix="bg-bench-journal-") as tmp, postgres() as pg:
        targets: dict[str, tuple[str, str | None]] = {
            "sqlite": (f"sqlite:///{Path(tmp) / 'journal.db'}", None)
        }
        if isinstance(pg, str):
            print(f"PostgreSQL not measured: {pg}", flush=True)
        else:
            targets["postgresql"] = pg
        rows = asyncio.run(measure(targets, args.inserts, args.concurrency, args.rounds))
    print()
    print(f"Journal inserts, {args.inserts} per cell, capture JSON {size} bytes")
    print(
        table(
            ["journal", "conc", "inserts/s", "p50 ms", "p99 ms", "max ms"],
            [
                [
                    r["journal"],
                    r["concurrency"],
                    r["inserts_per_s"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["max_ms"],
                ]
                for r in rows
            ],
        )
    )
    ratios: dict[str, dict[str, float]] = {}
    for c in args.concurrency:
        by = {r["journal"]: r for r in rows if r["concurrency"] == c}
        if "postgresql" in by:
            ratios[str(c)] = {
                "throughput": ratio(
                    by["postgresql"]["inserts_per_s"], by["sqlite"]["inserts_per_s"]
                ),
                "p50": ratio(by["postgresql"]["p50_ms"], by["sqlite"]["p50_ms"]),
                "p99": ratio(by["postgresql"]["p99_ms"], by["sqlite"]["p99_ms"]),
            }
    for c, r in ratios.items():
        print(
            f"postgresql / sqlite at c={c}: throughput {r['throughput']:.2f}x, "
            f"p50 latency {r['p50']:.2f}x, p99 latency {r['p99']:.2f}x"
        )
    if ratios:
        print(
            "median throughput ratio over all concurrencies: "
            f"{statistics.median(r['throughput'] for r in ratios.values()):.2f}"
        )
    path = write_result(
        "journal",
        {
            "parameters": {
                "inserts": args.inserts,
                "concurrency": args.concurrency,
                "rounds": args.rounds,
                "capture_bytes": size,
                "postgresql": not isinstance(pg, str),
            },
            "results": rows,
            "postgresql_vs_sqlite": ratios,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))

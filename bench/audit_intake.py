"""Audit intake: sustained events/s and batch acknowledgement time of ``POST /audit``.

    python -m bench audit_intake [--events 400] [--concurrency 1,4] [--seconds 10]

The API server's audit webhook backend sends EventLists of up to 400 events (default throttle:
10 batches/s, bursts of 15, so up to about 4,000 events/s) and retries a batch that is not
acknowledged.  Each batch here is 400 events cycled from the recorded fixtures (what a real
kube-apiserver sent in the end-to-end tests: Argo CD's syncs, which breakglass skips, and a
human's edits, which become audit-only captures in the journal), every audit ID unique.
breakglass answers 200 only after the batch's journal transaction (fsync) and its audit-log
records (fsync).  The same batches go to the ceiling server's ``/audit`` (parse and answer
200) in the same run for a reference.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from bench import _payloads
from bench.common import (
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench audit_intake")
    parser.add_argument("--events", type=int, default=400, help="events per batch")
    parser.add_argument("--concurrency", type=_ints, default=[1, 4])
    parser.add_argument("--requests", type=int, default=400, help="batches, at most")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--name", default="audit_intake")
    args = parser.parse_args(argv)
    body, mix = _payloads.event_list(args.events)
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        bg = stack.enter_context(breakglass_process())
        ceiling = stack.enter_context(script_server("ceiling", "bench._ceiling"))
        for conc in args.concurrency:
            for label, server, auth in (
                ("ceiling", ceiling, ""),
                ("breakglass", bg, "Bearer bench"),
            ):
                url = f"{server.url}/audit"
                load(url, body, concurrency=conc, requests=5, seconds=1, authorization=auth)
                got = load(
                    url,
                    body,
                    concurrency=conc,
                    requests=args.requests,
                    seconds=args.seconds,
                    authorization=auth,
                )
                rows.append(
                    {
                        "target": label,
                        "concurrency": conc,
                        "events_per_s": round(got.rps * args.events),
                        **got.as_dict(),
                    }
                )
                print(
                    f"  {label:<10} c={conc:<2} {got.rps * args.events:8.0f} events/s "
                    f"p99 ack {got.p99_ms:7.1f} ms errors {got.errors}",
                    flush=True,
                )
        memory = rss_mib(bg.pid)
    ratios = {}
    for conc in args.concurrency:
        by = {r["target"]: r for r in rows if r["concurrency"] == conc}
        ratios[str(conc)] = ratio(by["breakglass"]["rps"], by["ceiling"]["rps"])
    print()
    print(f"EventList: {args.events} events ({mix['human']} by humans), {len(body) // 1024} KiB")
    print(
        table(
            ["target", "conc", "events/s", "batches/s", "p50 ms", "p99 ms", "p99.9 ms", "errors"],
            [
                [
                    r["target"],
                    r["concurrency"],
                    r["events_per_s"],
                    r["rps"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["p999_ms"],
                    r["errors"],
                ]
                for r in rows
            ],
        )
    )
    print(f"breakglass/ceiling batches/s by concurrency: {ratios}; breakglass RSS {memory}")
    path = write_result(
        args.name,
        {
            "parameters": {
                "events_per_batch": args.events,
                "batch_bytes": len(body),
                "mix": mix,
                "concurrency": args.concurrency,
                "seconds": args.seconds,
            },
            "results": rows,
            "breakglass_vs_ceiling": ratios,
            "memory_mib": memory,
            "targets": {"events_per_s": 4000, "p99_ack_ms": 250},
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))

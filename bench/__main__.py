"""Entry point: ``python -m bench NAME [ARGS...]`` runs ``bench/NAME.py``'s ``main``.

``python -m bench all`` runs every benchmark with its default parameters, one after another,
each writing ``bench/results/NAME.json`` (about 50 minutes on a two-core machine).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

#: The order ``all`` runs them in: the quick ones first.
ORDER = (
    "validate_latency",
    "journal",
    "gitops_index",
    "terraform_mapping",
    "audit_intake",
    "memory",
    "capture_to_pr",
    "scan",
    "admission",
    "admission_under_backfill",
)


def available() -> list[str]:
    here = Path(__file__).parent
    names = {
        m.name
        for m in pkgutil.iter_modules([str(here)])
        if not m.name.startswith("_") and m.name != "common"
    }
    return sorted(names | {"all"})


def run(name: str, args: list[str]) -> int:
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(args) or 0)


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] not in names:
        print("usage: python -m bench NAME [ARGS...]\n\nbenchmarks:", file=sys.stderr)
        for name in names:
            print(f"  {name}", file=sys.stderr)
        return 2
    if argv[0] != "all":
        return run(argv[0], argv[1:])
    failed = []
    every = [n for n in ORDER if n in names] + [n for n in names if n not in ORDER and n != "all"]
    for name in every:
        started = time.monotonic()
        print(f"\n=== {name} ===", flush=True)
        try:
            code = run(name, [])
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            print(f"{name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
        if code:
            failed.append(name)
        print(f"=== {name}: {time.monotonic() - started:.0f} s ===", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

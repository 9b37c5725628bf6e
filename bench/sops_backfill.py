"""Benchmark: what writing a Secret SOPS-encrypted costs, against a plain in-place edit.

A change to a Secret that Git keeps encrypted is not spliced into the file: the engine rebuilds
the plaintext and runs the real ``sops`` to encrypt the whole file again (``gitops/sops.py``,
``sopsexec.py``).  This measures ``engine.backfill`` end to end for that path and, in the same
run, for the baseline every other backfill takes (a label change spliced into a plaintext
Secret), for Secrets of 3 and of 50 keys, and prints the ratio.  The subprocess dominates, so
the numbers say how much a SOPS backfill adds to a worker pass, not how fast Python is.

    python -m bench sops_backfill               # 40 runs per case
    python -m bench sops_backfill --runs 5

The ``sops`` binary comes from ``$BREAKGLASS_SOPS``, PATH, or ``tests/e2e/testbin.sh`` (which
builds it from its Go module and caches it).  No private key is involved: only encryption.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, percentile, table, write_result
from breakglass import sopsexec
from breakglass.gitops import engine, index, sops

#: An age recipient (public key) to encrypt for; nothing here ever decrypts.
RECIPIENT = "age1ncx9aqg6vgzyvyxlg7kgfqejsua60qxxg4n08h25jmfmlfapzg4skfpasv"


def sops_binary() -> str:
    found = sopsexec.find_binary()
    if found:
        return found
    done = subprocess.run(
        ["bash", str(ROOT / "tests" / "e2e" / "testbin.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("SOPS="):
            return line.split("=", 1)[1]
    raise SystemExit(f"no sops binary: set $BREAKGLASS_SOPS or install Go\n{done.stderr[-2000:]}")


def secret(keys: int, *, labels: dict[str, str], value: str = "v") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop", "labels": labels, "resourceVersion": "7"},
        "type": "Opaque",
        "data": {
            f"key{k:02d}": base64.b64encode(f"{value}-{k}".encode()).decode() for k in range(keys)
        },
    }


def manifest(keys: int) -> str:
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        "  name: db",
        "  namespace: shop",
        "  labels:",
        "    app: shop",
        "type: Opaque",
        "stringData:",
    ]
    lines += [f"  key{k:02d}: v-{k}" for k in range(keys)]
    return "\n".join(lines) + "\n"


def repo(root: Path, keys: int, binary: str, *, encrypted: bool) -> None:
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "db-secret.yaml").write_text(manifest(keys))
    if encrypted:
        (root / ".sops.yaml").write_text(
            f"creation_rules:\n  - encrypted_regex: ^(data|stringData)$\n    age: {RECIPIENT}\n"
        )
        subprocess.run(
            [binary, "--encrypt", "--in-place", "shop/db-secret.yaml"],
            cwd=root,
            env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
            check=True,
            capture_output=True,
        )


def measure(root: Path, keys: int, binary: str, runs: int, *, encrypted: bool) -> list[float]:
    idx = index.Index.build(root)
    old = secret(keys, labels={"app": "shop"})
    if encrypted:
        new = secret(keys, labels={"app": "shop"}, value="rotated")
    else:
        new = secret(keys, labels={"app": "shop", "on-call": "yes"})
    values = sops.values_of(new)
    secrets = sops.Secrets(values, sopsexec.Sops(root, binary, values))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = engine.backfill(idx, old, new, secrets=secrets)
        times.append((time.perf_counter() - started) * 1000)
        if not isinstance(result, engine.Changed):
            raise SystemExit(f"expected a change, got {result}")
    return times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sops_backfill")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--keys", type=int, nargs="+", default=[3, 50])
    args = parser.parse_args(argv)
    binary = sops_binary()
    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    for keys in args.keys:
        medians = {}
        for encrypted in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                repo(root, keys, binary, encrypted=encrypted)
                times = measure(root, keys, binary, args.runs, encrypted=encrypted)
            case = "sops re-encrypt" if encrypted else "plain splice"
            median = statistics.median(times)
            medians[encrypted] = median
            p95 = percentile(times, 95)
            rows.append([keys, case, median, p95, ""])
            results.append({"keys": keys, "case": case, "median_ms": median, "p95_ms": p95})
        ratio = medians[True] / medians[False]
        rows[-1][-1] = f"{ratio:.1f}x"
        results[-1]["ratio_to_plain"] = ratio
    print(table(["keys", "case", "median ms", "p95 ms", "vs plain"], rows))
    path = write_result("sops_backfill", {"runs": args.runs, "results": results})
    print(f"wrote {path}")
    return 0

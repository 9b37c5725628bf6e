"""Benchmark: from a refresh-only plan to spliced HCL edits, in roots of 100 to 5,000 resources.

Not a timed test: it prints a table and writes ``bench/results/terraform_mapping.json``.  Each
root is generated: files of 50 ``kubernetes_config_map`` resources (a metadata block with a
label map, a five-key data map, comments, aligned ``=``), 10 % of them drifted in one data key.
Measured per size, in interleaved rounds (median): reading the plan JSON (``orjson.loads``, the
cost any plan reader pays: the baseline), parsing every file into its HCL syntax tree, deciding
the drift (``mapping.decide``: configuration, schema and the trees), and computing and applying
the edits.  The ratios to the plan read say what breakglass adds to reading a plan at all; the
real ``tofu plan`` these follow takes seconds to minutes, so they are small either way.

    python -m bench terraform_mapping              # 100, 1000, 5000 resources
    python -m bench terraform_mapping 200 --rounds 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.common import table, write_result
from breakglass.terraform import drift as drifts
from breakglass.terraform import mapping
from breakglass.terraform.hcl import Document
from breakglass.terraform.hcledit import apply
from tests.terraform.planbuilder import configuration, drift, schemas

PER_FILE = 50
RESOURCE = """\
# settings of app{i}
resource "kubernetes_config_map" "app{i}" {{
  metadata {{
    name      = "app{i}"
    namespace = "apps"
    labels = {{
      app  = "app{i}" # the service
      team = "core"
    }}
  }}
  data = {{
    LOG_LEVEL = "info"
    TIMEOUT   = "30s" // a duration
    MODE      = "prod"
    REGION    = "eu-1"
    FEATURES  = "a,b,c"
  }}
}}

"""


def _state(i: int, level: str) -> dict[str, Any]:
    return {
        "id": f"apps/app{i}",
        "data": {"LOG_LEVEL": level, "TIMEOUT": "30s", "MODE": "prod", "REGION": "eu-1",
                 "FEATURES": "a,b,c"},
        "metadata": [{"name": f"app{i}", "namespace": "apps",
                      "labels": {"app": f"app{i}", "team": "core"}, "resource_version": "1"}],
    }  # fmt: skip


def root(resources: int) -> tuple[dict[str, str], bytes]:
    """The files of a root with ``resources`` resources, and its refresh-only plan as JSON."""
    files = {
        f"apps{start // PER_FILE:04d}.tf": "".join(
            RESOURCE.format(i=i) for i in range(start, min(start + PER_FILE, resources))
        )
        for start in range(0, resources, PER_FILE)
    }
    plan = {
        "format_version": "1.2",
        "resource_drift": [
            drift(f"kubernetes_config_map.app{i}", _state(i, "info"), _state(i, "debug"))
            for i in range(0, resources, 10)
        ],
        "configuration": configuration(files),
    }
    return files, orjson.dumps(plan)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _round(
    files: dict[str, str], raw: bytes, schema: dict[str, Any], samples: dict[str, list[float]]
) -> int:
    """One timed pass from the plan's bytes to the edited files; how many files it edited."""
    seconds, plan = _timed(lambda: orjson.loads(raw))
    samples["plan_read"].append(seconds)
    seconds, docs = _timed(
        lambda: {name: Document.parse(text, path=name) for name, text in files.items()}
    )
    samples["parse"].append(seconds)
    workspace = mapping.Workspace(files=docs, root="")
    seconds, decisions = _timed(
        lambda: mapping.decide(drifts.drifted(plan), plan["configuration"], schema, workspace)
    )
    samples["decide"].append(seconds)

    def edit() -> int:
        made, failed, _ = mapping.edits(decisions)
        assert not failed, failed
        return len([apply(files[name], e) for name, e in made.items()])

    seconds, edited = _timed(edit)
    samples["edit"].append(seconds)
    return int(edited)


def measure(resources: int, rounds: int) -> dict[str, Any]:
    files, raw = root(resources)
    schema = schemas()
    samples: dict[str, list[float]] = {"plan_read": [], "parse": [], "decide": [], "edit": []}
    edited = 0
    for _ in range(rounds):
        edited = _round(files, raw, schema, samples)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    return {
        "resources": resources,
        "files": len(files),
        "drifted": len(range(0, resources, 10)),
        "files_edited": edited,
        "bytes": sum(len(t) for t in files.values()),
        "seconds": medians,
        "ratio_to_plan_read": {
            key: medians[key] / medians["plan_read"] for key in ("parse", "decide", "edit")
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench terraform_mapping")
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 5000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    results = [measure(size, args.rounds) for size in args.sizes]
    rows = [
        (
            r["resources"],
            r["drifted"],
            f"{r['bytes'] / 1024:.0f} KiB",
            f"{r['seconds']['plan_read'] * 1000:.1f} ms",
            f"{r['seconds']['parse'] * 1000:.1f} ms ({r['ratio_to_plan_read']['parse']:.1f}x)",
            f"{r['seconds']['decide'] * 1000:.1f} ms ({r['ratio_to_plan_read']['decide']:.1f}x)",
            f"{r['seconds']['edit'] * 1000:.1f} ms ({r['ratio_to_plan_read']['edit']:.1f}x)",
        )
        for r in results
    ]
    print(
        table(
            ("resources", "drifted", "HCL", "plan read (baseline)", "parse HCL", "decide",
             "edit + apply"),
            rows,
        )
    )  # fmt: skip
    path = write_result("terraform_mapping", {"rounds": args.rounds, "results": results})
    print(f"wrote {path}")
    return 0

"""Benchmark: index and locate in generated GitOps repositories of 1,000 to 50,000 documents.

Not a timed test: it prints a table and writes ``bench/results/gitops_index.json`` with the
numbers and the machine they were taken on.  Each repository is a realistic kustomize layout:
per application a base (a Deployment file and a three-document file with Service, ConfigMap
and ServiceAccount) and two overlays (staging, prod) that set the namespace.

Measured per size: a cold index build, building the kustomize graph, locating objects
(through the prod overlay), a refresh with nothing changed, and a refresh after a few files
changed (only those are re-read).

    .venv/bin/python bench/gitops_index.py            # 1k, 10k, 50k
    .venv/bin/python bench/gitops_index.py 1000 5000  # chosen sizes
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from breakglass.gitops import index, kustomize, locate

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{i}
  labels: {{app: app{i}}}
spec:
  replicas: 2  # baseline
  selector:
    matchLabels:
      app: app{i}
  template:
    metadata:
      labels:
        app: app{i}
    spec:
      containers:
        - name: app
          image: registry.example.com/app{i}:1.{i}.0
          ports:
            - containerPort: 8080
"""
OTHERS = """\
apiVersion: v1
kind: Service
metadata:
  name: app{i}
spec:
  selector: {{app: app{i}}}
  ports:
    - port: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app{i}-config
data:
  mode: "prod"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app{i}
"""
BASE_K = "resources:\n  - deployment.yaml\n  - others.yaml\n"
OVERLAY_K = "namespace: {ns}\nresources:\n  - ../../base\n"


def generate(root: Path, documents: int) -> int:
    apps = max(documents // 4, 1)
    for i in range(apps):
        app = root / "apps" / f"app{i}"
        (app / "base").mkdir(parents=True)
        (app / "base" / "deployment.yaml").write_text(DEPLOY.format(i=i))
        (app / "base" / "others.yaml").write_text(OTHERS.format(i=i))
        (app / "base" / "kustomization.yaml").write_text(BASE_K)
        for ns in ("staging", "prod"):
            (app / "overlays" / ns).mkdir(parents=True)
            (app / "overlays" / ns / "kustomization.yaml").write_text(OVERLAY_K.format(ns=ns))
    return apps


def timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def run(documents: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="bg-bench-") as tmp:
        root = Path(tmp)
        apps = generate(root, documents)
        idx, t_index = timed(lambda: index.Index.build(root))
        docs = sum(1 for _ in idx.all_docs())
        tree, t_tree = timed(lambda: kustomize.Tree.build(idx))
        rng = random.Random(7)
        lookups = []
        for _ in range(20):
            i = rng.randrange(apps)
            wanted = locate.Wanted("apps", "Deployment", f"app{i}", "prod")
            outcome, took = timed(lambda w=wanted: locate.locate(w, idx=idx, tree=tree))
            assert isinstance(outcome, locate.Found), outcome
            assert outcome.placement.chain[0] == f"apps/app{i}/overlays/prod"
            lookups.append(took)
        path_outcome, t_path = timed(
            lambda: locate.locate(
                locate.Wanted("apps", "Deployment", "app0", "prod"),
                idx=idx,
                tree=tree,
                subpath="apps/app0/overlays/prod",
            )
        )
        assert isinstance(path_outcome, locate.Found)
        stats, t_noop = timed(idx.refresh)
        assert stats.files_read == 0
        for i in rng.sample(range(apps), min(5, apps)):
            target = root / "apps" / f"app{i}" / "base" / "deployment.yaml"
            target.write_text(DEPLOY.format(i=i).replace("replicas: 2", "replicas: 3"))
            os.utime(target, ns=(time.time_ns(), time.time_ns() + 1_000_000))
        stats, t_incr = timed(idx.refresh)
        assert stats.files_read == min(5, apps), stats
        return {
            "documents": docs,
            "files": len(idx.files),
            "index_s": round(t_index, 3),
            "docs_per_s": round(docs / t_index),
            "kustomize_graph_s": round(t_tree, 3),
            "locate_median_ms": round(statistics.median(lookups) * 1000, 2),
            "locate_max_ms": round(max(lookups) * 1000, 2),
            "locate_with_path_ms": round(t_path * 1000, 2),
            "refresh_unchanged_s": round(t_noop, 3),
            "refresh_5_changed_s": round(t_incr, 3),
            "files_reread": stats.files_read,
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def machine() -> dict[str, object]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "libyaml": bool(getattr(yaml, "__with_libyaml__", False)),
    }


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1_000, 10_000, 50_000]
    rows = [run(n) for n in sizes]
    header = (
        f"{'docs':>7} {'files':>6} {'index s':>8} {'docs/s':>7} {'graph s':>8} "
        f"{'locate ms':>10} {'max ms':>8} {'noop s':>7} {'5 chg s':>8} {'rss MiB':>8}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['documents']:>7} {r['files']:>6} {r['index_s']:>8} {r['docs_per_s']:>7} "
            f"{r['kustomize_graph_s']:>8} {r['locate_median_ms']:>10} {r['locate_max_ms']:>8} "
            f"{r['refresh_unchanged_s']:>7} {r['refresh_5_changed_s']:>8} {r['max_rss_mib']:>8}"
        )
    out = Path(__file__).parent / "results" / "gitops_index.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "results": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])

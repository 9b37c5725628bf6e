"""Benchmark: index and locate in generated GitOps repositories of 1,000 to 50,000 documents.

Not a timed test: it prints a table and writes ``bench/results/gitops_index.json`` with the
numbers and the machine they were taken on.  Each repository is a realistic kustomize layout:
per application a base (a Deployment file and a three-document file with Service, ConfigMap
and ServiceAccount) and two overlays (staging, prod) that set the namespace.

Measured per size: a cold index build, building the kustomize graph, locating objects
(through the prod overlay), a complete edit (``engine.backfill``: locate, then the minimal
round-trip change to the file, with the kustomize graph built as the worker builds it), a
refresh with nothing changed, a refresh after a fetch changed five files (only those are
re-read: by a full ``refresh()`` walk, and by ``refresh_paths()`` given the paths a fetch
reports, as ``git diff --name-only`` does), and the process's peak RSS.

    python -m bench gitops_index              # 1k, 10k, 50k documents
    python -m bench gitops_index 1000 5000    # chosen sizes
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import table, write_result
from breakglass.gitops import engine, index, kustomize, locate

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
        i = rng.randrange(apps)
        live = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"app{i}", "namespace": "prod"},
            "spec": {"replicas": 2},
        }
        changed = {**live, "spec": {"replicas": 5}}
        result, t_edit = timed(lambda: engine.backfill(idx, live, changed))
        assert isinstance(result, engine.Changed), result
        assert result.files, result
        stats, t_noop = timed(idx.refresh)
        assert stats.files_read == 0
        changed_paths = []
        for i in rng.sample(range(apps), min(5, apps)):
            target = root / "apps" / f"app{i}" / "base" / "deployment.yaml"
            target.write_text(DEPLOY.format(i=i).replace("replicas: 2", "replicas: 3"))
            os.utime(target, ns=(time.time_ns(), time.time_ns() + 1_000_000))
            changed_paths.append(target.relative_to(root).as_posix())
        stats, t_incr = timed(idx.refresh)
        assert stats.files_read == min(5, apps), stats
        for rel in changed_paths:
            target = root / rel
            target.write_text(DEPLOY.format(i=0).replace("replicas: 2", "replicas: 4"))
            os.utime(target, ns=(time.time_ns(), time.time_ns() + 2_000_000))
        stats, t_paths = timed(lambda: idx.refresh_paths(changed_paths))
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
            "edit_s": round(t_edit, 3),
            "refresh_unchanged_s": round(t_noop, 3),
            "refresh_5_changed_s": round(t_incr, 3),
            "refresh_paths_5_changed_s": round(t_paths, 4),
            "files_reread": stats.files_read,
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [1_000, 10_000, 50_000]
    rows = [run(n) for n in sizes]
    print(
        table(
            [
                "docs",
                "files",
                "index s",
                "docs/s",
                "graph s",
                "locate ms",
                "max ms",
                "edit s",
                "noop s",
                "5 chg s",
                "5 paths ms",
                "peak RSS MiB",
            ],
            [
                [
                    r["documents"],
                    r["files"],
                    r["index_s"],
                    r["docs_per_s"],
                    r["kustomize_graph_s"],
                    r["locate_median_ms"],
                    r["locate_max_ms"],
                    r["edit_s"],
                    r["refresh_unchanged_s"],
                    r["refresh_5_changed_s"],
                    round(r["refresh_paths_5_changed_s"] * 1000, 2),
                    r["max_rss_mib"],
                ]
                for r in rows
            ],
        )
    )
    path = write_result(
        "gitops_index",
        {
            "parameters": {"sizes": sizes},
            "results": rows,
            "targets": {"index_50k_s": 10, "locate_ms": 1, "refresh_5_changed_s": 0.5},
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

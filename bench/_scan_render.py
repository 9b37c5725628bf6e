"""A scan's render phase step by step, for ``bench/scan.py``: one repository, one source.

    python -m bench._scan_render REPO    # prints one JSON line

The steps ``sources.render_all`` takes for one repository and one source, each timed: clone
into a new mirror, fetch, ``git worktree add`` of the head, the GitOps index of the checkout,
the kustomize graph, ``render_one`` of ``apps`` (every manifest read and parsed), and removing
the worktree; and how much the resident memory of this process grew with the index and with
the rendered documents.  Run in a process of its own so the memory numbers are its alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import rss_mib
from breakglass import logs, rendercheck, repos
from breakglass.forge.git import Git, Mirror
from breakglass.gitops import index, kustomize
from breakglass.scan import sources


def _rss() -> float:
    return rss_mib(os.getpid())["rss_mib"]


async def steps(url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"start_rss_mib": _rss()}
    clock = time.perf_counter

    def took(name: str, since: float) -> float:
        now = clock()
        out[f"{name}_s"] = round(now - since, 3)
        return now

    source = sources.Source(
        key="argocd:argocd/bench",
        label="Argo CD application bench",
        target=repos.RepoTarget(url=url, branch="main", path="apps", owner="bench"),
    )
    tools = rendercheck.Tools("auto", None, None)
    with tempfile.TemporaryDirectory(prefix="bg-bench-render-") as tmp:
        mirror = Mirror(url=url, root=Path(tmp), git=Git())
        mark = clock()
        await mirror.sync()
        mark = took("clone", mark)
        await mirror.sync()
        head = await mirror.head("main")
        assert head is not None
        mark = took("fetch", mark)
        async with mirror.worktree(head) as tree:
            mark = took("worktree_add", mark)
            before = _rss()
            idx = index.Index.build(tree)
            mark = took("index", mark)
            out["index_mib"] = round(_rss() - before, 1)
            graph = kustomize.Tree.build(idx)
            mark = took("kustomize_graph", mark)
            before = _rss()
            rendered = sources.render_one(source, tree, idx, graph, tools)
            mark = took("render", mark)
            out["documents_mib"] = round(_rss() - before, 1)
            out["documents"] = len(rendered.docs)
            out["files"] = len(idx.files)
        took("worktree_remove", mark)
    out["peak_rss_mib"] = rss_mib(os.getpid())["peak_rss_mib"]
    return out


def main(argv: list[str]) -> int:
    logs.configure(level="warning", stream=sys.stderr)
    print(json.dumps(asyncio.run(steps(argv[0]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

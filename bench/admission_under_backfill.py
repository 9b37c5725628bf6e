"""Admission latency while the worker indexes and edits a large repository, before and after.

    python -m bench admission_under_backfill [--documents 50000] [--kib 27] [--concurrency 16]
                                             [--seconds 20] [--rounds 3] [--captures 400]

The question: does backfill work move the webhook's p99?  Four targets, each a real server
process on loopback HTTPS with a real SQLite journal and audit log, measured in interleaved
rounds (each target in turn, once per round; the round with the median p99 is reported):

- ``idle``: ``breakglass serve --worker none``, nothing to backfill: the baseline;
- ``in-process`` (before): ``bench/_inline_worker.py``, the webhooks and the worker in one
  event loop and one GIL, as ``serve`` ran them before the worker got a process;
- ``own-process`` (after): ``breakglass serve``, which starts the worker as a child process at
  ``backfill.nice`` (10), its Git mirrors in ``state_dir`` beside the journal;
- ``own-process-tmpfs``: the same with ``backfill.mirrors_dir`` on another filesystem
  (``/dev/shm``), as ``deploy/`` puts it on the worker's emptyDir.

Every busy round starts from a fresh state directory holding the same journal: ``--captures``
confirmed captures, each a Deployment ``replicas`` change in a repository of ``--documents``
documents (``bench/gitops_index.py``'s layout: a kustomize base and two overlays per app), so
the worker's first pass clones the repository, checks out a worktree, builds the GitOps index
(seconds of CPU under the GIL at 50,000 documents) and then edits, commits and pushes one
object after another (local forge).  The load (wrk, ``--concurrency`` connections, the 27 KiB
review that ``bench/admission.py`` sends, captured: journal insert + fsync and audit-log fsync
before each answer) runs in ``--seconds`` windows: for a busy target, one from the moment the
server answers ``/healthz`` (the worker clones, checks out and indexes: ``index``), and one
after its first capture is done (it edits, commits and pushes one object after another:
``edit``); for ``idle``, one.  The table also says how much the worker did in each window
(captures it finished, its CPU time), so a quiet worker cannot pass for a cheap one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from bench import _payloads
from bench.capture_to_pr import git
from bench.common import (
    ROOT,
    Server,
    cpu_seconds,
    free_port,
    load,
    ratio,
    table,
    tls_files,
    wait_healthy,
    write_result,
)
from bench.gitops_index import generate

TARGETS = ("idle", "in-process", "own-process", "own-process-tmpfs")
#: what the worker is doing during a window: cloning and indexing the repository (the first
#: window, from start), then editing, committing and pushing one object after another
PHASES = ("index", "edit")


def repository(root: Path, documents: int) -> tuple[Path, int]:
    """A bare repository of ``documents`` documents; returns it and the number of apps."""
    work = root / "seed"
    apps = generate(work, documents)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "fleet", cwd=work)
    bare = root / "fleet.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    shutil.rmtree(work)
    return bare, apps


def config(
    root: Path, state: Path, repo: Path, port: int, tls: Any, *, mirrors: Path | None = None
) -> Path:
    path = root / "breakglass.yaml"
    data = {
        "cluster": "bench",
        "state_dir": str(state),
        "listen": {"host": "127.0.0.1", "port": port},
        "tls": {"cert_file": str(tls.cert_file), "key_file": str(tls.key_file)},
        "logging": {"level": "warning"},
        "kube": {"mode": "off"},
        "repos": [{"url": str(repo), "branch": "main", "path": "apps", "namespaces": ["prod"]}],
        "backfill": {
            "render_check": "off",
            "grace_seconds": 0.01,
            "interval": 0.2,
            **({"mirrors_dir": str(mirrors)} if mirrors else {}),
        },
    }
    path.write_text(yaml.safe_dump(data))
    return path


def journal_template(root: Path, captures: int, apps: int) -> Path:
    """A SQLite journal holding ``captures`` confirmed captures, copied into each round."""
    import asyncio

    from breakglass import model, settings
    from breakglass.capture import admission
    from breakglass.capture.redact import Redactor
    from breakglass.journal import open_journal
    from tests import payloads as p

    path = root / "template" / "journal.db"

    async def fill() -> None:
        journal = open_journal(f"sqlite:///{path}")
        await journal.open()
        policy = admission.Policy(
            cluster="bench",
            actors=settings.ActorSettings(),
            redactor=Redactor(salt=b"b"),
            record_only=(),
        )
        for n in range(captures):
            name = f"app{n % apps}"
            old = p.deployment(name=name, namespace="prod", replicas=2)
            new = p.deployment(name=name, namespace="prod", replicas=3 + n // apps)
            review = p.review(operation="UPDATE", obj=new, old=old)
            capture = admission.decide(review["request"], policy=policy, now=model.utcnow())
            assert isinstance(capture, model.Capture), capture
            await journal.insert(capture.with_status(model.Status.CONFIRMED))
        await journal.close()

    asyncio.run(fill())
    return path


def finished(state: Path) -> int:
    """Captures the worker has finished with (the load's own captures stay provisional)."""
    with sqlite3.connect(state / "journal.db") as conn:
        query = "SELECT count(*) FROM captures WHERE status NOT IN ('confirmed', 'provisional')"
        return int(conn.execute(query).fetchone()[0])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@contextmanager
def target(kind: str, root: Path, repo: Path, template: Path, tls: Any) -> Iterator[Server]:
    state = root / "state"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    if kind != "idle":
        shutil.copy(template, state / "journal.db")
    port = free_port()
    mirrors = None
    if kind == "own-process-tmpfs":
        # the worker's mirrors and worktrees on another filesystem than the journal's
        mirrors = Path(tempfile.mkdtemp(prefix="bg-mirrors-", dir="/dev/shm"))
    path = config(root, state, repo, port, tls, mirrors=mirrors)
    argv = {
        "idle": ["-m", "breakglass", "serve", "--config", str(path), "--worker", "none"],
        "in-process": ["-m", "bench._inline_worker", str(path)],
        "own-process": ["-m", "breakglass", "serve", "--config", str(path)],
        "own-process-tmpfs": ["-m", "breakglass", "serve", "--config", str(path)],
    }[kind]
    env = {
        **os.environ,
        "BREAKGLASS_AUDIT_TOKEN": "bench",
        "BREAKGLASS_REDACTION_SALT": "b",
        "BREAKGLASS_AUDIT_LOG_KEY": "bench-" * 8,
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen([sys.executable, *argv], env=env, cwd=root)
    url = f"https://localhost:{port}"
    ctx = ssl.create_default_context(cafile=str(tls.ca_file))
    wait_healthy(kind, url, ctx, proc, timeout=60)
    try:
        yield Server(kind, url, ctx, proc, state)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if mirrors is not None:
            shutil.rmtree(mirrors, ignore_errors=True)


def window(server: Server, body: bytes, args: argparse.Namespace, phase: str) -> dict[str, Any]:
    """One load window; the worker's progress and CPU time during it."""
    assert server.state is not None
    own = server.name.startswith("own-process")
    pids = [server.pid, *_children(server.pid)] if own else [server.pid]
    cpu_before = [cpu_seconds(pid) for pid in pids]
    done_before = finished(server.state)
    result = load(
        f"{server.url}/validate",
        body,
        concurrency=args.concurrency,
        requests=10**9,
        seconds=args.seconds,
    )
    cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
    return {
        "target": server.name,
        "phase": phase,
        **result.as_dict(),
        "worker_finished": finished(server.state) - done_before,
        "server_cpu_s": round(cpu[0], 2),
        "worker_process_cpu_s": round(sum(cpu[1:]), 2) if len(cpu) > 1 else None,
    }


def measure(server: Server, body: bytes, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The idle target's one window; a busy target's index window, then its edit window."""
    assert server.state is not None
    if server.name == "idle":
        return [window(server, body, args, "-")]
    rows = [window(server, body, args, "index")]
    deadline = time.monotonic() + 600
    while finished(server.state) < 1:  # the index is built and the first edit is done
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: the worker finished nothing in 10 minutes")
        time.sleep(0.2)
    rows.append(window(server, body, args, "edit"))
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench admission_under_backfill")
    parser.add_argument("--documents", type=int, default=50000)
    parser.add_argument("--kib", type=int, default=27)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--captures", type=int, default=400)
    args = parser.parse_args(argv)
    body = _payloads.admission_body(args.kib)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bg-bench-ub-") as tmp, tls_files() as (_, tls):
        root = Path(tmp)
        started = time.perf_counter()
        repo, apps = repository(root, args.documents)
        template = journal_template(root, args.captures, apps)
        print(
            f"repository of {args.documents} documents and the journal: "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        for n in range(args.rounds):
            for kind in TARGETS:
                with target(kind, root, repo, template, tls) as server:
                    for row in measure(server, body, args):
                        rows.append({"round": n + 1, **row})
                        print(
                            f"round {n + 1} {kind} {row['phase']}: p99 {row['p99_ms']} ms, "
                            f"{row['rps']} req/s, worker finished {row['worker_finished']}",
                            flush=True,
                        )
    cells = [("idle", "-")] + [(kind, phase) for kind in TARGETS[1:] for phase in PHASES]
    chosen = {}
    for cell in cells:
        mine = sorted(
            (r for r in rows if (r["target"], r["phase"]) == cell), key=lambda r: r["p99_ms"]
        )
        chosen[cell] = mine[len(mine) // 2]
    idle = chosen[("idle", "-")]
    summary = [
        {
            **chosen[cell],
            "p99_vs_idle": ratio(chosen[cell]["p99_ms"], idle["p99_ms"]),
            "p50_vs_idle": ratio(chosen[cell]["p50_ms"], idle["p50_ms"]),
        }
        for cell in cells
    ]
    print()
    print(
        table(
            [
                "target",
                "worker is",
                "req/s",
                "p50 ms",
                "p99 ms",
                "p99 / idle",
                "worker done",
                "server CPU s",
                "worker proc CPU s",
            ],
            [
                [
                    s["target"],
                    s["phase"],
                    s["rps"],
                    s["p50_ms"],
                    s["p99_ms"],
                    s["p99_vs_idle"],
                    s["worker_finished"],
                    s["server_cpu_s"],
                    s["worker_process_cpu_s"] or "-",
                ]
                for s in summary
            ],
        )
    )
    write_result(
        "admission_under_backfill",
        {"parameters": vars(args), "rounds": rows, "results": summary},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Capture to pull request: how long a confirmed capture waits for its PR, and forge API calls.

    python -m bench capture_to_pr [--edits 100] [--interval 0.25] [--forges local,github]

The real ``breakglass.worker.Worker`` runs its loop (``Worker.run``) against a real bare Git
repository holding a kustomize app with ``--edits`` Deployments.  Edits arrive one at a time,
each once the previous one has its PR record; an edit is a confirmed capture inserted into a
real SQLite journal (as the audit webhook does when it confirms one), and its latency runs from
that insert to the journal showing the capture with its PR (``pr_open`` + URL).  Two scenarios:

- ``different``: one edit to each of ``--edits`` different Deployments (a PR each);
- ``same``: ``--edits`` successive edits to one Deployment (one PR, updated and commented).

Each scenario runs with the render check off and ``required`` (``--render off,required``): the
worker then renders the base and the branch with the real ``kustomize`` (``$BREAKGLASS_KUSTOMIZE``
or PATH; ``tests/e2e/testbin.sh`` builds it) before each push, and the table gives the ratio of
the two latencies measured in the same run.

Forges: ``local`` (the built-in local forge: branch pushed to the remote, PR record on disk) and
``github`` (``GitHubProvider`` with PyGithub, unmodified, against ``tests/fakes/github.py``'s
HTTP fake with a real bare repository behind it; ``pacing=0``).  For GitHub the fake's request
log gives the API calls per PR.  The poll interval is a parameter: production's default
``backfill.interval`` is 2 s, which adds on average half of it (uniform arrival) to every
latency measured here with a short interval.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import percentile, table, write_result
from breakglass import logs, model, renderexec, settings
from breakglass.capture import admission
from breakglass.capture.redact import Redactor
from breakglass.journal import open_journal
from breakglass.metrics import Metrics
from breakglass.worker import Worker
from tests import payloads as p

TOKEN = "ghp_bench_token_0123456789abcdef"
DEPLOYMENT = """\
# {name}: owned by team payments
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: 2  # HA minimum
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
        - name: app
          image: registry.example/checkout:1.4.2
"""


def repo_files(objects: int) -> dict[str, str]:
    names = [f"svc-{i:03d}" for i in range(objects)]
    files = {f"apps/payments/{n}.yaml": DEPLOYMENT.format(name=n) for n in names}
    files["apps/payments/kustomization.yaml"] = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "namespace: payments\nresources:\n" + "".join(f"  - {n}.yaml\n" for n in names)
    )
    return files


def git(*args: str, cwd: Path) -> None:
    env = {
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def bare_repo(root: Path, files: dict[str, str]) -> Path:
    work = root / "seed"
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "initial", cwd=work)
    bare = root / "gitops.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    return bare


def make_settings(
    root: Path, remote: str, forge: str, interval: float, base_url: str = "", render: str = "off"
) -> Any:
    data: dict[str, Any] = {
        "cluster": "prod-eu-1",
        "state_dir": str(root / "state"),
        "repos": [
            {"url": remote, "branch": "main", "path": "apps/payments", "namespaces": ["payments"]}
        ],
        "users": {
            "alice": {"name": "Alice Doe", "email": "alice@example.com", "github": "alice-doe"}
        },
        "backfill": {
            "interval": interval,
            "grace_seconds": 0.01,
            "forge": forge,
            "render_check": render,
        },
        "kube": {"mode": "off"},
    }
    if forge == "github":
        data["forges"] = {
            "github": {
                "kind": "github",
                "repo": "acme/gitops",
                "base_url": base_url,
                "token_env": "BENCH_GH_TOKEN",
            }
        }
    return settings.from_mapping(data, source="bench", base=root)


async def scenario(
    forge: str, kind: str, edits: int, interval: float, render: str = "off"
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bg-bench-pr-") as tmp:
        root = Path(tmp)
        objects = edits if kind == "different" else 1
        files = repo_files(objects)
        fake = None
        providers = {}
        if forge == "github":
            from breakglass.forge.github import GitHubProvider
            from tests.fakes.github import FakeGitHub

            fake = FakeGitHub(root / "github", repo="acme/gitops", token=TOKEN, files=files)
            fake.start_in_thread()
            remote = fake.clone_url
            providers["github"] = GitHubProvider(
                "acme/gitops", token=TOKEN, base_url=fake.base_url, pacing=0
            )
        else:
            remote = str(bare_repo(root, files))
        conf = make_settings(
            root, remote, forge, interval, fake.base_url if fake else "", render=render
        )
        journal = open_journal(conf.journal_url)
        await journal.open()
        redactor = Redactor(salt=b"bench", key_patterns=())
        worker = Worker(
            settings=conf,
            journal=journal,
            metrics=Metrics(),
            providers=providers,  # type: ignore[arg-type]
            redactor=redactor,
        )
        policy = admission.Policy(
            cluster=conf.cluster, actors=conf.actors, redactor=redactor, record_only=()
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        latencies: list[float] = []
        states: list[str] = []
        try:
            current = p.deployment(name="svc-000")
            for n in range(edits):
                name = f"svc-{n:03d}" if kind == "different" else "svc-000"
                old = p.deployment(name=name) if kind == "different" else current
                new = p.edited(
                    old,
                    lambda o, n=n: o["spec"]["template"]["spec"]["containers"][0].__setitem__(
                        "image", f"registry.example/checkout:1.5.{n}"
                    ),
                )
                current = new
                review = p.review(operation="UPDATE", obj=new, old=old)
                capture = admission.decide(review["request"], policy=policy, now=model.utcnow())
                assert isinstance(capture, model.Capture), capture
                capture = capture.with_status(model.Status.CONFIRMED)
                started = time.perf_counter()
                await journal.insert(capture)
                deadline = started + 60
                while True:
                    found = await journal.get(capture.id)
                    assert found is not None
                    if found.status is not model.Status.CONFIRMED or found.attempts:
                        break
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"no PR for {capture.id} after 60 s")
                    await asyncio.sleep(0.005)
                latencies.append(time.perf_counter() - started)
                states.append(found.status.value)
                if found.status is not model.Status.PR_OPEN:
                    raise RuntimeError(f"capture ended {found.status.value}: {found.reason}")
        finally:
            stop.set()
            await task
            await journal.close()
            if fake is not None:
                fake.stop_thread()
        prs = (
            len(fake.pulls)
            if fake is not None
            else len(list((conf.state_dir / "pull-requests").glob("*.json")))
        )
        calls = len(fake.requests) if fake is not None else None
        return {
            "forge": forge,
            "scenario": kind,
            "render_check": render,
            "edits": edits,
            "prs": prs,
            "p50_s": round(percentile(latencies, 50), 3),
            "p99_s": round(percentile(latencies, 99), 3),
            "max_s": round(max(latencies), 3),
            "api_calls": calls,
            "api_calls_per_pr": round(calls / prs, 1) if calls is not None and prs else None,
            "api_calls_per_edit": round(calls / edits, 1) if calls is not None else None,
        }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench capture_to_pr")
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.25, help="worker poll interval, s")
    parser.add_argument("--forges", default="local,github")
    parser.add_argument(
        "--render",
        default="off,required",
        help="render-check modes to compare (needs kustomize for required)",
    )
    parser.add_argument("--name", default="capture_to_pr")
    args = parser.parse_args(argv)
    logs.configure(level="warning", fmt="console")
    modes = args.render.split(",")
    if "required" in modes and renderexec.find_kustomize() is None:
        print("kustomize not found ($BREAKGLASS_KUSTOMIZE or PATH): measuring render check off")
        modes = [m for m in modes if m != "required"] or ["off"]
    rows = []
    for forge in args.forges.split(","):
        for kind in ("different", "same"):
            for mode in modes:
                row = asyncio.run(scenario(forge, kind, args.edits, args.interval, mode))
                rows.append(row)
                print(
                    f"  {forge:<7} {kind:<9} render {mode:<8} p50 {row['p50_s']:.3f} s "
                    f"p99 {row['p99_s']:.3f} s",
                    flush=True,
                )
    baseline = {(r["forge"], r["scenario"]): r["p50_s"] for r in rows if r["render_check"] == "off"}
    for r in rows:
        base = baseline.get((r["forge"], r["scenario"]))
        r["p50_vs_off"] = round(r["p50_s"] / base, 2) if base else None
    print(
        table(
            [
                "forge",
                "edits to",
                "render check",
                "edits",
                "PRs",
                "p50 s",
                "p99 s",
                "max s",
                "p50 vs off",
                "API calls/PR",
                "API calls/edit",
            ],
            [
                [
                    r["forge"],
                    r["scenario"],
                    r["render_check"],
                    r["edits"],
                    r["prs"],
                    r["p50_s"],
                    r["p99_s"],
                    r["max_s"],
                    r["p50_vs_off"] or "-",
                    r["api_calls_per_pr"] or "-",
                    r["api_calls_per_edit"] or "-",
                ]
                for r in rows
            ],
        )
    )
    print(f"worker poll interval {args.interval} s (production default 2 s adds ~1 s mean)")
    path = write_result(
        args.name,
        {
            "parameters": {"edits": args.edits, "interval_s": args.interval, "render": modes},
            "results": rows,
            "target": {"p50_s_local": 2.0},
        },
    )
    print(f"wrote {path}")
    return 0

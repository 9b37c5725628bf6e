"""Benchmark: ``breakglass scan`` of a real API server against a large Git repository.

    python -m bench scan                          # 1,000 and 10,000 objects x 10,000 and
                                                  # 50,000 documents, 2 rounds, pages of 500
    python -m bench scan --objects 10000 --documents 50000 --rounds 3 --profile

Not a timed test: it prints tables and writes ``bench/results/scan.json``.

The cluster is a real etcd and kube-apiserver (``tests/e2e/controlplane.py``, no breakglass
webhooks: the cluster a scan is for).  The repository is a local bare Git repository of plain
manifests (no kustomization): per application directory ``apps/<namespace>/app-<n>/`` a
Deployment (``deployment.yaml``) and four ConfigMaps (``config.yaml``), twenty applications per
namespace, every document naming its namespace.  One Argo CD ``Application`` (the stand-in CRD
of the end-to-end tests) points at ``apps`` of that repository.  The cluster holds the first
``--objects`` documents, applied as Argo CD applies them: server-side, as Argo CD's service
account, field manager ``argocd-controller``, with the ``argocd.argoproj.io/tracking-id``
annotation.  The rest of the repository is in Git only (other clusters' applications, say):
the scan renders it but never lists it.  Then alice (``kubectl``) drifts about 1% of the
objects: one ``kubectl label -A -l bench.example/bucket=42 team=oncall`` (one object per
namespace, ConfigMaps and Deployments) and ``kubectl patch`` of a data key on ten ConfigMaps.
Each scan's report must name exactly those objects (checked and printed).

Measured per configuration, in interleaved rounds (baselines, then the scan, each round), the
median reported:

- the scan as a user runs it: ``python -m breakglass scan --config CFG --output json`` in a
  subprocess (``scan.page_size`` = ``--page-size``); its wall time, its CPU time, its peak RSS
  (``wait4``'s ``ru_maxrss``: the largest of the process and the ``git`` processes it runs),
  and from its report the LIST requests, the objects and the seconds per phase;
- the baseline, the bare cost of listing the same objects: ``kubectl get
  configmaps,deployments -A -o json --chunk-size=PAGE`` (``kubectl``), and the same paginated
  LISTs from this process over one HTTPS connection, each page read and parsed with orjson and
  nothing else (``raw LIST``);
- the load each puts on the API server: CPU seconds of kube-apiserver and of etcd during the
  run (``/proc/PID/stat``), beside what they use idle in as long (measured for 5 s once the
  objects are in place: their own controllers and timers), since a scan's few LISTs cost
  them less than their idle background does over its seconds.

The first scan of each repository clones it into the scan's mirror; it is run once before the
rounds and reported apart (``first scan s``).  The render phase, the largest, is then taken
apart in a process of its own (``bench/_scan_render.py``: worktree, index, render, memory).
``--profile`` samples one more scan of the last configuration with py-spy (every thread,
waits left out) and prints the functions it spent its time in.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import yaml

from bench.capture_to_pr import git
from bench.common import ROOT, cpu_seconds, ratio, table, write_result

APP = "bench"
KINDS = ("configmaps", "deployments")
#: documents per application directory: a Deployment, then four ConfigMaps
PER_APP = 5
APPS_PER_NAMESPACE = 20
BUCKET_LABEL = "bench.example/bucket"
#: the bucket alice labels: one object in every hundred documents, ConfigMaps and Deployments
DRIFT_BUCKET = 42
#: documents whose ConfigMap alice patches (all ConfigMaps, in the first 1,000 documents)
PATCHED = tuple(100 * t + 3 for t in range(10))
APPLY_BATCH = 2000

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{app}
  namespace: {ns}
  labels:
    app: app-{app}
    {label}: "{bucket}"
spec:
  replicas: 2  # two zones
  selector:
    matchLabels:
      app: app-{app}
  template:
    metadata:
      labels:
        app: app-{app}
    spec:
      containers:
        - name: app
          image: registry.example.com/team/app-{app}:1.{app}.0
          ports:
            - containerPort: 8080
          env:
            - name: MODE
              value: prod
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{app}-cfg{k}
  namespace: {ns}
  labels:
    app: app-{app}
    {label}: "{bucket}"
data:
  LOG_LEVEL: info  # debug only while investigating
  MODE: prod
  settings.properties: |
    pool.size=16
    timeout.ms=2500
    feature.{k}=on
"""


# -- the repository ----------------------------------------------------------------------------


def namespace_of(app: int) -> str:
    return f"team-{app // APPS_PER_NAMESPACE:04d}"


def bucket_of(i: int) -> int:
    """The drift bucket of document ``i``: one per hundred documents, its kind rotating."""
    return (i + i // 100) % 100


def document(i: int) -> tuple[str, str, str, str]:
    """Document ``i``'s (plural, namespace, name, YAML text)."""
    app, k = divmod(i, PER_APP)
    ns = namespace_of(app)
    fill = {"app": app, "ns": ns, "k": k, "label": BUCKET_LABEL, "bucket": bucket_of(i)}
    if k == 0:
        return "deployments", ns, f"app-{app}", DEPLOYMENT.format(**fill)
    return "configmaps", ns, f"app-{app}-cfg{k}", CONFIGMAP.format(**fill)


def repository(root: Path, documents: int) -> Path:
    """A bare repository of ``documents`` documents on ``main``; the seed is removed."""
    work = root / f"seed-{documents}"
    for app in range((documents + PER_APP - 1) // PER_APP):
        folder = work / "apps" / namespace_of(app) / f"app-{app}"
        folder.mkdir(parents=True)
        texts = [document(i)[3] for i in range(app * PER_APP, min(documents, (app + 1) * PER_APP))]
        (folder / "deployment.yaml").write_text(texts[0])
        if texts[1:]:
            (folder / "config.yaml").write_text("---\n".join(texts[1:]))
    git("init", "-q", "-b", "main", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", f"{documents} documents", cwd=work)
    bare = root / f"gitops-{documents}.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    shutil.rmtree(work)
    return bare


def expected_drift(objects: int) -> set[tuple[str, str, str]]:
    """(plural, namespace, name) of every object alice changed among the first ``objects``."""
    out = set()
    for i in range(objects):
        if bucket_of(i) == DRIFT_BUCKET or i in PATCHED:
            plural, ns, name, _ = document(i)
            out.add((plural, ns, name))
    return out


# -- the cluster -------------------------------------------------------------------------------


class Cluster:
    """The control plane and the kubectl calls that set it up."""

    def __init__(self, workdir: Path, bins: dict[str, str]) -> None:
        from tests.e2e.controlplane import ControlPlane

        self.plane = ControlPlane(workdir, bins, webhooks=False)
        self.bins = bins
        self.applied = 0
        self.namespaces: set[str] = set()
        self.patched: set[int] = set()
        self.idle = {"apiserver": 0.0, "etcd": 0.0}

    def start(self) -> None:
        self.plane.start()

    def stop(self) -> None:
        self.plane.stop()

    def measure_idle(self, seconds: float = 5) -> dict[str, float]:
        """CPU seconds per second kube-apiserver and etcd use with nobody asking anything
        (their own controllers, lease renewals, compaction)."""
        time.sleep(2)  # let the last writes settle
        api, etcd = cpu_seconds(self.apiserver), cpu_seconds(self.etcd)
        time.sleep(seconds)
        self.idle = {
            "apiserver": (cpu_seconds(self.apiserver) - api) / seconds,
            "etcd": (cpu_seconds(self.etcd) - etcd) / seconds,
        }
        return self.idle

    @property
    def apiserver(self) -> int:
        return self.plane.procs["kube-apiserver"].pid

    @property
    def etcd(self) -> int:
        return self.plane.procs["etcd"].pid

    def kubectl(
        self, *args: str, user: str = "alice", stdin: str | None = None, timeout: float = 600
    ) -> str:
        argv = [
            self.bins["KUBECTL"],
            f"--kubeconfig={self.plane.kubeconfig}",
            f"--context={user}",
            *args,
        ]
        proc = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])} failed: {proc.stderr[-2000:]}")
        return proc.stdout

    def install_argocd(self) -> None:
        crd = ROOT / "tests" / "e2e" / "manifests" / "argocd-application-crd.yaml"
        self.kubectl("apply", "-f", str(crd), user="admin")
        self.kubectl("create", "namespace", "argocd", user="admin")
        self.kubectl(
            "wait",
            "--for=condition=Established",
            "crd/applications.argoproj.io",
            "--timeout=60s",
            user="admin",
        )
        deadline = time.monotonic() + 30
        while True:  # Established comes a moment before the kind is served
            try:
                self.kubectl("get", "applications", "-n", "argocd", user="admin")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def point_application(self, repo: Path) -> None:
        """The Argo CD Application for ``apps`` of ``repo``."""
        app = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": APP, "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {
                    "repoURL": str(repo),
                    "targetRevision": "main",
                    "path": "apps",
                    "directory": {"recurse": True},
                },
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"},
            },
        }
        self.kubectl("apply", "-f", "-", user="admin", stdin=json.dumps(app))

    def sync(self, objects: int) -> float:
        """Apply documents up to ``objects`` as Argo CD would; returns the seconds it took."""
        started = time.monotonic()
        first = self.applied
        wanted = {namespace_of(i // PER_APP) for i in range(first, objects)} - self.namespaces
        if wanted:
            namespaces = [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                for ns in sorted(wanted)
            ]
            listing = {"apiVersion": "v1", "kind": "List", "items": namespaces}
            self.kubectl("apply", "-f", "-", user="admin", stdin=json.dumps(listing))
            self.namespaces |= wanted
        for start in range(first, objects, APPLY_BATCH):
            items = []
            for i in range(start, min(objects, start + APPLY_BATCH)):
                _plural, ns, name, text = document(i)
                doc = yaml.load(text, Loader=yaml.CSafeLoader)
                group = doc["apiVersion"].rsplit("/", 1)[0] if "/" in doc["apiVersion"] else ""
                doc["metadata"]["annotations"] = {
                    "argocd.argoproj.io/tracking-id": f"{APP}:{group}/{doc['kind']}:{ns}/{name}"
                }
                items.append(doc)
            listing = {"apiVersion": "v1", "kind": "List", "items": items}
            self.kubectl(
                "apply",
                "--server-side",
                "--field-manager=argocd-controller",
                "-f",
                "-",
                user="argocd",
                stdin=json.dumps(listing),
            )
        self.applied = objects
        return time.monotonic() - started

    def drift(self, objects: int) -> None:
        """alice's changes: the label over one bucket, and a data key on a few ConfigMaps."""
        for kind in KINDS:  # one kubectl call per kind, over a label selector, all namespaces
            self.kubectl(
                "label",
                kind,
                "-A",
                "-l",
                f"{BUCKET_LABEL}={DRIFT_BUCKET}",
                "team=oncall",
                "--overwrite",
            )
        for i in PATCHED:
            if i < objects and i not in self.patched:
                _plural, ns, name, _ = document(i)
                self.kubectl(
                    "patch",
                    f"configmap/{name}",
                    "-n",
                    ns,
                    "--type=merge",
                    "-p",
                    '{"data":{"LOG_LEVEL":"debug"}}',
                )
                self.patched.add(i)


# -- measuring ---------------------------------------------------------------------------------


def run_child(argv: list[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``argv`` to completion; its wall time, CPU time, peak RSS and stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "code": proc.returncode,
            "seconds": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "stdout": out.read(),
            "stderr": err.read().decode(errors="replace"),
        }


@contextlib.contextmanager
def server_cpu(cluster: Cluster) -> Iterator[dict[str, float]]:
    """CPU seconds kube-apiserver and etcd use inside the block, and what they would have used
    idle in as long (``Cluster.measure_idle``: their own controllers and timers)."""
    used: dict[str, float] = {}
    api, etcd = cpu_seconds(cluster.apiserver), cpu_seconds(cluster.etcd)
    started = time.monotonic()
    yield used
    seconds = time.monotonic() - started
    used["apiserver_cpu_s"] = cpu_seconds(cluster.apiserver) - api
    used["etcd_cpu_s"] = cpu_seconds(cluster.etcd) - etcd
    used["apiserver_idle_cpu_s"] = cluster.idle["apiserver"] * seconds
    used["etcd_idle_cpu_s"] = cluster.idle["etcd"] * seconds


def scan_env(bins: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BREAKGLASS_REDACTION_SALT": "bench",
        **{f"BREAKGLASS_{k}": bins[k] for k in ("KUSTOMIZE", "HELM") if k in bins},
    }


def scan_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "breakglass", "scan", "--config", str(config), "--output", "json"]


def scan_once(cluster: Cluster, config: Path, expected: set[tuple[str, str, str]]) -> dict:
    with server_cpu(cluster) as load:
        child = run_child(scan_argv(config), env=scan_env(cluster.bins))
    if child["code"] not in (0, 1):
        raise RuntimeError(f"scan failed ({child['code']}): {child['stderr'][-3000:]}")
    report = json.loads(child["stdout"])
    if report["problems"]:
        raise RuntimeError(f"scan reported problems: {report['problems']}")
    found = {
        (d["object"]["resource"], d["object"]["namespace"], d["object"]["name"])
        for d in report["drift"]
    }
    return {
        "seconds": child["seconds"],
        "cpu_s": child["cpu_s"],
        "peak_rss_mib": child["peak_rss_mib"],
        "report_seconds": report["seconds"],
        "objects": report["objects"],
        "list_requests": report["list_requests"],
        "phases": report["phases"],
        # the machine's 1-minute load average as the scan ended: the tables are only as quiet
        # as the machine was (2 cores here; other work shares them)
        "load1": os.getloadavg()[0],
        "drift_found": len(found & expected),
        "drift_expected": len(expected),
        "drift_unexpected": len(found - expected),
        **load,
    }


def kubectl_list(cluster: Cluster, page_size: int) -> dict[str, float]:
    argv = [
        cluster.bins["KUBECTL"],
        f"--kubeconfig={cluster.plane.kubeconfig}",
        "--context=breakglass",
        "get",
        ",".join(KINDS),
        "-A",
        "-o",
        "json",
        f"--chunk-size={page_size}",
    ]
    with server_cpu(cluster) as load:
        child = run_child(argv)
    if child["code"] != 0:
        raise RuntimeError(f"kubectl get failed: {child['stderr'][-2000:]}")
    listed = len(orjson.loads(child["stdout"])["items"])
    return {"seconds": child["seconds"], "peak_rss_mib": child["peak_rss_mib"], **load} | {
        "objects": listed
    }


def raw_list(cluster: Cluster, page_size: int) -> dict[str, float]:
    """The same paginated LISTs over one keep-alive HTTPS connection, each page parsed."""
    plane = cluster.plane
    ctx = ssl.create_default_context(cafile=str(plane.pki / "ca.crt"))
    conn = http.client.HTTPSConnection("127.0.0.1", plane.api_port, context=ctx, timeout=60)
    headers = {"Authorization": "Bearer breakglass-token", "Accept": "application/json"}
    objects = requests = 0
    with server_cpu(cluster) as load:
        started = time.perf_counter()
        for prefix in ("/api/v1/configmaps", "/apis/apps/v1/deployments"):
            token = ""
            while True:
                query = f"?limit={page_size}" + (f"&continue={quote(token)}" if token else "")
                conn.request("GET", prefix + query, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"LIST {prefix}: {resp.status} {body[:300]!r}")
                page = orjson.loads(body)
                requests += 1
                objects += len(page["items"])
                token = page["metadata"].get("continue") or ""
                if not token:
                    break
        seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "objects": objects, "list_requests": requests, **load}


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def measure(
    cluster: Cluster, config: Path, objects: int, documents: int, rounds: int, page_size: int
) -> dict[str, Any]:
    expected = expected_drift(objects)
    first = scan_once(cluster, config, expected)
    scans, kubectls, raws = [], [], []
    for n in range(rounds):
        kubectls.append(kubectl_list(cluster, page_size))
        raws.append(raw_list(cluster, page_size))
        scans.append(scan_once(cluster, config, expected))
        s = scans[-1]
        print(
            f"  round {n + 1}: scan {s['seconds']:.2f} s, kubectl {kubectls[-1]['seconds']:.2f} s, "
            f"raw LIST {raws[-1]['seconds']:.2f} s, drift {s['drift_found']}/"
            f"{s['drift_expected']} (+{s['drift_unexpected']})",
            flush=True,
        )
    phases = {
        p: statistics.median(s["phases"].get(p, 0.0) for s in scans) for p in scans[0]["phases"]
    }
    scan_s = median(scans, "seconds")
    return {
        "objects": objects,
        "documents": documents,
        "listed": scans[-1]["objects"],
        "first_scan_s": round(first["seconds"], 2),
        "scan_s": round(scan_s, 2),
        "scan_cpu_s": round(median(scans, "cpu_s"), 2),
        # the process around Scanner.run: interpreter and imports, settings, the journal,
        # connecting, printing the report
        "outside_run_s": round(
            statistics.median(s["seconds"] - s["report_seconds"] for s in scans), 2
        ),
        "scan_peak_rss_mib": round(max(s["peak_rss_mib"] for s in [*scans, first]), 1),
        "load1": round(median(scans, "load1"), 2),
        "list_requests": scans[-1]["list_requests"],
        "kubectl_s": round(median(kubectls, "seconds"), 2),
        "kubectl_peak_rss_mib": round(median(kubectls, "peak_rss_mib"), 1),
        "raw_list_s": round(median(raws, "seconds"), 2),
        "raw_list_requests": raws[-1]["list_requests"],
        "scan_vs_kubectl": ratio(scan_s, median(kubectls, "seconds")),
        "scan_vs_raw_list": ratio(scan_s, median(raws, "seconds")),
        "apiserver_cpu_s": {
            "scan": round(median(scans, "apiserver_cpu_s"), 2),
            "scan_idle": round(median(scans, "apiserver_idle_cpu_s"), 2),
            "kubectl": round(median(kubectls, "apiserver_cpu_s"), 2),
            "raw_list": round(median(raws, "apiserver_cpu_s"), 2),
        },
        "etcd_cpu_s": {
            "scan": round(median(scans, "etcd_cpu_s"), 2),
            "scan_idle": round(median(scans, "etcd_idle_cpu_s"), 2),
            "kubectl": round(median(kubectls, "etcd_cpu_s"), 2),
            "raw_list": round(median(raws, "etcd_cpu_s"), 2),
        },
        "phases_s": {k: round(v, 2) for k, v in phases.items()},
        "drift": {
            "expected": len(expected),
            "found": min(s["drift_found"] for s in [*scans, first]),
            "unexpected": max(s["drift_unexpected"] for s in [*scans, first]),
        },
        "rounds": {"scan": scans, "kubectl": kubectls, "raw_list": raws, "first_scan": first},
    }


def render_steps(repo: Path) -> dict[str, Any]:
    """``bench/_scan_render.py`` in a process of its own: the render phase step by step."""
    out = subprocess.run(
        [sys.executable, "-m", "bench._scan_render", str(repo)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench._scan_render failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# -- profiling ---------------------------------------------------------------------------------


def profile(cluster: Cluster, config: Path, out: Path, top: int = 20) -> dict[str, Any]:
    """One scan sampled by py-spy (every thread, waits left out); the share of samples in each
    function, inclusive (breakglass's own functions) and own (any)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return {"error": "py-spy is not installed (pip install -e '.[bench]')"}
    raw = out.with_suffix(".txt")
    argv = [py_spy, "record", "--format", "raw", "--rate", "200", "-o", str(raw), "--"]
    child = run_child([*argv, *scan_argv(config)], env=scan_env(cluster.bins))
    if child["code"] not in (0, 1) or not raw.exists():
        return {"error": child["stderr"][-2000:]}
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        if frames[-1] in _IDLE:
            continue
        total += n
        for name in set(frames):
            inclusive[name] += n
        own[frames[-1]] += n
    ours = collections.Counter(
        {k: v for k, v in inclusive.items() if k.startswith("breakglass/") and k not in _ENTRY}
    )
    return {
        "samples": total,
        "inclusive": [(name, round(100 * n / total, 1)) for name, n in ours.most_common(top)],
        "own": [(name, round(100 * n / total, 1)) for name, n in own.most_common(top)],
    }


#: where a thread waits (for work, for the network) rather than runs: left out
_IDLE = frozenset(
    {
        "concurrent/futures/thread.py:_worker",
        "selectors.py:EpollSelector.select",
        "threading.py:Condition.wait",
        "threading.py:Thread._wait_for_tstate_lock",
    }
)
#: frames every sample of the main thread passes through
_ENTRY = frozenset({"breakglass/__main__.py:<module>", "breakglass/cli.py:main"})


def _short(frame: str) -> str:
    """``f (path/to/breakglass/scan/run.py:12)`` → ``breakglass/scan/run.py:f``."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("breakglass/", "site-packages/", "python3.11/"):
        if marker in path:
            path = (
                path.split(marker, 1)[1]
                if marker != "breakglass/"
                else "breakglass/" + path.split(marker, 1)[1]
            )
            break
    return f"{path}:{name}"


# -- main --------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench scan", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--objects", type=_ints, default=[1_000, 10_000], help="objects in the cluster: 1000,10000"
    )
    parser.add_argument(
        "--documents", type=_ints, default=[10_000, 50_000], help="documents in the repository"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of baselines and scan")
    parser.add_argument("--page-size", type=int, default=500, help="objects per LIST (10-5000)")
    parser.add_argument("--profile", action="store_true", help="py-spy one more scan at the end")
    parser.add_argument("--name", default="scan", help="result file name (bench/results/NAME.json)")
    args = parser.parse_args(argv)
    for objects in args.objects:
        if objects > min(args.documents):
            parser.error(f"--objects {objects} is more than a repository of {min(args.documents)}")
    from tests.e2e.controlplane import binaries

    bins = binaries()
    rows: list[dict[str, Any]] = []
    setup: dict[str, float] = {}
    profiled: dict[str, Any] = {}
    steps: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bg-bench-scan-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        repos = {n: repository(root, n) for n in sorted(set(args.documents))}
        setup["repositories_s"] = round(time.monotonic() - started, 1)
        print(f"repositories {sorted(repos)} in {setup['repositories_s']} s", flush=True)
        cluster = Cluster(root / "cluster", bins)
        try:
            started = time.monotonic()
            cluster.start()
            cluster.install_argocd()
            setup["control_plane_s"] = round(time.monotonic() - started, 1)
            config = root / "scan.yaml"
            config.write_text(
                cluster.plane.config.read_text() + f"scan: {{page_size: {args.page_size}}}\n"
            )
            for objects in sorted(args.objects):
                took = cluster.sync(objects)
                cluster.drift(objects)
                setup[f"apply_{objects}_s"] = round(took, 1)
                idle = cluster.measure_idle()
                print(
                    f"cluster holds {objects} objects (applied in {took:.1f} s); idle CPU: "
                    f"kube-apiserver {idle['apiserver']:.3f} s/s, etcd {idle['etcd']:.3f} s/s",
                    flush=True,
                )
                for documents in sorted(args.documents):
                    cluster.point_application(repos[documents])
                    print(f"{objects} objects, {documents} documents:", flush=True)
                    row = measure(cluster, config, objects, documents, args.rounds, args.page_size)
                    row["idle_cpu_s_per_s"] = {k: round(v, 4) for k, v in idle.items()}
                    rows.append(row)
            for documents in sorted(args.documents):
                steps[documents] = render_steps(repos[documents])
            if args.profile:
                last = rows[-1]
                out = root / "profile"
                profiled = {
                    "objects": last["objects"],
                    "documents": last["documents"],
                    **profile(cluster, config, out),
                }
        finally:
            cluster.stop()
    report(rows, steps, profiled)
    path = write_result(
        args.name,
        {
            "parameters": {
                "objects": args.objects,
                "documents": args.documents,
                "rounds": args.rounds,
                "page_size": args.page_size,
            },
            "setup_s": setup,
            "results": rows,
            "render_steps": steps,
            "profile": profiled,
            "targets": {"objects": 10_000, "seconds": 60, "peak_rss_mib": 300},
        },
    )
    print(f"wrote {path}")
    bad = [
        r for r in rows if r["drift"]["found"] != r["drift"]["expected"] or r["drift"]["unexpected"]
    ]
    if bad:
        print("the scan did not report exactly the drifted objects", file=sys.stderr)
        return 1
    return 0


def report(
    rows: list[dict[str, Any]], steps: dict[int, dict[str, Any]], profiled: dict[str, Any]
) -> None:
    print()
    print(
        table(
            [
                "objects",
                "docs",
                "scan s",
                "kubectl s",
                "raw LIST s",
                "scan / kubectl",
                "scan / raw LIST",
                "LIST requests",
                "peak RSS MiB",
                "first scan s",
                "drift found",
            ],
            [
                [
                    r["objects"],
                    r["documents"],
                    r["scan_s"],
                    r["kubectl_s"],
                    r["raw_list_s"],
                    r["scan_vs_kubectl"],
                    r["scan_vs_raw_list"],
                    r["list_requests"],
                    r["scan_peak_rss_mib"],
                    r["first_scan_s"],
                    f"{r['drift']['found']}/{r['drift']['expected']} (+{r['drift']['unexpected']})",
                ]
                for r in rows
            ],
        )
    )
    print("\nAPI server load, CPU seconds (kube-apiserver + etcd), median round")
    print(
        table(
            ["objects", "docs", "during scan", "idle in as long", "raw LIST", "kubectl"],
            [
                [
                    r["objects"],
                    r["documents"],
                    *[
                        f"{r['apiserver_cpu_s'][k]:.2f} + {r['etcd_cpu_s'][k]:.2f}"
                        for k in ("scan", "scan_idle", "raw_list", "kubectl")
                    ],
                ]
                for r in rows
            ],
        )
    )
    print("\nScan phases, seconds (median round)")
    phases = sorted({p for r in rows for p in r["phases_s"]}, key=PHASE_ORDER.index)
    print(
        table(
            ["objects", "docs", *phases, "outside run", "scan s", "scan CPU s", "load avg"],
            [
                [
                    r["objects"],
                    r["documents"],
                    *[r["phases_s"].get(p, 0.0) for p in phases],
                    r["outside_run_s"],
                    r["scan_s"],
                    r["scan_cpu_s"],
                    r["load1"],
                ]
                for r in rows
            ],
        )
    )
    if steps:
        print("\nThe render phase step by step (one source, bench/_scan_render.py)")
        names = ["worktree_add", "index", "render", "worktree_remove"]
        print(
            table(
                ["docs", "files", *[f"{n} s" for n in names], "index MiB", "documents MiB"],
                [
                    [
                        docs,
                        s["files"],
                        *[s[f"{n}_s"] for n in names],
                        s["index_mib"],
                        s["documents_mib"],
                    ]
                    for docs, s in sorted(steps.items())
                ],
            )
        )
    if profiled.get("inclusive"):
        print(
            f"\nprofile ({profiled['objects']} objects, {profiled['documents']} documents, "
            f"{profiled['samples']} samples): inclusive %"
        )
        for name, share in profiled["inclusive"]:
            print(f"  {share:5.1f}  {name}")
        print("own %")
        for name, share in profiled["own"]:
            print(f"  {share:5.1f}  {name}")
    elif profiled:
        print(f"profile failed: {profiled.get('error')}")


PHASE_ORDER = ["discover", "render", "list", "judge", "record"]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

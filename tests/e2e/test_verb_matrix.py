"""The verb matrix on the real API server: every kubectl write a person uses during an incident,
through the whole loop (kubectl → kube-apiserver → webhook + audit → worker → Git branch →
local-forge record), checked line by line against what a reviewer should get.

The batch runs once per module, on a control plane of its own (its repository rules give the
namespaces where people create objects an owner): every repository, Application and object is
set up first, every first kubectl command runs at once, and later phases start as soon as their
case's earlier captures have settled.  Each case is then one test, so a failure names it; the
table of outcomes is printed in the terminal summary.  ``tests/e2e/matrix.py`` holds the cases.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.backfill.conftest import bare_remote, git
from tests.e2e.conftest import wait_for_webhook, wait_until
from tests.e2e.controlplane import ControlPlane, ToolchainMissing, binaries
from tests.e2e.matrix import (
    CASES,
    DOC,
    DOC_BEGIN,
    DOC_END,
    Case,
    Observed,
    Run,
    changed_lines,
    check,
    documented_table,
    supported_operations_table,
)

MANIFESTS = Path(__file__).parent / "manifests"
#: Capture statuses the worker does not move on from by itself.
TERMINAL = frozenset(
    {"ignored", "unmanaged", "pr_open", "merged", "closed", "superseded", "failed", "discarded"}
)
CLUSTER_SCOPED = {"Namespace"}
SETTLE_TIMEOUT = 90.0

EDITOR = """\
import json, pathlib, sys
edits = json.loads(pathlib.Path(sys.argv[1]).read_text())
path = pathlib.Path(sys.argv[2])
text = path.read_text()
for old, new in edits:
    if old not in text:
        sys.exit(f"editor: {old!r} is not in the object:\\n{text}")
    text = text.replace(old, new, 1)
path.write_text(text)
"""


# -- set-up ------------------------------------------------------------------------------------


def selected_cases(request: pytest.FixtureRequest) -> list[Case]:
    """The cases the session will test (all, unless ``-k`` or node ids narrowed them)."""
    wanted = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and isinstance(callspec.params.get("case"), Case):
            wanted.add(callspec.params["case"].id)
    return [c for c in CASES if c.id in wanted] or list(CASES)


def build_repos(cases: list[Case], root: Path) -> dict[str, Path]:
    repos = {}
    for case in cases:
        seed = root / case.id / "seed"
        shutil.copytree(case.directory / "repo", seed)
        repos[case.id] = bare_remote(seed, f"{case.id}: as deployed")
    return repos


def rules(cases: list[Case], repos: dict[str, Path]) -> str:
    """Repository rules for the cases owned by one (objects people create)."""
    entries = [
        f"  - {{url: {json.dumps(str(repos[c.id]))}, branch: main, "
        f"path: {json.dumps(c.app_path)}, namespaces: [{c.namespace}]}}"
        for c in cases
        if c.owner == "rule"
    ]
    return "repos:\n" + "\n".join(entries) + "\n" if entries else ""


def load_docs(text: str, path: str) -> list[dict[str, Any]]:
    if path.endswith(".json"):
        data = json.loads(text)
        return list(data["items"]) if data.get("kind", "").endswith("List") else [data]
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind")]


def rendered(plane: ControlPlane, case: Case, seed: Path) -> list[dict[str, Any]]:
    """The objects the GitOps controller deploys for ``case``, as it would render them."""
    live = case.directory / "live.yaml"
    if live.exists():
        return load_docs(live.read_text(), str(live))
    app = seed / case.app_path
    if (app / "kustomization.yaml").exists():
        out = plane.kubectl("kustomize", str(app), user="argocd")
        return load_docs(out.stdout, "kustomize")
    docs = []
    for path in sorted(app.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json") and path.name != "kustomization.yaml":
            docs += load_docs(path.read_text(), str(path))
    return docs


def as_deployed(
    case: Case, docs: list[dict[str, Any]], replace: tuple[tuple[str, str], ...]
) -> list[dict[str, Any]]:
    """``docs`` as Argo CD applies them: namespaced, tracked, with the case's drift."""
    text = json.dumps(docs)
    for old, new in replace:
        assert old in text, f"{case.id}: {old!r} is not in the rendered objects"
        text = text.replace(old, new)
    out = []
    for doc in json.loads(text):
        meta = doc.setdefault("metadata", {})
        if doc["kind"] not in CLUSTER_SCOPED:
            meta.setdefault("namespace", case.namespace)
        if case.owner == "argocd":
            group = doc["apiVersion"].rpartition("/")[0]
            where = f"{meta.get('namespace', '')}/{meta['name']}"
            annotations = meta.setdefault("annotations", {})
            annotations["argocd.argoproj.io/tracking-id"] = (
                f"{case.id}:{group}/{doc['kind']}:{where}"
            )
        out.append(doc)
    return out


def application(case: Case, repo: Path, seed: Path) -> dict[str, Any] | None:
    if case.owner != "argocd":
        return None
    if case.helm_app is not None:
        app = yaml.safe_load((seed / case.helm_app).read_text())
        assert app["metadata"]["name"] == case.id, "the Application is named after the case"
        app["spec"]["source"]["repoURL"] = str(repo)
        return dict(app)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": case.id, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": str(repo), "targetRevision": "main", "path": case.app_path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": case.id},
        },
    }


def apply_as_argocd(plane: ControlPlane, objects: list[dict[str, Any]]) -> None:
    if objects:
        plane.kubectl(
            "apply",
            "--server-side",
            "--field-manager=argocd-controller",
            "-f",
            "-",
            user="argocd",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
        )


def install_crds(plane: ControlPlane) -> None:
    plane.kubectl("create", "namespace", "argocd", user="argocd")
    for crd in ("argocd-application-crd.yaml", "ratelimit-crd.yaml"):
        plane.kubectl("apply", "-f", str(MANIFESTS / crd), user="argocd")
    for name in ("applications.argoproj.io", "ratelimits.traffic.example.com"):
        plane.kubectl(
            "wait", "--for=condition=Established", f"crd/{name}", "--timeout=30s", user="argocd"
        )
    for resource in ("applications", "ratelimits"):
        wait_until(
            lambda r=resource: (
                plane.kubectl("get", r, "-A", user="argocd", check=False).returncode == 0
            ),
            what=f"{resource} served",
        )


def record_revision(plane: ControlPlane, namespace: str, name: str) -> None:
    """What the deployment controller does after a template change: a ReplicaSet holding the
    template, owned by the Deployment, numbered as the next revision."""
    deployment = json.loads(
        plane.kubectl(
            "get", "deployment", name, "-n", namespace, "-o", "json", user="argocd"
        ).stdout
    )
    uid = deployment["metadata"]["uid"]
    existing = json.loads(
        plane.kubectl("get", "replicasets", "-n", namespace, "-o", "json", user="argocd").stdout
    )["items"]
    owned = [
        rs
        for rs in existing
        if any(o["uid"] == uid for o in rs["metadata"].get("ownerReferences", []))
    ]
    revision = 1 + len(owned)
    template = deployment["spec"]["template"]
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    pod_hash = f"r{revision}-{digest[:8]}"
    template["metadata"].setdefault("labels", {})["pod-template-hash"] = pod_hash
    annotations = {
        k: v
        for k, v in (deployment["metadata"].get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    annotations["deployment.kubernetes.io/revision"] = str(revision)
    selector = {**deployment["spec"]["selector"]["matchLabels"], "pod-template-hash": pod_hash}
    replicaset = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name}-{pod_hash}",
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": 0, "selector": {"matchLabels": selector}, "template": template},
    }
    plane.kubectl("create", "-f", "-", user="argocd", stdin=json.dumps(replicaset))


# -- running -----------------------------------------------------------------------------------


class Batch:
    """Drives every case of the matrix against one control plane."""

    def __init__(self, plane: ControlPlane, cases: list[Case], workdir: Path) -> None:
        self.plane = plane
        self.cases = cases
        self.workdir = workdir
        self.seen = {c.id: Observed(c) for c in cases}
        self.editor = workdir / "editor.py"
        self.editor.write_text(EDITOR)
        self.pool = ThreadPoolExecutor(max_workers=6)
        self.timings: dict[str, float] = {}

    def run(self, case: Case, run: Run, number: int) -> None:
        seen = self.seen[case.id]
        args = list(run.args)
        env: dict[str, str] = {}
        stdin = None
        if run.file is not None:
            args += ["-f", str(case.directory / run.file)]
        if run.fetch is not None:
            got = self.plane.kubectl("get", run.fetch, "-n", case.namespace, "-o", "yaml")
            stdin = got.stdout
            for old, new in run.edits:
                if old not in stdin:
                    seen.errors.append(f"{old!r} is not in kubectl get {run.fetch}:\n{stdin}")
                    return
                stdin = stdin.replace(old, new, 1)
        elif run.edits:
            edits = self.workdir / f"{case.id}-{number}.json"
            edits.write_text(json.dumps(run.edits))
            env["KUBE_EDITOR"] = f"{sys.executable} {self.editor} {edits}"
        proc = self.plane.kubectl(
            *args, "-n", case.namespace, user=run.user, env=env, stdin=stdin, check=False
        )
        seen.output.append(
            f"$ kubectl {' '.join(args)} (as {run.user})\n{proc.stdout}{proc.stderr}"
        )
        warnings = [line for line in proc.stderr.splitlines() if "breakglass:" in line]
        seen.warnings += warnings
        if proc.returncode != 0:
            seen.errors.append(f"kubectl {run.verb} failed: {proc.stderr.strip()}")
        elif not any("breakglass: recorded" in line for line in warnings):
            seen.errors.append(f"kubectl {run.verb} showed no breakglass warning: {proc.stderr}")
        if run.revision is not None:
            record_revision(self.plane, case.namespace, run.revision)

    def launch(self, case: Case, phase: int) -> Future[None]:
        def go() -> None:
            for number, run in enumerate(case.runs[phase]):
                try:
                    self.run(case, run, phase * 10 + number)
                except Exception as exc:
                    self.seen[case.id].errors.append(f"{run.command()}: {exc}")

        return self.pool.submit(go)

    def captures(self) -> dict[str, list[dict[str, Any]]]:
        ids = {c.id for c in self.cases}
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for capture in reversed(self.plane.journal()):
            ref = capture["object"]
            owner = ref["namespace"] or (ref["name"] if ref["kind"] == "Namespace" else "")
            if owner in ids:
                found[owner].append(capture)
        return found

    def settle(self) -> None:
        """Run every phase of every case, each as soon as its case is ready for it."""
        phase = dict.fromkeys((c.id for c in self.cases), 0)
        running = {c.id: self.launch(c, 0) for c in self.cases}
        started = time.monotonic()
        while True:
            time.sleep(0.5)
            found = self.captures()
            waiting = []
            for case in self.cases:
                if not running[case.id].done():
                    waiting.append(case.id)
                    continue
                runs = sum(len(p) for p in case.runs[: phase[case.id] + 1])
                caps = found.get(case.id, [])
                settled = len(caps) >= runs and all(c["status"] in TERMINAL for c in caps)
                if self.seen[case.id].errors:
                    settled = all(c["status"] in TERMINAL for c in caps)
                if not settled:
                    waiting.append(case.id)
                elif phase[case.id] + 1 < len(case.runs):
                    phase[case.id] += 1
                    running[case.id] = self.launch(case, phase[case.id])
                    waiting.append(case.id)
            if not waiting:
                break
            if time.monotonic() - started > SETTLE_TIMEOUT:
                for case_id in waiting:
                    self.seen[case_id].errors.append(
                        f"not settled after {SETTLE_TIMEOUT:.0f}s: "
                        + ", ".join(c["status"] for c in found.get(case_id, []))
                    )
                break
        self.timings["kubectl to settled outcomes"] = time.monotonic() - started

    def collect(self, repos: dict[str, Path]) -> None:
        records_dir = self.plane.state / "pull-requests"
        records = [json.loads(p.read_text()) for p in sorted(records_dir.glob("*.json"))]
        log = self.plane.log("breakglass").splitlines()
        for case_id, caps in self.captures().items():
            seen = self.seen[case_id]
            seen.captures = caps
            urls = {c.get("pr_url") for c in caps} - {None}
            branch_part = (
                f"/_cluster/namespace/{case_id}"
                if seen.case.kind == "Namespace"
                else f"/{case_id}/"
            )
            seen.records = [
                r for r in records if r["url"] in urls or branch_part in (r.get("branch") or "")
            ]
            ids = [c["id"] for c in caps]
            seen.log = [
                line
                for line in log
                if any(i in line for i in ids) and ('"error"' in line or '"warning"' in line)
            ][-8:]
            for record in seen.pulls():
                branch = record["branch"]
                bare = repos[case_id]
                if not git("branch", "--list", branch, cwd=bare).strip():
                    seen.errors.append(f"branch {branch} is not in the repository")
                    continue
                diff = git("diff", f"main...{branch}", cwd=bare)
                seen.diffs[branch] = changed_lines(diff)
                authors = git("log", "--reverse", "--format=%an <%ae>", f"main..{branch}", cwd=bare)
                seen.commits[branch] = authors.splitlines()


def set_up(plane: ControlPlane, cases: list[Case], repos: dict[str, Path], root: Path) -> None:
    install_crds(plane)
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": c.namespace}}
        for c in cases
        if c.kind != "Namespace"
    ]
    rendered_docs = {c.id: rendered(plane, c, root / c.id / "seed") for c in cases}
    # Namespaces first (a Namespace case's object is its own namespace), then Applications
    first = [
        doc
        for c in cases
        for doc in as_deployed(c, rendered_docs[c.id], c.syncs[0])
        if doc["kind"] == "Namespace"
    ]
    apply_as_argocd(plane, namespaces + first)
    apps = [application(c, repos[c.id], root / c.id / "seed") for c in cases]
    apply_as_argocd(plane, [a for a in apps if a is not None])
    for sync in range(max(len(c.syncs) for c in cases)):
        objects = [
            doc
            for c in cases
            if sync < len(c.syncs)
            for doc in as_deployed(c, rendered_docs[c.id], c.syncs[sync])
            if doc["kind"] != "Namespace"
        ]
        apply_as_argocd(plane, objects)
        for c in cases:
            if sync < len(c.syncs):
                for name in c.history:
                    record_revision(plane, c.namespace, name)


def outcome_table(batch: Batch) -> str:
    """kubectl, kind and layout, then expected and actual outcome: one line per case."""
    width = max(len(", ".join(c.verbs)) for c in batch.cases)
    lines = [f"{'':4} {'kubectl':{width}} {'kind':27} {'layout':9} {'expected':30} actual  [case]"]
    for case in batch.cases:
        seen = batch.seen[case.id]
        verdict = "ok" if not check(case, seen) else "FAIL"
        lines.append(
            f"{verdict:4} {', '.join(case.verbs):{width}} {case.kind:27} {case.layout:9} "
            f"{case.expect.describe():30} {seen.summary()}  [{case.id}]"
        )
    return "\n".join(lines)


class _Summary:
    def __init__(self, text: str) -> None:
        self.text = text

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("verb matrix: kubectl, kind, layout -> outcome")
        terminalreporter.write_line(self.text)


@pytest.fixture(scope="module")
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Observed]]:
    if os.environ.get("BREAKGLASS_E2E") == "skip":
        pytest.skip("BREAKGLASS_E2E=skip")
    try:
        bins = binaries()
    except ToolchainMissing as exc:
        if os.environ.get("BREAKGLASS_E2E") == "required":
            pytest.fail(f"BREAKGLASS_E2E=required but the control plane is unavailable: {exc}")
        pytest.skip(str(exc))
    started = time.monotonic()
    cases = selected_cases(request)
    root = tmp_path_factory.mktemp("matrix")
    repos = build_repos(cases, root)
    plane = ControlPlane(root / "plane", bins, extra_config=rules(cases, repos))
    batch = Batch(plane, cases, root)
    try:
        plane.start()
        wait_for_webhook(plane)
        batch.timings["repositories and control plane"] = time.monotonic() - started
        mark = time.monotonic()
        set_up(plane, cases, repos, root)
        batch.timings["objects synced"] = time.monotonic() - mark
        batch.settle()
        batch.collect(repos)
        batch.timings["total"] = time.monotonic() - started
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in batch.timings.items())
        text = f"{outcome_table(batch)}\n{len(cases)} cases; {timings}"
        print("\n" + text)
        request.config.pluginmanager.register(_Summary(text), "verb-matrix-summary")
        yield batch.seen
    finally:
        batch.pool.shutdown(wait=True, cancel_futures=True)
        plane.stop()


def explain(case: Case, seen: Observed, problems: list[str]) -> str:
    parts = [f"{case.id}: expected {case.expect.describe()}", *(f"- {p}" for p in problems)]
    for record in seen.records:
        parts.append(f"{record.get('kind', 'pull')} {record['url']} ({record['state']})")
        parts.append(f"  title: {record['title']}")
        parts.append("  body:\n" + "\n".join("    " + line for line in record["body"].splitlines()))
        for comment in record.get("comments", []):
            parts.append(
                "  comment:\n" + "\n".join("    " + x for x in comment["body"].splitlines())
            )
    for branch, diff in seen.diffs.items():
        parts.append(f"diff of {branch}: {json.dumps(diff, indent=2)}")
    for c in seen.captures:
        parts.append(
            f"capture {c['id']} by {c['actor']['username']} ({c['actor']['field_manager']}): "
            f"{c['status']} {c.get('reason') or ''} paths={c['delta']['paths']}"
        )
    parts += seen.output
    if seen.log:
        parts += ["breakglass log:", *seen.log]
    return "\n".join(parts)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_verb(matrix: dict[str, Observed], case: Case) -> None:
    seen = matrix[case.id]
    problems = check(case, seen)
    assert not problems, explain(case, seen, problems)


def test_supported_operations_doc_matches_the_matrix() -> None:
    """docs/supported-operations.md carries the table generated from the cases (no cluster)."""
    text = DOC.read_text()
    assert DOC_BEGIN in text and DOC_END in text, "the doc lost its table markers"
    assert documented_table(text) == supported_operations_table(), (
        "docs/supported-operations.md is out of date with tests/e2e/matrix.py: run "
        "`.venv/bin/python -m tests.e2e.matrix` to write the table again"
    )

"""``breakglass demo``: the whole loop on embedded defaults, in one command and under two minutes.

It builds a throw-away world in a temporary directory: a GitOps repository (a bare Git remote
holding a kustomize app), a settings file (SQLite journal, the local forge, a repository rule
for the demo namespace, an identity for alice), and ``breakglass serve`` as a subprocess.  Then
alice makes manual changes:

- **cluster mode** (the control-plane binaries are cached, or ``--build-control-plane``): a real
  etcd + kube-apiserver is wired to breakglass through the generated webhook configuration and
  audit backend, and alice runs real ``kubectl scale`` and ``kubectl patch``;
- **replay mode** (otherwise): the AdmissionReviews and audit events a real API server sent for
  those commands (``tests/fixtures/recorded``) are replayed over HTTPS, and the demo says so.

Either way the rest is breakglass doing its job: capture, confirm, locate, edit, commit, push,
open the pull request, record it in the audit log.  The demo prints what a user would see at each
step, then cleans up (or, with ``--keep DIR``, leaves everything in DIR and says how to look).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from breakglass import certs, keyfiles, settings
from breakglass.demo import cluster as controlplane
from breakglass.demo import gitops, replay
from breakglass.errors import BreakglassError

MODES = ("auto", "cluster", "replay")


@dataclass(frozen=True)
class Change:
    """One manual change alice makes, as a real kubectl command and as a recording."""

    recording: str
    kubectl: tuple[str, ...]
    stdout: str

    @property
    def command(self) -> str:
        shown = [f"'{a}'" if "{" in a else a for a in self.kubectl]
        return "kubectl " + " ".join(shown)


CHANGES = (
    Change(
        "kubectl_scale_hits_the_scale_subresource",
        ("scale", "deployment/checkout", "-n", gitops.NAMESPACE, "--replicas=5"),
        "deployment.apps/checkout scaled",
    ),
    Change(
        "patch_in_three_flavours-kind_args0-patch0-data.TIMEOUT",
        (
            "patch",
            "configmap/checkout-config",
            "-n",
            gitops.NAMESPACE,
            "--type=merge",
            "-p",
            '{"data":{"TIMEOUT":"60"}}',
        ),
        "configmap/checkout-config patched",
    ),
)


#: the change made before breakglass is installed, which only a scan can find: someone turned the
#: new checkout flow on by hand (in the seed's story, three months before the sale-day outage)
BEFORE_INSTALL = (
    "patch",
    "configmap/checkout-config",
    "-n",
    gitops.NAMESPACE,
    "--type=merge",
    "-p",
    '{"data":{"FEATURE_X":"on"}}',
)


class DemoError(BreakglassError):
    """The demo could not run or breakglass did not do its job in time."""


@dataclass
class Options:
    mode: str = "auto"
    build_control_plane: bool = False
    keep: Path | None = None
    timeout: float = 90.0
    out: TextIO = field(default_factory=lambda: sys.stdout)


@dataclass
class Shown:
    """What kubectl printed for one change."""

    change: Change
    stdout: str
    warnings: list[str]


class Demo:
    """One run: the directory, the processes, and the steps in order."""

    STEPS = 7  # replay mode; a cluster adds the change before install and the scan

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.out = options.out
        self.workdir = workdir
        self.state = workdir / "state"
        self.config = workdir / "breakglass.yaml"
        self.records = self.state / "pull-requests"
        self.started = time.monotonic()
        self.step_no = 0
        self.serve: subprocess.Popen[bytes] | None = None
        self.plane: controlplane.ControlPlane | None = None
        secrets = {
            "BREAKGLASS_AUDIT_TOKEN": os.urandom(16).hex(),
            "BREAKGLASS_REDACTION_SALT": os.urandom(16).hex(),
        }
        # The audit log's key is a file the settings name (audit_log.key_file), not a variable
        # of this process: `breakglass audit verify --config` finds it after the demo, in a
        # shell of its own, when --keep leaves the log behind.
        self.audit_key = workdir / "audit-log.key"
        key_env = settings.AuditLogSettings().key_env  # it would come first: not inherited
        inherited = {k: v for k, v in os.environ.items() if k != key_env}
        self.env = {**inherited, **secrets}
        self.port = controlplane.free_port()
        self.url = f"https://127.0.0.1:{self.port}"

    # -- output ----------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self.step_no += 1
        elapsed = time.monotonic() - self.started
        self.say(f"[{self.step_no}/{self.STEPS}] {elapsed:5.1f}s  {text}")

    def section(self, title: str) -> None:
        self.say()
        self.say(f"── {title} " + "─" * max(0, 74 - len(title)))

    # -- helpers ---------------------------------------------------------------------------

    def breakglass(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "breakglass", *args],
            capture_output=True,
            text=True,
            check=False,
            env=self.env,
            timeout=60,
        )

    def _get(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self.state / "tls" / "ca.crt"))
        with urllib.request.urlopen(self.url + path, context=context, timeout=2) as resp:  # noqa: S310
            return str(resp.read().decode())

    # -- steps -----------------------------------------------------------------------------

    def create_repo(self) -> None:
        self.bare = gitops.create(self.workdir)
        self.step(f"GitOps repository: {self.bare} (apps/checkout: kustomize base + prod overlay)")

    def write_config(self, *, kubeconfig: Path | None) -> None:
        keyfiles.create_once(self.audit_key, os.urandom(32).hex().encode() + b"\n")  # 0600
        kube = (
            f"kube: {{mode: kubeconfig, kubeconfig: {kubeconfig}, context: breakglass}}"
            if kubeconfig
            else "kube: {mode: 'off'}   # replay: no cluster to read; audit events confirm"
        )
        self.config.write_text(
            textwrap.dedent(
                f"""\
                # Written by `breakglass demo`.
                cluster: demo
                state_dir: {self.state}
                listen: {{host: 127.0.0.1, port: {self.port}}}
                logging: {{level: info, format: json}}
                audit_log: {{key_file: {self.audit_key}}}   # mode 0600; `audit verify` reads it
                {kube}
                # one pull request per kubectl command, so each shows on its own (the default,
                # group_window_seconds: 300, would gather alice's two into one)
                backfill: {{interval: 0.5, grace_seconds: 1, pr_poll_interval: 2,
                            labels: [breakglass, backfill], group_window_seconds: 0}}
                forges:
                  local: {{kind: local}}   # branches to the bare remote, PRs as JSON records
                repos:
                  - url: {self.bare}
                    branch: main
                    path: {gitops.APP_PATH}
                    namespaces: [{gitops.NAMESPACE}]
                users:
                  alice: {{name: Alice Doe, email: alice@example.com, github: alice-doe}}
                scan:   # drift whose author a scan cannot name goes to the namespace's on-call
                  owners: [{{namespaces: [{gitops.NAMESPACE}], users: [alice]}}]
                """
            )
        )

    def start_breakglass(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        with (self.workdir / "logs" / "breakglass.log").open("wb") as log:
            self.serve = subprocess.Popen(
                [sys.executable, "-m", "breakglass", "serve", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.serve.poll() is not None:
                raise DemoError(
                    "breakglass serve exited during start-up",
                    hint=f"its log: {self.workdir / 'logs' / 'breakglass.log'}",
                )
            with contextlib.suppress(OSError, ssl.SSLError):
                if self._get("/readyz"):
                    break
            if time.monotonic() > deadline:
                raise DemoError("breakglass serve was not ready after 30s")
            time.sleep(0.2)
        self.step(
            f"breakglass serve: {self.url} (pid {self.serve.pid}; SQLite journal, local forge, "
            "self-signed TLS)"
        )

    def choose_mode(self) -> str:
        mode = self.options.mode
        if mode == "replay":
            return "replay"
        try:
            self.bins = controlplane.binaries(build=self.options.build_control_plane)
        except controlplane.Unavailable as exc:
            if mode == "cluster":
                raise DemoError(
                    f"cluster mode: {exc}",
                    hint="`breakglass demo --build-control-plane` builds them (needs Go; minutes)",
                ) from None
            self.why_replay = str(exc)
            return "replay"
        # the render check runs with the kustomize and helm the tests build, where there
        for key, env in (("KUSTOMIZE", "BREAKGLASS_KUSTOMIZE"), ("HELM", "BREAKGLASS_HELM")):
            if self.bins.get(key) and env not in self.env:
                self.env[env] = self.bins[key]
        return "cluster"

    def start_cluster(self) -> None:
        self.plane = controlplane.ControlPlane(
            self.workdir / "cluster",
            self.bins,
            breakglass_url=self.url,
            breakglass_ca=self.state / "tls" / "ca.crt",
            audit_token=self.env["BREAKGLASS_AUDIT_TOKEN"],
        )
        self.plane.start(wired=False)
        self.step(
            "control plane: real etcd + kube-apiserver on 127.0.0.1 (breakglass not installed yet)"
        )

    def change_before_install(self) -> None:
        """bob fixes something by hand before breakglass exists: nothing records it."""
        assert self.plane is not None
        proc = self.plane.kubectl(*BEFORE_INSTALL, user="bob")
        if proc.returncode != 0:
            raise DemoError(f"kubectl {' '.join(BEFORE_INSTALL)} failed: {proc.stderr.strip()}")
        self.step(
            "bob turned FEATURE_X on by hand (kubectl patch) before breakglass was installed: "
            "no webhook saw it, Git still says off"
        )

    def install(self) -> None:
        """Wire the API server to breakglass (restart with the audit backend, register the
        webhook), as installing it on a self-managed control plane does."""
        assert self.plane is not None
        self.plane.wire()
        self.step(
            "installed: the API server restarted with breakglass as its audit backend, and "
            "its validating webhook registered"
        )

    def scan(self) -> subprocess.CompletedProcess[str]:
        """The first thing to run after installing: ``breakglass scan --backfill``."""
        proc = self.breakglass("scan", "--config", str(self.config), "--backfill")
        if proc.returncode not in (0, 1):
            raise DemoError(f"breakglass scan failed:\n{proc.stdout}{proc.stderr}")
        found = proc.stdout.splitlines()[0] if proc.stdout else "nothing"
        self.step(f"breakglass scan --backfill: {found}")
        self.scanned = 1 if proc.returncode == 1 else 0
        deadline = time.monotonic() + self.options.timeout
        while self.scanned:
            listed = self.breakglass(
                "journal", "list", "--config", str(self.config), "--format", "json"
            )
            captures = json.loads(listed.stdout) if listed.returncode == 0 else []
            opened = [c for c in captures if c["source"] == "scan" and c["status"] == "pr_open"]
            if opened:
                self.step(f"backfill: the scan's capture became pull request {opened[0]['pr_url']}")
                break
            if time.monotonic() > deadline:
                raise DemoError(
                    "the scan's capture never became a pull request",
                    hint=f"breakglass's log: {self.workdir / 'logs' / 'breakglass.log'}",
                )
            time.sleep(0.5)
        return proc

    def sync_app(self) -> None:
        """Play Argo CD: render the overlay and apply it as the controller's identity."""
        assert self.plane is not None
        plane = self.plane
        seed = self.workdir / "seed"
        plane.kubectl("create", "namespace", gitops.NAMESPACE, user="argocd", check=True)
        rendered = plane.kubectl("kustomize", str(seed / gitops.APP_PATH), check=True).stdout
        plane.kubectl(
            "apply",
            "--server-side",
            "--field-manager=argocd-controller",
            "-f",
            "-",
            user="argocd",
            stdin=rendered,
            check=True,
        )
        self.step(
            f"Argo CD's identity synced {gitops.APP_PATH} into namespace {gitops.NAMESPACE} "
            "(breakglass ignores it; the demo has no Application object, so a repos: rule "
            "for the namespace says which repository owns it)"
        )

    def wait_for_webhook(self) -> None:
        """The API server picks up a new webhook configuration within a moment; a server-side
        dry-run reaches breakglass (which skips it) without recording anything."""
        assert self.plane is not None
        deadline = time.monotonic() + 30
        while not self._dry_runs_seen():
            self.plane.kubectl(
                "label",
                "configmap/checkout-config",
                "-n",
                gitops.NAMESPACE,
                "probe=1",
                "--dry-run=server",
            )
            if time.monotonic() > deadline:
                raise DemoError("the API server never called the webhook")
            time.sleep(0.3)

    def _dry_runs_seen(self) -> bool:
        with contextlib.suppress(OSError):
            for line in self._get("/metrics").splitlines():
                if line.startswith("breakglass_skipped_requests_total{") and (
                    'reason="dry-run"' in line
                ):
                    return float(line.rsplit(" ", 1)[1]) > 0
        return False

    def make_changes(self, mode: str) -> list[Shown]:
        shown: list[Shown] = []
        if mode == "cluster":
            assert self.plane is not None
            for change in CHANGES:
                proc = self.plane.kubectl(*change.kubectl, user="alice")
                if proc.returncode != 0:
                    raise DemoError(f"{change.command} failed: {proc.stderr.strip()}")
                warnings = [
                    line.removeprefix("Warning: ")
                    for line in proc.stderr.splitlines()
                    if line.startswith("Warning: ")
                ]
                shown.append(Shown(change, proc.stdout.strip(), warnings))
            self.step(f"alice ran {len(CHANGES)} manual changes with kubectl (real API server)")
            return shown
        client = replay.Client(
            self.url,
            ca_file=self.state / "tls" / "ca.crt",
            audit_token=self.env["BREAKGLASS_AUDIT_TOKEN"],
        )
        for change in CHANGES:
            try:
                answers = replay.replay(
                    client, replay.load(change.recording), namespace=gitops.NAMESPACE
                )
            except replay.ReplayUnavailable as exc:
                raise DemoError(
                    str(exc), hint="run the demo from a clone of the repository"
                ) from None
            warnings = [w for a in answers for w in a.warnings]
            shown.append(Shown(change, change.stdout, warnings))
        self.step(
            f"replayed the API server's recorded AdmissionReviews and audit events for "
            f"{len(CHANGES)} kubectl commands over HTTPS"
        )
        return shown

    def wait_for_backfill(self) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.options.timeout
        while True:
            records = self._records()
            listed = self.breakglass(
                "journal", "list", "--config", str(self.config), "--format", "json"
            )
            captures = json.loads(listed.stdout) if listed.returncode == 0 else []
            done = [c for c in captures if c["status"] == "pr_open"]
            expected = len(CHANGES) + getattr(self, "scanned", 0)
            if len(records) >= len(CHANGES) and len(done) >= expected:
                self.step(f"backfill: {len(records)} pull requests opened, captures are pr_open")
                return records
            if time.monotonic() > deadline:
                states = ", ".join(f"{c['id']}={c['status']}" for c in captures) or "none"
                raise DemoError(
                    f"no backfill after {self.options.timeout:.0f}s (captures: {states})",
                    hint=f"breakglass's log: {self.workdir / 'logs' / 'breakglass.log'} "
                    "(run with --keep DIR to keep it)",
                )
            time.sleep(0.5)

    def _records(self) -> list[dict[str, Any]]:
        if not self.records.is_dir():
            return []
        out = []
        for path in sorted(self.records.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(path.read_text(encoding="utf-8")))
        return out

    def verify_audit_log(self) -> subprocess.CompletedProcess[str]:
        proc = self.breakglass("audit", "verify", "--config", str(self.config))
        if proc.returncode != 0:
            raise DemoError(f"audit verify failed:\n{proc.stdout}{proc.stderr}")
        self.step("audit log: `breakglass audit verify` passes")
        return proc

    # -- the report --------------------------------------------------------------------------

    def report(
        self,
        mode: str,
        shown: list[Shown],
        records: list[dict[str, Any]],
        verified: subprocess.CompletedProcess[str],
        scanned: subprocess.CompletedProcess[str] | None = None,
    ) -> None:
        if scanned is not None:
            self.section("Drift made before breakglass was installed: breakglass scan --backfill")
            self.say(scanned.stdout.rstrip())
        title = "What kubectl showed alice"
        if mode == "replay":
            title += " (replayed: breakglass's answers, as kubectl prints them)"
        self.section(title)
        for item in shown:
            self.say(f"$ {item.change.command}")
            for warning in item.warnings:
                self.say(f"Warning: {warning}")
            self.say(item.stdout)
        self.section("Captures: breakglass journal list")
        listed = self.breakglass("journal", "list", "--config", str(self.config))
        self.say(listed.stdout.rstrip())
        for record in records:
            self.section(f"Backfill branch {record['branch']}")
            diff = gitops.git("diff", f"{record['base']}...{record['branch']}", cwd=self.bare)
            self.say(diff.rstrip())
            self.section(f"Pull request #{record['number']} (local forge record)")
            assignees = record.get("assignees") or []
            self.say(f"Title:     {record['title']}")
            self.say(f"Branch:    {record['branch']} → {record['base']}")
            self.say(f"Labels:    {', '.join(record.get('labels') or []) or '-'}")
            self.say(
                "Assignee:  " + (", ".join(f"@{a}" for a in assignees) if assignees else "(none)")
            )
            self.say("Body:")
            for line in str(record["body"]).rstrip().splitlines():
                self.say(f"  │ {line}".rstrip())
        self.section("Audit log: breakglass audit verify")
        self.say(verified.stdout.rstrip())
        self.section("This run's numbers: breakglass report --since 1d")
        reported = self.breakglass("report", "--config", str(self.config), "--since", "1d")
        if reported.returncode != 0:
            raise DemoError(f"breakglass report failed:\n{reported.stdout}{reported.stderr}")
        summary = reported.stdout.split("\n### ", 1)[0]
        self.say(summary.rstrip())

    # -- teardown ----------------------------------------------------------------------------

    def stop(self) -> None:
        if self.plane is not None:
            self.plane.stop()
        if self.serve is not None and self.serve.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.serve.pid, signal.SIGTERM)
            try:
                self.serve.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.serve.pid, signal.SIGKILL)
                self.serve.wait(timeout=5)

    def run(self) -> None:
        self.say("breakglass demo: a manual kubectl change becomes a backfill pull request")
        mode = self.choose_mode()
        if mode == "cluster":
            self.STEPS = 11
        self.create_repo()
        kubeconfig = None
        scanned = None
        if mode == "cluster":
            kubeconfig = self.workdir / "cluster" / "kubeconfig"
        self.write_config(kubeconfig=kubeconfig)
        # breakglass's serving pair first: the API server must trust it before either starts
        # (serve reuses the files instead of generating its own).
        certs.generate(self.state / "tls", ["localhost", "127.0.0.1"])
        if mode == "cluster":
            self.start_cluster()
            self.sync_app()
            self.change_before_install()
            self.install()
        self.start_breakglass()
        if mode == "cluster":
            self.wait_for_webhook()
            scanned = self.scan()
        else:
            self.step(
                f"replay mode ({getattr(self, 'why_replay', 'asked for')}): no API server; "
                "breakglass gets the recorded payloads of a real one "
                "(`--build-control-plane` builds one, which takes minutes)"
            )
            self.step(f"the live objects are the recorded ones in namespace {gitops.NAMESPACE}")
        shown = self.make_changes(mode)
        records = self.wait_for_backfill()
        verified = self.verify_audit_log()
        self.report(mode, shown, records, verified, scanned)


@contextlib.contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        if keep.exists() and any(keep.iterdir()):
            raise DemoError(f"--keep {keep}: directory is not empty", hint="give a new directory")
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix="breakglass-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(options: Options) -> int:
    """Run the demo; raise ``DemoError`` with a hint when it cannot finish."""
    if options.mode not in MODES:
        raise DemoError(f"unknown mode {options.mode!r}", hint="auto, cluster or replay")
    if shutil.which("git") is None:
        raise DemoError("git is not installed", hint="the demo pushes branches with real git")
    with _workdir(options.keep) as workdir:
        demo = Demo(options, workdir)
        try:
            demo.run()
        finally:
            demo.stop()
        elapsed = time.monotonic() - demo.started
        demo.section("Done")
        if options.keep is not None:
            demo.say(f"Everything is in {workdir} ({elapsed:.0f}s). Look around:")
            demo.say(f"  breakglass journal list --config {demo.config}")
            demo.say(f"  breakglass audit verify --config {demo.config}")
            demo.say(f"  git -C {demo.bare} log --oneline --all")
            demo.say(f"  ls {demo.records}")
            demo.say(f"  less {workdir / 'logs' / 'breakglass.log'}")
        else:
            demo.say(f"Finished in {elapsed:.0f}s; stopped every process and removed {workdir}.")
            demo.say("`breakglass demo --keep DIR` leaves it all in DIR to explore.")
    return 0

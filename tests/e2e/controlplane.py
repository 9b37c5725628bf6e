"""A real control plane for end-to-end tests: etcd + kube-apiserver + breakglass, on loopback.

Everything lives in one temporary directory and on free loopback ports.  The API server runs
with static-token users (alice and bob in ``oncall``, an admin, and identities standing for the
Argo CD and Flux controllers: ``flux`` is kustomize-controller, ``flux-source`` source-controller), RBAC, an audit policy and the audit **batch** webhook backend
pointing at breakglass, which itself runs as a subprocess through its real CLI.  The
ValidatingWebhookConfiguration comes from ``breakglass manifests webhook`` — the same generator
``deploy/`` uses.
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
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from breakglass.certs import issue as issue_cert
from breakglass.certs import pem_key
from breakglass.demo.cluster import apiserver_command, etcd_command, free_port
from tests.e2e.recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]
TESTBIN = ROOT / "tests" / "e2e" / "testbin.sh"
AUDIT_TOKEN = "e2e-audit-token"

USERS = {
    "admin": ("admin-token", "admin", "system:masters"),
    "alice": ("alice-token", "alice", "oncall"),
    "bob": ("bob-token", "bob", "oncall"),
    "argocd": (
        "argocd-token",
        "system:serviceaccount:argocd:argocd-application-controller",
        "system:serviceaccounts,system:serviceaccounts:argocd",
    ),
    "breakglass": (
        "breakglass-token",
        "system:serviceaccount:breakglass:breakglass",
        "system:serviceaccounts,system:serviceaccounts:breakglass",
    ),
    "flux": (
        "flux-token",
        "system:serviceaccount:flux-system:kustomize-controller",
        "system:serviceaccounts,system:serviceaccounts:flux-system",
    ),
    "flux-source": (
        "flux-source-token",
        "system:serviceaccount:flux-system:source-controller",
        "system:serviceaccounts,system:serviceaccounts:flux-system",
    ),
}


class ToolchainMissing(RuntimeError):
    """The binaries could not be built or found (no Go, no module proxy)."""


def binaries() -> dict[str, str]:
    """Paths of kube-apiserver, kubectl and etcd, building them into the cache if needed.

    The dict holds every assignment testbin.sh prints; ``SOPS``, ``KUSTOMIZE`` and ``HELM``
    reach the breakglass process as ``BREAKGLASS_SOPS``, ``BREAKGLASS_KUSTOMIZE`` and
    ``BREAKGLASS_HELM``.
    """
    if shutil.which("go") is None and not os.environ.get("BREAKGLASS_TESTBIN_DIR"):
        cached = Path.home() / ".cache" / "breakglass" / "testbin"
        if not any(cached.glob("k8s-*/.complete")):
            raise ToolchainMissing(
                "Go is not installed, so kube-apiserver and etcd cannot be built; install Go "
                "(>= 1.25) and run tests/e2e/testbin.sh, or set BREAKGLASS_E2E=required in CI"
            )
    proc = subprocess.run(["bash", str(TESTBIN)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolchainMissing(f"tests/e2e/testbin.sh failed:\n{proc.stderr[-4000:]}")
    found = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    for key in ("KUBE_APISERVER", "KUBECTL", "ETCD"):
        if key not in found or not Path(found[key]).is_file():
            raise ToolchainMissing(f"tests/e2e/testbin.sh did not produce {key}")
    return found


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def stop_group(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM a process started in a session of its own (and its children), SIGKILL after 15 s."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver + breakglass; use ``start()`` and ``stop()``."""

    workdir: Path
    bins: dict[str, str]
    extra_config: str = ""
    forge: str = "local"
    extra_env: dict[str, str] = field(default_factory=dict)
    #: False: the API server alone, breakglass neither running nor registered (a cluster where
    #: changes bypass it), writing its own audit log file (``audit_log_path``) instead
    webhooks: bool = True
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.api_port = free_port()
        self.bg_port = free_port()
        self.worker_metrics_port = free_port()
        self.worker_metrics_url = f"http://127.0.0.1:{self.worker_metrics_port}"
        self.proxy_port = free_port()
        self.proxy_url = f"https://127.0.0.1:{self.proxy_port}"
        self.api_url = f"https://127.0.0.1:{self.api_port}"
        self.bg_url = f"https://127.0.0.1:{self.bg_port}"
        self.pki = self.workdir / "pki"
        self.state = self.workdir / "breakglass-state"
        self.logs = self.workdir / "logs"

    # -- set-up -------------------------------------------------------------------------

    def _write_pki(self) -> None:
        self.pki.mkdir(parents=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = issue_cert("e2e-ca", ca_key)
        (self.pki / "ca.crt").write_bytes(_pem(ca))
        for name, hosts in (
            ("apiserver", ("127.0.0.1", "localhost", "10.0.0.1", "kubernetes.default.svc")),
            ("breakglass", ("127.0.0.1", "localhost")),
        ):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = issue_cert(name, key, (ca, ca_key), hosts)
            (self.pki / f"{name}.crt").write_bytes(_pem(cert) + _pem(ca))
            (self.pki / f"{name}.key").write_bytes(pem_key(key))
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (self.pki / "sa.key").write_bytes(pem_key(sa))
        (self.pki / "sa.pub").write_bytes(
            sa.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        with (self.pki / "tokens.csv").open("w") as handle:
            for token, user, groups in USERS.values():
                handle.write(f'{token},{user},{user}-uid,"{groups}"\n')

    def _write_breakglass_files(self) -> None:
        self.state.mkdir(parents=True)
        self.config = self.workdir / "breakglass.yaml"
        self.config.write_text(
            f"""cluster: e2e
state_dir: {self.state}
listen: {{host: 127.0.0.1, port: {self.bg_port}}}
tls: {{cert_file: {self.pki / "breakglass.crt"}, key_file: {self.pki / "breakglass.key"}}}
journal: sqlite:///{self.state / "journal.db"}
logging: {{level: debug, format: json}}
metrics: {{worker_listen: {{host: 127.0.0.1, port: {self.worker_metrics_port}}}}}
kube: {{kubeconfig: {self.workdir / "kubeconfig"}, context: breakglass}}
backfill: {{interval: 0.5, grace_seconds: 2, pr_poll_interval: 1, forge: {self.forge}, render_check: required}}
users:
  alice: {{name: Alice Doe, email: alice@example.com, github: alice-doe, gitlab: alice}}
{self.extra_config}
"""
        )
        (self.pki / "audit-token").write_text(AUDIT_TOKEN + "\n")
        os.chmod(self.pki / "audit-token", 0o600)
        env = {**os.environ, "BREAKGLASS_AUDIT_TOKEN": AUDIT_TOKEN}
        for what, args in (
            ("audit-policy.yaml", ["audit-policy"]),
            (
                "audit-webhook.kubeconfig",
                [
                    # the deploy/examples form: CA and token as files on the API server's host,
                    # so the kubeconfig itself holds no secret
                    "audit-kubeconfig",
                    "--ca-path",
                    str(self.pki / "ca.crt"),
                    "--token-file",
                    str(self.pki / "audit-token"),
                    "--url",
                    self.proxy_url,
                ],
            ),
            (
                "webhook.yaml",
                [
                    "webhook",
                    "--ca-file",
                    str(self.pki / "ca.crt"),
                    "--url",
                    self.proxy_url,
                    "--config",
                    str(self.config),
                    "--timeout",
                    "5",
                ],
            ),
        ):
            out = subprocess.run(
                [sys.executable, "-m", "breakglass", "manifests", *args],
                capture_output=True,
                check=True,
                env=env,
            )
            (self.workdir / what).write_bytes(out.stdout)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.logs.mkdir(exist_ok=True)
        handle = (self.logs / f"{name}.log").open("ab")  # a restart keeps what came before
        self.procs[name] = subprocess.Popen(
            argv, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def _wait(self, name: str, url: str, ctx: ssl.SSLContext | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        headers = {"Authorization": "Bearer admin-token"} if name == "kube-apiserver" else {}
        while True:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log(name)[-4000:]}")
            try:
                req = urllib.request.Request(url, headers=headers)
                with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout}s:\n{self.log(name)[-4000:]}")
            time.sleep(0.2)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        started = time.monotonic()
        self._write_pki()
        self._write_kubeconfig()
        self._write_breakglass_files()
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        if not self.webhooks:
            self._start_bare(started, ctx)
            return
        self.recorder = Recorder(
            port=self.proxy_port,
            upstream=self.bg_url,
            cert=self.pki / "breakglass.crt",
            key=self.pki / "breakglass.key",
            ca=self.pki / "ca.crt",
        )
        self.recorder.start()
        self._spawn_breakglass()
        self._spawn(
            "etcd",
            etcd_command(
                self.bins["ETCD"],
                data_dir=self.workdir / "etcd",
                client_port=self.etcd_port,
                peer_port=self.etcd_peer_port,
            ),
        )
        self._wait("etcd", f"http://127.0.0.1:{self.etcd_port}/health", None, 30)
        self.timings["etcd"] = time.monotonic() - started
        self._spawn(
            "kube-apiserver",
            [
                *apiserver_command(
                    self.bins["KUBE_APISERVER"],
                    etcd_port=self.etcd_port,
                    port=self.api_port,
                    pki=self.pki,
                    audit_policy=self.workdir / "audit-policy.yaml",
                    audit_kubeconfig=self.workdir / "audit-webhook.kubeconfig",
                ),
                "--v=1",
            ],
        )
        self._wait("kube-apiserver", f"{self.api_url}/readyz", ctx, 90)
        self.timings["kube-apiserver"] = time.monotonic() - started
        self._wait("breakglass", f"{self.bg_url}/readyz", ctx, 30)
        self._bootstrap()
        self.timings["ready"] = time.monotonic() - started

    def _spawn_breakglass(self) -> None:
        self._spawn(
            "breakglass",
            [sys.executable, "-m", "breakglass", "serve", "--config", str(self.config)],
            env={
                **os.environ,
                "BREAKGLASS_AUDIT_TOKEN": AUDIT_TOKEN,
                "BREAKGLASS_REDACTION_SALT": "e2e-salt",
                **{
                    f"BREAKGLASS_{key}": self.bins[key]
                    for key in ("SOPS", "KUSTOMIZE", "HELM")
                    if key in self.bins
                },
                **self.extra_env,
            },
        )

    def kill_breakglass(self) -> None:
        """SIGKILL breakglass and its worker (a crash: nothing gets to clean up)."""
        proc = self.procs.pop("breakglass")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def start_breakglass(self) -> None:
        """Start breakglass again after ``kill_breakglass`` (same settings, same state)."""
        self._spawn_breakglass()
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        self._wait("breakglass", f"{self.bg_url}/readyz", ctx, 30)

    def _start_bare(self, started: float, ctx: ssl.SSLContext) -> None:
        """etcd and the API server with the log audit backend: every write at Request level
        (its body kept), as a cluster's own audit log records it."""
        self.audit_log_path = self.logs / "audit.log"
        policy = self.workdir / "audit-log-policy.yaml"
        policy.write_text(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
            "rules:\n- level: None\n  verbs: [get, list, watch]\n"
            "- level: Request\n  verbs: [create, update, patch, delete]\n"
        )
        self._spawn(
            "etcd",
            etcd_command(
                self.bins["ETCD"],
                data_dir=self.workdir / "etcd",
                client_port=self.etcd_port,
                peer_port=self.etcd_peer_port,
            ),
        )
        self._wait("etcd", f"http://127.0.0.1:{self.etcd_port}/health", None, 30)
        argv = [
            a
            for a in apiserver_command(
                self.bins["KUBE_APISERVER"],
                etcd_port=self.etcd_port,
                port=self.api_port,
                pki=self.pki,
                audit_policy=policy,
                audit_kubeconfig=Path("/dev/null"),
            )
            if not a.startswith("--audit-webhook")
        ]
        self.logs.mkdir(exist_ok=True)
        self._spawn(
            "kube-apiserver",
            [
                *argv,
                f"--audit-log-path={self.audit_log_path}",
                "--audit-log-maxsize=1",
                "--audit-log-maxbackup=5",
                "--audit-log-compress",
                "--v=1",
            ],
        )
        self._wait("kube-apiserver", f"{self.api_url}/readyz", ctx, 90)
        self._bootstrap()
        self.timings["ready"] = time.monotonic() - started

    def _write_kubeconfig(self) -> None:
        self.kubeconfig = self.workdir / "kubeconfig"
        users = [{"name": n, "user": {"token": t}} for n, (t, _, _) in USERS.items()]
        contexts = [{"name": n, "context": {"cluster": "e2e", "user": n}} for n in USERS]
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "e2e",
                            "cluster": {
                                "server": self.api_url,
                                "certificate-authority": str(self.pki / "ca.crt"),
                            },
                        }
                    ],
                    "users": users,
                    "contexts": contexts,
                    "current-context": "alice",
                }
            )
        )

    def _bootstrap(self) -> None:
        rbac = self.workdir / "rbac.yaml"
        rbac.write_text(
            """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-oncall-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: oncall}
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}
- {apiGroup: rbac.authorization.k8s.io, kind: User,
   name: "system:serviceaccount:argocd:argocd-application-controller"}
- {apiGroup: rbac.authorization.k8s.io, kind: User,
   name: "system:serviceaccount:flux-system:kustomize-controller"}
- {apiGroup: rbac.authorization.k8s.io, kind: User,
   name: "system:serviceaccount:flux-system:source-controller"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-breakglass-reader}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-breakglass-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-breakglass-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:serviceaccount:breakglass:breakglass"}
"""
        )
        # cluster-admin and the default namespaces come from the API server's bootstrap
        # controllers; wait for them before binding.
        deadline = time.monotonic() + 60
        while self.kubectl(
            "get", "clusterrole", "cluster-admin", user="admin", check=False
        ).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("bootstrap RBAC never appeared")
            time.sleep(0.5)
        self.kubectl("apply", "-f", str(rbac), user="admin")
        if self.webhooks:
            self.kubectl("apply", "-f", str(self.workdir / "webhook.yaml"), user="admin")

    def stop(self) -> None:
        recorder = getattr(self, "recorder", None)
        if recorder is not None:
            recorder.stop()
        for name in ("kube-apiserver", "etcd", "breakglass"):
            stop_group(self.procs.get(name))

    # -- driving it ---------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        user: str = "alice",
        check: bool = True,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [self.bins["KUBECTL"], f"--kubeconfig={self.kubeconfig}", f"--context={user}", *args]
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            input=stdin,
            env={**os.environ, **(env or {})},
            timeout=60,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} as {user} failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def journal(self, *, status: str | None = None) -> list[dict[str, Any]]:
        argv = [
            sys.executable,
            "-m",
            "breakglass",
            "journal",
            "list",
            "--config",
            str(self.config),
            "--format",
            "json",
            "--limit",
            "10000",
        ]
        if status:
            argv += ["--status", status]
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        return list(json.loads(out.stdout))

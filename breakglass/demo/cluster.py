"""Cluster mode: a real etcd + kube-apiserver on loopback, so the demo's kubectl is real too.

The binaries come from ``tests/e2e/testbin.sh`` (built from their Go modules and cached; the
demo only builds them with ``--build-control-plane``).  The API server is wired to breakglass
exactly as a self-managed control plane would be: the ValidatingWebhookConfiguration, audit
policy and audit webhook kubeconfig come from ``breakglass.manifests``.  Users authenticate with
static tokens: ``alice`` (group ``oncall``), ``admin``, the Argo CD controller's identity (which
breakglass ignores) and breakglass's own read-only identity.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from breakglass import certs, manifests

TESTBIN = Path(__file__).resolve().parents[2] / "tests" / "e2e" / "testbin.sh"

USERS = {
    "admin": ("system:demo-admin", "system:masters"),  # system:* — breakglass ignores it
    "alice": ("alice", "oncall"),
    "bob": ("bob", "oncall"),
    "argocd": (
        "system:serviceaccount:argocd:argocd-application-controller",
        "system:serviceaccounts,system:serviceaccounts:argocd",
    ),
    "breakglass": (
        "system:serviceaccount:breakglass:breakglass",
        "system:serviceaccounts,system:serviceaccounts:breakglass",
    ),
}

RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: demo-oncall-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: oncall}
- {apiGroup: rbac.authorization.k8s.io, kind: User,
   name: "system:serviceaccount:argocd:argocd-application-controller"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: breakglass-reader}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [get, list]}
- {apiGroups: [""], resources: [configmaps, services], verbs: [get, list]}
- {apiGroups: [argoproj.io], resources: [applications], verbs: [get, list]}
- {apiGroups: [kustomize.toolkit.fluxcd.io], resources: [kustomizations], verbs: [get, list]}
- {apiGroups: [helm.toolkit.fluxcd.io], resources: [helmreleases], verbs: [get, list]}
- {apiGroups: [source.toolkit.fluxcd.io], resources: [gitrepositories], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: breakglass-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: breakglass-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User,
   name: "system:serviceaccount:breakglass:breakglass"}
"""


class Unavailable(RuntimeError):
    """No cached binaries (and no build asked for), or the build failed."""


def binaries(*, build: bool) -> dict[str, str]:
    """Paths of kube-apiserver, kubectl and etcd: cached ones, or built when ``build``."""
    if not TESTBIN.is_file():
        raise Unavailable("tests/e2e/testbin.sh is not here (cluster mode needs a source checkout)")
    env = dict(os.environ)
    if not build:
        cache = Path(env.get("BREAKGLASS_TESTBIN_DIR") or Path.home() / ".cache/breakglass/testbin")
        k8s = env.get("BREAKGLASS_K8S_VERSION", "")
        if not any(
            (d / ".complete").is_file()
            for d in cache.glob(f"k8s-{k8s or '*'}")
            if (d / "kube-apiserver").is_file()
        ):
            raise Unavailable("the control-plane binaries are not cached")
    proc = subprocess.run(
        ["bash", str(TESTBIN)], capture_output=True, text=True, check=False, timeout=3600
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise Unavailable(f"tests/e2e/testbin.sh failed: {last[0]}")
    found = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    for key in ("KUBE_APISERVER", "KUBECTL", "ETCD"):
        if not Path(found.get(key, "")).is_file():
            raise Unavailable(f"tests/e2e/testbin.sh did not produce {key}")
    return found


#: listening ports are picked below Linux's default ephemeral range (32768-60999): a port the
#: kernel hands to an outgoing connection in the meantime can then never take ours
_PORTS: Final = range(20000, 32768)
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, below the ephemeral range, never the same twice in
    this process (a server started a moment later binds it; a port from the ephemeral range
    could meanwhile be the local end of some outgoing connection)."""
    for _ in range(200):
        port = random.choice(_PORTS)  # noqa: S311 - not a secret, only a spread
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as s:  # a crowded range: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def etcd_command(etcd: str, *, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    """A single-member etcd on loopback, fsync off (state is thrown away afterwards)."""
    return [
        etcd,
        "--name=local",
        f"--data-dir={data_dir}",
        f"--listen-client-urls=http://127.0.0.1:{client_port}",
        f"--advertise-client-urls=http://127.0.0.1:{client_port}",
        f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
        f"--initial-cluster=local=http://127.0.0.1:{peer_port}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_command(
    apiserver: str,
    *,
    etcd_port: int,
    port: int,
    pki: Path,
    audit_policy: Path,
    audit_kubeconfig: Path,
) -> list[str]:
    """kube-apiserver on loopback with static tokens, RBAC, and breakglass as its audit backend
    in **batch** mode (never ``blocking``: it would hold up every API call).

    ``pki`` holds ``ca.crt``, ``apiserver.crt/.key``, ``sa.key/.pub`` and ``tokens.csv``.
    ``--endpoint-reconciler-type=none`` because 127.0.0.1 is not a valid ``kubernetes``
    Service endpoint; the ServiceAccount admission plugin is off because no controller manager
    creates default service accounts here.
    """
    return [
        apiserver,
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={pki}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--token-auth-file={pki / 'tokens.csv'}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--endpoint-reconciler-type=none",
        "--disable-admission-plugins=ServiceAccount",
        f"--audit-policy-file={audit_policy}",
        f"--audit-webhook-config-file={audit_kubeconfig}",
        "--audit-webhook-mode=batch",
        "--audit-webhook-batch-max-wait=1s",
        "--audit-webhook-initial-backoff=1s",
        "--enable-priority-and-fairness=false",
    ]


@dataclass
class ControlPlane:
    """etcd + kube-apiserver in ``workdir``, wired to breakglass at ``breakglass_url``."""

    workdir: Path
    bins: dict[str, str]
    breakglass_url: str
    breakglass_ca: Path
    audit_token: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pki = self.workdir / "pki"
        self.logs = self.workdir / "logs"
        self.api_port = free_port()
        self.etcd_port = free_port()
        self.peer_port = free_port()
        self.kubeconfig = self.workdir / "kubeconfig"

    def _write_files(self) -> None:
        self.pki.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = certs.issue("breakglass-demo-ca", ca_key)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = certs.issue("kube-apiserver", key, (ca, ca_key), ("127.0.0.1", "localhost"))
        sa = ec.generate_private_key(ec.SECP256R1())
        pem = serialization.Encoding.PEM
        (self.pki / "ca.crt").write_bytes(ca.public_bytes(pem))
        (self.pki / "apiserver.crt").write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
        (self.pki / "apiserver.key").write_bytes(certs.pem_key(key))
        (self.pki / "sa.key").write_bytes(certs.pem_key(sa))
        (self.pki / "sa.pub").write_bytes(
            sa.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        self.tokens = {name: os.urandom(16).hex() for name in USERS}
        with (self.pki / "tokens.csv").open("w") as handle:
            for name, (user, groups) in USERS.items():
                handle.write(f'{self.tokens[name]},{user},{user}-uid,"{groups}"\n')
        ca_bundle = self.breakglass_ca.read_bytes()
        dump = yaml.safe_dump
        (self.workdir / "audit-policy.yaml").write_text(dump(manifests.audit_policy()))
        (self.workdir / "audit-webhook.kubeconfig").write_text(
            dump(
                manifests.audit_webhook_kubeconfig(
                    url=self.breakglass_url, ca_bundle=ca_bundle, token=self.audit_token
                )
            )
        )
        (self.workdir / "webhook.yaml").write_text(
            dump(
                manifests.validating_webhook(
                    ca_bundle=ca_bundle,
                    url=self.breakglass_url,
                    ignore_users=("system:*",),
                    ignore_groups=("system:nodes", "system:serviceaccounts:kube-system"),
                    skip_namespaces=("kube-system",),
                    timeout_seconds=5,
                )
            )
        )
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "demo",
                            "cluster": {
                                "server": f"https://127.0.0.1:{self.api_port}",
                                "certificate-authority": str(self.pki / "ca.crt"),
                            },
                        }
                    ],
                    "users": [{"name": n, "user": {"token": t}} for n, t in self.tokens.items()],
                    "contexts": [
                        {"name": n, "context": {"cluster": "demo", "user": n}} for n in USERS
                    ],
                    "current-context": "alice",
                }
            )
        )
        os.chmod(self.kubeconfig, 0o600)

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as handle:
            self.procs[name] = subprocess.Popen(
                argv, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_ready(self, name: str, url: str, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        headers = {"Authorization": f"Bearer {self.tokens['admin']}"}
        deadline = time.monotonic() + timeout
        while True:
            if self.procs[name].poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise Unavailable(f"{name} exited:\n{tail}")
            with contextlib.suppress(OSError):
                request = urllib.request.Request(url, headers=headers)  # noqa: S310
                ctx = context if url.startswith("https") else None
                with urllib.request.urlopen(request, context=ctx, timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                raise Unavailable(f"{name} not ready after {timeout:.0f}s (logs in {self.logs})")
            time.sleep(0.2)

    def start(self, *, wired: bool = True) -> None:
        """etcd and the API server; ``wired=False``: breakglass not installed yet (no audit
        backend, no webhook), until ``wire()``."""
        self._write_files()
        self._spawn(
            "etcd",
            etcd_command(
                self.bins["ETCD"],
                data_dir=self.workdir / "etcd",
                client_port=self.etcd_port,
                peer_port=self.peer_port,
            ),
        )
        self._wait_ready("etcd", f"http://127.0.0.1:{self.etcd_port}/health", 30)
        self._start_apiserver(wired=wired)
        deadline = time.monotonic() + 60
        while self.kubectl("get", "clusterrole", "cluster-admin", user="admin").returncode:
            if time.monotonic() > deadline:
                raise Unavailable("the API server's bootstrap RBAC never appeared")
            time.sleep(0.3)
        self.kubectl("apply", "-f", "-", user="admin", stdin=RBAC, check=True)
        if wired:
            self.wire(restart=False)

    def _start_apiserver(self, *, wired: bool) -> None:
        argv = apiserver_command(
            self.bins["KUBE_APISERVER"],
            etcd_port=self.etcd_port,
            port=self.api_port,
            pki=self.pki,
            audit_policy=self.workdir / "audit-policy.yaml",
            audit_kubeconfig=self.workdir / "audit-webhook.kubeconfig",
        )
        if not wired:
            argv = [a for a in argv if not a.startswith("--audit-")]
        self._spawn("kube-apiserver", argv)
        self._wait_ready("kube-apiserver", f"https://127.0.0.1:{self.api_port}/readyz", 90)

    def wire(self, *, restart: bool = True) -> None:
        """Install breakglass as a self-managed control plane would: restart the API server
        with breakglass as its audit backend, and register the validating webhook."""
        if restart:
            self._stop("kube-apiserver")
            self._start_apiserver(wired=True)
        self.kubectl("apply", "-f", str(self.workdir / "webhook.yaml"), user="admin", check=True)

    def kubectl(
        self, *args: str, user: str = "alice", stdin: str | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        argv = [self.bins["KUBECTL"], f"--kubeconfig={self.kubeconfig}", f"--context={user}"]
        proc = subprocess.run(
            [*argv, *args], input=stdin, capture_output=True, text=True, check=False, timeout=60
        )
        if check and proc.returncode != 0:
            raise Unavailable(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def stop(self) -> None:
        for name in ("kube-apiserver", "etcd"):
            self._stop(name)

    def _stop(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

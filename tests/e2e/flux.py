"""Flux's source-controller and kustomize-controller against the end-to-end control plane.

Both controllers run as subprocesses outside the cluster, each with its own kubeconfig, storage
and loopback ports, leader election off; the test's bare Git repositories are served over smart
HTTP by ``git http-backend`` behind a small threaded HTTP server, so ``GitRepository`` objects
fetch them as they would fetch a forge, and breakglass can clone and push to the same URL. Use ``start()`` and ``stop()``, or the ``flux`` fixture.

Identities: kustomize-controller runs as the ``flux`` token user
(``system:serviceaccount:flux-system:kustomize-controller``, which breakglass ignores as a
``system:`` user), source-controller as ``flux-source``
(``system:serviceaccount:flux-system:source-controller``). ``ControlPlane._bootstrap`` binds
both to cluster-admin: more than Flux's own RBAC grants, which is fine for a test bed where
only the field managers and the identity matter. Flux's objects (``GitRepository``,
``Kustomization``) are created by the ``flux`` user too, as a flux-system sync would.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import subprocess
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from breakglass.demo.cluster import free_port
from tests.e2e.controlplane import ControlPlane, stop_group

NAMESPACE = "flux-system"
SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
#: the labels kustomize-controller puts on every object it applies
NAME_LABEL = f"{KUSTOMIZE_GROUP}/name"
NAMESPACE_LABEL = f"{KUSTOMIZE_GROUP}/namespace"
#: the annotation ``flux reconcile`` sets; any new value asks for a reconcile now
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
#: the resource names kubectl is given, fully qualified so that no other group can shadow them
KINDS = {
    "GitRepository": f"gitrepositories.{SOURCE_GROUP}",
    "Kustomization": f"kustomizations.{KUSTOMIZE_GROUP}",
}
BINARIES = ("FLUX_SOURCE_CONTROLLER", "FLUX_KUSTOMIZE_CONTROLLER", "FLUX_CRDS")


# -- Git over smart HTTP ----------------------------------------------------------------------


class _GitHandler(BaseHTTPRequestHandler):
    """``git http-backend`` as CGI: ``/<key>/info/refs``, ``/<key>/git-upload-pack``, …"""

    server: GitHTTPServer

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def log_message(self, format: str, *args: Any) -> None:
        self.server.access_log.append(f"{self.command} {self.path} {format % args}")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        key, _, rest = path.lstrip("/").partition("/")
        repo = self.server.repos.get(key)
        if repo is None:
            self.send_error(404, f"no repository {key!r}")
            return
        body = self._body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(repo.parent),
            "GIT_PROJECT_ROOT": str(repo.parent),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo.name}/{rest}",
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            # an authenticated user turns on receive-pack: breakglass pushes its branches here
            "REMOTE_USER": "e2e",
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        proc = subprocess.run(
            [self.server.git, "http-backend"],
            input=body,
            capture_output=True,
            env=env,
            check=False,
            timeout=60,
        )
        head, sep, payload = proc.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = proc.stdout.partition(b"\n\n")
        if proc.returncode != 0 or not sep:
            self.server.access_log.append(proc.stderr.decode(errors="replace"))
            self.send_error(500, "git http-backend failed")
            return
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitHTTPServer(ThreadingHTTPServer):
    """Serves registered bare repositories (clone, fetch and push) on a loopback port."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _GitHandler)
        self.git = shutil.which("git") or "git"
        self.repos: dict[str, Path] = {}
        self.access_log: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, name="git-http", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def add(self, bare: Path, name: str | None = None) -> str:
        """Serve ``bare``; returns its clone URL, ``http://127.0.0.1:<port>/<name>.git``."""
        stem = (name or bare.name).removesuffix(".git")
        key, n = f"{stem}.git", 1
        while key in self.repos and self.repos[key] != bare.resolve():
            n += 1
            key = f"{stem}-{n}.git"
        self.repos[key] = bare.resolve()
        return f"{self.base_url}/{key}"


# -- the controllers --------------------------------------------------------------------------


class FluxNotReady(AssertionError):
    """A Flux object did not become Ready in time; the message carries the controllers' logs."""


@dataclass
class Flux:
    """source-controller and kustomize-controller for ``cluster``; ``start()``/``stop()``."""

    cluster: ControlPlane
    workdir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bins = self.cluster.bins
        self.source_controller = bins["FLUX_SOURCE_CONTROLLER"]
        self.kustomize_controller = bins["FLUX_KUSTOMIZE_CONTROLLER"]
        self.crds = Path(bins["FLUX_CRDS"])
        self.logs = self.workdir / "logs"
        self.storage = self.workdir / "source-storage"
        self.storage_port = free_port()
        self.git = GitHTTPServer()

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        self.git.start()
        self._install_crds()
        self.timings["crds"] = time.monotonic() - started
        storage_addr = f"127.0.0.1:{self.storage_port}"
        common = [
            "--enable-leader-election=false",
            "--watch-all-namespaces=true",
            "--events-addr=",
            "--log-level=debug",
            "--log-encoding=json",
            "--requeue-dependency=2s",
        ]
        self._spawn(
            "source-controller",
            [
                self.source_controller,
                *common,
                f"--metrics-addr=127.0.0.1:{free_port()}",
                f"--health-addr=127.0.0.1:{(sc_health := free_port())}",
                f"--storage-path={self.storage}",
                f"--storage-addr={storage_addr}",
                # the URL in each artifact's status; kustomize-controller downloads from it
                f"--storage-adv-addr={storage_addr}",
            ],
            user="flux-source",
        )
        self._spawn(
            "kustomize-controller",
            [
                self.kustomize_controller,
                *common,
                f"--metrics-addr=127.0.0.1:{free_port()}",
                f"--health-addr=127.0.0.1:{(kc_health := free_port())}",
                # remote bases would reach the internet from a kustomization.yaml
                "--no-remote-bases=true",
            ],
            user="flux",
        )
        self._wait_healthy("source-controller", sc_health)
        self._wait_healthy("kustomize-controller", kc_health)
        self.timings["ready"] = time.monotonic() - started

    def stop(self) -> None:
        for name in ("kustomize-controller", "source-controller"):
            stop_group(self.procs.get(name))
        with contextlib.suppress(Exception):
            self.git.stop()

    def _install_crds(self) -> None:
        self.cluster.kubectl(
            "apply", "--server-side", "--field-manager=e2e-flux", "-f", str(self.crds), user="admin"
        )
        self.cluster.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *(f"crd/{resource}" for resource in KINDS.values()),
            user="admin",
        )
        if self.cluster.kubectl(
            "get", "namespace", NAMESPACE, user="admin", check=False
        ).returncode:
            self.cluster.kubectl("create", "namespace", NAMESPACE, user="flux")

    def _kubeconfig(self, user: str) -> Path:
        """The control plane's kubeconfig with ``user`` as the current context."""
        config = json.loads(self.cluster.kubeconfig.read_text())
        config["current-context"] = user
        path = self.workdir / f"kubeconfig-{user}"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return path

    def _spawn(self, name: str, argv: list[str], *, user: str) -> None:
        handle = (self.logs / f"{name}.log").open("wb")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "TMPDIR": str(self.workdir),
            "KUBECONFIG": str(self._kubeconfig(user)),
            "RUNTIME_NAMESPACE": NAMESPACE,
        }
        self.procs[name] = subprocess.Popen(
            argv, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def _wait_healthy(self, name: str, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log(name)[-4000:]}")
            url = f"http://127.0.0.1:{port}/readyz"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout}s:\n{self.log(name)[-4000:]}")
            time.sleep(0.2)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs_tail(self, chars: int = 3000) -> str:
        """The end of both controllers' logs, for failure messages."""
        return "".join(
            f"\n--- {name} (last {chars} chars) ---\n{self.log(name)[-chars:]}"
            for name in ("source-controller", "kustomize-controller")
        )

    # -- Git --------------------------------------------------------------------------------

    def serve(self, bare: Path, name: str | None = None) -> str:
        """Serve the bare repository ``bare`` over HTTP; returns the URL for a GitRepository."""
        return self.git.add(bare, name)

    # -- Flux objects ---------------------------------------------------------------------

    def _apply(self, obj: dict[str, Any]) -> None:
        self.cluster.kubectl("apply", "-f", "-", user="flux", stdin=json.dumps(obj))

    def git_repository(
        self, name: str, namespace: str, *, url: str, branch: str = "main", interval: str = "10s"
    ) -> None:
        """A ``GitRepository`` that follows ``branch`` of ``url``."""
        self._apply(
            {
                "apiVersion": f"{SOURCE_GROUP}/v1",
                "kind": "GitRepository",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"url": url, "ref": {"branch": branch}, "interval": interval},
            }
        )

    def kustomization(
        self,
        name: str,
        namespace: str,
        *,
        source: str,
        path: str,
        interval: str = "10s",
        prune: bool = True,
        target_namespace: str | None = None,
        **spec: Any,
    ) -> None:
        """A ``Kustomization`` of ``path`` in the GitRepository ``source`` (same namespace);
        ``spec`` adds fields as they are spelled in the CRD (``force=True``, ``suspend=True``,
        ``postBuild={...}``)."""
        body: dict[str, Any] = {
            "interval": interval,
            "path": path,
            "prune": prune,
            "sourceRef": {"kind": "GitRepository", "name": source},
            **spec,
        }
        if target_namespace:
            body["targetNamespace"] = target_namespace
        self._apply(
            {
                "apiVersion": f"{KUSTOMIZE_GROUP}/v1",
                "kind": "Kustomization",
                "metadata": {"name": name, "namespace": namespace},
                "spec": body,
            }
        )

    def app(
        self,
        name: str,
        namespace: str,
        *,
        bare: Path,
        path: str,
        timeout: float = 60,
        **spec: Any,
    ) -> dict[str, Any]:
        """Serve ``bare``, create a GitRepository and a Kustomization named ``name`` for
        ``path``, and wait until both are Ready; returns the Kustomization."""
        self.git_repository(name, namespace, url=self.serve(bare))
        self.kustomization(name, namespace, source=name, path=path, **spec)
        self.wait_ready("GitRepository", name, namespace, timeout=timeout)
        return self.wait_ready("Kustomization", name, namespace, timeout=timeout)

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        proc = self.cluster.kubectl(
            "get", KINDS[kind], name, "-n", namespace, "-o", "json", user="admin", check=False
        )
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def wait_ready(
        self,
        kind: str,
        name: str,
        namespace: str,
        *,
        timeout: float = 60,
        revision: str | None = None,
        handled: str | None = None,
    ) -> dict[str, Any]:
        """Wait until the object's Ready condition is True for its current generation; with
        ``revision`` (a commit SHA) until it has that revision (the artifact's for a
        GitRepository, the last applied one for a Kustomization); with ``handled`` until it
        has handled that reconcile request. Returns the object."""

        def ready() -> dict[str, Any] | None:
            obj = self.get(kind, name, namespace)
            if obj is None:
                return None
            status = obj.get("status") or {}
            if status.get("observedGeneration") != obj["metadata"].get("generation"):
                return None
            if not any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            ):
                return None
            if revision is not None and not _revision(obj).endswith(revision):
                return None
            if handled is not None and status.get("lastHandledReconcileAt") != handled:
                return None
            return obj

        what = f"{kind} {namespace}/{name} Ready"
        if revision is not None:
            what += f" at revision {revision}"
        if handled is not None:
            what += f" having handled the reconcile request {handled}"
        return self._until(ready, timeout, what, kind, name, namespace)

    def reconcile(self, kind: str, name: str, namespace: str, *, wait: bool = True) -> str:
        """Ask for a reconcile now (as ``flux reconcile`` does); with ``wait``, until it has
        been handled and the object is Ready again. Returns the request's token."""
        token = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
        self.cluster.kubectl(
            "annotate",
            "--overwrite",
            KINDS[kind],
            name,
            "-n",
            namespace,
            f"{REQUESTED_AT}={token}",
            user="flux",
        )
        if wait:
            self.wait_ready(kind, name, namespace, handled=token)
        return token

    def sync(self, name: str, namespace: str, *, revision: str | None = None) -> dict[str, Any]:
        """Fetch the GitRepository ``name`` now, then reconcile the Kustomization ``name``
        (until it applied ``revision`` if given); returns the Kustomization."""
        self.reconcile("GitRepository", name, namespace)
        if revision is not None:
            self.wait_ready("GitRepository", name, namespace, revision=revision)
        token = self.reconcile("Kustomization", name, namespace, wait=False)
        return self.wait_ready("Kustomization", name, namespace, handled=token, revision=revision)

    def applied_revision(self, name: str, namespace: str) -> str | None:
        """The Kustomization's ``status.lastAppliedRevision``, e.g. ``main@sha1:<sha>``."""
        obj = self.get("Kustomization", name, namespace)
        return ((obj or {}).get("status") or {}).get("lastAppliedRevision")

    def _until(
        self,
        probe: Callable[[], dict[str, Any] | None],
        timeout: float,
        what: str,
        kind: str,
        name: str,
        namespace: str,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                obj = self.get(kind, name, namespace) or {}
                raise FluxNotReady(
                    f"timed out after {timeout}s waiting for {what}; status:\n"
                    + json.dumps(obj.get("status"), indent=2)
                    + self.logs_tail()
                )
            time.sleep(0.25)


def _revision(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    if obj.get("kind") == "Kustomization":
        return str(status.get("lastAppliedRevision") or "")
    return str((status.get("artifact") or {}).get("revision") or "")


#: the app most Flux tests apply: a Deployment (a commented value, to see comments kept) and a
#: ConfigMap, in ``apps/payments``
PAYMENTS_DEPLOYMENT = textwrap.dedent(
    """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: payments
      labels: {app: payments}
    spec:
      replicas: 2  # HA minimum
      selector:
        matchLabels: {app: payments}
      template:
        metadata:
          labels: {app: payments}
        spec:
          containers:
            - name: app
              image: registry.example/payments:2.0.1
    """
)
PAYMENTS_CONFIGMAP = textwrap.dedent(
    """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: payments-settings
    data:
      LOG_LEVEL: info
    """
)


def payments_app(seed: Path, namespace: str) -> None:
    """Write ``apps/payments`` (Deployment, ConfigMap, kustomization) under ``seed``."""
    app = seed / "apps" / "payments"
    app.mkdir(parents=True)
    (app / "deployment.yaml").write_text(PAYMENTS_DEPLOYMENT)
    (app / "configmap.yaml").write_text(PAYMENTS_CONFIGMAP)
    (app / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {namespace}\nresources:\n  - deployment.yaml\n  - configmap.yaml\n"
    )


def live(cluster: Any, kind: str, name: str, namespace: str) -> dict[str, Any]:
    """The object as the API server has it, with its managedFields."""
    out = cluster.kubectl(
        "get", kind, name, "-n", namespace, "-o", "json", "--show-managed-fields", user="admin"
    )
    return dict(json.loads(out.stdout))

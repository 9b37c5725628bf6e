"""The demo's GitOps repository: a small but realistic app in a local bare Git remote.

``apps/checkout`` is a kustomize base (Deployment with comments, Service, ConfigMap) and a
``prod`` overlay that sets the namespace and the replica count, the way many teams lay out an
application.  The live objects in the demo (replayed or real) are rendered from exactly this,
so the backfill has something true to edit.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

NAMESPACE = "payments"
APP_PATH = "apps/checkout/overlays/prod"

FILES: dict[str, str] = {
    "README.md": "# gitops\n\nWhat runs in prod-eu-1. Argo CD syncs `apps/*/overlays/prod`.\n",
    "apps/checkout/base/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
  - configmap.yaml
""",
    "apps/checkout/base/deployment.yaml": """\
# checkout: the payments front door. Owner: #team-payments
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  labels:
    app: checkout
spec:
  replicas: 1  # each overlay sets its own count
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels: {app: checkout}
    spec:
      containers:
        - name: app
          image: registry.example/checkout:1.4.2
          env:
            - name: LOG_LEVEL
              value: info   # debug floods the log pipeline; ask #observability first
        # mTLS to the payment processors
        - name: proxy
          image: registry.example/proxy:2.0
""",
    "apps/checkout/base/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: checkout
spec:
  selector:
    app: checkout
  ports:
    - name: http
      port: 80
      targetPort: 8080
""",
    "apps/checkout/base/configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: checkout-config
data:
  # seconds to wait for the payment processor before failing the order
  TIMEOUT: "30"
  FEATURE_X: "off"  # new checkout flow, see RFC-118
""",
    f"{APP_PATH}/kustomization.yaml": f"""\
# checkout in prod-eu-1 (Argo CD application `shop`)
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {NAMESPACE}
resources:
  - ../../base
replicas:
  - name: checkout
    count: 2  # HA minimum, do not go below 2
""",
}

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Platform Team",
    "GIT_AUTHOR_EMAIL": "platform@example.com",
    "GIT_COMMITTER_NAME": "Platform Team",
    "GIT_COMMITTER_EMAIL": "platform@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path) -> str:
    """Run git with a fixed identity and no user or system configuration; return stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_GIT_ENV, HOME=str(cwd), GIT_CONFIG_GLOBAL=os.devnull)
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def create(root: Path) -> Path:
    """Write the app, commit it and clone it bare to ``root/gitops.git``; return that path."""
    seed = root / "seed"
    for rel, text in FILES.items():
        path = seed / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git("init", "-q", "-b", "main", cwd=seed)
    git("add", ".", cwd=seed)
    git("commit", "-q", "-m", "checkout: base and prod overlay", cwd=seed)
    bare = root / "gitops.git"
    git("clone", "-q", "--bare", str(seed), str(bare), cwd=root)
    return bare

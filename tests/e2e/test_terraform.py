"""``breakglass tf scan`` with real OpenTofu (and Terraform), a real provider and a real API server.

OpenTofu v1.12.6 (Terraform v1.5.7 for the central test too) and the hashicorp/kubernetes provider (installed from a filesystem mirror)
manage objects in the test bed's kube-apiserver: a ConfigMap whose data comes from a variable
set in ``prod.tfvars`` and whose labels are a literal map with comments, a Deployment in a
local module whose replicas are a literal module input, a second ConfigMap whose data goes
through a local, and a Secret.  alice then changes all four with real kubectl (the breakglass
webhook captures her changes).  The scan must report them without writing anything; with
``--backfill`` it must open one pull request whose diff is the minimal HCL change (comments
and alignment kept), on which ``tofu plan`` shows no changes, naming alice; one issue per
resource it cannot map (the local, the Secret) with the reason; never the Secret's value
anywhere; and a second run opens nothing new.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.backfill.conftest import bare_remote, git
from tests.e2e.conftest import wait_until
from tests.e2e.controlplane import ControlPlane
from tests.testbin import tools

CANARY = "CANARY-tf-s3cr3t-0707"

VERSIONS = """\
terraform {
  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "1.13.4"
    }
  }
  backend "local" {}
}

# the kubeconfig and context come from KUBECONFIG and KUBE_CTX
provider "kubernetes" {}
"""

MAIN = """\
variable "namespace" {
  type = string
}

variable "log_level" {
  type        = string
  description = "how chatty the payments service is"
  default     = "warn"
}

locals {
  flags = "checkout-v2=off"
}

# settings the payments team owns
resource "kubernetes_config_map" "settings" {
  metadata {
    name      = "payments-settings"
    namespace = var.namespace
    labels = {
      app  = "payments" # the service
      team = "core"     // who gets paged
    }
  }
  data = {
    LOG_LEVEL = var.log_level
    TIMEOUT   = "30s" /* a duration */
  }
}

resource "kubernetes_config_map" "flags" {
  metadata {
    name      = "payments-flags"
    namespace = var.namespace
  }
  data = {
    FLAGS = local.flags
  }
}

resource "kubernetes_secret" "token" {
  metadata {
    name      = "payments-token"
    namespace = var.namespace
  }
  data = {
    token = "not-a-real-token"
  }
}

module "web" {
  source    = "./modules/web"
  namespace = var.namespace
  replicas  = 2 # one per zone
  image     = "nginx:1.27"
}
"""

MODULE = """\
variable "namespace" {
  type = string
}

variable "replicas" {
  type = number
}

variable "image" {
  type = string
}

resource "kubernetes_deployment" "web" {
  metadata {
    name      = "web"
    namespace = var.namespace
  }
  wait_for_rollout = false
  spec {
    replicas = var.replicas
    selector {
      match_labels = { app = "web" }
    }
    template {
      metadata {
        labels = { app = "web" }
      }
      spec {
        container {
          name  = "web"
          image = var.image
        }
      }
    }
  }
}
"""


def _tofu_env(plane: ControlPlane, rc: Path) -> dict[str, str]:
    return {
        "TF_CLI_CONFIG_FILE": str(rc),
        "KUBECONFIG": str(plane.kubeconfig),
        "KUBE_CTX": "admin",
    }


def _tofu(
    tofu: Path, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tofu), *args, "-no-color"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        check=False,
    )


def _breakglass(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env, "BREAKGLASS_REDACTION_SALT": "e2e-salt"},
        check=False,
    )


@pytest.fixture
def binary(request: pytest.FixtureRequest) -> str:
    """``tofu`` unless a test asks for ``terraform`` (``indirect`` parametrization)."""
    return str(getattr(request, "param", "tofu"))


@pytest.fixture
def applied(cluster: ControlPlane, namespace: str, tmp_path: Path, binary: str) -> dict[str, Any]:
    """The infra repository applied by ``binary`` into ``namespace``, then changed by alice."""
    key, cache, registry = {
        "tofu": ("TOFU", "opentofu-*", "registry.opentofu.org"),
        "terraform": ("TERRAFORM", "terraform-*", "registry.terraform.io"),
    }[binary]
    tofu, mirror = tools(
        (key, "TOFU_PROVIDER_MIRROR"),
        cache_glob=f"{cache},tf-kubernetes-*",
        what=f"{binary} and the hashicorp/kubernetes provider",
    )
    rc = tmp_path / "cli.tfrc"
    rc.write_text(
        textwrap.dedent(
            f"""\
            provider_installation {{
              filesystem_mirror {{
                path    = "{mirror}"
                include = ["{registry}/hashicorp/kubernetes"]
              }}
              direct {{
                exclude = ["{registry}/hashicorp/kubernetes"]
              }}
            }}
            """
        )
    )
    seed = tmp_path / "seed"
    (seed / "infra" / "modules" / "web").mkdir(parents=True)
    (seed / "infra" / "versions.tf").write_text(VERSIONS)
    (seed / "infra" / "main.tf").write_text(MAIN)
    (seed / "infra" / "modules" / "web" / "main.tf").write_text(MODULE)
    (seed / "infra" / "prod.tfvars").write_text(
        f'namespace = "{namespace}"\nlog_level = "info" # prod default\n'
    )
    remote = bare_remote(seed)
    state = tmp_path / "state" / "terraform.tfstate"
    state.parent.mkdir()
    env = _tofu_env(cluster, rc)
    work = seed / "infra"
    for args in (
        ("init", "-input=false", f"-backend-config=path={state}"),
        ("apply", "-auto-approve", "-input=false", "-var-file=prod.tfvars"),
    ):
        proc = _tofu(tofu, work, env, *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # alice fixes production by hand
    cluster.kubectl("-n", namespace, "scale", "deployment", "web", "--replicas=4")
    cluster.kubectl(
        "-n", namespace, "patch", "configmap", "payments-settings", "--type=merge",
        "-p", '{"data":{"LOG_LEVEL":"debug"},"metadata":{"labels":{"oncall":"alice"}}}',
    )  # fmt: skip
    cluster.kubectl(
        "-n", namespace, "patch", "configmap", "payments-flags", "--type=merge",
        "-p", '{"data":{"FLAGS":"checkout-v2=on"}}',
    )  # fmt: skip
    cluster.kubectl(
        "-n", namespace, "patch", "secret", "payments-token", "--type=merge",
        "-p", json.dumps({"stringData": {"token": CANARY}}),
    )  # fmt: skip
    wait_until(
        lambda: any(
            c["object"]["name"] == "web" and c["actor"]["username"] == "alice"
            for c in cluster.journal()
            if c["object"]["namespace"] == namespace
        ),
        what="breakglass's capture of alice's scale",
    )
    config = tmp_path / "breakglass.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            cluster: e2e
            state_dir: {tmp_path / "bg-state"}
            journal: sqlite:///{cluster.state / "journal.db"}
            users:
              alice: {{name: Alice Doe, email: alice@example.com, github: alice-doe}}
            terraform:
              roots:
                - name: infra
                  repo: {remote}
                  path: infra
                  var_files: [prod.tfvars]
                  binary: {tofu}
                  env: [TF_CLI_CONFIG_FILE, KUBECONFIG, KUBE_CTX]
                  backend_config: {{path: {state}}}
                  assignees: [alice]
            """
        )
    )
    return {
        "config": config, "env": env, "remote": remote, "tofu": tofu, "state": state,
        "namespace": namespace, "tmp": tmp_path, "records": tmp_path / "bg-state" / "pull-requests",
    }  # fmt: skip


def _records(applied: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(applied["records"].glob("*.json"))]


def test_scan_reports_drift_and_writes_nothing(applied: dict[str, Any]) -> None:
    proc = _breakglass(applied["config"], applied["env"], "tf", "scan")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "module.web.kubernetes_deployment.web" in out and "spec[0].replicas" in out, out
    assert 'data["LOG_LEVEL"]' in out and "prod.tfvars" in out, out
    assert "local.flags" in out, out
    assert "sensitive" in out and CANARY not in out + proc.stderr, out
    assert not applied["records"].exists()  # a report only: no forge records


@pytest.mark.parametrize("binary", ["tofu", "terraform"], indirect=True)
def test_backfill_opens_a_minimal_verified_pull_request_and_issues(
    applied: dict[str, Any], binary: str
) -> None:
    proc = _breakglass(
        applied["config"], applied["env"], "tf", "scan", "--backfill", "--output", "json"
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)[0]
    assert report["error"] is None, report
    outcomes = {r["address"]: r for r in report["resources"]}
    assert outcomes["module.web.kubernetes_deployment.web"]["outcome"] == "pull_request"
    assert outcomes["kubernetes_config_map.settings"]["outcome"] == "pull_request"
    assert outcomes["kubernetes_config_map.flags"]["outcome"] == "needs_human"
    assert outcomes["kubernetes_secret.token"]["outcome"] == "needs_human"
    assert outcomes["module.web.kubernetes_deployment.web"]["author"] == "alice"

    records = _records(applied)
    pulls = [r for r in records if r.get("kind", "pull") == "pull"]
    issues = [r for r in records if r.get("kind") == "issue"]
    assert len(pulls) == 1 and len(issues) == 2, json.dumps(records, indent=1)
    pr = pulls[0]
    assert pr["branch"] == "breakglass/e2e/tf/infra"
    assert "3 attributes of 2 resources" in pr["title"], pr["title"]
    assert f"`{binary} plan -refresh-only`" in pr["body"] and "**alice**" in pr["body"]
    assert "To revert the real resources instead" in pr["body"]
    assert "alice-doe" in pr["assignees"]

    remote = applied["remote"]
    diff = git("diff", "--unified=0", "main", pr["branch"], cwd=remote)
    changed = [
        line for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]  # fmt: skip
    # main.tf was `tofu fmt` clean, so the label map's `=` column moves for the longer key,
    # as fmt does (the repository's fmt -check stays green); the other edits are values only
    assert sorted(changed) == sorted(
        [
            '-log_level = "info" # prod default',
            '+log_level = "debug" # prod default',
            "-  replicas  = 2 # one per zone",
            "+  replicas  = 4 # one per zone",
            '-      app  = "payments" # the service',
            '-      team = "core"     // who gets paged',
            '+      app    = "payments" # the service',
            '+      team   = "core"     // who gets paged',
            '+      oncall = "alice"',
        ]
    ), diff
    main_tf = git("show", f"{pr['branch']}:infra/main.tf", cwd=remote)
    assert 'TIMEOUT   = "30s" /* a duration */' in main_tf

    flags = next(i for i in issues if "kubernetes_config_map.flags" in i["title"])
    assert "local.flags" in flags["body"], flags["body"]
    secret = next(i for i in issues if "kubernetes_secret.token" in i["title"])
    assert "sensitive" in secret["body"], secret["body"]

    # the branch, checked out and planned as a reviewer's CI would: nothing to change
    checkout = applied["tmp"] / "review"
    git("clone", "-q", "-b", pr["branch"], str(remote), str(checkout), cwd=applied["tmp"])
    work = checkout / "infra"
    init = _tofu(applied["tofu"], work, applied["env"], "init", "-input=false",
                 f"-backend-config=path={applied['state']}")  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    fmt = _tofu(applied["tofu"], work, applied["env"], "fmt", "-check", "main.tf")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    plan = _tofu(applied["tofu"], work, applied["env"], "plan", "-lock=false", "-input=false",
                 "-var-file=prod.tfvars", "-detailed-exitcode", "-target=module.web",
                 "-target=kubernetes_config_map.settings")  # fmt: skip
    assert plan.returncode == 0, plan.stdout + plan.stderr

    # never the Secret's value: not in the output, the forge, the journal or the audit log
    state_dir = applied["tmp"] / "bg-state"
    audit = "".join(p.read_text() for p in (state_dir / "audit").rglob("*") if p.is_file())
    assert "terraform_drift" in audit
    seen = proc.stdout + proc.stderr + json.dumps(records) + audit
    assert CANARY not in seen
    assert CANARY.encode() not in Path(str(applied["config"])).read_bytes()

    # a second scan opens nothing new
    again = _breakglass(applied["config"], applied["env"], "tf", "scan", "--backfill")
    assert again.returncode == 1, again.stdout + again.stderr
    time.sleep(0.1)
    assert len(_records(applied)) == len(records)


def test_a_merged_pull_request_is_in_the_code_until_the_next_apply(
    applied: dict[str, Any],
) -> None:
    first = _breakglass(applied["config"], applied["env"], "tf", "scan", "--backfill")
    assert first.returncode == 1, first.stdout + first.stderr
    pr = next(r for r in _records(applied) if r.get("kind", "pull") == "pull")
    merged = _breakglass(applied["config"], applied["env"], "pulls", "merge", str(pr["number"]),
                         "--as", "bob")  # fmt: skip
    assert merged.returncode == 0, merged.stdout + merged.stderr
    again = _breakglass(applied["config"], applied["env"], "tf", "scan", "--backfill",
                        "--output", "json")  # fmt: skip
    report = json.loads(again.stdout)[0]
    outcomes = {r["address"]: r for r in report["resources"]}
    assert outcomes["module.web.kubernetes_deployment.web"]["outcome"] == "in_code", json.dumps(
        outcomes, indent=1
    )
    assert outcomes["kubernetes_config_map.settings"]["outcome"] == "in_code"
    assert "already says this" in outcomes["kubernetes_config_map.settings"]["reason"]
    assert report["pull_request"] is None
    assert [r.get("kind", "pull") for r in _records(applied)].count("pull") == 1


def test_the_worker_scans_on_its_interval_and_an_apply_resolves_the_drift(
    applied: dict[str, Any],
) -> None:
    # a worker of its own (the test bed's worker leads the shared journal): its own journal
    config = applied["config"]
    text = config.read_text().replace("terraform:\n", "terraform:\n  interval: 3600\n", 1)
    own = applied["tmp"] / "bg-state" / "journal.db"
    config.write_text(re.sub(r"journal: sqlite:///\S+", f"journal: sqlite:///{own}", text))
    worker = _breakglass(config, applied["env"], "worker", "--once")
    assert worker.returncode == 0, worker.stdout + worker.stderr
    records = _records(applied)
    assert [r.get("kind", "pull") for r in records].count("pull") == 1, records
    assert [r.get("kind") for r in records].count("issue") == 2, records
    report = _breakglass(config, applied["env"], "report", "--output", "json")
    assert report.returncode == 0, report.stderr
    rows = {r["address"]: r for r in json.loads(report.stdout)["terraform"]}
    assert rows["module.web.kubernetes_deployment.web"]["outcome"] == "pull_request"
    assert rows["kubernetes_secret.token"]["outcome"] == "needs_human"
    assert not any(r["resolved"] for r in rows.values())

    # the reviewer prefers the code: closes the pull request and applies main
    pr = next(r for r in records if r.get("kind", "pull") == "pull")
    closed = _breakglass(config, applied["env"], "pulls", "close", str(pr["number"]), "--as", "bob")
    assert closed.returncode == 0, closed.stdout + closed.stderr
    still = _breakglass(config, applied["env"], "tf", "scan", "--backfill")
    assert still.returncode == 1, still.stdout + still.stderr  # drift remains until the apply
    assert len(_records(applied)) == len(records)  # a closed pull request is not opened again
    work = applied["tmp"] / "seed" / "infra"
    apply = _tofu(applied["tofu"], work, applied["env"], "apply", "-auto-approve",
                  "-input=false", "-var-file=prod.tfvars")  # fmt: skip
    assert apply.returncode == 0, apply.stdout + apply.stderr
    scan = _breakglass(config, applied["env"], "tf", "scan", "--backfill")
    assert scan.returncode == 0, scan.stdout + scan.stderr  # no drift any more
    assert "no drift" in scan.stdout
    report = _breakglass(config, applied["env"], "report", "--output", "json")
    rows = {r["address"]: r for r in json.loads(report.stdout)["terraform"]}
    assert all(r["resolved"] for r in rows.values()), rows
    markdown = _breakglass(config, applied["env"], "report").stdout
    assert "OpenTofu/Terraform drift" in markdown and "resolved: pull request" in markdown

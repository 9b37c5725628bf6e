"""What the worker does with each kind of kubectl change: the defects real use found, pinned.

Each test drives a capture as the webhook records it through a worker pass against a real
bare Git remote and reads the result as a reviewer would: the branch's diff, the pull request
record (title, body, assignees, comments) or the "needs a human" issue.
"""

from __future__ import annotations

from typing import Any

from breakglass import model
from tests import payloads as p
from tests.backfill.conftest import (
    FakeCluster,
    build_env,
    edit_review,
    flux_helm_cluster,
    git,
    helm_rendered_deployment,
)

BRANCH = "breakglass/prod-eu-1/payments/deployment/checkout"


def changed_lines(remote, branch: str = BRANCH) -> list[str]:
    diff = git("diff", f"main...{branch}", cwd=remote)
    return [
        line
        for line in diff.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]


def add_label(key: str, value: str):
    def mutate(d: dict[str, Any]) -> None:
        d["metadata"].setdefault("labels", {})[key] = value

    return mutate


async def test_an_added_label_reaches_git(env):
    capture = await env.capture(
        edit_review(add_label("team", "payments"), field_manager="kubectl-label")
    )
    await env.worker.run_once()
    stored = await env.status(capture.id)
    assert stored.status is model.Status.PR_OPEN, stored.reason
    assert changed_lines(env.remote) == ["+    team: payments"]


async def test_a_label_added_by_client_side_apply_is_in_the_diff(env):
    def mutate(d: dict[str, Any]) -> None:
        d["metadata"]["labels"]["tier"] = "frontend"
        d["spec"]["replicas"] = 3

    capture = await env.capture(edit_review(mutate, field_manager="kubectl-client-side-apply"))
    await env.worker.run_once()
    assert (await env.status(capture.id)).status is model.Status.PR_OPEN
    lines = changed_lines(env.remote)
    assert "+    tier: frontend" in lines
    assert "+  replicas: 3  # HA minimum, do not go below 2" in lines


def set_env(name: str, value: str):
    def mutate(d: dict[str, Any]) -> None:
        env = d["spec"]["template"]["spec"]["containers"][0].setdefault("env", [])
        env[:] = [e for e in env if e["name"] != name] + [{"name": name, "value": value}]

    return mutate


async def test_a_secret_looking_value_is_never_written_a_human_is_asked(tmp_path, remote):
    from breakglass.capture.redact import Redactor

    async for env in build_env(tmp_path, remote):
        env.worker.redactor = Redactor(salt=b"salt", key_patterns=("*_TOKEN",))
        capture = await env.capture(
            edit_review(set_env("API_TOKEN", "tok-live-9f8e7d"), field_manager="kubectl-set")
        )
        await env.worker.run_once()
        stored = await env.status(capture.id)
        assert stored.status is model.Status.FAILED
        assert "looks secret" in (stored.reason or "")
        [issue] = env.records()
        assert issue["kind"] == "issue"
        assert "needs a human" in issue["title"]
        assert "env[name=API_TOKEN]" in issue["body"]
        assert "tok-live-9f8e7d" not in issue["body"]
        branches = git("branch", "--list", "breakglass/*", cwd=remote)
        assert branches.strip() == ""


def image(tag: str):
    def mutate(d: dict[str, Any]) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = f"registry.example/checkout:{tag}"

    return mutate


def poll_now(worker) -> None:
    worker.last_poll = worker.last_poll.min.replace(tzinfo=model.utcnow().tzinfo)


async def test_an_engineers_own_rollout_undo_is_not_a_sync_revert(tmp_path, remote):
    cluster = FakeCluster()
    backfill = {"grace_seconds": 60, "labels": ["breakglass"]}
    async for env in build_env(tmp_path, remote, cluster=cluster, backfill=backfill):
        fixed = p.edited(p.deployment(), image("1.4.3"))
        cluster.put("deployments", fixed)
        first = await env.capture(edit_review(image("1.4.3"), field_manager="kubectl-set"))
        await env.worker.run_once()
        [record] = env.records()
        assert record["title"].startswith("breakglass: kubectl set image of deployment")
        # alice rolls back herself; the audit event that confirms it has not arrived yet
        cluster.put("deployments", p.deployment())
        undo = await env.capture(
            p.review(
                operation="UPDATE", obj=p.deployment(), old=fixed, field_manager="kubectl-rollout"
            ),
            confirmed=False,
        )
        poll_now(env.worker)
        await env.worker.run_once()
        [record] = env.records()
        assert record["labels"] == ["breakglass"]
        assert record["comments"] == []
        # the confirmation arrives: the PR is withdrawn, as the engineer meant
        await env.journal.update(undo.id, {"status": model.Status.CONFIRMED})
        await env.worker.run_once()
        [record] = env.records()
        assert record["state"] == "closed"
        assert "reverted-by-sync" not in " ".join(record["labels"])
        assert "(kubectl rollout undo)" in record["comments"][-1]["body"]
        assert (await env.status(first.id)).status is model.Status.CLOSED


async def test_a_withdrawn_pr_loses_the_sync_label(tmp_path, remote):
    cluster = FakeCluster()
    async for env in build_env(tmp_path, remote, cluster=cluster):
        cluster.put("deployments", p.deployment(replicas=6))
        await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
        await env.worker.run_once()
        cluster.put("deployments", p.deployment(replicas=2))  # a sync, no capture
        poll_now(env.worker)
        await env.worker.run_once()
        assert "breakglass/reverted-by-sync" in env.records()[0]["labels"]
        # later the engineer also puts Git's value back by hand
        await env.capture(
            p.review(operation="UPDATE", obj=p.deployment(), old=p.deployment(replicas=6))
        )
        await env.worker.run_once()
        [record] = env.records()
        assert record["state"] == "closed"
        assert "breakglass/reverted-by-sync" not in record["labels"]


async def test_two_people_on_one_object_are_each_credited(env):
    await env.capture(p.scale_review(old_replicas=2, new_replicas=5))
    await env.capture(
        edit_review(
            image("1.4.3"), user=p.BOB, old=p.deployment(replicas=5), field_manager="kubectl-set"
        )
    )
    await env.worker.run_once()
    [record] = env.records()
    assert record["title"] == (
        "breakglass: 2 manual changes (kubectl scale, kubectl set image) of deployment "
        "payments/checkout by alice and bob"
    )
    body = record["body"]
    assert "`alice` (groups: `oncall`) — kubectl scale" in body
    assert "`bob` (groups: `oncall`) — kubectl set image" in body
    assert "| 1 | `alice` | kubectl scale | `spec.replicas` |" in body
    assert "| 2 | `bob` | kubectl set image |" in body
    # everyone who changed the object; the local forge records a name without a handle
    assert record["assignees"] == ["alice-doe", "bob"]
    authors = git("log", "--format=%an", f"main..{BRANCH}", cwd=env.remote).splitlines()
    assert authors == ["bob", "Alice Doe"]


async def test_a_follow_up_comment_shows_only_the_new_change(env):
    await env.capture(p.scale_review(old_replicas=2, new_replicas=5))
    await env.worker.run_once()
    await env.capture(
        edit_review(
            image("1.4.3"), user=p.BOB, old=p.deployment(replicas=5), field_manager="kubectl-set"
        )
    )
    await env.worker.run_once()
    [record] = env.records()
    assert record["assignees"] == ["alice-doe", "bob"]
    [comment] = record["comments"]
    assert "`bob` (kubectl set image)" in comment["body"]
    added = [line for line in comment["body"].splitlines() if line.startswith("+ ")]
    assert [" ".join(line.split()) for line in added] == [
        "+ image: registry.example/checkout:1.4.3"
    ]
    assert "replicas" not in comment["body"]
    assert "by alice and bob" in record["title"]


async def test_a_branch_that_does_not_render_the_change_opens_no_pr(tmp_path):
    """kustomize ``replacements`` (which the engine does not follow) copy a ConfigMap value
    over the field the engine edits: the render shows the old value, so no PR is opened."""
    from tests.backfill.conftest import CONFIGMAP, DEPLOYMENT, bare_remote

    work = tmp_path / "seed"
    app = work / "apps" / "payments"
    app.mkdir(parents=True)
    deployment = DEPLOYMENT.replace(
        '              value: "info"\n',
        '              value: "info"\n            - name: TIMEOUT\n              value: "30"\n',
    )
    assert "TIMEOUT" in deployment
    (app / "deployment.yaml").write_text(deployment)
    (app / "configmap.yaml").write_text(CONFIGMAP)
    (app / "kustomization.yaml").write_text(
        "namespace: payments\nresources:\n  - deployment.yaml\n  - configmap.yaml\n"
        "replacements:\n"
        "  - source: {kind: ConfigMap, name: checkout-config, fieldPath: data.TIMEOUT}\n"
        "    targets:\n"
        "      - select: {kind: Deployment, name: checkout}\n"
        "        fieldPaths:\n"
        "          - spec.template.spec.containers.[name=app].env.[name=TIMEOUT].value\n"
    )
    remote = bare_remote(work)
    old = p.edited(p.deployment(), set_env("TIMEOUT", "30"))
    async for env in build_env(tmp_path, remote):
        capture = await env.capture(edit_review(set_env("TIMEOUT", "60"), old=old))
        await env.worker.run_once()
        stored = await env.status(capture.id)
        assert stored.status is model.Status.FAILED
        assert "render check failed" in (stored.reason or "")
        [issue] = env.records()
        assert issue["kind"] == "issue"
        body = issue["body"]
        assert "kustomize build apps/payments renders Deployment payments/checkout" in body
        assert 'env[name=TIMEOUT].value (the change wants "60", the render has "30")' in (
            stored.reason or ""
        )
        assert "the change wants" in body
        assert '+              value: "60"' in body  # what the engine wrote
        assert git("branch", "--list", "breakglass/*", cwd=remote).strip() == ""


async def test_the_pr_says_what_render_proved_it(env):
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    [record] = env.records()
    assert (
        "**Render check:** `kustomize build apps/payments` on this branch shows the live change"
        in (record["body"])
    )


CHART_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""
FLUX_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: payments
spec:
  chart:
    spec:
      chart: ./charts/web
      reconcileStrategy: Revision
      sourceRef: {kind: GitRepository, name: fleet, namespace: flux-system}
  values:
    replicaCount: 2  # baseline
"""


def seed_chart(tmp_path: Any) -> Any:
    """A repository seed holding the chart ``charts/web`` (Deployment ``web``)."""
    work = tmp_path / "seed"
    chart = work / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text(
        "replicaCount: 1\nimage:\n  repository: registry.example/web\n  tag: '1.0'\n"
    )
    (chart / "templates" / "deployment.yaml").write_text(CHART_DEPLOYMENT)
    return work


async def test_a_flux_helmrelease_with_its_chart_in_git_is_render_checked(tmp_path):
    from tests.backfill.conftest import bare_remote

    work = seed_chart(tmp_path)
    (work / "clusters" / "prod").mkdir(parents=True)
    (work / "clusters" / "prod" / "web-release.yaml").write_text(FLUX_RELEASE)
    remote = bare_remote(work)
    cluster = flux_helm_cluster(remote, {"chart": "./charts/web"})
    old = helm_rendered_deployment()
    async for env in build_env(tmp_path, remote, cluster=cluster, repos=[]):
        cluster.put("deployments", p.edited(old, lambda d: d["spec"].update(replicas=5)))
        c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=5), old=old))
        summary = await env.worker.run_once()
        assert summary.backfilled == 1, (await env.status(c.id)).reason
        [record] = env.records()
        assert "**Render check:** `helm template of HelmRelease payments/web`" in record["body"]
        text = git("show", f"{record['branch']}:clusters/prod/web-release.yaml", cwd=remote)
        assert "    replicaCount: 5  # baseline\n" in text


async def test_an_undo_after_a_colleagues_change_is_not_a_sync_revert(tmp_path, remote):
    """alice sets the image, bob scales (same PR), alice undoes her image: the PR keeps bob's
    replicas and must not be labelled as reverted by a sync."""
    cluster = FakeCluster()
    async for env in build_env(tmp_path, remote, cluster=cluster):
        fixed = p.edited(p.deployment(), image("1.4.3"))
        await env.capture(edit_review(image("1.4.3"), field_manager="kubectl-set"))
        scaled = p.edited(fixed, lambda d: d["spec"].update(replicas=5))
        await env.capture(
            p.review(operation="UPDATE", obj=scaled, old=fixed, user=p.BOB, field_manager=None)
        )
        cluster.put("deployments", scaled)
        await env.worker.run_once()
        undone = p.edited(scaled, image("1.4.2"))
        cluster.put("deployments", undone)
        await env.capture(p.review(operation="UPDATE", obj=undone, old=scaled, field_manager=None))
        await env.worker.run_once()
        poll_now(env.worker)
        await env.worker.run_once()
        [record] = env.records()
        assert record["state"] == "open"
        assert "breakglass/reverted-by-sync" not in record["labels"]
        assert not any("GitOps controller reverted" in c["body"] for c in record["comments"])
        assert changed_lines(env.remote) == [
            "-  replicas: 2  # HA minimum, do not go below 2",
            "+  replicas: 5  # HA minimum, do not go below 2",
        ]
        assert "kubectl rollout undo" in record["comments"][-1]["body"]


async def test_a_helm_chart_whose_application_is_only_in_the_cluster(tmp_path):
    """The Application (made by an ApplicationSet, say) is not in the repository; its chart
    and value files are: a scale lands in the value file that sets replicaCount."""
    from tests.backfill.conftest import bare_remote

    work = seed_chart(tmp_path)
    (work / "envs" / "prod").mkdir(parents=True)
    (work / "envs" / "prod" / "web.yaml").write_text("replicaCount: 3  # prod traffic\n")
    remote = bare_remote(work)
    cluster = FakeCluster()
    cluster.put(
        "applications",
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {
                "source": {
                    "repoURL": str(remote),
                    "targetRevision": "main",
                    "path": "charts/web",
                    "helm": {"valueFiles": ["../../envs/prod/web.yaml"]},
                },
                "destination": {"namespace": "payments"},
            },
        },
    )
    old = p.deployment(name="web", replicas=3)
    old["metadata"]["annotations"] = {
        "argocd.argoproj.io/tracking-id": "web:apps/Deployment:payments/web"
    }
    cluster.put("deployments", p.edited(old, lambda d: d["spec"].update(replicas=5)))
    async for env in build_env(tmp_path, remote, cluster=cluster, repos=[]):
        c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=5), old=old))
        summary = await env.worker.run_once()
        assert summary.backfilled == 1, (await env.status(c.id)).reason
        [record] = env.records()
        branch = record["branch"]
        assert changed_lines(remote, branch) == [
            "-replicaCount: 3  # prod traffic",
            "+replicaCount: 5  # prod traffic",
        ]
        assert "**Render check:** `helm template web charts/web`" in record["body"]


FLEET_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  labels:
    app: checkout
spec:
  replicas: 2
  selector:
    matchLabels:
      app: checkout
  template:
    metadata:
      labels:
        app: checkout
    spec:
      containers:
        - name: app
          image: registry.example/checkout:1.4.2
          env:
            - name: LOG_LEVEL
              value: ${LOG_LEVEL}  # per cluster
"""


def fleet_kustomization(zone: str) -> str:
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        "  name: checkout\n  namespace: flux-system\nspec:\n  interval: 10m\n"
        "  path: ./apps/checkout\n  sourceRef:\n    kind: GitRepository\n    name: fleet\n"
        "  postBuild:\n    substitute:\n      LOG_LEVEL: info\n"
        f"      ZONE: {zone}\n"
    )


async def test_a_variable_is_set_in_the_kustomization_the_cluster_runs(tmp_path):
    """Two clusters keep a Kustomization of the same name with the same LOG_LEVEL: only the
    cluster's own Kustomization (read by the worker) tells which manifest to edit, and the
    render check substitutes the variables to prove it."""
    from tests.backfill.conftest import bare_remote

    work = tmp_path / "fleet"
    files = {
        "apps/checkout/kustomization.yaml": "namespace: payments\nresources:\n- deployment.yaml\n",
        "apps/checkout/deployment.yaml": FLEET_DEPLOYMENT,
        "clusters/eu/kustomization.yaml": "resources:\n- checkout.yaml\n",
        "clusters/eu/checkout.yaml": fleet_kustomization("a"),
        "clusters/us/kustomization.yaml": "resources:\n- checkout.yaml\n",
        "clusters/us/checkout.yaml": fleet_kustomization("b"),
    }
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    remote = bare_remote(work)
    cluster = FakeCluster()
    live_ks = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "checkout", "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "path": "./apps/checkout",
            "prune": False,
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "postBuild": {"substitute": {"LOG_LEVEL": "info", "ZONE": "a"}},
        },
    }
    cluster.put("kustomizations", live_ks)
    cluster.put(
        "gitrepositories",
        {
            "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "flux-system"},
            "spec": {"url": str(remote), "ref": {"branch": "main"}},
        },
    )
    old = p.deployment(
        labels={
            "kustomize.toolkit.fluxcd.io/name": "checkout",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        }
    )

    def debug(d: dict[str, Any]) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "debug"

    cluster.put("deployments", p.edited(old, debug))
    async for env in build_env(tmp_path, remote, cluster=cluster, repos=[]):
        c = await env.capture(edit_review(debug, old=old))
        summary = await env.worker.run_once()
        assert summary.backfilled == 1, (await env.status(c.id)).reason
        [record] = env.records()
        assert changed_lines(remote, record["branch"]) == [
            "-      LOG_LEVEL: info",
            "+      LOG_LEVEL: debug",
        ]
        assert "clusters/eu/checkout.yaml" in git(
            "diff", "--name-only", f"main..{record['branch']}", cwd=remote
        )
        assert (
            "with the post-build variables of Kustomization flux-system/checkout"
            in (record["body"])
        )

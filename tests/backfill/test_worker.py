"""The backfill worker against a real bare Git remote and the local forge."""

from __future__ import annotations

import json
from datetime import timedelta

from breakglass import model
from tests import payloads as p
from tests.backfill.conftest import (
    FakeCluster,
    build_env,
    edit_review,
    flux_helm_cluster,
    git,
    helm_rendered_deployment,
    read_branch,
)

BRANCH = "breakglass/prod-eu-1/payments/deployment/checkout"


async def test_confirmed_edit_becomes_a_minimal_pull_request(env):
    capture = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    summary = await env.worker.run_once()
    assert summary.backfilled == 1
    stored = await env.status(capture.id)
    assert stored.status is model.Status.PR_OPEN
    diff = git("diff", f"main...{BRANCH}", cwd=env.remote)
    changed = [
        line
        for line in diff.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-  replicas: 2  # HA minimum, do not go below 2",
        "+  replicas: 6  # HA minimum, do not go below 2",
    ]
    log = git("log", "-1", "--format=%an <%ae>|%cn|%B", BRANCH, cwd=env.remote)
    author, committer, message = log.split("|", 2)
    assert author == "Alice Doe <alice@example.com>"
    assert committer == "breakglass"
    assert f"Breakglass-Capture: {capture.id}" in message
    [record] = env.records()
    assert record["branch"] == BRANCH and record["base"] == "main"
    assert record["title"] == (
        "breakglass: kubectl edit of deployment payments/checkout by alice (2 → 6 replicas)"
    )
    assert record["labels"] == ["breakglass", "backfill"]
    assert record["assignees"] == ["alice-doe"]  # the handle from users:
    body = record["body"]
    assert "### Manual change in prod-eu-1 needs to reach Git" in body
    assert "+  replicas: 6  # HA minimum" in body
    assert "`spec.replicas`" in body
    assert capture.id in body
    assert stored.pr_url == record["url"]


async def test_a_second_edit_adds_a_commit_and_a_comment_to_the_same_pr(env):
    first = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    second = await env.capture(
        edit_review(
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
                image="registry.example/checkout:1.4.3"
            ),
            field_manager="kubectl-set",
        )
    )
    await env.worker.run_once()
    records = env.records()
    assert len(records) == 1
    assert len(records[0]["comments"]) == 1
    assert "kubectl set" in records[0]["comments"][0]["body"]
    assert (await env.status(second.id)).pr_url == (await env.status(first.id)).pr_url
    commits = git("log", "--format=%s", f"main..{BRANCH}", cwd=env.remote).splitlines()
    assert len(commits) == 2
    text = read_branch(env.remote, BRANCH, "apps/payments/deployment.yaml")
    assert "replicas: 6  # HA minimum" in text and "checkout:1.4.3" in text


async def test_running_twice_changes_nothing(env):
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    head = git("rev-parse", BRANCH, cwd=env.remote)
    summary = await env.worker.run_once()
    assert summary.total() == 0
    assert git("rev-parse", BRANCH, cwd=env.remote) == head
    assert len(env.records()) == 1


async def test_human_revert_withdraws_the_pr(env):
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    six = p.edited(p.deployment(), lambda d: d["spec"].update(replicas=6))
    back = await env.capture(p.review(operation="UPDATE", obj=p.deployment(replicas=2), old=six))
    await env.worker.run_once()
    [record] = env.records()
    assert record["state"] == "closed"
    assert "put the object back to what Git says (kubectl edit)" in record["comments"][-1]["body"]
    assert (await env.status(back.id)).status is model.Status.CLOSED


async def test_human_closed_pr_is_not_reopened(env):
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    # an edit made while the PR was open, then a reviewer closes the PR before it is handled
    pending = await env.capture(edit_review(lambda d: d["spec"].update(replicas=7)))
    [record] = env.records()
    path = env.settings.state_dir / "pull-requests" / f"{record['number']:06d}.json"
    record.update(state="closed", closed_by="bob", closed_at=model.format_time(model.utcnow()))
    path.write_text(json.dumps(record))
    await env.worker.run_once()
    stored = await env.status(pending.id)
    assert stored.status is model.Status.CLOSED
    assert "does not reopen" in stored.reason
    assert [r["state"] for r in env.records()] == ["closed"]
    # a change made after the close is new work and gets a new pull request (forges report
    # whole seconds, so "after" means a second later)
    after_close = model.utcnow() + timedelta(seconds=2)
    later = await env.capture(edit_review(lambda d: d["spec"].update(replicas=8)), now=after_close)
    await env.worker.run_once()
    assert [r["state"] for r in env.records()] == ["closed", "open"]
    assert (await env.status(later.id)).status is model.Status.PR_OPEN
    text = read_branch(env.remote, BRANCH, "apps/payments/deployment.yaml")
    assert "replicas: 8" in text


async def test_unmanaged_objects_are_recordednot_backfilled(env):
    other = p.deployment(namespace="elsewhere")
    c = await env.capture(
        p.review(operation="UPDATE", obj=p.deployment(namespace="elsewhere", replicas=3), old=other)
    )
    summary = await env.worker.run_once()
    assert summary.unmanaged == 1
    assert (await env.status(c.id)).status is model.Status.UNMANAGED
    assert env.records() == []


async def test_secret_value_change_fails_with_an_issue_not_a_diff(env, remote):
    old = p.secret(value="a")
    new = p.secret(value=p.CANARY)
    git_work = remote.parent / "w"
    git("clone", "-q", str(remote), str(git_work), cwd=remote.parent)
    (git_work / "apps" / "payments" / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\nstringData:\n  password: a\n"
    )
    git("add", ".", cwd=git_work)
    git("commit", "-q", "-m", "secret", cwd=git_work)
    git("push", "-q", "origin", "main", cwd=git_work)
    c = await env.capture(p.review(operation="UPDATE", obj=new, old=old))
    summary = await env.worker.run_once()
    assert summary.failed == 1
    stored = await env.status(c.id)
    assert stored.status is model.Status.FAILED
    assert "cannot be expressed" in stored.reason
    [issue] = env.records()
    assert issue["kind"] == "issue"
    assert "password" in issue["body"]
    assert p.CANARY not in json.dumps(env.records())
    assert p.CANARY not in git("log", "--all", "-p", cwd=remote)


async def test_a_change_too_deep_to_diff_is_recordednot_backfilled(env):
    review = edit_review(lambda d: d["spec"].update(replicas=4))
    deep: object = "x"
    for _ in range(150):
        deep = [deep]
    review["request"]["object"]["spec"]["deep"] = deep
    c = await env.capture(review)
    summary = await env.worker.run_once()
    assert summary.ignored == 1 and env.records() == []
    stored = await env.status(c.id)
    assert stored.status is model.Status.IGNORED
    assert "nested more than 100 levels deep" in stored.reason
    assert "update Git by hand" in stored.reason


async def test_unmapped_user_gets_a_fallback_identity(env):
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=4), user=p.BOB))
    await env.worker.run_once()
    author = git("log", "-1", "--format=%an <%ae>", BRANCH, cwd=env.remote).strip()
    assert author == "bob <bob@prod-eu-1.breakglass.invalid>"
    [record] = env.records()
    assert record["assignees"] == ["bob"]


async def test_record_only_operations_arenot_backfilled(env):
    c = await env.capture(edit_review(lambda d: d["spec"].update(paused=True)))
    summary = await env.worker.run_once()
    assert summary.ignored == 1
    assert (await env.status(c.id)).status is model.Status.IGNORED


async def test_provisional_captures_are_checked_against_the_live_object(tmp_path, remote):
    cluster = FakeCluster()
    async for env in build_env(tmp_path, remote, cluster=cluster):
        held = await env.capture(
            edit_review(lambda d: d["spec"].update(replicas=6)), confirmed=False
        )
        rejected = await env.capture(
            edit_review(lambda d: d["spec"].update(replicas=9), uid="other"), confirmed=False
        )
        cluster.put("deployments", p.deployment(replicas=6))
        env.worker.clock = lambda: model.utcnow() + timedelta(seconds=1)  # past the grace
        summary = await env.worker.run_once()
        assert summary.confirmed == 1 and summary.discarded == 1
        assert (await env.status(rejected.id)).status is model.Status.DISCARDED
        assert "does not show the change" in (await env.status(rejected.id)).reason
        assert (await env.status(held.id)).status is model.Status.PR_OPEN


async def test_merged_pr_is_tracked(env):
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    [record] = env.records()
    path = env.settings.state_dir / "pull-requests" / f"{record['number']:06d}.json"
    record.update(state="merged", merged_at=model.format_time(model.utcnow()))
    path.write_text(json.dumps(record))
    env.worker.last_poll = env.worker.last_poll.min.replace(tzinfo=model.utcnow().tzinfo)
    summary = await env.worker.run_once()
    assert summary.merged == 1
    assert (await env.status(c.id)).status is model.Status.MERGED
    assert "breakglass_time_to_merge_seconds_count 1.0" in env.metrics.render().decode()


async def test_crash_between_push_and_pr_resumes_without_duplicates(env):
    from breakglass.errors import TemporaryError
    from breakglass.forge.local import LocalProvider

    class Flaky(LocalProvider):
        failures = 1

        async def open(self, spec):
            if Flaky.failures:
                Flaky.failures -= 1
                raise TemporaryError("forge unavailable", delay=0)
            return await super().open(spec)

    forge = env.settings.forge("local")
    env.worker.providers[f"local|{env.remote}"] = Flaky(forge.records_dir, remote=str(env.remote))
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    first = await env.worker.run_once()
    assert first.retried == 1
    assert (await env.status(c.id)).attempts == 1
    assert env.records() == []
    waits = (await env.status(c.id)).next_attempt_at - model.utcnow()
    assert timedelta(seconds=1) < waits <= timedelta(seconds=2)  # the first retry waits 2 s
    env.worker.clock = lambda: model.utcnow() + timedelta(seconds=3)
    second = await env.worker.run_once()
    assert second.backfilled == 1
    assert len(env.records()) == 1
    commits = git("log", "--format=%H", f"main..{BRANCH}", cwd=env.remote).splitlines()
    assert len(commits) == 1


async def test_self_heal_keeps_the_pr_open_and_says_so(tmp_path, remote):
    cluster = FakeCluster()
    async for env in build_env(tmp_path, remote, cluster=cluster):
        cluster.put("deployments", p.deployment(replicas=6))
        c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
        await env.worker.run_once()
        assert (await env.status(c.id)).status is model.Status.PR_OPEN
        # the GitOps controller syncs the object back to Git's 2 replicas: no capture for it
        cluster.put("deployments", p.deployment(replicas=2))
        env.worker.last_poll = env.worker.last_poll.min.replace(tzinfo=model.utcnow().tzinfo)
        await env.worker.run_once()
        [record] = env.records()
        assert record["state"] == "open"
        assert "reverted-by-sync" in " ".join(record["labels"])
        assert "Merging this pull request re-applies it" in record["comments"][-1]["body"]
        assert (await env.status(c.id)).status is model.Status.PR_OPEN
        # and only once
        env.worker.last_poll = env.worker.last_poll.min.replace(tzinfo=model.utcnow().tzinfo)
        await env.worker.run_once()
        assert len(env.records()[0]["comments"]) == 1


async def test_a_human_commit_on_the_pr_branch_is_kept(env, tmp_path):
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    work = tmp_path / "human"
    git("clone", "-q", "-b", BRANCH, str(env.remote), str(work), cwd=tmp_path)
    (work / "apps" / "payments" / "NOTES.md").write_text("reviewed by carol\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "reviewer note", cwd=work)
    git("push", "-q", "origin", BRANCH, cwd=work)
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=8)))
    await env.worker.run_once()
    subjects = git("log", "--format=%s", f"main..{BRANCH}", cwd=env.remote).splitlines()
    assert subjects[1] == "reviewer note"
    assert len(subjects) == 3
    assert read_branch(env.remote, BRANCH, "apps/payments/NOTES.md") == "reviewed by carol\n"


async def test_journal_list_shows_state_pr_and_reason(env):
    import subprocess
    import sys

    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    other = await env.capture(
        p.review(
            operation="UPDATE",
            obj=p.deployment(namespace="elsewhere", replicas=3),
            old=p.deployment(namespace="elsewhere"),
        )
    )
    await env.worker.run_once()
    config = env.settings.state_dir.parent / "bg.yaml"
    config.write_text(f"journal: {env.settings.journal_url}\n")
    out = subprocess.run(
        [sys.executable, "-m", "breakglass", "journal", "list", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith(c.id))
    assert "pr_open" in line and "#pull/1" in line
    line = next(x for x in out.splitlines() if x.startswith(other.id))
    assert "unmanaged" in line and "no Argo CD application" in line


async def test_the_index_is_built_once_per_repository_and_then_refreshed(env, monkeypatch):
    from breakglass.gitops import index

    builds = []
    real_build = index.Index.build.__func__

    def counting_build(cls, root, **kw):
        builds.append(root)
        return real_build(cls, root, **kw)

    monkeypatch.setattr(index.Index, "build", classmethod(counting_build))
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    cm = p.configmap()
    await env.capture(
        p.review(
            operation="UPDATE", obj=p.edited(cm, lambda d: d["data"].update(TIMEOUT="60")), old=cm
        )
    )
    await env.worker.run_once()
    assert len(builds) == 1
    assert len(env.records()) == 2
    text = read_branch(
        env.remote,
        "breakglass/prod-eu-1/payments/configmap/checkout-config",
        "apps/payments/configmap.yaml",
    )
    assert 'TIMEOUT: "60"' in text
    # the second branch starts from main: the first object's edit is not on it
    assert "replicas: 2  #" in read_branch(
        env.remote,
        "breakglass/prod-eu-1/payments/configmap/checkout-config",
        "apps/payments/deployment.yaml",
    )


HELM_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: payments
spec:
  chart:
    spec:
      chart: web
      sourceRef: {kind: HelmRepository, name: charts}
  values:
    replicaCount: 2  # baseline
"""


async def test_a_helm_rendered_object_is_backfilled_into_its_flux_helmrelease(tmp_path, remote):
    work = tmp_path / "hr-work"
    git("clone", "-q", str(remote), str(work), cwd=tmp_path)
    (work / "clusters" / "prod").mkdir(parents=True)
    (work / "clusters" / "prod" / "web-release.yaml").write_text(HELM_RELEASE)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "helm release", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    cluster = flux_helm_cluster(
        remote, {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}
    )
    old = helm_rendered_deployment()
    review = edit_review(lambda d: d["spec"].update(replicas=5), old=old)
    async for env in build_env(tmp_path, remote, cluster=cluster, repos=[]):
        c = await env.capture(review)
        summary = await env.worker.run_once()
        assert summary.backfilled == 1, (await env.status(c.id)).reason
        [record] = env.records()
        assert "Flux Kustomization prod" in record["body"]
        text = read_branch(remote, record["branch"], "clusters/prod/web-release.yaml")
        assert "    replicaCount: 5  # baseline\n" in text

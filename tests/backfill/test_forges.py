"""The worker with the real PyGithub and python-gitlab SDKs against HTTP-level fakes."""

from __future__ import annotations

import pytest

from breakglass import model
from breakglass.forge import retry
from breakglass.forge.github import GitHubProvider
from breakglass.forge.gitlab import GitLabProvider
from tests import payloads as p
from tests.backfill.conftest import CONFIGMAP, DEPLOYMENT, KUSTOMIZATION, build_env, edit_review
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab

TOKEN = "ghp_SECRETworkerTOKEN0123456789abcd"
FAST = retry.RetryPolicy(attempts=4, base=0.01, cap=0.05, deadline=10.0)
FILES = {
    "apps/payments/deployment.yaml": DEPLOYMENT,
    "apps/payments/configmap.yaml": CONFIGMAP,
    "apps/payments/kustomization.yaml": KUSTOMIZATION,
}
BRANCH = "breakglass/prod-eu-1/payments/deployment/checkout"


@pytest.fixture
async def github(tmp_path, monkeypatch):
    monkeypatch.setenv("BG_GITHUB_TOKEN", TOKEN)
    fake = FakeGitHub(tmp_path / "gh", repo="acme/gitops", token=TOKEN, files=FILES)
    await fake.start()
    extra = {
        "forges": {
            "github": {
                "kind": "github",
                "repo": "acme/gitops",
                "base_url": fake.base_url,
                "token_env": "BG_GITHUB_TOKEN",
            }
        },
        "backfill": {
            "forge": "github",
            "grace_seconds": 0.01,
            "reviewers": ["bob-sre"],
            "labels": ["breakglass", "backfill"],
        },
        "repos": [
            {
                "url": fake.clone_url,
                "branch": "main",
                "path": "apps/payments",
                "namespaces": ["payments"],
            }
        ],
    }
    async for env in build_env(tmp_path, fake.repo.path, **extra):
        provider = GitHubProvider(
            "acme/gitops", token=TOKEN, base_url=fake.base_url, pacing=0, policy=FAST
        )
        env.worker.providers["github"] = provider
        yield env, fake
    await fake.stop()


async def test_pull_request_on_github_assigned_to_the_engineer(github):
    env, fake = github
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    [pr] = fake.pulls
    assert pr.head == BRANCH and pr.base == "main"
    assert pr.title == (
        "breakglass: kubectl edit of deployment payments/checkout by alice (2 → 6 replicas)"
    )
    assert sorted(pr.labels) == ["backfill", "breakglass"]
    assert pr.assignees == ["alice-doe"]
    assert pr.reviewers == ["bob-sre"]
    assert "+  replicas: 6  # HA minimum" in pr.body
    text = fake.repo.read(BRANCH, "apps/payments/deployment.yaml")
    assert "replicas: 6  # HA minimum, do not go below 2" in text
    assert fake.repo.log(BRANCH, "%an <%ae>")[0] == "Alice Doe <alice@example.com>"
    stored = await env.status(c.id)
    assert stored.status is model.Status.PR_OPEN
    assert stored.pr_url.endswith(f"/pull/{pr.number}")
    calls = [r for r in fake.requests if r.path.startswith("/repos/")]
    print(f"GitHub API calls for the first PR: {len(calls)}")
    assert len(calls) <= 6


async def test_second_edit_comments_on_the_same_github_pr(github):
    env, fake = github
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=8)))
    await env.worker.run_once()
    [pr] = fake.pulls
    assert len(pr.comments) == 1
    assert "Another manual change" in pr.comments[0].body
    assert len(fake.repo.log(BRANCH)) == len(fake.repo.log("main")) + 2


async def test_rate_limit_is_honoured(github):
    env, fake = github
    fault = fake.rate_limit(r"/pulls$", method="POST", retry_after=1)
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    creates = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/pulls")]
    assert [r.status for r in creates] == [429, 201]
    assert creates[1].time - creates[0].time >= 1.0
    assert len(fake.pulls) == 1
    del fault


async def test_crash_after_pr_created_resumes_without_a_duplicate(github):
    env, fake = github
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    # the journal write after the PR was opened never happened
    await env.journal.update(c.id, {"status": model.Status.CONFIRMED, "pr_url": None})
    head = fake.repo.sha(BRANCH)
    await env.worker.run_once()
    assert len(fake.pulls) == 1
    assert fake.repo.sha(BRANCH) == head
    stored = await env.status(c.id)
    assert stored.status is model.Status.PR_OPEN
    assert stored.pr_url.endswith(f"/pull/{fake.pulls[0].number}")


async def test_human_closed_github_pr_is_not_reopened(github):
    env, fake = github
    await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    pending = await env.capture(edit_review(lambda d: d["spec"].update(replicas=7)))
    fake.close(fake.pulls[0].number, by="carol")
    await env.worker.run_once()
    assert (await env.status(pending.id)).status is model.Status.CLOSED
    assert [pr.state for pr in fake.pulls] == ["closed"]


async def test_merge_is_tracked(github):
    env, fake = github
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    fake.merge(fake.pulls[0].number, by="carol")
    env.worker.last_poll = env.worker.last_poll.min.replace(tzinfo=model.utcnow().tzinfo)
    summary = await env.worker.run_once()
    assert summary.merged == 1
    assert (await env.status(c.id)).status is model.Status.MERGED


async def test_cannot_express_opens_an_issue_with_the_delta(github):
    env, fake = github
    fake.repo.commit_files(
        "main",
        {
            "apps/payments/secret.yaml": (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\n"
                "stringData:\n  password: a\n"
            ),
            "apps/payments/kustomization.yaml": KUSTOMIZATION + "  - secret.yaml\n",
        },
        "add the secret",
    )
    c = await env.capture(
        p.review(operation="UPDATE", obj=p.secret(value=p.CANARY), old=p.secret(value="a"))
    )
    await env.worker.run_once()
    stored = await env.status(c.id)
    assert stored.status is model.Status.FAILED
    assert "cannot be expressed" in stored.reason
    [issue] = fake.plain_issues
    assert "could not be backfilled automatically" in issue.body
    assert "password" in issue.body
    assert p.CANARY not in issue.body
    assert issue.assignees == ["alice-doe"]
    assert stored.pr_url.endswith(f"/issues/{issue.number}")


async def test_token_never_appears_in_journal_or_records(github):
    env, fake = github
    fake.forbid(r"/pulls$", method="POST", times=10)
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    await env.worker.run_once()
    stored = await env.status(c.id)
    assert stored.status is model.Status.FAILED
    assert TOKEN not in (stored.reason or "")
    for f in env.settings.state_dir.glob("**/*.db*"):
        assert TOKEN.encode() not in f.read_bytes()


async def test_gitlab_merge_request(tmp_path, monkeypatch):
    monkeypatch.setenv("BG_GITLAB_TOKEN", "glpat-SECRET0123456789")
    fake = FakeGitLab(
        tmp_path / "gl",
        project="platform/gitops",
        token="glpat-SECRET0123456789",
        users=("alice", "bob"),
        files=FILES,
    )
    await fake.start()
    extra = {
        "forges": {
            "gitlab": {
                "kind": "gitlab",
                "repo": "platform/gitops",
                "base_url": fake.base_url,
                "token_env": "BG_GITLAB_TOKEN",
            }
        },
        "backfill": {"forge": "gitlab", "grace_seconds": 0.01},
        "repos": [
            {
                "url": fake.clone_url,
                "branch": "main",
                "path": "apps/payments",
                "namespaces": ["payments"],
            }
        ],
    }
    try:
        async for env in build_env(tmp_path, fake.repo.path, **extra):
            env.worker.providers["gitlab"] = GitLabProvider(
                "platform/gitops",
                token="glpat-SECRET0123456789",
                base_url=fake.base_url,
                policy=FAST,
            )
            c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
            await env.worker.run_once()
            [mr] = fake.mrs_for(BRANCH)
            assert mr.source_branch == BRANCH
            assert mr.assignees == ["alice"]
            assert (await env.status(c.id)).status is model.Status.PR_OPEN
    finally:
        await fake.stop()

"""GitHubProvider against the fake GitHub: PyGithub runs unmodified over real HTTP."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from breakglass import errors
from breakglass.forge import Provider, retry
from breakglass.forge.github import GitHubProvider
from tests.fakes.github import FakeGitHub
from tests.forge.conftest import FAST, GH_TOKEN, push_branch, spec
from tests.forge.protocol import assert_implements_provider

PULLS = r"/repos/acme/gitops/pulls$"
BRANCH = "breakglass/prod-eu-1/payments/deployment/checkout"


def provider(fake: FakeGitHub, **kw: object) -> GitHubProvider:
    options: dict[str, object] = {"token": GH_TOKEN, "base_url": fake.base_url, "pacing": 0}
    options["policy"] = FAST
    options.update(kw)
    return GitHubProvider("acme/gitops", **options)  # type: ignore[arg-type]


@pytest.fixture
def gh(fake_github: FakeGitHub) -> GitHubProvider:
    push_branch(fake_github.repo, BRANCH)
    return provider(fake_github)


def test_is_a_provider(gh: GitHubProvider) -> None:
    p: Provider = gh
    assert p.name == "github"
    assert_implements_provider(p)


async def test_open_sets_everything(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    fake_github.reset_log()
    pr = await gh.open(spec(draft=True))

    assert pr.number == 1
    assert pr.state == "open"
    assert pr.branch == BRANCH and pr.base == "main"
    assert pr.title.startswith("breakglass: kubectl scale")
    assert pr.labels == ("breakglass", "backfill")
    assert pr.assignees == ("alice",)
    assert pr.draft is True
    assert pr.url.endswith("/acme/gitops/pull/1")
    assert pr.extra["head_sha"] == fake_github.repo.sha(BRANCH)
    assert pr.extra["reviewers"] == "bob"

    stored = fake_github.pull(1)
    assert (stored.head, stored.base, stored.draft) == (BRANCH, "main", True)
    assert stored.labels == ["breakglass", "backfill"]
    assert stored.assignees == ["alice"]
    assert stored.reviewers == ["bob"]
    assert "replicas: 6" in stored.body
    # create + label/assign (one PATCH) + request reviewers
    assert [str(c) for c in fake_github.requests] == [
        "POST /repos/acme/gitops/pulls → 201",
        "PATCH /repos/acme/gitops/issues/1 → 200",
        "POST /repos/acme/gitops/pulls/1/requested_reviewers → 201",
    ]


async def test_open_minimal_is_one_call(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    fake_github.reset_log()
    pr = await gh.open(spec(labels=(), assignees=(), reviewers=()))
    assert pr.number == 1 and pr.labels == () and not pr.draft
    assert len(fake_github.requests) == 1


async def test_find_by_branch(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    assert await gh.find_by_branch(BRANCH) is None
    first = await gh.open(spec())
    found = await gh.find_by_branch(BRANCH)
    assert found is not None and found.number == first.number and found.state == "open"
    assert found.labels == ("breakglass", "backfill")
    assert fake_github.calls("GET", PULLS)[-1].query == {"state": "all", "head": f"acme:{BRANCH}"}

    # Closed by a human, then a new one: the open one comes first.
    fake_github.close(first.number, by="carol")
    closed = await gh.find_by_branch(BRANCH)
    assert closed is not None and closed.state == "closed"
    second = await gh.open(spec())
    assert second.number != first.number
    found = await gh.find_by_branch(BRANCH)
    assert found is not None and found.number == second.number

    fake_github.merge(second.number, by="dave")
    found = await gh.find_by_branch(BRANCH)
    assert found is not None and found.number == second.number and found.state == "merged"
    assert await gh.find_by_branch("breakglass/other") is None


async def test_second_open_returns_existing(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    first = await gh.open(spec())
    fake_github.reset_log()
    again = await gh.open(spec())
    assert again.number == first.number
    assert len(fake_github.pulls) == 1
    # 422 "already exists", then one list to find it; labels/assignee already there: no more.
    assert [c.status for c in fake_github.requests] == [422, 200]


async def test_existing_pr_gets_missing_labels(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    # A crash after creating the PR but before labelling it: the next open completes the job.
    first = await gh.open(spec(labels=(), assignees=(), reviewers=()))
    again = await gh.open(spec())
    assert again.number == first.number
    assert fake_github.pull(first.number).labels == ["breakglass", "backfill"]
    assert fake_github.pull(first.number).assignees == ["alice"]
    assert again.labels == ("breakglass", "backfill") and again.assignees == ("alice",)


async def test_missing_head_branch_is_permanent(fake_github: FakeGitHub) -> None:
    gh = provider(fake_github)
    with pytest.raises(errors.PermanentError) as info:
        await gh.open(spec(branch="breakglass/never-pushed"))
    assert "422" in str(info.value)
    assert len(fake_github.calls("POST", PULLS)) == 1


async def test_update_comment_labels_close(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    pr = await gh.open(spec())
    fake_github.pull(pr.number).labels.append("needs-sre")  # a human's label
    fake_github.reset_log()

    updated = await gh.update(
        pr,
        spec(title="breakglass: two edits", body="new body", labels=("breakglass", "self-healed")),
    )
    assert updated.title == "breakglass: two edits" and updated.body == "new body"
    assert set(updated.labels) == {"breakglass", "backfill", "needs-sre", "self-healed"}
    assert fake_github.pull(pr.number).labels == [
        "breakglass",
        "backfill",
        "needs-sre",
        "self-healed",
    ]
    assert len(fake_github.requests) == 2  # PATCH pull + POST labels

    await gh.comment(pr, "A further edit was added to this pull request.")
    await gh.add_labels(pr, ["reverted"])
    assert fake_github.pull(pr.number).comments[-1].body.startswith("A further edit")
    assert "reverted" in fake_github.pull(pr.number).labels

    closed = await gh.close(pr, comment="The change was reverted by alice; closing.")
    assert closed.state == "closed" and closed.closed_at is not None
    stored = fake_github.pull(pr.number)
    assert stored.state == "closed" and stored.comments[-1].body.endswith("closing.")


async def test_refresh_sees_human_merge(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    pr = await gh.open(spec())
    assert (await gh.refresh(pr)).state == "open"
    fake_github.merge(pr.number, by="carol")
    fake_github.reset_log()
    merged = await gh.refresh(pr)
    assert merged.state == "merged" and merged.merged_at is not None
    assert merged.closed_by == "carol" and merged.extra["merged_by"] == "carol"
    assert fake_github.repo.read("main", "apps/checkout/deployment.yaml") == "replicas: 6\n"
    assert len(fake_github.requests) == 1  # merged_by comes with the pull


async def test_refresh_sees_human_close(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    pr = await gh.open(spec())
    fake_github.close(pr.number, by="carol")
    fake_github.reset_log()
    closed = await gh.refresh(pr)
    assert closed.state == "closed" and closed.merged_at is None and closed.closed_by == "carol"
    assert len(fake_github.requests) == 2  # pull, then its issue for closed_by


async def test_open_issue(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    url = await gh.open_issue(
        title="cannot express", body="the delta", labels=["breakglass"], assignees=["alice"]
    )
    assert url.endswith("/acme/gitops/issues/1")
    issue = fake_github.plain_issues[0]
    assert (issue.title, issue.labels, issue.assignees) == (
        "cannot express",
        ["breakglass"],
        ["alice"],
    )


async def test_close_issue_comments_and_closes_once(
    gh: GitHubProvider, fake_github: FakeGitHub
) -> None:
    url = await gh.open_issue(title="drift", body="why", labels=[], assignees=[])
    await gh.close_issue(url, comment="resolved")
    issue = fake_github.plain_issues[0]
    assert issue.state == "closed" and [c.body for c in issue.comments] == ["resolved"]
    await gh.close_issue(url, comment="again")  # closed stays closed, the comment is added
    assert issue.state == "closed" and len(issue.comments) == 2
    with pytest.raises(errors.PermanentError, match="not an issue URL"):
        await gh.close_issue("https://example.invalid/acme/gitops/pull", comment="x")


async def test_refused_reviewer_is_not_fatal(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    pr = await gh.open(spec(reviewers=(fake_github.bot,)))
    assert pr.state == "open" and "reviewers_error" in pr.extra


# ------------------------------------------------------------------- failures


async def test_retry_after_window_is_honoured(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    fake_github.rate_limit(PULLS, method="POST", retry_after=1)
    pr = await gh.open(spec(labels=(), assignees=(), reviewers=()))
    assert pr.number == 1
    limited, ok = fake_github.calls("POST", PULLS)
    assert (limited.status, ok.status) == (429, 201)
    assert ok.time - limited.time >= 1.0


async def test_primary_rate_limit_waits_for_reset(
    gh: GitHubProvider, fake_github: FakeGitHub
) -> None:
    fake_github.primary_rate_limit(PULLS, method="GET", reset_in=1)
    assert await gh.find_by_branch(BRANCH) is None
    limited, ok = fake_github.calls("GET", PULLS)
    assert limited.status == 403 and ok.status == 200
    # x-ratelimit-reset has one-second resolution: the retry lands after the reset second began.
    assert int(ok.time) >= int(limited.time) + 1


async def test_secondary_rate_limit(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    fake_github.secondary_rate_limit(PULLS, method="POST", retry_after=1)
    await gh.open(spec(labels=(), assignees=(), reviewers=()))
    limited, ok = fake_github.calls("POST", PULLS)
    assert ok.time - limited.time >= 1.0


async def test_secondary_limit_without_retry_after_waits_a_minute(
    gh: GitHubProvider, fake_github: FakeGitHub
) -> None:
    fake_github.secondary_rate_limit(PULLS, method="POST", retry_after=None)
    with pytest.raises(errors.RateLimited) as info:
        await gh.open(spec())  # 60 s is past the policy deadline: handed back to the worker
    assert info.value.delay == 60.0
    assert len(fake_github.calls("POST", PULLS)) == 1


async def test_5xx_retried_then_succeeds(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    fake_github.server_error(PULLS, method="GET", status=502, times=2)
    assert await gh.find_by_branch(BRANCH) is None
    assert [c.status for c in fake_github.calls("GET", PULLS)] == [502, 502, 200]


async def test_5xx_gives_up_after_policy(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    fake_github.server_error(PULLS, method="GET", status=503, times=10)
    with pytest.raises(errors.TemporaryError):
        await gh.find_by_branch(BRANCH)
    assert len(fake_github.calls("GET", PULLS)) == FAST.attempts


@pytest.mark.parametrize("status", [403, 404])
async def test_permission_errors_are_permanent(
    gh: GitHubProvider, fake_github: FakeGitHub, status: int
) -> None:
    if status == 403:
        fake_github.forbid(PULLS, method="POST")
    else:
        fake_github.inject(PULLS, method="POST", status=404, body={"message": "Not Found"})
    with pytest.raises(errors.PermanentError) as info:
        await gh.open(spec())
    assert not isinstance(info.value, errors.TemporaryError)
    assert len(fake_github.calls("POST", PULLS)) == 1
    assert info.value.hint and (
        "Pull requests: write" in info.value.hint or "404" in info.value.hint
    )


async def test_unknown_repository_is_permanent(fake_github: FakeGitHub) -> None:
    gh = GitHubProvider(
        "acme/missing", token=GH_TOKEN, base_url=fake_github.base_url, pacing=0, policy=FAST
    )
    with pytest.raises(errors.PermanentError) as info:
        await gh.find_by_branch(BRANCH)
    assert "404" in str(info.value) and info.value.hint
    assert len(fake_github.requests) == 1


async def test_timeout_is_temporary(gh: GitHubProvider, fake_github: FakeGitHub) -> None:
    slow = provider(fake_github, timeout=1, policy=retry.RetryPolicy(attempts=1))
    fake_github.slow(PULLS, 1.5, method="GET")
    with pytest.raises(errors.TemporaryError) as info:
        await slow.find_by_branch(BRANCH)
    assert "Timeout" in str(info.value)


async def test_connection_refused_is_temporary(tmp_path: Path) -> None:
    gh = GitHubProvider("acme/gitops", token=GH_TOKEN, base_url="http://127.0.0.1:9", pacing=0,
                        policy=retry.RetryPolicy(attempts=2, base=0.01, cap=0.01))  # fmt: skip
    with pytest.raises(errors.TemporaryError):
        await gh.find_by_branch(BRANCH)


async def test_token_never_leaks(fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # A server that echoes the credential back in an error must not get it into our messages.
    fake_github.inject(
        PULLS, status=500, times=2, body={"message": f"upstream said token {GH_TOKEN}"}
    )
    fake_github.inject(PULLS, status=403, body={"message": f"token {GH_TOKEN} lacks scope"})
    gh = provider(fake_github)
    with structlog.testing.capture_logs() as logs, pytest.raises(errors.PermanentError) as info:
        await gh.find_by_branch(BRANCH)
    assert len(logs) == 2 and all(entry["event"] == "forge.retry" for entry in logs)
    assert "***" in str(info.value)
    texts = [str(info.value), info.value.hint or "", repr(logs), caplog.text]
    assert info.value.__cause__ is None and info.value.__suppress_context__
    # Wrong token: 401, permanent, still masked.
    bad = GitHubProvider(
        "acme/gitops",
        token="ghp_WRONGtoken999",
        base_url=fake_github.base_url,
        pacing=0,
        policy=FAST,
    )
    with pytest.raises(errors.PermanentError) as wrong:
        await bad.find_by_branch(BRANCH)
    assert "401" in str(wrong.value) and "invalid" in (wrong.value.hint or "")
    texts += [str(wrong.value), caplog.text]
    for text in texts:
        assert GH_TOKEN not in text and "ghp_WRONGtoken999" not in text


async def test_enterprise_base_url(tmp_path: Path) -> None:
    fake = FakeGitHub(tmp_path / "ghe", repo="acme/gitops", token=GH_TOKEN, prefix="/api/v3")
    await fake.start()
    try:
        push_branch(fake.repo, BRANCH)
        gh = provider(fake)
        assert gh.base_url.endswith("/api/v3")
        pr = await gh.open(spec())
        assert (await gh.refresh(pr)).state == "open"
        assert all(c.path.startswith("/api/v3/") for c in fake.requests)
    finally:
        await fake.stop()


async def test_github_app_installation_auth(fake_github: FakeGitHub) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    push_branch(fake_github.repo, BRANCH)
    gh = GitHubProvider("acme/gitops", app_id=42, private_key=pem, installation_id=7,
                        base_url=fake_github.base_url, pacing=0, policy=FAST)  # fmt: skip
    pr = await gh.open(spec())
    assert pr.number == 1
    assert fake_github.installation_tokens and fake_github.calls("POST", "/app/installations/7/")


def test_needs_one_way_to_authenticate() -> None:
    with pytest.raises(errors.InputError):
        GitHubProvider("acme/gitops")
    with pytest.raises(errors.InputError):
        GitHubProvider("not-a-repo", token="x")


async def test_pacing_spaces_writes(fake_github: FakeGitHub) -> None:
    push_branch(fake_github.repo, BRANCH)
    gh = provider(fake_github, pacing=0.3)
    await gh.open(spec())
    writes = [c for c in fake_github.requests if c.method != "GET"]
    assert len(writes) == 3
    gaps = [b.time - a.time for a, b in itertools.pairwise(writes)]
    assert all(gap >= 0.29 for gap in gaps), gaps

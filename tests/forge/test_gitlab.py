"""GitLabProvider against the fake GitLab: python-gitlab runs unmodified over real HTTP."""

from __future__ import annotations

import logging

import pytest
import structlog

from breakglass import errors
from breakglass.forge import Provider, retry
from breakglass.forge.gitlab import GitLabProvider
from tests.fakes.gitlab import FakeGitLab
from tests.forge.conftest import FAST, GL_TOKEN, push_branch, spec
from tests.forge.protocol import assert_implements_provider

MRS = r"/projects/platform%2Fgitops/merge_requests$"
BRANCH = "breakglass/prod-eu-1/payments/deployment/checkout"


def provider(fake: FakeGitLab, **kw: object) -> GitLabProvider:
    options: dict[str, object] = {"token": GL_TOKEN, "base_url": fake.base_url, "pacing": 0}
    options["policy"] = FAST
    options.update(kw)
    return GitLabProvider("platform/gitops", **options)  # type: ignore[arg-type]


@pytest.fixture
def gl(fake_gitlab: FakeGitLab) -> GitLabProvider:
    push_branch(fake_gitlab.repo, BRANCH)
    return provider(fake_gitlab)


def test_is_a_provider(gl: GitLabProvider) -> None:
    p: Provider = gl
    assert p.name == "gitlab"
    assert_implements_provider(p)


async def test_open_sets_everything(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    fake_gitlab.reset_log()
    pr = await gl.open(spec(draft=True))
    assert pr.number == 1 and pr.state == "open"
    assert (pr.branch, pr.base) == (BRANCH, "main")
    assert pr.title.startswith("breakglass: kubectl scale") and pr.draft
    assert pr.labels == ("breakglass", "backfill")
    assert pr.assignees == ("alice",)
    assert pr.extra["reviewers"] == "bob"
    assert pr.url.endswith("/platform/gitops/-/merge_requests/1")

    mr = fake_gitlab.mr(1)
    assert mr.title.startswith("Draft: breakglass:")
    assert (mr.labels, mr.assignees, mr.reviewers) == (
        ["breakglass", "backfill"],
        ["alice"],
        ["bob"],
    )
    assert "replicas: 6" in mr.description
    # two user lookups (cached afterwards) and one create
    assert [str(c) for c in fake_gitlab.requests] == [
        "GET /api/v4/users → 200",
        "GET /api/v4/users → 200",
        "POST /api/v4/projects/platform%2Fgitops/merge_requests → 201",
    ]
    # A second MR for another object needs no lookups.
    push_branch(fake_gitlab.repo, "breakglass/other")
    fake_gitlab.reset_log()
    await gl.open(spec(branch="breakglass/other"))
    assert len(fake_gitlab.requests) == 1


async def test_unknown_user_is_skipped(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    pr = await gl.open(spec(assignees=("nobody",), reviewers=()))
    assert pr.assignees == () and fake_gitlab.mr(pr.number).assignees == []


async def test_find_by_branch(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    assert await gl.find_by_branch(BRANCH) is None
    first = await gl.open(spec())
    found = await gl.find_by_branch(BRANCH)
    assert found is not None and found.number == first.number and found.state == "open"
    query = fake_gitlab.calls("GET", MRS)[-1].query
    assert query["source_branch"] == BRANCH and query["state"] == "all"

    fake_gitlab.close(first.number, by="carol")
    second = await gl.open(spec())
    found = await gl.find_by_branch(BRANCH)
    assert found is not None and found.number == second.number
    fake_gitlab.merge(second.number, by="dave")
    found = await gl.find_by_branch(BRANCH)
    assert found is not None and found.state == "merged" and found.closed_by == "dave"


async def test_second_open_returns_existing(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    first = await gl.open(spec())
    fake_gitlab.reset_log()
    again = await gl.open(spec())
    assert again.number == first.number and len(fake_gitlab.mrs) == 1
    assert [c.status for c in fake_gitlab.requests] == [409, 200]


async def test_existing_mr_gets_missing_labels(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    first = await gl.open(spec(labels=(), assignees=(), reviewers=()))
    again = await gl.open(spec())
    assert again.number == first.number
    assert fake_gitlab.mr(first.number).labels == ["breakglass", "backfill"]
    assert fake_gitlab.mr(first.number).assignees == ["alice"]


async def test_missing_branch_is_permanent(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    with pytest.raises(errors.PermanentError) as info:
        await gl.open(spec(branch="breakglass/never-pushed", assignees=(), reviewers=()))
    assert "does not exist" in str(info.value)


async def test_update_comment_labels_close(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    pr = await gl.open(spec())
    fake_gitlab.mr(pr.number).labels.append("needs-sre")
    updated = await gl.update(
        pr, spec(title="breakglass: two edits", body="new", labels=("breakglass", "self-healed"))
    )
    assert updated.title == "breakglass: two edits" and updated.body == "new"
    assert fake_gitlab.mr(pr.number).labels == [
        "breakglass",
        "backfill",
        "needs-sre",
        "self-healed",
    ]

    await gl.comment(pr, "A further edit was added.")
    await gl.add_labels(pr, ["reverted"])
    assert fake_gitlab.mr(pr.number).notes[-1].body == "A further edit was added."
    assert "reverted" in fake_gitlab.mr(pr.number).labels

    closed = await gl.close(pr, comment="Reverted by alice; closing.")
    assert closed.state == "closed" and closed.closed_at and closed.closed_by == fake_gitlab.bot
    assert fake_gitlab.mr(pr.number).state == "closed"
    assert fake_gitlab.mr(pr.number).notes[-1].body.endswith("closing.")


async def test_refresh_merged_and_closed(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    pr = await gl.open(spec())
    assert (await gl.refresh(pr)).state == "open"
    fake_gitlab.merge(pr.number, by="carol")
    merged = await gl.refresh(pr)
    assert merged.state == "merged" and merged.merged_at and merged.closed_by == "carol"
    assert fake_gitlab.repo.read("main", "apps/checkout/deployment.yaml") == "replicas: 6\n"

    push_branch(fake_gitlab.repo, "breakglass/two")
    other = await gl.open(spec(branch="breakglass/two"))
    fake_gitlab.close(other.number, by="dave")
    closed = await gl.refresh(other)
    assert closed.state == "closed" and closed.merged_at is None and closed.closed_by == "dave"


async def test_open_issue(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    url = await gl.open_issue(
        title="cannot express", body="delta", labels=["breakglass"], assignees=["alice"]
    )
    assert url.endswith("/platform/gitops/-/issues/1")
    issue = fake_gitlab.issues[1]
    assert (issue.labels, issue.assignees) == (["breakglass"], ["alice"])


async def test_close_issue_comments_and_closes(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    url = await gl.open_issue(title="drift", body="why", labels=[], assignees=[])
    await gl.close_issue(url, comment="resolved")
    issue = fake_gitlab.issues[1]
    assert issue.state == "closed" and [n.body for n in issue.notes] == ["resolved"]
    with pytest.raises(errors.PermanentError, match="not an issue URL"):
        await gl.close_issue(url.replace("/-/issues/", "/-/merge_requests/"), comment="x")


async def test_numeric_project_id(fake_gitlab: FakeGitLab) -> None:
    push_branch(fake_gitlab.repo, BRANCH)
    gl = GitLabProvider(
        fake_gitlab.project_id, token=GL_TOKEN, base_url=fake_gitlab.base_url, policy=FAST
    )
    pr = await gl.open(spec(assignees=(), reviewers=()))
    assert pr.number == 1 and fake_gitlab.calls("POST", "/projects/42/merge_requests")


# ------------------------------------------------------------------- failures


async def test_retry_after_window_is_honoured(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    fake_gitlab.rate_limit(MRS, method="POST", retry_after=1)
    await gl.open(spec(assignees=(), reviewers=()))
    limited, ok = fake_gitlab.calls("POST", MRS)
    assert (limited.status, ok.status) == (429, 201)
    assert ok.time - limited.time >= 1.0


async def test_ratelimit_reset_is_honoured(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    fake_gitlab.rate_limit(MRS, method="GET", retry_after=None, reset_in=1)
    assert await gl.find_by_branch(BRANCH) is None
    limited, ok = fake_gitlab.calls("GET", MRS)
    assert limited.status == 429 and int(ok.time) >= int(limited.time) + 1


async def test_5xx_retried_then_succeeds(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    fake_gitlab.server_error(MRS, method="GET", status=500, times=2)
    assert await gl.find_by_branch(BRANCH) is None
    assert [c.status for c in fake_gitlab.calls("GET", MRS)] == [500, 500, 200]


async def test_5xx_gives_up_after_policy(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    fake_gitlab.server_error(MRS, method="GET", status=503, times=10)
    with pytest.raises(errors.TemporaryError):
        await gl.find_by_branch(BRANCH)
    assert len(fake_gitlab.calls("GET", MRS)) == FAST.attempts


@pytest.mark.parametrize("status", [403, 404])
async def test_permission_errors_are_permanent(
    gl: GitLabProvider, fake_gitlab: FakeGitLab, status: int
) -> None:
    if status == 403:
        fake_gitlab.forbid(MRS, method="POST")
    else:
        fake_gitlab.inject(
            MRS, method="POST", status=404, body={"message": "404 Project Not Found"}
        )
    with pytest.raises(errors.PermanentError) as info:
        await gl.open(spec(assignees=(), reviewers=()))
    assert len(fake_gitlab.calls("POST", MRS)) == 1
    assert info.value.hint


async def test_unknown_project_is_permanent(fake_gitlab: FakeGitLab) -> None:
    gl = GitLabProvider(
        "platform/missing", token=GL_TOKEN, base_url=fake_gitlab.base_url, policy=FAST
    )
    with pytest.raises(errors.PermanentError) as info:
        await gl.find_by_branch(BRANCH)
    assert "404" in str(info.value)
    assert len(fake_gitlab.requests) == 1


async def test_timeout_is_temporary(gl: GitLabProvider, fake_gitlab: FakeGitLab) -> None:
    slow = provider(fake_gitlab, timeout=0.5, policy=retry.RetryPolicy(attempts=1))
    fake_gitlab.slow(MRS, 1.0, method="GET")
    with pytest.raises(errors.TemporaryError):
        await slow.find_by_branch(BRANCH)


async def test_token_never_leaks(fake_gitlab: FakeGitLab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake_gitlab.inject(MRS, status=502, body={"message": f"proxy saw {GL_TOKEN}"})
    fake_gitlab.inject(MRS, status=403, body={"message": f"403 Forbidden for {GL_TOKEN}"})
    gl = provider(fake_gitlab)
    with structlog.testing.capture_logs() as logs, pytest.raises(errors.PermanentError) as info:
        await gl.find_by_branch(BRANCH)
    assert [entry["event"] for entry in logs] == ["forge.retry"]
    bad = GitLabProvider(
        "platform/gitops", token="glpat-WRONG999", base_url=fake_gitlab.base_url, policy=FAST
    )
    with pytest.raises(errors.PermanentError) as wrong:
        await bad.find_by_branch(BRANCH)
    assert "401" in str(wrong.value)
    for text in (str(info.value), repr(logs), caplog.text, str(wrong.value)):
        assert GL_TOKEN not in text and "glpat-WRONG999" not in text
    assert "***" in str(info.value)

"""Fixtures for the forge providers: fake GitHub/GitLab servers on the test loop, fast retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from breakglass.forge import PullRequestSpec, retry
from tests.fakes.github import FakeGitHub

if TYPE_CHECKING:
    from tests.fakes.gitlab import FakeGitLab

GH_TOKEN = "ghp_SECRETtokenVALUE0123456789abcdef"
GL_TOKEN = "glpat-SECRETtokenVALUE0123456789"

# Small waits so the suite stays fast; Retry-After floors still apply in full.
FAST = retry.RetryPolicy(attempts=4, base=0.01, cap=0.05, deadline=10.0)


@pytest.fixture
async def fake_github(tmp_path: Path) -> AsyncIterator[FakeGitHub]:
    fake = FakeGitHub(tmp_path / "github", repo="acme/gitops", token=GH_TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_gitlab(tmp_path: Path) -> AsyncIterator[FakeGitLab]:
    from tests.fakes.gitlab import FakeGitLab

    fake = FakeGitLab(tmp_path / "gitlab", project="platform/gitops", token=GL_TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


def spec(
    branch: str = "breakglass/prod-eu-1/payments/deployment/checkout", **kw: object
) -> PullRequestSpec:
    values: dict[str, object] = {
        "branch": branch,
        "base": "main",
        "title": "breakglass: kubectl scale of deployment payments/checkout by alice (2 → 6 replicas)",
        "body": "### Manual change in prod-eu-1 needs to reach Git\n\n```diff\n-  replicas: 2\n+  replicas: 6\n```\n",
        "labels": ("breakglass", "backfill"),
        "assignees": ("alice",),
        "reviewers": ("bob",),
    }
    values.update(kw)
    return PullRequestSpec(**values)  # type: ignore[arg-type]


def push_branch(repo: object, branch: str, content: str = "replicas: 6\n") -> str:
    """Stand-in for the worker's ``git push``: a commit on ``branch`` in the fake's bare repo."""
    from tests.fakes.gitrepo import BareRepo

    assert isinstance(repo, BareRepo)
    return repo.commit_files(
        branch, {"apps/checkout/deployment.yaml": content}, "backfill", create=True
    )

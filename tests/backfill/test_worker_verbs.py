"""What the worker does with each kind of kubectl change: the defects real use found, pinned.

Each test drives a capture as the webhook records it through a worker pass against a real
bare Git remote and reads the result as a reviewer would: the branch's diff, the pull request
record (title, body, assignees, comments) or the "needs a human" issue.
"""

from __future__ import annotations

from typing import Any

from breakglass import model
from tests import payloads as p
from tests.backfill.conftest import edit_review, git

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

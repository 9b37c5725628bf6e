"""Drift numbers from captures: open by state, resolved by outcome, durations, coverage, and the
Prometheus families the worker exports from them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from breakglass import driftstats, model
from breakglass.metrics import Metrics

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def capture(
    status: model.Status,
    *,
    minutes_ago: float = 60,
    source: model.Source = model.Source.ADMISSION,
    user: str = "alice",
    reason: str | None = None,
    pr_url: str | None = None,
    opened_after: float | None = None,
    resolved_after: float | None = None,
    since_days: float | None = None,
    namespace: str = "shop",
) -> model.Capture:
    received = NOW - timedelta(minutes=minutes_ago)
    return model.Capture(
        id=model.new_capture_id(received.timestamp()),
        cluster="prod",
        source=source,
        status=status,
        operation=model.Operation.UPDATE,
        object=model.ObjectRef("apps", "v1", "deployments", "Deployment", namespace, "checkout"),
        actor=model.Actor(username=user),
        delta=model.Delta(),
        received_at=received,
        reason=reason,
        pr_url=pr_url,
        pr_opened_at=received + timedelta(minutes=opened_after)
        if opened_after is not None
        else None,
        resolved_at=(
            received + timedelta(minutes=resolved_after) if resolved_after is not None else None
        ),
        since=NOW - timedelta(days=since_days) if since_days is not None else None,
    )


PR = "https://github.com/example-org/gitops/pull/7"


def test_open_drift_by_state_and_the_oldest_age() -> None:
    found = driftstats.compute(
        [
            capture(model.Status.PR_OPEN, pr_url=PR, opened_after=2, minutes_ago=30),
            capture(
                model.Status.FAILED,
                reason="cannot be expressed: shared base",
                minutes_ago=90,
                pr_url="https://github.com/example-org/gitops/issues/8",
            ),
            capture(model.Status.FAILED, reason="forge refused", minutes_ago=10),
            capture(model.Status.UNMANAGED, namespace="tools", minutes_ago=5),
            capture(model.Status.PROVISIONAL, minutes_ago=1),
            capture(model.Status.DISCARDED, minutes_ago=500),
        ],
        now=NOW,
    )
    assert found.open == {
        ("shop", "Deployment", "https://github.com/example-org/gitops", "pr_open"): 1,
        ("shop", "Deployment", "https://github.com/example-org/gitops", "needs_human"): 1,
        ("shop", "Deployment", "none", "failed"): 1,
        ("tools", "Deployment", "none", "unmanaged"): 1,
        ("shop", "Deployment", "none", "pending"): 1,
    }
    assert found.oldest_open_seconds == 90 * 60
    assert found.time_to_pr == [120.0]
    assert found.changes == {"admission": 5}


def test_resolved_drift_by_outcome_with_times_to_merge_and_resolution() -> None:
    found = driftstats.compute(
        [
            capture(model.Status.MERGED, opened_after=1, resolved_after=60),
            capture(model.Status.CLOSED, reason="pull request closed", resolved_after=30),
            capture(
                model.Status.CLOSED,
                reason="withdrawn: alice reverted the change by hand",
                resolved_after=5,
            ),
            capture(
                model.Status.CLOSED,
                resolved_after=45,
                reason="pull request closed; production is back at Git's value",
            ),
            capture(
                model.Status.SUPERSEDED,
                reason="nothing to change: Git already has it",
                resolved_after=3,
            ),
            capture(model.Status.IGNORED, reason="rollout-restart is an operation"),
        ],
        now=NOW,
    )
    assert found.resolved == {
        "merged": 1,
        "closed": 1,
        "withdrawn": 1,
        "reverted": 1,
        "superseded": 1,
    }
    assert found.time_to_merge == [3600.0]
    assert sorted(found.time_to_resolution) == [180.0, 300.0, 1800.0, 2700.0, 3600.0]
    assert found.backfilled_share() == 0.2
    assert found.open == {}


def test_scan_drift_counts_from_its_since_and_lowers_the_coverage() -> None:
    found = driftstats.compute(
        [
            capture(
                model.Status.PR_OPEN,
                source=model.Source.SCAN,
                user=model.UNKNOWN_USER,
                since_days=90,
                minutes_ago=1,
                opened_after=0.5,
            ),
            capture(model.Status.PR_OPEN, source=model.Source.AUDIT),
            capture(model.Status.PR_OPEN),
            capture(model.Status.PR_OPEN),
        ],
        now=NOW,
    )
    assert found.oldest_open_seconds == 90 * 86400
    assert found.coverage() == 0.75
    assert found.attributed == {"admission": 2, "audit": 1}
    assert max(found.time_to_detection) >= 90 * 86400 - 120


def test_the_worker_exports_the_numbers_with_bounded_labels() -> None:
    metrics = Metrics()
    metrics.export_drift()
    assert b"breakglass_drift_open" not in metrics.render()  # nothing before the first snapshot
    metrics.drift.stats = driftstats.compute(
        [
            capture(model.Status.PR_OPEN, pr_url=PR, opened_after=2),
            capture(model.Status.MERGED, opened_after=1, resolved_after=60),
        ],
        now=NOW,
    )
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    opened = families["breakglass_drift_open"].samples
    assert [(s.labels, s.value) for s in opened] == [
        (
            {
                "namespace": "shop",
                "kind": "Deployment",
                "repository": "https://github.com/example-org/gitops",
                "state": "pr_open",
            },
            1.0,
        )
    ]
    resolved = {
        s.labels["outcome"]: s.value
        for s in families["breakglass_drift_resolved"].samples
        if s.name.endswith("_total")
    }
    assert resolved["merged"] == 1.0 and resolved["withdrawn"] == 0.0
    merge = families["breakglass_drift_time_to_merge_seconds"].samples
    assert any(s.name.endswith("_count") and s.value == 1.0 for s in merge)
    assert families["breakglass_webhook_coverage_ratio"].samples[0].value == 1.0
    for family in families.values():
        for sample in family.samples:
            assert (
                "checkout" not in sample.labels.values() and "alice" not in sample.labels.values()
            )


def test_repository_of_pull_requests_and_issues_on_each_forge() -> None:
    assert driftstats.repository(PR) == "https://github.com/example-org/gitops"
    assert driftstats.repository("https://gitlab.example/g/p/-/merge_requests/3") == (
        "https://gitlab.example/g/p"
    )
    assert driftstats.repository("/srv/git/gitops.git#pull/2") == "/srv/git/gitops"
    assert driftstats.repository(None) == "none"
    assert replace(capture(model.Status.PR_OPEN), pr_url=PR).pr_url == PR

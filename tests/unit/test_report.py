"""``breakglass report``: the period's numbers from captures, and how each format shows them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from breakglass import model, settings
from breakglass.report import build, write

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CONF = settings.from_mapping(
    {
        "cluster": "prod-eu-1",
        "users": {"alice": {"email": "a@example.com", "github": "alice-doe"}},
        "scan": {"owners": [{"namespaces": ["shop"], "users": ["carol"]}]},
    },
    source="test",
    base=Path("/tmp"),
)


def capture(
    status: model.Status,
    *,
    days_ago: float,
    user: str = "alice",
    name: str = "checkout",
    source: model.Source = model.Source.ADMISSION,
    reason: str | None = None,
    pr: str | None = None,
    namespace: str = "shop",
    labels: dict[str, str] | None = None,
) -> model.Capture:
    received = NOW - timedelta(days=days_ago)
    return model.Capture(
        id=model.new_capture_id(received.timestamp()),
        cluster="prod-eu-1",
        source=source,
        status=status,
        operation=model.Operation.UPDATE,
        object=model.ObjectRef("apps", "v1", "deployments", "Deployment", namespace, name),
        actor=model.Actor(username=user),
        delta=model.Delta(),
        received_at=received,
        reason=reason,
        pr_url=pr,
        pr_opened_at=received + timedelta(minutes=2) if pr else None,
        resolved_at=received + timedelta(hours=5) if status is model.Status.MERGED else None,
        labels=labels or {},
    )


CAPTURES = [
    capture(
        model.Status.MERGED,
        days_ago=6,
        pr="https://github.com/o/g/pull/1",
        labels={"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/checkout"},
    ),
    capture(model.Status.PR_OPEN, days_ago=3, name="cart", pr="https://github.com/o/g/pull/2"),
    capture(
        model.Status.PR_OPEN,
        days_ago=1,
        name="web",
        user=model.UNKNOWN_USER,
        source=model.Source.SCAN,
        pr="https://github.com/o/g/pull/3",
    ),
    capture(
        model.Status.FAILED,
        days_ago=2,
        name="<b>api</b>",
        user="bob",
        reason="cannot be expressed: several manifests own it",
        pr="https://github.com/o/g/issues/4",
    ),
    capture(
        model.Status.CLOSED,
        days_ago=2,
        name="db",
        user="bob",
        reason="pull request closed; production is back at Git's value",
    ),
    capture(model.Status.PR_OPEN, days_ago=40, name="old", pr="https://github.com/o/g/pull/0"),
    capture(model.Status.DISCARDED, days_ago=1, name="never"),
]


def report() -> build.PeriodReport:
    return build.build(CAPTURES, settings=CONF, now=NOW, since=timedelta(days=7))


def test_the_period_counts_changes_in_it_and_the_debt_whatever_its_age() -> None:
    found = report()
    assert found.objects_drifted == 5
    assert found.stats.total_changes == 5
    assert found.stats.resolved == {"merged": 1, "reverted": 1}
    assert found.stats.backfilled_share() == 0.5
    assert [i.object for i in found.debt] == [
        "Deployment/shop/old",
        "Deployment/shop/cart",
        "Deployment/shop/web",
    ]
    web = found.debt[-1]
    assert web.people == (model.UNKNOWN_USER,) and web.assignees == ("carol",)
    assert found.debt[1].assignees == ("alice-doe",)
    assert [i.object for i in found.needs_human] == ["Deployment/shop/<b>api</b>"]
    assert [i.object for i in found.reverted] == ["Deployment/shop/db"]
    assert found.people == [("alice", 2), ("bob", 2)]
    assert found.applications == [("Argo CD shop", 1)]
    assert len(found.by_day) == 8 and sum(sum(c.values()) for _, c in found.by_day) == 5
    assert found.durations()["merge"]["median"] == 5 * 3600


def test_markdown_answers_the_questions_and_escapes_names() -> None:
    text = write.markdown(report())
    assert "| Resources drifted | 5 (5 manual changes: 4 admission, 0 audit, 1 scan) |" in text
    assert "| Backfilled (merged of resolved) | 50% |" in text
    assert "| Captured by the webhooks (not found only by a scan) | 80% |" in text
    assert "<b>api</b>" not in text
    assert text.index("Deployment/shop/old") < text.index("Deployment/shop/cart")


def test_json_and_html_carry_the_same_numbers_and_html_is_self_contained() -> None:
    data = write.to_json(report())
    assert data["resources_drifted"] == 5 and data["resolved"] == {"merged": 1, "reverted": 1}
    assert data["drift_debt"][0]["object"] == "Deployment/shop/old"
    json.dumps(data)
    page = write.html_page(report())
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://github.com/o/g/pull/0" in page  # links are text, never fetched
    assert "&lt;b&gt;api&lt;/b&gt;" in page and "<b>api</b>" not in page
    for ident in ("summary", "chart-days", "chart-outcomes", "chart-namespaces", "debt"):
        assert f'id="{ident}"' in page


def test_the_command_writes_each_format(tmp_path: Path) -> None:
    conf = tmp_path / "breakglass.yaml"
    conf.write_text(f"state_dir: {tmp_path / 'state'}\n")
    for fmt in ("markdown", "json", "html"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "breakglass",
                "report",
                "--config",
                str(conf),
                "--output",
                fmt,
                "--since",
                "24h",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
    assert not (tmp_path / "state").exists()  # a read creates no journal
    bad = subprocess.run(
        [sys.executable, "-m", "breakglass", "report", "--config", str(conf), "--since", "a week"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "hint:" in bad.stderr


def drill_capture(
    outcome: str, *, days_ago: float, app: str, measured: float | None
) -> model.Capture:
    base = capture(model.Status.IGNORED, days_ago=days_ago, source=model.Source.DRILL)
    record = model.DrillRecord(
        "drill-1", app, "enforcing", "label", 60.0, 120.0, outcome, measured, True
    )
    return model.Capture(**{**vars(base), "classification": model.DRILL, "drill": record})


def test_drills_in_the_period_are_a_table_per_application_and_change_no_drift_number() -> None:
    drills = [
        drill_capture("reverted", days_ago=1, app="flux:flux-system/shop", measured=40),
        drill_capture("reverted", days_ago=1, app="flux:flux-system/shop", measured=50),
        drill_capture("survived", days_ago=2, app="argocd:argocd/web", measured=None),
        drill_capture("survived", days_ago=9, app="argocd:argocd/old", measured=None),
        drill_capture("running", days_ago=0, app="argocd:argocd/now", measured=None),
    ]
    plain = build.build(CAPTURES, settings=CONF, now=NOW, since=timedelta(days=7))
    with_drills = build.build(CAPTURES + drills, settings=CONF, now=NOW, since=timedelta(days=7))
    assert write.to_json(with_drills)["manual_changes"] == write.to_json(plain)["manual_changes"]
    rows = {d["application"]: d for d in write.to_json(with_drills)["drills"]}
    assert set(rows) == {"flux:flux-system/shop", "argocd:argocd/web"}  # period, finished
    assert rows["flux:flux-system/shop"]["median_seconds"] == 45
    assert rows["argocd:argocd/web"]["verdict_of_drill"] == "GitOps incomplete"
    text = write.markdown(with_drills)
    assert (
        "### GitOps drills" in text
        and "| argocd:argocd/web | enforcing | 60 s | - | 0 | 1 | GitOps incomplete |" in text
    )
    assert 'id="drills"' in write.html_page(with_drills)


def test_sessions_in_the_period_with_their_changes_and_pull_requests() -> None:
    opened = NOW - timedelta(days=1)
    session = model.Session(
        name="alice-inc-4242",
        owner="alice",
        reason="INC-4242 checkout 502s",
        opened_at=opened,
        expires_at=opened + timedelta(minutes=30),
        members=("bob",),
    )
    old = model.Session(
        name="old", owner="bob", reason="x", opened_at=NOW - timedelta(days=30),
        expires_at=NOW - timedelta(days=29),
    )  # fmt: skip
    in_it = [
        model.Capture(**{**vars(c), "session": "alice-inc-4242"})
        for c in (
            capture(model.Status.PR_OPEN, days_ago=1, name="a", pr="https://github.com/o/g/pull/7"),
            capture(model.Status.PR_OPEN, days_ago=1, name="b", pr="https://github.com/o/g/pull/7"),
        )
    ]
    report = build.build(
        CAPTURES + in_it, settings=CONF, now=NOW, since=timedelta(days=7), sessions=[old, session]
    )
    [row] = write.to_json(report)["sessions"]
    assert row["name"] == "alice-inc-4242" and row["changes"] == 2
    assert row["pull_requests"] == ["https://github.com/o/g/pull/7"] and row["members"] == ["bob"]
    text = write.markdown(report)
    assert "### Break-glass sessions" in text and "INC-4242 checkout 502s" in text
    assert "alice (with bob)" in text

"""``posture``'s verdicts for a mix of Argo CD and Flux objects, against hand-written
expectations, and what the journal adds per application."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from breakglass import model
from breakglass.posture import classify, output
from breakglass.posture.run import judge

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def app(name: str, policy: dict | None = None, **spec: object) -> dict:
    return {
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": spec.pop("project", "default"),
            "destination": {"namespace": name},
            **({"syncPolicy": policy} if policy is not None else {}),
            **spec,
        },
    }


def ks(name: str, **spec: object) -> dict:
    return {
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "path": f"./apps/{name}",
            **spec,
        },
    }


def hr(name: str, **spec: object) -> dict:
    return {"metadata": {"name": name, "namespace": "apps"}, "spec": {"interval": "5m", **spec}}


def workload(namespace: str, name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}}


OBJECTS = {
    "applications": [
        app(
            "shop",
            {"automated": {"selfHeal": True, "prune": True}},
            ignoreDifferences=[
                {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
            ],
        ),
        app("billing", {"automated": {"prune": True}}),
        app("reports"),
        app("batch", {"automated": {"selfHeal": True}}, project="night"),
    ],
    "appprojects": [
        {
            "metadata": {"name": "night"},
            "spec": {
                "syncWindows": [
                    {
                        "kind": "deny",
                        "schedule": "0 22 * * *",
                        "duration": "8h",
                        "applications": ["batch*"],
                    }
                ]
            },
        },
    ],
    "applicationsets": [
        {
            "metadata": {"name": "tenants", "namespace": "argocd"},
            "spec": {"template": {"spec": {"syncPolicy": {"automated": {}}}}},
        },
    ],
    "kustomizations": [ks("payments"), ks("legacy", suspend=True, interval="1h")],
    "helmreleases": [
        hr("redis", driftDetection={"mode": "enabled"}),
        hr("kafka", driftDetection={"mode": "warn"}),
        hr("grafana"),
    ],
    "gitrepositories": [
        {"metadata": {"name": "fleet", "namespace": "flux-system"}, "spec": {"interval": "30m"}}
    ],
    "deployments": [
        workload("shop", "checkout", **{"app.kubernetes.io/instance": "shop"}),
        workload(
            "payments",
            "api",
            **{
                "kustomize.toolkit.fluxcd.io/name": "payments",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            },
        ),
        workload("legacy-tools", "cron-runner"),
        workload("kube-system", "coredns"),
    ],
    "statefulsets": [workload("legacy-tools", "db")],
}


def capture(
    status: model.Status, labels: dict[str, str], days_ago: float = 1, reason: str | None = None
) -> model.Capture:
    received = NOW - timedelta(days=days_ago)
    return model.Capture(
        id=model.new_capture_id(received.timestamp()),
        cluster="c",
        source=model.Source.ADMISSION,
        status=status,
        operation=model.Operation.UPDATE,
        object=model.ObjectRef("apps", "v1", "deployments", "Deployment", "shop", "checkout"),
        actor=model.Actor(username="alice"),
        delta=model.Delta(),
        received_at=received,
        reason=reason,
        labels=labels,
    )


ARGO_SHOP = {"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/checkout"}
FLUX_PAYMENTS = {"kustomize.toolkit.fluxcd.io/name": "payments"}


def test_verdicts_for_a_mix_of_argo_cd_and_flux_match_hand_written_expectations() -> None:
    report = judge(
        OBJECTS,
        [
            capture(model.Status.MERGED, ARGO_SHOP),
            capture(
                model.Status.CLOSED,
                ARGO_SHOP,
                reason="pull request closed; production is back at Git's value",
            ),
            capture(model.Status.PR_OPEN, FLUX_PAYMENTS),
            capture(model.Status.MERGED, FLUX_PAYMENTS, days_ago=30),  # outside the period
        ],
        now=NOW,
        since=timedelta(days=7),
    )
    data = output.to_json(report)
    got = {
        (a["tool"], a["kind"], a["name"]): (a["verdict"], a["expected_revert_seconds"])
        for a in data["applications"]
    }
    assert got == {
        ("argocd", "Application", "shop"): ("enforcing", 5.0),
        ("argocd", "Application", "batch"): ("enforcing", 5.0),
        ("argocd", "Application", "billing"): ("notifying", None),
        ("argocd", "Application", "reports"): ("notifying", None),
        ("flux", "Kustomization", "payments"): ("enforcing", 600.0),
        ("flux", "Kustomization", "legacy"): ("suspended", None),
        ("flux", "HelmRelease", "redis"): ("enforcing", 300.0),
        ("flux", "HelmRelease", "kafka"): ("notifying", None),
        ("flux", "HelmRelease", "grafana"): ("triggered only", None),
    }
    # worst first
    assert [a["verdict"] for a in data["applications"]][:2] == ["suspended", "triggered only"]
    by_name = {a["name"]: a for a in data["applications"]}
    assert any("/spec/replicas" in c for c in by_name["shop"]["caveats"])
    assert any("0 22 * * * for 8h" in c for c in by_name["batch"]["caveats"])
    assert any("fetched less often" in c for c in by_name["payments"]["caveats"])
    assert by_name["shop"]["manual_changes"] == {
        "changes": 2,
        "reverted": 1,
        "in_git": 1,
        "open": 0,
    }
    assert by_name["payments"]["manual_changes"] == {
        "changes": 1,
        "reverted": 0,
        "in_git": 0,
        "open": 1,
    }
    assert data["unmanaged_namespaces"] == {"legacy-tools": 2}
    assert data["application_sets"][0]["template_verdict"] == "notifying"
    assert data["verdicts"] == {"enforcing": 4, "notifying": 3, "suspended": 1, "triggered only": 1}


def test_fail_on_picks_the_verdict_and_everything_worse() -> None:
    report = judge(OBJECTS, [], now=NOW, since=timedelta(days=7))
    names = lambda v: sorted(p.name for p in classify.fails(report.postures, v))  # noqa: E731
    assert names(classify.Verdict.TRIGGERED) == ["grafana", "legacy"]
    assert names(classify.Verdict.NOTIFYING) == ["billing", "grafana", "kafka", "legacy", "reports"]
    assert names(None) == []


def test_durations_are_go_durations() -> None:
    assert classify.duration("1h30m") == 5400 and classify.duration("90s") == 90
    assert classify.duration("10x") is None and classify.duration("") is None


def test_the_table_and_markdown_name_every_application_and_the_unmanaged_namespaces() -> None:
    report = judge(OBJECTS, [], now=NOW, since=timedelta(days=7))
    text = output.table(report)
    assert text.startswith("9 applications: 4 enforcing, 3 notifying, 1 suspended, 1 triggered")
    assert re.search(r"flux HelmRelease apps/grafana +triggered only", text)
    assert "unmanaged: legacy-tools (2 workloads)" in text
    assert "| Application | Verdict |" in output.markdown(report)

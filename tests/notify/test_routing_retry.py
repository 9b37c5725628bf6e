"""Pure decisions: which destinations take a notification, and when to try again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from breakglass import model, settings
from breakglass.auditlog import EventType
from breakglass.notify import events, retry, routing
from tests.notify.conftest import NOW, capture, session


def entry(**changes):
    values = {"name": "d", "kind": "slack", "url_env": "URL"}
    values.update(changes)
    return settings.NotificationDestination(**values)


def opened(**kw):
    n = events.from_capture(capture(**kw), EventType.PR_OPENED, now=NOW, id="1")
    assert n is not None
    return n


def test_defaults_take_everything():
    d = entry()
    assert routing.wants(d, opened())
    assert routing.wants(d, opened(namespace="", labels={}))  # cluster-wide, no application
    assert routing.wants(
        d, events.session_opened(session(namespaces=()), cluster="c", now=NOW, id="s")
    )


def test_by_event():
    d = entry(events=["needs_human", "reverted"])
    assert not routing.wants(d, opened())
    failed = capture(status=model.Status.FAILED, reason="cannot be expressed: x")
    n = events.from_capture(failed, EventType.FAILED, now=NOW, id="2")
    assert n is not None and routing.wants(d, n)


def test_by_namespace_glob():
    d = entry(namespaces=["payments-*", "shop"])
    assert routing.wants(d, opened(namespace="payments-eu"))
    assert routing.wants(d, opened(namespace="shop"))
    assert not routing.wants(d, opened(namespace="payments"))
    assert not routing.wants(d, opened(namespace=""))  # cluster-wide: only '*' takes it
    assert routing.wants(
        d, events.session_opened(session(namespaces=("shop",)), cluster="c", now=NOW, id="s")
    )


@pytest.mark.parametrize(
    ("globs", "labels", "taken"),
    [
        (["checkout"], {"argocd.argoproj.io/tracking-id": "checkout:apps/Deployment:p/c"}, True),
        (
            ["Argo CD check*"],
            {"argocd.argoproj.io/tracking-id": "checkout:apps/Deployment:p/c"},
            True,
        ),
        (["Flux *"], {"argocd.argoproj.io/tracking-id": "checkout:apps/Deployment:p/c"}, False),
        (["apps"], {"kustomize.toolkit.fluxcd.io/name": "apps"}, True),
        (["web"], {"helm.toolkit.fluxcd.io/name": "web"}, True),
        (["Flux HelmRelease *"], {"helm.toolkit.fluxcd.io/name": "web"}, True),
        (["checkout"], {}, False),
        (["*"], {}, True),
    ],
)
def test_by_application(globs, labels, taken):
    assert routing.wants(entry(applications=globs), opened(labels=labels)) is taken


def test_route_keeps_the_configured_order():
    a, b, c = entry(name="a"), entry(name="b", events=["pr_merged"]), entry(name="c")
    assert [d.name for d in routing.route(opened(), [a, b, c])] == ["a", "c"]


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (None, retry.Verdict.RETRY),
        (200, retry.Verdict.DELIVERED),
        (202, retry.Verdict.DELIVERED),
        (204, retry.Verdict.DELIVERED),
        (408, retry.Verdict.RETRY),
        (429, retry.Verdict.RETRY),
        (500, retry.Verdict.RETRY),
        (503, retry.Verdict.RETRY),
        (301, retry.Verdict.REFUSED),
        (400, retry.Verdict.REFUSED),
        (403, retry.Verdict.REFUSED),
        (404, retry.Verdict.REFUSED),
        (410, retry.Verdict.REFUSED),
    ],
)
def test_verdicts(status, verdict):
    assert retry.verdict(status) is verdict


def test_retry_after_seconds_or_date():
    assert retry.retry_after("7", NOW) == 7.0
    later = NOW + timedelta(seconds=30)
    assert retry.retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT"), NOW) == 30.0
    assert retry.retry_after("soon", NOW) is None
    assert retry.retry_after(None, NOW) is None


def test_full_jitter_grows_to_its_cap():
    limits = retry.Limits(max_attempts=20, give_up_seconds=10_000, base=1.0, cap=60.0)
    assert [retry.backoff(n, limits, lambda: 1.0) for n in (1, 2, 3, 4, 7, 8)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        60.0,
        60.0,
    ]
    assert retry.backoff(5, limits, lambda: 0.25) == 4.0


def test_next_wait_honours_retry_after_and_gives_up():
    limits = retry.Limits(max_attempts=3, give_up_seconds=60, base=1.0)
    assert retry.next_wait(1, elapsed=0, asked=None, limits=limits, random=lambda: 0.5) == 0.5
    assert retry.next_wait(1, elapsed=0, asked=12, limits=limits, random=lambda: 0.5) == 12
    assert retry.next_wait(3, elapsed=0, asked=None, limits=limits, random=lambda: 0.5) is None
    # a wait past the time limit is not waited: given up now
    assert retry.next_wait(1, elapsed=50, asked=20, limits=limits, random=lambda: 0.0) is None


def _terraform(outcome: str, namespace: str | None = None) -> events.Notification | None:
    drift = model.TerraformDrift(
        root="prod", address="aws_instance.web", attributes=("instance_type",), fingerprint="f",
        outcome=outcome, first_seen=NOW, last_seen=NOW, url="https://forge/pr/7",
        reason="set through local.size (main.tf:3)", author=None,
    )  # fmt: skip
    return events.terraform(drift, namespace=namespace, cluster="c", now=NOW, id="t")


def test_terraform_drift_is_a_pull_request_or_needs_a_human_of_its_root():
    opened_pr = _terraform("pull_request")
    assert opened_pr is not None and opened_pr.kind is events.Kind.PR_OPENED
    assert opened_pr.application == "OpenTofu prod" and opened_pr.reason is None
    assert opened_pr.subject == "aws_instance.web (root prod)"
    asked = _terraform("needs_human")
    assert asked is not None and asked.kind is events.Kind.NEEDS_HUMAN
    assert asked.reason == "set through local.size (main.tf:3)"
    assert _terraform("in_code") is None and _terraform("found") is None
    assert routing.wants(entry(applications=["prod"]), opened_pr)
    assert routing.wants(entry(applications=["OpenTofu prod*"]), opened_pr)
    assert not routing.wants(entry(applications=["checkout"]), opened_pr)
    # a cloud resource has no namespace: only "*" takes it; a Kubernetes object's does
    assert not routing.wants(entry(namespaces=["shop"]), opened_pr)
    in_shop = _terraform("pull_request", namespace="shop")
    assert in_shop is not None and routing.wants(entry(namespaces=["shop"]), in_shop)

"""Audit events: confirmations, audit-only captures, and what is skipped."""

from __future__ import annotations

import pytest

from breakglass import model
from breakglass.capture import audit
from breakglass.capture.admission import Skip
from breakglass.capture.fields import Unusable
from tests import payloads as p


def test_event_with_capture_annotation_confirms_it(policy, now):
    event = p.audit_event(
        verb="patch",
        resource="deployments",
        group="apps",
        name="checkout",
        request_object={"spec": {"replicas": 6}},
        capture_id="01JCAPTURE",
    )
    decision = audit.decide(event, policy=policy, now=now)
    assert isinstance(decision, audit.Confirmation)
    assert decision.capture_id == "01JCAPTURE"
    assert decision.audit_id == event["auditID"]
    assert decision.patch == {"spec": {"replicas": 6}}
    assert decision.patch_type == "merge"
    assert decision.actor.user_agent.startswith("kubectl/")
    assert decision.actor.source_ips == ("10.0.3.7",)
    assert decision.actor.field_manager == "kubectl-edit"


def test_patch_without_admission_becomes_an_audit_only_capture(policy, now):
    live = p.deployment(replicas=6)
    event = p.audit_event(
        verb="patch",
        resource="deployments",
        group="apps",
        name="checkout",
        request_object=[{"op": "replace", "path": "/spec/replicas", "value": 6}],
        response_object=live,
        query="fieldManager=kubectl-patch",
    )
    decision = audit.decide(event, policy=policy, now=now)
    assert isinstance(decision, audit.AuditCapture)
    c = decision.capture
    assert c.source is model.Source.AUDIT
    assert c.status is model.Status.CONFIRMED
    assert c.object.kind == "Deployment"
    assert c.delta.patch == [{"op": "replace", "path": "/spec/replicas", "value": 6}]
    assert c.delta.patch_type == "json"
    assert "status" not in c.delta.after and "managedFields" not in c.delta.after["metadata"]
    assert c.actor.field_manager == "kubectl-patch"
    assert c.audit_id == event["auditID"]


def test_impersonation_is_recorded_with_the_impersonator(policy, now):
    event = p.audit_event(
        verb="update",
        resource="configmaps",
        name="checkout-config",
        user={"username": "alice", "groups": ["oncall"]},
        impersonated={"username": "bob", "groups": ["oncall"]},
        response_object=p.configmap(),
    )
    decision = audit.decide(event, policy=policy, now=now)
    assert isinstance(decision, audit.AuditCapture)
    assert decision.capture.actor.username == "bob"
    assert decision.capture.actor.impersonator == "alice"


def test_scale_subresource_audit_only(policy, now):
    event = p.audit_event(
        verb="patch",
        resource="deployments",
        group="apps",
        name="checkout",
        subresource="scale",
        request_object={"spec": {"replicas": 4}},
        response_object={"kind": "Scale", "apiVersion": "autoscaling/v1", "spec": {"replicas": 4}},
    )
    decision = audit.decide(event, policy=policy, now=now)
    assert isinstance(decision, audit.AuditCapture)
    assert decision.capture.object.kind == "Deployment"
    assert decision.capture.delta.after["spec"] == {"replicas": 4}


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"stage": "ResponseStarted"}, "stage"),
        ({"verb": "get"}, "verb"),
        ({"verb": "watch"}, "verb"),
        ({"code": 409}, "failed-request"),
        ({"code": 422}, "failed-request"),
        ({"query": "dryRun=All&fieldManager=kubectl-client-side-apply"}, "dry-run"),
        ({"subresource": "status"}, "status"),
        ({"user": p.ARGOCD}, "ignored-actor"),
        ({"resource": "events"}, "noise-resource"),
    ],
)
def test_skips(policy, now, overrides, reason):
    kw = {"verb": "update", "resource": "deployments", "group": "apps", "name": "checkout"}
    kw.update(overrides)
    if kw["resource"] == "events":
        kw["group"] = ""
    decision = audit.decide(p.audit_event(**kw), policy=policy, now=now)
    assert isinstance(decision, Skip)
    assert decision.reason == reason


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.pop("auditID"),
        lambda e: e.update(user="alice"),
        lambda e: e.update(sourceIPs="10.0.0.1"),
        lambda e: e.update(objectRef=[]),
        lambda e: e["user"].pop("username"),
    ],
)
def test_unusable_events(policy, now, mutate):
    event = p.audit_event(
        verb="update", resource="configmaps", name="x", response_object=p.configmap()
    )
    mutate(event)
    with pytest.raises(Unusable):
        audit.decide(event, policy=policy, now=now)


def test_secret_patch_values_are_redacted(policy, now):
    for body in (
        {"data": {"password": "c2VjcmV0"}},
        {"stringData": {"password": p.CANARY}},
        [{"op": "replace", "path": "/data/password", "value": p.CANARY}],
        [{"op": "add", "path": "/stringData", "value": {"password": p.CANARY}}],
    ):
        event = p.audit_event(
            verb="patch", resource="secrets", name="db-creds", request_object=body
        )
        decision = audit.decide(event, policy=policy, now=now)
        assert isinstance(decision, audit.AuditCapture)
        text = repr(decision.capture.to_json())
        assert p.CANARY not in text
        assert "c2VjcmV0" not in text
        assert "<redacted:" in text

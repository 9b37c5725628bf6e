"""A change to an object nested too deeply to diff is still recorded: who, what and when.

Deep nesting is bounded so no decision can recurse without limit; the bound must not become a
way to make a manual edit invisible to the journal and the audit log.
"""

from __future__ import annotations

from typing import Any

from breakglass import model
from breakglass.capture import admission, audit
from breakglass.worker.inputs import not_backfilled
from tests import payloads as p


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def test_a_too_deep_object_becomes_an_opaque_provisional_capture(policy, now):
    review = p.review(operation="UPDATE", obj=p.deployment(replicas=3), old=p.deployment())
    review["request"]["object"]["spec"]["deep"] = nested(150)
    capture = admission.decide(review["request"], policy=policy, now=now)
    assert isinstance(capture, model.Capture)
    assert capture.classification == model.OPAQUE
    assert capture.status is model.Status.PROVISIONAL
    assert capture.actor.username == "alice"
    assert capture.object.describe() == "deployment payments/checkout"
    assert capture.delta.paths == ()
    assert capture.delta.after == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "payments"},
    }
    assert "request.object is nested more than 100 levels deep" in (capture.reason or "")
    assert "too deeply nested to diff" in admission.warning(capture, record_only=())


def test_its_audit_event_still_confirms_it(policy, now):
    event = p.audit_event(
        verb="update",
        resource="deployments",
        group="apps",
        name="checkout",
        capture_id="01ABCDEF",
        request_object={"spec": {"deep": nested(150)}},
    )
    decision = audit.decide(event, policy=policy, now=now)
    assert isinstance(decision, audit.Confirmation)
    assert decision.capture_id == "01ABCDEF" and decision.patch is None


def test_an_audit_only_change_is_recorded_confirmed_and_never_backfilled(policy, now):
    event = p.audit_event(
        verb="patch",
        resource="configmaps",
        name="settings",
        request_object={"data": nested(150)},
    )
    decision = audit.decide(event, policy=policy, now=now)
    assert isinstance(decision, audit.AuditCapture)
    capture = decision.capture
    assert capture.classification == model.OPAQUE
    assert capture.status is model.Status.CONFIRMED and capture.audit_id == event["auditID"]
    assert capture.object.describe() == "configmap payments/settings"
    reason = not_backfilled(capture, ())
    assert reason is not None and "update Git by hand" in reason

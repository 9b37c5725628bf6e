"""The drill's pure decisions: each change's probe and marks, the restore's conditions, the
capture's recognition of a drill, the sample and deadlines, and what a result means."""

from __future__ import annotations

import copy
import json

import pytest

from breakglass import model
from breakglass.capture import admission
from breakglass.drill import marker as marks
from breakglass.drill.marker import Change, Marker
from breakglass.drill.plan import (
    MAX_DEADLINE_SECONDS,
    Ref,
    agreement,
    by_application,
    candidates,
    deadline_for,
    inventory,
)
from breakglass.posture.classify import Posture, Verdict
from breakglass.worker.inputs import not_backfilled
from tests.drill.memory import apply_json_patch, merge

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "payments",
        "namespace": "shop",
        "resourceVersion": "41",
        "labels": {"app": "payments"},
    },
    "spec": {"replicas": 2},
}
CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "shop", "resourceVersion": "7"},
    "data": {"LOG_LEVEL": "info"},
}


def marker_for(probe: marks.Probe, drill_id: str = "drill-1") -> Marker:
    return Marker(
        drill_id, "alice", "2026-12-07T10:00:00Z", "2026-12-07T10:01:00Z", "flux:ns/app",
        probe.change.value, probe.pointer, probe.original, probe.drilled,
    )  # fmt: skip


def drilled(obj: dict, change: Change, drill_id: str = "drill-1") -> tuple[dict, marks.Probe]:
    probe = marks.probe_for(obj, change, drill_id)
    assert isinstance(probe, marks.Probe)
    return merge(copy.deepcopy(obj), marks.drill_patch(obj, probe, marker_for(probe))), probe


@pytest.mark.parametrize(
    ("obj", "change", "where", "original", "value"),
    [
        (DEPLOYMENT, Change.LABEL, "metadata.labels[breakglass.dev/drill]", None, "drill-1"),
        (
            DEPLOYMENT,
            Change.ANNOTATION,
            "metadata.annotations[breakglass.dev/drill-probe]",
            None,
            "drill-1",
        ),
        (DEPLOYMENT, Change.REPLICAS, "spec.replicas", 2, 3),
        (CONFIGMAP, Change.CONFIG, "data.breakglass-drill", None, "drill-1"),
    ],
)
def test_each_change_marks_the_object_and_restores_exactly(obj, change, where, original, value):
    after, probe = drilled(obj, change)
    assert probe.where == where and probe.original == original and probe.drilled == value
    assert marks.value_at(after, probe.pointer) == value
    assert marks.label_of(after) == "drill-1"
    assert Marker.read(after) == marker_for(probe)
    assert after["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    assert not marks.reverted(after, probe)
    ops, puts_back = marks.restore_ops(after, probe, "drill-1")
    assert puts_back
    restored = apply_json_patch(after, ops)
    assert restored == obj  # every mark gone, the probe's value back, nothing else touched


def test_changes_that_do_not_fit_say_why():
    secret = {"kind": "Secret", "metadata": {"name": "s"}}
    assert marks.probe_for(secret, Change.LABEL, "d") == "a Secret is never drilled"
    assert "Deployment, StatefulSet only" in str(marks.probe_for(CONFIGMAP, Change.REPLICAS, "d"))
    no_replicas = {"kind": "Deployment", "metadata": {}, "spec": {}}
    assert marks.probe_for(no_replicas, Change.REPLICAS, "d") == "spec.replicas is not set"
    frozen = {**CONFIGMAP, "immutable": True}
    assert "immutable" in str(marks.probe_for(frozen, Change.CONFIG, "d"))


def test_a_restore_keeps_what_someone_changed_during_the_drill():
    after, probe = drilled(DEPLOYMENT, Change.REPLICAS)
    after["spec"]["replicas"] = 5  # on-call scaled it meanwhile
    ops, puts_back = marks.restore_ops(after, probe, "drill-1")
    assert not puts_back
    restored = apply_json_patch(after, ops)
    assert restored["spec"]["replicas"] == 5 and marks.label_of(restored) is None
    assert marks.ANNOTATION not in restored["metadata"].get("annotations", {})


def test_a_restore_only_removes_this_drills_marks_and_fails_if_they_changed():
    after, probe = drilled(DEPLOYMENT, Change.REPLICAS)
    assert marks.restore_ops(after, probe, "drill-other") == ([], False)
    ops, _ = marks.restore_ops(after, probe, "drill-1")
    after["metadata"]["labels"][marks.LABEL] = "drill-2"  # a second drill took over
    with pytest.raises(ValueError, match="test"):
        apply_json_patch(after, ops)


def test_after_a_controller_reverts_only_the_leftover_marks_go():
    after, probe = drilled(DEPLOYMENT, Change.REPLICAS)
    after["spec"]["replicas"] = 2  # Argo CD put replicas back, left the label and annotation
    assert marks.reverted(after, probe)
    ops, puts_back = marks.restore_ops(after, probe, "drill-1")
    assert not puts_back and {o["op"] for o in ops} == {"test", "remove"}
    assert apply_json_patch(after, ops) == DEPLOYMENT


def test_the_webhook_records_a_drill_as_a_drill_and_the_worker_never_backfills_it():
    after, probe = drilled(DEPLOYMENT, Change.REPLICAS)
    before_s, after_s = {"metadata": {"labels": {}}}, {"metadata": {"labels": {marks.LABEL: "d"}}}
    assert admission.classify(before_s, after_s) == model.DRILL
    assert admission.classify(after_s, before_s) == model.DRILL  # the restore
    assert admission.classify({"spec": {"replicas": 2}}, {"spec": {"replicas": 3}}) == "drift"
    ops, _ = marks.restore_ops(after, probe, "drill-1")
    assert marks.in_patch(ops) == "drill-1"
    assert marks.in_patch({"metadata": {"labels": {marks.LABEL: None}}}) == "unknown"
    assert marks.in_patch([{"op": "replace", "path": "/spec/replicas", "value": 3}]) is None
    capture = model.Capture(
        id="c1", cluster="c", source=model.Source.ADMISSION, status=model.Status.CONFIRMED,
        operation=model.Operation.UPDATE,
        object=model.ObjectRef("apps", "v1", "deployments", "Deployment", "shop", "payments"),
        actor=model.Actor("alice"), delta=model.Delta(), received_at=model.utcnow(),
        classification=model.DRILL,
    )  # fmt: skip
    assert "never backfilled" in str(not_backfilled(capture, ()))
    warning = admission.warning(capture, record_only=())
    assert "drill change" in warning and "no backfill PR" in warning


def posture(verdict: Verdict, expected: float | None) -> Posture:
    return Posture("flux", "Kustomization", "flux-system", "payments", verdict, expected, "why")


def test_deadlines():
    assert deadline_for(posture(Verdict.ENFORCING, 300), None) == 600
    assert deadline_for(posture(Verdict.ENFORCING, 5), None) == 30  # Argo CD: at least 30 s
    assert deadline_for(posture(Verdict.ENFORCING, 3600), None) == MAX_DEADLINE_SECONDS
    assert deadline_for(posture(Verdict.SUSPENDED, None), None) == 300
    assert deadline_for(posture(Verdict.SUSPENDED, None), 8) == 8
    assert deadline_for(posture(Verdict.ENFORCING, 60), 7200) == MAX_DEADLINE_SECONDS


def test_inventories_of_flux_and_argo_cd():
    ks = {
        "kind": "Kustomization",
        "status": {
            "inventory": {
                "entries": [
                    {"id": "shop_payments_apps_Deployment", "v": "v1"},
                    {"id": "shop_settings__ConfigMap", "v": "v1"},
                    {"id": "_shop__Namespace", "v": "v1"},
                ]
            }
        },
    }
    assert inventory(ks) == [
        Ref("apps", "v1", "Deployment", "shop", "payments"),
        Ref("", "v1", "ConfigMap", "shop", "settings"),
        Ref("", "v1", "Namespace", "", "shop"),
    ]
    app = {
        "kind": "Application",
        "status": {
            "resources": [{"version": "v1", "kind": "Service", "namespace": "shop", "name": "web"}]
        },
    }
    assert inventory(app) == [Ref("", "v1", "Service", "shop", "web")]
    assert inventory({"kind": "Kustomization", "status": {}}) is None
    assert inventory({"kind": "HelmRelease"}) is None


def test_the_sample_prefers_workloads_and_never_takes_secrets_or_cluster_objects():
    refs = [
        Ref("", "v1", "Secret", "shop", "db"),
        Ref("", "v1", "Namespace", "", "shop"),
        Ref("networking.k8s.io", "v1", "Ingress", "shop", "web"),
        Ref("", "v1", "ConfigMap", "shop", "b"),
        Ref("", "v1", "ConfigMap", "shop", "a"),
        Ref("apps", "v1", "Deployment", "shop", "web"),
    ]
    keep, skipped = candidates(refs, Change.LABEL)
    assert [(r.kind, r.name) for r in keep] == [
        ("Deployment", "web"), ("ConfigMap", "a"), ("ConfigMap", "b"), ("Ingress", "web"),
    ]  # fmt: skip
    assert dict(skipped) == {
        "secret shop/db": "a Secret is never drilled",
        "namespace /shop": "cluster-scoped objects are never drilled",
    }
    keep, _ = candidates(refs, Change.REPLICAS)
    assert [r.kind for r in keep] == ["Deployment"]


def record(
    outcome: str, verdict: str = "enforcing", measured: float | None = None
) -> model.DrillRecord:
    return model.DrillRecord(
        "d", "flux:flux-system/payments", verdict, "label", 60.0, 120.0, outcome, measured, True
    )


def test_what_a_result_says_against_posture():
    assert agreement(record("reverted", measured=42)) == "as posture expected: reverted"
    assert "slower than its settings say" in agreement(record("reverted", measured=110))
    assert "GitOps incomplete" in agreement(record("survived"))
    assert "as posture expected" in agreement(record("survived", verdict="notifying"))
    assert "something else did" in agreement(record("reverted", verdict="suspended", measured=3))
    assert "no verdict" in agreement(record("interrupted"))
    [summary] = by_application(
        [record("reverted", measured=40), record("reverted", measured=50), record("survived")]
    )
    assert (summary.reverted, summary.survived, summary.median_seconds) == (2, 1, 45)
    assert summary.verdict_of_drill == "GitOps incomplete"


def test_a_drill_record_round_trips_through_the_journals_document():
    capture = model.Capture(
        id="c1", cluster="c", source=model.Source.DRILL, status=model.Status.IGNORED,
        operation=model.Operation.UPDATE,
        object=model.ObjectRef("apps", "v1", "deployments", "Deployment", "shop", "payments"),
        actor=model.Actor("alice"), delta=model.Delta(), received_at=model.utcnow(),
        classification=model.DRILL, drill=record("reverted", measured=4.5),
    )  # fmt: skip
    again = model.Capture.from_json(json.loads(json.dumps(capture.to_json())))
    assert again == capture


def test_malformed_objects_are_no_drill():
    for side in ({"metadata": True}, {"metadata": {"labels": True}}, [1], "x", None):
        assert marks.in_change(side, side) is None
        assert marks.in_patch(side) is None

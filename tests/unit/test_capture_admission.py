"""Admission decisions for every kubectl verb, and every reason to skip a request."""

from __future__ import annotations

from typing import Any

import pytest

from breakglass import model, repos
from breakglass.capture import admission, redact
from breakglass.capture.admission import Policy
from breakglass.capture.fields import Unusable
from breakglass.settings import ActorSettings
from tests import payloads as p


def decide(review: dict[str, Any], policy, now) -> model.Capture | admission.Skip:
    return admission.decide(review["request"], policy=policy, now=now)


def test_kubectl_edit_records_only_the_changed_field(policy, now):
    old = p.deployment(replicas=2)
    new = p.edited(old, lambda d: d["spec"].update(replicas=6))
    new["metadata"]["resourceVersion"] = "48214"
    new["metadata"]["generation"] = 8
    new["status"]["replicas"] = 6
    capture = decide(p.review(operation="UPDATE", obj=new, old=old), policy, now)
    assert isinstance(capture, model.Capture)
    assert capture.status is model.Status.PROVISIONAL
    assert capture.source is model.Source.ADMISSION
    assert capture.operation is model.Operation.UPDATE
    assert capture.object.kind == "Deployment"
    assert (capture.object.namespace, capture.object.name) == ("payments", "checkout")
    assert capture.actor.username == "alice"
    assert capture.actor.groups == ("oncall", "system:authenticated")
    assert capture.actor.field_manager == "kubectl-edit"
    assert capture.delta.paths == ("spec.replicas",)
    assert capture.delta.before["spec"] == {"replicas": 2}
    assert capture.delta.after["spec"] == {"replicas": 6}
    assert capture.delta.after["metadata"] == {"name": "checkout", "namespace": "payments"}
    assert capture.cluster == "prod-eu"
    assert capture.classification == "drift"


def test_set_image_matches_containers_by_name_not_index(policy, now):
    old = p.deployment()
    new = p.edited(old, lambda d: d["spec"]["template"]["spec"]["containers"].reverse())
    new["spec"]["template"]["spec"]["containers"][1]["image"] = "registry.example/checkout:1.4.3"
    capture = decide(
        p.review(operation="UPDATE", obj=new, old=old, field_manager="kubectl-set"), policy, now
    )
    assert isinstance(capture, model.Capture)
    assert capture.delta.paths == ("spec.template.spec.containers[name=app].image",)
    assert capture.actor.field_manager == "kubectl-set"


@pytest.mark.parametrize(
    ("manager", "mutate", "path"),
    [
        (
            "kubectl-label",
            lambda d: d["metadata"]["labels"].update(tier="gold"),
            "metadata.labels.tier",
        ),
        (
            "kubectl-annotate",
            lambda d: d["metadata"]["annotations"].update(reason="INC-1234"),
            "metadata.annotations.reason",
        ),
        (
            "kubectl-patch",
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"].append(
                {"name": "DEBUG", "value": "1"}
            ),
            "spec.template.spec.containers[name=app].env[name=DEBUG]",
        ),
        (
            "kubectl-client-side-apply",
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(
                memory="512Mi"
            ),
            "spec.template.spec.containers[name=app].resources.limits.memory",
        ),
    ],
)
def test_label_annotate_patch_apply(policy, now, manager, mutate, path):
    old = p.deployment()
    capture = decide(
        p.review(operation="UPDATE", obj=p.edited(old, mutate), old=old, field_manager=manager),
        policy,
        now,
    )
    assert isinstance(capture, model.Capture)
    assert capture.delta.paths == (path,)
    assert capture.actor.field_manager == manager


def test_scale_subresource_becomes_replicas_of_the_parent(policy, now):
    capture = decide(p.scale_review(old_replicas=2, new_replicas=5), policy, now)
    assert isinstance(capture, model.Capture)
    assert capture.object.kind == "Deployment"
    assert capture.object.subresource == "scale"
    assert capture.delta.before == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "payments"},
        "spec": {"replicas": 2},
    }
    assert capture.delta.after["spec"] == {"replicas": 5}


def test_scale_to_the_same_count_is_a_noop(policy, now):
    assert decide(p.scale_review(old_replicas=3, new_replicas=3), policy, now) == admission.Skip(
        "no-op"
    )


def test_create_and_delete(policy, now):
    obj = p.configmap()
    created = decide(
        p.review(operation="CREATE", obj=obj, old=None, field_manager="kubectl-create"), policy, now
    )
    assert isinstance(created, model.Capture)
    assert created.operation is model.Operation.CREATE
    assert created.delta.after["data"] == {"FEATURE_X": "off", "TIMEOUT": "30"}
    assert "uid" not in created.delta.after["metadata"]
    deleted = decide(p.review(operation="DELETE", obj=None, old=obj), policy, now)
    assert isinstance(deleted, model.Capture)
    assert deleted.operation is model.Operation.DELETE
    assert deleted.delta.after == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "checkout-config", "namespace": "payments"},
    }


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (
            lambda: p.review(
                operation="UPDATE", obj=p.deployment(replicas=3), old=p.deployment(), dry_run=True
            ),
            "dry-run",
        ),
        (
            lambda: p.review(
                operation="UPDATE",
                obj=p.deployment(replicas=3),
                old=p.deployment(),
                subresource="status",
            ),
            "status",
        ),
        (
            lambda: p.review(
                operation="UPDATE", obj=p.deployment(replicas=3), old=p.deployment(), user=p.ARGOCD
            ),
            "ignored-actor",
        ),
        (
            lambda: p.review(
                operation="UPDATE",
                obj=p.deployment(replicas=3),
                old=p.deployment(),
                user={"username": "system:kube-controller-manager", "groups": []},
            ),
            "ignored-actor",
        ),
        (
            # only server-managed fields moved: resourceVersion, generation, status, revision
            lambda: p.review(
                operation="UPDATE",
                obj=p.edited(
                    p.deployment(),
                    lambda d: (
                        d["metadata"].update(resourceVersion="9", generation=9),
                        d["status"].update(readyReplicas=0),
                        d["metadata"]["annotations"].update(
                            {"deployment.kubernetes.io/revision": "8"}
                        ),
                    ),
                ),
                old=p.deployment(),
            ),
            "no-op",
        ),
    ],
)
def test_skips(policy, now, build, reason):
    decision = decide(build(), policy, now)
    assert isinstance(decision, admission.Skip)
    assert decision.reason == reason


def test_connect_and_other_subresources_are_skipped(policy, now):
    r = p.review(operation="UPDATE", obj=p.deployment(), old=p.deployment(), subresource="status")
    r["request"]["operation"] = "CONNECT"
    assert decide(r, policy, now).reason == "connect"
    r = p.review(
        operation="UPDATE",
        obj=p.deployment(),
        old=p.deployment(),
        subresource="ephemeralcontainers",
    )
    assert decide(r, policy, now).reason == "subresource"


def test_ignored_groups_use_globs(now, policy):
    from dataclasses import replace

    from breakglass.settings import ActorSettings

    strict = replace(policy, actors=ActorSettings(ignore_users=(), ignore_groups=("flux-*",)))
    user = {"username": "robot", "groups": ["flux-controllers"]}
    r = p.review(operation="UPDATE", obj=p.deployment(replicas=4), old=p.deployment(), user=user)
    assert decide(r, strict, now).reason == "ignored-actor"
    r = p.review(operation="UPDATE", obj=p.deployment(replicas=4), old=p.deployment())
    assert isinstance(decide(r, strict, now), model.Capture)


def test_impersonation_extra_is_kept(policy, now):
    user = {**p.BOB, "extra": {"reason": ["INC-42"]}}
    capture = decide(
        p.review(operation="UPDATE", obj=p.deployment(replicas=3), old=p.deployment(), user=user),
        policy,
        now,
    )
    assert capture.actor.username == "bob"
    assert capture.actor.extra == (("reason", ("INC-42",)),)


def test_rollout_restart_and_pause_are_classified(policy, now):
    old = p.deployment()
    restarted = p.edited(
        old,
        lambda d: (
            d["spec"]["template"]["metadata"]
            .setdefault("annotations", {})
            .update({"kubectl.kubernetes.io/restartedAt": "2026-11-26T02:14:07Z"})
        ),
    )
    capture = decide(
        p.review(operation="UPDATE", obj=restarted, old=old, field_manager="kubectl-rollout"),
        policy,
        now,
    )
    assert capture.classification == "rollout-restart"
    assert "operational action" in admission.warning(capture, record_only=policy.record_only)
    paused = p.edited(old, lambda d: d["spec"].update(paused=True))
    assert (
        decide(p.review(operation="UPDATE", obj=paused, old=old), policy, now).classification
        == "rollout-pause"
    )


def test_warning_is_short_and_names_the_capture(policy, now):
    capture = decide(
        p.review(operation="UPDATE", obj=p.deployment(replicas=9), old=p.deployment()), policy, now
    )
    text = admission.warning(capture, record_only=policy.record_only)
    assert text == (
        f"breakglass: recorded deployment payments/checkout change as {capture.id}; "
        "a backfill PR will follow"
    )
    assert len(text) < 256


RULES = (repos.RepoRule(url="file:///gitops.git", namespaces=("payments",)),)


def _warn(policy, now, review, rules=RULES):
    capture = decide(review, policy, now)
    assert isinstance(capture, model.Capture)
    text = admission.warning(capture, record_only=policy.record_only, repo_rules=rules)
    assert len(text) < 256
    return text


def test_warning_says_no_pr_when_no_repository_owns_the_object(policy, now):
    def untracked(d):
        del d["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]

    old = p.edited(p.deployment(), untracked)
    review = p.review(operation="UPDATE", obj=p.edited(old, _replicas(9)), old=old)
    assert _warn(policy, now, review).endswith("a backfill PR will follow")  # a rule owns it
    text = _warn(policy, now, review, rules=())
    assert "no repository owns this object" in text and "PR will follow" not in text
    tracked = p.review(operation="UPDATE", obj=p.deployment(replicas=9), old=p.deployment())
    assert _warn(policy, now, tracked, rules=()).endswith("a backfill PR will follow")


def _replicas(n):
    return lambda d: d["spec"].update(replicas=n)


def test_warning_for_a_plain_secret_promises_no_pr(policy, now):
    old = p.secret(value="s3cr3t-one")
    review = p.review(operation="UPDATE", obj=p.secret(value="s3cr3t-two"), old=old)
    text = _warn(policy, now, review)
    assert "Secret values are never backfilled in the clear" in text
    assert "review issue" in text and "PR will follow" not in text


def test_warning_for_a_secret_looking_env_value_names_it(now):
    policy = Policy(
        cluster="prod",
        actors=ActorSettings(),
        redactor=redact.Redactor(salt=b"s", key_patterns=("*_TOKEN",)),
    )

    def token(value):
        def mutate(d):
            d["spec"]["template"]["spec"]["containers"][0]["env"] = [
                {"name": "API_TOKEN", "value": value}
            ]

        return mutate

    old = p.edited(p.deployment(), token("one"))
    text = _warn(
        policy, now, p.review(operation="UPDATE", obj=p.edited(old, token("two")), old=old)
    )
    assert "env[name=API_TOKEN] looks secret" in text and "review issue" in text


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["request"].pop("uid"),
        lambda r: r["request"].update(operation="FROB"),
        lambda r: r["request"].update(userInfo="alice"),
        lambda r: r["request"].update(object=[1, 2]),
        lambda r: r["request"]["userInfo"].update(groups="oncall"),
        lambda r: r["request"].update(oldObject=None),
        lambda r: r["request"]["userInfo"].pop("username"),
    ],
)
def test_unusable_reviews_raise_a_clear_error(policy, now, mutate):
    r = p.review(operation="UPDATE", obj=p.deployment(replicas=3), old=p.deployment())
    mutate(r)
    with pytest.raises(Unusable):
        decide(r, policy, now)


def test_capture_ids_sort_by_time():
    a = model.new_capture_id(1_700_000_000.000)
    b = model.new_capture_id(1_700_000_000.001)
    c = model.new_capture_id(1_800_000_000.000)
    assert a < b < c
    assert len(a) == 26


def test_capture_round_trips_through_json(policy, now):
    capture = decide(
        p.review(operation="UPDATE", obj=p.deployment(replicas=9), old=p.deployment()), policy, now
    )
    assert model.Capture.from_json(capture.to_json()) == capture

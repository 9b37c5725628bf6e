"""Naming who made a drifted change from the API server's audit log files."""

from __future__ import annotations

import copy
import gzip
import itertools
import json
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakglass.errors import InputError
from breakglass.scan.attribution import (
    REMOVED,
    AuditTrail,
    ObjectKey,
    field_manager,
)

T0 = datetime(2026, 12, 7, 18, 33, 24, 123456, tzinfo=UTC)
KUBECTL = "kubectl/v1.36.3 (linux/amd64) kubernetes/8f2b4c1"
CHECKOUT = ObjectKey("apps", "deployments", "shop", "checkout")
IMAGE = ("spec", "template", "spec", "containers", {"name": "app"}, "image")
REPLICAS = ("spec", "replicas")
_ids = itertools.count(1)


def event(
    user: str = "alice@example.com",
    *,
    verb: str = "patch",
    body: Any = None,
    at: datetime = T0,
    manager: str | None = "kubectl-edit",
    user_agent: str = KUBECTL,
    group: str = "apps",
    resource: str = "deployments",
    namespace: str = "shop",
    name: str | None = "checkout",
    subresource: str | None = None,
    code: int | None = 200,
    stage: str = "ResponseComplete",
    query: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One audit.k8s.io/v1 Event as the log backend writes it (Request level when ``body``)."""
    prefix = f"/apis/{group}/v1" if group else "/api/v1"
    uri = f"{prefix}/namespaces/{namespace}/{resource}"
    uri += f"/{name}" if name else ""
    uri += f"/{subresource}" if subresource else ""
    params = [f"fieldManager={manager}"] if manager else []
    params += [query] if query else []
    uri += "?" + "&".join(params) if params else ""
    ref: dict[str, Any] = {"resource": resource, "namespace": namespace, "apiVersion": "v1"}
    ref.update({"apiGroup": group} if group else {})
    ref.update({"name": name} if name else {})
    ref.update({"subresource": subresource} if subresource else {})
    received = at - timedelta(milliseconds=40)
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata" if body is None else "Request",
        "auditID": f"6a0c2f1e-0000-4000-8000-{next(_ids):012d}",
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.3.7"],
        "userAgent": user_agent,
        "objectRef": ref,
        "requestReceivedTimestamp": received.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "stageTimestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    if code is not None:
        ev["responseStatus"] = {"metadata": {}, "code": code}
    if body is not None:
        ev["requestObject"] = body
    ev.update(extra)
    return ev


def log(directory: Path, filename: str, *events: dict[str, Any], gz: bool = False) -> Path:
    path = directory / filename
    text = "".join(json.dumps(e) + "\n" for e in events).encode()
    path.write_bytes(gzip.compress(text) if gz else text)
    return path


def trail(tmp_path: Path, *events: dict[str, Any]) -> AuditTrail:
    return AuditTrail.read([log(tmp_path, "audit.log", *events)])


def image_patch(image: str) -> dict[str, Any]:
    """The strategic merge patch `kubectl edit` sends for a changed container image."""
    return {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": image}],
                    "$setElementOrder/containers": [{"name": "app"}],
                }
            }
        }
    }


def test_the_field_manager_is_the_query_parameter_else_the_user_agent_up_to_its_slash():
    uri = "/apis/apps/v1/namespaces/shop/deployments/checkout"
    assert field_manager(uri + "?fieldManager=kubectl-edit", KUBECTL) == "kubectl-edit"
    assert field_manager(uri + "?force=true&fieldManager=kubectl", KUBECTL) == "kubectl"
    assert field_manager(uri, KUBECTL) == "kubectl"
    assert field_manager(uri + "?fieldManager=", "helm/v3.16.2 (linux)") == "helm"
    assert field_manager(uri, "") == ""
    assert field_manager(uri, "deploy\tbot " + "x" * 200 + "/1.0") == "deploybot " + "x" * 118


def test_a_kubectl_edit_of_an_image_names_the_user_who_made_it(tmp_path):
    flux = "system:serviceaccount:flux-system:kustomize-controller"
    t = trail(
        tmp_path,
        event(flux, body=image_patch("v1"), manager="kustomize-controller", at=T0),
        event(body=image_patch("v2"), at=T0 + timedelta(minutes=5)),
    )
    found = t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=T0 + timedelta(minutes=5))
    assert found is not None
    assert (found.user, found.manager, found.verb) == ("alice@example.com", "kubectl-edit", "patch")
    assert found.at == T0 + timedelta(minutes=5)
    assert found.user_agent == KUBECTL and found.impersonator is None
    assert t.who(CHECKOUT, IMAGE, "v1", manager=None, since=None).user == flux
    assert t.who(CHECKOUT, IMAGE, "v9", manager=None, since=None) is None
    other = ObjectKey("apps", "deployments", "shop", "cart")
    assert t.who(other, IMAGE, "v2", manager=None, since=None) is None


def test_a_kubectl_label_merge_patch_names_who_set_and_who_removed_a_label(tmp_path):
    t = trail(
        tmp_path,
        event("bob", body={"metadata": {"labels": {"team": "payments"}}}, manager="kubectl-label"),
        event(
            "carol",
            body={"metadata": {"labels": {"tier": None}}},
            manager="kubectl-label",
            at=T0 + timedelta(seconds=30),
        ),
    )
    team, tier = ("metadata", "labels", "team"), ("metadata", "labels", "tier")
    assert t.who(CHECKOUT, team, "payments", manager="kubectl-label", since=T0).user == "bob"
    assert t.who(CHECKOUT, tier, REMOVED, manager=None, since=None).user == "carol"
    # leaving a label out of a patch leaves it alone: bob removed nothing
    assert t.who(CHECKOUT, ("metadata", "labels", "env"), REMOVED, manager=None, since=None) is None


def test_json_patch_operations_are_matched_by_pointer(tmp_path):
    sidecar = ("spec", "template", "spec", "containers", {"name": "envoy"}, "image")
    owner = ("metadata", "annotations", "example.com/owner")
    t = trail(
        tmp_path,
        event(
            "dave",
            manager="kubectl-patch",
            body=[
                {
                    "op": "replace",
                    "path": "/metadata/annotations/example.com~1owner",
                    "value": "dave",
                }
            ],
        ),
        event(
            "erin",
            manager="kubectl-patch",
            at=T0 + timedelta(seconds=10),
            body=[
                {"op": "test", "path": "/spec/replicas", "value": 3},
                {
                    "op": "add",
                    "path": "/spec/template/spec/containers/-",
                    "value": {"name": "envoy", "image": "envoy:v1.31"},
                },
                {"op": "add", "path": "/metadata/labels", "value": {"mesh": "on"}},
            ],
        ),
        event(
            "frank",
            manager="kubectl-patch",
            at=T0 + timedelta(seconds=20),
            body=[
                {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "v3"},
                {"op": "remove", "path": "/metadata/annotations/example.com~1owner"},
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/1",
                    "value": {"name": "envoy", "image": "envoy:v1.32"},
                },
            ],
        ),
    )
    assert t.who(CHECKOUT, owner, "dave", manager=None, since=None).user == "dave"
    assert t.who(CHECKOUT, owner, REMOVED, manager=None, since=None).user == "frank"
    assert t.who(CHECKOUT, sidecar, "envoy:v1.31", manager=None, since=None).user == "erin"
    # a whole list item at an index is matched by its key fields
    assert t.who(CHECKOUT, sidecar, "envoy:v1.32", manager=None, since=None).user == "frank"
    mesh = ("metadata", "labels", "mesh")
    assert t.who(CHECKOUT, mesh, "on", manager=None, since=None).user == "erin"
    # replacing /metadata/labels wholesale removed every label it did not list
    assert (
        t.who(CHECKOUT, ("metadata", "labels", "team"), REMOVED, manager=None, since=None).user
        == "erin"
    )
    # an index cannot be tied to a container's name without the object: no guess
    assert t.who(CHECKOUT, IMAGE, "v3", manager="kubectl-patch", since=None) is None


def test_a_scale_subresource_write_names_who_set_the_replicas(tmp_path):
    scale = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"replicas": 7},
    }
    t = trail(
        tmp_path,
        event(body={"spec": {"replicas": 5}}, subresource="scale", manager="kubectl-scale"),
        event(
            "bob",
            verb="update",
            body=scale,
            subresource="scale",
            manager=None,
            at=T0 + timedelta(seconds=5),
        ),
        # the status endpoint ignores spec: a status write never sets the replicas
        event(
            "system:serviceaccount:kube-system:deployment-controller",
            verb="update",
            body={"spec": {"replicas": 5}, "status": {"replicas": 5}},
            subresource="status",
            manager=None,
            at=T0 + timedelta(seconds=9),
        ),
    )
    found = t.who(CHECKOUT, REPLICAS, 5, manager="kubectl-scale", since=T0)
    assert (found.user, found.subresource) == ("alice@example.com", "scale")
    assert t.who(CHECKOUT, REPLICAS, 7, manager="kubectl", since=None).user == "bob"
    # a scale write sets only the replicas
    assert t.who(CHECKOUT, ("metadata", "name"), "checkout", manager=None, since=None) is None
    assert [w.subresource for w in t.writes_to(CHECKOUT)] == ["scale", "scale", "status"]


def test_a_created_config_map_is_found_by_the_name_the_server_generated(tmp_path):
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"generateName": "checkout-flags-", "namespace": "shop"},
        "data": {"LOG_LEVEL": "debug", "RETRIES": "3"},
    }
    created = {**configmap, "metadata": {**configmap["metadata"], "name": "checkout-flags-x7k2p"}}
    t = trail(
        tmp_path,
        event(
            verb="create",
            body=configmap,
            group="",
            resource="configmaps",
            name=None,
            manager="kubectl-create",
            responseObject=created,
        ),
    )
    key = ObjectKey("", "configmaps", "shop", "checkout-flags-x7k2p")
    found = t.who(key, ("data", "LOG_LEVEL"), "debug", manager="kubectl-create", since=T0)
    assert (found.user, found.verb) == ("alice@example.com", "create")
    # a field the object was created without: the create is who left it out
    assert t.who(key, ("data", "TIMEOUT"), REMOVED, manager=None, since=None).verb == "create"
    # "3" is a string; 3 is not the same value
    assert t.who(key, ("data", "RETRIES"), 3, manager=None, since=None) is None
    assert t.who(key, ("data", "RETRIES"), "3", manager=None, since=None) is not None


def test_an_impersonated_write_names_the_impersonated_user_and_keeps_the_impersonator(tmp_path):
    proxy = "system:serviceaccount:ops:access-proxy"
    t = trail(
        tmp_path,
        event(
            proxy,
            body=image_patch("v2"),
            impersonatedUser={"username": "alice@example.com", "groups": ["sre"]},
        ),
    )
    found = t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=T0)
    assert (found.user, found.impersonator) == ("alice@example.com", proxy)


def test_writes_that_were_not_persisted_are_never_named(tmp_path):
    t = trail(
        tmp_path,
        event(body=image_patch("v2")),
        event("mallory", body=image_patch("v2"), at=T0 + timedelta(seconds=10), code=403),
        event(
            "mallory",
            body=image_patch("v2"),
            at=T0 + timedelta(seconds=20),
            stage="RequestReceived",
            code=None,
        ),
        event("mallory", body=image_patch("v2"), at=T0 + timedelta(seconds=30), code=None),
        event("mallory", body=image_patch("v2"), at=T0 + timedelta(seconds=40), query="dryRun=All"),
        event("mallory", verb="get", at=T0 + timedelta(seconds=50)),
    )
    assert (
        t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=None).user == "alice@example.com"
    )
    assert [w.user for w in t.writes_to(CHECKOUT)] == ["alice@example.com"]
    assert (t.events, t.skipped) == (6, 0)


def test_metadata_level_events_name_the_managers_write_in_the_managed_fields_second(tmp_path):
    t = trail(
        tmp_path,
        event(at=T0),
        event("bob", at=T0 + timedelta(minutes=2)),
        event("carol", manager="kubectl-scale", subresource="scale", at=T0 + timedelta(minutes=3)),
    )
    since = T0.replace(microsecond=0)
    assert (
        t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=since).user
        == "alice@example.com"
    )
    later = since + timedelta(minutes=2)
    assert t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=later).user == "bob"
    # a naive time is UTC
    naive = later.replace(tzinfo=None)
    assert t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=naive).user == "bob"
    # no write by that manager in that second, or not enough to go on: no guess
    assert (
        t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=since + timedelta(seconds=1))
        is None
    )
    assert t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-patch", since=since) is None
    assert t.who(CHECKOUT, IMAGE, "v2", manager=None, since=since) is None
    assert t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=None) is None
    scaled = since + timedelta(minutes=3)
    assert t.who(CHECKOUT, REPLICAS, 4, manager="kubectl-scale", since=scaled).user == "carol"


def test_the_latest_write_of_the_current_value_wins_after_someone_else_changed_it(tmp_path):
    t = trail(
        tmp_path,
        event("carol", body=image_patch("v2"), at=T0),
        event("bob", body=image_patch("v3"), at=T0 + timedelta(minutes=1)),
        event("alice@example.com", body=image_patch("v2"), at=T0 + timedelta(minutes=2)),
    )
    since = (T0 + timedelta(minutes=2)).replace(microsecond=0)
    assert (
        t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=since).user
        == "alice@example.com"
    )
    assert t.who(CHECKOUT, IMAGE, "v2", manager=None, since=None).user == "alice@example.com"
    assert t.who(CHECKOUT, IMAGE, "v3", manager=None, since=None).user == "bob"


def test_the_manager_and_the_managed_fields_time_narrow_the_candidates(tmp_path):
    t = trail(
        tmp_path,
        event(body=image_patch("v2"), at=T0),
        event("bob", body=image_patch("v2"), manager="kubectl-set", at=T0 + timedelta(minutes=1)),
        # a repeat of the same value changes nothing, so managedFields keeps alice's time
        event("dave", body=image_patch("v2"), at=T0 + timedelta(minutes=2)),
    )
    since = T0.replace(microsecond=0)
    assert (
        t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=since).user
        == "alice@example.com"
    )
    assert t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=None).user == "dave"
    assert t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-set", since=None).user == "bob"
    # a manager no candidate has falls back to every candidate
    assert t.who(CHECKOUT, IMAGE, "v2", manager="helm", since=None).user == "dave"
    # a time before every candidate falls back to every candidate
    assert (
        t.who(CHECKOUT, IMAGE, "v2", manager=None, since=since - timedelta(days=1)).user == "dave"
    )


def test_removals_by_strategic_merge_delete_and_by_replacing_the_whole_object(tmp_path):
    sidecar = ("spec", "template", "spec", "containers", {"name": "envoy"}, "image")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop", "annotations": {"a": "1"}},
        "spec": {"replicas": 3, "paused": True},
    }
    t = trail(
        tmp_path,
        event("bob", verb="update", body=deployment, manager="kubectl-replace", at=T0),
        event(
            body={
                "spec": {
                    "template": {"spec": {"containers": [{"name": "envoy", "$patch": "delete"}]}}
                }
            },
            at=T0 + timedelta(seconds=5),
        ),
    )
    assert t.who(CHECKOUT, sidecar, REMOVED, manager=None, since=None).user == "alice@example.com"
    gone = ("metadata", "annotations", "b")
    assert t.who(CHECKOUT, gone, REMOVED, manager="kubectl-replace", since=None).user == "bob"
    # true is not 1, and 3 is not "3"
    assert t.who(CHECKOUT, ("spec", "paused"), 1, manager=None, since=None) is None
    assert t.who(CHECKOUT, ("spec", "paused"), True, manager=None, since=None).user == "bob"
    assert t.who(CHECKOUT, REPLICAS, "3", manager=None, since=None) is None
    assert repr(REMOVED) == "REMOVED"
    assert copy.deepcopy(REMOVED) is REMOVED and pickle.loads(pickle.dumps(REMOVED)) is REMOVED


def test_rotated_gzip_files_and_the_current_file_are_read_together_in_time_order(tmp_path):
    newest = log(
        tmp_path,
        "audit.log",
        event("alice@example.com", body=image_patch("v2"), at=T0 + timedelta(hours=2)),
    )
    older = log(
        tmp_path,
        "audit-2026-12-07T19-00-00.000.log.gz",
        event("bob", body=image_patch("v2"), at=T0 + timedelta(hours=1)),
        gz=True,
    )
    # gzip is told by its content, not the name
    oldest = log(
        tmp_path,
        "audit-2026-12-07T18-00-00.000.log",
        event("carol", body=image_patch("v2"), at=T0),
        gz=True,
    )
    t = AuditTrail.read([newest, oldest, older])
    assert [w.user for w in t.writes_to(CHECKOUT)] == ["carol", "bob", "alice@example.com"]
    assert t.who(CHECKOUT, IMAGE, "v2", manager=None, since=None).user == "alice@example.com"
    since = (T0 + timedelta(hours=1)).replace(microsecond=0)
    assert t.who(CHECKOUT, IMAGE, "v2", manager="kubectl-edit", since=since).user == "bob"
    assert t.files == (str(newest), str(oldest), str(older))
    assert (t.events, t.skipped) == (3, 0)


def test_a_file_passed_twice_does_not_count_its_writes_twice(tmp_path):
    path = log(tmp_path, "audit.log", event(body=image_patch("v2")))
    t = AuditTrail.read([path, path])
    assert len(t.writes_to(CHECKOUT)) == 1


def test_lines_that_are_not_audit_events_are_counted_and_skipped(tmp_path):
    path = log(tmp_path, "audit.log", event(body=image_patch("v2")))
    good = path.read_text()
    no_time = event("bob", body=image_patch("v3"))
    del no_time["stageTimestamp"], no_time["requestReceivedTimestamp"]
    path.write_text(
        "I1207 18:33:24.123456 1 audit.go:91] not json\n"
        + good[: len(good) // 2]
        + "\n\n[1, 2]\n"
        + good
        + '{"kind": "Status"}\n'
        + json.dumps(no_time)
        + "\n"
    )
    t = AuditTrail.read([path])
    assert (t.events, t.skipped) == (2, 5)
    assert t.who(CHECKOUT, IMAGE, "v2", manager=None, since=None).user == "alice@example.com"
    assert t.who(CHECKOUT, IMAGE, "v3", manager=None, since=None) is None


def test_a_file_that_cannot_be_read_is_an_input_error_with_a_hint(tmp_path):
    missing = tmp_path / "kube-apiserver-audit.log"
    with pytest.raises(
        InputError, match=r"cannot read audit log .*kube-apiserver-audit\.log"
    ) as info:
        AuditTrail.read([missing])
    assert (
        info.value.hint
        == "pass the API server's --audit-log-path file(s); rotated files may be .gz"
    )
    truncated = tmp_path / "audit-1.log.gz"
    truncated.write_bytes(gzip.compress(b"x" * 4000)[:-20])
    with pytest.raises(InputError, match="cannot read audit log"):
        AuditTrail.read([truncated])

"""Which fields of a live object a scan reports, decided from ``managedFields`` and Git."""

from __future__ import annotations

import copy
from typing import Any

from breakglass.scan import fields
from breakglass.scan.managers import ManagerPolicy
from breakglass.settings import ScanManagerSettings

JUDGE = fields.Judge.of(
    ManagerPolicy.from_settings(ScanManagerSettings()), ("rollout-restart", "rollout-pause")
)


def entry(
    manager: str, fields_v1: dict[str, Any], *, time: str, op: str = "Update", sub: str = ""
) -> dict[str, Any]:
    out = {
        "manager": manager,
        "operation": op,
        "apiVersion": "apps/v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1,
    }
    if sub:
        out["subresource"] = sub
    return out


GIT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "checkout", "namespace": "shop", "labels": {"app": "checkout"}},
    "spec": {
        "replicas": 2,
        "template": {
            "metadata": {"labels": {"app": "checkout"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "shop/checkout:1.0",
                        "resources": {"requests": {"cpu": "0.5"}},
                        "env": [{"name": "MODE", "value": "live"}],
                    }
                ]
            },
        },
    },
}

ARGO = entry(
    "argocd-controller",
    {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"app"}': {
                            ".": {},
                            "f:name": {},
                            "f:image": {},
                            "f:resources": {"f:requests": {"f:cpu": {}}},
                            "f:env": {'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}},
                            "f:imagePullPolicy": {},
                            "f:terminationMessagePath": {},
                        }
                    },
                    "f:restartPolicy": {},
                    "f:dnsPolicy": {},
                },
            },
        },
    },
    time="2026-09-01T10:00:00Z",
)


def taken(entry_: dict[str, Any], *paths: tuple[str, ...]) -> dict[str, Any]:
    """``entry_`` without the fields a later Update took from it (as the API server does)."""
    out = copy.deepcopy(entry_)
    for path in paths:
        node = out["fieldsV1"]
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]
    return out


IMAGE = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}', "f:image")
REPLICAS = ("f:spec", "f:replicas")


def live(*extra: dict[str, Any], **changes: Any) -> dict[str, Any]:
    container = {
        "name": "app",
        "image": changes.get("image", "shop/checkout:1.0"),
        "resources": {"requests": {"cpu": "500m"}},
        "env": [{"name": "MODE", "value": "live"}, *changes.get("env", [])],
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    labels = {"app": "checkout", **changes.get("labels", {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "labels": labels,
            "managedFields": [changes.get("argo", ARGO), *extra],
        },
        "spec": {
            "replicas": changes.get("replicas", 2),
            "template": {
                "metadata": {"labels": {"app": "checkout"}, **changes.get("tmeta", {})},
                "spec": {
                    "containers": [container],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst",
                },
            },
        },
        "status": {"replicas": 2},
    }


def test_a_synced_object_with_server_defaults_has_no_drift() -> None:
    assert fields.find(GIT, live(), JUDGE) == []


def test_an_image_changed_with_kubectl_edit_is_visible_drift_with_its_manager_and_time() -> None:
    edit = entry(
        "kubectl-edit",
        {
            "f:spec": {
                "f:template": {"f:spec": {"f:containers": {'k:{"name":"app"}': {"f:image": {}}}}}
            }
        },
        time="2026-10-02T03:04:05Z",
    )
    found = fields.find(GIT, live(edit, image="shop/checkout:1.1", argo=taken(ARGO, IMAGE)), JUDGE)
    assert [(f.describe(), f.kind, f.git, f.live, f.manager) for f in found] == [
        (
            "spec.template.spec.containers[name=app].image",
            "changed",
            "shop/checkout:1.0",
            "shop/checkout:1.1",
            "kubectl-edit",
        )
    ]
    assert found[0].since is not None and found[0].since.isoformat().startswith(
        "2026-10-02T03:04:05"
    )


def test_a_label_added_by_hand_is_invisible_drift() -> None:
    label = entry(
        "kubectl-label", {"f:metadata": {"f:labels": {"f:team": {}}}}, time="2026-10-02T03:04:05Z"
    )
    found = fields.find(GIT, live(label, labels={"team": "payments"}), JUDGE)
    assert [(f.describe(), f.kind, f.live) for f in found] == [
        ("metadata.labels.team", "added", "payments")
    ]


def test_an_env_entry_added_by_hand_is_one_finding_and_a_pair_the_engine_can_write() -> None:
    env = entry(
        "kubectl-set",
        {
            "f:spec": {
                "f:template": {
                    "f:spec": {
                        "f:containers": {
                            'k:{"name":"app"}': {
                                "f:env": {
                                    'k:{"name":"DEBUG"}': {".": {}, "f:name": {}, "f:value": {}}
                                }
                            }
                        }
                    }
                }
            }
        },
        time="2026-10-02T03:04:05Z",
    )
    found = fields.find(GIT, live(env, env=[{"name": "DEBUG", "value": "1"}]), JUDGE)
    assert [(f.describe(), f.kind, f.live) for f in found] == [
        ("spec.template.spec.containers[name=app].env[name=DEBUG]", "added", {"value": "1"})
    ]
    ident = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop"},
    }
    before, after = fields.sparse_pair(ident, found)
    assert after["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "env": [{"name": "DEBUG", "value": "1"}]}
    ]
    assert before["spec"]["template"]["spec"]["containers"] == [{"name": "app", "env": []}]


def test_a_value_a_person_set_back_to_gits_is_not_drift() -> None:
    edit = entry(
        "kubectl-edit",
        {
            "f:spec": {
                "f:template": {"f:spec": {"f:containers": {'k:{"name":"app"}': {"f:image": {}}}}}
            }
        },
        time="2026-10-02T03:04:05Z",
    )
    assert fields.find(GIT, live(edit, argo=taken(ARGO, IMAGE)), JUDGE) == []


def test_fields_a_gitops_controller_or_the_system_owns_are_not_drift() -> None:
    hpa = entry(
        "kube-controller-manager",
        {"f:spec": {"f:replicas": {}}},
        time="2026-10-02T03:04:05Z",
        sub="scale",
    )
    argo_only = dict(ARGO)
    found = fields.find(GIT, live(hpa, replicas=7, argo=taken(ARGO, REPLICAS)), JUDGE)
    assert found == []
    assert argo_only["manager"] == "argocd-controller"


def test_rollout_restart_is_an_operation_not_drift() -> None:
    restart = entry(
        "kubectl-rollout",
        {
            "f:spec": {
                "f:template": {
                    "f:metadata": {
                        "f:annotations": {".": {}, "f:kubectl.kubernetes.io/restartedAt": {}}
                    }
                }
            }
        },
        time="2026-10-02T03:04:05Z",
    )
    tmeta = {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-10-02T03:04:05Z"}}
    assert fields.find(GIT, live(restart, tmeta=tmeta), JUDGE) == []


def test_a_scale_by_hand_is_drift_and_quantities_compare_by_value() -> None:
    scale = entry(
        "kubectl-scale", {"f:spec": {"f:replicas": {}}}, time="2026-10-02T03:04:05Z", sub="scale"
    )
    found = fields.find(GIT, live(scale, replicas=5, argo=taken(ARGO, REPLICAS)), JUDGE)
    assert [(f.describe(), f.git, f.live, f.manager) for f in found] == [
        ("spec.replicas", 2, 5, "kubectl-scale")
    ]


def test_an_unknown_manager_counts_as_a_person_unless_configured() -> None:
    lens = entry(
        "lens-desktop", {"f:metadata": {"f:labels": {"f:team": {}}}}, time="2026-10-02T03:04:05Z"
    )
    obj = live(lens, labels={"team": "x"})
    assert [f.manager for f in fields.find(GIT, obj, JUDGE)] == ["lens-desktop"]
    quiet = fields.Judge.of(ManagerPolicy.from_settings(ScanManagerSettings(unknown="system")), ())
    assert fields.find(GIT, obj, quiet) == []


def test_a_field_git_sets_that_a_person_removed_is_reported_as_removed() -> None:
    edit = entry(
        "kubectl-edit",
        {
            "f:spec": {
                "f:template": {"f:spec": {"f:containers": {'k:{"name":"app"}': {"f:image": {}}}}}
            }
        },
        time="2026-10-02T03:04:05Z",
    )
    obj = live(edit)
    del obj["metadata"]["labels"]
    found = fields.find(GIT, obj, JUDGE)
    assert [(f.describe(), f.kind, f.git) for f in found] == [
        ("metadata.labels", "removed", {"app": "checkout"})
    ]


def test_without_git_only_what_a_person_added_counts() -> None:
    create = entry("kubectl-create", {"f:data": {".": {}, "f:a": {}}}, time="2026-10-02T03:04:05Z")
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "shop", "managedFields": [create]},
        "data": {"a": "1"},
    }
    found = fields.find(None, obj, JUDGE)
    assert [(f.describe(), f.kind, f.live) for f in found] == [("data.a", "added", "1")]

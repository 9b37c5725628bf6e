"""Secret values never survive capture: data, stringData, last-applied, secret-looking keys."""

from __future__ import annotations

import base64

from breakglass import model
from breakglass.capture import admission
from breakglass.capture.redact import Redactor
from tests import payloads as p

ENCODED = base64.b64encode(p.CANARY.encode()).decode()


def test_secret_edit_keeps_key_names_and_hides_values(policy, now):
    old = p.secret(value="old-value")
    new = p.secret(value=p.CANARY)
    new["stringData"] = {"api": p.CANARY}
    capture = admission.decide(
        p.review(operation="UPDATE", obj=new, old=old)["request"], policy=policy, now=now
    )
    assert isinstance(capture, model.Capture)
    text = repr(capture.to_json())
    assert p.CANARY not in text and ENCODED not in text
    assert "old-value" not in text
    assert "data.password" in capture.delta.paths
    assert "stringData.api" in capture.delta.paths
    assert capture.delta.after["data"]["password"].startswith("<redacted:")
    assert capture.delta.after["data"]["password"] != capture.delta.before["data"]["password"]


def test_same_value_gives_the_same_marker_and_no_change(policy, now):
    old = p.secret()
    new = p.secret()
    new["metadata"]["labels"] = {"rotated": "no"}
    capture = admission.decide(
        p.review(operation="UPDATE", obj=new, old=old)["request"], policy=policy, now=now
    )
    assert capture.delta.paths == ("metadata.labels.rotated",)


def test_markers_depend_on_the_salt():
    a = Redactor(salt=b"one").mark("x")
    b = Redactor(salt=b"two").mark("x")
    assert a != b and a.startswith("<redacted:") and "x" not in a[10:]


def test_secret_looking_env_and_configmap_keys(policy):
    obj = p.deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "STRIPE_API_TOKEN", "value": p.CANARY}
    )
    out = policy.redactor.object(obj, kind="Deployment")
    assert p.CANARY not in repr(out)
    assert obj["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] == p.CANARY
    cm = policy.redactor.object(
        p.configmap(data={"DB_PASSWORD": p.CANARY, "MODE": "x"}), kind="ConfigMap"
    )
    assert cm["data"]["MODE"] == "x"
    assert cm["data"]["DB_PASSWORD"].startswith("<redacted:")


def test_last_applied_of_a_secret_is_never_kept(policy, now):
    obj = p.secret()
    capture = admission.decide(
        p.review(operation="CREATE", obj=obj, old=None, field_manager="kubectl-client-side-apply")[
            "request"
        ],
        policy=policy,
        now=now,
    )
    assert ENCODED not in repr(capture.to_json())
    assert "last-applied-configuration" not in repr(capture.delta.after)

"""PR text and branch names stay safe whatever the cluster or the user sends."""

from __future__ import annotations

import dataclasses
import re
import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from breakglass import model, prtext
from breakglass.capture import admission
from breakglass.forge.git import safe_branch
from tests import payloads as p

SOURCE = prtext.Source(
    "https://git.example/gitops.git",
    "main",
    "apps/payments",
    "repo rule",
    ("apps/payments/deployment.yaml",),
)


def capture(policy, now, **actor_changes) -> model.Capture:
    old = p.deployment()
    new = p.edited(old, lambda d: d["spec"].update(replicas=6))
    new["metadata"]["annotations"]["breakglass.dev/reason"] = (
        "INC-1 <script>alert(1)</script> [click](https://evil.example) @everyone | x"
    )
    c = admission.decide(
        p.review(operation="UPDATE", obj=new, old=old)["request"], policy=policy, now=now
    )
    return dataclasses.replace(c, actor=dataclasses.replace(c.actor, **actor_changes))


def test_injection_through_username_and_reason_is_neutralised(policy, now):
    hostile = "mallory</td><img src=x onerror=alert(1)>\n# heading @admins `code`"
    c = capture(policy, now, username=hostile, groups=("ops|team", "<b>x</b>"))
    body = prtext.body(
        [c], cluster="prod", source=SOURCE, diff="-a\n+b", notes=[], chain_head=None, now=now
    )
    rows = [line for line in body.splitlines() if line.startswith("| ")]
    assert all(line.count(" | ") == 1 for line in rows[1:]), rows  # the table keeps its shape
    who = next(line for line in rows if line.startswith("| Who |"))
    assert "`` mallory</td><img src=x onerror=alert(1)> # heading @admins `code` ``" in who
    why = next(line for line in rows if line.startswith("| Why |"))
    assert "`INC-1 <script>alert(1)</script> [click](https://evil.example) @everyone \\| x`" in why
    assert "\n# heading" not in body
    title = prtext.title(c)
    assert "\n" not in title and len(title) <= 240


def test_code_spans_cannot_be_closed_early():
    text = "a ``` b ` c"
    span = prtext.code(text)
    fence = re.match(r"`+", span).group(0)
    assert len(fence) > 3 and span.endswith(fence)


def test_fenced_block_survives_backticks_in_the_diff():
    block = prtext.fenced("+ ```\n+ evil", "diff")
    assert block.startswith("````diff") and block.endswith("````")


def test_replicas_in_the_title(policy, now):
    old = p.deployment()
    new = p.edited(old, lambda d: d["spec"].update(replicas=6))
    c = admission.decide(
        p.review(operation="UPDATE", obj=new, old=old)["request"], policy=policy, now=now
    )
    assert prtext.title(c).endswith("by alice (2 → 6 replicas)")


def test_commit_message_carries_trailers(policy, now):
    c = capture(policy, now)
    message = prtext.commit_message(c, capture_ids=[c.id], chain_head="12:" + "a" * 64)
    assert f"Breakglass-Capture: {c.id}" in message
    assert "Breakglass-Audit-Head: 12:" in message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=6))
def test_branch_names_are_always_valid_and_contained(parts):
    name = safe_branch(*parts)
    assert len(name) <= 200
    assert ".." not in name and not name.startswith(("/", "-", "."))
    assert "//" not in name and not name.endswith((".lock", "/", "."))
    assert re.fullmatch(r"[A-Za-z0-9._/-]+", name)


def test_branch_names_git_accepts():
    for parts in (
        ("breakglass", "prod", "payments", "deployment", "checkout"),
        ("breakglass", "prod", "../../etc", "kind", "x" * 253),
        ("breakglass", "prød", "ünïcødé", "deployment", "名前"),
        ("breakglass", "c", "ns", "k", "name.lock"),
    ):
        name = safe_branch(*parts)
        check = subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], check=False)
        assert check.returncode == 0, name


def _decide(policy, now, old, new, manager):
    c = admission.decide(
        p.review(operation="UPDATE", obj=new, old=old, field_manager=manager)["request"],
        policy=policy,
        now=now,
    )
    assert isinstance(c, model.Capture)
    return c


def _container(**changes):
    return lambda d: d["spec"]["template"]["spec"]["containers"][0].update(**changes)


def test_the_kubectl_sub_command_is_named(policy, now):
    old = p.deployment()
    cases = [
        (_container(image="registry.example/checkout:2"), "kubectl-set", "kubectl set image"),
        (
            _container(env=[{"name": "LOG_LEVEL", "value": "debug"}]),
            "kubectl-set",
            "kubectl set env",
        ),
        (
            _container(resources={"limits": {"cpu": "2"}}),
            "kubectl-set",
            "kubectl set resources",
        ),
        (
            lambda d: d["spec"]["template"]["spec"].update(serviceAccountName="payments"),
            "kubectl-set",
            "kubectl set serviceaccount",
        ),
        (
            lambda d: d["spec"].update(replicas=3, paused=True),
            "kubectl-set",
            "kubectl set",  # two kinds of field: no one sub-command made it
        ),
        (
            _container(image="registry.example/checkout:1.4.1"),
            "kubectl-rollout",
            "kubectl rollout undo",
        ),
        (lambda d: d["spec"].update(paused=True), "kubectl-rollout", "kubectl rollout pause"),
    ]
    for mutate, manager, expected in cases:
        c = _decide(policy, now, old, p.edited(old, mutate), manager)
        assert prtext.how(c) == expected, (c.delta.paths, expected)
    paused = p.edited(old, lambda d: d["spec"].update(paused=True))
    resumed = _decide(policy, now, paused, old, "kubectl-rollout")
    assert prtext.how(resumed) == "kubectl rollout resume"


def test_a_cluster_scoped_object_has_no_namespace_slash(policy, now):
    ref = model.ObjectRef("", "v1", "namespaces", "Namespace", "", "payments")
    assert prtext.describe_object(ref) == "v1 Namespace payments"
    assert ref.describe() == "namespace payments"


def test_the_title_of_a_shared_pr_names_everyone(policy, now):
    old = p.deployment()
    first = _decide(policy, now, old, p.deployment(replicas=6), "kubectl-edit")
    again = _decide(policy, now, old, p.deployment(replicas=7), "kubectl-edit")
    assert prtext.pr_title([first, again]) == prtext.title(again)
    bob = dataclasses.replace(again, actor=dataclasses.replace(again.actor, username="bob"))
    assert prtext.pr_title([first, bob]) == (
        "breakglass: 2 manual changes (kubectl edit) of deployment payments/checkout by alice "
        "and bob"
    )


def test_a_change_in_a_session_says_which_and_why(policy, now):
    from datetime import timedelta

    c = capture(policy, now)
    labels = {k: v for k, v in c.labels.items() if k != prtext.REASON_ANNOTATION}
    c = dataclasses.replace(c, labels=labels, session="alice-inc-4242")
    session = model.Session(
        name="alice-inc-4242",
        owner="alice",
        reason="INC-4242 checkout 502s | <b>",
        opened_at=now - timedelta(minutes=5),
        expires_at=now + timedelta(minutes=25),
        members=("bob",),
    )
    body = prtext.body(
        [c], cluster="prod", source=SOURCE, diff="-a\n+b", notes=[], chain_head=None, now=now,
        sessions={session.name: session},
    )  # fmt: skip
    rows = [line for line in body.splitlines() if line.startswith("| ")]
    assert all(line.count(" | ") == 1 for line in rows[1:]), rows
    why = next(line for line in rows if line.startswith("| Why |"))
    assert "the break-glass session's reason" in why and "INC-4242" in why
    row = next(line for line in rows if line.startswith("| Session |"))
    assert "`alice-inc-4242` opened by `alice`, with `bob`" in row and "<b>" not in row

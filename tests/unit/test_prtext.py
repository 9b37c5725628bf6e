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

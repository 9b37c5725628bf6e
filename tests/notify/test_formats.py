"""The three payloads against each service's documented shape, built by pure functions."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from breakglass import model
from breakglass.auditlog import EventType
from breakglass.notify import cloudevents, events, slack, teams, text
from breakglass.notify.events import Notification
from tests.notify.conftest import (
    NOW,
    SECRET,
    capture,
    cloudevent_problems,
    session,
    slack_problems,
    teams_problems,
)


def every_kind() -> list[Notification]:
    """One notification of each kind, as the worker and sessions make them."""
    issue = "https://gitlab.example/acme/gitops/-/issues/3"
    made = [
        events.from_capture(capture(), EventType.PR_OPENED, now=NOW, id="1"),
        events.from_capture(
            capture(status=model.Status.MERGED), EventType.PR_MERGED, now=NOW, id="2"
        ),
        events.from_capture(
            capture(status=model.Status.CLOSED, reason="pull request closed"),
            EventType.PR_CLOSED,
            now=NOW,
            id="3",
        ),
        events.from_capture(
            capture(
                status=model.Status.CLOSED,
                reason="pull request closed; production is back at Git's value",
            ),
            EventType.PR_CLOSED,
            now=NOW,
            id="4",
        ),
        events.from_capture(
            capture(status=model.Status.FAILED, reason="cannot be expressed: x", pr_url=issue),
            EventType.FAILED,
            now=NOW,
            id="5",
        ),
        events.session_opened(session(), cluster="prod-eu-1", now=NOW, id="6"),
        events.session_closed(session(), cluster="prod-eu-1", now=NOW, id="7", ended="expired"),
    ]
    return [n for n in made if n is not None]


@pytest.mark.parametrize("n", every_kind(), ids=lambda n: n.kind.value)
def test_slack_blocks_are_valid_block_kit(n):
    payload = slack.payload(n)
    assert slack_problems(payload) == []
    assert payload["blocks"][0]["type"] == "header"
    assert payload["blocks"][-1]["type"] == "context"
    if n.url:
        [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
        [button] = actions["elements"]
        assert button["url"] == n.url
        assert button["text"]["text"] == ("Open issue" if n.is_issue else "Open pull request")
    assert text.title(n) in payload["text"]


@pytest.mark.parametrize("n", every_kind(), ids=lambda n: n.kind.value)
def test_teams_message_is_a_workflow_adaptive_card(n):
    payload = teams.payload(n)
    assert teams_problems(payload) == []
    [attachment] = payload["attachments"]
    card = attachment["content"]
    assert card["body"][0]["text"] == text.title(n)
    if n.url:
        assert card["actions"] == [
            {"type": "Action.OpenUrl", "title": text.link_label(n), "url": n.url}
        ]
    else:
        assert "actions" not in card


@pytest.mark.parametrize("n", every_kind(), ids=lambda n: n.kind.value)
def test_cloudevent_has_every_required_attribute_and_verifies(n):
    raw = cloudevents.body(n)
    stamp = int(time.time())
    headers = cloudevents.headers(SECRET, stamp, raw)
    assert cloudevent_problems(headers, raw, SECRET, now=time.time()) == []
    event = json.loads(raw)
    assert event["id"] == n.id
    assert event["source"] == "breakglass/prod-eu-1"
    assert event["type"] == cloudevents.TYPES[n.kind]
    assert event["type"].startswith("dev.breakglass.")
    assert event["data"]["event"] == n.kind.value
    assert cloudevents.verify(SECRET, headers, raw, now=stamp)
    assert not cloudevents.verify(b"another-key-0123456789", headers, raw, now=stamp)
    assert not cloudevents.verify(SECRET, headers, raw + b" ", now=stamp)
    assert not cloudevents.verify(SECRET, headers, raw, now=stamp + 301)  # replayed later


def test_cloudevent_subject_and_type_names():
    opened = every_kind()[0]
    event = cloudevents.event(opened)
    assert event["type"] == "dev.breakglass.pr.opened"
    assert event["subject"] == "Deployment/payments/checkout"
    assert event["time"] == "2026-11-26T02:14:07.000000Z"
    assert event["data"]["object"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "payments",
        "name": "checkout",
        "subresource": None,
    }
    opened_session = every_kind()[5]
    assert cloudevents.event(opened_session)["subject"] == "session/s-42"
    data = cloudevents.event(opened_session)["data"]["session"]
    assert data["id"] == "s-42" and data["user"] == "alice"
    assert data["scope"] == ["namespace payments", "deployments"]
    assert data["deadline"] == "2026-11-26T03:14:07.000000Z"


def test_the_signature_is_over_timestamp_dot_body():
    import hashlib
    import hmac

    raw = b'{"a":1}'
    expected = hmac.new(SECRET, b"1700000000." + raw, hashlib.sha256).hexdigest()
    assert cloudevents.signature(SECRET, 1700000000, raw) == f"sha256={expected}"


HOSTILE = "<!channel> & <https://evil.example|click> *bold* _it_ [x](https://evil.example) `c`"


def hostile() -> Notification:
    c = capture(user=HOSTILE, name="checkout", reason=f"pull request closed by {HOSTILE}")
    c = dataclasses.replace(c, status=model.Status.CLOSED)
    n = events.from_capture(c, EventType.PR_CLOSED, now=NOW, id="h")
    assert n is not None
    return n


def test_slack_escapes_what_comes_from_the_cluster():
    payload = slack.payload(hostile())
    assert slack_problems(payload) == []
    dumped = json.dumps(payload)
    assert "<!channel>" not in dumped and "<https://evil" not in dumped
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in dumped


def test_teams_escapes_markdown_from_the_cluster():
    card = teams.card(hostile())
    summary = card["body"][1]["text"]
    assert "\\[x\\](https://evil.example)" in summary
    assert "\\*bold\\*" in summary and "\\_it\\_" in summary


def test_slack_limits_hold_for_huge_values():
    long_name = "n" * 253
    c = capture(
        name=long_name,
        user="u&" * 3000,
        paths=tuple(f"data.key{i}" for i in range(500)),
        reason="cannot be expressed: " + "<&>" * 3000,
        status=model.Status.FAILED,
    )
    n = events.from_capture(c, EventType.FAILED, now=NOW, id="big")
    assert n is not None
    payload = slack.payload(n)
    assert slack_problems(payload) == []
    assert len(json.dumps(payload)) < 40_000
    assert len(n.paths) == events.MAX_PATHS and n.paths_total == 500
    assert "and 490 more" in text.paths(n)


def test_fit_never_cuts_an_entity():
    escaped = slack.escape("a" * 8 + "&&&&")
    cut = slack.fit(escaped, 12)
    assert len(cut) <= 12 and cut.endswith("…")
    assert "&am…" not in cut and not cut[:-1].endswith("&")


def test_a_link_that_is_not_a_web_address_is_text_not_a_button():
    c = capture(pr_url="/srv/gitops.git#pull/3")
    n = events.from_capture(c, EventType.PR_OPENED, now=NOW, id="local")
    assert n is not None
    payload = slack.payload(n)
    assert slack_problems(payload) == []
    assert "actions" not in [b["type"] for b in payload["blocks"]]
    assert "/srv/gitops.git#pull/3" in json.dumps(payload)
    card = teams.card(n)
    assert "actions" not in card
    assert ("Pull request", "/srv/gitops.git#pull/3") in text.facts(n)

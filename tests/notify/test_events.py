"""Which notification a capture's audit event makes, and what it carries."""

from __future__ import annotations

import pytest

from breakglass import driftstats, model
from breakglass.auditlog import EventType
from breakglass.notify import events
from breakglass.notify.events import Kind
from tests.notify.conftest import NOW, capture, session


def make(c: model.Capture, event: EventType, reason: str | None = None) -> events.Notification:
    found = events.from_capture(c, event, reason=reason, now=NOW, id="n-1")
    assert found is not None
    return found


def test_a_pull_request_opened_names_who_what_where_and_the_link():
    n = make(capture(), EventType.PR_OPENED)
    assert n.kind is Kind.PR_OPENED
    assert n.subject == "deployment payments/checkout"
    assert n.cluster == "prod-eu-1"
    assert n.users == ("alice",)
    assert n.url == "https://github.com/acme/gitops/pull/7"
    assert n.application == "Argo CD checkout"  # report.build.application
    assert n.paths == ("spec.replicas",) and n.paths_total == 1
    assert n.namespaces == ("payments",)


def test_merged_and_plain_closed():
    assert make(capture(status=model.Status.MERGED), EventType.PR_MERGED).kind is Kind.PR_MERGED
    closed = capture(status=model.Status.CLOSED, reason="pull request closed")
    n = make(closed, EventType.PR_CLOSED)
    assert n.kind is Kind.PR_CLOSED and n.state == "closed"


@pytest.mark.parametrize(
    ("status", "event", "reason"),
    [
        (
            model.Status.CLOSED,
            EventType.PR_CLOSED,
            "pull request closed; production is back at Git's value",
        ),
        (
            model.Status.SUPERSEDED,
            EventType.PR_SUPERSEDED,
            "nothing to change: the live object is back at Git's value",
        ),
    ],
)
def test_reverted_is_driftstats_outcome(status, event, reason):
    c = capture(status=status, reason=reason)
    assert driftstats.outcome(c) == "reverted"
    n = make(c, event)
    assert n.kind is Kind.REVERTED and n.state == "reverted"


def test_a_withdrawn_pull_request_is_closed_and_says_so():
    c = capture(status=model.Status.CLOSED, reason="withdrawn: alice reverted the change by hand")
    n = make(c, EventType.PR_CLOSED)
    assert n.kind is Kind.PR_CLOSED and n.state == "withdrawn"


def test_superseded_for_another_reason_is_no_news():
    c = capture(status=model.Status.SUPERSEDED, reason="nothing to change: Git already has this")
    assert events.from_capture(c, EventType.PR_SUPERSEDED, now=NOW, id="x") is None


def test_failed_is_needs_human_with_the_issue_and_its_state():
    issue = "https://github.com/acme/gitops/issues/9"
    c = capture(status=model.Status.FAILED, reason="cannot be expressed: a list", pr_url=issue)
    n = make(c, EventType.FAILED, reason=c.reason)
    assert n.kind is Kind.NEEDS_HUMAN and n.state == "needs_human"
    assert n.url == issue and n.is_issue
    other = capture(status=model.Status.FAILED, reason="gave up after 9 attempts", pr_url=None)
    assert make(other, EventType.FAILED).state == "failed"


@pytest.mark.parametrize(
    "event",
    [
        EventType.CAPTURE,
        EventType.CONFIRMATION,
        EventType.DISCARD,
        EventType.BRANCH_PUSHED,
        EventType.PR_UPDATED,
    ],
)
def test_other_events_make_no_notification(event):
    assert events.from_capture(capture(), event, now=NOW, id="x") is None


def test_a_drill_is_never_news():
    c = capture(status=model.Status.FAILED, classification=model.DRILL, source=model.Source.DRILL)
    assert events.from_capture(c, EventType.FAILED, now=NOW, id="x") is None


def test_reasons_lose_values_markers_and_length():
    reason = (
        "render check failed: kustomize build renders deployment payments/checkout "
        "differently: spec.replicas (the change wants 6, the render has 3); data.password "
        "<redacted:0123456789abcdef> " + "x" * 2000
    )
    cleaned = events.clean_reason(reason)
    assert cleaned is not None
    assert "the change wants" not in cleaned and " 6," not in cleaned
    assert "<redacted:" not in cleaned and "0123456789abcdef" not in cleaned
    assert "spec.replicas" in cleaned
    assert len(cleaned) <= events.MAX_REASON
    cut = events.clean_reason("a marker cut short <redacted:01234")
    assert cut == "a marker cut short (value hidden)"


def test_one_pull_request_is_one_message_key():
    a, b = capture(), capture(user="bob")
    assert make(a, EventType.PR_OPENED).key == make(b, EventType.PR_OPENED).key
    assert make(a, EventType.PR_OPENED).key != make(a, EventType.PR_MERGED).key


def test_a_revert_seen_while_the_pr_is_open():
    n = events.reverted_by_sync(capture(), "https://github.com/acme/gitops/pull/7", now=NOW, id="r")
    assert n.kind is Kind.REVERTED and n.state == "pr_open"
    assert "merging" in (n.reason or "")


def test_sessions_carry_id_reason_user_scope_deadline():
    s = session()
    opened = events.session_opened(s, cluster="prod-eu-1", now=NOW, id="o")
    assert opened.kind is Kind.SESSION_OPENED
    assert opened.subject == "session s-42"
    assert opened.users == ("alice",)
    assert opened.reason == "INC-1234: checkout pods crash-looping"
    assert opened.session is s and opened.namespaces == ("payments",)
    closed = events.session_closed(s, cluster="prod-eu-1", now=NOW, id="c", ended="expired")
    assert closed.kind is Kind.SESSION_CLOSED and closed.state == "expired"
    assert opened.key != closed.key

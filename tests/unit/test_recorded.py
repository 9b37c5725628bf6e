"""Replay what a real kube-apiserver sent (recorded by tests/e2e) through the capture functions.

Each fixture holds the AdmissionReviews and audit events one end-to-end test produced, and the
captures the running service recorded from them.  Deciding the same payloads here must give the
same captures: same operation, object, actor, changed paths and confirmation count.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breakglass import model
from breakglass.capture import admission, audit

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
FILES = sorted(RECORDED.glob("*.json"))


def test_fixtures_exist():
    assert len(FILES) >= 10, "run `make record-fixtures` to refresh tests/fixtures/recorded"


def summary(c: dict) -> tuple:
    return (
        c["source"],
        c["operation"],
        c["object"]["kind"],
        c["object"]["namespace"],
        c["object"]["name"],
        c["object"]["subresource"],
        c["actor"]["username"],
        tuple(c["delta"]["paths"]),
        c["classification"],
    )


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_replay_gives_the_recorded_captures(path, policy, now):
    data = json.loads(path.read_text())
    decided = []
    for review in data["admission_reviews"]:
        result = admission.decide(review["request"], policy=policy, now=now)
        if isinstance(result, model.Capture):
            decided.append(result.to_json())
    confirmations = 0
    for event in data["audit_events"]["items"]:
        result = audit.decide(event, policy=policy, now=now)
        if isinstance(result, audit.AuditCapture):
            decided.append(result.capture.to_json())
        elif isinstance(result, audit.Confirmation):
            confirmations += 1
    expected = data["expected_captures"]
    assert sorted(map(summary, decided)) == sorted(map(summary, expected))
    confirmed = [c for c in expected if c["source"] == "admission" and c["audit_id"]]
    assert confirmations == len(confirmed)

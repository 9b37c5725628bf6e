"""Property tests: the capture decisions take any JSON and answer with a value or ``Unusable``.

The webhook allows every request whatever happens, but a decision that raises anything other
than ``Unusable`` is a bug: it loses the capture, or (in an audit batch) can make the journal
refuse the whole batch.  So beyond "no exception", every value returned must also be storable:
the journal's JSON encoding and the audit log record both have to accept it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import given
from hypothesis import strategies as st

from breakglass import model, settings
from breakglass.auditlog import EventType, from_capture, records
from breakglass.capture import admission, audit
from breakglass.capture.admission import Skip
from breakglass.capture.fields import Unusable
from breakglass.capture.redact import Redactor
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ

NOW = datetime(2026, 11, 26, 2, 14, 7, tzinfo=UTC)
POLICY = admission.Policy(
    cluster="prod-eu",
    actors=settings.ActorSettings(),
    redactor=Redactor(salt=b"fuzz-salt", key_patterns=("*_TOKEN", "*_PASSWORD")),
    record_only=settings.DEFAULT_RECORD_ONLY,
)


def storable(capture: model.Capture) -> None:
    encoded = orjson.dumps(capture.to_json())
    assert model.Capture.from_json(orjson.loads(encoded)).id == capture.id
    record = records.seal(
        from_capture(capture, EventType.CAPTURE), seq=1, time=NOW, prev=records.GENESIS, key=b"k"
    )
    records.line(record).decode("utf-8")


@FUZZ
@given(request=s.json_values)
def test_admission_decide_on_any_json(request):
    try:
        result = admission.decide(request, policy=POLICY, now=NOW)
    except Unusable:
        return
    assert isinstance(result, model.Capture | Skip)


@FUZZ
@given(request=s.mutated(s.admission_bases(), s.ADMISSION_EXTRA))
def test_admission_decide_on_mutated_reviews(request):
    try:
        result = admission.decide(request, policy=POLICY, now=NOW)
    except Unusable:
        return
    assert isinstance(result, model.Capture | Skip)
    if isinstance(result, model.Capture):
        storable(result)


@FUZZ
@given(event=s.json_values)
def test_audit_decide_on_any_json(event):
    try:
        result = audit.decide(event, policy=POLICY, now=NOW)
    except Unusable:
        return
    assert isinstance(result, audit.Confirmation | audit.AuditCapture | Skip)


@FUZZ
@given(event=s.mutated(s.audit_bases(), s.AUDIT_EXTRA))
def test_audit_decide_on_mutated_events(event):
    try:
        result = audit.decide(event, policy=POLICY, now=NOW)
    except Unusable:
        return
    assert isinstance(result, audit.Confirmation | audit.AuditCapture | Skip)
    if isinstance(result, audit.AuditCapture):
        storable(result.capture)
    if isinstance(result, audit.Confirmation):
        model.format_time(result.at)
        orjson.dumps(result.patch)


@FUZZ
@given(
    stamp=s.timestamps,
    uri=s.uris,
)
def test_audit_decide_on_hostile_times_and_uris(stamp, uri):
    event = s.audit_bases()[2]
    event["requestReceivedTimestamp"] = stamp
    event["stageTimestamp"] = stamp
    event["requestURI"] = uri
    try:
        result = audit.decide(event, policy=POLICY, now=NOW)
    except Unusable:
        return
    if isinstance(result, audit.AuditCapture):
        storable(result.capture)


@FUZZ
@given(value=st.text(min_size=1, max_size=40))
def test_a_secret_value_never_survives_capture(value):
    secret_value = "canary:" + value
    from tests import payloads as p

    old = p.secret(value="old-value-xyz")
    new = p.secret(value=secret_value)
    new["stringData"] = {"token": secret_value}
    review = p.review(operation="UPDATE", obj=new, old=old)
    capture = admission.decide(review["request"], policy=POLICY, now=NOW)
    assert isinstance(capture, model.Capture)
    blob = orjson.dumps(capture.to_json()).decode()
    record = records.line(
        records.seal(
            from_capture(capture, EventType.CAPTURE),
            seq=1,
            time=NOW,
            prev=records.GENESIS,
            key=b"k",
        )
    ).decode()
    assert orjson.dumps(secret_value).decode()[1:-1] not in blob
    assert secret_value not in record

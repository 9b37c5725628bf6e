"""Replay mode: what a real kube-apiserver sent, sent again over HTTPS to the demo's breakglass.

``tests/fixtures/recorded/`` holds AdmissionReviews and audit EventLists that the end-to-end
suite recorded from a real API server while kubectl ran as alice.  Replaying one means: give the
review a fresh uid, re-target it at the demo's namespace, POST it to ``/validate`` as the API
server would, take the capture id from the answer's ``auditAnnotations``, put it into the audit
event the way the API server does (``capture.breakglass.dev/capture-id``), and POST the
EventList to ``/audit`` with the bearer token.  Nothing about breakglass is faked: only the API
server is a recording.
"""

from __future__ import annotations

import copy
import json
import ssl
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "recorded"
CAPTURE_ANNOTATION = "capture.breakglass.dev/capture-id"


class ReplayUnavailable(RuntimeError):
    """The recorded payloads are not here (breakglass installed from a wheel, not a clone)."""


@dataclass(frozen=True)
class Answer:
    """What ``/validate`` said: the warnings kubectl would print, and the capture id."""

    warnings: tuple[str, ...]
    capture_id: str | None


def load(stem: str, directory: Path = RECORDED) -> dict[str, Any]:
    path = directory / f"{stem}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReplayUnavailable(
            f"recorded payload {path} is missing; replay mode runs from a source checkout"
        ) from exc
    return data


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def retarget(value: Any, *, old: str, new: str) -> Any:
    """A copy with namespace ``old`` replaced by ``new`` in namespace fields and request URIs."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if key == "namespace" and item == old:
                out[key] = new
            elif key == "requestURI" and isinstance(item, str):
                out[key] = item.replace(f"/namespaces/{old}/", f"/namespaces/{new}/")
            else:
                out[key] = retarget(item, old=old, new=new)
        return out
    if isinstance(value, list):
        return [retarget(item, old=old, new=new) for item in value]
    return value


class Client:
    """POSTs to breakglass over HTTPS, verifying its certificate against the demo CA."""

    def __init__(self, base_url: str, *, ca_file: Path, audit_token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.audit_token = audit_token

    def post(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - https to our own server
            self.base_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        with urllib.request.urlopen(request, context=self.context, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read() or b"null")


def replay(client: Client, recorded: Mapping[str, Any], *, namespace: str) -> list[Answer]:
    """Send one recording's reviews, then its audit events; return what ``/validate`` said."""
    answers: list[Answer] = []
    for review in recorded["admission_reviews"]:
        old = review["request"].get("namespace") or namespace
        body = retarget(copy.deepcopy(review), old=old, new=namespace)
        body["request"]["uid"] = str(uuid.uuid4())
        response = client.post("/validate", body)["response"]
        capture_id = (response.get("auditAnnotations") or {}).get("capture-id")
        answers.append(Answer(tuple(response.get("warnings") or ()), capture_id))
    fresh = iter(a.capture_id for a in answers if a.capture_id)
    events = []
    for event in recorded["audit_events"]["items"]:
        old = (event.get("objectRef") or {}).get("namespace") or namespace
        item = retarget(copy.deepcopy(event), old=old, new=namespace)
        item["auditID"] = str(uuid.uuid4())
        item["requestReceivedTimestamp"] = item["stageTimestamp"] = _now()
        annotations = item.get("annotations") or {}
        if CAPTURE_ANNOTATION in annotations:
            # The API server copies the webhook's auditAnnotations into the event.
            annotations[CAPTURE_ANNOTATION] = next(fresh, annotations[CAPTURE_ANNOTATION])
        events.append(item)
    client.post(
        "/audit",
        {"apiVersion": "audit.k8s.io/v1", "kind": "EventList", "items": events},
        headers={"Authorization": f"Bearer {client.audit_token}"},
    )
    return answers

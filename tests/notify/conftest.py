"""Made-up captures and sessions, and HTTP fakes of Slack, Teams and a CloudEvents receiver.

Each fake is an aiohttp test server that checks what it receives against the service's
documented shape (``problems``: Block Kit blocks and limits; the Teams workflow envelope with
its Adaptive Card; CloudEvents 1.0 structured mode with a valid HMAC signature) and answers
as scripted: a status, headers, or no answer at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from breakglass import model, settings
from breakglass.metrics import Metrics
from breakglass.notify.destinations import Destination
from breakglass.notify.events import Session
from breakglass.notify.notifier import Notifier

# the backfill suite's GitOps repository (payments: a Deployment, a ConfigMap), for the
# worker's notifications
from tests.backfill.conftest import remote

NOW = datetime(2026, 11, 26, 2, 14, 7, tzinfo=UTC)
SECRET = b"receiver-key-0123456789abcdef"
ARGO = "argocd.argoproj.io/tracking-id"


def capture(
    *,
    status: model.Status = model.Status.PR_OPEN,
    kind: str = "Deployment",
    namespace: str = "payments",
    name: str = "checkout",
    user: str = "alice",
    reason: str | None = None,
    pr_url: str | None = "https://github.com/acme/gitops/pull/7",
    paths: tuple[str, ...] = ("spec.replicas",),
    labels: dict[str, str] | None = None,
    source: model.Source = model.Source.ADMISSION,
    classification: str = "drift",
    before: Any = None,
    after: Any = None,
) -> model.Capture:
    resource = kind.lower() + "s"
    group, version = ("apps", "v1") if kind == "Deployment" else ("", "v1")
    return model.Capture(
        id=model.new_capture_id(NOW.timestamp()),
        cluster="prod-eu-1",
        source=source,
        status=status,
        operation=model.Operation.UPDATE,
        object=model.ObjectRef(group, version, resource, kind, namespace, name),
        actor=model.Actor(username=user, groups=("oncall",)),
        delta=model.Delta(
            before=before or {"spec": {"replicas": 2}},
            after=after or {"spec": {"replicas": 6}},
            paths=paths,
        ),
        received_at=NOW - timedelta(minutes=5),
        reason=reason,
        pr_url=pr_url,
        labels=labels
        if labels is not None
        else {ARGO: "checkout:apps/Deployment:payments/checkout"},
        classification=classification,
    )


def session(**changes: Any) -> Session:
    values: dict[str, Any] = {
        "id": "s-42",
        "reason": "INC-1234: checkout pods crash-looping",
        "user": "alice",
        "scope": ("namespace payments", "deployments"),
        "deadline": NOW + timedelta(hours=1),
        "namespaces": ("payments",),
    }
    values.update(changes)
    return Session(**values)


# -- the documented shapes ---------------------------------------------------------------------

_SLACK_TEXT_TYPES = {"plain_text", "mrkdwn"}


def _slack_text(obj: Any, where: str, limit: int, kinds: set[str]) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"{where}: a text object of type {sorted(kinds)}"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}.text: a non-empty string"]
    found = []
    if len(text) > limit:
        found.append(f"{where}.text: {len(text)} characters, at most {limit}")
    if obj["type"] == "mrkdwn":
        # escaped: no raw control characters, every & an entity
        if "<" in text or ">" in text:
            found.append(f"{where}.text: an unescaped < or >")
        if re.search(r"&(?!amp;|lt;|gt;)", text):
            found.append(f"{where}.text: an unescaped &")
    return found


def slack_problems(payload: Any) -> list[str]:
    """What in ``payload`` Slack's incoming webhooks would refuse or Block Kit forbids."""
    if not isinstance(payload, dict):
        return ["not a JSON object"]
    found: list[str] = []
    fallback = payload.get("text")
    if not isinstance(fallback, str) or not fallback:
        found.append("text: a fallback text is required with blocks")
    elif "<" in fallback or ">" in fallback:
        found.append("text: an unescaped < or >")
    blocks = payload.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return [*found, "blocks: a list of 1 to 50 blocks"]
    for number, block in enumerate(blocks):
        where = f"blocks[{number}]"
        kind = block.get("type")
        if kind == "header":
            found += _slack_text(block.get("text"), where, 150, {"plain_text"})
            found += [
                f"{where}: unknown key {k}" for k in block if k not in {"type", "text", "block_id"}
            ]
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                found.append(f"{where}: text or fields")
            if "text" in block:
                found += _slack_text(block["text"], where, 3000, _SLACK_TEXT_TYPES)
            fields = block.get("fields", [])
            if len(fields) > 10:
                found.append(f"{where}.fields: at most 10")
            for i, item in enumerate(fields):
                found += _slack_text(item, f"{where}.fields[{i}]", 2000, _SLACK_TEXT_TYPES)
            found += [
                f"{where}: unknown key {k}"
                for k in block
                if k not in {"type", "text", "fields", "block_id", "accessory"}
            ]
        elif kind == "context":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 10:
                found.append(f"{where}.elements: 1 to 10")
            for i, item in enumerate(elements):
                found += _slack_text(item, f"{where}.elements[{i}]", 3000, _SLACK_TEXT_TYPES)
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 25:
                found.append(f"{where}.elements: 1 to 25")
            for i, item in enumerate(elements):
                at = f"{where}.elements[{i}]"
                if item.get("type") != "button":
                    found.append(f"{at}: a button")
                    continue
                found += _slack_text(item.get("text"), at, 75, {"plain_text"})
                url = item.get("url", "")
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    found.append(f"{at}.url: an http(s) URL")
                elif len(url) > 3000:
                    found.append(f"{at}.url: at most 3000 characters")
                if len(item.get("action_id", "")) > 255:
                    found.append(f"{at}.action_id: at most 255 characters")
        elif kind != "divider":
            found.append(f"{where}: unknown block type {kind!r}")
    return found


def teams_problems(payload: Any) -> list[str]:
    """What a Teams workflow ("Post to a channel when a webhook request is received") would not
    post: the message envelope with one Adaptive Card attachment."""
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return ["type: message"]
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["attachments: one attachment"]
    attachment = attachments[0]
    found: list[str] = []
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        found.append("contentType: application/vnd.microsoft.card.adaptive")
    if "contentUrl" not in attachment or attachment["contentUrl"] is not None:
        found.append("contentUrl: null")
    card = attachment.get("content", {})
    if card.get("type") != "AdaptiveCard":
        found.append("content.type: AdaptiveCard")
    if card.get("$schema") != "http://adaptivecards.io/schemas/adaptive-card.json":
        found.append("content.$schema")
    if card.get("version") != "1.4":
        found.append("content.version: 1.4")
    for number, element in enumerate(card.get("body", [])):
        kind = element.get("type")
        if kind == "TextBlock":
            if not isinstance(element.get("text"), str) or not element["text"]:
                found.append(f"body[{number}].text")
        elif kind == "FactSet":
            for fact in element.get("facts", []):
                if not isinstance(fact.get("title"), str) or not isinstance(fact.get("value"), str):
                    found.append(f"body[{number}].facts: title and value strings")
        else:
            found.append(f"body[{number}]: unexpected element {kind!r}")
    for number, action in enumerate(card.get("actions", [])):
        if action.get("type") != "Action.OpenUrl" or not str(action.get("url", "")).startswith(
            ("http://", "https://")
        ):
            found.append(f"actions[{number}]: Action.OpenUrl with a URL")
        if not action.get("title"):
            found.append(f"actions[{number}].title")
    return found


_ATTRIBUTE = re.compile(r"^[a-z0-9]{1,20}$")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def cloudevent_problems(headers: Any, raw: bytes, secret: bytes, *, now: float) -> list[str]:
    """CloudEvents 1.0 structured mode, and the signature checked as a receiver would."""
    found: list[str] = []
    if headers.get("Content-Type", "").split(";")[0] != "application/cloudevents+json":
        found.append("Content-Type: application/cloudevents+json")
    stamp = headers.get("X-Breakglass-Timestamp", "")
    given = headers.get("X-Breakglass-Signature", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > 300:
        found.append("X-Breakglass-Timestamp: a recent Unix time")
    else:
        expected = hmac.new(secret, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given, f"sha256={expected}"):
            found.append("X-Breakglass-Signature: does not verify")
    try:
        event = json.loads(raw)
    except ValueError:
        return [*found, "body: JSON"]
    for name in ("specversion", "id", "source", "type"):
        if not isinstance(event.get(name), str) or not event[name]:
            found.append(f"{name}: required, a non-empty string")
    if event.get("specversion") != "1.0":
        found.append("specversion: 1.0")
    if not _RFC3339.match(str(event.get("time", ""))):
        found.append("time: RFC 3339")
    if event.get("datacontenttype") != "application/json" or not isinstance(
        event.get("data"), dict
    ):
        found.append("datacontenttype application/json with an object as data")
    if not isinstance(event.get("subject"), str) or not event["subject"]:
        found.append("subject: a non-empty string")
    found += [f"{name}: attribute names are a-z0-9" for name in event if not _ATTRIBUTE.match(name)]
    return found


# -- the fakes -----------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """One destination's endpoint: records every request, checks its shape, answers as
    ``script`` says (each item: a status, ``(status, headers)`` or ``"hang"``; then 200)."""

    kind: str
    secret: bytes | None = None
    script: list[Any] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    #: set when the test ends: a hung answer is let go, so the server closes at once
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self, got: Received) -> list[str]:
        if self.kind == "webhook":
            assert self.secret is not None
            return cloudevent_problems(got.headers, got.body, self.secret, now=time.time())
        payload = got.json()
        return slack_problems(payload) if self.kind == "slack" else teams_problems(payload)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        got = Received(dict(request.headers), await request.read(), time.monotonic())
        self.requests.append(got)
        self.arrived.set()
        step = self.script.pop(0) if self.script else 200
        if step == "hang":
            await self.release.wait()
        status, headers = step if isinstance(step, tuple) else (step, {})
        problems = self.check(got)
        self.problems.extend(problems)
        if problems:
            return web.Response(status=400, text="invalid_payload")
        return web.Response(status=status, headers=headers, text="ok")

    @property
    def delivered(self) -> list[Received]:
        return self.requests

    def destination(self, name: str | None = None, **changes: Any) -> Destination:
        values: dict[str, Any] = {
            "name": name or self.kind,
            "kind": self.kind,
            "url": self.url,
            "secret": self.secret,
            "events": settings.NOTIFICATION_EVENTS,
        }
        values.update(changes)
        return Destination(**values)


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    """``await make(kind, secret=..., script=[...])``: a running fake and its URL."""
    servers: list[TestServer] = []
    made: list[Receiver] = []

    async def make(kind: str, **kw: Any) -> Receiver:
        if kind == "webhook":
            kw.setdefault("secret", SECRET)
        receiver = Receiver(kind, **kw)
        app = web.Application()
        app.router.add_post("/hook/{token}", receiver.handle)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        made.append(receiver)
        receiver.url = str(server.make_url("/hook/T0KEN-in-the-url"))
        return receiver

    yield make
    for receiver in made:
        receiver.release.set()
    for server in servers:
        await server.close()


def notification_settings(**changes: Any) -> settings.NotificationSettings:
    values: dict[str, Any] = {
        "max_attempts": 4,
        "give_up_seconds": 30.0,
        "timeout_seconds": 2.0,
        "drain_seconds": 1.0,
    }
    values.update(changes)
    return settings.NotificationSettings(**values)


def notifier(
    destinations: list[Destination], metrics: Metrics | None = None, **changes: Any
) -> Notifier:
    """A notifier whose backoff waits nothing (``jitter`` 0), unless a Retry-After asks."""
    return Notifier(
        destinations,
        settings=notification_settings(**changes),
        metrics=metrics or Metrics(),
        cluster="prod-eu-1",
        jitter=lambda: 0.0,
        clock=lambda: datetime.now(UTC),
    )


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


__all__ = ["remote"]

"""A recording TLS proxy between the API server and breakglass.

The API server's webhook and audit backend talk to this proxy, which forwards every request to
breakglass unchanged and keeps a copy of each body, grouped by the namespace it concerns.  With
``BREAKGLASS_RECORD=1`` the end-to-end tests write what their namespace saw into
``tests/fixtures/recorded/`` after normalising volatile fields and redacting Secret values, so
unit tests can replay what a real API server sends (``make record-fixtures`` refreshes them).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import re
import ssl
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"

_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME_KEYS = {
    "creationTimestamp",
    "time",
    "requestReceivedTimestamp",
    "stageTimestamp",
    "lastUpdateTime",
    "lastTransitionTime",
}


class Recorder:
    """Runs the proxy on its own event loop thread; ``by_namespace`` holds what it saw."""

    def __init__(self, *, port: int, upstream: str, cert: Path, key: Path, ca: Path) -> None:
        self.port = port
        self.upstream = upstream
        self.cert, self.key, self.ca = cert, key, ca
        self.by_namespace: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("recording proxy did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(self.cert, self.key)
        client_ctx = ssl.create_default_context(cafile=str(self.ca))
        app = web.Application(client_max_size=4 * 1024 * 1024)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx))

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            self._keep(request.path, body)
            headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() in ("authorization", "content-type")
            }
            async with session.post(
                f"{self.upstream}{request.path_qs}", data=body, headers=headers
            ) as resp:
                data = await resp.read()
                return web.Response(
                    body=data,
                    status=resp.status,
                    content_type=resp.content_type or "application/json",
                )

        app.router.add_post("/validate", forward)
        app.router.add_post("/audit", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=server_ctx).start()
        self._ready.set()
        await self._stop.wait()
        await session.close()
        await runner.cleanup()

    def _keep(self, path: str, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            return
        with self._lock:
            if path == "/validate":
                ns = (payload.get("request") or {}).get("namespace") or ""
                self.by_namespace[ns].append(("admission", payload))
            else:
                for event in payload.get("items") or []:
                    ns = (event.get("objectRef") or {}).get("namespace") or ""
                    self.by_namespace[ns].append(("audit", event))

    def seen(self, namespace: str) -> list[tuple[str, Any]]:
        with self._lock:
            return list(self.by_namespace.get(namespace, []))

    def save(self, namespace: str, name: str, expected: list[dict[str, Any]]) -> Path:
        """Write what ``namespace`` saw, normalised, as ``recorded/<name>.json``."""
        items = self.seen(namespace)
        uids: dict[str, str] = {}
        reviews = [normalise(p, namespace, uids) for kind, p in items if kind == "admission"]
        events = [normalise(e, namespace, uids) for kind, e in items if kind == "audit"]
        RECORDED.mkdir(parents=True, exist_ok=True)
        path = RECORDED / f"{name}.json"
        path.write_text(
            json.dumps(
                {
                    "description": f"recorded from kube-apiserver by tests/e2e ({name})",
                    "admission_reviews": reviews,
                    "audit_events": {
                        "kind": "EventList",
                        "apiVersion": "audit.k8s.io/v1",
                        "items": events,
                    },
                    "expected_captures": [normalise(c, namespace, uids) for c in expected],
                },
                indent=1,
                sort_keys=True,
            )
            + "\n"
        )
        return path


def normalise(value: Any, namespace: str, uids: dict[str, str]) -> Any:
    """Stable fixtures: fixed namespace, numbered uids, fixed times and versions, no Secret
    values.  ``uids`` maps each real UUID to its stand-in, shared across one file."""
    out = copy.deepcopy(value)
    _redact_secrets(out)
    return _walk(out, namespace, uids)


def _redact_secrets(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("kind") == "Secret":
            for section in ("data", "stringData"):
                if isinstance(node.get(section), dict):
                    node[section] = {k: _stand_in(v) for k, v in node[section].items()}
            ann = (node.get("metadata") or {}).get("annotations") or {}
            if "kubectl.kubernetes.io/last-applied-configuration" in ann:
                ann["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
        for sub in node.values():
            _redact_secrets(sub)
    elif isinstance(node, list):
        for sub in node:
            _redact_secrets(sub)


def _stand_in(value: Any) -> str:
    """A base64 stand-in that differs when the value differs and reveals nothing of it."""
    digest = hashlib.sha256(str(value).encode()).hexdigest()[:12]
    return base64.b64encode(f"redacted-{digest}".encode()).decode()


def _walk(node: Any, namespace: str, uids: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, sub in node.items():
            if key in _TIME_KEYS and isinstance(sub, str):
                out[key] = "2026-11-26T02:14:07.000000Z"
            elif key == "resourceVersion" and isinstance(sub, str):
                out[key] = "1000"
            else:
                out[key] = _walk(sub, namespace, uids)
        return out
    if isinstance(node, list):
        return [_walk(sub, namespace, uids) for sub in node]
    if isinstance(node, str):
        text = node.replace(namespace, "payments")
        return _UID.sub(
            lambda m: uids.setdefault(m.group(0), f"00000000-0000-4000-8000-{len(uids):012d}"),
            text,
        )
    return node

"""HTTP-level fakes of GitHub and GitLab that the real SDKs talk to unmodified.

Each fake is a small aiohttp server (``FakeServer``) with in-memory state that tests inspect,
backed by a real bare Git repository (``gitrepo.BareRepo``).  What is shared lives here:

- the request log (``FakeServer.requests``: method, path, query, arrival time, status) for
  counting API calls and checking that nothing arrived inside a ``Retry-After`` window;
- fault injection (``FakeServer.inject``): the next N requests matching a method and a path
  regex answer with a given status/body/headers, or are delayed;
- running the server on a free loopback port, either on the test's event loop
  (``await fake.start()``) or on a background thread for synchronous callers
  (``fake.start_in_thread()``).

``github.FakeGitHub`` and ``gitlab.FakeGitLab`` add the REST endpoints and the human actions
(merge, close) on top.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    time: float  # time.time() at arrival
    status: int = 0
    injected: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status}"


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with ``status`` (or just delay them)."""

    path: re.Pattern[str]
    method: str | None = None
    times: int = 1
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    latency: float = 0.0
    # Computes headers at answer time (e.g. a reset timestamp relative to now).
    dynamic_headers: Callable[[], dict[str, str]] | None = None
    # Handle the request, then hold the answer this long (the write happened; the caller has
    # not heard of it yet: a crash now is "after the write, before its result was kept").
    hold_answer: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.times <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path.search(path) is not None


class FakeServer:
    """Routing, request log, fault injection and lifecycle shared by the forge fakes."""

    def __init__(self) -> None:
        self.requests: list[Call] = []
        self.faults: list[Fault] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self.origin = ""

    # ----------------------------------------------------------------- routing

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def authorized(self, request: web.Request) -> bool:
        return True

    def unauthorized(self) -> web.Response:
        return json_response({"message": "Bad credentials"}, status=401)

    def not_found(self) -> web.Response:
        return json_response({"message": "Not Found"}, status=404)

    def decorate(self, response: web.StreamResponse) -> None:
        """Headers every answer carries (rate-limit counters)."""

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path.split("?", 1)[0]
        call = Call(request.method, path, dict(request.query), time.time())
        self.requests.append(call)
        fault = next((f for f in self.faults if f.matches(request.method, path)), None)
        if fault is not None:
            fault.times -= 1
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.status is not None:
                headers = dict(fault.headers)
                if fault.dynamic_headers is not None:
                    headers |= fault.dynamic_headers()
                if isinstance(fault.body, str):
                    injected = web.Response(text=fault.body, status=fault.status, headers=headers)
                else:
                    injected = json_response(fault.body, status=fault.status, headers=headers)
                call.status, call.injected = fault.status, True
                return injected
        response: web.StreamResponse
        if not self.authorized(request):
            response = self.unauthorized()
        else:
            response = self.not_found()
            allowed = False
            for method, pattern, handler in self._routes:
                m = pattern.match(path)
                if m is None:
                    continue
                allowed = True
                if method == request.method:
                    response = await handler(request, m.groupdict())
                    break
            else:
                if allowed:
                    response = json_response({"message": "Method Not Allowed"}, status=405)
        self.decorate(response)
        call.status = response.status
        if fault is not None and fault.hold_answer:
            await asyncio.sleep(fault.hold_answer)
        return response

    # ----------------------------------------------------------- fault injection

    def inject(
        self,
        path: str,
        *,
        method: str | None = None,
        status: int | None = None,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
        latency: float = 0.0,
        dynamic_headers: Callable[[], dict[str, str]] | None = None,
    ) -> Fault:
        """The next ``times`` requests whose path matches the regex ``path`` get this answer."""
        fault = Fault(
            re.compile(path), method, times, status, body, dict(headers or {}), latency,
            dynamic_headers,
        )  # fmt: skip
        self.faults.append(fault)
        return fault

    def hold_answer(
        self, path: str, seconds: float, *, method: str | None = None, times: int = 1
    ) -> Fault:
        """Do the next ``times`` matching requests, then answer each ``seconds`` later."""
        fault = self.inject(path, method=method, times=times)
        fault.hold_answer = seconds
        return fault

    def slow(
        self, path: str, seconds: float, *, method: str | None = None, times: int = 1
    ) -> Fault:
        return self.inject(path, method=method, latency=seconds, times=times)

    def server_error(
        self, path: str, *, method: str | None = None, status: int = 502, times: int = 1
    ) -> Fault:
        return self.inject(
            path, method=method, status=status, times=times, body={"message": "Server Error"}
        )

    # ------------------------------------------------------------- request log

    def calls(self, method: str | None = None, path: str | None = None) -> list[Call]:
        """Requests received, optionally filtered by method and a path regex."""
        pattern = re.compile(path) if path else None
        return [
            c
            for c in self.requests
            if (method is None or c.method == method.upper())
            and (pattern is None or pattern.search(c.path))
        ]

    def reset_log(self) -> None:
        self.requests.clear()

    # --------------------------------------------------------------- lifecycle

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on the running loop; returns the origin (``http://127.0.0.1:PORT``)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1]
        self.origin = f"http://{host}:{bound}"
        return self.origin

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve from a background thread with its own loop (for synchronous callers)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port))
            except BaseException as exc:  # pragma: no cover - surfaced to the caller
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread_loop = loop
        self._thread = threading.Thread(target=run, name="fake-forge", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise failure[0]
        return self.origin

    def stop_thread(self) -> None:
        if self._thread is None or self._thread_loop is None:
            return
        self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
        self._thread.join(10)
        self._thread = None
        self._thread_loop = None


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=json.dumps(data),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def read_json(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw:
        return {}
    if request.content_type == "application/x-www-form-urlencoded":
        return dict((await request.post()).items())
    return json.loads(raw)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))

"""The HTML report in a real browser: Debian's Chromium, headless, driven over the DevTools
protocol. The page loads from a file with no console error, no failed request and no request
at all beyond itself, and its charts and tables are there."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from breakglass.report import build, write
from tests.unit.test_report import CAPTURES, CONF

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("BREAKGLASS_E2E") == "required":
            pytest.fail(
                "BREAKGLASS_E2E=required but chromium is not installed (apt-get install chromium)"
            )
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def inspect(page: Path, port: int) -> dict[str, Any]:
    """Open ``page`` in the browser listening on ``port``; what the console said, which
    requests were made, and what the DOM holds."""
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 30
        while True:
            try:
                async with http.put(f"http://127.0.0.1:{port}/json/new?about:blank") as resp:
                    target = await resp.json(content_type=None)
                break
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            counter = 0
            events: list[dict[str, Any]] = []

            async def call(method: str, **params: Any) -> dict[str, Any]:
                nonlocal counter
                counter += 1
                await ws.send_json({"id": counter, "method": method, "params": params})
                while True:
                    message = await ws.receive_json(timeout=30)
                    if message.get("id") == counter:
                        return dict(message.get("result") or {})
                    events.append(message)

            for domain in ("Runtime", "Log", "Network", "Page"):
                await call(f"{domain}.enable")
            await call("Page.navigate", url=page.as_uri())
            end = time.monotonic() + 10
            while not any(e.get("method") == "Page.loadEventFired" for e in events):
                if time.monotonic() > end:
                    raise AssertionError("the page never finished loading")
                events.append(await ws.receive_json(timeout=10))
            probe = await call(
                "Runtime.evaluate",
                returnByValue=True,
                expression="""JSON.stringify({
                    svgs: Array.from(document.querySelectorAll('svg')).map(s => s.id),
                    bars: document.querySelectorAll('svg rect').length,
                    tables: Array.from(document.querySelectorAll('table')).map(t => t.id),
                    debtRows: document.querySelectorAll('#debt tr').length,
                    summary: document.querySelector('#summary').innerText,
                    width: document.querySelector('#chart-days').getBoundingClientRect().width,
                })""",
            )
    errors = [
        e
        for e in events
        if e.get("method") in ("Runtime.exceptionThrown", "Network.loadingFailed")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
    ]
    requests = [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    return {"errors": errors, "requests": requests, **json.loads(probe["result"]["value"])}


def test_the_html_report_loads_in_chromium_with_its_charts_and_tables(tmp_path: Path) -> None:
    binary = chromium()
    page = tmp_path / "report.html"
    page.write_text(
        write.html_page(build.build(CAPTURES, settings=CONF, now=NOW, since=timedelta(days=7)))
    )
    port = free_port()
    profile = tempfile.mkdtemp(prefix="bg-chromium-")
    proc = subprocess.Popen(
        [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            f"--remote-debugging-port={port}",
            "--remote-allow-origins=*",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen = asyncio.run(inspect(page, port))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(profile, ignore_errors=True)
    assert seen["errors"] == []
    assert seen["requests"] == [page.as_uri()]
    assert {"chart-days", "chart-outcomes", "chart-namespaces"} <= set(seen["svgs"])
    assert seen["bars"] >= 8
    assert {"summary", "debt", "needs-human", "reverted", "people"} <= set(seen["tables"])
    assert seen["debtRows"] == 4  # a header and the three open pull requests
    assert "Backfilled (merged of resolved)\t50%" in seen["summary"]
    assert seen["width"] > 100

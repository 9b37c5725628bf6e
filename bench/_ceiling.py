"""The ceiling: the least an admission webhook can do in breakglass's TLS set-up.

    python -m bench._ceiling CERT KEY PORT

Same aiohttp server, TLS context (``breakglass.web.tls.make_context``), body limit and backlog
as ``breakglass serve``; the handler parses the AdmissionReview with orjson and allows its
``uid`` (``/audit`` parses the EventList and answers 200).  No capture, no journal, no
logging: whatever breakglass spends above this is its own.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from pathlib import Path

import orjson
from aiohttp import web

from bench.common import MAX_BODY
from breakglass.web import tls


async def validate(request: web.Request) -> web.Response:
    review = orjson.loads(await request.read())
    uid = review["request"]["uid"]
    answer = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": True},
    }
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


async def audit(request: web.Request) -> web.Response:
    payload = orjson.loads(await request.read())
    if not isinstance(payload.get("items"), list):
        raise web.HTTPBadRequest()
    return web.Response(body=b"{}", content_type="application/json")


async def main(cert: str, key: str, port: int) -> None:
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/validate", validate)
    app.router.add_post("/audit", audit)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    ctx = tls.make_context(Path(cert), Path(key))
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx, backlog=512).start()
    gc.collect()
    gc.freeze()  # as breakglass serve does after start-up: the ceiling must not be handicapped
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("READY", flush=True)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))

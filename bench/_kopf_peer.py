"""The peer: kopf's admission webhook server with one validating handler that allows all.

    python -m bench._kopf_peer CERT KEY PORT

A kopf operator serves admission through ``settings.admission.server`` (a
``kopf.WebhookServer``) and kopf's own request pipeline (``serve_admission_request``: cause,
diff, handler execution, response).  A full ``kopf.run`` also needs a cluster to watch and to
register the webhook configuration with, which a loopback benchmark does not have; so this
wires exactly the pieces ``kopf.spawn_tasks`` wires for admission (registry, insights,
memories, memo, indices) and runs kopf's ``WebhookServer`` with its own TLS on our certificate.
Logging at WARNING, like breakglass in the benchmark.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sys

import kopf
from kopf._cogs.structs import ephemera, references
from kopf._core.engines import admission, indexing
from kopf._core.reactor import inventory

registry = kopf.OperatorRegistry()


@kopf.on.validate("apps", "v1", "deployments", id="validate", registry=registry)
def allow_everything(**_: object) -> None:
    """A validating handler that raises nothing: every request is allowed."""


async def main(cert: str, key: str, port: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = kopf.OperatorSettings()
    insights = references.Insights()
    insights.webhook_resources.add(
        references.Resource(
            group="apps", version="v1", plural="deployments", kind="Deployment", namespaced=True
        )
    )
    indexers = indexing.OperatorIndexers()
    indexers.ensure(registry._indexing.get_all_handlers())
    webhookfn = functools.partial(
        admission.serve_admission_request,
        settings=settings,
        registry=registry,
        insights=insights,
        memories=inventory.ResourceMemories(),
        memobase=ephemera.AnyMemo(ephemera.Memo()),
        indices=indexers.indices,
    )
    server = kopf.WebhookServer(addr="127.0.0.1", port=port, certfile=cert, pkeyfile=key)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def serve() -> None:
        async for _config in server(webhookfn):
            print("READY", flush=True)

    task = asyncio.create_task(serve())
    await stop.wait()
    task.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))

"""The HTTP edge of notifications: one POST to a destination, and its URL masked for logs.

The only module of ``notify`` that imports aiohttp (the import-linter contract on aiohttp names
it beside ``web``): the worker's notifications need an asynchronous client with a time limit
that cancelling can interrupt, and aiohttp is the one the project already runs.  Nothing here
decides anything: the status and ``Retry-After`` go back to the notifier, which asks
``retry``.  Errors never carry the URL (a Slack or Teams webhook URL is a secret): transport
failures are described by their type and the masked address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from breakglass import __version__

USER_AGENT: Final = f"breakglass/{__version__}"
#: bytes of a response body kept for the log (Slack says why in it: "invalid_blocks")
DETAIL_BYTES: Final = 200


#: the client the notifier holds (the type, so the notifier need not import aiohttp)
Client = aiohttp.ClientSession


@dataclass(frozen=True)
class Response:
    status: int
    retry_after: str | None = None
    detail: str = ""


class SendError(Exception):
    """No response: the connection failed or timed out.  Its text holds no URL."""


def mask(url: str) -> str:
    """``https://hooks.slack.com/…``: the scheme and host only, for logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return "<unreadable URL>"
    return f"{parts.scheme or '?'}://{host}/…"


def session() -> Client:
    """The client every destination shares: no cookies kept, our User-Agent."""
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), headers={"User-Agent": USER_AGENT}
    )


async def post(client: Client, url: str, body: bytes, headers: Mapping[str, str]) -> Response:
    """POST ``body``; the status, ``Retry-After`` and the start of the answer.  Redirects are
    not followed (a webhook that redirects is misconfigured: 3xx is refused).  The caller
    bounds the time (``asyncio.timeout``), so a hung destination is cut off by a cancel."""
    try:
        async with client.post(
            url, data=body, headers=dict(headers), allow_redirects=False
        ) as answer:
            detail = (await answer.content.read(DETAIL_BYTES)).decode("utf-8", "replace")
            return Response(answer.status, answer.headers.get("Retry-After"), detail.strip())
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise SendError(f"{type(exc).__name__} posting to {mask(url)}") from None

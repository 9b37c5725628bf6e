"""Every object of a kind, page by page: the one loop over a LIST's ``continue`` tokens.

Anything with ``list_page`` (``kube.Lister``: the cluster, or a test's fake) serves it;
``scan``, ``posture``, ``drill``, the self-heal pause and ``breakglass sessions`` read through
it.  Importing it costs nothing: the Kubernetes client stays in ``breakglass.kube``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from breakglass.errors import BreakglassError

if TYPE_CHECKING:
    from breakglass.kube import Lister


async def pages(
    lister: Lister,
    *,
    group: str,
    version: str,
    plural: str,
    label_selector: str | None = None,
    limit: int = 500,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The objects of the kind (all namespaces), a page at a time; nothing when the API
    server does not serve it.  A failure is raised where it happens, so a caller that
    collects keeps the pages before it."""
    token: str | None = None
    selector = {"label_selector": label_selector} if label_selector is not None else {}
    while True:
        page = await lister.list_page(
            group=group, version=version, plural=plural, limit=limit, token=token, **selector
        )
        if page is None:
            return
        yield page.items
        token = page.next
        if token is None:
            return


async def gather(
    lister: Lister, *, group: str, version: str, plural: str, problems: list[str]
) -> list[dict[str, Any]]:
    """Every object of the kind; a failure is added to ``problems`` and the objects read
    before it are kept (a report says what it could not read, and shows the rest)."""
    found: list[dict[str, Any]] = []
    try:
        async for items in pages(lister, group=group, version=version, plural=plural):
            found.extend(items)
    except BreakglassError as exc:
        problems.append(f"cannot list {plural}.{group}: {exc}")
    return found


async def list_all(
    lister: Lister,
    *,
    group: str,
    version: str,
    plural: str,
    label_selector: str | None = None,
) -> list[dict[str, Any]]:
    """Every object of the kind; none when it is not served."""
    found: list[dict[str, Any]] = []
    async for items in pages(
        lister, group=group, version=version, plural=plural, label_selector=label_selector
    ):
        found.extend(items)
    return found

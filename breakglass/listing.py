"""Every object of a kind, page by page: the one loop over a LIST's ``continue`` tokens.

Anything with ``list_page`` (``kube.Lister``: the cluster, or a test's fake) serves it;
``posture``, ``drill``, the self-heal pause and ``breakglass sessions`` read through it.
Importing it costs nothing: the Kubernetes client stays in ``breakglass.kube``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from breakglass.kube import Lister


async def list_all(
    lister: Lister,
    *,
    group: str,
    version: str,
    plural: str,
    label_selector: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]] | None:
    """Every object of the kind (all namespaces), ``None`` when the API server does not
    serve it; errors are the caller's (``BreakglassError``)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    selector = {"label_selector": label_selector} if label_selector is not None else {}
    while True:
        page = await lister.list_page(
            group=group, version=version, plural=plural, limit=limit, token=token, **selector
        )
        if page is None:
            return None
        items.extend(page.items)
        token = page.next
        if token is None:
            return items

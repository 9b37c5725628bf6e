"""The one module that talks to the Kubernetes API (through kubernetes-asyncio).

breakglass only *reads* the cluster: the live object (to confirm a provisional capture and to
detect a revert), Argo CD ``Application``s, Flux ``Kustomization``/``HelmRelease``/
``GitRepository`` objects, and HorizontalPodAutoscalers; ``breakglass scan`` also lists, page by
page, the kinds a repository holds (``Lister``).  Keeping every call here makes the required
RBAC obvious (get, and list for a scan, on those kinds) and lets tests swap in a fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from breakglass import logs
from breakglass.errors import PermanentError, TemporaryError

log = logs.get(__name__)


class Cluster(Protocol):
    """What the backfill worker reads from the cluster."""

    async def get(
        self, *, group: str, version: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """The object, or ``None`` if it does not exist."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Page:
    """One page of a LIST: its objects (with ``apiVersion`` and ``kind`` set, which a LIST
    leaves out of its items) and the token of the next page, if any."""

    items: list[dict[str, Any]]
    next: str | None


class Lister(Protocol):
    """What a scan reads: which resources a group version serves, and pages of a LIST."""

    async def resources(self, group_version: str) -> list[dict[str, Any]] | None:
        """The ``APIResourceList.resources`` of ``group_version`` (``v1``, ``apps/v1``), or
        ``None`` if the API server does not serve it."""

    async def list_page(
        self, *, group: str, version: str, plural: str, limit: int, token: str | None
    ) -> Page | None:
        """One page of every object of a kind (all namespaces); ``None`` if not served."""


def path_for(*, group: str, version: str, plural: str, namespace: str, name: str) -> str:
    """The REST path of one object: ``/api/v1/...`` for the core group, ``/apis/g/v/...``."""
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{prefix}{scope}/{plural}/{name}"


class KubeCluster:
    """``Cluster`` over a kubeconfig file or the in-cluster service account."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    @classmethod
    async def connect(cls, *, kubeconfig: str | None, context: str | None) -> KubeCluster:
        configuration = client.Configuration()
        if kubeconfig:
            await config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(client.ApiClient(configuration))

    async def get(
        self, *, group: str, version: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        path = path_for(group=group, version=version, plural=plural, namespace=namespace, name=name)
        return await self._read(path, verb="get")

    async def resources(self, group_version: str) -> list[dict[str, Any]] | None:
        prefix = "/api" if "/" not in group_version else "/apis"
        data = await self._read(f"{prefix}/{group_version}", verb="discover")
        found = (data or {}).get("resources")
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else None

    async def list_page(
        self, *, group: str, version: str, plural: str, limit: int, token: str | None
    ) -> Page | None:
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        query = [("limit", str(limit))] + ([("continue", token)] if token else [])
        data = await self._read(f"{prefix}/{plural}", verb="list", query=query, seconds=60)
        if data is None:
            return None
        api_version = f"{group}/{version}" if group else version
        kind = str(data.get("kind", "")).removesuffix("List")
        items = [i for i in data.get("items") or [] if isinstance(i, dict)]
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        following = (data.get("metadata") or {}).get("continue")
        return Page(items, str(following) if following else None)

    async def _read(
        self,
        path: str,
        *,
        verb: str,
        query: list[tuple[str, str]] | None = None,
        seconds: float = 10,
    ) -> dict[str, Any] | None:
        try:
            data = await self.api.call_api(
                path,
                "GET",
                query_params=query or [],
                header_params={"Accept": "application/json"},
                response_types_map={200: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=seconds,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status in (401, 403):
                raise PermanentError(
                    f"the cluster refused to let breakglass {verb} {path} ({exc.status})",
                    hint=f"grant breakglass's ServiceAccount {verb} on this kind (see deploy/)",
                ) from exc
            if exc.status == 410:
                raise TemporaryError(
                    f"listing {path} took longer than the API server keeps a LIST's continue "
                    "token (410 Gone)",
                    hint="run the scan again, or raise scan.page_size",
                ) from exc
            raise TemporaryError(f"reading {path} failed: {exc.status} {exc.reason}") from exc
        except (OSError, TimeoutError) as exc:
            raise TemporaryError(f"reading {path} failed: {exc}") from exc
        return data if isinstance(data, dict) else None

    async def close(self) -> None:
        await self.api.close()

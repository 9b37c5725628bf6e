"""The one module that talks to the Kubernetes API (through kubernetes-asyncio).

breakglass only *reads* the cluster: the live object (to confirm a provisional capture and to
detect a revert), Argo CD ``Application``s, Flux ``Kustomization``/``HelmRelease``/
``GitRepository`` objects, and HorizontalPodAutoscalers.  Keeping every call here makes the
required RBAC obvious (get on those kinds) and lets tests swap in a fake ``Cluster``.
"""

from __future__ import annotations

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
        try:
            data = await self.api.call_api(
                path,
                "GET",
                header_params={"Accept": "application/json"},
                response_types_map={200: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=10,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status in (401, 403):
                raise PermanentError(
                    f"the cluster refused to let breakglass read {path} ({exc.status})",
                    hint="grant the breakglass ServiceAccount get on this kind (see deploy/)",
                ) from exc
            raise TemporaryError(f"reading {path} failed: {exc.status} {exc.reason}") from exc
        except (OSError, TimeoutError) as exc:
            raise TemporaryError(f"reading {path} failed: {exc}") from exc
        return data if isinstance(data, dict) else None

    async def close(self) -> None:
        await self.api.close()

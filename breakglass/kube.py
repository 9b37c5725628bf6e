"""The one module that talks to the Kubernetes API (through kubernetes-asyncio).

breakglass's service only *reads* the cluster: the live object (to confirm a provisional
capture and to detect a revert), Argo CD ``Application``s, Flux ``Kustomization``/
``HelmRelease``/``GitRepository`` objects, and HorizontalPodAutoscalers; ``breakglass scan``
also lists, page by page, the kinds a repository holds (``Lister``).  The one writer is
``breakglass drill``, run by a person with their own kubeconfig: it patches the objects it
drills and watches them (``Drilled``).  Keeping every call here makes the required RBAC
obvious and lets tests swap in a fake.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from breakglass import logs
from breakglass.errors import BreakglassError, PermanentError, TemporaryError

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
        self,
        *,
        group: str,
        version: str,
        plural: str,
        limit: int,
        token: str | None,
        label_selector: str | None = None,
    ) -> Page | None:
        """One page of every object of a kind (all namespaces), only those matching
        ``label_selector`` if given; ``None`` if not served."""


#: JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386), the two bodies ``patch`` sends
JSON_PATCH: Final = "application/json-patch+json"
MERGE_PATCH: Final = "application/merge-patch+json"


class Conflict(BreakglassError):
    """A write's precondition failed: the object changed since it was read (409), or a JSON
    Patch ``test`` operation did not match (422)."""


class Drilled(Protocol):
    """What ``breakglass drill`` does to the objects it drills, as the person running it."""

    async def get(
        self, *, group: str, version: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None: ...

    async def patch(
        self,
        *,
        group: str,
        version: str,
        plural: str,
        namespace: str,
        name: str,
        body: Any,
        content_type: str,
        field_manager: str,
    ) -> dict[str, Any] | None:
        """The object after the patch; ``None`` if it no longer exists; ``Conflict`` when a
        precondition in ``body`` failed."""

    def watch(
        self,
        *,
        group: str,
        version: str,
        plural: str,
        namespace: str,
        name: str,
        resource_version: str,
        seconds: float,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """``(type, object)`` for each change of the object after ``resource_version``, until
        ``seconds`` have passed (then the iterator ends; the caller watches again)."""

    async def whoami(self) -> dict[str, Any]:
        """The caller's ``userInfo`` as the API server authenticated it (SelfSubjectReview)."""


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

    async def group_versions(self) -> list[str]:
        """Every group version the API server serves, preferred versions only (``v1`` first)."""
        core = await self._read("/api", verb="discover") or {}
        groups = await self._read("/apis", verb="discover") or {}
        out = [str(v) for v in core.get("versions") or []]
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            if preferred:
                out.append(str(preferred))
        return out

    async def list_page(
        self,
        *,
        group: str,
        version: str,
        plural: str,
        limit: int,
        token: str | None,
        label_selector: str | None = None,
    ) -> Page | None:
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        query = [("limit", str(limit))] + ([("continue", token)] if token else [])
        if label_selector:
            query.append(("labelSelector", label_selector))
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

    async def patch(
        self,
        *,
        group: str,
        version: str,
        plural: str,
        namespace: str,
        name: str,
        body: Any,
        content_type: str,
        field_manager: str,
    ) -> dict[str, Any] | None:
        path = path_for(group=group, version=version, plural=plural, namespace=namespace, name=name)
        try:
            data = await self.api.call_api(
                path,
                "PATCH",
                query_params=[("fieldManager", field_manager)],
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                response_types_map={200: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=15,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status in (409, 422):
                raise Conflict(f"{path} changed: {_status_message(exc)}") from exc
            if exc.status in (401, 403):
                message = _status_message(exc)
                if "admission webhook" in message:  # refused by a webhook, not by RBAC
                    raise PermanentError(message) from exc
                raise PermanentError(
                    f"the cluster refused to let you patch {path} ({exc.status}: {message})",
                    hint="this writes as you: your kubeconfig identity needs patch on this "
                    "kind (kubectl auth can-i patch ...)",
                ) from exc
            raise TemporaryError(f"patching {path} failed: {exc.status} {exc.reason}") from exc
        except (OSError, TimeoutError) as exc:
            raise TemporaryError(f"patching {path} failed: {exc}") from exc
        return data if isinstance(data, dict) else None

    async def watch(
        self,
        *,
        group: str,
        version: str,
        plural: str,
        namespace: str,
        name: str,
        resource_version: str,
        seconds: float,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        path = f"{prefix}/namespaces/{namespace}/{plural}"
        query = [
            ("watch", "true"),
            ("fieldSelector", f"metadata.name={name}"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(max(1, int(seconds)))),
        ]
        try:
            response = await self.api.call_api(
                path,
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=seconds + 15,
            )
        except (OSError, TimeoutError, ApiException) as exc:
            raise TemporaryError(f"watching {path}/{name} failed: {exc}") from exc
        try:
            if response.status != 200:
                raise TemporaryError(f"watching {path}/{name} failed: HTTP {response.status}")
            async for raw in response.content:
                if not raw.strip():
                    continue
                event = json.loads(raw)
                kind, obj = str(event.get("type", "")), event.get("object") or {}
                if kind == "ERROR":
                    raise TemporaryError(
                        f"watching {path}/{name}: {obj.get('message', 'error')} "
                        f"({obj.get('code', '?')})"
                    )
                if kind in ("ADDED", "MODIFIED", "DELETED") and isinstance(obj, dict):
                    yield kind, obj
        except (OSError, TimeoutError, ValueError) as exc:
            raise TemporaryError(f"watching {path}/{name} failed: {exc}") from exc
        finally:
            response.release()

    async def create(
        self, *, group: str, version: str, plural: str, namespace: str, body: Any
    ) -> dict[str, Any]:
        """Create an object (``breakglass open``: a session, as the person); an admission
        refusal is a ``PermanentError`` carrying the API server's message."""
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        path = f"{prefix}{f'/namespaces/{namespace}' if namespace else ''}/{plural}"
        try:
            data = await self.api.call_api(
                path,
                "POST",
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                response_types_map={201: "object", 200: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=15,
            )
        except ApiException as exc:
            if exc.status == 404:
                raise PermanentError(
                    f"the API server does not serve {path}",
                    hint="install the BreakglassSession CRD: kubectl apply -f "
                    "deploy/base/crd-sessions.yaml",
                ) from exc
            if exc.status in (400, 403, 409, 422):
                raise PermanentError(_status_message(exc)) from exc
            raise TemporaryError(f"creating in {path} failed: {exc.status} {exc.reason}") from exc
        except (OSError, TimeoutError) as exc:
            raise TemporaryError(f"creating in {path} failed: {exc}") from exc
        return data if isinstance(data, dict) else {}

    async def whoami(self) -> dict[str, Any]:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            data = await self.api.call_api(
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                "POST",
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                response_types_map={201: "object", 200: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=10,
            )
        except ApiException as exc:
            raise TemporaryError(f"asking the cluster who you are failed: {exc.status}") from exc
        except (OSError, TimeoutError) as exc:
            raise TemporaryError(f"asking the cluster who you are failed: {exc}") from exc
        status = (data.get("status") or {}) if isinstance(data, dict) else {}
        user = status.get("userInfo")
        return user if isinstance(user, dict) else {}

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


def _status_message(exc: ApiException) -> str:
    """The ``message`` of the API server's Status body, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return str(body.get("message") or exc.reason or exc.status)

"""An in-memory stand-in for the API server's side of a drill: objects, JSON Merge Patch,
JSON Patch (with ``test``), resourceVersion preconditions, watches, and a switch that makes
the connection fail, so the runner's restore paths can be driven without a cluster."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

from breakglass.errors import TemporaryError
from breakglass.kube import JSON_PATCH, Conflict


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def _parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/")]


def apply_json_patch(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 for objects (no arrays): ``test``, ``add``, ``replace``, ``remove``."""
    out = copy.deepcopy(obj)
    for op in ops:
        *head, last = _parts(op["path"])
        node = out
        for part in head:
            node = node[part]
        if op["op"] == "test":
            if node.get(last) != op["value"]:
                raise ValueError(f"test of {op['path']} failed")
        elif op["op"] == "remove":
            if last not in node:
                raise ValueError(f"remove of missing {op['path']}")
            del node[last]
        elif op["op"] in ("add", "replace"):
            node[last] = copy.deepcopy(op["value"])
    meta = out.get("metadata") or {}
    for key in ("labels", "annotations"):
        if meta.get(key) == {}:
            del meta[key]  # as the API server stores it: an empty map is omitted
    return out


class MemoryCluster:
    """``kube.Drilled`` over a dict of objects keyed by (plural, namespace, name)."""

    def __init__(self, objects: list[tuple[str, dict[str, Any]]]) -> None:
        self.objects = {
            (plural, o["metadata"]["namespace"], o["metadata"]["name"]): copy.deepcopy(o)
            for plural, o in objects
        }
        self.version = 100
        self.changed = asyncio.Condition()
        self.offline = False
        self.patches: list[tuple[str, Any, str]] = []

    def _check(self) -> None:
        if self.offline:
            raise TemporaryError("connection refused")

    async def get(self, *, group: str, version: str, plural: str, namespace: str, name: str) -> Any:
        self._check()
        obj = self.objects.get((plural, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    async def set(self, plural: str, namespace: str, name: str, obj: dict[str, Any]) -> None:
        """Write as a controller would (a revert)."""
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(plural, namespace, name)] = obj
        async with self.changed:
            self.changed.notify_all()

    async def patch(
        self, *, group: str, version: str, plural: str, namespace: str, name: str, body: Any,
        content_type: str, field_manager: str,
    ) -> Any:  # fmt: skip
        self._check()
        key = (plural, namespace, name)
        obj = self.objects.get(key)
        if obj is None:
            return None
        if content_type == JSON_PATCH:
            try:
                new = apply_json_patch(obj, body)
            except ValueError as exc:
                raise Conflict(str(exc)) from exc
        else:
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != obj["metadata"]["resourceVersion"]:
                raise Conflict("the object has been modified")
            new = merge(obj, body)
        self.patches.append((name, body, field_manager))
        await self.set(plural, namespace, name, new)
        return copy.deepcopy(self.objects[key])

    async def watch(
        self, *, group: str, version: str, plural: str, namespace: str, name: str,
        resource_version: str, seconds: float,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:  # fmt: skip
        self._check()
        seen = int(resource_version)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            obj = self.objects.get((plural, namespace, name))
            if obj is not None and int(obj["metadata"]["resourceVersion"]) > seen:
                seen = int(obj["metadata"]["resourceVersion"])
                yield "MODIFIED", copy.deepcopy(obj)
                continue
            async with self.changed:
                try:
                    await asyncio.wait_for(self.changed.wait(), timeout=end - loop.time())
                except TimeoutError:
                    return
            self._check()

    async def whoami(self) -> dict[str, Any]:
        return {"username": "alice"}

    # -- what --cleanup lists ---------------------------------------------------------------

    KINDS = {"deployments": ("apps/v1", "Deployment"), "configmaps": ("v1", "ConfigMap")}

    async def group_versions(self) -> list[str]:
        self._check()
        return ["v1", "apps/v1"]

    async def resources(self, group_version: str) -> list[dict[str, Any]]:
        return [
            {"name": plural, "kind": kind, "namespaced": True, "verbs": ["get", "list", "patch"]}
            for plural, (gv, kind) in self.KINDS.items()
            if gv == group_version
        ]

    async def list_page(
        self, *, group: str, version: str, plural: str, limit: int, token: str | None,
        label_selector: str | None = None,
    ) -> Any:  # fmt: skip
        from breakglass.kube import Page

        self._check()
        items = [
            copy.deepcopy(o)
            for (p, _, _), o in sorted(self.objects.items())
            if p == plural
            and (label_selector is None or label_selector in (o["metadata"].get("labels") or {}))
        ]
        return Page(items, None)

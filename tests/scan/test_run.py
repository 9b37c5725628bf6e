"""One scan end to end without an API server: a fake ``Lister`` serves pages of live objects,
Git is a real local repository reached through a ``repos:`` rule."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

from breakglass import settings
from breakglass.capture.redact import Redactor
from breakglass.kube import Page
from breakglass.scan.run import Report, Scanner
from tests.backfill.conftest import bare_remote

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  LOG_LEVEL: info
"""


def managed(manager: str, fields: dict[str, Any], op: str = "Update") -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": op,
        "apiVersion": "v1",
        "time": "2026-10-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }


def configmap(
    namespace: str, name: str, data: dict[str, str], *entries: dict[str, Any]
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "managedFields": list(entries),
            "uid": "u",
            "resourceVersion": "1",
        },
        "data": data,
    }


class FakeLister:
    """Serves ``objects`` one page of ``limit`` at a time, counting requests."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.requests: list[tuple[str, str | None]] = []

    async def resources(self, group_version: str) -> list[dict[str, Any]] | None:
        if group_version == "v1":
            return [
                {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
                {"name": "configmaps/status", "kind": "ConfigMap", "namespaced": True},
            ]
        return None

    async def list_page(
        self, *, group: str, version: str, plural: str, limit: int, token: str | None
    ) -> Page | None:
        self.requests.append((plural, token))
        if group:  # no Argo CD or Flux installed
            return None
        start = int(token or 0)
        items = copy.deepcopy(self.objects[start : start + limit])
        for item in items:
            item.setdefault("apiVersion", "v1")
            item.setdefault("kind", "ConfigMap")
        following = start + limit
        return Page(items, str(following) if following < len(self.objects) else None)

    async def get(self, **_: Any) -> dict[str, Any] | None:
        return None

    async def close(self) -> None:
        return None


def scan(
    tmp_path: Path, objects: list[dict[str, Any]], **scan_conf: Any
) -> tuple[Report, FakeLister]:
    seed = tmp_path / "seed"
    (seed / "apps").mkdir(parents=True)
    (seed / "apps" / "configmap.yaml").write_text(CONFIGMAP)
    bare = bare_remote(seed)
    conf = settings.from_mapping(
        {
            "state_dir": str(tmp_path / "state"),
            "repos": [{"url": str(bare), "path": "apps", "namespaces": ["*"]}],
            "scan": {"page_size": 10, **scan_conf},
        },
        source="test",
        base=tmp_path,
    )
    lister = FakeLister(objects)
    scanner = Scanner(
        settings=conf,
        lister=lister,
        cluster=lister,  # type: ignore[arg-type]
        redactor=Redactor(b"salt"),
        mirrors=tmp_path / "mirrors",
    )
    return asyncio.run(scanner.run()), lister


GITOPS = managed("argocd-controller", {"f:data": {"f:LOG_LEVEL": {}}}, "Apply")


def test_pages_are_followed_and_only_a_persons_fields_in_a_repositorys_namespace_count(
    tmp_path: Path,
) -> None:
    noise = [
        configmap(
            "shop",
            f"generated-{i}",
            {"x": "1"},
            managed("kube-controller-manager", {"f:data": {"f:x": {}}}),
        )
        for i in range(15)
    ]
    objects = [
        configmap(
            "shop",
            "settings",
            {"LOG_LEVEL": "debug"},
            managed("kubectl-edit", {"f:data": {"f:LOG_LEVEL": {}}}),
        ),
        *noise,
        configmap(
            "shop",
            "hotfix",
            {"BYPASS": "true"},
            managed("kubectl-create", {"f:data": {".": {}, "f:BYPASS": {}}}),
        ),
        # a namespace only the rule's "*" claims, no document of the repository is in it
        configmap(
            "monitoring", "grafana", {"a": "b"}, managed("helm", {"f:data": {".": {}, "f:a": {}}})
        ),
    ]
    report, lister = scan(tmp_path, objects)
    assert report.problems == []
    assert report.objects == 18
    assert [r for r in lister.requests if r[0] == "configmaps"] == [
        ("configmaps", None),
        ("configmaps", "10"),
    ]
    found = {
        (d.ref.name, d.created_by_hand): [f.finding.describe() for f in d.fields]
        for d in report.drift
    }
    assert found == {("settings", False): ["data.LOG_LEVEL"], ("hotfix", True): [""]}
    assert report.exit_code() == 1


def test_no_drift_is_exit_zero_and_hand_created_can_be_switched_off(tmp_path: Path) -> None:
    objects = [
        configmap("shop", "settings", {"LOG_LEVEL": "info"}, GITOPS),
        configmap(
            "shop",
            "hotfix",
            {"BYPASS": "true"},
            managed("kubectl-create", {"f:data": {".": {}, "f:BYPASS": {}}}),
        ),
    ]
    report, _ = scan(tmp_path, objects, hand_created=False)
    assert report.drift == [] and report.exit_code() == 0


def test_a_repository_that_cannot_be_fetched_is_exit_two_and_says_which(tmp_path: Path) -> None:
    conf = settings.from_mapping(
        {
            "state_dir": str(tmp_path / "state"),
            "repos": [{"url": str(tmp_path / "missing.git"), "namespaces": ["shop"]}],
        },
        source="test",
        base=tmp_path,
    )
    lister = FakeLister([])
    scanner = Scanner(
        settings=conf,
        lister=lister,
        cluster=lister,  # type: ignore[arg-type]
        redactor=Redactor(b"salt"),
        mirrors=tmp_path / "mirrors",
    )
    report = asyncio.run(scanner.run())
    assert report.exit_code() == 2
    assert any("cannot fetch" in p and "missing.git" in p for p in report.problems), report.problems

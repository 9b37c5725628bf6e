"""Helm charts whose Argo CD Application is read from the cluster, not kept in the repository."""

from __future__ import annotations

from typing import Any

from breakglass.gitops import engine, index

APP: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "web", "namespace": "argocd"},
    "spec": {
        "source": {
            "repoURL": "https://git.example/gitops.git",
            "path": "charts/web",
            "helm": {"valueFiles": ["../../envs/prod/web.yaml"]},
        },
        "destination": {"namespace": "shop"},
    },
}


def repo(tmp_path):
    (tmp_path / "charts" / "web").mkdir(parents=True)
    (tmp_path / "charts" / "web" / "Chart.yaml").write_text("apiVersion: v2\nname: web\n")
    (tmp_path / "charts" / "web" / "values.yaml").write_text("replicaCount: 1\n")
    (tmp_path / "envs" / "prod").mkdir(parents=True)
    (tmp_path / "envs" / "prod" / "web.yaml").write_text("replicaCount: 3  # prod\n")
    return index.Index.build(tmp_path)


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "annotations": {"argocd.argoproj.io/tracking-id": "web:apps/Deployment:shop/web"},
        },
        "spec": {"replicas": replicas},
    }


def test_the_value_file_of_a_cluster_only_application_is_edited(tmp_path):
    idx = repo(tmp_path)
    result = engine.backfill(
        idx, deployment(3), deployment(5), subpath="charts/web", applications=[APP]
    )
    assert isinstance(result, engine.Changed), result
    assert result.files == {"envs/prod/web.yaml": "replicaCount: 5  # prod\n"}
    without = engine.backfill(idx, deployment(3), deployment(5), subpath="charts/web")
    assert isinstance(without, engine.CannotExpress)


def test_its_inline_values_are_read_but_never_edited(tmp_path):
    idx = repo(tmp_path)
    app = {**APP, "spec": {**APP["spec"], "source": {**APP["spec"]["source"]}}}
    app["spec"]["source"]["helm"] = {
        "valueFiles": ["../../envs/prod/web.yaml"],
        "valuesObject": {"replicaCount": 4},
    }
    result = engine.backfill(
        idx, deployment(4), deployment(6), subpath="charts/web", applications=[app]
    )
    assert isinstance(result, engine.CannotExpress)
    assert "Application web spec.source.helm.valuesObject" in result.reason
    assert "not in this repository" in result.reason
    assert (tmp_path / "envs" / "prod" / "web.yaml").read_text() == "replicaCount: 3  # prod\n"

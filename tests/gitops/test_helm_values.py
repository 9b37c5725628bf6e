"""Helm values in several places: precedence, what is refused, and the small parsers.

The golden cases show the common layouts end to end; these tests pin the rules around them —
which place wins, when a place that cannot be read or written blocks the edit, and how
``--set`` names, Helm's merge and values files are read.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from breakglass.gitops import engine, helm, helm_values, index, kustomize

JSON = Any

CHART = """\
apiVersion: v2
name: web
version: 4.2.0
"""


def deployment(
    *,
    replicas: int = 2,
    image: str = "registry.example.com/shop/web:1.4.2",
    resources: dict[str, JSON] | None = None,
    flux: bool = False,
) -> dict[str, JSON]:
    labels = {"app.kubernetes.io/instance": "web", "helm.sh/chart": "web-4.2.0"}
    annotations = {"argocd.argoproj.io/tracking-id": "web:apps/Deployment:shop/web"}
    if flux:
        labels = {**labels, "helm.toolkit.fluxcd.io/name": "web"}
        annotations = {"meta.helm.sh/release-name": "web"}
    container: dict[str, JSON] = {"name": "web", "image": image}
    if resources is not None:
        container["resources"] = resources
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "resourceVersion": "4711",
            "uid": "0d7c-uid",
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}},
    }


def application(helm: str, *, path: str = "charts/web") -> str:
    return (
        "apiVersion: argoproj.io/v1alpha1\n"
        "kind: Application\n"
        "metadata:\n"
        "  name: web\n"
        "  namespace: argocd\n"
        "spec:\n"
        "  source:\n"
        "    repoURL: https://git.example.com/platform/gitops.git\n"
        f"    path: {path}\n"
        "    helm:\n" + "".join(f"      {line}\n" for line in helm.strip("\n").split("\n"))
    )


def run(repo: Path, old: dict[str, JSON], new: dict[str, JSON]) -> engine.Result:
    return engine.backfill(index.Index.build(repo), old, new)


def scaled(to: int, **kwargs: Any) -> tuple[dict[str, JSON], dict[str, JSON]]:
    old = deployment(**kwargs)
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = to
    return old, new


# --------------------------------------------------------------------------------------------
# Argo CD


def test_values_string_is_ignored_when_values_object_is_set(make_repo: Any) -> None:
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "argocd/web.yaml": application(
                "values: |\n  replicaCount: 9\nvaluesObject:\n  replicaCount: 2"
            ),
        }
    )
    result = run(repo, *scaled(3))
    assert isinstance(result, engine.Changed)
    assert "valuesObject:\n        replicaCount: 3" in str(result.files["argocd/web.yaml"])
    assert "replicaCount: 9" in str(result.files["argocd/web.yaml"])
    assert any("values is ignored" in note for note in result.notes)


def test_a_parameter_for_the_key_blocks_the_edit(make_repo: Any) -> None:
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "replicaCount: 2\n",
            "argocd/web.yaml": application("parameters:\n- name: replicaCount\n  value: '2'"),
        }
    )
    result = run(repo, *scaled(3))
    assert isinstance(result, engine.CannotExpress)
    assert "parameters[0] (replicaCount) ranks above it" in result.reason


def test_a_parameter_for_another_key_does_not_block(make_repo: Any) -> None:
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "replicaCount: 2\n",
            "argocd/web.yaml": application("parameters:\n- name: image.tag\n  value: '1.4.2'"),
        }
    )
    result = run(repo, *scaled(3))
    assert isinstance(result, engine.Changed)
    assert result.files == {"charts/web/values.yaml": "replicaCount: 3\n"}


def test_a_remote_values_file_above_the_key_blocks_the_edit(make_repo: Any) -> None:
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "replicaCount: 2\n",
            "argocd/web.yaml": application(
                "valueFiles:\n- https://config.example.com/web/prod.yaml"
            ),
        }
    )
    result = run(repo, *scaled(3))
    assert isinstance(result, engine.CannotExpress)
    assert "is not in this repository" in result.reason


def test_a_missing_values_file(make_repo: Any) -> None:
    files = {
        "charts/web/Chart.yaml": CHART,
        "charts/web/values.yaml": "replicaCount: 2\n",
        "argocd/web.yaml": application("valueFiles:\n- values-prod.yaml"),
    }
    refused = run(make_repo(files), *scaled(3))
    assert isinstance(refused, engine.CannotExpress)
    assert "ignoreMissingValueFiles is not set" in refused.reason
    files["argocd/web.yaml"] = application(
        "ignoreMissingValueFiles: true\nvalueFiles:\n- values-prod.yaml"
    )
    changed = run(make_repo(files), *scaled(3))
    assert isinstance(changed, engine.Changed)
    assert list(changed.files) == ["charts/web/values.yaml"]
    assert any("is missing; skipped" in note for note in changed.notes)


def test_value_files_of_a_chart_from_a_helm_repository_are_not_guessed(make_repo: Any) -> None:
    app = application("valueFiles:\n- values-prod.yaml\nvaluesObject:\n  replicaCount: 2")
    app = app.replace("    path: charts/web\n", "    chart: web\n")
    repo = make_repo({"argocd/web.yaml": app, "values-prod.yaml": "replicaCount: 5\n"})
    result = run(repo, *scaled(3))
    assert isinstance(result, engine.Changed)
    assert list(result.files) == ["argocd/web.yaml"]


def test_removing_a_key_that_a_lower_place_also_sets_is_refused(make_repo: Any) -> None:
    limits = {"limits": {"cpu": "1", "memory": "512Mi"}}
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "resources:\n  limits:\n    cpu: 500m\n",
            "charts/web/values-prod.yaml": "resources:\n  limits:\n    cpu: '1'\n"
            "    memory: 512Mi\n",
            "argocd/web.yaml": application("valueFiles:\n- values-prod.yaml"),
        }
    )
    old = deployment(resources=limits)
    new = deployment(resources={"limits": {"memory": "512Mi"}})
    result = run(repo, old, new)
    assert isinstance(result, engine.CannotExpress)
    assert "would bring back the value in charts/web/values.yaml" in result.reason


def test_a_new_resources_key_goes_where_its_parent_is(make_repo: Any) -> None:
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "resources:\n  limits:\n    cpu: 500m  # per pod\n",
            "charts/web/values-prod.yaml": "replicaCount: 2\n",
            "argocd/web.yaml": application("valueFiles:\n- values-prod.yaml"),
        }
    )
    old = deployment(resources={"limits": {"cpu": "500m"}})
    new = deployment(resources={"limits": {"cpu": "500m", "memory": "256Mi"}})
    result = run(repo, old, new)
    assert isinstance(result, engine.Changed)
    assert result.files == {
        "charts/web/values.yaml": "resources:\n  limits:\n    cpu: 500m  # per pod\n"
        "    memory: 256Mi\n"
    }


def test_single_place_disagreement_names_the_place(make_repo: Any) -> None:
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "replicaCount: 5\n",
            "argocd/web.yaml": application("releaseName: web"),
        }
    )
    result = run(repo, *scaled(3))
    assert isinstance(result, engine.CannotExpress)
    assert "Git and the cluster disagree about spec.replicas" in result.reason
    assert "charts/web/values.yaml (the chart's values.yaml) sets replicaCount to 5" in (
        result.reason
    )


MULTI_SOURCE = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  sources:
  - repoURL: https://charts.example.com
    chart: web
    helm:
      valueFiles:
      - $values/envs/prod/web.yaml
      valuesObject:
        replicaCount: 2  # pinned for the sale
  - repoURL: https://git.example.com/platform/gitops.git
    ref: values
"""


def test_multi_source_values_object_is_edited_in_its_source(make_repo: Any) -> None:
    repo = make_repo({"argocd/web.yaml": MULTI_SOURCE, "envs/prod/web.yaml": "replicaCount: 1\n"})
    result = run(repo, *scaled(3))
    assert isinstance(result, engine.Changed)
    assert result.files == {
        "argocd/web.yaml": MULTI_SOURCE.replace("replicaCount: 2 ", "replicaCount: 3 ")
    }
    assert any("overrides envs/prod/web.yaml (valueFiles[0])" in n for n in result.notes)


def test_an_unknown_ref_is_not_guessed(make_repo: Any) -> None:
    app = MULTI_SOURCE.replace("$values/", "$config/")
    app = app.replace("      valuesObject:\n        replicaCount: 2  # pinned for the sale\n", "")
    assert "valuesObject" not in app
    repo = make_repo({"argocd/web.yaml": app, "envs/prod/web.yaml": "replicaCount: 2\n"})
    result = run(repo, *scaled(3))
    assert isinstance(result, engine.CannotExpress)
    assert "no source has `ref: config`" in result.reason


def test_two_helm_sources_are_not_guessed_between(make_repo: Any) -> None:
    app = MULTI_SOURCE.replace(
        "  - repoURL: https://git.example.com",
        "  - repoURL: https://charts.example.com\n    chart: web-worker\n"
        "  - repoURL: https://git.example.com",
    )
    repo = make_repo({"argocd/web.yaml": app, "envs/prod/web.yaml": "replicaCount: 1\n"})
    result = run(repo, *scaled(3))
    assert isinstance(result, engine.CannotExpress)
    assert "spec.sources[0]" in result.reason and "spec.sources[1]" in result.reason


# --------------------------------------------------------------------------------------------
# Flux

HELMRELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
spec:
  chart:
    spec:
      chart: web
  valuesFrom:
  - kind: ConfigMap
    name: web-values
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-values
data:
  values.yaml: |
    replicaCount: 2
"""


def test_a_values_configmap_in_a_shared_base_is_not_edited(make_repo: Any) -> None:
    overlay = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    repo = make_repo(
        {
            "base/kustomization.yaml": "resources:\n- helmrelease.yaml\n- values.yaml\n",
            "base/helmrelease.yaml": HELMRELEASE,
            "base/values.yaml": CONFIGMAP,
            "prod/kustomization.yaml": overlay + "namespace: shop\nresources:\n- ../base\n",
            "staging/kustomization.yaml": overlay + "namespace: staging\nresources:\n- ../base\n",
        }
    )
    result = run(repo, *scaled(3, flux=True))
    assert isinstance(result, engine.CannotExpress)
    assert "base/values.yaml is a base shared by other overlays" in result.reason


def test_a_values_configmap_changed_by_a_patch_is_not_read(make_repo: Any) -> None:
    patch = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-values\ndata:\n"
    patch += "  values.yaml: |\n    replicaCount: 2\n"
    repo = make_repo(
        {
            "app/kustomization.yaml": "namespace: shop\nresources:\n- helmrelease.yaml\n"
            "- values.yaml\npatches:\n- path: values-patch.yaml\n",
            "app/helmrelease.yaml": HELMRELEASE,
            "app/values.yaml": CONFIGMAP.replace("replicaCount: 2", "replicaCount: 1"),
            "app/values-patch.yaml": patch,
        }
    )
    result = run(repo, *scaled(3, flux=True))
    assert isinstance(result, engine.CannotExpress)
    assert "a kustomize patch (app/values-patch.yaml) changes it" in result.reason


def test_spec_values_rank_above_values_from(make_repo: Any) -> None:
    release = HELMRELEASE + "  values:\n    replicaCount: 2\n"
    repo = make_repo(
        {
            "app/helmrelease.yaml": release.replace(
                "  name: web\n", "  name: web\n  namespace: shop\n"
            ),
            "app/values.yaml": CONFIGMAP.replace(
                "  name: web-values\n", "  name: web-values\n  namespace: shop\n"
            ),
        }
    )
    result = run(repo, *scaled(3, flux=True))
    assert isinstance(result, engine.Changed)
    assert list(result.files) == ["app/helmrelease.yaml"]
    assert any("overrides ConfigMap web-values" in note for note in result.notes)


def test_a_secret_below_the_key_does_not_block(make_repo: Any) -> None:
    release = HELMRELEASE.replace(
        "  valuesFrom:\n", "  valuesFrom:\n  - kind: Secret\n    name: web-credentials\n"
    )
    repo = make_repo({"app/helmrelease.yaml": release, "app/values.yaml": CONFIGMAP})
    result = run(repo, *scaled(3, flux=True))
    assert isinstance(result, engine.Changed)
    assert list(result.files) == ["app/values.yaml"]


@pytest.mark.parametrize(
    ("target_path", "values", "changed"),
    [
        ("replicaCount", "  values:\n    replicaCount: 2\n", "app/helmrelease.yaml"),
        ("image.tag", "", "app/values.yaml"),
    ],
)
def test_a_target_path_that_cannot_matter_does_not_block(
    make_repo: Any, target_path: str, values: str, changed: str
) -> None:
    entry = f"  - kind: ConfigMap\n    name: web-tag\n    targetPath: {target_path}\n"
    release = HELMRELEASE + entry + values
    repo = make_repo({"app/helmrelease.yaml": release, "app/values.yaml": CONFIGMAP})
    result = run(repo, *scaled(3, flux=True))
    assert isinstance(result, engine.Changed)
    assert list(result.files) == [changed]


# --------------------------------------------------------------------------------------------
# Flux: a chart from a GitRepository


def git_release(chart_spec: str = "", rest: str = "") -> str:
    """A HelmRelease ``web`` whose chart ``./charts/web`` comes from a GitRepository."""
    return (
        "apiVersion: helm.toolkit.fluxcd.io/v2\n"
        "kind: HelmRelease\n"
        "metadata:\n"
        "  name: web\n"
        "  namespace: shop\n"
        "spec:\n"
        "  chart:\n"
        "    spec:\n"
        "      chart: ./charts/web\n"
        "      reconcileStrategy: Revision\n"
        "      sourceRef:\n"
        "        kind: GitRepository\n"
        "        name: gitops\n"
        "        namespace: flux-system\n" + chart_spec + rest
    )


def flux_labels(repo: Path) -> list[str]:
    idx = index.Index.build(repo)
    ctx = helm_values.Context(idx.read, idx, kustomize.Tree.build(idx))
    (release,) = list(helm.all_releases(idx, idx.read))
    return [layer.label for layer in helm.layers_of(release, ctx).layers]


def test_flux_layers_run_from_the_chart_to_spec_values(make_repo: Any) -> None:
    rest = "  valuesFrom:\n  - kind: ConfigMap\n    name: web-values\n  values:\n    a: 1\n"
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "replicaCount: 1\n",
            "app/helmrelease.yaml": git_release(rest=rest),
            "app/values.yaml": CONFIGMAP,
        }
    )
    assert flux_labels(repo) == [
        "charts/web/values.yaml (the chart's values.yaml)",
        "ConfigMap web-values (app/values.yaml data.values.yaml, valuesFrom[0])",
        "app/helmrelease.yaml spec.values",
    ]


def test_values_files_replace_the_charts_values_in_order(make_repo: Any) -> None:
    files = (
        "      valuesFile: charts/web/values-base.yaml\n"
        "      valuesFiles:\n      - ./envs/prod/web.yaml\n      - /envs/prod/web-sale.yaml\n"
    )
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "replicaCount: 1\n",
            "charts/web/values-base.yaml": "replicaCount: 1\n",
            "envs/prod/web.yaml": "replicaCount: 2\n",
            "envs/prod/web-sale.yaml": "image:\n  tag: '1.4.2'\n",
            "app/helmrelease.yaml": git_release(files),
        }
    )
    assert flux_labels(repo) == [
        "charts/web/values-base.yaml (valuesFile)",
        "envs/prod/web.yaml (valuesFiles[0])",
        "envs/prod/web-sale.yaml (valuesFiles[1])",
        "app/helmrelease.yaml spec.values",
    ]
    result = run(repo, *scaled(3, flux=True))
    assert isinstance(result, engine.Changed)
    assert result.files == {"envs/prod/web.yaml": "replicaCount: 3\n"}
    assert any("charts/web/values.yaml is not read" in note for note in result.notes)


def test_a_key_only_the_replaced_values_yaml_sets_is_not_in_effect(make_repo: Any) -> None:
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "replicaCount: 2\n",
            "envs/prod/web.yaml": "image:\n  tag: '1.4.2'\n",
            "app/helmrelease.yaml": git_release("      valuesFiles:\n      - envs/prod/web.yaml\n"),
        }
    )
    result = run(repo, *scaled(3, flux=True))
    assert isinstance(result, engine.CannotExpress)
    assert "no known values key with the live value: spec.replicas" in result.reason


def test_a_missing_values_file_of_a_flux_chart(make_repo: Any) -> None:
    files = "      valuesFiles:\n      - charts/web/values.yaml\n      - envs/prod/web.yaml\n"
    tree = {
        "charts/web/Chart.yaml": CHART,
        "charts/web/values.yaml": "replicaCount: 2\n",
        "app/helmrelease.yaml": git_release(files),
    }
    refused = run(make_repo(tree), *scaled(3, flux=True))
    assert isinstance(refused, engine.CannotExpress)
    assert "envs/prod/web.yaml (valuesFiles[1]) ranks above it" in refused.reason
    assert "ignoreMissingValuesFiles is not set" in refused.reason
    tree["app/helmrelease.yaml"] = git_release(files + "      ignoreMissingValuesFiles: true\n")
    changed = run(make_repo(tree), *scaled(3, flux=True))
    assert isinstance(changed, engine.Changed)
    assert changed.files == {"charts/web/values.yaml": "replicaCount: 3\n"}
    assert any("is missing; skipped, as Flux does" in note for note in changed.notes)


def test_a_chart_from_a_helm_repository_adds_no_layer(make_repo: Any) -> None:
    release = git_release().replace("kind: GitRepository", "kind: HelmRepository")
    release = release.replace("chart: ./charts/web", "chart: web")
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "replicaCount: 2\n",
            "app/helmrelease.yaml": release,
        }
    )
    assert flux_labels(repo) == ["app/helmrelease.yaml spec.values"]


def test_a_chart_path_outside_the_source_is_not_read(make_repo: Any) -> None:
    release = git_release().replace("chart: ./charts/web", "chart: ../charts/web")
    repo = make_repo({"charts/web/Chart.yaml": CHART, "app/helmrelease.yaml": release})
    labels = flux_labels(repo)
    assert labels[0] == "the values of chart ../charts/web (GitRepository flux-system/gitops)"


def test_a_chart_dir_also_read_by_an_application_that_overrides_the_key(make_repo: Any) -> None:
    repo = make_repo(
        {
            "charts/web/Chart.yaml": CHART,
            "charts/web/values.yaml": "replicaCount: 2\n",
            "app/helmrelease.yaml": git_release(),
            "argocd/web-staging.yaml": application("valuesObject:\n  replicaCount: 1").replace(
                "name: web\n", "name: web-staging\n"
            ),
        }
    )
    result = run(repo, *scaled(3, flux=True))
    assert isinstance(result, engine.Changed)
    assert result.files == {"charts/web/values.yaml": "replicaCount: 3\n"}
    assert any("also read by Application argocd/web-staging" in n for n in result.notes)


# --------------------------------------------------------------------------------------------
# The small parts


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("replicaCount", ("replicaCount",)),
        ("image.tag", ("image", "tag")),
        (r"podAnnotations.prometheus\.io/scrape", ("podAnnotations", "prometheus.io/scrape")),
        ("extraEnv[0].value", ("extraEnv",)),
    ],
)
def test_set_path(name: str, path: tuple[str, ...]) -> None:
    assert helm_values.set_path(name) == path


def test_merge_follows_helm() -> None:
    low = helm_values.Layer("low", {"image": {"repository": "a", "tag": "1"}, "debug": True})
    high = helm_values.Layer("high", {"image": {"tag": "2"}, "debug": None})
    unread = helm_values.Layer("secret", None, blocked="never read")
    assert helm_values.merge([low, unread, high]) == {"image": {"repository": "a", "tag": "2"}}


def test_parse_values() -> None:
    assert helm_values.parse_values("v.yaml", "") == (0, {})
    assert helm_values.parse_values("v.yaml", "# head\n---\na: 1\n") == (1, {"a": 1})
    assert helm_values.parse_values("v.yaml", "a: 1\n---\nb: 2\n") == (
        "v.yaml holds several YAML documents"
    )
    assert helm_values.parse_values("v.yaml", "- a\n") == "v.yaml is not a mapping of values"


def test_an_unreadable_layer_limited_to_one_path() -> None:
    layer = helm_values.Layer("p", None, blocked="--set", only=("image", "tag"))
    assert layer.may_set(("image", "tag"))
    assert layer.may_set(("image",))
    assert not layer.may_set(("replicaCount",))
    assert helm_values.Layer("s", None, blocked="secret").may_set(("anything",))

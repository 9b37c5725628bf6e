"""Changes to values Flux substitutes, decision by decision.

The golden cases show whole fleet repositories; these pin the single rules: which
Kustomization applied the object, which place sets a variable, what is refused, and that
literals survive substitution.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from breakglass.gitops import engine, fluxvars, index, kustomize

JSON = Any
MakeRepo = Callable[[dict[str, str]], Path]

LABELS = {
    "kustomize.toolkit.fluxcd.io/name": "apps",
    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}


def kustomization(
    name: str = "apps", path: str = "./apps/web", post: str = "", namespace: str = "flux-system"
) -> str:
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\n"
        "kind: Kustomization\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
        f"spec:\n  interval: 5m\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n"
        "    name: flux-system\n" + post
    )


def substitute(**values: str) -> str:
    lines = "".join(f"      {k}: {v}\n" for k, v in values.items())
    return "  postBuild:\n    substitute:\n" + lines


def configmap(data: dict[str, str], *, labels: bool = True, **meta: JSON) -> JSON:
    metadata = {"name": "web", "namespace": "shop", **meta}
    if labels:
        metadata["labels"] = dict(LABELS)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def changed(obj: JSON, **data: str) -> JSON:
    new = copy.deepcopy(obj)
    new["data"].update(data)
    return new


def deployment(replicas: JSON, *, args: list[str] | None = None, image: str = "web:1") -> JSON:
    container: dict[str, JSON] = {"name": "web", "image": image}
    if args is not None:
        container["args"] = args
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": dict(LABELS)},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}},
    }


def backfill(repo: Path, old: JSON, new: JSON, **kwargs: JSON) -> engine.Result:
    return engine.backfill(index.Index.build(repo), old, new, **kwargs)


def files(result: engine.Result) -> dict[str, str | None]:
    assert isinstance(result, engine.Changed), result
    return result.files


def refused(result: engine.Result) -> str:
    assert isinstance(result, engine.CannotExpress), result
    return result.reason


CM_WITH = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  namespace: shop
data:
  region: {value}
"""


def fleet(value: str = "${REGION}", **extra: str) -> dict[str, str]:
    return {
        "apps/web/kustomization.yaml": "resources:\n- web.yaml\n",
        "apps/web/web.yaml": CM_WITH.format(value=value),
        "clusters/prod/apps.yaml": kustomization(post=substitute(REGION="eu")),
        **extra,
    }


def test_no_flux_kustomization_builds_it_so_dollar_text_is_literal(make_repo: MakeRepo) -> None:
    repo = make_repo({"apps/web/web.yaml": CM_WITH.format(value="${REGION}")})
    old = configmap({"region": "${REGION}"}, labels=False)
    out = files(backfill(repo, old, changed(old, region="${ZONE}")))
    assert "region: ${ZONE}" in str(out["apps/web/web.yaml"])


def test_without_labels_the_kustomization_whose_path_builds_it_is_used(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(fleet())
    old = configmap({"region": "eu"}, labels=False)
    out = files(backfill(repo, old, changed(old, region="us")))
    assert list(out) == ["clusters/prod/apps.yaml"]
    assert "      REGION: us\n" in str(out["clusters/prod/apps.yaml"])


def test_a_kustomization_without_post_build_leaves_the_text_literal(make_repo: MakeRepo) -> None:
    repo = make_repo({**fleet(), "clusters/prod/apps.yaml": kustomization()})
    old = configmap({"region": "${REGION}"})
    out = files(backfill(repo, old, changed(old, region="eu")))
    assert "region: eu" in str(out["apps/web/web.yaml"])


def test_no_variables_and_no_always_strategy_substitutes_nothing(make_repo: MakeRepo) -> None:
    post = "  postBuild:\n    substitute: {}\n"
    repo = make_repo({**fleet(), "clusters/prod/apps.yaml": kustomization(post=post)})
    old = configmap({"region": "${REGION}"})
    out = files(backfill(repo, old, changed(old, region="eu")))
    assert "region: eu" in str(out["apps/web/web.yaml"])


def test_always_strategy_substitutes_without_variables(make_repo: MakeRepo) -> None:
    post = "  postBuild:\n    substituteStrategy: Always\n"
    repo = make_repo(
        {
            **fleet("${REGION:=eu}"),
            "clusters/prod/apps.yaml": kustomization(post=post),
        }
    )
    old = configmap({"region": "eu"})
    out = files(backfill(repo, old, changed(old, region="us")))
    text = str(out["clusters/prod/apps.yaml"])
    assert (
        "  postBuild:\n    substituteStrategy: Always\n    substitute:\n      REGION: us\n" in text
    )


def test_a_value_flux_would_read_as_another_type_is_refused(make_repo: MakeRepo) -> None:
    repo = make_repo(fleet())
    old = configmap({"region": "eu"})
    reason = refused(backfill(repo, old, changed(old, region="true")))
    assert "'true' would read back as a boolean (True)" in reason
    assert "${quote}" in reason


def test_numbers_go_to_the_variable_as_quoted_strings(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "apps/web/kustomization.yaml": "resources:\n- web.yaml\n",
            "apps/web/web.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                "  namespace: shop\nspec:\n  replicas: ${REPLICAS}\n"
            ),
            "clusters/prod/apps.yaml": kustomization(post=substitute(REPLICAS='"2"')),
        }
    )
    out = files(backfill(repo, deployment(2), deployment(4)))
    assert '      REPLICAS: "4"\n' in str(out["clusters/prod/apps.yaml"])


def test_git_and_the_cluster_disagreeing_is_refused(make_repo: MakeRepo) -> None:
    repo = make_repo(fleet())
    old = configmap({"region": "ap"})
    reason = refused(backfill(repo, old, changed(old, region="us")))
    assert "Git and the cluster disagree" in reason
    assert "sets REGION to 'eu'" in reason
    assert "the live object had 'ap'" in reason


def test_the_kustomization_the_cluster_runs_is_chosen(make_repo: MakeRepo) -> None:
    eu = kustomization(post=substitute(REGION="eu", ZONE="a"))
    us = kustomization(post=substitute(REGION="eu", ZONE="b"))
    repo = make_repo({**fleet(), "clusters/prod/apps.yaml": eu, "clusters/us/apps.yaml": us})
    old = configmap({"region": "eu"})
    new = changed(old, region="ap")
    assert "nothing tells them apart" in refused(backfill(repo, old, new))
    [live] = [a.data for a in fluxvars.appliers(_ctx(repo)) if a.doc.path.startswith("clusters/us")]
    out = files(backfill(repo, old, new, kustomizations=[live]))
    assert list(out) == ["clusters/us/apps.yaml"]


def _ctx(repo: Path) -> fluxvars.Context:
    idx = index.Index.build(repo)
    return fluxvars.Context(idx, kustomize.Tree.build(idx), idx.read, idx.read_exact)


def test_a_removed_value_holding_a_variable_is_refused(make_repo: MakeRepo) -> None:
    repo = make_repo(fleet())
    old = configmap({"region": "eu", "other": "x"})
    new = copy.deepcopy(old)
    del new["data"]["region"]
    reason = refused(backfill(repo, old, new))
    assert "removing it from the manifest would remove it for every cluster" in reason


def test_list_items_holding_variables_are_kept_when_another_item_changes(
    make_repo: MakeRepo,
) -> None:
    web = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n"
        "spec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n"
        "        image: web:1\n        args:\n        - --region=${REGION}\n        - --verbose=1\n"
    )
    repo = make_repo({**fleet(), "apps/web/web.yaml": web})
    old = deployment(2, args=["--region=eu", "--verbose=1"])
    new = deployment(2, args=["--region=eu", "--verbose=2"])
    out = files(backfill(repo, old, new))
    text = str(out["apps/web/web.yaml"])
    assert "- --region=${REGION}\n        - --verbose=2\n" in text


def test_an_item_mixing_text_and_a_variable_that_changed_is_refused(make_repo: MakeRepo) -> None:
    web = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n"
        "spec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n"
        "        image: web:1\n        args:\n        - --region=${REGION}\n"
    )
    repo = make_repo({**fleet(), "apps/web/web.yaml": web})
    old = deployment(2, args=["--region=eu"])
    reason = refused(backfill(repo, old, deployment(2, args=["--region=us"])))
    assert "mixes text and variables (${REGION})" in reason


def test_a_list_holding_variables_that_changes_length_is_refused(make_repo: MakeRepo) -> None:
    web = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n"
        "spec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n"
        "        image: web:1\n        args:\n        - --region=${REGION}\n"
    )
    repo = make_repo({**fleet(), "apps/web/web.yaml": web})
    old = deployment(2, args=["--region=eu"])
    reason = refused(backfill(repo, old, deployment(2, args=["--region=eu", "-v"])))
    assert "adds or removes items" in reason


def test_an_image_tag_variable_in_the_kustomization_images_entry(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "apps/web/kustomization.yaml": (
                "resources:\n- web.yaml\nimages:\n- name: web\n  newTag: ${TAG}\n"
            ),
            "apps/web/web.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                "  namespace: shop\nspec:\n  replicas: 2\n  template:\n    spec:\n"
                "      containers:\n      - name: web\n        image: web:1\n"
            ),
            "clusters/prod/apps.yaml": kustomization(post=substitute(TAG='"1.4"')),
        }
    )
    out = files(backfill(repo, deployment(2, image="web:1.4"), deployment(2, image="web:1.5")))
    assert list(out) == ["clusters/prod/apps.yaml"]
    assert '      TAG: "1.5"\n' in str(out["clusters/prod/apps.yaml"])


def test_a_variable_from_a_generator_literal(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            **fleet(),
            "clusters/prod/apps.yaml": kustomization(
                post="  postBuild:\n    substituteFrom:\n    - kind: ConfigMap\n      name: vars\n"
            ),
            "clusters/prod/kustomization.yaml": (
                "resources:\n- apps.yaml\nconfigMapGenerator:\n- name: vars\n"
                "  namespace: flux-system\n  literals:\n  - REGION=eu\n"
                "  options:\n    disableNameSuffixHash: true\n"
            ),
        }
    )
    old = configmap({"region": "eu"})
    out = files(backfill(repo, old, changed(old, region="us")))
    assert "  - REGION=us\n" in str(out["clusters/prod/kustomization.yaml"])


def test_a_later_substitute_from_entry_wins(make_repo: MakeRepo) -> None:
    post = (
        "  postBuild:\n    substituteFrom:\n    - kind: ConfigMap\n      name: base-vars\n"
        "    - kind: ConfigMap\n      name: prod-vars\n"
    )

    def cm(name: str, region: str) -> str:
        return (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
            f"  namespace: flux-system\ndata:\n  REGION: {region}\n"
        )

    repo = make_repo(
        {
            **fleet(),
            "clusters/prod/kustomization.yaml": "resources:\n- apps.yaml\n- base.yaml\n- prod.yaml\n",
            "clusters/prod/apps.yaml": kustomization(post=post),
            "clusters/prod/base.yaml": cm("base-vars", "eu"),
            "clusters/prod/prod.yaml": cm("prod-vars", "us"),
        }
    )
    old = configmap({"region": "us"})
    out = files(backfill(repo, old, changed(old, region="ap")))
    assert list(out) == ["clusters/prod/prod.yaml"]


def test_a_configmap_not_in_git_ranked_above_is_refused(make_repo: MakeRepo) -> None:
    post = (
        "  postBuild:\n    substitute:\n      ZONE: a\n    substituteFrom:\n"
        "    - kind: ConfigMap\n      name: elsewhere\n"
    )
    repo = make_repo({**fleet(), "clusters/prod/apps.yaml": kustomization(post=post)})
    old = configmap({"region": "eu"})
    reason = refused(backfill(repo, old, changed(old, region="us")))
    assert "ConfigMap elsewhere is not defined in this repository" in reason


def test_an_optional_configmap_not_in_git_is_skipped(make_repo: MakeRepo) -> None:
    post = (
        "  postBuild:\n    substitute:\n      REGION: eu\n    substituteFrom:\n"
        "    - kind: ConfigMap\n      name: elsewhere\n      optional: true\n"
    )
    repo = make_repo({**fleet(), "clusters/prod/apps.yaml": kustomization(post=post)})
    old = configmap({"region": "eu"})
    result = backfill(repo, old, changed(old, region="us"))
    assert "REGION: us" in str(files(result)["clusters/prod/apps.yaml"])
    assert any("is skipped, as Flux skips an optional one" in n for n in result.notes)


def test_a_new_value_holding_dollar_brace_is_escaped(make_repo: MakeRepo) -> None:
    repo = make_repo(fleet())
    old = configmap({"region": "eu"})
    new = changed(old, script="echo ${HOME}")
    out = files(backfill(repo, old, new))
    assert "  script: echo $${HOME}\n" in str(out["apps/web/web.yaml"])


def test_the_opt_out_from_a_kustomize_common_annotation(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            **fleet(),
            "apps/web/kustomization.yaml": (
                "resources:\n- web.yaml\ncommonAnnotations:\n"
                "  kustomize.toolkit.fluxcd.io/substitute: disabled\n"
            ),
        }
    )
    old = configmap({"region": "${REGION}"})
    out = files(backfill(repo, old, changed(old, region="${ZONE}")))
    assert "region: ${ZONE}" in str(out["apps/web/web.yaml"])


def test_a_kustomization_named_by_labels_that_builds_another_path(make_repo: MakeRepo) -> None:
    repo = make_repo({**fleet(), "clusters/prod/apps.yaml": kustomization(path="./apps/other")})
    old = configmap({"region": "eu"})
    reason = refused(backfill(repo, old, changed(old, region="us")))
    assert "builds apps/other, not apps/web/web.yaml" in reason


@pytest.mark.parametrize("name", ["1REGION", "MY-REGION"])
def test_a_variable_name_flux_refuses(make_repo: MakeRepo, name: str) -> None:
    post = f"  postBuild:\n    substitute:\n      REGION: eu\n      {name}: x\n"
    repo = make_repo({**fleet(), "clusters/prod/apps.yaml": kustomization(post=post)})
    old = configmap({"region": "eu"})
    assert "sets variables Flux refuses" in refused(backfill(repo, old, changed(old, region="us")))


def test_a_patch_of_the_kustomization_is_where_the_variable_is_set(make_repo: MakeRepo) -> None:
    tree = fleet()
    del tree["clusters/prod/apps.yaml"]
    repo = make_repo(
        {
            **tree,
            "clusters/base/apps.yaml": kustomization(post=substitute(REGION="eu")),
            "clusters/base/kustomization.yaml": "resources:\n- apps.yaml\n",
            "clusters/prod/kustomization.yaml": (
                "resources:\n- ../base\npatches:\n- path: region.yaml\n"
            ),
            "clusters/prod/region.yaml": (
                "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
                "  name: apps\n  namespace: flux-system\nspec:\n  postBuild:\n    substitute:\n"
                "      REGION: us  # prod is in the US\n"
            ),
        }
    )
    old = configmap({"region": "us"})
    out = files(backfill(repo, old, changed(old, region="ap")))
    assert list(out) == ["clusters/prod/region.yaml"]
    assert "      REGION: ap  # prod is in the US\n" in str(out["clusters/prod/region.yaml"])


def test_an_empty_value_where_the_default_would_apply_is_refused(make_repo: MakeRepo) -> None:
    repo = make_repo(fleet("${REGION:=eu}"))
    old = configmap({"region": "eu"})
    reason = refused(backfill(repo, old, changed(old, region="")))
    assert "Flux uses the default 'eu' for an empty variable" in reason


def test_a_patch_of_the_kustomization_changing_its_path_counts(make_repo: MakeRepo) -> None:
    tree = fleet()
    del tree["clusters/prod/apps.yaml"]
    repo = make_repo(
        {
            **tree,
            "clusters/base/apps.yaml": kustomization(
                path="./apps/other", post=substitute(REGION="eu")
            ),
            "clusters/base/kustomization.yaml": "resources:\n- apps.yaml\n",
            "clusters/prod/kustomization.yaml": (
                "resources:\n- ../base\npatches:\n- path: path.yaml\n"
            ),
            "clusters/prod/path.yaml": (
                "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
                "  name: apps\n  namespace: flux-system\nspec:\n  path: ./apps/web\n"
            ),
        }
    )
    old = configmap({"region": "eu"})
    out = files(backfill(repo, old, changed(old, region="us")))
    assert list(out) == ["clusters/base/apps.yaml"]


def test_a_generated_configmap_whose_key_is_a_variable(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "apps/web/kustomization.yaml": (
                "namespace: shop\nconfigMapGenerator:\n- name: web\n  literals:\n"
                "  - region=${REGION}\n  - mode=fast\n  options:\n    disableNameSuffixHash: true\n"
            ),
            "clusters/prod/apps.yaml": kustomization(post=substitute(REGION="eu")),
        }
    )
    old = configmap({"region": "eu", "mode": "fast"})
    result = backfill(repo, old, changed(old, region="us", mode="slow"))
    out = files(result)
    assert sorted(out) == ["apps/web/kustomization.yaml", "clusters/prod/apps.yaml"]
    assert "  - region=${REGION}\n  - mode=slow\n" in str(out["apps/web/kustomization.yaml"])
    assert "      REGION: us\n" in str(out["clusters/prod/apps.yaml"])

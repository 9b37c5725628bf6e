"""ConfigMaps and Secrets rendered by kustomize generators, rule by rule.

The golden cases show whole repositories; these pin the single decisions: the hash kustomize
appends, which names match a generator, which merge generators extend it, where labels and
annotations go, and every refusal.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from breakglass.gitops import engine, generators, index, kustomize

JSON = Any
MakeRepo = Callable[[dict[str, str]], Path]


def configmap(name: str, data: dict[str, str], *, namespace: str = "shop", **meta: JSON) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "0c5e-uid",
            "resourceVersion": "7311",
            "creationTimestamp": "2024-05-14T08:21:37Z",
            **meta,
        },
        "data": data,
    }


def changed(obj: JSON, **data: str | None) -> JSON:
    new = copy.deepcopy(obj)
    for key, value in data.items():
        if value is None:
            new["data"].pop(key)
        else:
            new["data"][key] = value
    return new


def live_name(name: str, data: dict[str, str]) -> str:
    return f"{name}-{generators.configmap_hash(data)}"


def backfill(repo: Path, old: JSON | None, new: JSON | None, subpath: str = "") -> engine.Result:
    return engine.backfill(index.Index.build(repo), old, new, subpath=subpath)


def text_of(result: engine.Result, path: str) -> str:
    assert isinstance(result, engine.Changed), result
    text = result.files[path]
    assert text is not None
    return text


SHOP = textwrap.dedent("""
    namespace: shop
    configMapGenerator:
    - name: shop-config
      literals:
      - LOG_LEVEL=info
    """).lstrip()

BASE = textwrap.dedent("""
    configMapGenerator:
    - name: web-config
      literals:
      - LOG_LEVEL=info
      - MODE=base
    """).lstrip()


def overlay(namespace: str, extra: str = "") -> str:
    return f"namespace: {namespace}\nresources:\n- ../../base\n{extra}"


# --------------------------------------------------------------------------------------------
# The hash


@pytest.mark.parametrize(
    ("data", "binary", "expected"),
    [
        (None, None, "6ct58987ht"),  # kustomize's own test vectors
        ({"one": ""}, None, "9g67k2htb6"),
        (None, {"one": ""}, "6mtk2m274t"),
        ({"A": "x", "B": "<&>"}, None, "kcfdgb89k2"),  # checked with kubectl kustomize 5.5
        ({"K": '"q"', "t.txt": "héllo\n\tworld\u2028x\r\n"}, {"b.bin": "//4AYmlu"}, "5h26gk664h"),
    ],
)
def test_hash_is_the_one_kustomize_appends(data: JSON, binary: JSON, expected: str) -> None:
    assert generators.configmap_hash(data, binary) == expected


# --------------------------------------------------------------------------------------------
# Locating


def test_only_a_hash_shaped_suffix_is_stripped(make_repo: MakeRepo) -> None:
    repo = make_repo({"apps/shop/kustomization.yaml": SHOP})
    data = {"LOG_LEVEL": "info"}
    for name in ("shop-config", "shop-config-abc", "shop-config-abcdefghijk", "shop-config-x-2k9"):
        result = backfill(repo, configmap(name, data), configmap(name, {"LOG_LEVEL": "debug"}))
        assert isinstance(result, engine.CannotExpress)
        assert "no manifest, generator or Helm release" in result.reason
    name = live_name("shop-config", data)
    result = backfill(repo, configmap(name, data), changed(configmap(name, data), LOG_LEVEL="x"))
    assert "- LOG_LEVEL=x" in text_of(result, "apps/shop/kustomization.yaml")


def test_without_the_hash_only_the_exact_name_matches(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "apps/shop/kustomization.yaml": SHOP
            + "generatorOptions:\n  disableNameSuffixHash: true\n"
        }
    )
    data = {"LOG_LEVEL": "info"}
    hashed = live_name("shop-config", data)
    result = backfill(
        repo, configmap(hashed, data), changed(configmap(hashed, data), LOG_LEVEL="x")
    )
    assert isinstance(result, engine.CannotExpress)
    old = configmap("shop-config", data)
    result = backfill(repo, old, changed(old, LOG_LEVEL="x"))
    assert isinstance(result, engine.Changed)
    assert any("disableNameSuffixHash" in note for note in result.notes)


def test_merge_generators_are_matched_by_a_name_and_namespace_the_object_had(
    make_repo: MakeRepo,
) -> None:
    """kustomize merges only when name *and* namespace are a pair the object has had
    (checked against kubectl kustomize 5.5): (web-config, none) as the base generator states
    it, (web-config, basens) after the base's namespace, (b-web-config, basens) after its
    prefix; not (b-web-config, none) nor a namespace it never had."""
    repo = make_repo(
        {
            "base/kustomization.yaml": "namespace: basens\nnamePrefix: b-\n" + BASE,
            "good/kustomization.yaml": "resources:\n- ../base\nconfigMapGenerator:\n"
            "- name: web-config\n  namespace: basens\n  behavior: merge\n  literals: [A=1]\n"
            "- name: b-web-config\n  namespace: basens\n  behavior: merge\n  literals: [B=1]\n",
            "bad/kustomization.yaml": "resources:\n- ../base\nconfigMapGenerator:\n"
            "- name: b-web-config\n  behavior: merge\n  literals: [A=1]\n"
            "- name: b-web-config\n  namespace: other\n  behavior: merge\n  literals: [B=1]\n",
        }
    )
    tree = kustomize.Tree.build(index.Index.build(repo))
    found = {
        g.chain[0]: [e.kustomization for e in g.entries]
        for g in generators.generated(tree, "ConfigMap")
    }
    assert found["good"] == ["base/kustomization.yaml", *["good/kustomization.yaml"] * 2]
    assert found["bad"] == ["base/kustomization.yaml"]


def test_a_manifest_and_a_generator_for_the_same_object_are_ambiguous(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(
        {
            "apps/a/kustomization.yaml": SHOP
            + "generatorOptions:\n  disableNameSuffixHash: true\n",
            "apps/b/shop-config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            "  name: shop-config\n  namespace: shop\ndata:\n  LOG_LEVEL: info\n",
        }
    )
    old = configmap("shop-config", {"LOG_LEVEL": "info"})
    result = backfill(repo, old, changed(old, LOG_LEVEL="x"))
    assert isinstance(result, engine.CannotExpress)
    assert "apps/b/shop-config.yaml" in result.reason
    assert "configMapGenerator 'shop-config' in apps/a/kustomization.yaml" in result.reason
    result = backfill(repo, old, changed(old, LOG_LEVEL="x"), subpath="apps/a")
    assert isinstance(result, engine.Changed)


def test_path_chooses_between_clusters(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "base/kustomization.yaml": BASE,
            "clusters/eu/kustomization.yaml": "namespace: web\nresources:\n- ../../base\n",
            "clusters/us/kustomization.yaml": "namespace: web\nresources:\n- ../../base\n",
        }
    )
    data = {"LOG_LEVEL": "info", "MODE": "base"}
    old = configmap(live_name("web-config", data), data, namespace="web")
    assert isinstance(backfill(repo, old, changed(old, MODE="x")), engine.CannotExpress)
    result = backfill(repo, old, changed(old, MODE="x"), subpath="clusters/eu")
    assert "- name: web-config\n  behavior: merge\n  literals:\n  - MODE=x\n" in text_of(
        result, "clusters/eu/kustomization.yaml"
    )


def test_a_created_object_that_a_generator_renders_is_refused(make_repo: MakeRepo) -> None:
    repo = make_repo({"apps/shop/kustomization.yaml": SHOP})
    data = {"LOG_LEVEL": "info"}
    result = backfill(repo, None, configmap(live_name("shop-config", data), data))
    assert isinstance(result, engine.CannotExpress)
    assert "already generated by configMapGenerator 'shop-config'" in result.reason


# --------------------------------------------------------------------------------------------
# Data


def test_shared_base_merge_entry_keeps_the_generators_namespace(make_repo: MakeRepo) -> None:
    base = BASE.replace("- name: web-config\n", "- name: web-config\n  namespace: web\n")
    repo = make_repo(
        {
            "base/kustomization.yaml": base,
            "overlays/a/kustomization.yaml": overlay("a"),
            "overlays/b/kustomization.yaml": overlay("b"),
        }
    )
    data = {"LOG_LEVEL": "info", "MODE": "base"}
    old = configmap(live_name("web-config", data), data, namespace="a")
    result = backfill(repo, old, changed(old, MODE="a"), subpath="overlays/a")
    assert text_of(result, "overlays/a/kustomization.yaml").endswith(
        "configMapGenerator:\n- name: web-config\n  namespace: web\n  behavior: merge\n"
        "  literals:\n  - MODE=a\n"
    )


def test_a_key_of_a_shared_base_cannot_be_removed(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "base/kustomization.yaml": BASE,
            "overlays/a/kustomization.yaml": overlay("a"),
            "overlays/b/kustomization.yaml": overlay("b"),
        }
    )
    data = {"LOG_LEVEL": "info", "MODE": "base"}
    old = configmap(live_name("web-config", data), data, namespace="a")
    result = backfill(repo, old, changed(old, MODE=None), subpath="overlays/a")
    assert isinstance(result, engine.CannotExpress)
    assert "not remove them" in result.reason


def test_replace_generator_owns_every_key(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "base/kustomization.yaml": BASE,
            "overlays/a/kustomization.yaml": overlay(
                "a",
                "configMapGenerator:\n- name: web-config\n  behavior: replace\n"
                "  literals:\n  - MODE=a\n",
            ),
        }
    )
    data = {"MODE": "a"}
    old = configmap(live_name("web-config", data), data, namespace="a")
    result = backfill(repo, old, changed(old, MODE="b", LOG_LEVEL="warn"))
    assert isinstance(result, engine.Changed)
    assert list(result.files) == ["overlays/a/kustomization.yaml"]
    assert "  - MODE=b\n  - LOG_LEVEL=warn\n" in text_of(result, "overlays/a/kustomization.yaml")


def test_a_value_git_already_has_is_nothing_to_change(make_repo: MakeRepo) -> None:
    repo = make_repo({"apps/shop/kustomization.yaml": SHOP})
    drifted = {"LOG_LEVEL": "debug"}
    old = configmap(live_name("shop-config", drifted), drifted)
    result = backfill(repo, old, changed(old, LOG_LEVEL="info"))
    assert isinstance(result, engine.NoChange)


def test_crlf_env_file_keeps_its_line_breaks(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "apps/shop/kustomization.yaml": "namespace: shop\nconfigMapGenerator:\n"
            "- name: shop-config\n  envs:\n  - shop.env\n"
        }
    )
    (repo / "apps/shop/shop.env").write_bytes(b"# settings\r\nLOG_LEVEL=info\r\nMODE=a\r\n")
    data = {"LOG_LEVEL": "info", "MODE": "a"}
    old = configmap(live_name("shop-config", data), data)
    result = backfill(repo, old, changed(old, MODE="b", EXTRA="1"))
    assert text_of(result, "apps/shop/shop.env") == (
        "# settings\r\nLOG_LEVEL=info\r\nMODE=b\r\nEXTRA=1\r\n"
    )


def test_a_multi_line_value_added_next_to_an_env_file_becomes_a_literal(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(
        {
            "apps/shop/kustomization.yaml": "namespace: shop\nconfigMapGenerator:\n"
            "- name: shop-config\n  envs:\n  - shop.env\n",
            "apps/shop/shop.env": "LOG_LEVEL=info\n",
        }
    )
    data = {"LOG_LEVEL": "info"}
    old = configmap(live_name("shop-config", data), data)
    result = backfill(repo, old, changed(old, BANNER="line one\nline two\n"))
    assert isinstance(result, engine.Changed)
    assert list(result.files) == ["apps/shop/kustomization.yaml"]
    assert "  literals:\n  - |\n    BANNER=line one\n    line two\n" in text_of(
        result, "apps/shop/kustomization.yaml"
    )


def test_a_multi_line_value_for_an_env_line_is_refused(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "apps/shop/kustomization.yaml": "namespace: shop\nconfigMapGenerator:\n"
            "- name: shop-config\n  envs:\n  - shop.env\n",
            "apps/shop/shop.env": "LOG_LEVEL=info\n",
        }
    )
    data = {"LOG_LEVEL": "info"}
    old = configmap(live_name("shop-config", data), data)
    result = backfill(repo, old, changed(old, LOG_LEVEL="a\nb"))
    assert isinstance(result, engine.CannotExpress)
    assert "line break" in result.reason


def test_an_unreadable_source_stops_a_new_key(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "apps/shop/kustomization.yaml": "namespace: shop\nconfigMapGenerator:\n"
            "- name: shop-config\n  files:\n  - conf/\n",
            "apps/shop/conf/a.txt": "x\n",
        }
    )
    data = {"a.txt": "x\n"}
    old = configmap(live_name("shop-config", data), data)
    result = backfill(repo, old, changed(old, NEW="1"))
    assert isinstance(result, engine.CannotExpress)
    assert "conf/" in result.reason and "cannot read" in result.reason


# --------------------------------------------------------------------------------------------
# Labels and annotations


def labelled(obj: JSON, **labels: str) -> JSON:
    new = copy.deepcopy(obj)
    new["metadata"].setdefault("labels", {}).update(labels)
    return new


def test_a_label_from_lone_generator_options_is_edited_there(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {"apps/shop/kustomization.yaml": SHOP + "generatorOptions:\n  labels:\n    tier: web\n"}
    )
    data = {"LOG_LEVEL": "info"}
    old = configmap(live_name("shop-config", data), data, labels={"tier": "web"})
    result = backfill(repo, old, labelled(old, tier="edge", team="shop"))
    text = text_of(result, "apps/shop/kustomization.yaml")
    assert text.endswith("generatorOptions:\n  labels:\n    tier: edge\n    team: shop\n")


def test_a_label_shared_through_generator_options_is_overridden_in_the_entry(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(
        {
            "apps/shop/kustomization.yaml": SHOP
            + "- name: other\n  literals:\n  - A=1\n"
            + "generatorOptions:\n  labels:\n    tier: web\n"
        }
    )
    data = {"LOG_LEVEL": "info"}
    old = configmap(live_name("shop-config", data), data, labels={"tier": "web"})
    result = backfill(repo, old, labelled(old, tier="edge"))
    text = text_of(result, "apps/shop/kustomization.yaml")
    assert "  - LOG_LEVEL=info\n  options:\n    labels:\n      tier: edge\n- name: other" in text
    assert "generatorOptions:\n  labels:\n    tier: web\n" in text


def test_labels_from_transformers_follow_the_kustomize_rules(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "apps/shop/kustomization.yaml": SHOP
            + "commonLabels:\n  app: shop\nlabels:\n- pairs:\n    owner: team-a\n"
            + "commonAnnotations:\n  contact: ops@example.com\n"
        }
    )
    data = {"LOG_LEVEL": "info"}
    old = configmap(
        live_name("shop-config", data),
        data,
        labels={"app": "shop", "owner": "team-a"},
        annotations={"contact": "ops@example.com"},
    )
    result = backfill(repo, old, labelled(old, app="shop2"))
    assert isinstance(result, engine.CannotExpress)
    assert "commonLabels" in result.reason
    new = copy.deepcopy(old)
    new["metadata"]["annotations"]["contact"] = "sre@example.com"
    result = backfill(repo, old, new)
    assert isinstance(result, engine.CannotExpress)
    assert "commonAnnotations" in result.reason
    result = backfill(repo, old, labelled(old, owner="team-b"))
    assert "    owner: team-b\n" in text_of(result, "apps/shop/kustomization.yaml")


def test_a_label_of_a_shared_base_goes_to_an_overlay_merge_entry(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "base/kustomization.yaml": BASE,
            "overlays/a/kustomization.yaml": overlay("a"),
            "overlays/b/kustomization.yaml": overlay("b"),
        }
    )
    data = {"LOG_LEVEL": "info", "MODE": "base"}
    old = configmap(live_name("web-config", data), data, namespace="a")
    result = backfill(repo, old, labelled(old, canary="true"), subpath="overlays/a")
    assert text_of(result, "overlays/a/kustomization.yaml").endswith(
        '- name: web-config\n  behavior: merge\n  options:\n    labels:\n      canary: "true"\n'
    )


# --------------------------------------------------------------------------------------------
# Secrets


SECRETS = textwrap.dedent("""
    namespace: shop
    secretGenerator:
    - name: db
      literals:
      - password=hunter2
    """).lstrip()


def test_secret_generator_values_are_refused_even_with_sops(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "apps/shop/kustomization.yaml": SECRETS,
            ".sops.yaml": "creation_rules:\n- age: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n",
        }
    )
    old: JSON = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-5t2hbb9m4c", "namespace": "shop"},
        "type": "Opaque",
        "data": {"password": "aHVudGVyMg=="},
    }
    new = copy.deepcopy(old)
    new["data"]["password"] = "aHVudGVyMw=="
    result = backfill(repo, old, new)
    assert isinstance(result, engine.CannotExpress)
    assert "keys password changed" in result.reason
    assert "secretGenerator 'db' in apps/shop/kustomization.yaml" in result.reason
    assert "aHVudGVy" not in result.reason + result.delta

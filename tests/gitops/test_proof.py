"""The render check's decisions: the branch's render must be the base's plus the change."""

from __future__ import annotations

import copy
from typing import Any

from breakglass import delta
from breakglass.gitops import index, kustomize, proof

DEPLOY: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {"name": "app", "image": "web:1", "env": [{"name": "A", "value": "1"}]}
                ]
            }
        },
    },
}
CM: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "flags", "namespace": "shop"},
    "data": {"X": "on"},
}
IDENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}


def problems(*args, **kwargs):
    return proof.compare(*args, **kwargs).problems


def change(before: Any, after: Any, *, kind: str = "Deployment", group: str = "apps"):
    return proof.Change(group, kind, "shop", "web", before, after)


def edited(obj: dict[str, Any], mutate) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    mutate(out)
    return out


def replicas(n: int):
    return {**IDENT, "spec": {"replicas": n}}


def test_a_render_with_exactly_the_change_passes():
    branch = [edited(DEPLOY, lambda d: d["spec"].update(replicas=6)), CM]
    assert problems([DEPLOY, CM], branch, [change(replicas(2), replicas(6))], what="r") == []


def test_a_render_without_the_change_names_the_field_and_both_values():
    [problem] = problems([DEPLOY], [DEPLOY], [change(replicas(2), replicas(6))], what="r")
    assert "spec.replicas (the change wants 6, the render has 2)" in problem


def test_a_change_to_another_object_is_reported():
    branch = [
        edited(DEPLOY, lambda d: d["spec"].update(replicas=6)),
        edited(CM, lambda d: d["data"].update(X="off")),
    ]
    [problem] = problems([DEPLOY, CM], branch, [change(replicas(2), replicas(6))], what="r")
    assert (
        problem == "r also changes ConfigMap shop/flags at data.X, which the change does not touch"
    )


def test_a_change_beside_the_delta_in_the_same_object_is_reported():
    branch = [edited(DEPLOY, lambda d: d["spec"].update(replicas=6, paused=True))]
    [problem] = problems([DEPLOY], branch, [change(replicas(2), replicas(6))], what="r")
    assert "spec.paused" in problem


def test_changes_apply_in_order_and_a_later_one_wins():
    branch = [edited(DEPLOY, lambda d: d["spec"].update(replicas=8))]
    changes = [change(replicas(2), replicas(6)), change(replicas(6), replicas(8))]
    assert problems([DEPLOY], branch, changes, what="r") == []


def test_an_added_label_and_a_removed_env_entry():
    def mutate(d):
        d["metadata"]["labels"].update(team="pay")
        d["spec"]["template"]["spec"]["containers"][0].pop("env")

    live = edited(DEPLOY, mutate)
    before, after = delta.sparse_delta(DEPLOY, live)
    assert problems([DEPLOY], [live], [change(before, after)], what="r") == []
    [problem] = problems([DEPLOY], [DEPLOY], [change(before, after)], what="r")
    assert 'metadata.labels.team (the change wants "pay", the render has nothing)' in problem


def test_a_plain_manifest_without_namespace_matches():
    loose = edited(DEPLOY, lambda d: d["metadata"].pop("namespace"))
    branch = [edited(loose, lambda d: d["spec"].update(replicas=6))]
    assert problems([loose], branch, [change(replicas(2), replicas(6))], what="r") == []


def test_deletion_and_creation():
    gone = change({**IDENT, "spec": {}}, None)
    assert problems([DEPLOY, CM], [CM], [gone], what="r") == []
    [problem] = problems([DEPLOY, CM], [DEPLOY, CM], [gone], what="r")
    assert "still holds Deployment shop/web, which was deleted" in problem
    new_cm = {**CM, "metadata": {"name": "extra", "namespace": "shop"}}
    created = proof.Change("", "ConfigMap", "shop", "extra", None, new_cm)
    assert problems([CM], [CM, new_cm], [created], what="r") == []
    [problem] = problems([CM], [CM, {**new_cm, "data": {}}], [created], what="r")
    assert "without what was created at data.X" in problem


def test_secret_values_are_never_named():
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": "ENC[AES256_GCM,data:abc]"},
    }
    branch = [edited(secret, lambda d: d["data"].update(password="ENC[AES256_GCM,data:xyz]"))]
    ident = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}}
    c = proof.Change(
        "",
        "Secret",
        "shop",
        "db",
        {**ident, "data": {"password": "<redacted:1>"}},
        {**ident, "data": {"password": "<redacted:2>"}},
    )
    assert problems([secret], branch, [c], what="r") == []


def test_no_render_holding_the_object_is_a_problem():
    c = change(replicas(2), replicas(6))
    assert proof.compare([DEPLOY], [DEPLOY], [c], what="r").held == {c.key}
    assert proof.compare([CM], [CM], [c], what="r").held == set()
    [problem] = proof.unheld([c], set())
    assert "no render of the branch contains Deployment shop/web" in problem


def test_plan_renders_the_root_kustomization_of_a_changed_file(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [deploy.yaml]\n")
    (tmp_path / "base" / "deploy.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    for overlay in ("prod", "staging"):
        (tmp_path / overlay).mkdir()
        (tmp_path / overlay / "kustomization.yaml").write_text("resources: [../base]\n")
    (tmp_path / "loose.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    tree = kustomize.Tree.build(index.Index.build(tmp_path))
    renders = proof.plan(["prod/kustomization.yaml", "loose.yaml"], tree=tree, subpath="")
    assert [r.describe() for r in renders] == ["kustomize build prod", "the manifest loose.yaml"]
    shared = proof.plan(["base/deploy.yaml"], tree=tree, subpath="prod")
    assert [r.describe() for r in shared] == ["kustomize build prod"]
    both = proof.plan(["base/deploy.yaml"], tree=tree, subpath="")
    assert sorted(r.describe() for r in both) == ["kustomize build prod", "kustomize build staging"]


def test_keyed_list_items_in_another_order_are_the_same_render():
    live = edited(
        DEPLOY,
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"].append(
            {"name": "GC_LOG", "value": "on"}
        ),
    )
    before, after = delta.sparse_delta(DEPLOY, live)
    patched_first = edited(
        DEPLOY,
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"].insert(
            0, {"name": "GC_LOG", "value": "on"}
        ),
    )
    assert problems([DEPLOY], [patched_first], [change(before, after)], what="r") == []


def test_what_a_chart_derives_from_the_value_is_a_note_not_a_problem():
    def bump(d):
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2"

    live = edited(DEPLOY, bump)
    before, after = delta.sparse_delta(DEPLOY, live)
    rendered = edited(live, lambda d: d["metadata"]["labels"].update(version="2"))
    outcome = proof.compare([DEPLOY], [rendered], [change(before, after)], what="h", derived=True)
    assert outcome.problems == []
    [note] = outcome.notes
    assert "also changes Deployment shop/web at metadata.labels.version" in note
    strict = proof.compare([DEPLOY], [rendered], [change(before, after)], what="k")
    assert strict.notes == [] and len(strict.problems) == 1
    # the value itself must still be right, chart or not
    wrong = proof.compare([DEPLOY], [DEPLOY], [change(before, after)], what="h", derived=True)
    assert "containers[name=app].image" in wrong.problems[0]


def test_a_generated_configmap_renamed_by_its_hash_is_followed():
    def gen(suffix: str, value: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"flags-{suffix}", "namespace": "shop"},
            "data": {"X": value},
        }

    def using(name: str) -> dict[str, Any]:
        return edited(
            DEPLOY,
            lambda d: d["spec"]["template"]["spec"].update(
                volumes=[{"name": "flags", "configMap": {"name": name}}]
            ),
        )

    base = [gen("7h2mt5c4g8", "on"), using("flags-7h2mt5c4g8")]
    branch = [gen("b4k9d7m2tf", "off"), using("flags-b4k9d7m2tf")]
    ident = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags-7h2mt5c4g8"}}
    c = proof.Change(
        "",
        "ConfigMap",
        "shop",
        "flags-7h2mt5c4g8",
        {**ident, "data": {"X": "on"}},
        {**ident, "data": {"X": "off"}},
    )
    outcome = proof.compare(base, branch, [c], what="k")
    assert outcome.problems == []
    assert "now names the generated object flags-7h2mt5c4g8 as flags-b4k9d7m2tf" in outcome.notes[0]
    stale = [gen("b4k9d7m2tf", "on"), using("flags-b4k9d7m2tf")]
    assert "data.X" in proof.compare(base, stale, [c], what="k").problems[0]


def test_plan_renders_the_kustomization_a_patch_or_generator_file_belongs_to(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "kustomization.yaml").write_text(
        "resources: [deploy.yaml]\nconfigMapGenerator:\n  - name: cfg\n    envs: [app.env]\n"
    )
    (tmp_path / "base" / "deploy.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    (tmp_path / "base" / "app.env").write_text("A=1\n")
    for overlay in ("prod", "staging"):
        (tmp_path / overlay).mkdir()
        (tmp_path / overlay / "kustomization.yaml").write_text(
            "resources: [../base]\npatches:\n  - path: limits.yaml\n"
        )
        (tmp_path / overlay / "limits.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    tree = kustomize.Tree.build(index.Index.build(tmp_path))
    [patch] = proof.plan(["prod/limits.yaml"], tree=tree, subpath="prod")
    assert patch.describe() == "kustomize build prod"
    generated = proof.plan(["base/app.env"], tree=tree, subpath="")
    assert sorted(r.describe() for r in generated) == [
        "kustomize build prod",
        "kustomize build staging",
    ]

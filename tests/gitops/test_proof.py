"""The render check's decisions: the branch's render must be the base's plus the change."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from breakglass import delta, rendercheck
from breakglass.gitops import index, kustomize, proof
from tests.rendertools import render_tools

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


# --------------------------------------------------------------------------------------------
# Flux's post-build variables

FLUX_KEY = ("kustomize.toolkit.fluxcd.io", "Kustomization", "flux-system", "podinfo")


def substitution(**variables: str) -> proof.Substitution:
    return proof.Substitution(
        "Kustomization flux-system/podinfo", "apps/podinfo", variables, active=True
    )


STREAM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: podinfo
data:
  region: ${REGION}
  zone: ${ZONE:=a}
  script: echo $${HOME}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: scripts
  namespace: podinfo
  annotations:
    kustomize.toolkit.fluxcd.io/substitute: disabled
data:
  script: echo ${HOME} $${HOME}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: podinfo
spec:
  replicas: ${REPLICAS:=2}
"""


def test_documents_are_substituted_as_flux_does():
    settings, scripts, deploy = proof.documents(STREAM, substitution=substitution(REGION="eu"))
    assert settings["data"] == {"region": "eu", "zone": "a", "script": "echo ${HOME}"}
    assert scripts["data"] == {"script": "echo ${HOME} $${HOME}"}  # opted out: as written
    assert deploy["spec"]["replicas"] == 2  # the YAML is read again: a number
    again = proof.documents(STREAM, substitution=substitution(REGION="us", REPLICAS="5"))
    assert again[2]["spec"]["replicas"] == 5


def test_without_variables_and_without_always_nothing_is_substituted():
    idle = proof.Substitution("k", "apps/podinfo", {}, active=False)
    assert proof.documents(STREAM, substitution=idle) == proof.documents(STREAM)


def test_a_variable_the_checkout_cannot_tell_keeps_its_text():
    unknown = proof.Substitution(
        "k", "apps/podinfo", {"REGION": "eu"}, active=True, unknown=("Secret s",)
    )
    [settings, _, _] = proof.documents(STREAM, substitution=unknown)
    assert settings["data"]["zone"] == "${ZONE}"  # the same on both sides, whatever it is


def test_a_substitution_flux_cannot_parse_is_a_render_error():
    with pytest.raises(ValueError, match="post-build substitution"):
        proof.documents("kind: ConfigMap\ndata:\n  a: ${broken\n", substitution=substitution())


def env_deploy(region: str, url: str) -> dict[str, Any]:
    return edited(
        DEPLOY,
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
            env=[{"name": "REGION", "value": region}, {"name": "URL", "value": url}]
        ),
    )


def flux_ks(region: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "spec": {"path": "./apps/podinfo", "postBuild": {"substitute": {"REGION": region}}},
    }


def test_a_variable_carries_the_change_and_what_else_uses_it_is_a_note():
    live_before = env_deploy("eu", "https://eu.example.com")
    live_after = env_deploy("us", "https://eu.example.com")
    before, after = delta.sparse_delta(live_before, live_after)
    base = [env_deploy("eu", "https://eu.example.com"), CM]
    branch = [env_deploy("us", "https://us.example.com"), CM]
    outcome = proof.compare(base, branch, [change(before, after)], what="app")
    assert outcome.problems  # without knowing it is a variable, URL moved on its own
    keys = set(proof.keyed(base))
    derived = proof.compare(base, branch, [change(before, after)], what="app", by_variables=keys)
    assert derived.problems == []
    assert "Flux substitutes the same changed variable there" in derived.notes[0]
    carriers = {FLUX_KEY: "spec.postBuild.substitute"}
    ks = proof.compare([flux_ks("eu")], [flux_ks("us")], [], what="m", carriers=carriers)
    assert ks.problems == []
    assert "it holds the Flux post-build variables the change is written to" in ks.notes[0]
    beyond = edited(flux_ks("us"), lambda k: k["spec"].update(path="./apps/other"))
    assert proof.compare([flux_ks("eu")], [beyond], [], what="m", carriers=carriers).problems


def test_the_variables_of_a_kustomization_read_from_a_checkout(tmp_path):
    files = {
        "apps/podinfo/kustomization.yaml": "resources: [deploy.yaml]\n",
        "apps/podinfo/deploy.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        "clusters/prod/kustomization.yaml": "resources: [podinfo.yaml, vars.yaml]\n",
        "clusters/prod/podinfo.yaml": (
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
            "  name: podinfo\n  namespace: flux-system\nspec:\n  path: ./apps/podinfo\n"
            "  postBuild:\n    substitute:\n      REGION: eu\n    substituteFrom:\n"
            "    - kind: ConfigMap\n      name: vars\n    - kind: Secret\n      name: creds\n"
        ),
        "clusters/prod/vars.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n"
            "  namespace: flux-system\ndata:\n  REGION: ignored\n  ZONE: b\n"
        ),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = proof.flux_substitution(index.Index.build(tmp_path), "podinfo", "flux-system")
    assert isinstance(found, proof.Substitution)
    assert found.variables == {"REGION": "eu", "ZONE": "b"}  # substitute wins
    assert found.path == "apps/podinfo" and found.active
    assert found.unknown == ("Secret creds (substituteFrom[1])",)
    assert found.carriers == {
        FLUX_KEY: "spec.postBuild.substitute",
        ("", "ConfigMap", "flux-system", "vars"): "data",
    }
    missing = proof.flux_substitution(index.Index.build(tmp_path), "other", "flux-system")
    assert isinstance(missing, str) and "0 Flux Kustomization manifests" in missing


# --------------------------------------------------------------------------------------------
# The render check with the real kustomize, on a fleet repository

FLEET = {
    "apps/podinfo/kustomization.yaml": "resources: [deployment.yaml]\n",
    "apps/podinfo/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: podinfo
spec:
  replicas: ${REPLICAS:=2}
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.7.1
        env:
        - name: REGION
          value: ${REGION}
""",
    "clusters/prod/kustomization.yaml": "resources: [podinfo.yaml]\n",
    "clusters/prod/podinfo.yaml": """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: flux-system
spec:
  path: ./apps/podinfo
  postBuild:
    substitute:
      REGION: eu-central-1
""",
}


def _checkout(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _live(region: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": "podinfo"},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "podinfo", "env": [{"name": "REGION", "value": region}]}
                    ]
                }
            },
        },
    }


async def _prove(tmp_path, branch_files, changes, *, flux=True):
    kustomize_bin, helm_bin = render_tools()
    base = _checkout(tmp_path / "base", FLEET)
    branch = _checkout(tmp_path / "branch", {**FLEET, **branch_files})

    async def base_tree():
        return base

    return await rendercheck.prove(
        branch_tree=branch,
        base_tree=base_tree,
        base_commit="base",
        changed=sorted(branch_files),
        changes=changes,
        idx=index.Index.build(branch),
        subpath="apps/podinfo",
        helm=None,
        tools=rendercheck.Tools("required", str(kustomize_bin), str(helm_bin)),
        flux_kustomization=("podinfo", "flux-system") if flux else None,
    )


async def test_the_render_check_proves_a_change_written_to_a_variable(tmp_path):
    edited_ks = FLEET["clusters/prod/podinfo.yaml"].replace("eu-central-1", "eu-west-1")
    replicas = FLEET["clusters/prod/podinfo.yaml"] + '      REPLICAS: "3"\n'
    changes = [
        proof.Change("apps", "Deployment", "podinfo", "podinfo", *delta.sparse_delta(
            _live("eu-central-1", 2), _live("eu-west-1", 2)
        )),
    ]  # fmt: skip
    checked = await _prove(tmp_path, {"clusters/prod/podinfo.yaml": edited_ks}, changes)
    assert checked.problems == [] and checked.skipped == []
    assert any("with the post-build variables of Kustomization flux-system/podinfo" in c
               for c in checked.checked)  # fmt: skip
    assert any("holds the Flux post-build variables" in n for n in checked.notes)
    # the ${REPLICAS:=2} default reaches the render as a number, and a new value does too
    more = [proof.Change("apps", "Deployment", "podinfo", "podinfo", *delta.sparse_delta(
        _live("eu-central-1", 2), _live("eu-central-1", 3)
    ))]  # fmt: skip
    assert (await _prove(tmp_path / "r", {"clusters/prod/podinfo.yaml": replicas}, more)).ok
    # a wrong value is caught
    wrong = FLEET["clusters/prod/podinfo.yaml"].replace("eu-central-1", "eu-north-1")
    bad = await _prove(tmp_path / "w", {"clusters/prod/podinfo.yaml": wrong}, changes)
    assert any("the change wants \"eu-west-1\", the render has \"eu-north-1\"" in p
               for p in bad.problems)  # fmt: skip


async def test_without_the_variables_a_variable_edit_looks_like_a_missing_change(tmp_path):
    edited_ks = FLEET["clusters/prod/podinfo.yaml"].replace("eu-central-1", "eu-west-1")
    changes = [proof.Change("apps", "Deployment", "podinfo", "podinfo", *delta.sparse_delta(
        _live("eu-central-1", 2), _live("eu-west-1", 2)
    ))]  # fmt: skip
    checked = await _prove(tmp_path, {"clusters/prod/podinfo.yaml": edited_ks}, changes, flux=False)
    assert not checked.ok

"""kustomize components in the kustomization graph: the order their transformers run in.

kustomize builds a kustomization from its resources, then runs each component in turn over
everything gathered so far (a component first adds its own resources and runs its own
components), then the kustomization's generators and transformers.  The golden cases show
whole repositories; these pin the order through the names and namespaces it produces.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from breakglass.gitops import index, kustomize

MakeRepo = Callable[[dict[str, str]], Path]

COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"


def service(name: str) -> str:
    return f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports: []\n"


def rendered(tree: kustomize.Tree, idx: index.Index, path: str, subpath: str = "") -> set[str]:
    out: set[str] = set()
    for doc in idx.files[path].docs:
        for placement in tree.place(doc, subpath):
            out.add(f"{placement.namespace}/{placement.name} via {'>'.join(placement.chain)}")
    return out


def repo_files() -> dict[str, str]:
    return {
        "base/kustomization.yaml": "resources:\n- web.yaml\n",
        "base/web.yaml": service("web"),
        "app/kustomization.yaml": "namespace: prod\nresources:\n- ../base\n"
        "components:\n- ../c/one\n- ../c/two\n",
        "c/one/kustomization.yaml": COMPONENT + "nameSuffix: -one\nresources:\n- a.yaml\n",
        "c/one/a.yaml": service("a"),
        "c/two/kustomization.yaml": COMPONENT
        + "namePrefix: x-\nresources:\n- b.yaml\ncomponents:\n- ../three\n",
        "c/two/b.yaml": service("b"),
        "c/three/kustomization.yaml": COMPONENT + "namespace: inner\n",
    }


def test_a_component_transforms_what_came_before_it_and_not_what_came_after(
    make_repo: MakeRepo,
) -> None:
    idx = index.Index.build(make_repo(repo_files()))
    tree = kustomize.Tree.build(idx)
    # base: both components, two's own component inside two, then the overlay
    assert rendered(tree, idx, "base/web.yaml") == {
        "prod/x-web-one via app>c/two>c/three>c/one>base"
    }
    # one's resource: one's suffix, then two
    assert rendered(tree, idx, "c/one/a.yaml") == {"prod/x-a-one via app>c/two>c/three>c/one"}
    # two's resource: one ran before it was added
    assert rendered(tree, idx, "c/two/b.yaml") == {"prod/x-b via app>c/two>c/three"}


def test_a_nested_component_runs_before_its_parent_component(make_repo: MakeRepo) -> None:
    files = repo_files()
    files["app/kustomization.yaml"] = "resources:\n- ../base\ncomponents:\n- ../c/two\n"
    idx = index.Index.build(make_repo(files))
    tree = kustomize.Tree.build(idx)
    assert rendered(tree, idx, "base/web.yaml") == {"inner/x-web via app>c/two>c/three>base"}
    assert rendered(tree, idx, "c/two/b.yaml") == {"inner/x-b via app>c/two>c/three"}


def test_a_component_never_starts_a_chain_it_does_not_include(make_repo: MakeRepo) -> None:
    idx = index.Index.build(make_repo(repo_files()))
    tree = kustomize.Tree.build(idx)
    assert rendered(tree, idx, "base/web.yaml", "c") == set()
    assert rendered(tree, idx, "c/two/b.yaml", "c/two") == {"inner/x-b via c/two>c/three"}
    assert tree.chains("base/web.yaml", "app") == [("app", "c/two", "c/three", "c/one", "base")]


def test_a_component_included_twice_is_shared(make_repo: MakeRepo) -> None:
    files = repo_files()
    files["other/kustomization.yaml"] = "resources:\n- ../base\ncomponents:\n- ../c/one\n"
    idx = index.Index.build(make_repo(files))
    tree = kustomize.Tree.build(idx)
    assert tree.is_component("c/one") and tree.is_component("c/three")
    assert not tree.is_component("app")
    assert tree.is_shared("c/one")
    assert not tree.is_shared("c/two")
    assert tree.is_shared("c/one/a.yaml")

"""What a scan renders for a source: kustomize roots, and the manifests outside every
kustomization directory."""

from __future__ import annotations

from pathlib import Path

from breakglass import repos
from breakglass.gitops import index, kustomize
from breakglass.scan import sources

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"


def layout(root: Path, files: dict[str, str]) -> list[str]:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    idx = index.Index.build(root)
    tree = kustomize.Tree.build(idx)
    target = repos.RepoTarget(url="git@example:ops.git", branch="main", path="", owner="test")
    return [r.describe() for r in sources.plan(target, idx, tree)]


def test_manifests_inside_a_kustomization_directory_are_left_to_its_build(tmp_path):
    planned = layout(
        tmp_path,
        {
            "apps/a/kustomization.yaml": "resources: [deploy.yaml]\n",
            "apps/a/deploy.yaml": CM.format(name="a"),
            "apps/a/unused/extra.yaml": CM.format(name="a-extra"),
            "apps/ab/cm.yaml": CM.format(name="ab"),  # "apps/ab" is not inside "apps/a"
            "apps/plain/deep/x.yaml": CM.format(name="x"),
            "loose.yaml": CM.format(name="loose"),
        },
    )
    assert planned == [
        "kustomize build apps/a",
        "the manifest apps/ab/cm.yaml",
        "the manifest apps/plain/deep/x.yaml",
        "the manifest loose.yaml",
    ]


def test_a_kustomization_at_the_root_holds_every_manifest(tmp_path):
    planned = layout(
        tmp_path,
        {
            "kustomization.yaml": "resources: [apps/a]\n",
            "apps/a/kustomization.yaml": "resources: [deploy.yaml]\n",
            "apps/a/deploy.yaml": CM.format(name="a"),
            "apps/b/cm.yaml": CM.format(name="b"),
        },
    )
    assert planned == ["kustomize build ."]

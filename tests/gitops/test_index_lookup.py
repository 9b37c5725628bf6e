"""Locate by name lookup (with kustomize name prefixes/suffixes) and path-driven refresh."""

from __future__ import annotations

import os
import time
from pathlib import Path

from breakglass.gitops import index, kustomize, locate

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def test_locate_sees_through_prefix_and_suffix_chains(tmp_path):
    write(tmp_path, "base/cm.yaml", CM.format(name="settings"))
    write(tmp_path, "base/kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: team-\n")
    write(
        tmp_path,
        "prod/kustomization.yaml",
        "resources: [../base]\nnamePrefix: prod-\nnameSuffix: -v2\nnamespace: prod\n",
    )
    write(tmp_path, "other/cm.yaml", CM.format(name="prod-team-settings-v2"))
    idx = index.Index.build(tmp_path)
    tree = kustomize.Tree.build(idx)
    assert locate.source_names(
        "prod-team-settings-v2", frozenset({"prod-", "team-"}), frozenset({"-v2"})
    ) >= {"settings", "prod-team-settings-v2"}
    found = locate.locate(
        locate.Wanted("", "ConfigMap", "prod-team-settings-v2", "prod"), idx=idx, tree=tree
    )
    assert isinstance(found, locate.Found)
    assert found.placement.doc.path == "base/cm.yaml"
    assert found.placement.chain == ("prod", "base")


def test_refresh_paths_matches_a_full_refresh(tmp_path):
    write(tmp_path, "a/one.yaml", CM.format(name="one"))
    write(tmp_path, "a/two.yaml", CM.format(name="two"))
    write(tmp_path, ".hidden/x.yaml", CM.format(name="hidden"))
    idx = index.Index.build(tmp_path)
    write(tmp_path, "a/one.yaml", CM.format(name="uno"))
    stamp = time.time_ns() + 1_000_000
    os.utime(tmp_path / "a/one.yaml", ns=(stamp, stamp))
    (tmp_path / "a/two.yaml").unlink()
    write(tmp_path, "b/three.yaml", CM.format(name="three"))
    write(tmp_path, ".hidden/y.yaml", CM.format(name="hidden2"))
    stats = idx.refresh_paths(["a/one.yaml", "a/two.yaml", "b/three.yaml", ".hidden/y.yaml"])
    assert (stats.files_read, stats.files_removed) == (2, 1)
    full = index.Index.build(tmp_path)
    assert sorted(d.name for d in idx.all_docs()) == sorted(d.name for d in full.all_docs())
    assert [d.name for d in idx.docs_named("", "ConfigMap", ["uno", "two"])] == ["uno"]
    assert idx.refresh().files_read == 0

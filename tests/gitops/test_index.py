"""The document index: what it finds, what it reports, and incremental refresh."""

from __future__ import annotations

import os
from pathlib import Path

from breakglass.gitops import index

DOCS = """
# leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: b
  namespace: shop
---
not: kubernetes
"""


def test_index_text_finds_documents_with_lines() -> None:
    docs, problems = index.index_text("x.yaml", DOCS.lstrip())
    assert [(d.kind, d.name, d.namespace, d.chunk, d.line) for d in docs] == [
        ("ConfigMap", "a", None, 0, 2),
        ("Deployment", "b", "shop", 1, 7),
    ]
    assert docs[1].group == "apps"
    assert problems == ()


def test_broken_document_reported_with_line_and_others_kept() -> None:
    text = DOCS.lstrip() + "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: [x\n"
    docs, problems = index.index_text("x.yaml", text)
    assert [d.name for d in docs] == ["a", "b"]
    assert len(problems) == 1
    assert problems[0].startswith("x.yaml:")
    line = int(problems[0].split(":")[1])
    assert text.count("\n", 0, text.index("kind: Secret")) < line <= len(text.splitlines())


def test_templates_are_skipped() -> None:
    docs, problems = index.index_text("t.yaml", "metadata:\n  name: {{ .Values.name }}\n")
    assert docs == () and problems == ()


def test_refresh_reads_only_changed_files(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo: Path = make_repo({f"d{i}/cm.yaml": DOCS for i in range(5)})
    idx = index.Index.build(repo)
    assert len(list(idx.all_docs())) == 10
    stats = idx.refresh()
    assert (stats.files_seen, stats.files_read) == (5, 0)
    target = repo / "d3/cm.yaml"
    target.write_text(DOCS.replace("name: b", "name: c"))
    os.utime(target, ns=(1, 1))
    (repo / "d4/cm.yaml").unlink()
    stats = idx.refresh()
    assert (stats.files_read, stats.files_removed) == (1, 1)
    names = sorted(d.name for d in idx.docs_of_kind("apps", "Deployment"))
    assert names == ["b", "b", "b", "c"]


def test_kustomization_files_are_known_but_not_documents(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"k/kustomization.yaml": "resources: [a.yaml]\n", "k/a.yaml": DOCS})
    idx = index.Index.build(repo)
    assert idx.kustomization_files() == ["k/kustomization.yaml"]
    assert all(d.path == "k/a.yaml" for d in idx.all_docs())

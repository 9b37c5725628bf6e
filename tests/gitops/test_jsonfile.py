"""JSON manifests: layouts learnt and reproduced, documents found, edits verified, and the
index and engine treating ``.json`` files as JSON (never as YAML text)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from breakglass.gitops import edit, engine, helm_values, index, jsonfile
from breakglass.gitops.edit import AddItemOp, Match, RemoveOp, SetOp

JSON = Any

# What the usual serialisers write for one small ConfigMap, as captured from jq 1.6 (``jq .``,
# ``--tab``, ``-c``), Node's ``JSON.stringify(x, null, 2)`` (jq's text without the final
# newline) and Go's ``json.MarshalIndent(x, "", "    ")``, which kubectl uses (Go sorts the
# keys of a map and escapes <, > and &).
JQ_2 = """\
{
  "apiVersion": "v1",
  "kind": "ConfigMap",
  "metadata": {
    "name": "web-flags",
    "annotations": {
      "owner": "Zoë <zoe@example.com>",
      "runbook": "https://runbooks.example.com/?a=1&b=2"
    }
  },
  "data": {
    "beta": "true",
    "empty": "",
    "list": "[]"
  },
  "binaryData": {},
  "immutable": false
}
"""
JQ_TAB = "\n".join(
    "\t" * ((len(line) - len(line.lstrip(" "))) // 2) + line.lstrip(" ")
    for line in JQ_2.split("\n")
)
JQ_MIN = (
    '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web-flags","annotations":'
    '{"owner":"Zoë <zoe@example.com>","runbook":"https://runbooks.example.com/?a=1&b=2"}},'
    '"data":{"beta":"true","empty":"","list":"[]"},"binaryData":{},"immutable":false}\n'
)
NODE_2 = JQ_2.rstrip("\n")
GO_4 = r"""{
    "apiVersion": "v1",
    "binaryData": {},
    "data": {
        "beta": "true",
        "empty": "",
        "list": "[]"
    },
    "immutable": false,
    "kind": "ConfigMap",
    "metadata": {
        "annotations": {
            "owner": "Zoë \u003czoe@example.com\u003e",
            "runbook": "https://runbooks.example.com/?a=1\u0026b=2"
        },
        "name": "web-flags"
    }
}
"""
PY_ASCII = json.dumps(json.loads(JQ_2), indent=4) + "\n"

TOOL_OUTPUTS = {
    "jq": JQ_2,
    "jq --tab": JQ_TAB,
    "jq -c": JQ_MIN,
    "JSON.stringify(x, null, 2)": NODE_2,
    "kubectl / Go MarshalIndent": GO_4,
    "json.dumps(indent=4)": PY_ASCII,
}


def diff_lines(a: str, b: str) -> list[tuple[str, str]]:
    la, lb = a.split("\n"), b.split("\n")
    assert len(la) == len(lb)
    return [(x, y) for x, y in zip(la, lb, strict=True) if x != y]


@pytest.mark.parametrize("text", TOOL_OUTPUTS.values(), ids=list(TOOL_OUTPUTS))
def test_layouts_of_the_usual_tools_are_reproduced_exactly(text: str) -> None:
    assert jsonfile.dump(json.loads(text), jsonfile.detect_layout(text)) == text


@pytest.mark.parametrize("text", TOOL_OUTPUTS.values(), ids=list(TOOL_OUTPUTS))
def test_a_changed_value_changes_its_line_only(text: str) -> None:
    edited = jsonfile.edit_documents(text, {0: [SetOp(("data", "beta"), "false")]}, path="x.json")
    assert edited.note is None
    if "\n" in text.rstrip("\n"):
        (changed,) = diff_lines(text, edited.text)
        assert changed[0].replace('"true"', '"false"') == changed[1]
    assert json.loads(edited.text)["data"]["beta"] == "false"


def test_layout_details() -> None:
    go = jsonfile.detect_layout(GO_4)
    assert (go.indent, go.html, go.ascii, go.tail) == (4, True, False, "\n")
    node = jsonfile.detect_layout(NODE_2)
    assert (node.indent, node.tail, node.html) == (2, "", False)
    assert jsonfile.detect_layout(JQ_TAB).indent == "\t"
    minified = jsonfile.detect_layout(JQ_MIN)
    assert (minified.indent, minified.item_sep, minified.key_sep) == (None, ",", ":")
    assert jsonfile.detect_layout(PY_ASCII).ascii
    spaced = jsonfile.detect_layout('{"a": 1, "b": [1, 2]}')
    assert (spaced.indent, spaced.item_sep, spaced.key_sep) == (None, ", ", ": ")


def test_new_values_follow_the_escaping_of_the_file() -> None:
    ops = {0: [SetOp(("data", "beta"), "Ünï & <b>")]}
    go = jsonfile.edit_documents(GO_4, ops, path="x.json").text
    assert '"beta": "Ünï \\u0026 \\u003cb\\u003e",' in go
    py = jsonfile.edit_documents(PY_ASCII, ops, path="x.json").text
    assert '"beta": "\\u00dcn\\u00ef & <b>",' in py
    jq = jsonfile.edit_documents(JQ_2, ops, path="x.json").text
    assert '"beta": "Ünï & <b>",' in jq


def test_byte_order_mark_and_missing_final_newline_are_kept() -> None:
    text = "\ufeff" + NODE_2
    edited = jsonfile.edit_documents(text, {0: [SetOp(("data", "beta"), "no")]}, path="x.json")
    assert edited.text.startswith("\ufeff{\n") and edited.text.endswith("\n}")
    assert len(diff_lines(text, edited.text)) == 1


def test_keys_added_removed_and_items_added_keep_order_and_layout() -> None:
    ops = {
        0: [
            SetOp(("metadata", "labels"), {"app": "web"}),
            RemoveOp(("data", "empty")),
            SetOp(("data", "zeta"), "1"),
        ]
    }
    edited = jsonfile.edit_documents(JQ_2, ops, path="x.json")
    data = json.loads(edited.text)
    assert list(data["metadata"]) == ["name", "annotations", "labels"]
    assert list(data["data"]) == ["beta", "list", "zeta"]
    assert edited.text == jsonfile.dump(data, jsonfile.detect_layout(JQ_2))


def test_nothing_to_change_returns_the_text_itself() -> None:
    edited = jsonfile.edit_documents(GO_4, {0: [SetOp(("data", "beta"), "true")]}, path="x.json")
    assert edited.text is GO_4 and edited.note is None


def test_a_layout_not_reproduced_keeps_every_line_the_change_leaves_alone() -> None:
    text = (
        "{\n"
        '  "apiVersion": "apps/v1",\n'
        '  "kind": "Deployment",\n'
        '  "metadata": { "name": "web", "labels": { "app": "web" } },\n'
        '  "spec": {\n'
        '    "replicas": 2,\n'
        '    "template": { "spec": { "containers": [\n'
        '      { "name": "app", "image": "nginx:1.25", "args": ["--port", "8080"] }\n'
        "    ] } }\n"
        "  }\n"
        "}\n"
    )
    replicas = jsonfile.edit_documents(text, {0: [SetOp(("spec", "replicas"), 3)]}, path="x.json")
    assert replicas.note is None
    assert diff_lines(text, replicas.text) == [('    "replicas": 2,', '    "replicas": 3,')]
    path = ("spec", "template", "spec", "containers", Match("name", "app"), "image")
    image = jsonfile.edit_documents(text, {0: [SetOp(path, "nginx:1.26")]}, path="x.json")
    assert image.note is None
    assert diff_lines(text, image.text) == [
        (
            '      { "name": "app", "image": "nginx:1.25", "args": ["--port", "8080"] }',
            '      { "name": "app", "image": "nginx:1.26", "args": ["--port", "8080"] }',
        )
    ]
    added = ("spec", "template", "spec", "containers", Match("name", "app"), "command")
    command = jsonfile.edit_documents(text, {0: [SetOp(added, ["web"])]}, path="x.json")
    assert command.note is not None and "re-serialised with 2-space indentation" in command.note
    kept = [line for line in text.splitlines() if "image" not in line and "containers" not in line]
    assert all(line in command.text.splitlines() for line in kept[:6])
    assert json.loads(command.text)["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "web"
    ]


def test_mixed_indentation_outside_the_change_is_kept() -> None:
    text = '{\n  "kind": "ConfigMap",\n\t"apiVersion": "v1",\n  "data": {\n    "a": "1"\n  }\n}\n'
    edited = jsonfile.edit_documents(text, {0: [SetOp(("data", "b"), "2")]}, path="x.json")
    assert edited.note is None
    assert edited.text == text.replace('"a": "1"\n', '"a": "1",\n    "b": "2"\n')


def test_duplicate_keys_and_broken_text_are_refused() -> None:
    with pytest.raises(edit.EditError, match="duplicate key 'kind'"):
        jsonfile.edit_documents('{"kind": "A", "kind": "B"}', {0: []}, path="x.json")
    with pytest.raises(edit.EditError, match=r"x.json:1:\d+: "):
        jsonfile.edit_documents('{"kind": }', {0: []}, path="x.json")


def test_hostile_numbers_and_nesting_are_json_errors() -> None:
    with pytest.raises(jsonfile.JsonError):
        jsonfile.load('{"n": ' + "9" * 5000 + "}")
    with pytest.raises(jsonfile.JsonError):
        jsonfile.load("[" * 100_000 + "]" * 100_000)


LIST = json.dumps(
    {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}, "spec": {}},
        ],
    },
    indent=2,
)


def test_list_items_are_documents_with_their_lines() -> None:
    docs = jsonfile.documents(LIST)
    assert [(d.chunk, d.data["kind"]) for d in docs] == [(0, "ConfigMap"), (1, "Service")]
    lines = LIST.split("\n")
    assert [lines[d.line - 1].strip() for d in docs] == ["{", "{"]
    assert '"kind": "ConfigMap"' in lines[docs[0].line + 1]
    assert jsonfile.document(LIST, 1)["kind"] == "Service"
    edited = jsonfile.edit_documents(
        LIST, {1: [SetOp(("spec", "type"), "NodePort")]}, path="l.json"
    )
    assert json.loads(edited.text)["items"][1]["spec"] == {"type": "NodePort"}
    removed = jsonfile.remove_document(LIST, 0, path="l.json").text
    assert [i["kind"] for i in json.loads(removed)["items"]] == ["Service"]


def test_a_typed_list_is_a_list_and_an_array_is_not_a_document() -> None:
    typed = {"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [{"kind": "Deployment"}]}
    assert jsonfile.is_list(typed)
    assert [d.data for d in jsonfile.documents("[1, 2]")] == [[1, 2]]


# --------------------------------------------------------------------------------------------
# The index


def cm(name: str, **extra: JSON) -> str:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **extra}}
    return json.dumps(obj, indent=2) + "\n"


def test_index_reads_json_objects_and_list_items() -> None:
    docs, problems = index.index_text("a/x.json", "\n" + cm("one", namespace="shop"))
    assert [(d.kind, d.name, d.namespace, d.chunk, d.line) for d in docs] == [
        ("ConfigMap", "one", "shop", 0, 2)
    ]
    docs, problems = index.index_text("a/all.json", LIST)
    assert [(d.kind, d.name, d.chunk) for d in docs] == [("ConfigMap", "a", 0), ("Service", "b", 1)]
    assert problems == ()


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "shop", "private": true, "dependencies": {"cdk8s": "^2"}}',
        '{\n  // comments make tsconfig.json invalid JSON\n  "compilerOptions": {},\n}\n',
        '[{"op": "replace", "path": "/spec/replicas", "value": 3}]',
        '{"apiVersion": "v1", "kind": "Config", "clusters": []}',  # no metadata.name
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": {{ .Values.name }}}}',
    ],
    ids=["package.json", "tsconfig.json", "json6902-patch", "kubeconfig", "go-template"],
)
def test_json_that_is_not_a_manifest_is_skipped_silently(text: str) -> None:
    assert index.index_text("x.json", text) == ((), ())


def test_a_broken_manifest_is_reported_with_line_and_column() -> None:
    text = '{\n  "apiVersion": "v1",\n  "kind": "ConfigMap"\n  "metadata": {"name": "a"}\n}\n'
    assert index.index_text("apps/cm.json", text) == (
        (),
        ("apps/cm.json:4:3: invalid JSON: Expecting ',' delimiter",),
    )


def test_refresh_and_refresh_paths_follow_json_files(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo: Path = make_repo({"a/one.json": cm("one"), "a/two.yaml": "kind: Nothing\n"})
    idx = index.Index.build(repo)
    assert [d.name for d in idx.all_docs()] == ["one"]
    assert idx.refresh().files_read == 0
    target = repo / "a/one.json"
    target.write_text(cm("uno"))
    os.utime(target, ns=(1, 1))
    (repo / "a/new.json").write_text(cm("new"))
    stats = idx.refresh()
    assert (stats.files_read, stats.files_removed) == (2, 0)
    assert sorted(d.name for d in idx.all_docs()) == ["new", "uno"]
    target.write_text(cm("eins"))
    os.utime(target, ns=(2, 2))
    (repo / "a/new.json").unlink()
    stats = idx.refresh_paths(["a/one.json", "a/new.json", "a/package.json"])
    assert (stats.files_read, stats.files_removed) == (1, 1)
    assert [d.name for d in idx.all_docs()] == ["eins"]


def test_an_oversized_json_file_is_noted_only_if_it_may_be_a_manifest(make_repo) -> None:  # type: ignore[no-untyped-def]
    lock = json.dumps({"name": "x", "packages": {f"p{i}": {"v": "1"} for i in range(400)}})
    big_cm = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v" * 9000}})
    repo: Path = make_repo({"package-lock.json": lock, "big/cm.json": big_cm})
    idx = index.Index.build(repo, max_file_bytes=4096)
    assert idx.problems() == [f"big/cm.json: skipped, {len(big_cm)} bytes is above the 4096 cap"]


# --------------------------------------------------------------------------------------------
# The engine


def deployment(replicas: int, namespace: str = "shop") -> dict[str, JSON]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "resourceVersion": "7"},
        "spec": {"replicas": replicas},
    }


def test_a_json_6902_patch_file_is_edited_as_json(make_repo) -> None:  # type: ignore[no-untyped-def]
    patch = '[\n  {\n    "op": "replace",\n    "path": "/spec/replicas",\n    "value": 3\n  }\n]\n'
    repo: Path = make_repo(
        {
            "base/kustomization.yaml": "resources:\n  - deployment.json\n",
            "base/deployment.json": json.dumps(deployment(2), indent=2) + "\n",
            "prod/kustomization.yaml": (
                "namespace: shop\nresources:\n  - ../base\npatches:\n  - path: replicas.json\n"
                "    target: {kind: Deployment, name: web}\n"
            ),
            "prod/replicas.json": patch,
        }
    )
    result = engine.backfill(index.Index.build(repo), deployment(3), deployment(5))
    assert isinstance(result, engine.Changed), result
    assert result.files == {"prod/replicas.json": patch.replace('"value": 3', '"value": 5')}


def test_a_sops_encrypted_json_secret_is_refused(make_repo) -> None:  # type: ignore[no-untyped-def]
    encrypted = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": "ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]"},
        "sops": {"mac": "ENC[AES256_GCM,data:mac]", "lastmodified": "2026-01-01T00:00:00Z"},
    }
    repo: Path = make_repo(
        {
            ".sops.yaml": "creation_rules:\n  - age: age1qqqq\n",
            "shop/db.json": json.dumps(encrypted, indent=2) + "\n",
        }
    )
    old = {**encrypted, "data": {"password": "b2xk"}}
    old.pop("sops")
    new = {**old, "data": {"password": "bmV3"}}
    result = engine.backfill(index.Index.build(repo), old, new)
    assert isinstance(result, engine.CannotExpress), result
    assert "shop/db.json is a SOPS-encrypted JSON file" in result.reason
    assert "bmV3" not in result.reason + result.delta


def test_a_secret_created_next_to_json_siblings_is_refused(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo: Path = make_repo(
        {
            ".sops.yaml": "creation_rules:\n  - age: age1qqqq\n",
            "shop/web-deployment.json": json.dumps(deployment(2), indent=2) + "\n",
        }
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": "bmV3"},
    }
    result = engine.backfill(index.Index.build(repo), None, secret)
    assert isinstance(result, engine.CannotExpress), result
    assert "db-secret.json, next to JSON siblings" in result.reason


def test_helm_reads_a_release_kept_in_a_json_list(make_repo) -> None:  # type: ignore[no-untyped-def]
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"values": {"replicaCount": 2}},
    }
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [{"kind": "x"}, release]})
    repo: Path = make_repo({"releases.json": text})
    idx = index.Index.build(repo)
    (doc,) = idx.docs_of_kind("helm.toolkit.fluxcd.io", "HelmRelease")
    assert doc.chunk == 1
    assert helm_values.document(idx.read, doc)["spec"] == {"values": {"replicaCount": 2}}


def test_an_env_item_added_to_a_json_file_is_matched_by_name() -> None:
    text = json.dumps(
        {"spec": {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}}, indent=4
    )
    ops = {0: [AddItemOp(("spec", "env"), {"name": "C", "value": "3"}, "name")]}
    ops[0].append(SetOp(("spec", "env", Match("name", "A"), "value"), "9"))
    result = json.loads(jsonfile.edit_documents(text, ops, path="x.json").text)
    assert result["spec"]["env"] == [
        {"name": "A", "value": "9"},
        {"name": "B", "value": "2"},
        {"name": "C", "value": "3"},
    ]


# Found by fuzzing: two lists hold items that are equal line by line, one kept on single
# lines and one spread out, so matching lines cannot tell them apart.  Both finer attempts
# produce a file that does not read back as intended; the whole file is re-serialised.
LOOKALIKES = """\
{
  "spec": {
    "beta": [
      { "name": "app", "beta": { "x-y": "on", "port": 1 }, "mode": "-dash" },
      { "name": "init", "mode": { "delta": true, "x-y": 70 } }
    ],
    "mode": [
      { "name": "app", "beta": { "x-y": "on", "port": 1 }, "mode": "-dash" },
      {
        "name": "init",
        "mode": { "delta": true, "x-y": 70 }
      }
    ]
  }
}
"""


def test_when_no_merge_reads_back_the_whole_file_is_re_serialised_with_a_note() -> None:
    path = ("spec", "beta", Match("name", "init"), "mode", "extra")
    edited = jsonfile.edit_documents(LOOKALIKES, {0: [SetOp(path, False)]}, path="x.json")
    assert edited.note == (
        "x.json: re-serialised as a whole with 2-space indentation; its layout could not be "
        "kept around the change"
    )
    expected = json.loads(LOOKALIKES)
    expected["spec"]["beta"][1]["mode"]["extra"] = False
    assert edited.text == json.dumps(expected, indent=2) + "\n"


def test_a_changed_value_is_replaced_where_it_stands_whatever_the_layout() -> None:
    """Only scalars changed: each is replaced in place, so an object kept on one line (a JSON
    6902 patch file's operations, say) stays on its line."""
    path = ("spec", "beta", Match("name", "init"), "mode", "x-y")
    edited = jsonfile.edit_documents(LOOKALIKES, {0: [SetOp(path, False)]}, path="x.json")
    assert edited.note is None
    assert diff_lines(LOOKALIKES, edited.text) == [
        (
            '      { "name": "init", "mode": { "delta": true, "x-y": 70 } }',
            '      { "name": "init", "mode": { "delta": true, "x-y": false } }',
        )
    ]
    ops = (
        '[\n  {"op": "replace", "path": "/spec/replicas", "value": 3},\n'
        '  {"op": "add", "path": "/metadata/labels/tier", "value": "caf\\u00e9"}\n]\n'
    )
    changed = jsonfile.edit_documents(ops, {0: [SetOp((0, "value"), 5)]}, path="p.json")
    assert changed.note is None
    assert diff_lines(ops, changed.text) == [
        (
            '  {"op": "replace", "path": "/spec/replicas", "value": 3},',
            '  {"op": "replace", "path": "/spec/replicas", "value": 5},',
        )
    ]

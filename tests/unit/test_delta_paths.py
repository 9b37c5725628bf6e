"""How a change is named in titles, bodies, commits and the audit log (``delta.changed_paths``)."""

from __future__ import annotations

import copy
from typing import Any

from breakglass import delta

BASE: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "web:1",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "args": ["--port", "80"],
                    }
                ]
            }
        }
    },
}


def paths(mutate) -> list[str]:
    new = copy.deepcopy(BASE)
    mutate(new)
    return delta.changed_paths(*delta.sparse_delta(BASE, new))


def env(d):
    return d["spec"]["template"]["spec"]["containers"][0]["env"]


C = "spec.template.spec.containers[name=app]"


def test_a_removed_or_added_list_item_is_named_whole():
    assert paths(lambda d: env(d).pop(0)) == [f"{C}.env[name=A]"]
    assert paths(lambda d: env(d).append({"name": "C", "value": "3"})) == [f"{C}.env[name=C]"]


def test_a_changed_field_of_an_item_is_named_by_the_item_key():
    assert paths(lambda d: env(d)[1].update(value="5")) == [f"{C}.env[name=B].value"]
    assert paths(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="x")) == [
        f"{C}.image"
    ]


def test_maps_name_their_leaves_and_atomic_lists_themselves():
    assert paths(lambda d: d["metadata"]["labels"].update(team="pay")) == ["metadata.labels.team"]
    assert paths(lambda d: d["metadata"]["labels"].pop("app")) == ["metadata.labels.app"]
    assert paths(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(args=[])) == [
        f"{C}.args"
    ]


def test_a_creation_names_every_leaf_and_items_whole():
    before, after = delta.sparse_delta(None, BASE)
    found = delta.changed_paths(before, after)
    assert "metadata.labels.app" in found
    assert f"{C}" in found


def test_value_at_reads_back_what_a_path_names():
    side = {
        "metadata": {"labels": {"app.kubernetes.io/name": "web", "app": "x"}},
        "spec": {"rules": [{"host": "a"}, {"host": "b"}], "containers": [{"name": "app"}]},
    }
    assert delta.value_at(side, "metadata.labels.app.kubernetes.io/name") == "web"
    assert delta.value_at(side, "metadata.labels.app") == "x"
    assert delta.value_at(side, "spec.rules[1].host") == "b"
    assert delta.value_at(side, "spec.containers[name=app]") == {"name": "app"}
    assert delta.value_at(side, "spec.containers[name=db]") is None
    assert delta.value_at(side, "spec.rules[5]") is None
    assert delta.value_at(side, "nothing.here") is None
    for path in delta.changed_paths({}, side):
        assert delta.value_at(side, path) is not None, path

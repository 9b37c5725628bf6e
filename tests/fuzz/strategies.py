"""Hostile payloads: realistic reviews and events with any field replaced by any JSON value."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from hypothesis import strategies as st

from tests import payloads as p

# What orjson can hand us: 64-bit integers, finite floats, any valid Unicode text.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)

timestamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.builds(
        lambda d, h: d.isoformat() + (f"+{h:02d}:00" if h >= 0 else f"-{-h:02d}:00"),
        st.datetimes(),
        st.integers(-23, 23),
    ),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "", "Z", "x"]),
)
uris = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["//[x?dryRun=All", "http://[::1", "/api/v1?%zz=1&dryRun=All", "?" * 50]),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> None:
    node = doc
    for part in path[:-1]:
        node = node[part]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
    """One of ``bases`` with up to four fields (at any depth) replaced or deleted."""
    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        special = extra.get(str(path[-1]))
        value = draw(special if special is not None and draw(st.booleans()) else json_values)
        delete = draw(st.booleans())
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _replace(doc, path, value, delete)
    return doc


def admission_bases() -> list[dict[str, Any]]:
    dep = p.deployment()
    return [
        p.review(operation="UPDATE", obj=p.deployment(replicas=5), old=dep)["request"],
        p.review(operation="CREATE", obj=p.secret(), old=None)["request"],
        p.review(operation="UPDATE", obj=p.secret(value="new"), old=p.secret())["request"],
        p.review(operation="DELETE", obj=None, old=p.configmap())["request"],
        p.review(
            operation="UPDATE",
            obj=p.configmap(data={"DB_PASSWORD": "x"}),
            old=p.configmap(),
        )["request"],
        p.scale_review(old_replicas=2, new_replicas=9)["request"],
    ]


def audit_bases() -> list[dict[str, Any]]:
    return [
        p.audit_event(
            verb="patch",
            resource="secrets",
            name="db-creds",
            request_object={"data": {"password": "eA=="}},
            response_object=p.secret(),
        ),
        p.audit_event(
            verb="patch",
            resource="secrets",
            name="db-creds",
            request_object=[{"op": "replace", "path": "/data/password", "value": "eA=="}],
        ),
        p.audit_event(
            verb="update",
            resource="deployments",
            group="apps",
            name="checkout",
            response_object=p.deployment(),
        ),
        p.audit_event(
            verb="update", resource="deployments", group="apps", name="checkout", capture_id="c1"
        ),
        p.audit_event(
            verb="update",
            resource="deployments",
            group="apps",
            name="checkout",
            subresource="scale",
            response_object={"spec": {"replicas": 3}},
        ),
        p.audit_event(
            verb="create",
            resource="configmaps",
            name="c",
            request_object=p.configmap(),
            impersonated=p.BOB,
        ),
    ]


ADMISSION_EXTRA = {"uid": st.text(min_size=1, max_size=10)}
AUDIT_EXTRA = {
    "requestReceivedTimestamp": timestamps,
    "stageTimestamp": timestamps,
    "requestURI": uris,
}

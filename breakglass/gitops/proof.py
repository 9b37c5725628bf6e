"""The render check: does what a branch deploys carry the human's change, and nothing else?

The engine edits text; what reaches the cluster is what the GitOps tool renders from it
(``kustomize build`` of an overlay, ``helm template`` of a chart, or the plain manifests).  A
pull request is only right if that render changed exactly as the engineer changed the live
object.  This module decides that, with no I/O: the worker renders the base and the branch
(``breakglass.rendercheck`` runs the tools) and hands both streams here.

- ``plan`` says what to render for a set of changed files: each kustomization root that
  includes one of them (the outermost kustomization inside the application's path), the
  chart of a Helm application, or the files themselves when no kustomization includes them.
- ``compare`` takes the base render, the branch render and the changes (each capture's sparse
  before/after) and returns the problems: the object the change is about must equal the base
  render with the change applied, every other object must be untouched.

Values are named in problems so a reviewer can act, except a Secret's data, which are only
said to differ.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from breakglass import delta
from breakglass.gitops import defaults, edit, index, kustomize
from breakglass.gitops.edit import AddItemOp, Op

JSON = Any
Key = tuple[str, str, str | None, str]  # group, kind, namespace (None: left out), name

#: How many differences one problem lists before it summarises the rest.
SHOWN: Final = 6
_SECRET_FIELDS: Final = ("data", "stringData")


@dataclass(frozen=True)
class Change:
    """One capture's intended change of one object, as the worker hands it to the check."""

    group: str
    kind: str
    namespace: str
    name: str
    before: JSON | None  # sparse side; None for a creation
    after: JSON | None  # sparse side; None for a deletion

    @property
    def key(self) -> Key:
        return (self.group, self.kind, self.namespace or None, self.name)

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class Render:
    """One thing to render: ``kind`` is ``kustomize``, ``helm`` or ``plain``."""

    kind: str
    path: str  # kustomization directory, chart directory, or a manifest file
    release: str = ""
    namespace: str = ""
    values_files: tuple[str, ...] = ()
    values: Mapping[str, JSON] | None = None

    def describe(self) -> str:
        if self.kind == "kustomize":
            return f"kustomize build {self.path or '.'}"
        if self.kind == "helm":
            return f"helm template {self.release} {self.path or '.'}"
        return f"the manifest {self.path}"


@dataclass(frozen=True)
class HelmApp:
    """A chart kept in the repository that an application renders (Argo CD helm source)."""

    chart: str
    release: str
    namespace: str
    values_files: tuple[str, ...] = ()
    values: Mapping[str, JSON] | None = None


@dataclass
class Outcome:
    """What the check found; ``problems`` empty means the render proves the change."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# --------------------------------------------------------------------------------------------
# What to render


def plan(
    changed: Iterable[str],
    *,
    tree: kustomize.Tree,
    subpath: str,
    helm: HelmApp | None = None,
) -> list[Render]:
    """What renders the ``changed`` files of an application rooted at ``subpath``.

    ``tree`` is the kustomize tree of the branch (so a file the change adds is included by
    the kustomization that now lists it).  A deleted file is no longer included; the
    kustomization that listed it changed too, and its root is rendered.
    """
    subpath = subpath.strip("/")
    if helm is not None:
        return [
            Render(
                "helm",
                helm.chart,
                release=helm.release,
                namespace=helm.namespace,
                values_files=helm.values_files,
                values=helm.values,
            )
        ]
    roots: list[str] = []
    plain: list[str] = []
    for path in sorted(set(changed)):
        directory = posixpath.dirname(path)
        target = directory if index.is_kustomization(path) else path
        found = [c[0] for c in tree.chains(target, subpath) if c]
        if target in tree.kustomizations and not found and index.under(target, subpath):
            found = [target]  # a kustomization nothing inside the application includes
        if found:
            roots.extend(r for r in found if r not in roots)
        elif not index.is_kustomization(path):
            plain.append(path)
    return [Render("kustomize", r) for r in roots] + [Render("plain", p) for p in plain]


# --------------------------------------------------------------------------------------------
# Reading renders


def documents(text: str, *, json_file: bool = False) -> list[dict[str, JSON]]:
    """The Kubernetes objects in a rendered stream or a manifest file (``List`` items too)."""
    loaded: list[JSON]
    try:
        if json_file:
            loaded = [json.loads(text)] if text.strip() else []
        else:
            loaded = list(yaml.safe_load_all(text))
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"not readable as {'JSON' if json_file else 'YAML'}: {exc}") from None
    out: list[dict[str, JSON]] = []
    for doc in loaded:
        if (
            isinstance(doc, dict)
            and isinstance(doc.get("items"), list)
            and str(doc.get("kind", "")).endswith("List")
        ):
            out.extend(i for i in doc["items"] if isinstance(i, dict))
            continue
        if isinstance(doc, dict) and "kind" in doc:
            out.append(doc)
    return out


def keyed(docs: Iterable[dict[str, JSON]]) -> dict[Key, dict[str, JSON]]:
    out: dict[Key, dict[str, JSON]] = {}
    for doc in docs:
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        key = (
            index.group_of(str(doc.get("apiVersion", ""))),
            str(doc.get("kind", "")),
            str(meta["namespace"]) if meta.get("namespace") else None,
            str(meta.get("name", "")),
        )
        out[key] = doc
    return out


# --------------------------------------------------------------------------------------------
# Comparing


def delta_ops(kind: str, before: JSON, after: JSON) -> list[Op]:
    """The operations of a sparse change, with server defaults taken out of added items (as
    the engine writes them)."""
    ops = edit.ops_from_delta(before, after)
    cleaned: list[Op] = []
    for op in ops:
        if isinstance(op, AddItemOp) and op.path and op.path[-1] in defaults.ITEM_CLEANERS:
            item = defaults.ITEM_CLEANERS[str(op.path[-1])](op.item)
            cleaned.append(AddItemOp(op.path, item, op.key))
        else:
            cleaned.append(op)
    return cleaned


def compare(
    base: Sequence[dict[str, JSON]],
    branch: Sequence[dict[str, JSON]],
    changes: Sequence[Change],
    *,
    what: str,
) -> list[str]:
    """Problems with ``branch`` as a render of ``base`` plus ``changes`` (oldest first).

    ``what`` names the render in messages (``kustomize build apps/checkout``).  Only objects
    the render contains are judged: a change to an object this render does not hold is
    another render's business, but one of the renders must hold it (see ``missing``).
    """
    before = keyed(base)
    after = keyed(branch)
    problems: list[str] = []
    touched: set[Key] = set()
    by_object: dict[Key, list[Change]] = {}
    for change in changes:
        by_object.setdefault(change.key, []).append(change)
    for key, mine in by_object.items():
        base_key = _find(before, key)
        branch_key = _find(after, key)
        if base_key is None and branch_key is None:
            continue
        touched.update(k for k in (base_key, branch_key) if k is not None)
        expected = before.get(base_key) if base_key is not None else None
        expected = _strip(expected) if expected is not None else None
        for change in mine:
            expected = _apply(expected, change)
        actual = after.get(branch_key) if branch_key is not None else None
        problems.extend(_judge(mine[-1], expected, actual, what=what))
    for key in sorted(set(before) | set(after), key=str):
        if key in touched:
            continue
        old, new = before.get(key), after.get(key)
        if old is None or new is None:
            verb = "adds" if old is None else "removes"
            problems.append(f"{what} also {verb} {_describe(key)}, which the change does not")
            continue
        if _strip(old) != _strip(new):
            paths = _diff_paths(_strip(old), _strip(new))
            problems.append(
                f"{what} also changes {_describe(key)} at {_paths(paths)}, which the change "
                "does not touch"
            )
    return problems


def holds_somewhere(
    renders: Sequence[Sequence[dict[str, JSON]]], changes: Sequence[Change]
) -> list[str]:
    """Problems for changes of objects that none of the branch ``renders`` holds (a
    deletion is satisfied by its absence)."""
    problems: list[str] = []
    seen: set[Key] = set()
    for change in changes:
        if change.key in seen:
            continue
        seen.add(change.key)
        last = [c for c in changes if c.key == change.key][-1]
        if last.after is None:
            continue
        if not any(_find(keyed(r), change.key) is not None for r in renders):
            problems.append(
                f"no render of the branch contains {change.describe()}: the edited files do "
                "not deploy it"
            )
    return problems


def _find(objects: Mapping[Key, JSON], key: Key) -> Key | None:
    """``key`` in ``objects``, or the same object written without its namespace (a plain
    manifest that leaves the namespace to the application)."""
    if key in objects:
        return key
    loose = (key[0], key[1], None, key[3])
    return loose if loose in objects else None


def _strip(obj: JSON) -> JSON:
    stripped = delta.strip_server_fields(obj)
    # SOPS metadata (recipients, MAC) is new on every encryption and never reaches the
    # cluster: Flux removes it when it decrypts
    if isinstance(stripped.get("sops"), dict):
        del stripped["sops"]
    meta = stripped.get("metadata")
    if isinstance(meta, dict):
        meta.pop("namespace", None)  # matched already; a plain file may leave it out
    return stripped


def _apply(expected: JSON | None, change: Change) -> JSON | None:
    if change.after is None:
        return None
    if change.before is None or expected is None:
        created = defaults.clean_object(delta.strip_server_fields(change.after))
        return _strip(created)
    ops = delta_ops(change.kind, _strip(change.before), _strip(change.after))
    return edit.apply_plain(expected, ops)


def _judge(change: Change, expected: JSON | None, actual: JSON | None, *, what: str) -> list[str]:
    secret = (change.group, change.kind) == ("", "Secret")
    if expected is None and actual is None:
        return []
    if expected is None:
        return [f"{what} still holds {change.describe()}, which was deleted"]
    if actual is None:
        return [f"{what} no longer holds {change.describe()}"]
    actual = _strip(actual)
    if secret:
        # values are encrypted in Git (SOPS) and redacted in captures: the engine checks
        # them by reading its output back; here only the rest of the Secret is compared
        expected = {k: v for k, v in expected.items() if k not in _SECRET_FIELDS}
        actual = {k: v for k, v in actual.items() if k not in _SECRET_FIELDS}
    if change.before is None:
        missing = _missing_paths(expected, actual)
        if missing:
            return [
                f"{what} renders {change.describe()} without what was created at {_paths(missing)}"
            ]
        return []
    if expected == actual:
        return []
    old, new = delta.sparse_delta(expected, actual)
    paths = delta.changed_paths(old, new)
    shown = [_show(p, old, new) for p in paths[:SHOWN]]
    more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return [
        f"{what} renders {change.describe()} differently from the live object: "
        + "; ".join(shown)
        + more
    ]


def _missing_paths(expected: JSON, actual: JSON) -> list[str]:
    old, new = delta.sparse_delta(actual, expected)
    if delta.holds(actual, {}, expected):
        return []
    return delta.changed_paths(old, new)


def _show(path: str, old: JSON, new: JSON) -> str:
    return f"{path} (the change wants {_value(old, path)}, the render has {_value(new, path)})"


def _value(side: JSON, path: str) -> str:
    node = side
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and isinstance(node, list):
            key, _, value = part[1:-1].partition("=")
            node = next((i for i in node if isinstance(i, dict) and str(i.get(key)) == value), None)
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            node = None
        if node is None:
            return "nothing"
    text = json.dumps(node, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def _diff_paths(old: JSON, new: JSON) -> list[str]:
    return delta.changed_paths(*delta.sparse_delta(old, new))


def _paths(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:SHOWN])
    return shown + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")


def _describe(key: Key) -> str:
    _, kind, namespace, name = key
    where = f"{namespace}/{name}" if namespace else name
    return f"{kind} {where}"

"""The render check: does what a branch deploys carry the human's change, and nothing else?

The engine edits text; what reaches the cluster is what the GitOps tool renders from it
(``kustomize build`` of an overlay, ``helm template`` of a chart, or the plain manifests).  A
pull request is only right if that render changed exactly as the engineer changed the live
object.  This module decides that, with no I/O: the worker renders the base and the branch
(``breakglass.rendercheck`` runs the tools) and hands both streams here.

- ``plan`` says what to render for a set of changed files: each kustomization root that
  builds one of them (as a resource, a patch or a generator's file; the outermost
  kustomization inside the application's path), the chart of a Helm application, or the
  files themselves when no kustomization builds them; ``flux_helm_app`` finds a Flux
  HelmRelease's chart and values in a checkout.
- ``compare`` takes the base render, the branch render and the changes (each capture's sparse
  before/after) and returns the problems: the object the change is about must equal the base
  render with the change applied, every other object must be untouched, except what the
  render derives from the change by design (a chart's templates, a generator's hashed name,
  what a changed Flux variable substitutes), which becomes a note for the reviewer.
- ``flux_substitution`` reads, from a checkout, the post-build variables of the Flux
  Kustomization that applies the change's objects, and ``documents`` applies them to a render
  as kustomize-controller does (``breakglass.gitops.varsub``), so a change the engine wrote
  into a variable shows in the objects that use it.

Values are named in problems so a reviewer can act, except a Secret's data, which are only
said to differ.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from breakglass import delta
from breakglass.capture.redact import SECRET_FIELDS
from breakglass.gitops import (
    defaults,
    edit,
    fluxvars,
    helm,
    helm_values,
    index,
    kustomize,
    roundtrip,
    varsub,
)

JSON = Any
Key = tuple[str, str, str | None, str]  # group, kind, namespace (None: left out), name

#: How many differences one problem lists before it summarises the rest.
SHOWN: Final = 6


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
        if self.kind == "flux-helm":
            return f"helm template of HelmRelease {self.namespace}/{self.release}"
        return f"the manifest {self.path}"


@dataclass(frozen=True)
class HelmApp:
    """A chart kept in the repository that an application renders (Argo CD helm source)."""

    chart: str
    release: str
    namespace: str
    values_files: tuple[str, ...] = ()
    values: Mapping[str, JSON] | None = None


class Unrenderable(Exception):
    """What a render needs is not in the checkout; the message says what."""


def flux_helm_app(idx: index.Index, release: str, namespace: str) -> HelmApp | str:
    """The chart and values of the Flux HelmRelease ``namespace/release`` in a checkout, as
    helm-controller would render it, or why that cannot be known from the checkout.

    Only a chart kept in this repository (a ``GitRepository`` source whose chart directory is
    here) can be rendered; its values are every layer Flux merges (the chart's values or
    ``valuesFiles``, ``valuesFrom``, ``spec.values``), each read from this checkout.
    """
    read = idx.read
    tree = kustomize.Tree.build(idx)
    found = [
        r
        for r in helm.all_releases(idx, read)
        if r.flux and r.doc.name == release and (r.doc.namespace or namespace) == namespace
    ]
    if len(found) != 1:
        return f"{len(found)} HelmRelease manifests named {namespace}/{release} in the checkout"
    data = helm_values.document(read, found[0].doc)
    spec = helm_values.mapping(data.get("spec"))
    template = helm_values.mapping(helm_values.mapping(spec.get("chart")).get("spec"))
    if helm_values.mapping(template.get("sourceRef")).get("kind") != "GitRepository":
        return "the HelmRelease's chart comes from a Helm or OCI repository, not from Git"
    chart = helm_values.chart_dir(read, {"path": template.get("chart")})
    if chart is None:
        return "the HelmRelease's chart is not a directory of this repository"
    layers = helm.layers_of(found[0], helm_values.Context(read, idx, tree))
    unreadable = [layer.label for layer in layers.layers if layer.values is None]
    if unreadable:
        return "values the checkout does not hold: " + ", ".join(unreadable)
    name = str(spec.get("releaseName") or release)
    target = str(spec.get("targetNamespace") or namespace)
    return HelmApp(chart, name, target, values=helm_values.merge(layers.layers))


@dataclass(frozen=True)
class Substitution:
    """What a Flux Kustomization substitutes into the objects it applies, read from one
    checkout: its variables, whether it substitutes at all, and the objects that hold them
    (its own manifest, the ``substituteFrom`` ConfigMaps) with the field that does."""

    applier: str
    path: str  # its spec.path: what renders from there is substituted
    variables: Mapping[str, str]
    active: bool
    #: places whose variables the checkout cannot tell (Secrets, ConfigMaps kept elsewhere);
    #: a variable only they may set keeps its ``${NAME}`` text on both sides
    unknown: tuple[str, ...] = ()
    carriers: Mapping[Key, str] = field(default_factory=dict)
    manifest: str = ""  # the file of the Kustomization manifest

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.variables:
            return self.variables[name], True
        return ("${" + name + "}" if self.unknown else ""), True


def flux_substitution(
    idx: index.Index,
    name: str,
    namespace: str,
    live: Sequence[Mapping[str, JSON]] = (),
    *,
    changed: Collection[str] = (),
    manifest: str | None = None,
) -> Substitution | str:
    """The post-build variables of the Flux Kustomization ``namespace/name`` as the checkout
    sets them, or why they cannot be known.  Manifests of the same name (one per cluster) are
    told apart by the file ``manifest``, else the one among the ``changed`` files (the engine
    set a variable in it), else the one that says what the cluster's Kustomization (``live``)
    says."""
    tree = kustomize.Tree.build(idx)
    ctx = fluxvars.Context(idx, tree, idx.read, idx.read_exact)
    found = fluxvars.named(fluxvars.appliers(ctx), name, namespace)
    if manifest is not None:
        found = [a for a in found if a.doc.path == manifest]
    if len(found) > 1 and changed:
        found = [a for a in found if a.doc.path in changed] or found
    if len(found) > 1 and live:
        found = [a for a in found if any(fluxvars.same_as_live(a, k) for k in live)] or found
    if len(found) != 1:
        return (
            f"{len(found)} Flux Kustomization manifests named {namespace}/{name} in the "
            "checkout, so which variables it substitutes is not known"
        )
    applier = found[0]
    variables = fluxvars.variables(ctx, applier)
    own = applier.namespace or namespace
    carriers: dict[Key, str] = {
        (fluxvars.GROUP, "Kustomization", own, applier.doc.name): "spec.postBuild.substitute"
    }
    refs = (applier.postbuild or {}).get("substituteFrom")
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, dict) and ref.get("kind") == "ConfigMap" and ref.get("name"):
            carriers[("", "ConfigMap", own, str(ref["name"]))] = "data"
    return Substitution(
        applier.describe(),
        applier.path,
        variables.values(),
        variables.active(),
        tuple(p.label for p in variables.unknown()),
        carriers,
        applier.doc.path,
    )


def application(tree: kustomize.Tree, idx: index.Index, path: str) -> list[Render]:
    """What renders everything a Flux Kustomization of ``spec.path`` applies: ``kustomize
    build`` of the path, or each manifest below it when it has no kustomization (Flux then
    generates one that takes them all in)."""
    if path in tree.kustomizations:
        return [Render("kustomize", path)]
    return [
        Render("plain", p)
        for p, entry in sorted(idx.files.items())
        if entry.docs and index.under(p, path) and not index.is_kustomization(p)
    ]


@dataclass
class Outcome:
    """What the check found; ``problems`` empty means the render proves the change, and
    ``notes`` are what a reviewer should see besides (derived changes, generated names)."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the changed objects this render holds (by the key of the change, followed through a
    #: generator's new hashed name)
    held: set[Key] = field(default_factory=set)

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
    patches = {
        ref.file: kust.dir
        for kust in tree.kustomizations.values()
        for ref in kust.patches
        if ref.file
    }
    for path in sorted(set(changed)):
        found: list[str] = []
        for target in _targets(path, tree, patches):
            found = _roots(target, tree, subpath)
            if found:
                break
        if found:
            roots.extend(r for r in found if r not in roots)
        elif not index.is_kustomization(path):
            plain.append(path)
    return [Render("kustomize", r) for r in roots] + [Render("plain", p) for p in plain]


def _targets(path: str, tree: kustomize.Tree, patches: Mapping[str, str]) -> list[str]:
    """What builds a changed file, nearest first: the file itself (a resource), the
    kustomization listing it as a patch, then each enclosing kustomization directory (a
    generator's env or config file, a component's files)."""
    out = [posixpath.dirname(path) if index.is_kustomization(path) else path]
    if path in patches:
        out.append(patches[path])
    directory = posixpath.dirname(path)
    while True:
        if directory in tree.kustomizations and directory not in out:
            out.append(directory)
        if not directory:
            return out
        directory = posixpath.dirname(directory)


def _roots(target: str, tree: kustomize.Tree, subpath: str) -> list[str]:
    """The outermost kustomizations inside ``subpath`` that build ``target``."""
    found = [c[0] for c in tree.chains(target, subpath) if c]
    if not found and target in tree.kustomizations and index.under(target, subpath):
        found = [target]  # a kustomization nothing inside the application includes
    return found


# --------------------------------------------------------------------------------------------
# Reading renders


def documents(
    text: str, *, json_file: bool = False, substitution: Substitution | None = None
) -> list[dict[str, JSON]]:
    """The Kubernetes objects in a rendered stream or a manifest file (``List`` items too);
    with ``substitution``, each YAML document as Flux substitutes it (one labelled or
    annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled`` as it is)."""
    loaded: list[JSON]
    try:
        if json_file:
            loaded = [json.loads(text)] if text.strip() else []
        elif substitution is not None and substitution.active:
            loaded = [_substituted(c.text, substitution) for c in roundtrip.split_documents(text)]
        else:
            loaded = list(yaml.safe_load_all(text))
    except varsub.SubstitutionError as exc:
        raise ValueError(f"Flux's post-build substitution fails: {exc}") from None
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


def _substituted(text: str, substitution: Substitution) -> JSON:
    """One rendered document as kustomize-controller applies it: the variables put into its
    YAML text, which is then read again (so ``${REPLICAS}`` becomes a number)."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or varsub.disabled(raw):
        return raw
    return yaml.safe_load(varsub.evaluate(varsub.parse(text), substitution.lookup))


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


def compare(
    base: Sequence[dict[str, JSON]],
    branch: Sequence[dict[str, JSON]],
    changes: Sequence[Change],
    *,
    what: str,
    derived: bool = False,
    carriers: Mapping[Key, str] | None = None,
    by_variables: Collection[Key] = (),
) -> Outcome:
    """Problems (and notes) with ``branch`` as a render of ``base`` plus ``changes`` (oldest
    first).

    ``what`` names the render in messages (``kustomize build apps/checkout``).  Only objects
    the render contains are judged: a change to an object this render does not hold is
    another render's business, but one of the renders must hold it (``holds_somewhere``).

    Every field a change touched must hold its live value.  Anything else that differs is a
    problem, except what the render derives from the change by design, which becomes a note:
    with ``derived`` (a Helm chart, whose templates may use one value in several places) any
    other difference; always, a kustomize generator's new content-hash name and the
    references that follow it.  Items of keyed lists (containers, env, ports) are compared
    by key, whatever their order.

    Flux's post-build variables: ``carriers`` are the objects that hold the variables (a
    Kustomization's ``spec.postBuild.substitute``, a ``substituteFrom`` ConfigMap's ``data``),
    whose changes there are how the change is written; ``by_variables`` are the objects whose
    render before substitution is the same on both sides, so whatever differs in them comes
    from a changed variable, and is a note.
    """
    out = Outcome(checked=[what])
    renames = _hash_renames(keyed(base), keyed(branch))
    before = keyed(_renamed(d, renames) for d in base)
    after = keyed(branch)
    for was, now in renames.items():
        out.notes.append(
            f"{what}: kustomize now names the generated object {was} as {now} (its content "
            "hash changed), and the objects that refer to it follow"
        )
    touched: set[Key] = set()
    by_object: dict[Key, list[Change]] = {}
    for change in changes:
        by_object.setdefault(change.key, []).append(change)
    for key, mine in by_object.items():
        renamed = (key[0], key[1], key[2], renames.get(key[3], key[3]))
        base_key = _find(before, renamed)
        branch_key = _find(after, renamed)
        if branch_key is not None:
            out.held.add(key)
        if base_key is None and branch_key is None:
            continue
        touched.update(k for k in (base_key, branch_key) if k is not None)
        expected = before.get(base_key) if base_key is not None else None
        expected = _strip(expected) if expected is not None else None
        for change in mine:
            expected = _apply(expected, _renamed_change(change, renames))
        actual = after.get(branch_key) if branch_key is not None else None
        substituted = _member(key, by_variables) and not derived
        why = _VARIABLES if substituted else _CHART
        problems, notes = _judge(
            mine, expected, actual, what=what, derived=derived or substituted, why=why
        )
        out.problems.extend(problems)
        out.notes.extend(notes)
    for key in sorted(set(before) | set(after), key=str):
        if key in touched:
            continue
        old, new = before.get(key), after.get(key)
        found = out.notes if derived else out.problems
        if old is None or new is None:
            verb = "adds" if old is None else "removes"
            found.append(f"{what} also {verb} {_describe(key)}, which the change does not")
            continue
        if _canonical(_strip(old)) != _canonical(_strip(new)):
            paths = _diff_paths(_strip(old), _strip(new))
            field = _carrier(key, carriers or {})
            if field is not None and all(p == field or p.startswith(field + ".") for p in paths):
                out.notes.append(
                    f"{what} changes {_describe(key)} at {_paths(paths)}: it holds the Flux "
                    "post-build variables the change is written to"
                )
                continue
            if _member(key, by_variables):
                out.notes.append(
                    f"{what} also changes {_describe(key)} at {_paths(paths)}, which the change "
                    "does not touch: Flux substitutes a changed variable there"
                )
                continue
            found.append(
                f"{what} also changes {_describe(key)} at {_paths(paths)}, which the change "
                "does not touch"
            )
    return out


_CHART: Final = " (the chart derives it from the same values)"
_VARIABLES: Final = " (Flux substitutes the same changed variable there)"


def _member(key: Key, keys: Collection[Key]) -> bool:
    return key in keys or (key[0], key[1], None, key[3]) in keys


def _carrier(key: Key, carriers: Mapping[Key, str]) -> str | None:
    """The field of ``key`` that holds Flux variables, if it is a carrier (a manifest that
    leaves its namespace out matches by name)."""
    if key in carriers:
        return carriers[key]
    for (group, kind, _namespace, name), found in carriers.items():
        if key[2] is None and (group, kind, name) == (key[0], key[1], key[3]):
            return found
    return None


#: kustomize appends a 10-character content hash to generated ConfigMap and Secret names
_HASHED: Final = re.compile(r"^(?P<stem>.+)-[a-z0-9]{10}$")


def _hash_renames(before: Mapping[Key, JSON], after: Mapping[Key, JSON]) -> dict[str, str]:
    """Old → new names of generated objects whose content hash changed between the renders."""
    gone = [k for k in before if k not in after and k[1] in ("ConfigMap", "Secret")]
    new = [k for k in after if k not in before and k[1] in ("ConfigMap", "Secret")]
    renames: dict[str, str] = {}
    for old in gone:
        match = _HASHED.match(old[3])
        if match is None:
            continue
        same = [
            k
            for k in new
            if k[:3] == old[:3] and (m := _HASHED.match(k[3])) and m["stem"] == match["stem"]
        ]
        if len(same) == 1:
            renames[old[3]] = same[0][3]
    return renames


def _renamed(value: JSON, renames: Mapping[str, str]) -> JSON:
    """``value`` with every string equal to an old generated name replaced by the new one."""
    if not renames:
        return value
    if isinstance(value, dict):
        return {k: _renamed(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, renames) for v in value]
    if isinstance(value, str):
        return renames.get(value, value)
    return value


def _renamed_change(change: Change, renames: Mapping[str, str]) -> Change:
    if not renames:
        return change
    return Change(
        change.group,
        change.kind,
        change.namespace,
        renames.get(change.name, change.name),
        _renamed(change.before, renames),
        _renamed(change.after, renames),
    )


def _canonical(value: JSON, field: str = "") -> JSON:
    """``value`` with the items of keyed lists in key order, and without empty lists and
    mappings: kustomize's strategic merge puts a patched-in item first where a live object may
    have it last, and leaves ``env: []`` where a patch deleted the last item, which the API
    server stores as no ``env`` at all; neither is a change."""
    if isinstance(value, dict):
        out = {k: _canonical(v, str(k)) for k, v in value.items()}
        return {k: v for k, v in out.items() if v != [] and v != {}}
    if isinstance(value, list):
        items = [_canonical(v, field) for v in value]
        key = delta.merge_key(field, items) if items else None
        if key is not None:
            return sorted(items, key=lambda i: json.dumps(i[key], sort_keys=True, default=str))
        return items
    return value


def unheld(changes: Sequence[Change], held: set[Key]) -> list[str]:
    """Problems for changed objects that no render of the branch holds (``held``: what the
    renders' ``compare`` found); a deletion is satisfied by its absence."""
    problems: list[str] = []
    last: dict[Key, Change] = {}
    for change in changes:
        last[change.key] = change
    for key, change in last.items():
        if change.after is not None and key not in held:
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
    ops = defaults.delta_ops(_strip(change.before), _strip(change.after))
    return edit.apply_plain(expected, ops)


def _judge(
    changes: Sequence[Change],
    expected: JSON | None,
    actual: JSON | None,
    *,
    what: str,
    derived: bool,
    why: str = _CHART,
) -> tuple[list[str], list[str]]:
    """(problems, notes) for one object: ``expected`` is the base render with ``changes``
    applied, ``actual`` the branch render."""
    change = changes[-1]
    secret = (change.group, change.kind) == ("", "Secret")
    if expected is None and actual is None:
        return [], []
    if expected is None:
        return [f"{what} still holds {change.describe()}, which was deleted"], []
    if actual is None:
        return [f"{what} no longer holds {change.describe()}"], []
    actual = _strip(actual)
    if secret:
        # values are encrypted in Git (SOPS) and redacted in captures: the engine checks
        # them by reading its output back; here only the rest of the Secret is compared
        expected = {k: v for k, v in expected.items() if k not in SECRET_FIELDS}
        actual = {k: v for k, v in actual.items() if k not in SECRET_FIELDS}
    if change.before is None:
        missing = _missing_paths(expected, actual)
        if missing:
            return [
                f"{what} renders {change.describe()} without what was created at {_paths(missing)}"
            ], []
        return [], []
    expected, actual = _canonical(expected), _canonical(actual)
    if expected == actual:
        return [], []
    old, new = delta.sparse_delta(expected, actual)
    paths = delta.changed_paths(old, new)
    touched = [p for c in changes for p in _change_paths(c)]
    mine = [p for p in paths if _within(p, touched)]
    others = [p for p in paths if not _within(p, touched)]
    problems: list[str] = []
    notes: list[str] = []
    if mine:
        shown = [_show(p, old, new) for p in mine[:SHOWN]]
        more = f" and {len(mine) - SHOWN} more" if len(mine) > SHOWN else ""
        problems.append(
            f"{what} renders {change.describe()} differently from the live object: "
            + "; ".join(shown)
            + more
        )
    if others:
        text = (
            f"{what} also changes {change.describe()} at {_paths(others)}, which the live "
            "change did not touch"
        )
        (notes if derived else problems).append(text + (why if derived else ""))
    return problems, notes


def _change_paths(change: Change) -> list[str]:
    before = _strip(change.before) if change.before is not None else {}
    after = _strip(change.after) if change.after is not None else {}
    return delta.changed_paths(before, after)


def _within(path: str, touched: Sequence[str]) -> bool:
    """Whether ``path`` is a field a change touched, inside one, or holds one."""
    return any(
        path == t or path.startswith((t + ".", t + "[")) or t.startswith((path + ".", path + "["))
        for t in touched
    )


def _missing_paths(expected: JSON, actual: JSON) -> list[str]:
    old, new = delta.sparse_delta(actual, expected)
    if delta.holds(actual, {}, expected):
        return []
    return delta.changed_paths(old, new)


def _show(path: str, old: JSON, new: JSON) -> str:
    return f"{path} (the change wants {_value(old, path)}, the render has {_value(new, path)})"


def _value(side: JSON, path: str) -> str:
    node = delta.value_at(side, path)
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

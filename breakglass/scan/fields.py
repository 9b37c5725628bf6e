"""Which fields of one live object drifted from Git, and whose tool made them so.

Pure: given Git's rendered document (or none), the live object and its ``managedFields``, it
returns ``Finding``s.  The live object is walked together with Git's document and with the
ownership tree built from ``managedFields`` (``fieldsV1``: ``f:`` a key, ``k:{…}`` a list item
by its key fields, ``v:`` a set member, ``.`` the element itself), so each live leaf knows the
managers that own it:

- **changed** (visible drift): Git sets the field and the live value differs, and a person's
  tool owns it.  A GitOps controller owning it means Git changed and is not applied yet; the
  system owning it means a controller set it (an autoscaler's replicas): neither is reported.
- **added** (invisible drift): Git never had the field and a person's tool owns it, and no
  GitOps controller does.  This is the drift a GitOps tool's own diff never shows.  A list
  item a person added whole (an env entry, a container, a port) is one finding; a map is
  judged key by key (``metadata.labels.team``).
- **removed**: Git sets a field the live object lacks, and a person's tool wrote the object
  after the controller (removed fields keep no owner, so the latest person is named).

Server defaults (``gitops.defaults``) never count as added, a value equal to Git's never
counts (quantities compare by value: ``0.5`` is ``500m``), and the operations
``record_only`` lists (``rollout restart``'s annotation, ``rollout pause``) are not drift.
Secret values arrive redacted (markers) on both sides, so they compare without being seen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from breakglass import delta, model
from breakglass.gitops import defaults
from breakglass.scan.managers import ManagerPolicy, Role

JSON = Any
#: a field path: a ``str`` is a map key, a ``dict`` a list item by its key fields
Step = str | dict[str, Any]
FieldPath = tuple[Step, ...]


class _Missing:
    """The value of a field one side does not have."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

#: paths of the operations ``record_only`` may name, which a scan does not report
OPERATION_PATHS: Final[Mapping[str, FieldPath]] = {
    "rollout-restart": (
        "spec",
        "template",
        "metadata",
        "annotations",
        "kubectl.kubernetes.io/restartedAt",
    ),
    "rollout-pause": ("spec", "paused"),
}

_QUANTITY_PARENTS: Final = frozenset({"requests", "limits", "hard", "capacity", "allocatable"})
_QUANTITY: Final = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]{0,2})$")
_SUFFIX: Final[Mapping[str, Decimal]] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


@dataclass(frozen=True)
class Owner:
    """One ``managedFields`` entry: a manager, how it wrote, and when it last did."""

    manager: str
    operation: str
    time: datetime | None
    subresource: str = ""


@dataclass(frozen=True)
class Finding:
    """One drifted field (or subtree) of a live object."""

    path: FieldPath
    kind: str  # changed | added | removed
    git: JSON
    live: JSON
    manager: str | None
    role: Role | None
    since: datetime | None

    def describe(self) -> str:
        return show_path(self.path)


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    owners: list[Owner] = field(default_factory=list)


def owners_of(managed_fields: JSON) -> list[Owner]:
    """The entries of ``metadata.managedFields`` that name a manager."""
    out: list[Owner] = []
    for entry in managed_fields if isinstance(managed_fields, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("manager"), str):
            continue
        when = entry.get("time")
        try:
            at = model.parse_time(when) if isinstance(when, str) else None
        except ValueError:
            at = None
        out.append(
            Owner(
                entry["manager"],
                str(entry.get("operation", "")),
                at,
                str(entry.get("subresource") or ""),
            )
        )
    return out


def ownership(managed_fields: JSON) -> _Node:
    """The tree of field owners from ``managedFields`` (``fieldsV1`` entries only)."""
    root = _Node()
    owners = owners_of(managed_fields)
    entries = [
        e for e in managed_fields if isinstance(e, dict) and isinstance(e.get("manager"), str)
    ]
    for owner, entry in zip(owners, entries, strict=True):
        fields = entry.get("fieldsV1")
        if entry.get("fieldsType", "FieldsV1") == "FieldsV1" and isinstance(fields, dict):
            _add(root, fields, owner)
    return root


def _add(node: _Node, fields: Mapping[str, JSON], owner: Owner) -> None:
    for key, sub in fields.items():
        if key == ".":
            node.owners.append(owner)
            continue
        child = node.children.setdefault(key, _Node())
        if isinstance(sub, dict) and sub:
            _add(child, sub, owner)
        else:
            child.owners.append(owner)


@dataclass(frozen=True)
class Judge:
    """How findings are decided: the manager policy and the operations not reported."""

    policy: ManagerPolicy
    operations: tuple[FieldPath, ...] = ()

    @classmethod
    def of(cls, policy: ManagerPolicy, record_only: Sequence[str]) -> Judge:
        return cls(policy, tuple(OPERATION_PATHS[n] for n in record_only if n in OPERATION_PATHS))


def find(git: JSON, live: Mapping[str, JSON], judge: Judge) -> list[Finding]:
    """The drift of ``live`` from ``git`` (Git's rendered document, ``None`` when Git does not
    describe the object: then only what a person added is drift).  Both are already redacted;
    ``live`` still carries its ``managedFields``."""
    managed = (live.get("metadata") or {}).get("managedFields") or []
    root = ownership(managed)
    people = [o for o in owners_of(managed) if judge.policy.is_person(o.manager)]
    plain_live = delta.strip_server_fields(live)
    plain_git = delta.strip_server_fields(git) if isinstance(git, dict) else {}
    for side in (plain_live, plain_git):
        side.pop("apiVersion", None)
        side.pop("kind", None)
        meta = side.get("metadata")
        if isinstance(meta, dict):
            meta.pop("name", None)
            meta.pop("namespace", None)
    for op in judge.operations:
        for side in (plain_live, plain_git):
            _drop(side, op)
    cleaned = defaults.clean_object({**plain_live, "kind": live.get("kind")})
    walk = _Walk(judge, cleaned, bool(managed), git is None)
    walk.map(plain_live, plain_git, root, ())
    if walk.removed and people:
        latest = max(people, key=lambda o: o.time or _EPOCH)
        for path, value in walk.removed:
            if not walk.operation(path):
                walk.out.append(
                    Finding(
                        path,
                        "removed",
                        value,
                        MISSING,
                        latest.manager,
                        _role(judge, latest),
                        latest.time,
                    )
                )
    return sorted(walk.out, key=lambda f: show_path(f.path))


_EPOCH: Final = datetime.fromtimestamp(0, tz=model.utcnow().tzinfo)


def _role(judge: Judge, owner: Owner) -> Role:
    return judge.policy.role(owner.manager)


class _Walk:
    def __init__(self, judge: Judge, cleaned: JSON, has_owners: bool, no_git: bool) -> None:
        self.judge = judge
        self.cleaned = cleaned
        self.has_owners = has_owners
        self.no_git = no_git
        self.out: list[Finding] = []
        self.removed: list[tuple[FieldPath, JSON]] = []

    def operation(self, path: FieldPath) -> bool:
        return any(path[: len(op)] == op for op in self.judge.operations)

    def map(self, live: Mapping[str, JSON], git: JSON, node: _Node | None, path: FieldPath) -> None:
        theirs = git if isinstance(git, dict) else {}
        for key, value in live.items():
            child = node.children.get(f"f:{key}") if node is not None else None
            self.value(value, theirs.get(key, MISSING), child, (*path, key))
        for key, value in theirs.items():
            if key not in live and value not in (None, {}, [], ""):
                self.removed.append(((*path, key), value))

    def value(self, live: JSON, git: JSON, node: _Node | None, path: FieldPath) -> None:
        if self.operation(path):
            return
        if isinstance(live, dict) and (isinstance(git, dict) or (live and git is MISSING)):
            self.map(live, git, node, path)
            return
        keyed_list = isinstance(live, list) and live and all(isinstance(i, dict) for i in live)
        if keyed_list and (git is MISSING or isinstance(git, list)):
            keyed = self._keys(live, node, path)
            if keyed is not None:
                self.items(live, git if isinstance(git, list) else [], node, path, keyed)
                return
        self.leaf(live, git, node, path)

    def _added_whole(self, live: JSON, node: _Node | None, path: FieldPath) -> bool:
        """One finding for a list item Git lacks whose every owned leaf is a person's."""
        owners = list(_subtree_owners(node))
        if not owners:
            return False
        roles = {_role(self.judge, o) for o in owners}
        if not all(self.judge.policy.is_person(o.manager) for o in owners) or Role.GITOPS in roles:
            return False
        kept = lookup(self.cleaned, path)
        if kept is MISSING or kept in ({}, []):
            return True  # server defaults only
        latest = max(owners, key=lambda o: o.time or _EPOCH)
        self.out.append(
            Finding(
                path, "added", MISSING, kept, latest.manager, _role(self.judge, latest), latest.time
            )
        )
        return True

    def _keys(
        self, live: list[JSON], node: _Node | None, path: FieldPath
    ) -> list[dict[str, JSON]] | None:
        """Each live item's key fields: from the ``k:`` entries that own it, else the list's
        strategic-merge key; ``None`` when the list is atomic."""
        entries = []
        for name in node.children if node is not None else {}:
            if name.startswith("k:"):
                try:
                    parsed = json.loads(name[2:])
                except ValueError:
                    continue
                if isinstance(parsed, dict):
                    entries.append(parsed)
        out: list[dict[str, JSON]] = []
        name = path[-1] if path and isinstance(path[-1], str) else ""
        fallback = delta.merge_key(name, live)
        for item in live:
            found = next((e for e in entries if all(item.get(k) == v for k, v in e.items())), None)
            if found is None and fallback is not None:
                found = {fallback: item[fallback]}
            if found is None:
                return None
            out.append(found)
        return out

    def items(
        self,
        live: list[JSON],
        git: list[JSON],
        node: _Node | None,
        path: FieldPath,
        keys: list[dict[str, JSON]],
    ) -> None:
        matched: set[int] = set()
        for item, key in zip(live, keys, strict=True):
            child = node.children.get("k:" + _key_json(key)) if node is not None else None
            if child is None and node is not None:
                child = next(
                    (
                        c
                        for n, c in node.children.items()
                        if n.startswith("k:") and _same_key(n, key)
                    ),
                    None,
                )
            position = next(
                (i for i, g in enumerate(git) if isinstance(g, dict) and _has_key(g, key)), None
            )
            theirs: JSON = MISSING
            if position is not None:
                matched.add(position)
                theirs = {k: v for k, v in git[position].items() if k not in key}
            mine = {k: v for k, v in item.items() if k not in key}
            step: FieldPath = (*path, key)
            if theirs is MISSING:
                if self._added_whole(mine or item, child, step):
                    continue
                self.map(mine, {}, child, step)
                continue
            self.map(mine, theirs, child, step)
        for position, item in enumerate(git):
            if position not in matched and isinstance(item, dict):
                key = {k: item[k] for k in keys[0] if k in item} if keys else {}
                self.removed.append(((*path, key or item), item))

    def leaf(self, live: JSON, git: JSON, node: _Node | None, path: FieldPath) -> None:
        if git is not MISSING and same(git, live, path):
            return
        owners = list(_subtree_owners(node))
        policy = self.judge.policy
        people = [o for o in owners if policy.is_person(o.manager)]
        gitops = any(_role(self.judge, o) is Role.GITOPS for o in owners)
        if gitops:
            return
        if git is MISSING:
            if not people:
                return
            kept = lookup(self.cleaned, path)
            if kept is MISSING:
                return  # a server default a person's write happened to carry
            latest = max(people, key=lambda o: o.time or _EPOCH)
            self.out.append(
                Finding(
                    path,
                    "added",
                    MISSING,
                    live,
                    latest.manager,
                    _role(self.judge, latest),
                    latest.time,
                )
            )
            return
        if people:
            latest = max(people, key=lambda o: o.time or _EPOCH)
            self.out.append(
                Finding(
                    path,
                    "changed",
                    git,
                    live,
                    latest.manager,
                    _role(self.judge, latest),
                    latest.time,
                )
            )
        elif not owners and not self.has_owners:
            # an object without managedFields (written before they existed): who is unknown
            self.out.append(Finding(path, "changed", git, live, None, None, None))


def _drop(obj: dict[str, JSON], path: FieldPath) -> None:
    """Remove the map key at ``path`` and the maps it leaves empty."""
    trail: list[tuple[dict[str, JSON], str]] = []
    node: JSON = obj
    for step in path:
        if not isinstance(step, str) or not isinstance(node, dict) or step not in node:
            return
        trail.append((node, step))
        node = node[step]
    leaf_parent, leaf_key = trail[-1]
    del leaf_parent[leaf_key]
    for parent, key in reversed(trail[:-1]):
        if parent.get(key) != {}:
            break
        del parent[key]


def _subtree_owners(node: _Node | None) -> Iterator[Owner]:
    if node is None:
        return
    yield from node.owners
    for child in node.children.values():
        yield from _subtree_owners(child)


def _key_json(key: Mapping[str, JSON]) -> str:
    return json.dumps(dict(sorted(key.items())), separators=(",", ":"))


def _same_key(name: str, key: Mapping[str, JSON]) -> bool:
    try:
        parsed = json.loads(name[2:])
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed == dict(key)


def _has_key(item: Mapping[str, JSON], key: Mapping[str, JSON]) -> bool:
    """Whether a Git list item is the live item of ``key``; a key field Git leaves out is its
    default (a port's ``protocol: TCP``)."""
    return all(item.get(k, v if k == "protocol" else MISSING) == v for k, v in key.items())


def same(git: JSON, live: JSON, path: FieldPath = ()) -> bool:
    """Whether Git's value and the live one are the same value as the API server keeps it."""
    if git == live and type(git) is type(live):
        return True
    if isinstance(git, bool) or isinstance(live, bool):
        return False
    if isinstance(git, int | float) and isinstance(live, int | float):
        return float(git) == float(live)
    if isinstance(git, dict) and isinstance(live, dict):
        return git.keys() == live.keys() and all(same(git[k], live[k], (*path, k)) for k in git)
    if isinstance(git, list) and isinstance(live, list):
        return len(git) == len(live) and all(
            same(g, v, path) for g, v in zip(git, live, strict=True)
        )
    if len(path) >= 2 and isinstance(path[-2], str) and path[-2] in _QUANTITY_PARENTS:
        a, b = _quantity(git), _quantity(live)
        return a is not None and a == b
    return False


def _quantity(value: JSON) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    found = _QUANTITY.match(str(value))
    if found is None or found.group(2) not in _SUFFIX:
        return None
    try:
        return Decimal(found.group(1)) * _SUFFIX[found.group(2)]
    except InvalidOperation:
        return None


def lookup(obj: JSON, path: FieldPath) -> JSON:
    """The value at ``path`` (``MISSING`` if there is none); a list step matches the item whose
    key fields it names (a field the item lacks is taken as matching: defaults were removed)."""
    node = obj
    for step in path:
        if isinstance(step, str):
            if not isinstance(node, dict) or step not in node:
                return MISSING
            node = node[step]
            continue
        if not isinstance(node, list):
            return MISSING
        node = next(
            (
                {k: v for k, v in i.items() if k not in step}
                for i in node
                if isinstance(i, dict) and all(i.get(k, v) == v for k, v in step.items())
            ),
            MISSING,
        )
        if node is MISSING:
            return MISSING
    return node


def show_path(path: FieldPath) -> str:
    """``spec.template.spec.containers[name=app].image``, as PR bodies name fields."""
    out = ""
    for step in path:
        if isinstance(step, str):
            out = f"{out}.{step}" if out else step
        else:
            inner = ",".join(f"{k}={v}" for k, v in step.items())
            out = f"{out}[{inner}]"
    return out


def sparse_pair(
    identity: Mapping[str, JSON], findings: Sequence[Finding]
) -> tuple[dict[str, JSON], dict[str, JSON]]:
    """The capture's ``(before, after)`` from findings: Git's values before, the live ones
    after, each side holding only the drifted fields (and the identity and list keys)."""
    before: dict[str, JSON] = delta.json_copy(dict(identity))
    after: dict[str, JSON] = delta.json_copy(dict(identity))
    for found in findings:
        if found.git is not MISSING:
            put(before, found.path, delta.json_copy(found.git))
        elif found.kind == "added":
            _ensure_parent(before, found.path)
        if found.live is not MISSING:
            put(after, found.path, delta.json_copy(found.live))
        else:
            _ensure_parent(after, found.path)
    return before, after


def put(obj: dict[str, JSON], path: FieldPath, value: JSON) -> None:
    """Set ``value`` at ``path`` in a sparse object, creating maps and keyed items on the way."""
    parent = _ensure_parent(obj, path)
    last = path[-1]
    if isinstance(last, str):
        parent[last] = value
    else:
        assert isinstance(parent, list)
        item = dict(last)
        if isinstance(value, dict):
            item.update(value)
        found = next((i for i, x in enumerate(parent) if _has_key(x, last)), None)
        if found is None:
            parent.append(item)
        else:
            parent[found] = {**parent[found], **item}


def _ensure_parent(obj: dict[str, JSON], path: FieldPath) -> Any:
    node: Any = obj
    for position, step in enumerate(path[:-1]):
        following = path[position + 1]
        empty: Callable[[], JSON] = list if isinstance(following, dict) else dict
        if isinstance(step, str):
            if not isinstance(node.get(step), dict | list):
                node[step] = empty()
            node = node[step]
        else:
            item = next((i for i in node if isinstance(i, dict) and _has_key(i, step)), None)
            if item is None:
                item = dict(step)
                node.append(item)
            node = item
            continue
    return node

"""Which chart values key holds a field of an object Helm rendered.

Without rendering the chart, the link between a live field and a values key can only be
recognised, not computed.  These rules cover the common cases: replicas (a ``replicaCount`` or
``replicas`` key holding the live number), a container image (a ``tag``/``repository`` pair,
optionally with ``registry`` and ``digest``, or a full image string) and container resources (a
``resources`` mapping equal to the live one).  They work on the values in effect — every place
merged in Helm's order — and return operations on values paths; ``helm.py`` then decides which
place each operation is written to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from breakglass.gitops import edit, kustomize
from breakglass.gitops.edit import Match, Op, Path, RemoveOp, SetOp

JSON = Any


def _walk(value: JSON, path: Path = ()) -> Iterator[tuple[Path, JSON]]:
    yield path, value
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _walk(sub, (*path, key))


def _container_path(path: Path) -> int | None:
    for pos in range(len(path) - 1):
        if path[pos] in ("containers", "initContainers") and isinstance(path[pos + 1], Match):
            return pos + 2
    return None


def map_op(op: Op, values: dict[str, JSON], old: Mapping[str, JSON]) -> list[Op] | str:
    """``op`` (on the live object) as operations on ``values`` paths, or what did not match.

    A key matches when it holds the live value (``old``) or already the new one.
    """
    where = edit.format_path(op.path)
    if isinstance(op, SetOp) and op.path == ("spec", "replicas"):
        _, was = edit.plain_get(old, op.path)
        hits = [
            p
            for p, v in _walk(values)
            if p and p[-1] in ("replicaCount", "replicas") and v in (was, op.value)
        ]
        if len(hits) == 1:
            return [SetOp(hits[0], op.value)]
        return f"{where} ({len(hits)} values keys named replicaCount/replicas hold {was})"
    cut = _container_path(op.path)
    if cut is None:
        return f"{where} (not a replicas, image or resources field)"
    rest = op.path[cut:]
    if rest == ("image",) and isinstance(op, SetOp) and isinstance(op.value, str):
        _, was = edit.plain_get(old, op.path)
        return _map_image(str(was), op.value, values, where)
    if rest and rest[0] == "resources":
        _, was = edit.plain_get(old, op.path[: cut + 1])
        hits = [
            p
            for p, v in _walk(values)
            if p and p[-1] == "resources" and isinstance(v, dict) and _agrees(v, was or {})
        ]
        if len(hits) != 1:
            return f"{where} ({len(hits)} values 'resources' mappings equal the live ones)"
        inner = rest[1:]
        if isinstance(op, SetOp):
            return [SetOp((*hits[0], *inner), op.value)]
        if isinstance(op, RemoveOp):
            return [RemoveOp((*hits[0], *inner))]
        return f"{where} (unsupported change to resources)"
    return f"{where} (not a replicas, image or resources field)"


def _agrees(values: dict[str, JSON], live: JSON) -> bool:
    """Whether a values ``resources`` mapping holds every value the live object is known to
    have there.  The worker knows only the fields a change touched (a sparse delta), so a
    mapping that also sets others still agrees; an empty ``live`` agrees only with an empty
    mapping."""
    if not isinstance(live, dict):
        return False
    if not live:
        return not values
    for key, value in live.items():
        if isinstance(value, dict):
            inner = values.get(key)
            if not isinstance(inner, dict) or not _agrees(inner, value):
                return False
        elif key not in values or not _same_quantity(values[key], value):
            return False
    return True


def _same_quantity(git: JSON, live: JSON) -> bool:
    """``1`` in values is ``"1"`` in the API server's answer (quantities are strings there)."""
    return git == live or (isinstance(git, int | float) and str(git) == live)


def _map_image(was: str, new: str, values: dict[str, JSON], where: str) -> list[Op] | str:
    old_image = kustomize.Image.parse(was)
    new_image = kustomize.Image.parse(new)
    candidates: list[list[Op]] = []
    for path, value in _walk(values):
        if value == was and path:
            candidates.append([SetOp(path, new)])
            continue
        if not isinstance(value, dict) or "tag" not in value:
            continue
        if str(value["tag"]) not in (old_image.tag, new_image.tag):
            continue
        repo = value.get("repository")
        if isinstance(repo, str) and not _same_repo(repo, old_image.name, value):
            continue
        ops: list[Op] = []
        if new_image.tag and str(value["tag"]) != new_image.tag:
            ops.append(SetOp((*path, "tag"), new_image.tag))
        if new_image.name != old_image.name:
            if not isinstance(repo, str):
                continue
            registry = value.get("registry")
            name = new_image.name
            if isinstance(registry, str) and name.startswith(registry + "/"):
                name = name[len(registry) + 1 :]
            ops.append(SetOp((*path, "repository"), name))
        if new_image.digest:
            if "digest" not in value:
                continue
            ops.append(SetOp((*path, "digest"), new_image.digest))
        candidates.append(ops)
    if len(candidates) == 1:
        return candidates[0]
    return f"{where} ({len(candidates)} values entries match the image {was})"


def _same_repo(repo: str, name: str, value: dict[str, JSON]) -> bool:
    registry = value.get("registry")
    full = f"{registry}/{repo}" if isinstance(registry, str) and registry else repo
    return name in (repo, full) or name.endswith("/" + repo)


def near(op: Op, values: dict[str, JSON], old: Mapping[str, JSON]) -> Path | None:
    """The one values key that would map ``op`` if only its value agreed with the live one:
    the place to point at when Git and the cluster disagree."""
    if op.path == ("spec", "replicas"):
        hits = [p for p, _ in _walk(values) if p and p[-1] in ("replicaCount", "replicas")]
        return hits[0] if len(hits) == 1 else None
    cut = _container_path(op.path)
    if cut is None:
        return None
    rest = op.path[cut:]
    if rest == ("image",):
        _, was = edit.plain_get(old, op.path)
        name = kustomize.Image.parse(str(was)).name
        hits = [(*p, "tag") for p, v in _walk(values) if _names_image(v, name)]
        return hits[0] if len(hits) == 1 else None
    if rest and rest[0] == "resources":
        hits = [p for p, v in _walk(values) if p and p[-1] == "resources" and isinstance(v, dict)]
        return hits[0] if len(hits) == 1 else None
    return None


def _names_image(value: JSON, name: str) -> bool:
    """Whether ``value`` is a values mapping with a tag, naming the image ``name``."""
    if not isinstance(value, dict) or "tag" not in value:
        return False
    repo = value.get("repository")
    return isinstance(repo, str) and _same_repo(repo, name, value)

"""The one place where secret values are removed, at capture time, before anything is stored.

A value that must never leave the cluster is replaced by a marker ``<redacted:HASH>``, where
HASH is a truncated HMAC-SHA256 of the value keyed by a salt.  Two captures of the same value
carry the same marker under the same salt, so a reviewer can tell *that* a key changed, never
*what* it holds.  What is redacted:

- a Secret's ``data`` and ``stringData`` values (key names stay);
- ``kubectl.kubernetes.io/last-applied-configuration`` on a Secret (it embeds the data);
- values under keys that look secret (configurable globs such as ``*_TOKEN``): ConfigMap
  ``data`` entries and container ``env`` entries with a literal ``value``;
- the request body of a PATCH to a Secret (merge, strategic or JSON patch).

Every function returns a new value and never mutates its input.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from breakglass.delta import json_copy, merge_key

LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
MARKER_PREFIX: Final = "<redacted:"
#: The fields of a Secret that hold its values.
SECRET_FIELDS: Final = ("data", "stringData")


@dataclass(frozen=True)
class Redactor:
    """Redacts with one salt and one set of secret-looking key patterns."""

    salt: bytes
    key_patterns: tuple[str, ...] = ()

    def mark(self, value: Any) -> str:
        """The marker that stands for ``value``: stable under this salt, irreversible."""
        if isinstance(value, str) and value.startswith(MARKER_PREFIX):
            return value
        raw = value if isinstance(value, str) else repr(value)
        digest = hmac.new(self.salt, raw.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"{MARKER_PREFIX}{digest.hexdigest()[:16]}>"

    def secret_looking(self, key: str) -> bool:
        matcher = _matcher(self.key_patterns)
        return matcher is not None and matcher(key.upper()) is not None

    def object(self, obj: Any, *, kind: str, owned: bool = False) -> Any:
        """A copy of a Kubernetes object of ``kind`` with every secret value replaced.

        ``owned=True`` redacts ``obj`` itself instead of a copy, for a caller that already
        holds its own copy (the capture path copies once, in ``delta.strip_server_fields``).
        """
        if not isinstance(obj, dict):
            return obj
        out = obj if owned else json_copy(obj)
        if kind == "Secret":
            for section in ("data", "stringData"):
                values = out.get(section)
                if isinstance(values, dict):
                    out[section] = {str(k): self.mark(v) for k, v in values.items()}
                elif values is not None:
                    out[section] = self.mark(values)
            meta = out.get("metadata")
            if isinstance(meta, dict):
                annotations = meta.get("annotations")
                if isinstance(annotations, dict) and LAST_APPLIED in annotations:
                    annotations[LAST_APPLIED] = self.mark(annotations[LAST_APPLIED])
            return out
        if kind == "ConfigMap":
            values = out.get("data")
            if isinstance(values, dict):
                out["data"] = {
                    k: (self.mark(v) if self.secret_looking(str(k)) else v)
                    for k, v in values.items()
                }
        self._env_values(out)
        return out

    def _env_values(self, node: Any) -> None:
        if not self.key_patterns:
            return
        self._env_walk(node)

    def _env_walk(self, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "env" and isinstance(value, list):
                    for item in value:
                        if (
                            isinstance(item, dict)
                            and isinstance(item.get("name"), str)
                            and "value" in item
                            and self.secret_looking(item["name"])
                        ):
                            item["value"] = self.mark(item["value"])
                elif isinstance(value, dict | list):
                    self._env_walk(value)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, dict | list):
                    self._env_walk(item)

    def patch(self, body: Any, *, kind: str) -> Any:
        """A copy of a PATCH request body to an object of ``kind``, secret values replaced."""
        if isinstance(body, list):
            return [self._json_patch_op(op, kind=kind) for op in body]
        if isinstance(body, dict):
            return self.object(body, kind=kind)
        if body is None:
            return None
        return self.mark(body)

    def _json_patch_op(self, op: Any, *, kind: str) -> Any:
        if not isinstance(op, dict) or "value" not in op:
            return op
        out = dict(op)
        path = str(op.get("path", ""))
        if kind == "Secret":
            harmless = path.startswith(("/metadata/labels", "/metadata/annotations")) and (
                "last-applied-configuration" not in path
            )
            if not harmless:
                out["value"] = _mark_tree(self, op["value"])
            return out
        leaf = path.rsplit("/", 1)[-1]
        if self.secret_looking(leaf):
            out["value"] = self.mark(op["value"])
        elif isinstance(op["value"], dict | list):
            wrapped = self.object({"spec": op["value"]}, kind=kind)
            out["value"] = wrapped["spec"]
        return out


@functools.lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]) -> Any:
    """One compiled regex for a set of case-insensitive globs (``fnmatch`` semantics)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p.upper())})" for p in patterns)).match


def _mark_tree(redactor: Redactor, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mark_tree(redactor, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_tree(redactor, v) for v in value]
    return redactor.mark(value)


def contains_marker(values: Sequence[Any]) -> bool:
    """Whether any of ``values`` is a redaction marker (used by summaries and tests)."""
    return any(isinstance(v, str) and v.startswith(MARKER_PREFIX) for v in values)


def redacted_paths(side: Any, *, secret: bool = False) -> list[str]:
    """Paths in ``side`` that hold a redaction marker instead of a value.

    breakglass redacts secret-looking values when it captures them (``*_TOKEN`` env vars,
    ConfigMap keys, a Secret's data), so the marker is all a capture holds.  Written into a
    manifest it would become the production value on the next sync, so the engine refuses any
    such NEW.  A Secret's ``data``/``stringData`` are not listed when ``secret`` is set: they
    are never written in the clear, and are re-encrypted from the live values (SOPS) instead.
    """
    found: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, str) and value.startswith(MARKER_PREFIX):
            found.append(prefix)
        elif isinstance(value, dict):
            for key, sub in value.items():
                if secret and not prefix and key in SECRET_FIELDS:
                    continue
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            field = prefix.rsplit(".", 1)[-1]
            key = merge_key(field, value)
            for position, item in enumerate(value):
                label = f"{key}={item[key]}" if key is not None else str(position)
                walk(f"{prefix}[{label}]", item)

    walk("", side)
    return found

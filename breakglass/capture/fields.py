"""Checked reads of fields from untrusted payloads.

AdmissionReviews and audit events come from outside; a field of the wrong type must become a
clear ``Unusable`` error (the webhook logs it and still allows), never a ``TypeError`` deep in a
decision function.
"""

from __future__ import annotations

from typing import Any, Final

#: Deepest nesting a decision accepts.  Kubernetes objects stay far below it; the recursive
#: copy, redaction and diff code would hit Python's recursion limit not far above it.
MAX_DEPTH: Final = 100


class Unusable(ValueError):
    """A review that parsed but cannot be made sense of; the webhook still allows it."""


def text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Unusable(f"{what} must be a string, got {type(value).__name__}")
    return value


def mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unusable(f"{what} must be an object, got {type(value).__name__}")
    return value


def shallow(value: Any, what: str, limit: int = MAX_DEPTH) -> Any:
    """``value`` unchanged if it nests no deeper than ``limit``; else ``Unusable``."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return value
    raise Unusable(f"{what} is nested more than {limit} levels deep")


def text_list(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Unusable(f"{what} must be a list of strings")
    return tuple(value)

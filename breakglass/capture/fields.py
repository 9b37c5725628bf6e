"""Checked reads of fields from untrusted payloads.

AdmissionReviews and audit events come from outside; a field of the wrong type must become a
clear ``Unusable`` error (the webhook logs it and still allows), never a ``TypeError`` deep in a
decision function.
"""

from __future__ import annotations

from typing import Any


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


def text_list(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Unusable(f"{what} must be a list of strings")
    return tuple(value)

"""The check that a forge provider really implements ``breakglass.forge.Provider``.

The protocol is structural, so mypy checks it only where a provider is assigned to it; this
compares every method the worker calls, by name, kind (a coroutine) and parameters, so a
provider that misses one (``remove_label``, say) fails here instead of in production.
"""

from __future__ import annotations

import inspect
from typing import Any

from breakglass.forge import Provider


def assert_implements_provider(provider: Any) -> None:
    for name, member in vars(Provider).items():
        if name.startswith("_") or not callable(member):
            continue
        mine = getattr(provider, name, None)
        assert mine is not None, f"{type(provider).__name__} has no {name}"
        assert inspect.iscoroutinefunction(mine), f"{type(provider).__name__}.{name} is not async"
        wanted = [p for p in inspect.signature(member).parameters if p != "self"]
        found = list(inspect.signature(mine).parameters)
        assert found == wanted, f"{type(provider).__name__}.{name}{found} != {wanted}"
    assert isinstance(provider.name, str) and provider.name

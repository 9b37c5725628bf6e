"""breakglass: turn manual kubectl changes on GitOps clusters into backfill pull requests.

The package is split by job; ``docs/architecture.md`` maps every module to its place in the
data flow (admission/audit → capture → journal → backfill → forge).
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("breakglass")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

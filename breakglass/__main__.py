"""Allow ``python -m breakglass`` as an alias of the ``breakglass`` console script."""

from __future__ import annotations

from breakglass import cli

raise SystemExit(cli.main())

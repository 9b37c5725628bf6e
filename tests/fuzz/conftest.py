"""Hypothesis settings for the hostile-input suites, sized for CI and stretchable for long runs.

``BREAKGLASS_FUZZ_EXAMPLES=N`` sets the examples per property (default 200, a few seconds
each); ``BREAKGLASS_FUZZ_EXAMPLES=20000 pytest tests/fuzz`` is the longer run in docs/security.md.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.server.conftest import ca, cert_files  # noqa: F401 - fixtures for the HTTP suite

EXAMPLES = int(os.environ.get("BREAKGLASS_FUZZ_EXAMPLES", "200"))

settings.register_profile(
    "breakglass-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
FUZZ = settings.get_profile("breakglass-fuzz")

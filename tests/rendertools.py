"""The real ``kustomize`` and ``helm`` binaries for tests, or a skip that says how to get them.

The render check trusts these tools to say what a branch deploys, so its tests run the real
ones, built from their Go modules by ``tests/e2e/testbin.sh`` into the same versioned cache as
kube-apiserver, etcd and sops (the versions the image ships).  The policy is that of
``tests/sopstools.py``: when the binaries cannot be had (no Go, a failed build) the test is
skipped with a message saying how to enable it, unless ``BREAKGLASS_E2E=required``, which makes
that a failure; ``BREAKGLASS_E2E=skip`` skips on purpose.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tests import testbin


@functools.cache
def render_tools() -> tuple[Path, Path]:
    """(kustomize, helm), built into the test-binary cache if needed; skips or fails if not."""
    kustomize, helm = testbin.tools(
        ("KUSTOMIZE", "HELM"),
        cache_glob="kustomize-*/.complete,helm-*/.complete",
        what="kustomize/helm",
    )
    return kustomize, helm

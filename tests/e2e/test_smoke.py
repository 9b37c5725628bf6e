"""The control plane comes up and breakglass sees a manual write."""

from __future__ import annotations


def test_control_plane_runs_and_webhook_is_effective(cluster):
    version = cluster.kubectl("version", "-o", "json", user="admin")
    assert "v1.36" in version.stdout
    captures = cluster.journal()
    assert any(c["object"]["namespace"] == "e2e-probe" for c in captures)
    print("timings", cluster.timings)

"""The real Flux controllers apply a Git repository; breakglass ignores their writes and records
alice's."""

from __future__ import annotations

import time

from tests.backfill.conftest import bare_remote, git
from tests.e2e.conftest import wait_until
from tests.e2e.flux import NAME_LABEL, NAMESPACE_LABEL, live, payments_app


def test_flux_applies_a_repository_and_breakglass_sees_flux_as_the_controller(
    cluster, flux, namespace, tmp_path
):
    seed = tmp_path / "seed"
    payments_app(seed, namespace)
    bare = bare_remote(seed, "payments")
    sha = git("rev-parse", "main", cwd=bare).strip()

    started = time.monotonic()
    kustomization = flux.app("payments", namespace, bare=bare, path="./apps/payments")
    print(f"GitRepository + Kustomization Ready in {time.monotonic() - started:.1f}s")
    assert kustomization["status"]["lastAppliedRevision"] == f"main@sha1:{sha}"
    assert flux.applied_revision("payments", namespace) == f"main@sha1:{sha}"

    for kind, name in (("deployment", "payments"), ("configmap", "payments-settings")):
        obj = live(cluster, kind, name, namespace)
        labels = obj["metadata"]["labels"]
        assert labels[NAME_LABEL] == "payments"
        assert labels[NAMESPACE_LABEL] == namespace
        managers = {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
        print(kind, sorted(managers))
        assert ("kustomize-controller", "Apply") in managers
    assert live(cluster, "deployment", "payments", namespace)["spec"]["replicas"] == 2

    time.sleep(1.5)  # one audit batch interval, so Flux's writes would have been confirmed
    assert [c for c in cluster.journal() if c["object"]["namespace"] == namespace] == []

    cluster.kubectl("scale", "deployment/payments", "--replicas=3", "-n", namespace)
    capture = wait_until(
        lambda: [c for c in cluster.journal() if c["object"]["namespace"] == namespace],
        what="a capture of alice's kubectl scale",
    )
    assert [(c["object"]["name"], c["actor"]["username"]) for c in capture] == [
        ("payments", "alice")
    ]
    print("flux start-up", flux.timings)

"""The session-wide control plane for end-to-end tests, or a skip that says how to enable it.

``BREAKGLASS_E2E=required`` (set by ``.ci/run``) turns a missing toolchain into a failure;
``BREAKGLASS_E2E=skip`` skips on purpose; unset, the tests run when the binaries can be built.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.controlplane import ControlPlane, ToolchainMissing, binaries
from tests.e2e.flux import BINARIES as FLUX_BINARIES
from tests.e2e.flux import Flux


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def control_plane_binaries() -> dict[str, str]:
    """The test binaries, or a skip (a failure under ``BREAKGLASS_E2E=required``)."""
    mode = os.environ.get("BREAKGLASS_E2E", "")
    if mode == "skip":
        pytest.skip("BREAKGLASS_E2E=skip")
    try:
        return binaries()
    except ToolchainMissing as exc:
        if mode == "required":
            pytest.fail(f"BREAKGLASS_E2E=required but the control plane is unavailable: {exc}")
        pytest.skip(f"{exc} (set BREAKGLASS_E2E=required to make this a failure)")


def flux_on(plane: ControlPlane, workdir: Path) -> Iterator[Flux]:
    """Flux's controllers on ``plane``, or a skip (a failure under ``BREAKGLASS_E2E=required``)."""
    missing = [key for key in FLUX_BINARIES if not os.path.exists(plane.bins.get(key, ""))]
    if missing:
        message = f"tests/e2e/testbin.sh did not produce {', '.join(missing)}"
        if os.environ.get("BREAKGLASS_E2E") == "required":
            pytest.fail(f"BREAKGLASS_E2E=required but Flux is unavailable: {message}")
        pytest.skip(f"{message} (set BREAKGLASS_E2E=required to make this a failure)")
    harness = Flux(plane, workdir)
    try:
        harness.start()
        yield harness
    finally:
        harness.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), control_plane_binaries())
    try:
        plane.start()
        wait_for_webhook(plane)
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A second API server with breakglass neither running nor registered, writing its own
    audit log file: the cluster a scan looks at, where manual changes bypassed the webhook."""
    plane = ControlPlane(
        tmp_path_factory.mktemp("bare-controlplane"), control_plane_binaries(), webhooks=False
    )
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def bare_flux(
    bare_cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flux]:
    """Flux's controllers on ``bare_cluster`` (no breakglass webhook there)."""
    yield from flux_on(bare_cluster, tmp_path_factory.mktemp("bare-flux"))


@pytest.fixture(scope="session")
def flux(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flux]:
    """Flux's source-controller and kustomize-controller on the session's control plane.

    Started on first use, so only the tests that ask for it pay its start-up (CRDs, both
    controllers healthy); the same skip-or-fail policy as ``cluster``.
    """
    yield from flux_on(cluster, tmp_path_factory.mktemp("flux"))


def wait_for_webhook(plane: ControlPlane, timeout: float = 60) -> None:
    """The API server picks up a new webhook configuration after a few seconds; probe until a
    manual write shows breakglass's warning."""
    started = time.monotonic()
    plane.kubectl("create", "namespace", "e2e-probe", user="admin")
    deadline = started + timeout
    while True:
        name = f"probe-{uuid.uuid4().hex[:8]}"
        out = plane.kubectl("create", "configmap", name, "-n", "e2e-probe", "--from-literal=a=b")
        if "breakglass: recorded" in out.stderr:
            plane.timings["webhook-effective"] = time.monotonic() - started
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                "webhook never took effect:\n"
                + plane.log("kube-apiserver")[-3000:]
                + plane.log("breakglass")[-3000:]
            )
        time.sleep(0.5)


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 20, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.25)


@pytest.fixture
def namespace(cluster: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test; with ``BREAKGLASS_RECORD=1`` what the API server sent about
    it is saved as a fixture in ``tests/fixtures/recorded/<test name>.json``."""
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name, user="argocd")
    yield name
    if os.environ.get("BREAKGLASS_RECORD") == "1" and request.node.rep_call_passed:
        time.sleep(1.5)  # one audit batch interval, so the last events are in
        expected = [c for c in cluster.journal() if c["object"]["namespace"] == name]
        safe = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
        cluster.recorder.save(name, safe.removeprefix("test_"), expected)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call_passed = report.passed  # type: ignore[attr-defined]
    return report

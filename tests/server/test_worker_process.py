"""``serve`` runs the backfill worker as a child process: niced, restarted, never left behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.server.conftest import spawn_server


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` that run ``breakglass worker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid"))
        state = next(line.split()[1] for line in status.splitlines() if line.startswith("State"))
        if ppid == pid and b"worker" in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


def wait_for(condition, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_serve_runs_the_worker_as_a_niced_child_and_restarts_it(tmp_path: Path, cert_files):
    server = spawn_server(tmp_path, cert_files)
    try:
        [child] = wait_for(lambda: children(server.proc.pid))
        # the webhook keeps its priority; backfill work yields the CPU to it
        wait_for(lambda: os.getpriority(os.PRIO_PROCESS, child) == 10)  # once it has started
        assert os.getpriority(os.PRIO_PROCESS, server.proc.pid) == 0
        # the worker's own lines say which process wrote them
        wait_for(lambda: '"process": "worker"' in server.log_file.read_text())
        os.kill(child, signal.SIGKILL)
        [again] = wait_for(lambda: [c for c in children(server.proc.pid) if c != child])
        assert again != child
        log = server.log_file.read_text()
        assert '"event": "worker_process_exited"' in log
        assert '"code": -9' in log
    finally:
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)
    assert server.proc.returncode == 0
    wait_for(lambda: not alive(again), timeout=5)


def test_a_killed_serve_leaves_no_worker_behind(tmp_path: Path, cert_files):
    server = spawn_server(tmp_path, cert_files)
    [child] = wait_for(lambda: children(server.proc.pid))
    server.proc.kill()
    server.proc.wait(timeout=10)
    # the orphaned worker notices its parent is gone within a second or two, and stops
    wait_for(lambda: not alive(child), timeout=10)


def test_serve_without_a_worker_starts_none(tmp_path: Path, cert_files):
    server = spawn_server(tmp_path, cert_files, args=("--worker", "none"))
    try:
        time.sleep(1.5)
        assert children(server.proc.pid) == []
    finally:
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)

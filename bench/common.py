"""Shared helpers for benchmarks: machine facts, percentiles, result files, a server process."""

from __future__ import annotations

import json
import os
import platform
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS = Path(os.environ.get("BREAKGLASS_BENCH_RESULTS", Path(__file__).parent / "results"))


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def breakglass_server(extra_config: str = "") -> Iterator[tuple[str, ssl.SSLContext, Path]]:
    """``breakglass serve`` in a subprocess with a self-signed pair; yields (url, ctx, state)."""
    from breakglass import certs

    with tempfile.TemporaryDirectory(prefix="bg-bench-") as tmp:
        root = Path(tmp)
        paths = certs.generate(root / "tls", ["localhost", "127.0.0.1"])
        port = free_port()
        config = root / "breakglass.yaml"
        config.write_text(
            f"cluster: bench\nstate_dir: {root / 'state'}\n"
            f"listen: {{host: 127.0.0.1, port: {port}}}\n"
            f"tls: {{cert_file: {paths.cert_file}, key_file: {paths.key_file}}}\n"
            f"logging: {{level: warning}}\n{extra_config}"
        )
        env = {**os.environ, "BREAKGLASS_AUDIT_TOKEN": "bench", "BREAKGLASS_REDACTION_SALT": "b"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "breakglass", "serve", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        url = f"https://localhost:{port}"
        ctx = ssl.create_default_context(cafile=str(paths.ca_file))
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", context=ctx, timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("breakglass did not start") from None
                time.sleep(0.1)
        try:
            yield url, ctx, root / "state"
        finally:
            proc.terminate()
            proc.wait(timeout=10)

"""Shared helpers for benchmarks: machine facts, percentiles, result files, server processes,
and the load generator.

Load comes from a separate process over loopback HTTPS: ``wrk`` (Debian's package) driven by
``bench/_wrk.lua`` when it is installed, otherwise ``bench/_loadgen.py`` (an asyncio aiohttp
client).  wrk is preferred because on a two-core machine the client shares the CPU with the
server under test: wrk's C event loop spends a small fraction of what a Python client spends per
request, so the numbers describe the server rather than the client.  Both read a request body
template and replace every ``@@ID@@`` with a per-request unique id (AdmissionReview ``uid``s,
audit IDs), so no request is a replay that the journal would deduplicate.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = Path(os.environ.get("BREAKGLASS_BENCH_RESULTS", HERE / "results"))
#: The same body limit breakglass uses by default (Kubernetes' own webhooks take 3 MiB).
MAX_BODY = 3 * 1024 * 1024


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import yaml

        libyaml = bool(getattr(yaml, "__with_libyaml__", False))
    except ImportError:  # pragma: no cover
        libyaml = False
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "libyaml": libyaml,
        "wrk": shutil.which("wrk") is not None,
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
    from breakglass.demo.cluster import free_port as pick

    return pick()


def rss_mib(pid: int) -> dict[str, float]:
    """Current (``VmRSS``) and peak (``VmHWM``) resident memory of ``pid`` in MiB."""
    out = {"rss_mib": float("nan"), "peak_rss_mib": float("nan")}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mib"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith("VmHWM:"):
                out["peak_rss_mib"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class Server:
    """A server under test running in its own process."""

    name: str
    url: str
    ctx: ssl.SSLContext
    proc: subprocess.Popen[bytes]
    state: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def tls_files() -> Iterator[tuple[Path, Any]]:
    """A temporary directory with a self-signed CA and serving pair for localhost."""
    from breakglass import certs

    with tempfile.TemporaryDirectory(prefix="bg-bench-") as tmp:
        root = Path(tmp)
        yield root, certs.generate(root / "tls", ["localhost", "127.0.0.1"])


def wait_healthy(
    name: str, url: str, ctx: ssl.SSLContext, proc: subprocess.Popen[bytes], *, timeout: float
) -> None:
    """Return once ``url``/healthz answers; stop ``proc`` and raise if it exits or times out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", context=ctx, timeout=1).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc)
                raise RuntimeError(f"{name} did not start") from None
            time.sleep(0.05)


@contextmanager
def breakglass_process(
    extra_config: str = "", *, src: Path | None = None, name: str = "breakglass"
) -> Iterator[Server]:
    """``breakglass serve`` (SQLite journal, durable, audit log on) with a self-signed pair.

    ``src`` runs the ``breakglass`` package of another source tree (e.g. an export of the last
    commit, for before/after comparisons in one run) with this environment's dependencies.
    """
    with tls_files() as (root, paths):
        port = free_port()
        config = root / "breakglass.yaml"
        config.write_text(
            f"cluster: bench\nstate_dir: {root / 'state'}\n"
            f"listen: {{host: 127.0.0.1, port: {port}}}\n"
            f"tls: {{cert_file: {paths.cert_file}, key_file: {paths.key_file}}}\n"
            f"logging: {{level: warning}}\n{extra_config}"
        )
        env = {
            **os.environ,
            "BREAKGLASS_AUDIT_TOKEN": "bench",
            "BREAKGLASS_REDACTION_SALT": "b",
            "PYTHONPATH": str(src or ROOT),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "breakglass", "serve", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            cwd=root,
        )
        url = f"https://localhost:{port}"
        ctx = ssl.create_default_context(cafile=str(paths.ca_file))
        wait_healthy(name, url, ctx, proc, timeout=30)
        try:
            yield Server(name, url, ctx, proc, root / "state")
        finally:
            _stop(proc)


@contextmanager
def breakglass_server(extra_config: str = "") -> Iterator[tuple[str, ssl.SSLContext, Path]]:
    """``breakglass serve`` in a subprocess; yields (url, ctx, state)."""
    with breakglass_process(extra_config) as server:
        assert server.state is not None
        yield server.url, server.ctx, server.state


@contextmanager
def script_server(name: str, module: str, *args: str) -> Iterator[Server]:
    """``python -m bench.MODULE CERT KEY PORT ARGS`` in a subprocess; waits for its READY line."""
    with tls_files() as (_root, paths):
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                str(paths.cert_file),
                str(paths.key_file),
                str(port),
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("READY"):
            _stop(proc)
            raise RuntimeError(f"{name} did not start: {line!r}")
        ctx = ssl.create_default_context(cafile=str(paths.ca_file))
        try:
            yield Server(name, f"https://localhost:{port}", ctx, proc)
        finally:
            _stop(proc)


@dataclass
class Load:
    """One load-generator run's outcome."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    cpu_s: float = float("nan")  # the server's CPU time during the run, when measured

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "p999_ms": round(self.p999_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "server_cpu_ms_per_req": (
                round(self.cpu_s * 1000 / self.requests, 3) if self.requests else float("nan")
            ),
        }


def load(
    url: str,
    template: bytes,
    *,
    concurrency: int,
    requests: int,
    seconds: float,
    authorization: str = "",
    client: str | None = None,
    server_pid: int | None = None,
) -> Load:
    """POST ``template`` (``@@ID@@`` made unique per request) from a separate process.

    wrk runs for ``seconds`` (whole seconds, at least one); the Python client stops after
    ``requests`` responses or ``seconds``, whichever comes first.
    """
    client = (
        client
        or os.environ.get("BREAKGLASS_BENCH_CLIENT")
        or ("wrk" if shutil.which("wrk") else "python")
    )
    prefix = uuid.uuid4().hex[:12]
    with tempfile.NamedTemporaryFile(prefix="bg-body-", suffix=".json") as fh:
        fh.write(template)
        fh.flush()
        if client == "wrk":
            argv = [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(HERE / "_wrk.lua"),
                url,
                "--",
                fh.name,
                prefix,
                authorization,
            ]
        else:
            argv = [
                sys.executable,
                str(HERE / "_loadgen.py"),
                url,
                fh.name,
                prefix,
                str(concurrency),
                str(requests),
                str(seconds),
                authorization,
            ]
        cpu_before = cpu_seconds(server_pid) if server_pid else float("nan")
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 120, check=False
        )
        cpu = cpu_seconds(server_pid) - cpu_before if server_pid else float("nan")
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr or out.stdout}")
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"load generator printed no result: {out.stdout} {out.stderr}")
    data = json.loads(line)
    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=data["errors"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        p999_ms=data["p999_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        cpu_s=cpu,
    )


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table, right-aligned numbers, for the terminal and for bench/README.md."""
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "| "
            + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w in zip(row, widths, strict=True))
            + " |"
        )
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)

"""``breakglass serve --config examples/breakglass.yaml`` starts as shipped and answers HTTPS."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests import payloads as p
from tests.server.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_config_runs_as_is(tmp_path):
    (tmp_path / "examples").mkdir()
    config = tmp_path / "examples" / "breakglass.yaml"
    shutil.copy(ROOT / "examples" / "breakglass.yaml", config)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "breakglass", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    ca = tmp_path / "breakglass-state" / "tls" / "ca.crt"
    try:
        deadline = time.monotonic() + 30
        while not ca.exists() or not _ready(port, ca):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.2)
        ctx = ssl.create_default_context(cafile=str(ca))
        review = p.review(operation="UPDATE", obj=p.deployment(replicas=5), old=p.deployment())
        request = urllib.request.Request(
            f"https://localhost:{port}/validate",
            data=json.dumps(review).encode(),
            headers={"Content-Type": "application/json"},
        )
        answer = json.loads(urllib.request.urlopen(request, context=ctx, timeout=5).read())
        assert answer["response"]["allowed"] is True
        assert answer["response"]["warnings"][0].startswith("breakglass: recorded deployment")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    assert (tmp_path / "breakglass-state" / "journal.db").exists()
    assert list((tmp_path / "breakglass-state" / "audit").glob("audit-*.jsonl"))


def _ready(port: int, ca: Path) -> bool:
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(f"https://localhost:{port}/readyz", context=ctx, timeout=1):
            return True
    except OSError:
        return False

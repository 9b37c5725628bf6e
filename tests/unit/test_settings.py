"""Settings: every problem reported at once, with key path, value and what is allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from breakglass import settings
from breakglass.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "breakglass.yaml"
    path.write_text(text)
    return path


def test_example_config_loads():
    loaded = settings.load(ROOT / "examples" / "breakglass.yaml")
    assert loaded.cluster == "dev"
    assert loaded.journal_url.startswith("sqlite:///")
    assert loaded.audit_webhook.token_env == "BREAKGLASS_AUDIT_TOKEN"
    assert loaded.actors.is_ignored("system:serviceaccount:argocd:argocd-server", ())
    assert not loaded.actors.is_ignored("alice", ("oncall",))


def test_defaults_for_an_empty_file(tmp_path):
    loaded = settings.load(write(tmp_path, ""))
    assert loaded.listen.port == 8443
    assert loaded.max_body_bytes == 3 * 1024 * 1024
    assert loaded.journal_url == f"sqlite:///{tmp_path.resolve()}/breakglass-state/journal.db"


def test_every_problem_is_reported_with_its_path(tmp_path):
    path = write(
        tmp_path,
        """
cluster: Prod_EU
listen: {port: 99999}
tls: {cert_file: /nonexistent/tls.crt}
journal: mysql://db
audit_webhook: {token_env: "not a name", token: hunter2}
actors: {ignore: {users: "system:*"}}
admission: {mode: enforce}
logging: {format: xml}
capture: {record_only: [reboot]}
surprise: 1
""",
    )
    with pytest.raises(ConfigError) as info:
        settings.load(path)
    found = {p.path for p in info.value.problems}
    assert {
        "cluster",
        "listen.port",
        "tls",
        "tls.cert_file",
        "journal",
        "audit_webhook.token_env",
        "audit_webhook.token",
        "actors.ignore.users",
        "admission.mode",
        "logging.format",
        "capture.record_only",
        "surprise",
    } <= found
    text = str(info.value)
    assert "hunter2" not in text
    port = next(p for p in info.value.problems if p.path == "listen.port")
    assert port.value == "99999" and "0 to 65535" in port.allowed


def test_broken_yaml_names_the_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        settings.load(write(tmp_path, "cluster: dev\nlisten: [\n"))
    assert "line" in info.value.problems[0].value


def test_config_check_cli(tmp_path):
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakglass",
            "config",
            "check",
            str(ROOT / "examples" / "breakglass.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "ok"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakglass",
            "config",
            "check",
            str(write(tmp_path, "listen: {port: x}\ncluster: A\n")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    lines = bad.stdout.strip().splitlines()
    assert len(lines) == 2
    assert any("listen.port: 'x'" in line for line in lines)


def test_config_check_notes_a_sops_binary_that_cannot_run(tmp_path, capsys):
    from breakglass import cli

    path = write(tmp_path, f"backfill: {{sops_binary: {tmp_path / 'no-sops'}}}\n")
    assert cli.main(["config", "check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "ok"
    assert "backfill.sops_binary" in err and "not an executable file" in err

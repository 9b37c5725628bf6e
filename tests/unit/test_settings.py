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


def test_terraform_roots_are_validated_and_their_environment_noted(tmp_path, capsys, monkeypatch):
    from breakglass import cli

    monkeypatch.delenv("CLOUD_ROLE", raising=False)
    good = (
        "terraform:\n  interval: 600\n  roots:\n"
        f"    - {{name: prod, repo: {tmp_path}, path: envs/prod/, binary: {tmp_path / 'no-tofu'},"
        " env: [CLOUD_ROLE], backend_config: {bucket: b}}\n"
    )
    path = write(tmp_path, good)
    conf = settings.load(path)
    (root,) = conf.terraform.roots
    assert root.path == "envs/prod" and root.backend_config == (("bucket", "b"),)
    assert root.workspace == "default" and conf.terraform.interval == 600
    assert cli.main(["config", "check", str(path)]) == 0
    _, err = capsys.readouterr()
    assert "terraform.roots[0].binary" in err and "scans of root prod will fail" in err
    assert "environment variable CLOUD_ROLE (terraform.roots[0].env) is not set" in err
    bad = write(
        tmp_path,
        "terraform:\n  roots:\n"
        f"    - {{name: prod, repo: {tmp_path}, path: ../up, env: [not-a-name]}}\n"
        f"    - {{name: prod, repo: {tmp_path}}}\n",
    )
    assert cli.main(["config", "check", str(bad)]) == 1
    out, _ = capsys.readouterr()
    assert "terraform.roots[0].path: '../up'" in out
    assert "terraform.roots[0].env" in out and "'not-a-name'" in out
    assert "terraform.roots[1].name: 'prod' (a name no other root has)" in out


@pytest.mark.parametrize(
    ("text", "url", "password_env"),
    [
        (
            "journal: postgresql://breakglass@db.example:5432/breakglass",
            "postgresql://breakglass@db.example:5432/breakglass",
            "BREAKGLASS_JOURNAL_PASSWORD",
        ),
        (
            "journal: {url: 'postgres://bg@db-0:5432,db-1:5433/bg?sslmode=verify-full"
            "&target_session_attrs=read-write', password_env: PG_SECRET}",
            "postgres://bg@db-0:5432,db-1:5433/bg?sslmode=verify-full"
            "&target_session_attrs=read-write",
            "PG_SECRET",
        ),
        (
            "journal: 'postgresql://[::1]:5432/bg'",
            "postgresql://[::1]:5432/bg",
            "BREAKGLASS_JOURNAL_PASSWORD",
        ),
        (
            "journal: 'postgresql://%2Fvar%2Frun%2Fpostgresql/bg'",
            "postgresql://%2Fvar%2Frun%2Fpostgresql/bg",
            "BREAKGLASS_JOURNAL_PASSWORD",
        ),
        (
            "journal: 'postgresql://db.example?dbname=bg&user=bg'",
            "postgresql://db.example?dbname=bg&user=bg",
            "BREAKGLASS_JOURNAL_PASSWORD",
        ),
    ],
)
def test_postgresql_journal_urls(tmp_path, text, url, password_env):
    loaded = settings.load(write(tmp_path, text))
    assert loaded.journal_url == url
    assert loaded.journal_password_env == password_env


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ("journal: 'postgresql://bg:hunter2@db/bg'", "journal", "no password in the URL"),
        ("journal: 'postgresql://bg@db/bg?password=hunter2'", "journal", "no password"),
        ("journal: {url: 'postgresql://bg:hunter2@db/bg'}", "journal.url", "password_env"),
        ("journal: 'postgresql://bg@db:99999/bg'", "journal", "port '99999'"),
        ("journal: 'postgresql://bg@db:http/bg'", "journal", "port 'http'"),
        ("journal: 'postgresql://bg@db'", "journal", "name the database"),
        ("journal: 'postgresql://bg@db/bg/extra'", "journal", "one path segment"),
        ("journal: 'postgresql://bg@db/bg?sslmod=require'", "journal", "'sslmod' is not"),
        ("journal: 'postgresql://bg@[::1/bg'", "journal", "IPv6"),
        ("journal: 'postgresql://bg@db host/bg'", "journal", "not a host name"),
        ("journal: 'postgresql://bg@db/bg#x'", "journal", "fragment"),
        (
            "journal: {url: 'postgresql://db/bg', password_env: 'a b'}",
            "journal.password_env",
            "variable",
        ),
        ("journal: {url: 'postgresql://db/bg', password: hunter2}", "journal.password", "secrets"),
    ],
)
def test_malformed_postgresql_urls_name_the_key_and_hide_the_password(tmp_path, text, key, allowed):
    with pytest.raises(ConfigError) as info:
        settings.load(write(tmp_path, text))
    problems = [p for p in info.value.problems if p.path == key]
    assert problems, info.value.problems
    assert any(allowed in p.allowed for p in problems), problems
    assert "hunter2" not in str(info.value)


def test_config_check_rejects_a_malformed_postgresql_url(tmp_path):
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakglass",
            "config",
            "check",
            str(write(tmp_path, "journal: {url: 'postgresql://bg:s3cret@db:5432x/bg'}\n")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "journal.url: 'postgresql://bg:***@db:5432x/bg'" in bad.stdout
    assert "no password in the URL" in bad.stdout and "port '5432x'" in bad.stdout
    assert "s3cret" not in bad.stdout + bad.stderr


def test_redact_url():
    from breakglass.urls import redact_url

    assert redact_url("postgresql://bg:pw@db/bg") == "postgresql://bg:***@db/bg"
    assert redact_url("postgresql://bg:p@ss/w0rd@db/bg") == "postgresql://bg:***@db/bg"
    assert redact_url("postgresql://bg@db/bg?password=pw&sslmode=require") == (
        "postgresql://bg@db/bg?password=***&sslmode=require"
    )
    assert redact_url("postgresql://db/bg?sslpassword=pw") == "postgresql://db/bg?sslpassword=***"
    assert redact_url("postgresql://bg@db/bg") == "postgresql://bg@db/bg"
    assert redact_url("sqlite:///tmp/j.db") == "sqlite:///tmp/j.db"


def test_config_check_notes_a_missing_postgresql_driver(tmp_path, monkeypatch, capsys):
    from breakglass import cli

    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setenv("BREAKGLASS_AUDIT_TOKEN", "t")
    path = write(tmp_path, "journal: postgresql://bg@db/bg\n")
    assert cli.main(["config", "check", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "ok"
    assert "pip install 'breakglass[postgresql]'" in out.err


def check_config(*args: str) -> subprocess.CompletedProcess[str]:
    """`breakglass config check ...` as a user runs it, from the repository's root."""
    return subprocess.run(
        [sys.executable, "-m", "breakglass", "config", "check", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},  # a workstation: none of the pod's secrets
    )


def test_config_check_for_install_skips_the_files_only_the_pod_has():
    # Without the flag the in-cluster TLS pair is looked for here, as before.
    here = check_config("deploy/base/breakglass.yaml")
    assert here.returncode == 1
    assert "tls.cert_file: '/etc/breakglass/tls/tls.crt'" in here.stdout
    before = check_config("--for-install", "deploy/base/breakglass.yaml")
    assert before.returncode == 0, before.stdout + before.stderr
    assert before.stdout.strip() == "ok"
    skipped = [line for line in before.stderr.splitlines() if line.startswith("skipped: ")]
    assert skipped == [
        "skipped: tls.cert_file /etc/breakglass/tls/tls.crt (exists only where breakglass runs)",
        "skipped: tls.key_file /etc/breakglass/tls/tls.key (exists only where breakglass runs)",
        "skipped: audit_webhook.token_env BREAKGLASS_AUDIT_TOKEN "
        "(exists only where breakglass runs)",
    ]
    assert "note:" not in before.stderr
    assert "--for-install" in check_config("--help").stdout


def test_config_check_for_install_still_reports_everything_else(tmp_path):
    path = write(
        tmp_path,
        """
listen: {port: 99999}
tls: {cert_file: /etc/bg/tls.crt, client_ca_file: /etc/bg/ca.crt}
audit_log: {key_file: /etc/bg/audit.key}
""",
    )
    out = check_config("--for-install", str(path))
    assert out.returncode == 1
    found = [line.removeprefix(f"{path}: ").split(":")[0] for line in out.stdout.splitlines()]
    # the pair is still incomplete: only whether the files exist is not asked
    assert found == ["listen.port", "tls"]
    for key, file in (
        ("tls.cert_file", "/etc/bg/tls.crt"),
        ("tls.client_ca_file", "/etc/bg/ca.crt"),
        ("audit_log.key_file", "/etc/bg/audit.key"),
    ):
        assert f"skipped: {key} {file} (exists only where breakglass runs)" in out.stderr


def test_settings_read_elsewhere_note_every_file_not_looked_for(tmp_path):
    text = "tls: {cert_file: c.pem, key_file: k.pem}\naudit_log: {key_file: audit.key}\n"
    with pytest.raises(ConfigError) as info:
        settings.load(write(tmp_path, text))
    assert {p.path for p in info.value.problems} == {
        "tls.cert_file",
        "tls.key_file",
        "audit_log.key_file",
    }
    elsewhere = settings.RuntimeFiles()
    loaded = settings.load(write(tmp_path, text), elsewhere=elsewhere)
    assert loaded.tls.cert_file == tmp_path.resolve() / "c.pem"
    assert elsewhere.skipped == {
        "tls.cert_file": tmp_path.resolve() / "c.pem",
        "tls.key_file": tmp_path.resolve() / "k.pem",
        "audit_log.key_file": tmp_path.resolve() / "audit.key",
    }


def test_checks_across_keys_report_along_with_the_values_they_read(tmp_path):
    path = write(
        tmp_path,
        """
tls: {cert_file: /nonexistent/tls.crt, reload_interval: -1}
admission: {require_client_cert: true, deadline_seconds: 0}
metrics: {listen: {port: 8443, host: 7}, worker_listen: {port: 8443}}
backfill: {forge: nowhere, interval: 0}
forges: {github: {kind: github, repo: acme/gitops, token: hunter2}}
repos:
  - {url: https://example.invalid/a.git, forge: nowhere}
  - 5
  - {url: https://example.invalid/b.git, forge: github, branch: [x]}
  - {url: https://example.invalid/c.git, forge: elsewhere}
""",
    )
    with pytest.raises(ConfigError) as info:
        settings.load(path)
    found = {p.path: p for p in info.value.problems}
    assert set(found) == {
        "tls",
        "tls.cert_file",
        "tls.reload_interval",
        "admission.require_client_cert",
        "admission.deadline_seconds",
        "metrics.listen.host",
        "metrics.listen.port",
        "metrics.worker_listen.port",
        "backfill.forge",
        "backfill.interval",
        "forges.github",
        "forges.github.token",
        "repos[0].forge",
        "repos[1]",
        "repos[2].branch",
        "repos[3].forge",
    }
    assert found["backfill.forge"].allowed == "the name of an entry in forges"
    assert found["repos[1]"].allowed == "a mapping with at least `url`"
    assert found["forges.github"].value == "'no credentials'"
    assert "hunter2" not in str(info.value)


def test_each_problem_shows_the_key_as_written_and_what_is_allowed(tmp_path):
    path = write(
        tmp_path,
        """
actors: {ignore: {users: [ok, 5, '']}}
backfill: {interval: 0, committer: {name: '', github: x}}
forges: {github: {kind: github, repo: acme/gitops, token_env: T, tokn: x}}
users: {alice: {name: Alice}, bob: {email: b@example.com, colour: blue}}
logging: {level: loud}
""",
    )
    with pytest.raises(ConfigError) as info:
        settings.load(path)
    found = {p.path: (p.value, p.allowed) for p in info.value.problems}
    assert found == {
        "actors.ignore.users": ("['ok', 5, '']", "a list of names, '*' globs allowed"),
        "backfill.interval": ("0", "seconds"),
        "backfill.committer.github": (
            "'github'",
            "unknown key; see the configuration reference in README.md",
        ),
        "forges.github.tokn": (
            "'tokn'",
            "one of app_id, base_url, installation_id, kind, private_key_file, records_dir, "
            "repo, token_env",
        ),
        "users.alice": (
            "{'name': 'Alice'}",
            "a mapping with at least `email` (and name, github, gitlab)",
        ),
        "users.bob.colour": ("'colour'", "one of email, github, gitlab, name"),
        "logging.level": ("'loud'", "one of debug, info, warning, error"),
    }


def test_a_key_with_no_value_keeps_its_default(tmp_path):
    loaded = settings.load(write(tmp_path, "listen: {port: null}\nbackfill:\ncluster:\n"))
    assert loaded.listen.port == 8443
    assert loaded.backfill == settings.BackfillSettings()
    assert loaded.cluster == "default"


def test_settings_are_frozen_hashable_and_picklable():
    import pickle

    loaded = settings.load(ROOT / "examples" / "breakglass.yaml")
    again = pickle.loads(pickle.dumps(loaded))
    assert again == loaded and hash(again) == hash(loaded)
    assert isinstance(loaded.forges, tuple) and isinstance(loaded.state_dir, Path)
    with pytest.raises(ValueError, match="frozen"):
        loaded.listen.port = 1  # type: ignore[misc]


def test_replace_validates_the_new_values():
    loaded = settings.load(ROOT / "examples" / "breakglass.yaml")
    moved = settings.replace(loaded, source="--port", listen={"host": "::", "port": 9443})
    assert moved.listen == settings.ListenSettings(host="::", port=9443)
    assert moved.tls == loaded.tls and moved.source == loaded.source
    with pytest.raises(ConfigError) as info:
        settings.replace(loaded, source="--port", listen={"host": "::", "port": 99999})
    assert [p.path for p in info.value.problems] == ["listen.port"]
    assert info.value.source == "--port"

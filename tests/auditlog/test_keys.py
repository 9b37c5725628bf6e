"""Where the audit log key comes from, and the generated key of the embedded default."""

from __future__ import annotations

import stat

import pytest
import structlog

from breakglass import settings
from breakglass.auditlog import keys
from breakglass.errors import AuditLogError


def conf(tmp_path, **data) -> settings.Settings:
    return settings.from_mapping({"state_dir": "state", **data}, source="t", base=tmp_path)


def test_environment_wins_over_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("from-the-mounted-file-0123\n")
    loaded = conf(tmp_path, audit_log={"key_file": str(key_file), "key_env": "MY_KEY"})
    assert keys.resolve(loaded, environ={"MY_KEY": "from-the-environment-0123"}).secret == (
        b"from-the-environment-0123"
    )
    key = keys.resolve(loaded, environ={})
    assert key.secret == b"from-the-mounted-file-0123" and key.source == f"file {key_file}"
    assert "from-the" not in repr(key)


def test_a_missing_key_is_generated_once_with_mode_0600(tmp_path):
    loaded = conf(tmp_path)
    with structlog.testing.capture_logs() as logs:
        first = keys.resolve(loaded, environ={}, generate=True)
    path = tmp_path / "state" / "audit-log.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.secret) == 64
    assert [e["event"] for e in logs] == ["audit_log_key_generated"]
    with structlog.testing.capture_logs() as logs:
        again = keys.resolve(loaded, environ={}, generate=True)
    assert again.secret == first.secret
    assert [e["event"] for e in logs] == ["audit_log_key_generated_file"]


def test_without_generate_a_missing_key_is_an_error(tmp_path):
    with pytest.raises(AuditLogError, match="no audit log key") as info:
        keys.resolve(conf(tmp_path), environ={})
    assert "BREAKGLASS_AUDIT_LOG_KEY" in (info.value.hint or "")


def test_short_keys_are_refused(tmp_path):
    with pytest.raises(AuditLogError, match="at least 16"):
        keys.resolve(conf(tmp_path), environ={"BREAKGLASS_AUDIT_LOG_KEY": "short"})


def test_key_settings_are_validated(tmp_path):
    from breakglass.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        conf(
            tmp_path,
            audit_log={
                "key_env": "not a name",
                "key_file": "missing",
                "max_bytes": 0,
                "rotate_daily": "yes",
                "colour": "blue",
                "hmac_key": "inline",
            },
        )
    paths = sorted(p.path for p in info.value.problems)
    assert paths == [
        "audit_log.colour",
        "audit_log.hmac_key",
        "audit_log.key_env",
        "audit_log.key_file",
        "audit_log.max_bytes",
        "audit_log.rotate_daily",
    ]

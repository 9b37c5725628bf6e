"""``notifications:`` in the settings file: problems by key path, URLs and keys never in the
file, and ``breakglass config check`` on variables that are not set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from breakglass import settings
from breakglass.errors import ConfigError
from breakglass.metrics import Metrics
from breakglass.notify.destinations import usable
from breakglass.notify.notifier import Notifier

ROOT = Path(__file__).resolve().parents[2]


def problems(data) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        settings.from_mapping(data, source="test", base=Path("."))
    return {p.path: f"{p.value} ({p.allowed})" for p in info.value.problems}


def dest(**changes):
    values = {"name": "ops", "kind": "slack", "url_env": "OPS_SLACK_URL"}
    values.update(changes)
    return values


def test_a_full_section_loads():
    loaded = settings.from_mapping(
        {
            "notifications": {
                "queue_size": 50,
                "destinations": [
                    dest(events=["pr_opened", "needs_human"], namespaces=["payments-*"]),
                    dest(name="siem", kind="webhook", url_env="SIEM_URL", secret_env="SIEM_KEY"),
                    dest(name="teams", kind="teams", url_env="TEAMS_URL", applications=["shop"]),
                ],
            }
        },
        source="test",
        base=Path("."),
    )
    first, second, third = loaded.notifications.destinations
    assert first.events == ("pr_opened", "needs_human") and first.namespaces == ("payments-*",)
    assert second.events == settings.NOTIFICATION_EVENTS and second.applications == ("*",)
    assert third.applications == ("shop",)
    assert loaded.notifications.queue_size == 50
    assert settings.Settings().notifications.destinations == ()


def test_problems_name_their_key_path():
    found = problems(
        {
            "notifications": {
                "max_attempts": 0,
                "destinations": [
                    dest(events=["pr_opened", "pr_reopened"]),
                    dest(name="hook", kind="webhook"),
                    dest(name="x", kind="fax"),
                    dest(name="bad name!"),
                    dest(name="s", url_env="not a variable"),
                ],
            }
        }
    )
    assert set(found) >= {
        "notifications.max_attempts",
        "notifications.destinations[0].events",
        "notifications.destinations[1].secret_env",
        "notifications.destinations[2].kind",
        "notifications.destinations[3].name",
        "notifications.destinations[4].url_env",
    }
    assert "pr_reopened" in found["notifications.destinations[0].events"]
    assert "needs secret_env" in found["notifications.destinations[1].secret_env"]


def test_names_are_unique_and_required_keys_are_named():
    found = problems({"notifications": {"destinations": [dest(), dest(kind="teams")]}})
    assert found == {
        "notifications.destinations[1].name": "'ops' (a name no other destination has)"
    }
    found = problems({"notifications": {"destinations": [{"kind": "slack"}]}})
    assert "notifications.destinations[0]" in found
    assert "`name`, `kind` and `url_env`" in found["notifications.destinations[0]"]


def test_a_url_or_a_key_in_the_file_is_refused_and_never_shown():
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
    found = problems(
        {
            "notifications": {
                "destinations": [
                    dest(url=url),
                    dest(name="h", kind="webhook", secret_env="K", secret="hmac-key-in-file"),
                ]
            }
        }
    )
    assert "url_env" in found["notifications.destinations[0].url"]
    assert "secret_env" in found["notifications.destinations[1].secret"]
    shown = " ".join(found.values())
    assert "XXXXSECRETXXXX" not in shown and "hmac-key-in-file" not in shown


def test_slack_and_teams_take_no_key():
    found = problems({"notifications": {"destinations": [dest(secret_env="KEY")]}})
    assert list(found) == ["notifications.destinations[0].secret_env"]


def test_usable_destinations_and_why_not():
    section = settings.NotificationSettings(
        destinations=(
            settings.NotificationDestination(**dest()),
            settings.NotificationDestination(
                **dest(name="siem", kind="webhook", url_env="SIEM_URL", secret_env="SIEM_KEY")
            ),
            settings.NotificationDestination(**dest(name="t", kind="teams", url_env="T_URL")),
        )
    )
    env = {"OPS_SLACK_URL": "https://hooks.slack.com/x", "SIEM_URL": "https://siem/in"}
    env["SIEM_KEY"] = "short"
    env["T_URL"] = "file:///etc/passwd"
    found, why = usable(section, env)
    assert [d.name for d in found] == ["ops"]
    assert [(p.key, p.variable) for p in why] == [
        ("notifications.destinations[1].secret_env", "SIEM_KEY"),
        ("notifications.destinations[2].url_env", "T_URL"),
    ]
    assert "https://" not in repr(found[0])  # the URL is never in a repr
    joined = " ".join(p.text for p in why)
    assert "file:///etc/passwd" not in joined and "short" not in joined.replace("fewer", "")


def test_the_worker_builds_no_notifier_without_a_usable_destination():
    conf = settings.from_mapping(
        {"notifications": {"destinations": [dest()]}}, source="test", base=Path(".")
    )
    assert Notifier.from_settings(conf, Metrics(), environ={}) is None
    built = Notifier.from_settings(
        conf, Metrics(), environ={"OPS_SLACK_URL": "https://hooks.slack.com/x"}
    )
    assert built is not None and [d.name for d in built.destinations] == ["ops"]


def check_config(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakglass", "config", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **env},
    )


def test_config_check_says_which_variable_is_not_set(tmp_path):
    path = tmp_path / "breakglass.yaml"
    path.write_text(
        "notifications:\n"
        "  destinations:\n"
        "    - {name: ops, kind: slack, url_env: OPS_SLACK_URL}\n"
        "    - {name: siem, kind: webhook, url_env: SIEM_URL, secret_env: SIEM_KEY}\n"
    )
    out = check_config(path, BREAKGLASS_AUDIT_TOKEN="t", SIEM_URL="https://siem.example/in")
    assert out.returncode == 0, out.stdout + out.stderr
    notes = [line for line in out.stderr.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: notifications.destinations[0].url_env: environment variable OPS_SLACK_URL is "
        "not set: destination 'ops' (slack) sends nothing until it holds the URL",
        "note: notifications.destinations[1].secret_env: environment variable SIEM_KEY is not "
        "set: destination 'siem' sends nothing unsigned, so nothing until it holds a key of at "
        "least 16 bytes",
    ]
    ready = check_config(
        path,
        BREAKGLASS_AUDIT_TOKEN="t",
        OPS_SLACK_URL="https://hooks.slack.com/services/T/B/X",
        SIEM_URL="https://siem.example/in",
        SIEM_KEY="k" * 32,
    )
    assert ready.returncode == 0 and "note:" not in ready.stderr
    assert "hooks.slack.com" not in ready.stdout + ready.stderr

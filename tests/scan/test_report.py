"""What a scan's report says and records: hidden values, links, exit codes, the capture."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from breakglass import model, prtext, settings
from breakglass.scan import fields, output
from breakglass.scan.managers import Role
from breakglass.scan.run import Field, ObjectDrift, Report, to_capture
from breakglass.worker import inputs

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 9, 1, 3, 4, 5, tzinfo=UTC)


def finding(
    path: fields.FieldPath,
    git: object,
    live: object,
    kind: str = "changed",
    manager: str = "kubectl-edit",
) -> fields.Finding:
    return fields.Finding(path, kind, git, live, manager, Role.HUMAN, SINCE)


def drift(kind: str = "ConfigMap", *found: fields.Finding, user: str | None = None) -> ObjectDrift:
    ref = model.ObjectRef("", "v1", kind.lower() + "s", kind, "shop", "settings")
    return ObjectDrift(
        ref,
        "Argo CD application shop",
        "https://git.example/shop.git",
        [Field(f, user=user) for f in found],
        hints={"app": "shop"},
    )


def report(*items: ObjectDrift, problems: tuple[str, ...] = ()) -> Report:
    out = Report(
        started=NOW,
        cluster="prod",
        sources=["Argo CD application shop"],
        kinds=["ConfigMap"],
        objects=10,
        list_requests=3,
    )
    out.drift.extend(items)
    out.problems.extend(problems)
    return out


def test_exit_codes_say_no_drift_drift_or_an_incomplete_scan() -> None:
    assert report().exit_code() == 0
    changed = drift("ConfigMap", finding(("data", "LOG_LEVEL"), "info", "debug"))
    assert report(changed).exit_code() == 1
    assert report(changed, problems=("cannot fetch repo",)).exit_code() == 2


def test_secret_values_and_redacted_values_are_never_shown() -> None:
    secret = drift("Secret", finding(("data", "token"), "<redacted:aaaa>", "<redacted:bbbb>"))
    looks = drift("ConfigMap", finding(("data", "API_TOKEN"), "<redacted:cc>", "<redacted:dd>"))
    for text in (
        output.table(report(secret, looks)),
        output.markdown(report(secret, looks)),
        json.dumps(output.to_json(report(secret, looks))),
    ):
        assert "redacted:" not in text
    assert "changed" in output.table(report(secret))
    entry = output.to_json(report(secret))["drift"][0]["fields"][0]
    assert entry["hidden"] is True and entry["git"] is None and entry["live"] is None


def test_markdown_escapes_values_from_the_cluster() -> None:
    evil = drift("ConfigMap", finding(("data", "X"), "a", "| <script> **b**"))
    text = output.markdown(report(evil))
    assert "<script>" not in text.replace("\\<script\\>", "")
    assert "\\*\\*b\\*\\*" in text or "\\*" in text


def test_a_linked_capture_is_shown_instead_of_new_drift() -> None:
    item = drift("ConfigMap", finding(("data", "LOG_LEVEL"), "info", "debug"))
    capture = to_capture(item, item.fields, cluster="prod", now=NOW)
    item.fields[0].linked = model.Capture(
        **{**capture.__dict__, "pr_url": "https://pr/7", "source": model.Source.ADMISSION}
    )
    assert output.status(item, item.fields[0]) == "https://pr/7"
    assert item.new_fields() == []
    assert report(item).uncaptured() == 0


def test_the_capture_is_the_same_for_the_same_drift_and_writes_gits_and_the_live_values() -> None:
    item = drift(
        "ConfigMap",
        finding(("data", "LOG_LEVEL"), "info", "debug"),
        finding(
            ("metadata", "labels", "team"), fields.MISSING, "payments", "added", "kubectl-label"
        ),
    )
    first = to_capture(item, item.fields, cluster="prod", now=NOW)
    again = to_capture(item, item.fields, cluster="prod", now=NOW)
    assert first.request_uid == again.request_uid and first.id != again.id
    assert first.source is model.Source.SCAN and first.status is model.Status.PROVISIONAL
    assert first.delta.before["data"] == {"LOG_LEVEL": "info"}
    assert first.delta.after["data"] == {"LOG_LEVEL": "debug"}
    assert first.delta.after["metadata"]["labels"] == {"team": "payments"}
    assert (
        "labels" not in first.delta.before["metadata"]
        or not first.delta.before["metadata"]["labels"]
    )
    assert first.actor.username == model.UNKNOWN_USER
    assert first.actor.field_manager == "kubectl-edit, kubectl-label"
    assert first.since == SINCE
    other = drift("ConfigMap", finding(("data", "LOG_LEVEL"), "info", "trace"))
    assert to_capture(other, other.fields, cluster="prod", now=NOW).request_uid != first.request_uid


def test_the_pull_request_says_found_by_scan_and_since_when() -> None:
    item = drift("ConfigMap", finding(("data", "LOG_LEVEL"), "info", "debug"))
    unknown = to_capture(item, item.fields, cluster="prod", now=NOW)
    assert prtext.title(unknown) == (
        "breakglass: configmap shop/settings drift found by scan, made by an unknown user"
    )
    body = prtext.body(
        [unknown],
        cluster="prod",
        source=prtext.Source("r", "main", "p", "o"),
        diff="",
        notes=(),
        chain_head=None,
        now=NOW,
    )
    assert "made by an unknown user at least since 2026-09-01 03:04:05 UTC" in body
    assert "97 days" in body
    assert "field managers kubectl-edit" in body
    named = drift("ConfigMap", finding(("data", "LOG_LEVEL"), "info", "debug"), user="alice")
    assert "made by alice" in prtext.title(to_capture(named, named.fields, cluster="p", now=NOW))


def test_unknown_authors_are_assigned_by_scan_owners() -> None:
    conf = settings.from_mapping(
        {
            "scan": {
                "owners": [
                    {"namespaces": ["shop*"], "users": ["carol"]},
                    {"apps": ["billing"], "users": ["dave"]},
                ]
            },
            "users": {"carol": {"email": "c@example.com", "github": "carol-gh"}},
        },
        source="test",
        base=Path("/tmp"),
    )
    item = drift("ConfigMap", finding(("data", "LOG_LEVEL"), "info", "debug"))
    capture = to_capture(item, item.fields, cluster="prod", now=NOW)
    forge = conf.forge("local")
    assert forge is not None
    assert inputs.owners_for(conf, capture) == ["carol"]
    github = forge.model_copy(update={"kind": "github"})
    assert inputs.assignees(conf, [capture], github) == (["carol-gh"], [])
    billing = model.Capture(
        **{
            **capture.__dict__,
            "object": model.ObjectRef("", "v1", "configmaps", "ConfigMap", "ops", "x"),
            "labels": {"argocd.argoproj.io/tracking-id": "billing:/ConfigMap:ops/x"},
        }
    )
    assert inputs.owners_for(conf, billing) == ["dave"]

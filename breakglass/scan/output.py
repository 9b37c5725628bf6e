"""How a scan's report reads: a table for a terminal, Markdown for a PR or a wiki, JSON for tools.

Pure text from a ``run.Report``.  A Secret's values, and any value the redactor replaced
(secret-looking keys), are never shown: only the key and the word ``changed`` (or ``set`` when
Git never had it).  Values from the cluster are Markdown-escaped where Markdown is written.
"""

from __future__ import annotations

import json
from typing import Any

from breakglass import model, prtext
from breakglass.capture.redact import contains_marker
from breakglass.scan import fields
from breakglass.scan.run import Field, ObjectDrift, Report

JSON = Any
_MAX_VALUE = 60


def hidden(drift: ObjectDrift, item: Field) -> bool:
    """Whether a field's values must not be shown (a Secret's, or a redacted one)."""
    found = item.finding
    if drift.ref.kind == "Secret" and (not found.path or found.path[0] in ("data", "stringData")):
        return True
    return any(
        contains_marker([v]) if not isinstance(v, dict | list) else "<redacted:" in json.dumps(v)
        for v in (found.git, found.live)
        if v is not fields.MISSING
    )


def shown(value: JSON, *, secret: bool, side: str) -> str:
    """One side's value as a cell: ``-`` when absent, ``changed``/``set`` when secret."""
    if value is fields.MISSING:
        return "-"
    if secret:
        return "set" if side == "git" else "changed"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def where(ref: model.ObjectRef) -> str:
    return f"{ref.kind}/{ref.namespace + '/' if ref.namespace else ''}{ref.name}"


def since(value: Any) -> str:
    return model.format_time(value)[:19] + "Z" if value is not None else "unknown"


def status(drift: ObjectDrift, item: Field) -> str:
    """What is already known of this drift: the capture or PR covering it, or what was recorded."""
    if item.linked is not None:
        capture = item.linked
        return (
            capture.pr_url
            or f"{capture.source.value} capture {capture.id} ({capture.status.value})"
        )
    if drift.recorded is not None:
        return f"recorded {drift.recorded}"
    return "new"


def _rows(report: Report) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for drift in report.drift:
        for item in drift.fields:
            secret = hidden(drift, item)
            found = item.finding
            rows.append(
                (
                    where(drift.ref),
                    "(created by hand)" if drift.created_by_hand else found.describe(),
                    found.kind,
                    "-" if drift.created_by_hand else shown(found.git, secret=secret, side="git"),
                    "-" if drift.created_by_hand else shown(found.live, secret=secret, side="live"),
                    found.manager or "unknown",
                    since(found.since),
                    item.user or "unknown",
                    status(drift, item),
                )
            )
    return rows


HEADER = ("OBJECT", "FIELD", "DRIFT", "GIT", "LIVE", "MANAGER", "SINCE AT LEAST", "WHO", "STATUS")


def table(report: Report) -> str:
    lines = [summary(report)]
    rows = _rows(report)
    if rows:
        widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
        lines.append("")
        lines.extend(
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [HEADER, *rows]
        )
    lines.extend(_notes(report))
    return "\n".join(lines)


def markdown(report: Report) -> str:
    lines = [f"## Drift in cluster `{report.cluster}`", "", summary(report), ""]
    rows = _rows(report)
    if rows:
        lines.append("| " + " | ".join(h.title() for h in HEADER) + " |")
        lines.append("|" + "---|" * len(HEADER))
        for row in rows:
            cells = [
                prtext.md(c, limit=400) if i != 1 else prtext.code(c, limit=400)
                for i, c in enumerate(row)
            ]
            lines.append("| " + " | ".join(cells) + " |")
    notes = _notes(report)
    if notes:
        lines.extend(
            [
                "",
                *[f"- {prtext.md(n.strip(), limit=600)}" for n in notes if n.strip()],
            ]
        )
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> dict[str, JSON]:
    drift = []
    for item in report.drift:
        entries = []
        for f in item.fields:
            secret = hidden(item, f)
            found = f.finding
            entries.append(
                {
                    "field": found.describe(),
                    "drift": found.kind,
                    "git": None if found.git is fields.MISSING or secret else found.git,
                    "live": None if found.live is fields.MISSING or secret else found.live,
                    "hidden": secret,
                    "manager": found.manager,
                    "manager_role": found.role.value if found.role is not None else None,
                    "since_at_least": model.format_time(found.since) if found.since else None,
                    "user": f.user,
                    "capture": f.linked.id if f.linked is not None else None,
                    "capture_source": f.linked.source.value if f.linked is not None else None,
                    "pull_request": f.linked.pr_url if f.linked is not None else None,
                }
            )
        drift.append(
            {
                "object": item.ref.to_json(),
                "source": item.source,
                "repository": item.repo,
                "created_by_hand": item.created_by_hand,
                "recorded": item.recorded,
                "fields": entries,
            }
        )
    return {
        "cluster": report.cluster,
        "started": model.format_time(report.started),
        "seconds": round(report.seconds, 3),
        "sources": report.sources,
        "kinds": report.kinds,
        "objects": report.objects,
        "list_requests": report.list_requests,
        "phases": {k: round(v, 3) for k, v in report.phases.items()},
        "drifted_objects": len(report.drift),
        "uncaptured_fields": report.uncaptured(),
        "recorded": report.recorded,
        "already_recorded": report.already_recorded,
        "attributed_from": list(report.attributed_from),
        "problems": report.problems,
        "warnings": report.warnings,
        "drift": drift,
        "exit_code": report.exit_code(),
    }


def summary(report: Report) -> str:
    count = sum(len(d.fields) for d in report.drift)
    hand = sum(1 for d in report.drift if d.created_by_hand)
    text = (
        f"scanned {_n(report.objects, 'object')} of {_n(len(report.kinds), 'kind')} from "
        f"{_n(len(report.sources), 'source')} in {report.seconds:.1f} s: "
    )
    if not report.drift:
        text += "no drift"
    else:
        text += f"{_n(count - hand, 'drifted field')} on {_n(len(report.drift) - hand, 'object')}"
        if hand:
            text += f", {_n(hand, 'object')} created by hand"
    if report.recorded or report.already_recorded:
        text += f"; recorded {_n(report.recorded, 'capture')} for backfill" + (
            f" ({report.already_recorded} already recorded)" if report.already_recorded else ""
        )
    return text


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _notes(report: Report) -> list[str]:
    out: list[str] = []
    if report.drift and not report.attributed_from:
        out.append("\nwho: unknown without --audit-log (the API server's audit log files)")
    for problem in report.problems:
        out.append(f"error: {problem}")
    for warning in report.warnings:
        out.append(f"warning: {warning}")
    return out

"""A ``PeriodReport`` as Markdown, JSON and one self-contained HTML file.

Everything that came from the cluster or a person (object names, usernames, reasons, URLs) is
escaped for where it goes: Markdown specials in Markdown, HTML entities in HTML.  The HTML file
has its CSS inline and its charts as inline SVG: no script, no font, no image from elsewhere,
so it opens from a mail attachment or a wiki upload as it is.
"""

from __future__ import annotations

import html
from typing import Any

from breakglass import driftstats, model, prtext
from breakglass.report.build import Item, PeriodReport, human_duration

JSON = Any
_COLORS = {"admission": "#2f6fb3", "audit": "#7a4fb3", "scan": "#d9822b"}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def summary_lines(report: PeriodReport) -> list[tuple[str, str]]:
    """The seed's questions and their answers for the period, as (question, answer)."""
    stats = report.stats
    durations = report.durations()
    sources = ", ".join(f"{stats.changes.get(s, 0)} {s}" for s in driftstats.SOURCES)
    reverted = stats.resolved.get("reverted", 0)
    open_now = report.open_now
    open_count = sum(open_now.open.values()) if open_now is not None else 0
    oldest = open_now.oldest_open_seconds if open_now is not None and open_count else None
    return [
        (
            "Resources drifted",
            f"{report.objects_drifted} ({stats.total_changes} manual changes: {sources})",
        ),
        (
            "Time to detection (median / p90)",
            f"{human_duration(durations['detection']['median'])} / "
            f"{human_duration(durations['detection']['p90'])}",
        ),
        (
            "Time to a pull request (median / p90)",
            f"{human_duration(durations['pull_request']['median'])} / "
            f"{human_duration(durations['pull_request']['p90'])}",
        ),
        (
            "Time to Git, merged (median / p90)",
            f"{human_duration(durations['merge']['median'])} / "
            f"{human_duration(durations['merge']['p90'])}",
        ),
        ("Backfilled (merged of resolved)", _pct(stats.backfilled_share())),
        ("Reverted by the GitOps controllers", str(reverted)),
        ("Captured by the webhooks (not found only by a scan)", _pct(stats.coverage())),
        (
            "Attributed to a named person",
            _pct(
                sum(stats.attributed.values()) / stats.total_changes
                if stats.total_changes
                else None
            ),
        ),
        ("Open drift now (oldest)", f"{open_count} ({human_duration(oldest)})"),
        ("Needs a human now", str(len(report.needs_human))),
    ]


def _period(report: PeriodReport) -> str:
    return f"{model.format_time(report.start)[:16]}Z to {model.format_time(report.end)[:16]}Z"


# -- Markdown ---------------------------------------------------------------------------------


def markdown(report: PeriodReport) -> str:
    md = prtext.md
    lines = [
        f"## Manual changes in {md(report.cluster)}: {_period(report)}",
        "",
        "| Question | Answer |",
        "|---|---|",
        *(f"| {q} | {md(a)} |" for q, a in summary_lines(report)),
        "",
    ]
    for title, _, header, rows in _item_tables(report):
        lines += _md_table(title, header, rows)
    for name, counts in (
        ("Busiest namespaces", report.namespaces),
        ("Busiest applications", report.applications),
        ("Busiest people", report.people),
    ):
        lines += _md_table(name, ("Name", "Changes"), [(n, str(c)) for n, c in counts])
    return "\n".join(lines).rstrip() + "\n"


Table = tuple[str, str, tuple[str, ...], list[tuple[str, ...]]]


def _item_tables(report: PeriodReport) -> list[Table]:
    """The drift debt, what needs a human and what the controllers reverted, as (title, id,
    header, rows): the same tables in Markdown and in HTML."""
    return [
        (
            "Drift debt: open pull requests, oldest first",
            "debt",
            ("Object", "Age", "Made by", "Assigned", "Pull request"),
            [
                (
                    i.object,
                    human_duration(i.age_seconds),
                    ", ".join(i.people),
                    ", ".join(i.assignees) or "-",
                    i.url or "-",
                )
                for i in report.debt
            ],
        ),
        (
            "Needs a human",
            "needs-human",
            ("Object", "Age", "Why", "Issue"),
            [
                (i.object, human_duration(i.age_seconds), i.reason or "-", i.url or "-")
                for i in report.needs_human
            ],
        ),
        (
            "Reverted by the GitOps controllers",
            "reverted",
            ("Object", "Made by", "Pull request"),
            [(i.object, ", ".join(i.people), i.url or "-") for i in report.reverted],
        ),
        (
            "Break-glass sessions",
            "sessions",
            ("Session", "Opened by", "Why", "Open", "Changes", "Pull requests"),
            [
                (
                    s.name,
                    s.owner + (f" (with {', '.join(s.members)})" if s.members else ""),
                    s.reason,
                    f"{s.opened_at:%Y-%m-%d %H:%M} for "
                    + human_duration((s.ended_at - s.opened_at).total_seconds()),
                    str(s.changes),
                    ", ".join(s.pull_requests) or "-",
                )
                for s in report.sessions
            ],
        ),
        (
            "GitOps drills: does each application revert a manual change?",
            "drills",
            (
                "Application",
                "Posture",
                "Expected",
                "Measured",
                "Reverted",
                "Survived",
                "Drill says",
            ),
            [
                (
                    d.application,
                    d.verdict,
                    human_duration(d.expected_seconds) if d.expected_seconds else "-",
                    human_duration(d.median_seconds) if d.median_seconds is not None else "-",
                    str(d.reverted),
                    str(d.survived),
                    d.verdict_of_drill,
                )
                for d in report.drills
            ],
        ),
        (
            "OpenTofu/Terraform drift (found by plan -refresh-only)",
            "terraform",
            ("Root", "Resource", "Attributes", "Outcome", "Age", "Made by", "Link"),
            [
                (
                    t.root,
                    t.address,
                    ", ".join(t.attributes),
                    ("resolved: " if t.resolved else "") + t.outcome.replace("_", " "),
                    human_duration(t.age_seconds),
                    t.author or "unknown",
                    t.url or "-",
                )
                for t in report.terraform
            ],
        ),
    ]


def _md_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    out = [f"### {title}", ""]
    if not rows:
        return [*out, "None.", ""]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    out.extend("| " + " | ".join(prtext.md(c, limit=300) for c in row) + " |" for row in rows)
    return [*out, ""]


# -- JSON -------------------------------------------------------------------------------------


def to_json(report: PeriodReport) -> dict[str, JSON]:
    stats = report.stats

    def rows(items: list[Item]) -> list[dict[str, JSON]]:
        return [
            {
                "object": i.object,
                "namespace": i.namespace,
                "state": i.state,
                "age_seconds": round(i.age_seconds, 1),
                "people": list(i.people),
                "assignees": list(i.assignees),
                "url": i.url,
                "reason": i.reason,
            }
            for i in items
        ]

    return {
        "cluster": report.cluster,
        "start": model.format_time(report.start),
        "end": model.format_time(report.end),
        "resources_drifted": report.objects_drifted,
        "manual_changes": dict(stats.changes),
        "attributed": dict(stats.attributed),
        "resolved": dict(stats.resolved),
        "backfilled_share": stats.backfilled_share(),
        "webhook_coverage": stats.coverage(),
        "durations_seconds": report.durations(),
        "open_now": {
            "count": sum(report.open_now.open.values()) if report.open_now else 0,
            "oldest_seconds": report.open_now.oldest_open_seconds if report.open_now else 0,
        },
        "by_day": [{"day": d, **counts} for d, counts in report.by_day],
        "busiest": {
            "namespaces": report.namespaces,
            "applications": report.applications,
            "people": report.people,
        },
        "drift_debt": rows(report.debt),
        "needs_human": rows(report.needs_human),
        "reverted": rows(report.reverted),
        "drills": [vars(d) for d in report.drills],
        "sessions": [
            {
                "name": s.name,
                "owner": s.owner,
                "reason": s.reason,
                "opened_at": model.format_time(s.opened_at),
                "ended_at": model.format_time(s.ended_at),
                "members": list(s.members),
                "changes": s.changes,
                "pull_requests": list(s.pull_requests),
            }
            for s in report.sessions
        ],
        "terraform": [
            {
                "root": t.root,
                "address": t.address,
                "attributes": list(t.attributes),
                "outcome": t.outcome,
                "age_seconds": round(t.age_seconds, 1),
                "resolved": t.resolved,
                "author": t.author,
                "url": t.url,
                "reason": t.reason,
            }
            for t in report.terraform
        ],
    }


# -- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:72em;color:#1d2330;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #d8dde6}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #eceff4;vertical-align:top}
th{background:#f4f6fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:2em}.chart{flex:1 1 20em}
.legend span{display:inline-block;margin-right:1em}.sw{display:inline-block;width:.8em;
height:.8em;margin-right:.3em;vertical-align:middle}
.muted{color:#6b7385}
"""


def html_page(report: PeriodReport) -> str:
    e = html.escape
    answers = "".join(f"<tr><th>{e(q)}</th><td>{e(a)}</td></tr>" for q, a in summary_lines(report))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>breakglass report: {e(report.cluster)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Manual changes in {e(report.cluster)}</h1>",
        f'<p class="muted">{e(_period(report))}</p>',
        f'<table id="summary">{answers}</table>',
        '<div class="charts">',
        f'<div class="chart"><h2>Manual changes per day</h2>{_day_chart(report)}</div>',
        f'<div class="chart"><h2>How drift ended</h2>{_bars(_outcomes(report), "outcomes")}</div>',
        f'<div class="chart"><h2>Busiest namespaces</h2>'
        f"{_bars(report.namespaces, 'namespaces')}</div>",
        "</div>",
        *(_html_table(*table) for table in _item_tables(report)),
        _html_table(
            "Busiest applications",
            "applications",
            ("Application", "Changes"),
            [(n, str(c)) for n, c in report.applications],
        ),
        _html_table(
            "Busiest people",
            "people",
            ("Person", "Changes"),
            [(n, str(c)) for n, c in report.people],
        ),
        '<p class="muted">Made by breakglass report from its journal.</p>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _outcomes(report: PeriodReport) -> list[tuple[str, int]]:
    return [(name, report.stats.resolved.get(name, 0)) for name in driftstats.OUTCOMES]


def _html_table(
    title: str, ident: str, header: tuple[str, ...], rows: list[tuple[str, ...]]
) -> str:
    e = html.escape
    if not rows:
        return f'<h2>{e(title)}</h2><p id="{ident}" class="muted">None.</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<h2>{e(title)}</h2><table id="{ident}"><tr>{head}</tr>{body}</table>'


def _bars(rows: list[tuple[str, int]], ident: str) -> str:
    """A horizontal bar chart as inline SVG."""
    e = html.escape
    if not rows:
        return f'<p class="muted" id="chart-{ident}">None.</p>'
    width, bar, gap, label_w = 420, 18, 6, 150
    top = max((c for _, c in rows), default=0) or 1
    height = len(rows) * (bar + gap) + gap
    items = []
    for n, (name, count) in enumerate(rows):
        y = gap + n * (bar + gap)
        length = (width - label_w - 40) * count / top
        items.append(
            f'<text x="{label_w - 6}" y="{y + bar - 5}" text-anchor="end" font-size="12">'
            f"{e(name[:24])}</text>"
            f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar}" fill="#2f6fb3">'
            f"<title>{e(name)}: {count}</title></rect>"
            f'<text x="{label_w + length + 4:.1f}" y="{y + bar - 5}" font-size="12">{count}</text>'
        )
    return (
        f'<svg id="chart-{ident}" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{e(ident)}</title>{"".join(items)}</svg>'
    )


def _day_chart(report: PeriodReport) -> str:
    """Changes per day, stacked by source, as inline SVG."""
    e = html.escape
    days = report.by_day
    width, height, pad = 420, 180, 24
    top = max((sum(c.values()) for _, c in days), default=0) or 1
    step = (width - 2 * pad) / max(len(days), 1)
    items = []
    for n, (day, counts) in enumerate(days):
        x = pad + n * step
        y = float(height - pad)
        for source in driftstats.SOURCES:
            count = counts.get(source, 0)
            if not count:
                continue
            h = (height - 2 * pad) * count / top
            y -= h
            items.append(
                f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{max(step - 4, 1):.1f}" '
                f'height="{h:.1f}" fill="{_COLORS[source]}"><title>{e(day)} {source}: {count}'
                "</title></rect>"
            )
        if len(days) <= 14 or n % max(len(days) // 7, 1) == 0:
            items.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                f'font-size="10">{e(day[5:])}</text>'
            )
    legend = "".join(
        f'<span><i class="sw" style="background:{_COLORS[s]}"></i>{s}</span>'
        for s in driftstats.SOURCES
    )
    return (
        f'<svg id="chart-days" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>manual changes per day</title>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#98a1b3"/>{"".join(items)}</svg><div class="legend">{legend}</div>'
    )

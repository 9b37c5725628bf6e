"""``posture``'s report as a table, Markdown and JSON (pure text)."""

from __future__ import annotations

from typing import Any

from breakglass import prtext
from breakglass.posture.classify import Posture
from breakglass.posture.run import Journaled, PostureReport, verdict_counts
from breakglass.report.build import human_duration

JSON = Any
HEADER = ("APPLICATION", "VERDICT", "REVERTS WITHIN", "CHANGES", "REVERTED", "IN GIT", "WHY")


def _rows(report: PostureReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for p in report.postures:
        seen = report.journal.get(p.key, Journaled())
        rows.append(
            (
                f"{p.tool} {p.kind} {p.namespace}/{p.name}",
                p.verdict.value,
                human_duration(p.expected_revert_seconds) if p.expected_revert_seconds else "-",
                str(seen.changes),
                str(seen.reverted),
                str(seen.in_git),
                p.why,
            )
        )
    return rows


def summary(report: PostureReport) -> str:
    counts = verdict_counts(report)
    parts = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no GitOps applications"
    days = report.since.total_seconds() / 86400
    spaces = len(report.unmanaged)
    return (
        f"{len(report.postures)} applications: {parts}; {spaces} "
        f"{'namespace' if spaces == 1 else 'namespaces'} with workloads no GitOps tool manages; "
        f"manual changes counted over the last {days:g} days"
    )


def table(report: PostureReport) -> str:
    rows = _rows(report)
    lines = [summary(report), ""]
    if rows:
        widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [HEADER, *rows]
        ]
    lines += _caveats(report.postures)
    if report.unmanaged:
        lines.append("")
        lines.append(
            "unmanaged: "
            + ", ".join(f"{ns} ({n} workloads)" for ns, n in sorted(report.unmanaged.items()))
        )
    lines += [f"error: {p}" for p in report.problems]
    return "\n".join(lines)


def _caveats(postures: list[Posture]) -> list[str]:
    out = []
    for p in postures:
        for caveat in p.caveats:
            out.append(f"  {p.tool} {p.namespace}/{p.name}: {caveat}")
    return ["", "caveats:", *out] if out else []


def markdown(report: PostureReport) -> str:
    md = prtext.md
    lines = ["## GitOps posture", "", md(summary(report), limit=400), ""]
    rows = _rows(report)
    if rows:
        lines.append("| " + " | ".join(h.title() for h in HEADER) + " |")
        lines.append("|" + "---|" * len(HEADER))
        lines += ["| " + " | ".join(md(c, limit=300) for c in r) + " |" for r in rows]
    caveats = [c.strip() for c in _caveats(report.postures)[2:]]
    if caveats:
        lines += ["", "**Caveats**", "", *(f"- {md(c, limit=400)}" for c in caveats)]
    if report.unmanaged:
        lines += ["", "**Namespaces with workloads no GitOps tool manages**", ""]
        lines += [f"- {md(ns)}: {n}" for ns, n in sorted(report.unmanaged.items())]
    return "\n".join(lines) + "\n"


def to_json(report: PostureReport) -> dict[str, JSON]:
    return {
        "applications": [
            {
                "tool": p.tool,
                "kind": p.kind,
                "namespace": p.namespace,
                "name": p.name,
                "verdict": p.verdict.value,
                "expected_revert_seconds": p.expected_revert_seconds,
                "why": p.why,
                "caveats": list(p.caveats),
                "settings": dict(p.settings),
                "destinations": list(p.destinations),
                "manual_changes": vars(report.journal.get(p.key, Journaled())),
            }
            for p in report.postures
        ],
        "application_sets": report.application_sets,
        "unmanaged_namespaces": dict(sorted(report.unmanaged.items())),
        "verdicts": dict(verdict_counts(report)),
        "period_days": report.since.total_seconds() / 86400,
        "problems": report.problems,
    }

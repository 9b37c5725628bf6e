"""A drill's plan and results as a table, Markdown or JSON (pure text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from breakglass import model, prtext
from breakglass.drill.plan import AppResult, Plan, agreement, by_application
from breakglass.report.build import human_duration

JSON = Any
PLAN_HEADER = ("APPLICATION", "POSTURE", "EXPECTED", "DEADLINE", "OBJECT", "CHANGE")
RESULT_HEADER = (
    "APPLICATION",
    "POSTURE",
    "EXPECTED",
    "MEASURED",
    "REVERTED",
    "SURVIVED",
    "DRILL SAYS",
)


def _seconds(value: float | None) -> str:
    return human_duration(value) if value is not None else "-"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def _probe_text(change: str, where: str, original: JSON, drilled: JSON) -> str:
    if original is None:
        return f"add {where}={drilled}"
    return f"{where}: {original} → {drilled}"


def plan_rows(plan: Plan) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for app in plan.apps:
        head = (
            app.posture.key,
            app.posture.verdict.value,
            _seconds(app.posture.expected_revert_seconds),
            _seconds(app.deadline_seconds),
        )
        if not app.targets:
            rows.append((*head, "-", f"nothing to drill: {app.empty_because}"))
        for target in app.targets:
            probe = target.probe
            rows.append(
                (
                    *head,
                    target.ref.describe(),
                    _probe_text(probe.change.value, probe.where, probe.original, probe.drilled),
                )
            )
            head = ("", "", "", "")
    return rows


def plan_table(plan: Plan, *, acting: bool) -> str:
    count = plan.targets
    apps = sum(1 for a in plan.apps if a.targets)
    lines = [
        f"drill {plan.drill_id}: {count} {'object' if count == 1 else 'objects'} in {apps} "
        f"{'application' if apps == 1 else 'applications'}, changed as {plan.user} "
        f"(field manager {plan.field_manager}), each restored by its deadline",
        "",
        *_grid(PLAN_HEADER, plan_rows(plan)),
    ]
    skipped = [(a.posture.key, what, why) for a in plan.apps for what, why in a.skipped]
    if skipped:
        lines += ["", "left alone:"]
        lines += [f"  {key}: {what}: {why}" for key, what, why in skipped]
    lines += [f"error: {p}" for p in plan.problems]
    if not acting:
        lines += [
            "",
            "nothing changed: run again with --yes to drill. Each change is marked "
            "(label breakglass.dev/drill), never backfilled, and restored at its deadline or "
            "on Ctrl-C.",
        ]
    return "\n".join(lines)


def result_rows(results: Sequence[AppResult]) -> list[tuple[str, ...]]:
    return [
        (
            r.application,
            r.verdict,
            _seconds(r.expected_seconds),
            _seconds(r.median_seconds),
            str(r.reverted),
            str(r.survived),
            r.verdict_of_drill,
        )
        for r in results
    ]


def object_rows(records: Sequence[tuple[str, model.DrillRecord]]) -> list[tuple[str, ...]]:
    return [
        (
            r.application,
            what,
            r.outcome,
            _seconds(r.measured_seconds),
            "yes" if r.restored or r.outcome == "reverted" else "NO",
            agreement(r),
        )
        for what, r in records
    ]


def results_table(records: Sequence[tuple[str, model.DrillRecord]]) -> str:
    apps = by_application([r for _, r in records])
    lines = _grid(RESULT_HEADER, result_rows(apps))
    lines += [""]
    lines += _grid(
        ("APPLICATION", "OBJECT", "OUTCOME", "AFTER", "PUT BACK", "AGAINST POSTURE"),
        object_rows(records),
    )
    return "\n".join(lines)


def results_markdown(records: Sequence[tuple[str, model.DrillRecord]]) -> str:
    md = prtext.md
    apps = by_application([r for _, r in records])
    lines = ["## GitOps drill", ""]
    lines.append("| " + " | ".join(h.title() for h in RESULT_HEADER) + " |")
    lines.append("|" + "---|" * len(RESULT_HEADER))
    lines += ["| " + " | ".join(md(c, limit=200) for c in row) + " |" for row in result_rows(apps)]
    lines += [
        "",
        "| Application | Object | Outcome | After | Against posture |",
        "|---|---|---|---|---|",
    ]
    lines += [
        "| " + " | ".join(md(c, limit=200) for c in (r[0], r[1], r[2], r[3], r[5])) + " |"
        for r in object_rows(records)
    ]
    return "\n".join(lines) + "\n"


def to_json(plan: Plan, records: Sequence[tuple[str, model.DrillRecord]] | None) -> dict[str, JSON]:
    out: dict[str, JSON] = {
        "drill_id": plan.drill_id,
        "user": plan.user,
        "change": plan.change.value,
        "field_manager": plan.field_manager,
        "applications": [
            {
                "application": a.posture.key,
                "verdict": a.posture.verdict.value,
                "expected_revert_seconds": a.posture.expected_revert_seconds,
                "deadline_seconds": a.deadline_seconds,
                "objects": [
                    {
                        "object": t.ref.describe(),
                        "field": t.probe.where,
                        "original": t.probe.original,
                        "drilled": t.probe.drilled,
                    }
                    for t in a.targets
                ],
                "left_alone": [{"object": w, "why": y} for w, y in a.skipped],
                "empty_because": a.empty_because or None,
            }
            for a in plan.apps
        ],
        "problems": plan.problems,
    }
    if records is not None:
        out["results"] = [
            {"object": what, **r.to_json(), "against_posture": agreement(r)} for what, r in records
        ]
        out["summary"] = [vars(a) for a in by_application([r for _, r in records])]
    return out

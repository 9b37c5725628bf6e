"""Stage 4 of a pass, when due: a scan for drift that bypassed the webhooks (``scan.interval``).

A change made while breakglass was down, or that the webhook let through when it timed out,
never becomes a capture; the scan finds it in the cluster and records it with source ``scan``,
so the next pass confirms it and opens the same pull request.  It runs in the worker (one
leader, its fenced journal writes, its audit chain), at most once per ``scan.interval``; what
it records is counted as drift the webhooks never captured (their coverage).
"""

from __future__ import annotations

from breakglass import logs
from breakglass.scan.run import Scanner
from breakglass.worker.context import Context, LostLeadership, PassSummary, ago

log = logs.get(__name__)


async def scan_if_due(ctx: Context, summary: PassSummary) -> None:
    interval = ctx.settings.scan.interval
    if interval is None or ctx.cluster is None or ctx.redactor is None:
        return
    now = ctx.clock()
    if ago(ctx.last_scan, now) < interval:
        return
    lister = ctx.cluster
    if not hasattr(lister, "list_page") or not hasattr(lister, "resources"):
        log.warning("scan_skipped", reason="this cluster reader cannot list objects")
        return
    ctx.last_scan = now
    await ctx.fence()
    scanner = Scanner(
        settings=ctx.settings,
        lister=lister,  # type: ignore[arg-type]
        cluster=ctx.cluster,
        redactor=ctx.redactor,
        mirrors=ctx.mirrors,
        git=ctx.git,
        journal=ctx.journal,
        audit_log=ctx.audit_log,
        metrics=ctx.metrics,
        clock=ctx.clock,
    )
    try:
        report = await scanner.run(backfill=True)
    except LostLeadership:
        raise
    except Exception as exc:  # a scan that fails must not stop the backfill passes
        ctx.metrics.worker_errors.labels("scan").inc()
        log.exception("scan_failed", error=type(exc).__name__)
        return
    summary.found_by_scan += report.recorded
    for problem in report.problems:
        log.warning("scan_problem", problem=problem)

"""The worker's OpenTofu/Terraform scan, every ``terraform.interval``, beside the passes.

A root's ``init`` and plans can take minutes, far longer than a backfill pass may wait, so
the scan runs as one background task of the leading worker: a pass starts it when it is due
and none is running, later passes go on with captures meanwhile, and the next pass logs how
it ended.  It writes through the worker's journal and audit chain like any stage, each write
fenced with the leadership term the scan began in (a replica that lost the lead stops before
its next write); at shutdown the task is cancelled, which stops the running ``tofu`` (its
process group) at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from breakglass import logs
from breakglass.terraform.scan import RootReport, TerraformScanner
from breakglass.worker.context import Context, LostLeadership, PassSummary, ago

log = logs.get(__name__)


def _fence_in(ctx: Context, term: int | None) -> Callable[[], Awaitable[None]]:
    """The task's leadership check: the term the scan started in, not the loop's current one
    (which a pass sets to 0 once this process stands by)."""

    async def fence() -> None:
        if term is None:
            return
        now = await ctx.journal.leadership()
        if now != term:
            raise LostLeadership(
                f"the Terraform scan began in term {term}; this process now "
                + (f"leads in term {now}" if now else "does not lead")
            )

    return fence


def _finished(ctx: Context, task: asyncio.Task[Sequence[RootReport]]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        ctx.metrics.worker_errors.labels("terraform").inc()
        log.error("terraform_scan_failed", error=type(error).__name__, detail=str(error)[:500])
        return
    for report in task.result():
        log.info(
            "terraform_scan",
            root=report.root,
            drifted=len(report.outcomes),
            pull_request=report.pull_request,
            error=report.error,
            seconds=round(report.seconds, 1),
        )


async def terraform_if_due(ctx: Context, summary: PassSummary) -> None:
    """Start the Terraform scan when ``terraform.interval`` has passed and none is running."""
    conf = ctx.settings.terraform
    if conf.interval is None or not conf.roots:
        return
    task = ctx.terraform_task
    if task is not None:
        if not task.done():
            return
        ctx.terraform_task = None
        _finished(ctx, task)
    now = ctx.clock()
    if ago(ctx.last_terraform, now) < conf.interval:
        return
    ctx.last_terraform = now
    await ctx.fence()
    scanner = TerraformScanner(
        settings=ctx.settings,
        mirrors=ctx.mirrors / "terraform",
        metrics=ctx.metrics,
        journal=ctx.journal,
        audit_log=ctx.audit_log,
        providers=ctx.provider,
        clock=ctx.clock,
        fence=_fence_in(ctx, ctx.term),
        stop_on=(LostLeadership,),
        announce=lambda drift, namespace: ctx.notify(
            lambda notices: notices.terraform_drift(drift, namespace=namespace)
        ),
    )
    ctx.terraform_task = asyncio.create_task(scanner.run(backfill=True))
    summary.terraform_scans += 1


async def finish(ctx: Context) -> None:
    """Wait for a running scan and log how it ended (``worker --once``)."""
    task = ctx.terraform_task
    if task is None:
        return
    ctx.terraform_task = None
    with contextlib.suppress(Exception):
        await task
    _finished(ctx, task)


async def stop_terraform(ctx: Context) -> None:
    """Cancel a running scan (shutdown): its ``tofu`` is stopped, nothing half-pushed."""
    task = ctx.terraform_task
    if task is None:
        return
    ctx.terraform_task = None
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):  # ending: nothing to log
        await task

"""Stage 3 of a pass: follow open pull requests until they are merged or closed.

Merged or closed on the forge → recorded on every capture of the pull request.  Still open,
but the live object is back at Git's value and no newer human edit explains it → the GitOps
controller reverted the fix: say so once in a comment and label the pull request (merging it
re-applies the fix).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from breakglass import delta as deltas
from breakglass import logs, model
from breakglass.auditlog import EventType
from breakglass.errors import BreakglassError, TemporaryError
from breakglass.forge import Provider, PullRequest
from breakglass.worker import locate
from breakglass.worker.context import Context, LostLeadership, PassSummary, ago
from breakglass.worker.inputs import object_key

log = logs.get(__name__)

SELF_HEALED_LABEL = "breakglass/reverted-by-sync"


async def track_pull_requests(ctx: Context, summary: PassSummary) -> None:
    by_pr: dict[str, list[model.Capture]] = defaultdict(list)
    for capture in await ctx.captures_in("pr_open"):
        if capture.pr_url:
            by_pr[capture.pr_url].append(capture)
    unfinished = await ctx.unfinished() if ctx.cluster is not None else {}
    for url, captures in by_pr.items():
        if ctx.stopping():
            return
        captures.sort(key=lambda c: c.id)  # oldest first: the self-heal check reads the last
        first = captures[0]
        try:
            target = await locate.locate(ctx, first)
            ctx.live_hints.pop(first.id, None)
            ctx.live_apps.pop(first.id, None)
            ctx.live_kustomizations.pop(first.id, None)
            if target is None:
                continue
            forge = locate.forge_for(ctx.settings, target)
            provider = ctx.provider(forge, target.url)
            pr = await provider.find_by_branch(
                first.branch or locate.branch_for(ctx.settings, first.object)
            )
            if pr is None or pr.url != url:
                continue
            pr = await provider.refresh(pr)
            if pr.state == "open":
                await _check_self_heal(ctx, provider, pr, captures, unfinished)
                continue
            status = model.Status.MERGED if pr.state == "merged" else model.Status.CLOSED
            event = EventType.PR_MERGED if pr.state == "merged" else EventType.PR_CLOSED
            # a group's pull request: what production holds is said per object
            leftover: dict[tuple[str, str, str, str], str] = {}
            if status is model.Status.CLOSED:
                for key, mine in _per_object(captures).items():
                    leftover[key] = await _production_now(ctx, mine[-1])
            now = ctx.clock()
            for capture in captures:
                reason = f"pull request {pr.state}" + leftover.get(object_key(capture.object), "")
                saved = await ctx.save(capture, status=status, reason=reason)
                await ctx.record(saved, event)
                if status is model.Status.MERGED:
                    ctx.metrics.time_to_merge.observe(ago(capture.received_at, now))
                    summary.merged += 1
                else:
                    summary.closed += 1
        except LostLeadership:
            raise
        except TemporaryError as exc:
            log.warning("pr_poll_retry", url=url, error=str(exc))
        except BreakglassError as exc:
            log.error("pr_poll_failed", url=url, error=str(exc))
        except Exception as exc:  # a bug: say so loudly, and go on with the next PR
            ctx.metrics.worker_errors.labels("track").inc()
            log.exception("pr_poll_crashed", url=url, error=type(exc).__name__)


def _per_object(
    captures: list[model.Capture],
) -> dict[tuple[str, str, str, str], list[model.Capture]]:
    out: dict[tuple[str, str, str, str], list[model.Capture]] = defaultdict(list)
    for capture in captures:
        out[object_key(capture.object)].append(capture)
    return out


async def _production_now(ctx: Context, last: model.Capture) -> str:
    """What a closed, unmerged pull request leaves behind: production back at Git's value, or
    still holding the manual change Git never got (drift that nothing will backfill now)."""
    if ctx.cluster is None or last.operation is not model.Operation.UPDATE:
        return ""
    stripped = await ctx.comparable(last.object)
    if stripped is None:
        return "; the object no longer exists"
    before, after = last.delta.before or {}, last.delta.after or {}
    if deltas.holds(stripped, before, after):
        return "; production still has the manual change, which Git does not: it differs from Git"
    if deltas.holds(stripped, after, before):
        return "; production is back at Git's value"
    return "; production has changed again since"


async def _check_self_heal(
    ctx: Context,
    provider: Provider,
    pr: PullRequest,
    captures: list[model.Capture],
    unfinished: Mapping[tuple[str, str, str, str], str],
) -> None:
    """The live object is back at Git's value and no human edit did it: a sync reverted
    the fix.  Keep the PR (merging re-applies the fix), say so once, and label it."""
    if ctx.cluster is None or SELF_HEALED_LABEL in pr.labels:
        return
    for mine in _per_object(captures).values():
        if await _reverted_by_sync(ctx, mine[-1], unfinished):
            last = mine[-1]
            break
    else:
        return
    when = model.format_time(ctx.clock())[:19].replace("T", " ") + " UTC"
    several = len({object_key(c.object) for c in captures}) > 1
    what = f"The live {last.object.describe()}" if several else "The live object"
    await ctx.fence()
    await provider.comment(
        pr,
        f"{what} went back to Git's value at {when} without a manual edit: the "
        "GitOps controller reverted the emergency fix. Merging this pull request re-applies "
        "it.",
    )
    await provider.add_labels(pr, [SELF_HEALED_LABEL])
    log.warning("self_heal_detected", url=pr.url, capture_id=last.id)
    ctx.notify(lambda notices: notices.reverted_by_sync(last, pr.url))


async def _reverted_by_sync(
    ctx: Context, last: model.Capture, unfinished: Mapping[tuple[str, str, str, str], str]
) -> bool:
    """Whether the object is back at Git's value and no later human edit did it."""
    if last.operation is not model.Operation.UPDATE:
        return False
    if unfinished.get(object_key(last.object), "") > last.id:
        # a person changed the object again (an engineer's own `rollout undo`, say): the
        # next pass adds that change, or closes the PR as withdrawn; no sync did this
        return False
    stripped = await ctx.comparable(last.object)
    if stripped is None:
        return False
    before, after = last.delta.before or {}, last.delta.after or {}
    return not deltas.holds(stripped, before, after) and deltas.holds(stripped, after, before)

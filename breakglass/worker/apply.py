"""Stage 2 of a pass: confirmed captures become commits on a branch and a pull request.

Each object's repository is located first; ``grouping`` then says which pull request each
object's captures go to (a session's, a burst's, the object's own).  Per group, oldest capture
first: sync a mirror, edit a kept worktree
of the base (or of the open pull request's branch, so later edits stack as new commits) with
the GitOps engine, commit as the engineer with breakglass as committer, prove the branch by
rendering it (``render``), push with compare-and-swap on the branch head, and open or update
the pull request.  A temporary failure waits (``next_attempt_at``: at least what the forge
asked) until ``backfill.retry_deadline_hours``; a permanent one marks the capture ``failed``,
and an edit the engine cannot express opens a "needs a human" issue with the delta.  Every
step is idempotent: a crash anywhere resumes without duplicates.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import TypeVar

from breakglass import logs, model, prtext, repos
from breakglass.auditlog import EventType
from breakglass.errors import BreakglassError, PermanentError, TemporaryError
from breakglass.forge import Provider, PullRequest, PullRequestSpec
from breakglass.forge.git import Git, Identity, Mirror
from breakglass.gitops import engine, sops
from breakglass.settings import ForgeSettings
from breakglass.worker import grouping, inputs, locate, render, secrets
from breakglass.worker.context import Context, LostLeadership, PassSummary, ago, hours
from breakglass.worker.inputs import engine_inputs, handle_for, identity_for, with_owner_hints
from breakglass.worker.tracking import SELF_HEALED_LABEL

log = logs.get(__name__)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Job:
    """The backfill of one object in one pass: its captures (oldest first), where they go
    (repository, forge, mirror, branch) and where the branch starts."""

    captures: list[model.Capture]
    target: repos.RepoTarget
    forge: ForgeSettings
    provider: Provider
    mirror: Mirror
    branch: str
    start: str  # the commit the pass's worktree starts from (the base, or the PR's head)
    expected: str | None  # the branch head the push must find (compare-and-swap), if any
    open_pr: PullRequest | None
    group: grouping.Group


async def backfill_confirmed(ctx: Context, summary: PassSummary) -> None:
    pending = await ctx.captures_in("confirmed")
    objects: dict[tuple[str, str, str, str], list[model.Capture]] = defaultdict(list)
    now = ctx.clock()
    for capture in pending:
        ignored = inputs.not_backfilled(capture, ctx.settings.record_only)
        if ignored is not None:
            saved = await ctx.save(capture, status=model.Status.IGNORED, reason=ignored)
            await ctx.record(saved, EventType.DISCARD, reason=saved.reason)
            summary.ignored += 1
            continue
        if capture.next_attempt_at is not None and now < capture.next_attempt_at:
            continue  # waiting after a temporary failure (a rate limit's reset, a backoff)
        objects[inputs.object_key(capture.object)].append(capture)
    located: list[grouping.Located] = []
    for captures in objects.values():
        if ctx.stopping():
            return  # shutting down: the rest waits in the journal for the next pass
        captures.sort(key=lambda c: c.id)
        target = await _guarded(ctx, captures, summary, _locate(ctx, captures, summary))
        if target is not None:
            located.append(grouping.Located(captures, target))
    if not located:
        return
    try:
        groups = await grouping.assign(ctx, located)
    except LostLeadership:
        raise
    except BreakglassError as exc:  # the forge, asked about open pull requests: next pass
        log.warning("backfill_grouping_failed", error=str(exc))
        return
    for group in groups:
        if ctx.stopping():
            return
        try:
            await _guarded(ctx, group.captures, summary, _backfill_group(ctx, group, summary))
        finally:
            for first in group.firsts.values():
                ctx.live_hints.pop(first, None)
                ctx.live_apps.pop(first, None)
                ctx.live_kustomizations.pop(first, None)


async def _guarded(
    ctx: Context,
    captures: list[model.Capture],
    summary: PassSummary,
    work: Awaitable[T],
) -> T | None:
    """Run one object's or group's work; what goes wrong is the captures' business (retried,
    failed), never the pass's, except a lost leadership."""
    try:
        return await work
    except LostLeadership:
        raise
    except TemporaryError as exc:
        await _retry_later(ctx, captures, exc, summary)
        log.warning("backfill_retry", error=str(exc), captures=[c.id for c in captures])
    except BreakglassError as exc:
        for capture in captures:
            current = await ctx.journal.get(capture.id) or capture
            if current.status is model.Status.CONFIRMED:
                await ctx.fail(current, str(exc))
                summary.failed += 1
        log.error("backfill_failed", error=str(exc), captures=[c.id for c in captures])
    except Exception as exc:  # a bug: say so loudly, and go on with the next object
        ctx.metrics.worker_errors.labels("backfill").inc()
        log.exception(
            "backfill_crashed", error=type(exc).__name__, captures=[c.id for c in captures]
        )
        failure = TemporaryError(f"internal error {type(exc).__name__}: {exc}")
        await _retry_later(ctx, captures, failure, summary)
    return None


async def _retry_later(
    ctx: Context, captures: Sequence[model.Capture], exc: TemporaryError, summary: PassSummary
) -> None:
    """Each capture still ``confirmed`` waits: at least as long as the forge asked
    (``exc.delay``: Retry-After, a rate limit's reset), and by an exponential backoff
    (at most 5 minutes) when it asked nothing.  A capture fails only once it has been
    retried for ``backfill.retry_deadline_hours``, however many attempts that took."""
    now = ctx.clock()
    deadline = timedelta(hours=ctx.settings.backfill.retry_deadline_hours)
    for capture in captures:
        current = await ctx.journal.get(capture.id) or capture
        if current.status is not model.Status.CONFIRMED:
            continue
        attempts = current.attempts + 1
        since = current.confirmed_at or current.received_at
        if now - since >= deadline:
            await ctx.fail(
                current,
                f"gave up after {attempts} attempts over {hours(now - since)}: {exc}",
            )
            summary.failed += 1
            continue
        wait = timedelta(seconds=max(exc.delay, min(300.0, 2.0**attempts)))
        await ctx.save(
            current,
            attempts=attempts,
            reason=str(exc),
            # never past the deadline: the capture is tried once more then, and fails
            next_attempt_at=min(now + wait, since + deadline),
        )
        summary.retried += 1


async def _locate(
    ctx: Context, captures: list[model.Capture], summary: PassSummary
) -> repos.RepoTarget | None:
    """The repository of one object's captures; none owns it: they are ``unmanaged``."""
    first = captures[0]
    target = await locate.locate(ctx, first)
    if target is None:
        for capture in captures:
            saved = await ctx.save(
                capture,
                status=model.Status.UNMANAGED,
                reason="no Argo CD application, Flux object or repo rule owns this object",
            )
            await ctx.record(saved, EventType.DISCARD, reason=saved.reason)
            ctx.metrics.backfills.labels("unmanaged").inc()
            summary.unmanaged += 1
        ctx.live_hints.pop(first.id, None)
        ctx.live_apps.pop(first.id, None)
        ctx.live_kustomizations.pop(first.id, None)
    return target


async def _backfill_group(ctx: Context, group: grouping.Group, summary: PassSummary) -> None:
    captures, target = group.captures, group.target
    first = captures[0]
    forge = locate.forge_for(ctx.settings, target)
    token = ctx.settings.secret(forge.token_env) if forge.token_env else None
    git = Git(token=token)
    provider = ctx.provider(forge, target.url)
    mirror = Mirror(url=target.url, root=ctx.mirrors, git=git)
    await mirror.sync()
    base_head = await mirror.head(target.branch)
    if base_head is None:
        raise PermanentError(
            f"branch {target.branch!r} does not exist in {git.mask(target.url)}",
            hint="check targetRevision / the repo rule's branch",
        )
    branch = group.branch
    pr = await provider.find_by_branch(branch)
    branch_head = await mirror.head(branch)
    if pr is not None and pr.state == "closed" and pr.closed_by != "breakglass":
        closed_at = model.parse_time(pr.closed_at) if pr.closed_at else None
        # forges report whole seconds: a change within the second of the close counts as
        # one the reviewer saw
        if closed_at is None or closed_at + timedelta(seconds=1) >= first.received_at:
            for capture in captures:
                saved = await ctx.save(
                    capture,
                    status=model.Status.CLOSED,
                    pr_url=pr.url,
                    reason="a reviewer closed the pull request for this change; "
                    "breakglass does not reopen it",
                )
                await ctx.record(saved, EventType.PR_CLOSED, reason=saved.reason)
                summary.closed += 1
            return
    open_pr = pr if pr is not None and pr.state == "open" else None
    start: str
    expected: str | None
    if open_pr is not None and branch_head is not None:
        start, expected = branch_head, branch_head
    else:
        if branch_head is not None:
            foreign = [
                sha
                for sha, email in await mirror.commits_since(base_head, branch_head)
                if email != ctx.settings.backfill.committer.email
            ]
            if foreign:
                raise PermanentError(
                    f"branch {branch} has commits by someone else and no open pull "
                    "request; breakglass will not overwrite them",
                    hint="delete the branch, or open a pull request from it "
                    f"(first foreign commit {foreign[0][:12]})",
                )
        start, expected = base_head, branch_head
    job = Job(captures, target, forge, provider, mirror, branch, start, expected, open_pr, group)
    await _apply(ctx, job, summary)


async def _apply(ctx: Context, job: Job, summary: PassSummary) -> None:
    """Edit, commit, prove, push and open or update the pull request for one object."""
    captures, target, forge, provider = job.captures, job.target, job.forge, job.provider
    mirror, branch, start, open_pr = job.mirror, job.branch, job.start, job.open_pr
    committer = ctx.settings.backfill.committer
    applied: list[model.Capture] = []
    commits: dict[str, str] = {}
    notes: list[str] = [target.controller_note] if target.controller_note else []
    files: list[str] = []
    async with mirror.kept_worktree(start) as (tree, moved):
        idx = await asyncio.to_thread(ctx.index_for, tree, moved)
        for handled, capture in enumerate(captures):
            if handled and ctx.stopping():
                break  # shutting down: what is applied is pushed; the rest waits, confirmed
            try:
                old, new = engine_inputs(capture)
            except PermanentError as exc:
                await ctx.fail(capture, str(exc))
                summary.failed += 1
                continue
            sealed: sops.Secrets | None = None
            if capture.object.kind == "Secret" and capture.object.group == "" and new:
                sealed, stale = await secrets.live_secret(ctx, capture, old, new, tree, target.path)
                if stale is not None:
                    saved = await ctx.save(capture, status=model.Status.SUPERSEDED, reason=stale)
                    await ctx.record(saved, EventType.PR_SUPERSEDED, reason=stale)
                    continue
            located = job.group.firsts.get(inputs.object_key(capture.object), capture.id)
            hints = {**ctx.live_hints.get(located, {}), **capture.labels}
            result = await asyncio.to_thread(
                engine.backfill,
                idx,
                with_owner_hints(old, hints, other=new),
                with_owner_hints(new, hints, other=old),
                subpath=target.path,
                secrets=sealed,
                applications=[app] if (app := ctx.live_apps.get(located)) else [],
                kustomizations=[k] if (k := ctx.live_kustomizations.get(located)) else [],
                namespace=target.namespace,
            )
            if isinstance(result, engine.NoChange) and open_pr is not None:
                # already on the pull request's branch: a pass (perhaps another replica's) that
                # stopped after the push or after opening the PR, before keeping the result
                saved = await ctx.save(
                    capture,
                    status=model.Status.PR_OPEN,
                    pr_url=open_pr.url,
                    branch=branch,
                    reason="already on the pull request branch",
                )
                await ctx.record(saved, EventType.PR_OPENED, reason=saved.reason)
                ctx.metrics.backfills.labels("pr").inc()
                summary.backfilled += 1
                continue
            if isinstance(result, engine.NoChange):
                saved = await ctx.save(
                    capture,
                    status=model.Status.SUPERSEDED,
                    reason=f"nothing to change: {result.reason}",
                )
                await ctx.record(saved, EventType.PR_SUPERSEDED, reason=saved.reason)
                continue
            if isinstance(result, engine.CannotExpress):
                source = prtext.Source(target.url, target.branch, target.path, target.owner)
                ident = identity_for(ctx.settings, capture.actor.username)
                handle = handle_for(ident, forge.kind)
                await ctx.fence()
                url = await provider.open_issue(
                    title=prtext.title(capture) + " (needs a human)",
                    body=prtext.cannot_express(
                        capture, why=result.reason, delta=result.delta, source=source
                    ),
                    labels=ctx.settings.backfill.labels,
                    assignees=[handle] if handle else [],
                )
                await ctx.fail(capture, f"cannot be expressed: {result.reason}", url=url)
                summary.failed += 1
                continue
            ident = identity_for(ctx.settings, capture.actor.username)
            message = prtext.commit_message(
                capture, capture_ids=[capture.id], chain_head=ctx.chain_head()
            )
            commits[capture.id] = await mirror.commit(
                tree,
                files=result.files,
                message=message,
                author=Identity(ident.name, ident.email),
                committer=Identity(committer.name, committer.email),
            )
            await asyncio.to_thread(idx.refresh_paths, list(result.files))
            files.extend(f for f in result.files if f not in files)
            notes.extend(n for n in result.notes if n not in notes)
            applied.append(capture)
        if not applied:
            return
        checked = await render.prove(
            ctx, applied, target, mirror, tree, idx, start=start, files=files
        )
        if not checked.ok:
            await render.render_failed(ctx, job, applied, checked, tree, summary)
            return
        await ctx.fence()
        await mirror.push(tree, branch, expected=job.expected)
    for capture in applied:
        await ctx.record(capture, EventType.BRANCH_PUSHED)
    diff = await mirror.diff(target.branch, branch)
    last = applied[-1]
    if open_pr is not None and not diff.strip():
        # the newest edit put the object back as Git has it: the engineer withdrew it
        await ctx.fence()
        if SELF_HEALED_LABEL in open_pr.labels:
            await provider.remove_label(open_pr, SELF_HEALED_LABEL)
        closed = await provider.close(
            open_pr,
            comment=f"{prtext.code(last.actor.username)} put the object back to what "
            f"Git says ({prtext.md(prtext.how(last))}), so there is nothing left to "
            "backfill. Closing.",
        )
        for capture in await ctx.captures_of(open_pr.url, applied):
            saved = await ctx.save(
                capture,
                status=model.Status.CLOSED,
                pr_url=closed.url,
                reason=f"withdrawn: {last.actor.username} reverted the change by hand",
            )
            await ctx.record(saved, EventType.PR_CLOSED, reason=saved.reason)
            summary.closed += 1
        return
    all_captures = await ctx.captures_of(open_pr.url if open_pr else None, applied)
    ref = all_captures[-1].object
    live_reason = ctx.live_reasons.pop((ref.kind, ref.namespace, ref.name), None)
    if live_reason and not prtext.reason(all_captures[-1]):
        labels = {**all_captures[-1].labels, prtext.REASON_ANNOTATION: live_reason}
        all_captures[-1] = dataclasses.replace(all_captures[-1], labels=labels)
    handles, unassigned = inputs.assignees(ctx.settings, all_captures, forge)
    notes.extend(
        f"{name} has no {forge.kind} handle in `users:`, so is not assigned" for name in unassigned
    )
    source = prtext.Source(target.url, target.branch, target.path, target.owner, tuple(files))
    named = {c.session for c in all_captures if c.session}
    sessions = {s.name: s for s in await ctx.journal.sessions() if s.name in named} if named else {}
    spec = PullRequestSpec(
        branch=branch,
        base=target.branch,
        title=prtext.pr_title(all_captures, session=sessions.get(job.group.session or "")),
        body=prtext.body(
            all_captures,
            cluster=ctx.settings.cluster,
            source=source,
            diff=diff,
            notes=notes,
            chain_head=ctx.chain_head(),
            now=model.utcnow(),
            rendered=checked.checked,
            not_rendered=checked.skipped,
            render_notes=checked.notes,
            sessions=sessions,
        ),
        labels=ctx.settings.backfill.labels,
        assignees=tuple(handles),
        reviewers=ctx.settings.backfill.reviewers,
        draft=ctx.settings.backfill.draft,
    )
    await ctx.fence()
    if open_pr is not None:
        pr = await provider.update(open_pr, spec)
        for capture in applied:
            sha = commits[capture.id]
            own = await mirror.diff(f"{sha}^", sha)
            await provider.comment(pr, prtext.follow_up_comment(capture, own))
        event = EventType.PR_UPDATED
    else:
        pr = await provider.open(spec)
        event = EventType.PR_OPENED
    now = model.utcnow()
    for capture in applied:
        saved = await ctx.save(
            capture, status=model.Status.PR_OPEN, pr_url=pr.url, branch=branch, reason=None
        )
        await ctx.record(saved, event)
        ctx.metrics.time_to_pr.observe(ago(capture.received_at, now))
        ctx.metrics.backfills.labels("pr").inc()
        summary.backfilled += 1
    log.info(
        "pull_request",
        url=pr.url,
        branch=branch,
        captures=[c.id for c in applied],
        action=event.value,
    )

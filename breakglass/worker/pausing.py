"""The first stage of a pass, with ``sessions.pause_self_heal``: pause the GitOps controller
of each open session's applications, and put each back when it is due (``sessions.pause``).

The schedule is the journal's ``pauses``: written before the cluster is patched, so a crash
between the two leaves a pause the next pass (of this replica or another) sees and finishes;
restoring is a pass's first job, so a worker that was down past a deadline restores at once
when it comes back.  Every pause and restore is an audit record; the metrics say what is
paused now and what is overdue.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from breakglass import logs, model
from breakglass.auditlog import Event, EventType, record_safely
from breakglass.errors import BreakglassError
from breakglass.journal import every_capture
from breakglass.listing import list_all
from breakglass.sessions import pause as pausing
from breakglass.worker.context import Context, PassSummary

if TYPE_CHECKING:  # kubernetes_asyncio is imported only where a cluster is used
    from breakglass.kube import KubeCluster

log = logs.get(__name__)

#: the field manager of a pause and a restore
FIELD_MANAGER = "breakglass"
#: a pause is "overdue" this long after its deadline (a pass or two late is normal)
OVERDUE_AFTER = timedelta(minutes=2)
#: sessions that ended longer ago than this no longer matter to a pass
LOOKBACK = timedelta(days=7)


async def pause_and_restore(ctx: Context, summary: PassSummary) -> None:
    if not ctx.settings.sessions.pause_self_heal or ctx.cluster is None:
        return
    # what this stage asks of the cluster (get, list_page, patch) only KubeCluster offers
    cluster = cast("KubeCluster", ctx.cluster)
    now = ctx.clock()
    sessions = {s.name: s for s in await ctx.journal.sessions(ended_after=now - LOOKBACK)}
    active = list(await ctx.journal.pauses(active=True))
    open_sessions = [s for s in sessions.values() if s.is_open(now)]
    if not active and not open_sessions:
        ctx.metrics.self_heal_overdue.set(0)
        return
    captures = [c for c in await every_capture(ctx.journal) if c.session is not None]
    await _restore_due(ctx, cluster, active, sessions, captures, now)
    if open_sessions:
        await _pause_new(ctx, cluster, open_sessions, captures, now)
    await _export(ctx, now)


async def _restore_due(
    ctx: Context,
    cluster: KubeCluster,
    active: list[model.Pause],
    sessions: dict[str, model.Session],
    captures: list[model.Capture],
    now: datetime,
) -> None:
    by_app: dict[str, list[tuple[model.Pause, str | None]]] = defaultdict(list)
    for pause in active:
        why = pausing.due(pause, sessions.get(pause.session), captures, now)
        by_app[pause.app].append((pause, why))
    for entries in by_app.values():
        ending = [(p, why) for p, why in entries if why is not None]
        if not ending:
            continue
        if len(ending) < len(entries):
            # another session still holds the application paused: this one just lets go
            for pause, why in ending:
                await _finish(ctx, pause, now, f"{why}; still paused for another session")
            continue
        first = min((p for p, _ in entries), key=lambda p: p.paused_at)
        note = await _put_back(ctx, cluster, first)
        if note is None:
            continue  # not reachable now: the next pass tries again
        for pause, why in ending:
            await _finish(ctx, pause, now, f"{why}; {note}" if note else str(why))


async def _put_back(ctx: Context, cluster: KubeCluster, pause: model.Pause) -> str | None:
    """Restore the application as ``pause`` found it: what to note, or ``None`` to retry."""
    from breakglass.kube import JSON_PATCH, Conflict

    group, version, plural = pausing.KINDS[pause.kind]
    where = {
        "group": group,
        "version": version,
        "plural": plural,
        "namespace": pause.namespace,
        "name": pause.name,
    }
    try:
        obj = await cluster.get(**where)
        if obj is None:
            return "the application no longer exists"
        marked = (obj.get("metadata") or {}).get("annotations", {}).get(pausing.PAUSED_BY)
        ops = pausing.restore_ops(obj, dataclasses.replace(pause, session=str(marked or "")))
        if ops is None:
            return "someone removed the pause mark meanwhile: left as it is"
        await cluster.patch(**where, body=ops, content_type=JSON_PATCH, field_manager=FIELD_MANAGER)
    except Conflict:
        return None
    except BreakglassError as exc:
        ctx.metrics.self_heal_changes.labels("restore", "error").inc()
        log.error("self_heal_restore_failed", app=pause.app, error=str(exc))
        return None
    ctx.metrics.self_heal_changes.labels("restore", "ok").inc()
    log.info("self_heal_restored", app=pause.app, session=pause.session)
    return "self-heal put back"


async def _finish(ctx: Context, pause: model.Pause, now: datetime, note: str) -> None:
    done = dataclasses.replace(pause, restored_at=now, note=note)
    await ctx.fence()
    await ctx.journal.put_pause(done)
    await _audit(ctx, done, "restored")


async def _pause_new(
    ctx: Context,
    cluster: KubeCluster,
    sessions: list[model.Session],
    captures: list[model.Capture],
    now: datetime,
) -> None:
    from breakglass.kube import MERGE_PATCH

    apps = pausing.apps_from(await _applications(cluster))
    # a session pauses an application once: a pause that ended (merged, resumed by hand)
    # is not taken again while the session lasts
    every = await ctx.journal.pauses()
    held = {(p.session, p.app): p for p in every}
    by_app = {p.app: p for p in every if p.restored_at is None}
    for session in sessions:
        for app in pausing.affected(session, apps, captures):
            if (session.name, app.key) in held:
                continue
            other = by_app.get(app.key)
            if app.paused_by is not None and other is None:
                continue  # paused by hand with our mark, or by a session the journal lost
            pause = model.Pause(
                session=session.name,
                tool=app.tool,
                kind=app.kind,
                namespace=app.namespace,
                name=app.name,
                paused_at=now,
                due_at=session.ends_at,
                original=other.original if other is not None else app.switch,
            )
            await ctx.fence()
            await ctx.journal.put_pause(pause)  # the schedule first: a crash still restores
            held[(session.name, app.key)] = pause
            by_app.setdefault(app.key, pause)
            if other is None:
                group, version, plural = app.where
                try:
                    await cluster.patch(
                        group=group,
                        version=version,
                        plural=plural,
                        namespace=app.namespace,
                        name=app.name,
                        body=pausing.pause_patch(app, session.name),
                        content_type=MERGE_PATCH,
                        field_manager=FIELD_MANAGER,
                    )
                except BreakglassError as exc:
                    ctx.metrics.self_heal_changes.labels("pause", "error").inc()
                    log.error("self_heal_pause_failed", app=app.key, error=str(exc))
                    await ctx.journal.put_pause(
                        dataclasses.replace(pause, restored_at=now, note=f"not paused: {exc}")
                    )
                    continue
                ctx.metrics.self_heal_changes.labels("pause", "ok").inc()
            log.info("self_heal_paused", app=app.key, session=session.name)
            await _audit(ctx, pause, "paused")


async def _applications(cluster: KubeCluster) -> dict[str, list[dict[str, Any]]]:
    """Every Kustomization, HelmRelease and Application (a kind not served: none)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for group, version, plural in pausing.KINDS.values():
        try:
            out[plural] = await list_all(cluster, group=group, version=version, plural=plural) or []
        except BreakglassError as exc:
            log.warning("self_heal_cannot_list", resource=f"{plural}.{group}", error=str(exc))
            out[plural] = []
    return out


async def _export(ctx: Context, now: datetime) -> None:
    active = await ctx.journal.pauses(active=True)
    ctx.metrics.self_heal_paused.clear()
    for pause in active:
        ctx.metrics.self_heal_paused.labels(
            pause.tool, pause.kind, pause.namespace, pause.name
        ).set(1)
    ctx.metrics.self_heal_overdue.set(sum(1 for p in active if now > p.due_at + OVERDUE_AFTER))


async def _audit(ctx: Context, pause: model.Pause, outcome: str) -> None:
    event = Event(
        type=EventType.SESSION,
        capture_id=pause.session,
        cluster=ctx.settings.cluster,
        actor=model.Actor(username="breakglass"),
        summary={
            "session": pause.session,
            "application": pause.app,
            "due_at": model.format_time(pause.due_at),
            "note": pause.note[:200],
        },
        outcome=outcome,
    )
    await record_safely(ctx.audit_log, [event], metrics=ctx.metrics)

"""The last stage of a pass: tell the notification destinations when a break-glass session
opens and when it ends.

Sessions are written by the webhook, which sends nothing anywhere; the worker, which owns the
notifier, reads them from the journal each pass and announces each opening and each end once
per process.  After a restart it announces what happened in the ``WINDOW`` before it started
(so an event during a restart is not lost; it may be told twice, as every notification may).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Final

from breakglass import model
from breakglass.worker.context import Context, Notices, PassSummary

WINDOW: Final = timedelta(minutes=10)


async def announce_sessions(ctx: Context, summary: PassSummary) -> None:
    if ctx.notifier is None:
        return
    now = ctx.clock()
    since = ctx.started_at - WINDOW
    for session in await ctx.journal.sessions(ended_after=since):
        opened = (session.name, "opened")
        if session.opened_at >= since and opened not in ctx.announced:
            ctx.announced.add(opened)
            ctx.notify(partial(_tell, session=session, ended=None))
        ended = (session.name, "ended")
        if session.ends_at <= now and ended not in ctx.announced:
            ctx.announced.add(ended)
            how = (
                "closed"
                if session.closed_at is not None and session.closed_at < session.expires_at
                else "expired"
            )
            ctx.notify(partial(_tell, session=session, ended=how))


def _tell(notices: Notices, *, session: model.Session, ended: str | None) -> None:
    notices.session_changed(session, ended=ended)

"""The state one worker shares across the stages of a pass, and the writes every stage makes.

``Context`` holds the worker's dependencies (settings, journal, metrics, cluster, audit log,
redactor, Git, clock, forge providers, notifier) and what a pass learns along the way (owner
hints read from live objects, GitOps indexes of kept worktrees, base renders).  The stage modules
(``confirm``, ``locate``, ``apply``, ``render``, ``secrets``, ``tracking``) are functions of a
``Context``; ``loop.Worker`` is the ``Context`` that runs them.

Every audit record goes through ``record``, which also hands the notification it makes (a pull
request opened, merged or closed, a revert, a change that needs a human) to the notifier:
``publish`` queues it and returns, so no pass waits on Slack, Teams or a webhook.

Every write goes through here and is **fenced**: ``fence`` checks that this process still leads
in the term its pass began in (``Journal.leadership``) before a journal or forge write, so a
leader that lost its database session never writes again.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from breakglass import delta as deltas
from breakglass import logs, model, rendercheck
from breakglass.auditlog import AuditLog, EventType, from_capture, record_safely
from breakglass.capture.redact import Redactor
from breakglass.errors import TemporaryError
from breakglass.forge import Provider
from breakglass.forge.git import Git
from breakglass.gitops import index
from breakglass.journal import Journal
from breakglass.metrics import Metrics
from breakglass.settings import ForgeSettings, Settings
from breakglass.worker.connect import make_provider
from breakglass.worker.inputs import object_key

if TYPE_CHECKING:  # kubernetes_asyncio costs ~36 MiB; it is imported only when a cluster is used
    from breakglass.kube import Cluster

log = logs.get(__name__)

#: captures read from the journal at a time
PAGE = 500


class Notices(Protocol):
    """Who hears what the worker recorded (``notify.notifier.Notifier``): each call returns at
    once, whatever the destinations do."""

    def recorded(
        self, capture: model.Capture, event: EventType, *, reason: str | None = None
    ) -> None: ...

    def reverted_by_sync(self, capture: model.Capture, pr_url: str) -> None: ...

    def session_changed(self, session: model.Session, *, ended: str | None) -> None:
        """A break-glass session opened (``ended`` None) or ended ("closed", "expired")."""

    def terraform_drift(self, drift: model.TerraformDrift, *, namespace: str | None) -> None:
        """A Terraform scan opened a pull request for, or asked a human about, ``drift``."""


class LostLeadership(TemporaryError):
    """This process no longer leads in the term its pass began in; the pass stops before its
    next write, and the new leader takes the work over."""


@dataclasses.dataclass
class PassSummary:
    """What one pass did, by outcome (``worker --once`` prints it)."""

    confirmed: int = 0
    discarded: int = 0
    backfilled: int = 0
    unmanaged: int = 0
    ignored: int = 0
    failed: int = 0
    retried: int = 0
    merged: int = 0
    closed: int = 0
    found_by_scan: int = 0
    terraform_scans: int = 0

    def total(self) -> int:
        return sum(dataclasses.asdict(self).values())


def ago(moment: datetime, now: datetime) -> float:
    return (now - moment).total_seconds()


def hours(span: timedelta) -> str:
    count = span.total_seconds() / 3600
    return f"{count:.1f} h" if count >= 1 else f"{span.total_seconds() / 60:.0f} min"


class Context:
    """A worker's dependencies and pass state; given, so tests can use fakes for each."""

    def __init__(
        self,
        *,
        settings: Settings,
        journal: Journal,
        metrics: Metrics,
        providers: Mapping[str, Provider] | None = None,
        cluster: Cluster | None = None,
        audit_log: AuditLog | None = None,
        redactor: Redactor | None = None,
        git: Git | None = None,
        clock: Callable[[], datetime] = model.utcnow,
        open_audit_log: Callable[[], Awaitable[bool]] | None = None,
        notifier: Notices | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock  # every timing decision reads it, so tests can move time
        self.journal = journal
        self.metrics = metrics
        self.cluster = cluster
        self.audit_log = audit_log
        self.redactor = redactor
        self.git = git or Git()
        self.providers: dict[str, Provider] = dict(providers or {})
        self.mirrors = settings.backfill.mirrors_dir or settings.state_dir / "mirrors"
        # reasons found on live objects (an engineer may annotate after the fix)
        self.live_reasons: dict[tuple[str, str, str], str] = {}
        # what locating read from the cluster, by capture id: the live object's owner labels
        # and annotations, the Argo CD Application (for a Helm chart it names), and the Flux
        # Kustomization that applied it (for the post-build variables it substitutes)
        self.live_hints: dict[str, dict[str, str]] = {}
        self.live_apps: dict[str, dict[str, Any]] = {}
        self.live_kustomizations: dict[str, dict[str, Any]] = {}
        self._indexes: dict[Path, index.Index] = {}
        self.base_renders = rendercheck.BaseRenders()
        self.term: int | None = None  # set by each leadership check of the run loop
        self.stop: asyncio.Event | None = None  # set when the process is shutting down
        self.last_poll = datetime.min.replace(tzinfo=clock().tzinfo)  # open PRs last polled
        self.last_scan = datetime.min.replace(tzinfo=clock().tzinfo)  # scan.interval's clock
        # terraform.interval's clock, and the Terraform scan running beside the passes
        self.last_terraform = datetime.min.replace(tzinfo=clock().tzinfo)
        self.terraform_task: asyncio.Task[Any] | None = None
        # opens the audit chain when this process starts leading (a standby must not hold the
        # chain's lock, which an operator's `worker --once` may need)
        self.open_audit_log = open_audit_log
        # Slack, Teams, webhooks: handed notifications, never waited on
        self.notifier = notifier
        # session openings and endings already announced by this process (worker/sessions)
        self.announced: set[tuple[str, str]] = set()
        self.started_at = clock()

    def stopping(self) -> bool:
        """Whether the process is shutting down: a pass ends after the object it is on, so a
        SIGTERM is answered in seconds, not after a backlog of thousands."""
        return self.stop is not None and self.stop.is_set()

    def provider(self, forge: ForgeSettings, remote: str) -> Provider:
        key = f"{forge.name}|{remote}" if forge.kind == "local" else forge.name
        if key not in self.providers:
            self.providers[key] = make_provider(forge, remote=remote, settings=self.settings)
        return self.providers[key]

    async def save(self, capture: model.Capture, **changes: Any) -> model.Capture:
        """Set ``changes`` on the stored capture (never the copy this pass read: an audit
        confirmation may have arrived since) and return it as stored."""
        await self.fence()
        changes = dict(changes)
        status = changes.get("status")
        if status is model.Status.PR_OPEN and capture.pr_opened_at is None:
            changes.setdefault("pr_opened_at", self.clock())
        if status in model.FINAL_STATUSES:
            changes.setdefault("resolved_at", self.clock())
        stored = await self.journal.update(capture.id, changes)
        saved = stored if stored is not None else dataclasses.replace(capture, **changes)
        if "status" in changes:
            # one line per capture the worker handles, with what became of it
            log.info(
                "capture_handled",
                capture_id=saved.id,
                object=saved.object.describe(),
                outcome=saved.status.value,
                reason=saved.reason,
                pr_url=saved.pr_url,
                attempts=saved.attempts,
            )
        return saved

    async def record(
        self, capture: model.Capture, kind: EventType, *, reason: str | None = None
    ) -> None:
        """Write the audit record of ``kind`` for ``capture`` (as saved), and hand the
        notification it makes, if any, to the notifier (which never makes the pass wait)."""
        await record_safely(
            self.audit_log, [from_capture(capture, kind, reason=reason)], metrics=self.metrics
        )
        self.notify(lambda notices: notices.recorded(capture, kind, reason=reason))

    def notify(self, tell: Callable[[Notices], None]) -> None:
        """Tell the notifier, if there is one.  A mistake there is logged and counted, never a
        failed pass: notifications are not the backfill."""
        if self.notifier is None:
            return
        try:
            tell(self.notifier)
        except Exception as exc:
            self.metrics.worker_errors.labels("notify").inc()
            log.exception("notification_not_published", error=type(exc).__name__)

    async def fail(self, capture: model.Capture, reason: str, *, url: str | None = None) -> None:
        saved = await self.save(
            capture, status=model.Status.FAILED, reason=reason, pr_url=url or capture.pr_url
        )
        await self.record(saved, EventType.FAILED, reason=reason)
        self.metrics.backfills.labels("failed").inc()

    def chain_head(self) -> str | None:
        if self.audit_log is None or not self.audit_log.is_open:
            return None
        return str(self.audit_log.head)

    def index_for(self, tree: Path, moved: list[str] | None) -> index.Index:
        """The GitOps index of a kept worktree: refreshed by the paths Git says moved, or built
        once (a 50,000-document repository takes seconds to index, milliseconds to refresh)."""
        known = self._indexes.get(tree)
        if known is None or moved is None:
            known = index.Index.build(tree)
            self._indexes[tree] = known
        else:
            known.refresh_paths(moved)
        return known

    async def live_object(self, ref: model.ObjectRef) -> dict[str, Any] | None:
        """The live object a capture is about (its parent, for a subresource)."""
        assert self.cluster is not None
        return await self.cluster.get(
            group=ref.group,
            version=ref.version,
            plural=ref.resource,
            namespace=ref.namespace,
            name=ref.name,
        )

    async def comparable(self, ref: model.ObjectRef) -> dict[str, Any] | None:
        """The live object as a capture's delta can be compared with it: redacted with the
        same salt (a Secret's markers match) and without server-owned fields; None if gone."""
        live = await self.live_object(ref)
        if live is None:
            return None
        if self.redactor is not None:
            live = self.redactor.object(live, kind=ref.kind)
        return deltas.strip_server_fields(live)

    async def fence(self) -> None:
        """Raise ``LostLeadership`` unless this process still leads in the term its pass
        began in: a leader that lost its database session (and may have been replaced) must
        not write to the journal or a forge again."""
        if self.term is None:
            return  # run_once called directly (tests, `worker --once` checked it already)
        try:
            now = await self.journal.leadership()
        except Exception as exc:
            raise LostLeadership(f"cannot tell whether this process still leads: {exc}") from exc
        if now != self.term:
            raise LostLeadership(
                f"this process led in term {self.term} and now "
                + (f"in term {now}" if now else "does not lead")
            )

    async def captures_in(self, status: str) -> list[model.Capture]:
        """Every capture in ``status``, oldest first, read page by page: a backlog larger
        than a page is worked through from its oldest end, never starved."""
        found: list[model.Capture] = []
        after: str | None = None
        while True:
            page = await self.journal.list(
                status=status, limit=PAGE, after=after, oldest_first=True
            )
            found.extend(page)
            if len(page) < PAGE:
                return found
            after = page[-1].id

    async def unfinished(self) -> dict[tuple[str, str, str, str], str]:
        """The newest capture id of each object the worker has not finished with yet
        (provisional or confirmed), read once per tracking pass."""
        newest: dict[tuple[str, str, str, str], str] = {}
        for status in ("provisional", "confirmed"):
            for other in await self.captures_in(status):
                key = object_key(other.object)
                newest[key] = max(newest.get(key, other.id), other.id)
        return newest

    async def captures_of(
        self, pr_url: str | None, extra: Sequence[model.Capture]
    ) -> list[model.Capture]:
        found = {c.id: c for c in extra}
        if pr_url:
            for capture in await self.captures_in("pr_open"):
                if capture.pr_url == pr_url:
                    found.setdefault(capture.id, capture)
        return sorted(found.values(), key=lambda c: c.id)

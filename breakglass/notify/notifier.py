"""``Notifier``: notifications handed over without waiting, delivered in the background.

``publish`` never waits and never raises for a destination: it routes the notification
(``routing``) and appends it to each chosen destination's bounded queue, dropping (and
counting) the oldest message when a queue is full.  One asyncio task per destination takes
its queue in order, so a slow or hung destination delays only its own messages.  Each message
is POSTed (``http``) and retried as ``retry`` decides, then delivered, refused or given up,
each counted (``breakglass_notifications_total{destination,event,outcome}``) and logged with
the destination's name and masked host, never its URL.  ``close`` lets the queues drain for
``notifications.drain_seconds``, then cancels what is left and counts it as abandoned.

Delivery is *at least once*: a message retried after a lost answer, or published again after
the worker restarted mid-pass, may arrive twice (a CloudEvent keeps its ``id`` across retries,
so a receiver can drop the repeat).  Within a process, the captures of one pull request make
one message (``Notification.key``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from breakglass import logs, model
from breakglass.auditlog import EventType
from breakglass.metrics import Metrics
from breakglass.notify import cloudevents, events, http, retry, routing, slack, teams
from breakglass.notify.destinations import Destination, usable
from breakglass.notify.events import Notification, Session
from breakglass.settings import NotificationSettings, Settings

log = logs.get(__name__)

#: notification keys remembered, so one pull request's captures make one message
_RECENT: Final = 4096

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class _Lane:
    """One destination's queue and the task that empties it."""

    destination: Destination
    queue: deque[Notification]
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    current: Notification | None = None
    dropping: bool = False


def body(destination: Destination, n: Notification) -> bytes:
    """What is POSTed to ``destination`` for ``n`` (the same bytes on every attempt)."""
    if destination.kind == "webhook":
        return cloudevents.body(n)
    shaped = slack.payload(n) if destination.kind == "slack" else teams.payload(n)
    return json.dumps(shaped, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def headers(destination: Destination, raw: bytes, *, now: float) -> dict[str, str]:
    """The headers of one attempt; a webhook's are signed at ``now`` (Unix seconds)."""
    if destination.kind == "webhook":
        assert destination.secret is not None
        return cloudevents.headers(destination.secret, int(now), raw)
    return {"Content-Type": "application/json"}


class Notifier:
    """Routes, queues and delivers notifications; ``start`` it in the running loop."""

    def __init__(
        self,
        destinations: Sequence[Destination],
        *,
        settings: NotificationSettings,
        metrics: Metrics,
        cluster: str,
        clock: Callable[[], datetime] = model.utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.cluster = cluster
        self.limits = retry.Limits(
            max_attempts=settings.max_attempts,
            give_up_seconds=settings.give_up_seconds,
            base=base_delay,
            cap=max_delay,
        )
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._jitter = jitter
        self._lanes = [_Lane(d, deque(maxlen=settings.queue_size)) for d in destinations]
        self._recent: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._client: http.Client | None = None
        self._closing = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        metrics: Metrics,
        environ: Mapping[str, str] | None = None,
    ) -> Notifier | None:
        """The notifier ``notifications:`` asks for, or ``None`` when no destination can send.
        A destination whose variables are missing is logged and left out, never fatal: the
        worker's job is backfilling, and it goes on."""
        found, problems = usable(settings.notifications, os.environ if environ is None else environ)
        for problem in problems:
            log.error(
                "notification_destination_unusable",
                key=problem.key,
                variable=problem.variable,
                problem=problem.text,
            )
        if not found:
            return None
        log.info("notifications_on", destinations=[f"{d.name} ({d.kind})" for d in found])
        return cls(
            found, settings=settings.notifications, metrics=metrics, cluster=settings.cluster
        )

    @property
    def destinations(self) -> list[Destination]:
        return [lane.destination for lane in self._lanes]

    # -- handing over --------------------------------------------------------------------------

    def publish(self, notification: Notification) -> None:
        """Queue ``notification`` for every destination that takes it; returns at once."""
        key = notification.key
        if key in self._recent:
            return
        self._recent[key] = None
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        for lane in self._lanes:
            if not routing.wants(lane.destination, notification):
                continue
            name, event = lane.destination.name, notification.kind.value
            if self._closing:
                self.metrics.notifications.labels(name, event, "abandoned").inc()
                continue
            queue = lane.queue
            if queue.maxlen is not None and len(queue) >= queue.maxlen:
                oldest = queue.popleft()
                self.metrics.notifications.labels(name, oldest.kind.value, "dropped").inc()
                if not lane.dropping:
                    log.warning(
                        "notification_queue_full",
                        destination=name,
                        host=http.mask(lane.destination.url),
                        queue_size=queue.maxlen,
                        hint="the oldest queued messages are dropped (counted as outcome "
                        "dropped) until the destination keeps up",
                    )
                lane.dropping = True
            queue.append(notification)
            self.metrics.notification_queue.labels(name).set(len(queue))
            lane.ready.set()

    def recorded(
        self, capture: model.Capture, event: EventType, *, reason: str | None = None
    ) -> None:
        """The worker recorded ``event`` for ``capture`` (as saved): publish the notification
        it makes, if any (``events.from_capture``)."""
        made = events.from_capture(
            capture, event, reason=reason, now=self._clock(), id=str(uuid.uuid4())
        )
        if made is not None:
            self.publish(made)

    def reverted_by_sync(self, capture: model.Capture, pr_url: str) -> None:
        """The worker found the GitOps controller reverted ``capture`` while its pull request
        is open."""
        self.publish(
            events.reverted_by_sync(capture, pr_url, now=self._clock(), id=str(uuid.uuid4()))
        )

    def terraform_drift(self, drift: model.TerraformDrift, *, namespace: str | None) -> None:
        """A Terraform scan opened a pull request for, or asked a human about, ``drift``."""
        made = events.terraform(
            drift, namespace=namespace, cluster=self.cluster, now=self._clock(),
            id=str(uuid.uuid4()),
        )  # fmt: skip
        if made is not None:
            self.publish(made)

    def session_opened(self, session: Session) -> None:
        """Tell the destinations that want it that a break-glass session was opened."""
        self.publish(
            events.session_opened(
                session, cluster=self.cluster, now=self._clock(), id=str(uuid.uuid4())
            )
        )

    def session_changed(self, session: model.Session, *, ended: str | None) -> None:
        """A journal session opened (``ended`` None) or ended, as the worker saw it."""
        scope = tuple(f"namespace {n}" for n in session.namespaces) + tuple(
            f"application {a}" for a in session.applications
        )
        told = Session(
            id=session.name,
            reason=session.reason,
            user=session.owner,
            scope=scope or ("every namespace",),
            deadline=session.expires_at,
            namespaces=session.namespaces,
            applications=session.applications,
        )
        if ended is None:
            self.session_opened(told)
        else:
            self.session_closed(told, ended=ended)

    def session_closed(self, session: Session, *, ended: str = "closed") -> None:
        """Tell them that a session ended (``ended``: "closed", "expired", ...)."""
        self.publish(
            events.session_closed(
                session, cluster=self.cluster, now=self._clock(), id=str(uuid.uuid4()), ended=ended
            )
        )

    # -- the background ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start one delivery task per destination (in the running loop)."""
        if self._client is None:
            self._client = http.session()
        loop = asyncio.get_running_loop()
        for lane in self._lanes:
            if lane.task is None:
                lane.task = loop.create_task(
                    self._run(lane), name=f"notify:{lane.destination.name}"
                )

    async def close(self) -> None:
        """Stop taking notifications, let the queues drain for ``drain_seconds``, then cancel
        what is left (counted as abandoned) and close the HTTP client."""
        self._closing = True
        for lane in self._lanes:
            lane.ready.set()
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.settings.drain_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        left = 0
        for lane in self._lanes:
            unsent = list(lane.queue) + ([lane.current] if lane.current is not None else [])
            for n in unsent:
                self.metrics.notifications.labels(
                    lane.destination.name, n.kind.value, "abandoned"
                ).inc()
            left += len(unsent)
            lane.queue.clear()
            lane.current = None
            lane.task = None
            self.metrics.notification_queue.labels(lane.destination.name).set(0)
        if left:
            log.warning(
                "notifications_abandoned",
                count=left,
                drain_seconds=self.settings.drain_seconds,
                hint="the worker stopped before they could be delivered",
            )
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _run(self, lane: _Lane) -> None:
        name = lane.destination.name
        while True:
            while lane.queue:
                n = lane.queue.popleft()
                self.metrics.notification_queue.labels(name).set(len(lane.queue))
                if not lane.queue:
                    lane.dropping = False
                lane.current = n
                try:
                    await self._deliver(lane.destination, n)
                except Exception as exc:  # a bug: say so, count it, go on with the next
                    self.metrics.notifications.labels(name, n.kind.value, "gave_up").inc()
                    log.exception(
                        "notification_crashed", destination=name, error=type(exc).__name__
                    )
                # not on a cancel: ``close`` counts the message in flight as abandoned
                lane.current = None
            if self._closing:
                return
            lane.ready.clear()
            await lane.ready.wait()

    async def _deliver(self, destination: Destination, n: Notification) -> None:
        assert self._client is not None
        raw = body(destination, n)
        started = self._monotonic()
        attempt = 0
        where = {
            "destination": destination.name,
            "kind": destination.kind,
            "host": http.mask(destination.url),
            "notification": n.kind.value,
            "notification_id": n.id,
        }
        while True:
            attempt += 1
            sent = headers(destination, raw, now=self._clock().timestamp())
            status: int | None = None
            asked_raw: str | None = None
            detail = ""
            limit = self.settings.timeout_seconds
            try:
                async with asyncio.timeout(limit):
                    answer = await http.post(self._client, destination.url, raw, sent)
                status, asked_raw, detail = answer.status, answer.retry_after, answer.detail
            except TimeoutError:
                detail = f"no answer within {limit:g} s"
            except http.SendError as exc:
                detail = str(exc)
            verdict = retry.verdict(status)
            if verdict is retry.Verdict.DELIVERED:
                self.metrics.notifications.labels(destination.name, n.kind.value, "delivered").inc()
                log.debug("notification_delivered", attempts=attempt, **where)
                return
            if verdict is retry.Verdict.REFUSED:
                self.metrics.notifications.labels(destination.name, n.kind.value, "refused").inc()
                log.error(
                    "notification_refused",
                    status=status,
                    detail=detail,
                    attempts=attempt,
                    hint="the destination refused the message; check its URL and settings",
                    **where,
                )
                return
            asked = retry.retry_after(asked_raw, self._clock()) if status in (429, 503) else None
            wait = retry.next_wait(
                attempt,
                elapsed=self._monotonic() - started,
                asked=asked,
                limits=self.limits,
                random=self._jitter,
            )
            if wait is None:
                self.metrics.notifications.labels(destination.name, n.kind.value, "gave_up").inc()
                log.error(
                    "notification_gave_up",
                    status=status,
                    detail=detail,
                    attempts=attempt,
                    seconds=round(self._monotonic() - started, 3),
                    retry_after=asked,
                    **where,
                )
                return
            self.metrics.notification_retries.labels(destination.name).inc()
            log.info(
                "notification_retry",
                status=status,
                detail=detail,
                attempt=attempt,
                wait=round(wait, 3),
                **where,
            )
            await self._sleep(wait)

"""Notifications: Slack, Microsoft Teams and a signed CloudEvents webhook hear what the worker
did (a backfill pull request opened, merged or closed, a change reverted by the GitOps
controller, a change that needs a human) and when break-glass sessions open and close.

The worker never waits on a destination: its audit funnel (``Context.record``) tells the
notifier what it recorded (``Notifier.recorded``), which builds the notification, queues it
and returns; delivery happens in background tasks.  Sessions call ``Notifier.session_opened``
and ``session_closed``.  Which module does what:

- ``events``: what happened, from a capture and its audit event, or from a session (pure);
- ``text``: the words, shared by the formats (pure);
- ``slack``, ``teams``, ``cloudevents``: the three payloads, and the webhook's signature (pure);
- ``routing``: which destinations take a notification (pure);
- ``retry``: what a response means, backoff with full jitter, when to give up (pure);
- ``destinations``: settings plus environment → usable destinations, or why not (pure);
- ``http``: the one POST, with aiohttp (the edge);
- ``notifier``: queues, background delivery, metrics, logs, shutdown.

Messages carry who, what object, which event, the link, breakglass's reason and paths: never
a field's value.
"""

from __future__ import annotations

from breakglass.notify.events import Kind, Notification, Session

__all__ = ["Kind", "Notification", "Session"]

"""The backfill worker: confirmed capture → edited manifest → commit → branch → pull request.

It runs in its own process (``breakglass worker``; ``breakglass serve`` starts one as its
child), so the GitOps index of a large repository and the YAML engine never compete with the
admission webhook for the event loop or the GIL.  One pass (``Worker.run_once``) does, in
order:

0. **pause and restore** (``pausing``, with ``sessions.pause_self_heal``) the GitOps
   controllers of break-glass sessions' applications, what is due first;
1. **confirm** (``confirm``) provisional captures older than the grace period against the
   live object;
2. **backfill** (``apply``, with ``locate``, ``grouping``, ``render`` and ``secrets``)
   confirmed captures, oldest first, into commits on a branch and a pull request per
   session, per person's burst, or per object;
3. **track** (``tracking``) open pull requests: merged, closed, or reverted by the GitOps
   controller;
4. **scan** (``scanning``) when ``scan.interval`` is due;
5. **announce** (``announce``) sessions opened and ended to the notification destinations.

``context`` holds the state the stages share and fences every write with the leadership term;
``inputs`` holds the pure decisions; ``connect`` builds the cluster reader and the forges.
"""

from breakglass.worker.connect import connect_cluster, make_provider
from breakglass.worker.context import Context, LostLeadership, PassSummary
from breakglass.worker.inputs import engine_inputs, identity_for
from breakglass.worker.loop import Worker

__all__ = [
    "Context",
    "LostLeadership",
    "PassSummary",
    "Worker",
    "connect_cluster",
    "engine_inputs",
    "identity_for",
    "make_provider",
]

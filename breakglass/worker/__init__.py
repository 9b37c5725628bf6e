"""The backfill worker: confirmed capture → edited manifest → commit → branch → pull request.

It runs in its own process (``breakglass worker``; ``breakglass serve`` starts one as its
child), so the GitOps index of a large repository and the YAML engine never compete with the
admission webhook for the event loop or the GIL.  One pass (``Worker.run_once``) does, in
order:

1. **confirm** (``confirm``) provisional captures older than the grace period against the
   live object;
2. **backfill** (``apply``, with ``locate``, ``render`` and ``secrets``) confirmed captures,
   one object at a time, oldest first, into a commit on a stable branch and a pull request;
3. **track** (``tracking``) open pull requests: merged, closed, or reverted by the GitOps
   controller.

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

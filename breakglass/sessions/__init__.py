"""Break-glass sessions: an engineer says "I am changing production by hand, for this reason,
for this long, here", as a Kubernetes object the API server authenticates.

``objects`` is the ``BreakglassSession`` custom resource (what ``breakglass open`` creates, and
the rules the webhook applies to it), ``policy`` which session a capture belongs to and what
``admission.mode`` decides for a manual write (both pure); ``book`` keeps the open sessions
the webhook asks about, fed by the journal.
"""

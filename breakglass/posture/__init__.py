"""``breakglass posture``: which GitOps applications would even revert a manual change.

The first half of a drift audit: an inventory of every Argo CD Application and Flux
Kustomization/HelmRelease with what its settings mean for a manual change: **enforcing** (the
controller puts Git's value back, within an expected time), **notifying** (drift is shown, not
reverted), **triggered only** (applied when Git changes, never compared again), **suspended**;
plus the namespaces whose workloads no GitOps tool manages, and what the journal says happened
to manual changes per application.  ``classify`` decides (pure), ``run`` reads the cluster and
the journal, ``output`` writes the table, Markdown and JSON.
"""

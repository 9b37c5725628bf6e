"""``breakglass report``: the week's answers, for a pull request, a wiki page or a manager.

How many resources drifted, how long drift lasted before breakglass knew of it and before Git
caught up, what share was backfilled, what the GitOps controllers reverted, the drift debt (open
pull requests, oldest first, with age and assignee), the busiest namespaces, applications and
people, and what needs a human.  ``build`` computes a ``PeriodReport`` from the journal's
captures (pure); ``markdown``, ``html`` (one self-contained file, inline SVG charts, no scripts)
and ``to_json`` write it.
"""

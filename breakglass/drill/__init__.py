"""``breakglass drill``: measure whether each GitOps application really reverts a manual change.

A drill makes a small, marked change to a few objects of each application as the person
running it, watches each object until its controller puts Git's value back or a deadline
passes, and always restores what it changed.  ``marker`` says what is changed and how it is
marked and put back, ``plan`` what is drilled and what a result means (both pure), ``run`` the
I/O (plan from the cluster, change, watch, restore, ``--cleanup``), ``output`` the tables.
"""

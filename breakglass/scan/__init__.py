"""``breakglass scan``: drift that never passed through the webhook, found in the cluster.

A manual change made before breakglass was installed, or while it was down (the webhook fails
open), is still visible afterwards: its value differs from Git's render, or Git never had the
field, and ``metadata.managedFields`` says which tool wrote it and when it last did.  A scan
reads both and reports what a *person's* tool changed, and with ``--backfill`` records it as
captures (source ``scan``) that the worker turns into the same render-checked pull requests.

Modules, one job each:

- ``sources``: the places Git applies from (Argo CD, Flux, ``repos:`` rules) and their renders;
- ``managers``: whether a field manager is a GitOps controller, the system or a person;
- ``fields``: the drifted fields of one object (pure);
- ``attribution``: who made a change, from the API server's own audit log files;
- ``run``: one scan: LIST page by page, judge, link to existing captures, record;
- ``output``: the table, Markdown and JSON a person or a CI job reads.
"""

"""The GitOps engine: find the manifest that owns a live object and write a change into it.

See ``engine`` for the orchestration and ``docs/gitops-engine.md`` for what is supported.
This package is the only home of the round-trip YAML library (``roundtrip``).
"""

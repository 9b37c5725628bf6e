"""Benchmarks for breakglass: run with ``python -m bench NAME`` (``python -m bench`` lists them)."""

"""The backfill tests' bare Git remote, for the worker these tests drive."""

from tests.backfill.conftest import remote

__all__ = ["remote"]

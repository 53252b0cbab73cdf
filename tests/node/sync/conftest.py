"""Fixtures shared by the sync tests: ``make_node`` (test_sync.py) starts real nodes."""

from .test_sync import make_node  # noqa: F401  (a fixture, for every module here)

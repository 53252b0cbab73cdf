"""Hedgerow's command line: parses, calls node/, prints. It holds no logic."""

from .main import main

__all__ = ["main"]

"""Shared test fixtures and paths."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Conformance data shipped beside the project (never copied into it).
SHARED = ROOT.parent / "shared"

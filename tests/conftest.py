"""Shared test settings and paths."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
#: Conformance data shipped beside the project (never copied into it).
SHARED = ROOT.parent / "shared"

# The machines that run the suite are shared and noisy: no per-example
# deadlines or "too slow" health checks (timing is the benchmarks' job), and
# a fixed seed, so that a run can be repeated exactly.
settings.register_profile(
    "hedgerow", deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("hedgerow")

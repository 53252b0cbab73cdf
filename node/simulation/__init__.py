"""``hedgerow simulate``: a whole network on virtual time, running the real protocol code.

:func:`simulate` runs a :class:`SimulationSettings` once per seed, each run a
:class:`SeedResult`; :func:`summarise` gives the figures the command prints.
:mod:`.network` says what is modelled and which shortcuts keep a 10,000-node
network fast; docs/simulation.md says what the figures mean.
"""

from .network import Network, run_seed, simulate
from .results import (
    SUMMARY_KEYS,
    PublicationResult,
    SeedResult,
    SimulationSettings,
    percentile,
    summarise,
)

__all__ = [
    "SUMMARY_KEYS",
    "Network",
    "PublicationResult",
    "SeedResult",
    "SimulationSettings",
    "percentile",
    "run_seed",
    "simulate",
    "summarise",
]

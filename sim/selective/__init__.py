"""capdyn.sim.selective — Monte Carlo experiments S1–S4 of selective_attention.md §4 (numba kernels), each
returning estimates with standard errors beside the ``theory.selective`` values at the same points.
``sim.selective.naive`` holds the plain float64 references with the same signatures.
"""

from sim.selective import naive
from sim.selective.experiments import (
    ESTIMATORS,
    DilutionMC,
    HopfieldMC,
    TemperatureInvariance,
    ValueGatingMC,
    WriteGatingMC,
    dilution_mc,
    hopfield_mc,
    temperature_invariance,
    value_gating_mc,
    write_gating_mc,
)

__all__ = [
    "ESTIMATORS",
    "DilutionMC",
    "HopfieldMC",
    "TemperatureInvariance",
    "ValueGatingMC",
    "WriteGatingMC",
    "dilution_mc",
    "hopfield_mc",
    "naive",
    "temperature_invariance",
    "value_gating_mc",
    "write_gating_mc",
]

"""Associative-memory view of the query temperature (selective_attention.md §3.6).

Hopfield readout ξ ← Xᵀ softmax(βXξ) with N stored patterns and separation Δ: retrieval error
≈ (N − 1)e^{−βΔ} (constant as paraphrased in the spec), so a fixed error needs β growing like log N.
"""

from __future__ import annotations

import numpy as np

from theory._validate import at_least, integers, open_interval, out
from theory.selective.derivations import lambdified


def hopfield_error(beta, N, separation):
    """Retrieval error estimate (N − 1)·exp(−βΔ) (§3.6). beta >= 0; N: integer >= 1; separation Δ > 0."""
    beta = at_least("beta", beta, 0.0)
    N = integers("N", N, 1)
    sep = at_least("separation", separation, 0.0, strict=True)
    return out((N - 1.0) * np.exp(-beta * sep))


def hopfield_beta(N, separation, eps):
    """β = (log(N − 1) + log(1/ε))/Δ: the smallest β with (N − 1)e^{−βΔ} <= ε (§3.6).

    Equivalently β = β0(1 + s log(N − 1)) with β0 = log(1/ε)/Δ and s = 1/log(1/ε) = 1/(β0Δ): the §3.2
    schedule with s = 1/(base gap). N: integer >= 2; separation Δ > 0; eps ∈ (0, 1).
    """
    N = integers("N", N, 2)
    sep = at_least("separation", separation, 0.0, strict=True)
    eps = open_interval("eps", eps, 0.0, 1.0)
    return out((np.log(N - 1.0) - np.log(eps)) / sep)


def capacity_log_N(beta, d):
    """Annealed capacity heuristic log N_max ≈ β − β²/(2d) for unit random keys in R^d (§3.6; qualitative).

    beta >= 0; d: integer >= 1. Maximal at β = d with log N = d/2 (``capacity_peak``).
    """
    beta = at_least("beta", beta, 0.0)
    d = integers("d", d, 1)
    return out(lambdified("capacity")(beta, d))


def capacity_peak(d):
    """(β*, log N*) = (d, d/2): the β maximising ``capacity_log_N`` and the capacity there (§3.6)."""
    d = integers("d", d, 1)
    return out(d), out(d / 2.0)

"""Plain float64 references of ``sim.memory.schemes`` with the same signatures (associative_memory.md §9).

Each memory is formed explicitly, W_q = Σ_x q(x) u_{f*(x)} e_xᵀ (``theory.memory.weighted_memory``), and read out
by ``theory.memory.memory_error`` (argmax of U W e_x, ties to the lowest class): the textbook form of what the
kernel computes through K = UUᵀ and the class sums Z_m.
"""

from __future__ import annotations

import numpy as np

from sim.memory import schemes as _fast
from theory.memory import memory_error, weighted_memory


def memory_errors(E, U, f_star, p, Q, return_fraction=False):
    """Same as :func:`sim.memory.schemes.memory_errors`."""
    E, U, f, p, Q = _fast._check_memory_batch(E, U, f_star, p, Q)
    out = np.empty((E.shape[0], Q.shape[1]))
    frac = np.empty_like(out)
    uniform = np.full(len(f), 1.0 / len(f))
    for b in range(E.shape[0]):
        for c in range(Q.shape[1]):
            W = weighted_memory(Q[b, c], E[b], U[b], f)
            out[b, c] = memory_error(W, p, E[b], U[b], f)
            frac[b, c] = memory_error(W, uniform, E[b], U[b], f)
    return (out, frac) if return_fraction else out


def scheme_error_mc(schemes, d, T=(None,), *, alpha=2.0, N=1000, M=5, trials=20, seed=0, inputs="gaussian",
                    outputs="sphere") -> _fast.SchemeMC:
    """Same as :func:`sim.memory.schemes.scheme_error_mc`, with the explicit memories."""
    return _fast.monte_carlo(memory_errors, schemes, d, T, alpha, N, M, trials, seed, inputs, outputs)

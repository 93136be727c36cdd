"""Plain float64 references of ``sim.memory.capacity`` (same signatures).

The kernels here form what the fast kernels avoid: the full [N, M] score matrix E Wᵀ Uᵀ, reduced with
``numpy.argmax`` (ties to the lowest class, as in the fast path), and the memory as an explicit sum of outer
products. The public references run the same drivers as ``sim.memory.capacity`` with these kernels, so both
see identical random draws and take identical search paths.
"""

from __future__ import annotations

import sys

import numpy as np

from sim.memory import capacity

# ----------------------------------------------------------------------------------------------------------------
# kernels


def weighted_memory_kernel(q, E, U, f, W):
    """Reference of ``capacity.weighted_memory_kernel``: W[r] = Σ_x q[r, x] U[r, f[r, x]] ⊗ E[r, x]."""
    for r in range(E.shape[0]):
        W[r] = np.einsum("x,xa,xb->ab", q[r], U[r][f[r]], E[r])


def _clip(errors, max_errors):
    return errors if max_errors < 0 else min(errors, max_errors + 1)


def top1_errors_kernel(W, E, U, f, max_errors, block, out):
    """Reference of ``capacity.top1_errors_kernel``: full scores S = E Wᵀ Uᵀ [N, M] and ``argmax``."""
    for r in range(E.shape[0]):
        S = E[r] @ W[r].T @ U[r].T
        out[r] = _clip(int(np.sum(np.argmax(S, axis=1) != f[r])), max_errors)


def hebbian_errors_kernel(E, U, f, max_errors, block, out):
    """Reference of ``capacity.hebbian_errors_kernel``: W = Σ_x u_{f(x)} e_xᵀ, then full scores and ``argmax``."""
    R, N, _ = E.shape
    W = np.empty((R, U.shape[2], E.shape[2]))
    weighted_memory_kernel(np.ones((R, N)), E, U, f, W)
    top1_errors_kernel(W, E, U, f, max_errors, block, out)


# ----------------------------------------------------------------------------------------------------------------
# public functions (same drivers, reference kernels)

_SELF = sys.modules[__name__]


def weighted_memory(q, E, U, f_star) -> np.ndarray:
    """Reference of ``capacity.weighted_memory``."""
    return capacity.weighted_memory(q, E, U, f_star, kernels=_SELF)


def top1_errors(W, E, U, f_star, max_errors=None) -> int:
    """Reference of ``capacity.top1_errors``."""
    return capacity.top1_errors(W, E, U, f_star, max_errors, kernels=_SELF)


def top1_accuracy(W, E, U, f_star) -> float:
    """Reference of ``capacity.top1_accuracy``."""
    return capacity.top1_accuracy(W, E, U, f_star, kernels=_SELF)


def hebbian_accuracy(N, M, d, draws=20, seed=0, law: str = "sphere", targets_kind=None) -> capacity.HebbianMC:
    """Reference of ``capacity.hebbian_accuracy``."""
    return capacity._hebbian_accuracy(hebbian_errors_kernel, N, M, d, draws, seed, law, targets_kind)


def hebbian_capacity(d, M=None, draws=20, seed=0, level=0.99, lo=None, hi=None, ratio=1.02, expand=2.0,
                     law: str = "sphere", targets_kind=None) -> capacity.HebbianCapacity:
    """Reference of ``capacity.hebbian_capacity``."""
    return capacity._hebbian_capacity(hebbian_errors_kernel, d, M, draws, seed, level, lo, hi, ratio, expand, law,
                                      targets_kind)

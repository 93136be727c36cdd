"""Monte Carlo of the population moments and of the loss (icl_linear_attention.md §4, claim #1).

x_n, x_q ~ N(0, Λ) (x = C z with C the Cholesky factor of Λ), w ~ N(0, I_D), Λ̂ = (1/N) Σ_n x_n x_nᵀ, β = Λ̂ w,
y_q = wᵀ x_q. Estimates E[Λ̂²] and L(M) = E(y_q − βᵀ M x_q)² (un-halved) with standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.icl import kernels
from theory._validate import count, spd_matrix

CHUNK = 8192  # samples drawn per call of the kernel (bounds memory: CHUNK·(N+2)·D normals)
N_BLOCKS = 16  # fixed partial-sum blocks per chunk, so results do not depend on the thread count


@dataclass(frozen=True, eq=False)
class MCMoments:
    """n_samples; S2, S2_se [D, D]: mean of Λ̂² and its standard error; loss, loss_se [k] or [] (shape of
    M.shape[:-2]) for the matrices M passed, None without M."""

    n_samples: int
    S2: np.ndarray
    S2_se: np.ndarray
    loss: np.ndarray | None
    loss_se: np.ndarray | None


def _mean_se(s, sq, n):
    mean = s / n
    var = np.maximum(sq - n * mean**2, 0.0) / (n - 1)
    return mean, np.sqrt(var / n)


def _mc_moments(kernel, Lam, N, n_samples, seed, M):
    Lam = spd_matrix("Lam", Lam)
    N = count("N", N)
    n_samples = count("n_samples", n_samples, minimum=2)
    D = Lam.shape[0]
    if M is None:
        Ms = np.zeros((0, D, D))
        mshape = None
    else:
        Ms = np.array(M, dtype=float)
        if Ms.ndim not in (2, 3) or Ms.shape[-2:] != (D, D):
            raise ValueError(f"M must have shape [{D}, {D}] or [k, {D}, {D}] to match Lam, got {Ms.shape}")
        if not np.all(np.isfinite(Ms)):
            raise ValueError("M must be finite")
        mshape = Ms.shape[:-2]
        Ms = np.ascontiguousarray(Ms.reshape(-1, D, D))
    k = Ms.shape[0]
    C = np.ascontiguousarray(np.linalg.cholesky(Lam))
    rng = np.random.default_rng(seed)
    s2_sum = np.zeros((D, D))
    s2_sq = np.zeros((D, D))
    l_sum = np.zeros(k)
    l_sq = np.zeros(k)
    bs2, bsq = np.empty((N_BLOCKS, D, D)), np.empty((N_BLOCKS, D, D))
    bl, blq = np.empty((N_BLOCKS, k)), np.empty((N_BLOCKS, k))
    done = 0
    while done < n_samples:
        B = min(CHUNK, n_samples - done)
        Zx = rng.standard_normal((B, N + 1, D))
        Zw = rng.standard_normal((B, D))
        kernel(C, Zx, Zw, Ms, bs2, bsq, bl, blq)
        s2_sum += bs2.sum(axis=0)
        s2_sq += bsq.sum(axis=0)
        l_sum += bl.sum(axis=0)
        l_sq += blq.sum(axis=0)
        done += B
    S2, S2_se = _mean_se(s2_sum, s2_sq, n_samples)
    if mshape is None:
        return MCMoments(n_samples, S2, S2_se, None, None)
    L, L_se = _mean_se(l_sum, l_sq, n_samples)
    return MCMoments(n_samples, S2, S2_se, L.reshape(mshape), L_se.reshape(mshape))


def mc_moments(Lam, N, n_samples, seed, M=None) -> MCMoments:
    """Sampled E[Λ̂²] [D, D] and, for M [D, D] or [k, D, D], L(M), with standard errors (§4, claim #1).

    Lam [D, D] SPD; N >= 1 context pairs; n_samples >= 2 independent sequences; seed for
    ``numpy.random.default_rng``. The draws are made outside the numba kernel, in chunks of ``CHUNK`` samples.
    """
    return _mc_moments(kernels.mc_kernel, Lam, N, n_samples, seed, M)

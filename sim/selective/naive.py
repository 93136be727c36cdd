"""Plain float64 references of ``sim.selective.kernels`` and of the public experiments (same signatures).

The kernels here form the full arrays the fast kernels avoid (cosine and logit matrices per block, softmax weight
vectors, the [N, D_φ] feature matrix) and reduce them with numpy; the public references run the same drivers as
``sim.selective.experiments`` with these kernels, so they see identical random draws.
"""

from __future__ import annotations

import numpy as np

from sim.selective import experiments, kernels

# ----------------------------------------------------------------------------------------------------------------
# kernels


def needle_kernel(U, Z, j0, scale, n_grid, mx, sm, cmax):
    """Reference of ``kernels.needle_kernel`` (same arguments, same accumulator representation)."""
    L = Z.shape[1]
    if L == 0:
        return
    C = np.einsum("ble,be->bl", Z, U) / np.linalg.norm(Z, axis=2)  # [B, L] cosines
    j = j0 + np.arange(L)
    for g, ng in enumerate(n_grid):
        vis = j < ng - 1
        if not vis.any():
            continue
        c = C[:, vis]
        cmax[:, g] = np.maximum(cmax[:, g], c.max(axis=1))
        for t in range(scale.shape[1]):
            lg = scale[g, t] * c
            old_mx = mx[:, g, t]
            new_mx = np.maximum(old_mx, lg.max(axis=1))
            with np.errstate(invalid="ignore"):
                kept = np.where(np.isneginf(old_mx), 0.0, sm[:, g, t] * np.exp(old_mx - new_mx))
            sm[:, g, t] = kept + np.exp(lg - new_mx[:, None]).sum(axis=1)
            mx[:, g, t] = new_mx


def value_gate_kernel(theta, Zr, Zi, sigma, sigma_n, params, sq):
    """Reference of ``kernels.value_gate_kernel``: explicit values, softmax weights and readout."""
    m = Zr.shape[1]
    for s in range(params.shape[0]):
        V = np.concatenate([theta[:, None, :] + sigma * Zr, sigma_n[s] * Zi], axis=1)  # [B, n, d]
        for e in range(params.shape[1]):
            lr, li, tr, ti = params[s, e]
            logits = np.array([lr] * m + [li] * Zi.shape[1])
            w = np.exp(logits - logits.max())
            w /= w.sum()
            tau = np.array([tr] * m + [ti] * Zi.shape[1])
            est = np.einsum("j,bjd->bd", w * tau, V)
            sq[:, s, e] = np.mean((est - theta) ** 2, axis=1)


def _features(phi, X):
    """φ applied to the last axis of X [..., d] -> [..., D_φ] (see ``kernels._features``)."""
    outer = np.einsum("...a,...c->...ac", X, X).reshape(*X.shape[:-1], -1)
    if phi == kernels.PHI_IDENTITY:
        return X
    if phi == kernels.PHI_SQUARE:
        return outer
    return np.concatenate([np.ones(X.shape[:-1] + (1,)), X, outer / np.sqrt(2.0)], axis=-1)


def linear_memory_kernel(phi, K, V, g, Qr, num, den):
    """Reference of ``kernels.linear_memory_kernel``: feature matrices, state and readout in matrix form."""
    F = _features(phi, K)  # [B, N, D]
    S = np.einsum("bn,bnv,bnf->bvf", g, V, F)
    z = np.einsum("bn,bnf->bf", g, F)
    Fq = _features(phi, Qr)
    num[...] = np.einsum("bvf,bqf->bqv", S, Fq)
    den[...] = np.einsum("bf,bqf->bq", z, Fq)


# ----------------------------------------------------------------------------------------------------------------
# public references with the signatures of sim.selective


def dilution_mc(n, Delta0=3.0, d=64, s=None, trials=200, seed=0, sampler="vectors"):
    """Reference of ``sim.selective.dilution_mc`` (same signature, draws and result)."""
    return experiments._dilution(needle_kernel, n, Delta0, d, s, trials, seed, sampler)


def hopfield_mc(N, beta, d=16, trials=200, seed=0, sampler="vectors"):
    """Reference of ``sim.selective.hopfield_mc`` (same signature, draws and result)."""
    return experiments._hopfield(needle_kernel, N, beta, d, trials, seed, sampler)


def value_gating_mc(sigma_n2, n=32, m=4, sigma2=4.0, d=16, trials=20_000, seed=0, sampler="tokens"):
    """Reference of ``sim.selective.value_gating_mc`` (same signature, draws and result)."""
    return experiments._value_gating(value_gate_kernel, sigma_n2, n, m, sigma2, d, trials, seed, sampler)


def write_gating_mc(N, N_active, d=64, d_v=16, trials=300, seed=0):
    """Reference of ``sim.selective.write_gating_mc`` (same signature, draws and result)."""
    return experiments._write_gating(linear_memory_kernel, N, N_active, d, d_v, trials, seed)


def temperature_invariance(phi="square", tau=(0.3, 3.7, 10.0), d=8, N=64, d_v=4, trials=16, seed=0):
    """Reference of ``sim.selective.temperature_invariance`` (same signature, draws and result)."""
    return experiments._temperature_invariance(linear_memory_kernel, phi, tau, d, N, d_v, trials, seed)

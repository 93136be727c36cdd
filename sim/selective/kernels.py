"""Numba kernels of the selective-attention Monte Carlo (selective_attention.md §4, experiments S1–S4).

Every kernel has a plain float64 reference with the same signature in ``sim.selective.naive``. Randomness is drawn
by the wrappers in ``sim.selective.experiments`` and passed in; ``prange`` runs over independent trials only, and
every output row belongs to one trial, so results do not depend on the thread count.

- ``needle_kernel`` (S1, S2): streaming logsumexp of competitor logits, one block of keys per call, with
  accumulators carried between calls, so no [trials, n] score matrix is ever formed.
- ``value_gate_kernel`` (S3): one attention readout per trial and estimator, with value temperatures, computed
  with an online softmax over the tokens (values are built on the fly from θ and the noise).
- ``linear_memory_kernel`` (S4): gated linear-attention state S = Σ_j g_j v_j φ(k_j)ᵀ, z = Σ_j g_j φ(k_j), built
  token by token and read at the queries; φ(k) is formed in a scratch vector, never as a [N, D_φ] matrix.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# feature maps of the linear-memory kernel (§3.7): identity (degree 1), x ⊗ x (degree 2), Taylor [1, x, x⊗x/√2]
PHI_IDENTITY = 0
PHI_SQUARE = 1
PHI_TAYLOR = 2

_INV_SQRT2 = 1.0 / np.sqrt(2.0)


@njit(cache=True, parallel=True)
def needle_kernel(U, Z, j0, scale, n_grid, mx, sm, cmax):
    """One block of competitor keys for the needle experiments S1/S2 (§4), trial by trial.

    U [B, e]: unit query direction of each trial (the needle key); Z [B, L, e]: competitor keys j0 .. j0+L−1 of each
    trial, any nonzero rows (normalized here, so c_j = cos(z_j, u)); scale [G, T]: logit multiplier, competitor j
    has logit scale[g, t]·c_j at checkpoint g and setting t; n_grid [G] int64: visible keys at each checkpoint
    (needle included), so competitor j is visible at checkpoint g iff j < n_grid[g] − 1.
    In/out (start at −inf, 0, −inf): mx, sm [B, G, T]: running max and Σ exp(logit − mx) of the visible
    competitor logits (their logsumexp is mx + log sm); cmax [B, G]: largest visible competitor cosine.
    """
    B, L, e = Z.shape
    G, T = scale.shape
    for b in prange(B):
        for jl in range(L):
            j = j0 + jl
            dot = 0.0
            nrm = 0.0
            for a in range(e):
                z = Z[b, jl, a]
                dot += z * U[b, a]
                nrm += z * z
            c = dot / np.sqrt(nrm)
            for g in range(G):
                if j >= n_grid[g] - 1:
                    continue
                if c > cmax[b, g]:
                    cmax[b, g] = c
                for t in range(T):
                    lg = scale[g, t] * c
                    m = mx[b, g, t]
                    if lg > m:
                        # the old sum is rescaled to the new max; exp(−inf) = 0 covers the empty start
                        sm[b, g, t] = sm[b, g, t] * np.exp(m - lg) + 1.0
                        mx[b, g, t] = lg
                    else:
                        sm[b, g, t] += np.exp(lg - m)


@njit(cache=True, parallel=True)
def value_gate_kernel(theta, Zr, Zi, sigma, sigma_n, params, sq):
    """Per-coordinate squared error of value-gated attention readouts in the §3.5 model (S3), trial by trial.

    theta [B, d]: signal θ ~ N(0, I); Zr [B, m, d], Zi [B, n−m, d]: standard normal noise of the relevant values
    θ + σ z and of the irrelevant values σ_n z; sigma: σ >= 0; sigma_n [S]: σ_n >= 0 per noise level;
    params [S, E, 4]: per noise level s and estimator e, (logit of every relevant token, logit of every
    irrelevant token, τ_v on relevant, τ_v on irrelevant); an irrelevant logit of −inf removes those tokens.
    The readout is θ̂ = Σ_j softmax(logits)_j τ_v,j v_j (§2.2). Out: sq [B, S, E] = ‖θ̂ − θ‖²/d.
    """
    B, d = theta.shape
    m = Zr.shape[1]
    k = Zi.shape[1]
    S, E = params.shape[0], params.shape[1]
    for b in prange(B):
        acc = np.empty(d)
        for s in range(S):
            for e in range(E):
                lr = params[s, e, 0]
                li = params[s, e, 1]
                tr = params[s, e, 2]
                ti = params[s, e, 3]
                for a in range(d):
                    acc[a] = 0.0
                mx = -np.inf
                tot = 0.0
                # online softmax (flash-attention style): acc and tot are kept relative to the running max mx
                for j in range(m + k):
                    lg = lr if j < m else li
                    if lg == -np.inf:
                        continue
                    if lg > mx:
                        r = np.exp(mx - lg)
                        tot *= r
                        for a in range(d):
                            acc[a] *= r
                        mx = lg
                    w = np.exp(lg - mx)
                    tot += w
                    if j < m:
                        for a in range(d):
                            acc[a] += w * tr * (theta[b, a] + sigma * Zr[b, j, a])
                    else:
                        for a in range(d):
                            acc[a] += w * ti * (sigma_n[s] * Zi[b, j - m, a])
                err = 0.0
                for a in range(d):
                    diff = acc[a] / tot - theta[b, a]
                    err += diff * diff
                sq[b, s, e] = err / d


@njit(cache=True)
def _features(phi, x, f):
    """φ(x) into f [D_φ]: identity x; square vec(x xᵀ); Taylor [1, x, vec(x xᵀ)/√2], so that φ(x)·φ(y) is
    x·y, (x·y)² and 1 + x·y + (x·y)²/2 respectively."""
    d = x.shape[0]
    if phi == PHI_IDENTITY:
        for a in range(d):
            f[a] = x[a]
    elif phi == PHI_SQUARE:
        for a in range(d):
            for c in range(d):
                f[a * d + c] = x[a] * x[c]
    else:
        f[0] = 1.0
        for a in range(d):
            f[1 + a] = x[a]
        o = 1 + d
        for a in range(d):
            for c in range(d):
                f[o + a * d + c] = x[a] * x[c] * _INV_SQRT2


@njit(cache=True, parallel=True)
def linear_memory_kernel(phi, K, V, g, Qr, num, den):
    """Gated linear-attention memory read at given queries (§3.7, §3.8; S4), trial by trial.

    phi: feature map code (PHI_IDENTITY, PHI_SQUARE, PHI_TAYLOR); K [B, N, d]: keys; V [B, N, d_v]: values;
    g [B, N]: write gates τ_v (a zero gate writes nothing); Qr [B, Q, d]: queries. The state
    S = Σ_j g_j v_j φ(k_j)ᵀ [d_v, D_φ] and normalizer z = Σ_j g_j φ(k_j) [D_φ] are accumulated token by token.
    Out: num [B, Q, d_v] = S φ(q) (unnormalized readout), den [B, Q] = z·φ(q) (the normalized readout is num/den).
    """
    B, N, d = K.shape
    dv = V.shape[2]
    Q = Qr.shape[1]
    if phi == PHI_IDENTITY:
        D = d
    elif phi == PHI_SQUARE:
        D = d * d
    else:
        D = 1 + d + d * d
    for b in prange(B):
        Sm = np.zeros((dv, D))
        z = np.zeros(D)
        f = np.empty(D)
        for j in range(N):
            gj = g[b, j]
            if gj == 0.0:
                continue
            _features(phi, K[b, j], f)
            for p in range(D):
                z[p] += gj * f[p]
            for c in range(dv):
                w = gj * V[b, j, c]
                for p in range(D):
                    Sm[c, p] += w * f[p]
        for q in range(Q):
            _features(phi, Qr[b, q], f)
            s = 0.0
            for p in range(D):
                s += z[p] * f[p]
            den[b, q] = s
            for c in range(dv):
                s = 0.0
                for p in range(D):
                    s += Sm[c, p] * f[p]
                num[b, q, c] = s

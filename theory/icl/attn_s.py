"""ATTN_S (separate key and query, rank R, H heads) (icl_linear_attention.md §6).

Paper units: τ = 1, 1/N-normalized attention, un-halved MSE. Head i has a value weight v_i and R key/query
pairs k_{i,r}, q_{i,r} ∈ R^D; M = Σ_i v_i Σ_r k_{i,r} q_{i,r}ᵀ and ŷ_q = βᵀ M x_q. Eigenvalues are indexed in
descending order from 0 (the spec's d = 1..D is index d − 1 here), so a subset S of {0..D−1} names
eigenvectors of Λ and M_m = M({0..m−1}).
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from scipy.optimize import brentq

from theory._validate import count, positive_finite
from theory.icl import derivations as der
from theory.icl import units
from theory.icl.attn_m import _check_moments, _scalar
from theory.icl.modes import eigh_descending, mode_function, sorted_eigvals
from theory.icl.moments import Moments, error_signal


def _heads_attn_s(v, K, Q, D=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.asarray(v, dtype=float)
    K = np.asarray(K, dtype=float)
    Q = np.asarray(Q, dtype=float)
    if K.ndim != 3:
        raise ValueError(f"K must have shape [H, R, D], got {K.shape}")
    if D is not None and K.shape[2] != D:
        raise ValueError(f"K must have shape [H, R, {D}] to match Lam, got {K.shape}")
    if Q.shape != K.shape:
        raise ValueError(f"Q must have the shape of K {K.shape}, got {Q.shape}")
    if v.shape != (K.shape[0],):
        raise ValueError(f"v must have shape [H] = [{K.shape[0]}], got {v.shape}")
    return v, K, Q


def attn_s_matrix(v, K, Q) -> np.ndarray:
    """M = Σ_i v_i Σ_r k_{i,r} q_{i,r}ᵀ [D, D] (Eq. S)."""
    v, K, Q = _heads_attn_s(v, K, Q)
    return np.einsum("h,hrd,hre->de", v, K, Q)


def attn_s_rhs(v, K, Q, mom: Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient-flow velocities of rank-R ATTN_S (Eq. 14 and its rank-R form, §6.1), τ = 1.

    dv_i/dt = Σ_r k_{i,r}ᵀ G q_{i,r}, dk_{i,r}/dt = v_i G q_{i,r}, dq_{i,r}/dt = v_i Gᵀ k_{i,r}, with
    G = Λ² − E[Λ̂²] M Λ and Gᵀ = Λ² − Λ Mᵀ E[Λ̂²]. v [H], K, Q [H, R, D] → (dv [H], dK, dQ [H, R, D]).
    """
    mom = _check_moments(mom)
    v, K, Q = _heads_attn_s(v, K, Q, mom.Lam.shape[0])
    G = error_signal(np.einsum("h,hrd,hre->de", v, K, Q), mom)
    GQ = np.einsum("de,hre->hrd", G, Q)  # G q_{i,r}
    GtK = np.einsum("ed,hre->hrd", G, K)  # Gᵀ k_{i,r}
    return np.einsum("hrd,hrd->h", K, GQ), v[:, None, None] * GQ, v[:, None, None] * GtK


def attn_s_conserved(v, K, Q) -> tuple[np.ndarray, np.ndarray]:
    """Conserved quantities of the ATTN_S flow (§6.1): v_i² − Σ_r ‖k_{i,r}‖² [H] and ‖k_{i,r}‖² − ‖q_{i,r}‖² [H, R]."""
    v, K, Q = _heads_attn_s(v, K, Q)
    kk = np.einsum("hrd,hrd->hr", K, K)
    return v**2 - kk.sum(axis=1), kk - np.einsum("hrd,hrd->hr", Q, Q)


# ---------------------------------------------------------------------------------------------------------
# §6.2–6.3, §6.5: fixed points, plateaus, PCR
# ---------------------------------------------------------------------------------------------------------


def drop_sizes(eigvals, N) -> np.ndarray:
    """Size of drop m = 1..D: λ_m/κ_m = Nλ_m²/((N+1)λ_m + tr Λ) (§6.3), descending-λ order [D]."""
    lams = sorted_eigvals(eigvals)
    N = count("N", N)
    return mode_function("drop", lams, float(lams.sum()), N)


def plateau_losses(eigvals, N) -> np.ndarray:
    """L(M_m) = tr Λ − Σ_{d≤m} λ_d/κ_d for m = 0..D (Eq. 19) [D+1]; eigenvalues in any order."""
    lams = sorted_eigvals(eigvals)
    drops = drop_sizes(lams, N)
    return float(lams.sum()) - np.concatenate([[0.0], np.cumsum(drops)])


def head_magnitudes(eigvals, N) -> np.ndarray:
    """Balanced learned-head magnitude |v_i| = ‖k_i‖ = ‖q_i‖ = (λ_d κ_d)^(−1/3) (Eq. 20), descending λ [D]."""
    lams = sorted_eigvals(eigvals)
    N = count("N", N)
    return mode_function("head_magnitude", lams, float(lams.sum()), N)


def _check_subset(S, D: int) -> list[int]:
    try:
        items = list(S)
    except TypeError:
        raise ValueError(f"S must be an iterable of eigenvector indices in 0..{D - 1}, got {S!r}") from None
    out = []
    for s in items:
        if isinstance(s, bool) or not float(s).is_integer() or not 0 <= int(s) < D:
            raise ValueError(f"S must contain integer indices in 0..{D - 1} (descending eigenvalues), got {S!r}")
        out.append(int(s))
    if len(set(out)) != len(out):
        raise ValueError(f"S must not repeat an index, got {S!r}")
    return sorted(out)


def fixed_point_matrix(S, Lam, N) -> np.ndarray:
    """M(S) = Σ_{d∈S} λ_d⁻¹ κ_d⁻¹ e_d e_dᵀ [D, D] (condition C1 of §6.2); S indexes descending eigenvalues."""
    lams, V = eigh_descending(Lam)
    N = count("N", N)
    S = _check_subset(S, lams.size)
    gamma = mode_function("gamma", lams, float(lams.sum()), N)
    Vs = V[:, S]
    return (Vs * gamma[S]) @ Vs.T


def fixed_point_loss(S, Lam, N) -> float:
    """L(M(S)) = tr Λ − Σ_{d∈S} λ_d/κ_d (§6.2)."""
    lams, _ = eigh_descending(Lam)
    N = count("N", N)
    S = _check_subset(S, lams.size)
    tr = float(lams.sum())
    return float(tr - mode_function("drop", lams, tr, N)[S].sum())


def fixed_point(S, Lam, N, H, R=1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights (v [H], K [H, R, D], Q [H, R, D]) of a member of M(S) (conditions C1–C3 of §6.2).

    Head j < |S| carries the j-th eigenvector of S (in descending-eigenvalue order) in its first key/query
    pair: v = ‖k‖ = ‖q‖ = (λ_d κ_d)^(−1/3) (balanced, so all conserved quantities vanish); its other R − 1 pairs
    and all remaining heads are zero. Needs H >= |S|.
    """
    lams, V = eigh_descending(Lam)
    N = count("N", N)
    D = lams.size
    S = _check_subset(S, D)
    H = count("H", H)
    R = count("R", R)
    if R > D:
        raise ValueError(f"R must be in 1..D = 1..{D}, got {R}")
    if H < len(S):
        raise ValueError(f"H must be >= |S| = {len(S)} (one head per learned eigenvector), got {H}")
    mags = mode_function("head_magnitude", lams, float(lams.sum()), N)
    v = np.zeros(H)
    K = np.zeros((H, R, D))
    Q = np.zeros((H, R, D))
    for head, d in enumerate(S):
        v[head] = mags[d]
        K[head, 0] = mags[d] * V[:, d]
        Q[head, 0] = mags[d] * V[:, d]
    return v, K, Q


def pcr_matrix(Lam, N, m) -> np.ndarray:
    """M_m = Σ_{d≤m} λ_d⁻¹κ_d⁻¹ e_d e_dᵀ [D, D] (Eq. 22): in-context principal component regression on the top m."""
    lams, _ = eigh_descending(Lam)
    m = count("m", m, minimum=0)
    if m > lams.size:
        raise ValueError(f"m must be in 0..D = 0..{lams.size}, got {m}")
    return fixed_point_matrix(range(m), Lam, N)


def rank_r_plateaus(D, R) -> list[int]:
    """Plateaus m in 0..D−1 predicted conspicuous for rank R: those with R | m (§6.6)."""
    D = count("D", D)
    R = count("R", R)
    if R > D:
        raise ValueError(f"R must be in 1..D = 1..{D}, got {R}")
    return [m for m in range(D) if m % R == 0]


# ---------------------------------------------------------------------------------------------------------
# §6.4: scalar ODE (Eq. 21), implicit solution, escape time
# ---------------------------------------------------------------------------------------------------------


@functools.cache
def _ode_fns() -> dict:
    sol = der.derive_scalar_ode()
    esc = der.derive_attn_s_escape()
    lf = functools.partial(sp.lambdify, modules="numpy", cse=True)
    return {
        "rhs": lf((der.v, der.lam, der.kappa), sol.rhs),
        "v_star": lf((der.lam, der.kappa), sol.v_star),
        "F": lf((der.u,), sol.F),
        "time": lf((der.v, der.v0, der.lam, der.kappa), sol.time),
        "escape": lf((der.lam, der.v0), esc.blowup_time),
    }


def scalar_ode_rhs(v, lam, kappa):
    """dv/dt = λ²v² − λ³κv⁵ (Eq. 21, τ = 1) for v of any shape."""
    lam, kappa = _scalar("lam", lam), _scalar("kappa", kappa)
    vv = np.asarray(v, dtype=float)
    if not np.all(np.isfinite(vv)):
        raise ValueError("v must be finite")
    out = np.asarray(_ode_fns()["rhs"](vv, lam, kappa), dtype=float)
    return float(out) if out.ndim == 0 else out


def scalar_ode_fixed_point(lam, kappa) -> float:
    """v* = (λκ)^(−1/3), the stable fixed point of Eq. 21 (the learned head magnitude)."""
    lam, kappa = _scalar("lam", lam), _scalar("kappa", kappa)
    return float(_ode_fns()["v_star"](lam, kappa))


def scalar_ode_F(u):
    """F(u) = −1/u − ln(1−u)/3 + ln(1+u+u²)/6 − arctan((2u+1)/√3)/√3 for u in (0, 1) (§6.4)."""
    uu = np.asarray(u, dtype=float)
    if not np.all(np.isfinite(uu)) or np.any(uu <= 0) or np.any(uu >= 1):
        raise ValueError(f"u must lie in (0, 1), got {u!r}")
    out = np.asarray(_ode_fns()["F"](uu), dtype=float)
    return float(out) if out.ndim == 0 else out


def _in_open_interval(name, x, upper) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0) or np.any(a >= upper):
        raise ValueError(f"{name} must lie in (0, v*) = (0, {upper:.6g}), got {x!r}")
    return a


def scalar_ode_time(v, v0, lam, kappa):
    """Time [τ] for Eq. 21 to carry v0 to v: t = [F(v/v*) − F(v0/v*)]/(λ² v*) (§6.4).

    v (scalar or array) and v0 (scalar) must lie in (0, v*); v < v0 gives a negative time.
    """
    lam, kappa = _scalar("lam", lam), _scalar("kappa", kappa)
    vstar = scalar_ode_fixed_point(lam, kappa)
    vv = _in_open_interval("v", v, vstar)
    a0 = _in_open_interval("v0", v0, vstar)
    if a0.ndim != 0:
        raise ValueError(f"v0 must be a scalar, got shape {a0.shape}")
    out = np.asarray(_ode_fns()["time"](vv, float(a0), lam, kappa), dtype=float)
    return float(out) if out.ndim == 0 else out


def _invert_F(target: float, lo: float, F) -> float:
    """u in [lo, 1) with F(u) = target; F increases from −∞ to +∞ on (0, 1)."""
    if F(lo) >= target:
        return lo
    top = np.nextafter(1.0, 0.0)
    if F(top) <= target:
        return top  # u equals 1 to float64 precision
    gap = 1.0 - lo
    hi = lo
    while True:
        prev, gap = hi, gap / 2
        hi = max(1.0 - gap, prev)
        if hi >= top or F(hi) >= target:
            hi = min(hi, top)
            break
    return brentq(lambda x: F(x) - target, prev, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=200)


def scalar_ode_v(t, v0, lam, kappa):
    """v(t) solving Eq. 21 from v(0) = v0 in (0, v*), by root finding on the implicit solution (§6.4).

    t [τ] >= 0, scalar or array; the result has the shape of t and lies in [v0, v*).
    """
    lam, kappa = _scalar("lam", lam), _scalar("kappa", kappa)
    vstar = scalar_ode_fixed_point(lam, kappa)
    a0 = _in_open_interval("v0", v0, vstar)
    if a0.ndim != 0:
        raise ValueError(f"v0 must be a scalar, got shape {a0.shape}")
    tt = positive_finite("t", t, allow_zero=True)
    F = _ode_fns()["F"]
    u0 = float(a0) / vstar
    targets = F(u0) + lam**2 * vstar * tt
    out = np.empty(targets.shape)
    for idx, target in np.ndenumerate(targets):
        out[idx] = _invert_F(float(target), u0, F)
    out = vstar * out
    return float(out) if out.ndim == 0 else out


def attn_s_escape_time(lam, v0):
    """1/(λ² v0) [τ]: blow-up time of the early phase dv/dt ≈ λ²v² of Eq. 21 (§6.4); arrays broadcast."""
    lam = positive_finite("lam", lam)
    v0 = positive_finite("v0", v0)
    out = np.asarray(_ode_fns()["escape"](lam, v0), dtype=float)
    return float(out) if out.ndim == 0 else out


def attn_s_escape_steps_code(lam, N, eta, v0_code):
    """Escape time in official-code GD steps: 1/(2ηNλ² v0_code) (§6.4); η, v0_code in code units."""
    N = count("N", N)
    v0 = units.paper_weights(positive_finite("v0_code", v0_code), N, "attn_s")
    return units.time_to_steps(attn_s_escape_time(lam, v0), eta, N, "attn_s", "code")

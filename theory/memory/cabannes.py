"""Scaling laws for associative memories (Cabannes, Dohmatob, Bietti; associative_memory.md §9).

Inputs x ∈ [N] (1-based rank x = index + 1) with Zipf law p(x) ∝ x^{−α}; T iid training samples; memories
W_q = Σ_x q(x) u_{f*(x)} e_xᵀ [d_u, d_e] read out by f̂(x) = argmax_y u_yᵀ W e_x; error E = Σ_x p(x)1{f̂ ≠ f*}.
Arrays: E [N, d_e] rows e_x, U [M, d_u] rows u_y, f_star [N] integers in [0, M).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gamma as gamma_fn
from scipy.special import wrightomega, zeta

from theory._validate import at_least, integers, out

SCHEMES = ("fill", "frequency", "power", "seen", "threshold")


def zipf_probabilities(alpha, N) -> np.ndarray:
    """p(x) = x^{−α}/Σ_{x'≤N} x'^{−α}, x = 1..N [N] (§9.1). alpha > 0; N: integer >= 1."""
    a = at_least("alpha", alpha, 0.0, strict=True)
    n = integers("N", N, 1)
    if a.ndim or n.ndim:
        raise ValueError(f"alpha and N must be scalars here, got alpha={alpha!r}, N={N!r}")
    a, N = float(a), int(n)
    w = np.arange(1, N + 1, dtype=float) ** (-a)
    return w / w.sum()


def _zipf_map(alpha, N, other, fn):
    """Evaluate fn(p, other_values) for each (alpha, N) of the broadcast; other is vectorised inside fn."""
    alpha, N, other = np.broadcast_arrays(alpha, N, other)
    res = np.empty(alpha.shape, dtype=float)
    pairs = np.stack([alpha.ravel(), N.ravel()], axis=1)
    flat_other, flat_res = other.ravel(), res.reshape(-1)
    for a, n in np.unique(pairs, axis=0):
        sel = (pairs[:, 0] == a) & (pairs[:, 1] == n)
        flat_res[sel] = fn(zipf_probabilities(a, n), flat_other[sel])
    return out(res)


def _check_alpha_N(alpha, N):
    return at_least("alpha", alpha, 0.0, strict=True), integers("N", N, 1)


def unseen_mass(alpha, N, T):
    """Σ_x p(x)(1 − p(x))^T: probability mass of tokens absent from T samples, Zipf(α) on N tokens (§9.3).

    The error at infinite d (Z1): α = 2, N = 100 gives 0.0157 at T = 1024 and 0.0018 at T = 10240.
    alpha > 0; N: integer >= 1; T >= 0 finite (real T allowed) [broadcast].
    """
    alpha, N = _check_alpha_N(alpha, N)
    T = at_least("T", T, 0.0)

    def fn(p, Ts):
        if p.size == 1:  # one token of mass 1: unseen only when T = 0
            return (Ts == 0).astype(float)
        logq = np.log1p(-p)  # (1 − p)^T = exp(T·log1p(−p)), accurate for small p
        return np.array([np.sum(p * np.exp(t * logq)) for t in Ts])

    return _zipf_map(alpha, N, T, fn)


def expected_distinct(alpha, N, T):
    """Σ_x (1 − (1 − p(x))^T): expected number of distinct tokens among T samples (≈ T^{1/α}, §9.2) [broadcast]."""
    alpha, N = _check_alpha_N(alpha, N)
    T = at_least("T", T, 0.0)

    def fn(p, Ts):
        if p.size == 1:
            return (Ts > 0).astype(float)
        logq = np.log1p(-p)
        return np.array([np.sum(-np.expm1(t * logq)) for t in Ts])

    return _zipf_map(alpha, N, T, fn)


def tail_mass(alpha, N, K):
    """Σ_{x>K} p(x): mass beyond the K most frequent tokens (§9.3). α = 2, N = 100: 0.052, 0.024, 0.006 at
    K = 10, 20, 50. alpha > 0; N: integer >= 1; K: integer in [0, N] [broadcast]."""
    alpha, N = _check_alpha_N(alpha, N)
    K = integers("K", K, 0)
    if np.any(K > N):
        raise ValueError(f"K must be an integer in [0, N], got K={K!r}, N={N!r}")

    def fn(p, Ks):
        cum = np.concatenate([[0.0], np.cumsum(p)])
        return np.array([max(0.0, 1.0 - cum[int(k)]) if k < p.size else 0.0 for k in Ks])

    return _zipf_map(alpha, N, K, fn)


def _alpha_gt1(alpha):
    return at_least("alpha", alpha, 1.0, strict=True)


def _harmonic(alpha, N):
    alpha, N = np.broadcast_arrays(alpha, N)
    flat = [np.sum(np.arange(1, int(n) + 1, dtype=float) ** (-a)) for a, n in zip(alpha.ravel(), N.ravel())]
    return np.asarray(flat).reshape(alpha.shape)


def unseen_mass_asymptotic(alpha, T, N=None):
    """Γ(1 − 1/α)/(α Z^{1/α})·T^{−(α−1)/α}: large-T unseen mass (``derive_zipf_asymptotics``) [broadcast].

    Z = ζ(α) (N=None, infinite support) or Σ_{x≤N} x^{−α}; valid while the cut-off (T/Z)^{1/α} ≪ N.
    alpha > 1; T > 0.
    """
    alpha = _alpha_gt1(alpha)
    T = at_least("T", T, 0.0, strict=True)
    Z = zeta(alpha) if N is None else _harmonic(alpha, integers("N", N, 1))
    return out(gamma_fn(1.0 - 1.0 / alpha) / (alpha * Z ** (1.0 / alpha)) * T ** (-(alpha - 1.0) / alpha))


def tail_mass_asymptotic(alpha, K):
    """K^{1−α}/((α − 1)ζ(α)): large-K tail mass of Zipf(α) on infinite support [broadcast]. alpha > 1; K > 0."""
    alpha = _alpha_gt1(alpha)
    K = at_least("K", K, 0.0, strict=True)
    return out(K ** (1.0 - alpha) / ((alpha - 1.0) * zeta(alpha)))


def threshold_exponents(alpha):
    """(−(α − 1), −(α − 1)/α): E ≍ d^{−(α−1)} + T^{−(α−1)/α} for the threshold scheme, K ≍ d (§9.3) [broadcast]."""
    alpha = _alpha_gt1(alpha)
    return out(1.0 - alpha), out((1.0 - alpha) / alpha)


def frequency_exponent(alpha):
    """−(α − 1)/(2α): E ≍ d^{−(α−1)/(2α)} for q = p at T = ∞ (§9.3; −1/4 at α = 2) [broadcast]. alpha > 1."""
    alpha = _alpha_gt1(alpha)
    return out((1.0 - alpha) / (2.0 * alpha))


def power_exponent(alpha, rho):
    """−(α − 1)/(2αρ): E ≍ d^{−(α−1)/(2αρ)} for q = p^ρ, ρ > 1/(2α) (§9.3) [broadcast].

    ρ = 1 is the frequency scheme; ρ ↓ 1/(2α) approaches the threshold optimum −(α − 1). Below 1/(2α)
    the noise ‖p^ρ‖₂ grows with N and no N-free exponent exists (ValueError). alpha > 1.
    """
    alpha = _alpha_gt1(alpha)
    rho = at_least("rho", rho, 0.0, strict=True)
    if np.any(rho <= 1.0 / (2.0 * alpha)):
        raise ValueError(f"rho must be > 1/(2*alpha) (bounded noise ‖p^rho‖_2), got rho={rho!r}, alpha={alpha!r}")
    return out((1.0 - alpha) / (2.0 * alpha * rho))


def threshold_balance_dimension(alpha, T):
    """T^{1/α}: the d at which the two threshold terms d^{−(α−1)} and T^{−(α−1)/α} balance (§9.3) [broadcast]."""
    alpha = _alpha_gt1(alpha)
    T = at_least("T", T, 0.0, strict=True)
    return out(T ** (1.0 / alpha))


def chance_corrected_error(mass, M):
    """(1 − 1/M)·mass: an unstored token is still right with probability ≈ 1/M (§9.3) [broadcast].

    mass ∈ [0, 1]; M: integer >= 1.
    """
    mass = at_least("mass", mass, 0.0)
    if np.any(mass > 1.0):
        raise ValueError(f"mass must be in [0, 1], got {mass!r}")
    M = integers("M", M, 1)
    return out((1.0 - 1.0 / M) * mass)


def threshold_error(alpha, N, K, M):
    """(1 − 1/M)·Σ_{x>K} p(x): threshold-scheme error at T = ∞ with the K most frequent tokens stored (§9.3).

    Z2 (α = 2, N = 1000, M = 5, K = d/8): d·E ≈ 3.4–3.7 for d = 32..512. [broadcast]
    """
    return chance_corrected_error(tail_mass(alpha, N, K), M)


# ---------------------------------------------------------------------------------------------------------
# memories W_q, one gradient step, margin recursion (§1.2, §9.2, §9.4)
# ---------------------------------------------------------------------------------------------------------


def scheme_weights(scheme: str, counts, K=None, rho=None) -> np.ndarray:
    """Memory weights q [N] of the §9.2 schemes from token counts [N] (use p for T = ∞).

    As the official code: sort seen tokens by count (ties: lower index first), keep the top K (all seen when
    K is None), set q = (count/total)^ρ on them and 0 elsewhere. ``"fill"``: q ≡ 1 on all N tokens;
    ``"frequency"``: ρ = 1; ``"power"``: ρ = rho; ``"seen"``: ρ = 0; ``"threshold"``: ρ = 0 with K required.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    counts = at_least("counts", counts, 0.0)
    if counts.ndim != 1:
        raise ValueError(f"counts must be a 1-D array [N], got shape {counts.shape}")
    if scheme == "fill":
        return np.ones_like(counts)
    total = counts.sum()
    if total <= 0:
        raise ValueError("counts must have a positive total")
    if scheme == "threshold" and K is None:
        raise ValueError("K must be given for scheme='threshold'")
    if scheme == "power":
        if rho is None:
            raise ValueError("rho must be given for scheme='power'")
        r = float(at_least("rho", rho, 0.0))
    else:
        r = {"frequency": 1.0, "seen": 0.0, "threshold": 0.0}[scheme]
    seen = counts > 0
    if K is not None:
        K = int(integers("K", K, 0))
        order = np.argsort(-counts, kind="stable")
        keep = np.zeros_like(seen)
        keep[order[:K]] = True
        seen &= keep
    q = np.zeros_like(counts)
    q[seen] = (counts[seen] / total) ** r
    return q


def _check_memory_arrays(q, E, U, f_star):
    E = np.asarray(E, dtype=float)
    U = np.asarray(U, dtype=float)
    f = np.asarray(f_star)
    if E.ndim != 2 or U.ndim != 2 or E.size == 0 or U.size == 0:
        raise ValueError(f"E must be [N, d_e] and U [M, d_u], got {E.shape} and {U.shape}")
    if not (np.all(np.isfinite(E)) and np.all(np.isfinite(U))):
        raise ValueError("E and U must be finite")
    if f.shape != (E.shape[0],) or not np.issubdtype(f.dtype, np.integer) or f.min() < 0 or f.max() >= U.shape[0]:
        raise ValueError(f"f_star must be integers in [0, {U.shape[0]}) of shape [{E.shape[0]}]")
    q = np.asarray(q, dtype=float)
    if q.shape != (E.shape[0],) or not np.all(np.isfinite(q)):
        raise ValueError(f"weights must be finite of shape [{E.shape[0]}], got {q.shape}")
    return q, E, U, f


def weighted_memory(q, E, U, f_star) -> np.ndarray:
    """W_q = Σ_x q(x) u_{f*(x)} e_xᵀ [d_u, d_e] (§1.1); q ≡ 1 is the Hebbian memory."""
    q, E, U, f = _check_memory_arrays(q, E, U, f_star)
    return (U[f] * q[:, None]).T @ E


def one_step_memory(p, E, U, f_star, eta=1.0) -> np.ndarray:
    """W after one step of size η from W = 0: η Σ_x p(x)(u_{f*(x)} − ū)e_xᵀ, ū = mean_y u_y [d_u, d_e] (§1.2, Z6)."""
    p, E, U, f = _check_memory_arrays(p, E, U, f_star)
    eta = float(at_least("eta", eta, 0.0, strict=True))
    return eta * ((U[f] - U.mean(axis=0)) * p[:, None]).T @ E


def memory_gradient(W, p, E, U, f_star) -> np.ndarray:
    """−∇_W L = Σ_x p(x)(u_{f*(x)} − E_{ŷ∼softmax} u_ŷ)e_xᵀ [d_u, d_e] for L = Σ_x p(x)CE(U W e_x, f*(x)) (§1.2)."""
    p, E, U, f = _check_memory_arrays(p, E, U, f_star)
    W = np.asarray(W, dtype=float)
    if W.shape != (U.shape[1], E.shape[1]) or not np.all(np.isfinite(W)):
        raise ValueError(f"W must be finite of shape [{U.shape[1]}, {E.shape[1]}], got {W.shape}")
    logits = E @ W.T @ U.T  # [N, M]
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    return ((U[f] - P @ U) * p[:, None]).T @ E


def memory_error(W, p, E, U, f_star) -> float:
    """E(f̂) = Σ_x p(x)·1{argmax_y u_yᵀWe_x ≠ f*(x)} (§9.1); ties go to the lowest class index."""
    p, E, U, f = _check_memory_arrays(p, E, U, f_star)
    W = np.asarray(W, dtype=float)
    if W.shape != (U.shape[1], E.shape[1]):
        raise ValueError(f"W must have shape [{U.shape[1]}, {E.shape[1]}], got {W.shape}")
    pred = np.argmax(E @ W.T @ U.T, axis=1)
    return float(np.sum(p * (pred != f)))


def margin_recursion(n, gamma, M):
    """q_n = f_γ^n(0) for f_γ(q) = q + γ/(1 + e^q/(M − 1)) (§9.4, ``derive_margin_recursion``) [broadcast].

    n: occurrences, integer >= 0; gamma > 0; M: integer >= 2. Small γ: q ≈ γn(M − 1)/M ∝ p(x)T; large γ:
    q ≈ constant on seen tokens; large n: q ≈ ln((M − 1)γn).
    """
    n = integers("n", n, 0)
    gamma = at_least("gamma", gamma, 0.0, strict=True)
    M = integers("M", M, 2)
    n, gamma, M = np.broadcast_arrays(n, gamma, M)
    q = np.zeros(n.shape)
    res = np.zeros(n.shape)
    for step in range(1, int(n.max()) + 1 if n.size else 1):
        # (M−1)/(e^q + M − 1) written with e^{−q} so large margins do not overflow
        q = q + gamma * (M - 1.0) * np.exp(-q) / (1.0 + (M - 1.0) * np.exp(-q))
        res = np.where(n == step, q, res)
    return out(res)


def margin_continuum(n, gamma, M):
    """Continuum margin: the root of q + (e^q − 1)/(M − 1) = γn, i.e. q = b − ω(b − ln(M − 1)) with
    b = γn + 1/(M − 1) and ω the Wright omega function (W(e^z) = ω(z)) (§9.4) [broadcast].

    n >= 0 real; gamma > 0; M: integer >= 2.
    """
    n = at_least("n", n, 0.0)
    gamma = at_least("gamma", gamma, 0.0, strict=True)
    M = integers("M", M, 2)
    b = gamma * n + 1.0 / (M - 1.0)
    return out(b - np.real(wrightomega(b - np.log(M - 1.0))))

"""Needle mass, required gap and the log-n temperature schedule (selective_attention.md §2.3, §3.1–§3.3).

Setting: one relevant key among n visible keys; its logit exceeds each of the n − 1 competitors by Δ before the
query temperature τ(n) = 1 + s·log n multiplies the row. All functions broadcast over numpy arrays and return a
Python float for scalar input. Logs are natural; the 1/√d_h scale is absorbed into the gap.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from theory._validate import at_least, finite, integers, open_interval, out


def _log_competitors(n: np.ndarray) -> np.ndarray:
    # log(n − 1); −∞ for n = 1, where the needle is alone and gets all the mass.
    with np.errstate(divide="ignore"):
        return np.log(n - 1.0)


def position_temperature(n, s=0.0):
    """τ_pos(n) = 1 + s·log n (§2.3, §2.4). n: visible keys (integer >= 1); s >= 0. [dimensionless]"""
    n = integers("n", n, 1)
    s = at_least("s", s, 0.0)
    return out(1.0 + s * np.log(n))


def dexp_s(beta):
    """Official squashing s(β) = exp(−e^β) ∈ (0, 1) (§2.3).

    Underflows to exactly 0 for β ≳ 6.6, so β = 10.5 gives exactly vanilla logits. beta: finite real.
    """
    beta = finite("beta", beta)
    with np.errstate(over="ignore"):
        return out(np.exp(-np.exp(beta)))


def dexp_beta(s):
    """Inverse of ``dexp_s``: β = log(−log s) for s ∈ (0, 1) (§2.3, used to map trained raw s back to β)."""
    s = open_interval("s", s, 0.0, 1.0)
    return out(np.log(-np.log(s)))


def needle_mass(gap, n, s=0.0):
    """Attention mass on the one relevant key among n (§3.1, §3.2).

    The relevant logit exceeds each of the n − 1 others by gap·(1 + s·log n), so
    p = e^{gap·τ}/(e^{gap·τ} + n − 1) with τ = 1 + s log n; s = 0 is vanilla attention and
    s = 1/gap the length-invariant schedule. gap: any finite real [logit units]; n: integer >= 1; s >= 0.
    Evaluated as expit(gap·τ − log(n − 1)) so it neither overflows nor loses the tiny masses at large n.
    """
    gap = finite("gap", gap)
    n = integers("n", n, 1)
    s = at_least("s", s, 0.0)
    tau = 1.0 + s * np.log(n)
    return out(expit(gap * tau - _log_competitors(n)))


def required_gap(n, p):
    """Δ*(n, p) = log(p(n − 1)/(1 − p)): the gap giving needle mass p among n keys (§3.1). n >= 2, p ∈ (0, 1)."""
    n = integers("n", n, 2)
    p = open_interval("p", p, 0.0, 1.0)
    return out(np.log(p) - np.log1p(-p) + np.log(n - 1.0))


def required_gap_slope(n):
    """dΔ*/d log n = n/(n − 1) → 1 as n → ∞ (§3.1), for n >= 2 (treated as continuous here)."""
    n = integers("n", n, 2)
    return out(n / (n - 1.0))


def support_gap(n, m, p):
    """Outside gap for mass p spread uniformly on m of n keys: log(p(n − m)/((1 − p)m)) (§3.3).

    n: integer >= 2; m: integer with 1 <= m < n; p ∈ (0, 1). m = 1 recovers ``required_gap``.
    """
    n = integers("n", n, 2)
    m = integers("m", m, 1)
    p = open_interval("p", p, 0.0, 1.0)
    if np.any(m >= n):
        raise ValueError(f"m must satisfy 1 <= m < n, got m={m!r}, n={n!r}")
    return out(np.log(p) - np.log1p(-p) + np.log(n - m) - np.log(m))


def query_norm_bound(n, p, key_distance, tau=1.0):
    """Smallest query norm reaching needle mass p: ‖u‖ >= max(Δ*(n, p), 0)/(τ‖k* − k‖) (§3.1).

    The gap is τ·u·(k* − k) <= τ‖u‖‖k* − k‖ (Cauchy–Schwarz); it is attained with u ∥ k* − k when every
    competitor sits at the same k. For p <= 1/n the uniform row already suffices and the bound is 0.
    n: integer >= 2; p ∈ (0, 1); key_distance = ‖k* − k‖ > 0; tau > 0. [norm of u, same units as 1/‖k‖]
    """
    gap = np.asarray(required_gap(n, p))
    dist = at_least("key_distance", key_distance, 0.0, strict=True)
    tau = at_least("tau", tau, 0.0, strict=True)
    return out(np.maximum(gap, 0.0) / (tau * dist))


def invariant_s(Delta0):
    """s = 1/Δ0: the schedule that makes p_SSA length-invariant for base gap Δ0 > 0 (§3.2)."""
    Delta0 = at_least("Delta0", Delta0, 0.0, strict=True)
    return out(1.0 / Delta0)


def invariance_error(n, Delta0):
    """p_SSA(n; Δ0, s = 1/Δ0) − σ(Δ0) = (e^{Δ0}/n)/((e^{Δ0} + 1 − 1/n)(e^{Δ0} + 1)) >= 0 (§3.2).

    Decreasing in n and, for Δ0 > 0, in Δ0 (∂/∂y of c·y/((y + 1 − c)(y + 1)) has the sign of 1 − c − y²,
    y = e^{Δ0} > 1), so on n >= n0, Δ0 >= Δ0_min the supremum sits at the corner (0.00307 at 64, 1).
    n: integer >= 1; Delta0 > 0.
    """
    n = integers("n", n, 1)
    Delta0 = at_least("Delta0", Delta0, 0.0, strict=True)
    # Written with e^{−Δ0} so large Δ0 does not overflow.
    e = np.exp(-Delta0)
    c = 1.0 / n
    return out(c * e / ((1.0 + (1.0 - c) * e) * (1.0 + e)))


def needle_mass_random_keys(Delta0, n, d, s=0.0):
    """Annealed needle mass with random unit competitor keys in R^d (§3.2, the S1 setting).

    Query Δ0·(needle key), so competitor logits have variance Δ0²/d; averaging e^{τg} over g ~ N(0, Δ0²/d)
    gives p ≈ e^{τΔ0}/(e^{τΔ0} + (n − 1)·exp(τ²Δ0²/(2d))), τ = 1 + s log n. The τ² term is the competitor
    noise that the temperature amplifies. Delta0 >= 0; n: integer >= 1; d: integer >= 1; s >= 0.
    """
    Delta0 = at_least("Delta0", Delta0, 0.0)
    n = integers("n", n, 1)
    d = integers("d", d, 1)
    s = at_least("s", s, 0.0)
    tau = 1.0 + s * np.log(n)
    g = tau * Delta0
    return out(expit(g - g * g / (2.0 * d) - _log_competitors(n)))

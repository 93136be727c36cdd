"""Conjugate-gradient facts for the Mesa solve ``(H_t + Λ) x = q_t`` (test_time_memory.md §4.2–§4.3).

H_t = Σ_{i≤t} ζ_{t,i} β_i k_i k_iᵀ [d_k, d_k] with unit keys, β_i ≤ 1, gates γ_j ≤ γ_max; Λ = diag(λ) > 0.
Errors are in the A-norm or relative 2-norm as stated per function; "steps" are CG iterations.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from theory.recall._checks import out, real
from theory.recall._sym import frob2, vector
from theory.recall.capacity import Formula

__all__ = [
    "derive_cg_termination",
    "derive_hessian_trace_bound",
    "derive_chebyshev_steps",
    "derive_damped_cg_stall",
    "CG_FORMULAS",
    "cg_termination_steps",
    "hessian_lambda_max_bound",
    "cg_condition_bound",
    "cg_chebyshev_bound",
    "cg_chebyshev_steps",
    "cg_error_from_residual",
    "damped_cg_residual",
    "damped_cg_steps",
]


@cache
def derive_cg_termination() -> Formula:
    """Finite termination (§4.3, claim 15): CG on A = H_t + λI (scalar λ) ends in ≤ min(t + 1, d_k) steps.

    H_t is a sum of t rank-one terms (any gates), so A has the eigenvalue λ with multiplicity ≥ d_k − t and at
    most t + 1 distinct eigenvalues; CG terminates in at most that many steps in exact arithmetic. Parts, d_k = 3:
    ``rank_one`` (det(xI − A) = (x − λ)²(x − λ − β‖k‖²) for t = 1) and ``rank_two`` (x − λ divides det(xI − A)
    for t = 2). A non-scalar Λ breaks the argument (the bound is then d_k).
    """
    x = sp.Symbol("x")
    lam = sp.Symbol("lambda", positive=True)
    beta = sp.symbols("beta_1:3", positive=True)
    gamma = sp.Symbol("gamma_2", positive=True)
    k1, k2 = vector("k1", 3, real=True), vector("k2", 3, real=True)
    A1 = beta[0] * k1 * k1.T + lam * sp.eye(3)
    A2 = gamma * beta[0] * k1 * k1.T + beta[1] * k2 * k2.T + lam * sp.eye(3)
    p1 = (x * sp.eye(3) - A1).det()
    p2 = sp.expand((x * sp.eye(3) - A2).det())
    t, d_k = sp.symbols("t d_k", positive=True, integer=True)
    parts = {
        "rank_one": sp.Matrix([p1 - (x - lam) ** 2 * (x - lam - beta[0] * frob2(k1))]),
        "rank_two": sp.Matrix([sp.rem(p2, x - lam, x)]),
    }
    return Formula("cg_termination", sp.Min(t + 1, d_k), {"t": t, "d_k": d_k}, parts)


@cache
def derive_hessian_trace_bound() -> Formula:
    """``λ_max(H_t) ≤ tr H_t = Σ_i ζ_{t,i} β_i ≤ (1 − γ^t)/(1 − γ) ≤ 1/(1 − γ)`` (§4.3, claim 17).

    Unit keys make tr(k kᵀ) = 1; β_i ≤ 1 and ζ_{t,i} ≤ γ^{t−i}. Parts: ``finite_sum`` (the geometric sum, γ = 1/(1 + z) < 1),
    ``infinite`` (t → ∞ with γ = 1/(1 + z)), ``kappa_scalar`` (with Λ = λI the bound
    κ ≤ (1/(1 − γ) + λ)/λ is 1 + 1/((1 − γ)λ)).
    """
    gamma, lam, z = sp.symbols("gamma lambda z", positive=True)
    t = sp.Symbol("t", positive=True, integer=True)
    i = sp.Symbol("i", positive=True, integer=True)
    expr = (1 - gamma**t) / (1 - gamma)
    g = 1 / (1 + z)
    parts = {
        "finite_sum": sp.Matrix([sp.summation(g ** (t - i), (i, 1, t)) - expr.subs(gamma, g)]),
        "infinite": sp.Matrix([sp.limit(expr.subs(gamma, g), t, sp.oo) - 1 / (1 - g)]),
        "kappa_scalar": sp.Matrix([(1 / (1 - gamma) + lam) / lam - (1 + 1 / ((1 - gamma) * lam))]),
    }
    return Formula("hessian_trace_bound", expr, {"gamma": gamma, "t": t}, parts)


@cache
def derive_chebyshev_steps() -> Formula:
    """Steps for the Chebyshev bound ``‖e_k‖_A ≤ 2ρ^k ‖e_0‖_A``, ρ = (√κ − 1)/(√κ + 1), to reach tol (§4.3).

    ``expr`` = log(tol/2)/log ρ (real-valued; CG needs its ceiling); part ``attains``: the bound at expr is tol.
    """
    kappa, tol = sp.symbols("kappa tol", positive=True)
    rho = (sp.sqrt(kappa) - 1) / (sp.sqrt(kappa) + 1)
    expr = sp.log(tol / 2) / sp.log(rho)
    attains = sp.simplify(sp.powsimp(2 * sp.exp(expr * sp.log(rho)))) - tol
    return Formula("chebyshev_steps", expr, {"kappa": kappa, "tol": tol}, {"attains": sp.Matrix([attains])})


@cache
def derive_damped_cg_stall() -> Formula:
    """Damped CG (fla: α = δ/(pᵀAp + ε), β_cg = δ_new/(δ_old + ε), δ = ‖r‖²) stalls algebraically (§4.2).

    Once δ ≪ ε, β_cg = O(δ/ε) and p ≈ r, so each step is steepest descent with step α ≈ δ/ε:
    δ' = δ(1 − 2αμ + α²ν) with μ = rᵀAr/δ, ν = ‖Ar‖²/δ. Part ``increment``: (1/δ' − 1/δ) → 2μ/ε as δ → 0,
    so ``δ_k ≈ ε/(2μk)`` and ``‖r_k‖ ≈ √(ε/(2μk))`` (``expr``). The residual concentrates on the slowest
    direction, μ → λ_min(A), which makes this an estimate from above; reaching ‖r‖ = 1e-8 needs
    ~ε/(2μ·1e-16) steps, i.e. never in practice.
    """
    delta, eps, mu, nu, k = sp.symbols("delta epsilon mu nu k", positive=True)
    alpha = delta / (mu * delta + eps)
    nxt = delta * (1 - 2 * alpha * mu + alpha**2 * nu)
    increment = sp.limit(1 / nxt - 1 / delta, delta, 0) - 2 * mu / eps
    expr = sp.sqrt(eps / (2 * mu * k))
    return Formula("damped_cg_stall", expr, {"epsilon": eps, "mu": mu, "k": k},
                   {"increment": sp.Matrix([increment])})


CG_FORMULAS = {
    "cg_termination": derive_cg_termination,
    "hessian_trace_bound": derive_hessian_trace_bound,
    "chebyshev_steps": derive_chebyshev_steps,
    "damped_cg_stall": derive_damped_cg_stall,
}


def cg_termination_steps(t, d_k):
    """Exact-arithmetic CG step bound ``min(t + 1, d_k)`` for A = H_t + λI, scalar λ, t written keys (§4.3).

    t >= 0 and d_k >= 1 integers (arrays broadcast). With non-scalar Λ only d_k holds.
    """
    t = real("t", t, lo=0, integer=True)
    d_k = real("d_k", d_k, lo=1, integer=True)
    return out(np.minimum(t + 1, d_k))


def hessian_lambda_max_bound(gamma_max, t=None):
    """``λ_max(H_t) ≤ 1/(1 − γ_max)`` (unit keys, β ≤ 1), or ``(1 − γ^t)/(1 − γ)`` after t tokens (§4.3).

    gamma_max in [0, 1) when t is None; with t >= 1 tokens gamma_max in [0, 1] (γ = 1 gives t).
    """
    if t is None:
        g = real("gamma_max", gamma_max, lo=0, hi=1, hi_open=True)
        return out(1.0 / (1.0 - g))
    g = real("gamma_max", gamma_max, lo=0, hi=1)
    t = real("t", t, lo=1, integer=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        geometric = -np.expm1(t * np.log(np.where(g > 0, g, 1.0))) / (1.0 - g)
    return out(np.where(g == 1, t, np.where(g > 0, geometric, 1.0)))


def cg_condition_bound(gamma_max, lam_min, lam_max=None, t=None):
    """``κ(H_t + Λ) ≤ (λ_max(H) bound + max λ)/min λ`` (§4.3); scalar λ: ``1 + 1/((1 − γ)λ)``.

    gamma_max as in :func:`hessian_lambda_max_bound`; lam_min > 0; lam_max >= lam_min (defaults to lam_min).
    γ = 0.99, λ = 0.25 gives 401.
    """
    h = hessian_lambda_max_bound(gamma_max, t)
    lo = real("lam_min", lam_min, lo=0, lo_open=True)
    hi = lo if lam_max is None else real("lam_max", lam_max, lo=0, lo_open=True)
    if np.any(hi < lo):
        raise ValueError(f"lam_max must be >= lam_min, got {lam_max!r} < {lam_min!r}")
    return out((h + hi) / lo)


def cg_chebyshev_bound(kappa, k):
    """``2((√κ − 1)/(√κ + 1))^k``: bound on ‖x_k − x*‖_A / ‖x_0 − x*‖_A after k CG steps (§4.3).

    kappa >= 1, k >= 0.
    """
    kappa = real("kappa", kappa, lo=1)
    k = real("k", k, lo=0)
    rho = (np.sqrt(kappa) - 1.0) / (np.sqrt(kappa) + 1.0)
    return out(2.0 * rho**k)


def cg_chebyshev_steps(kappa, tol):
    """Fewest CG steps k with ``2ρ^k ≤ tol`` (§4.3): κ = 401, tol = 1e-6 gives 146 (real value 145.1).

    kappa >= 1, tol > 0 (0 steps when tol >= 2).
    """
    kappa = real("kappa", kappa, lo=1)
    tol = real("tol", tol, lo=0, lo_open=True)
    rho = (np.sqrt(kappa) - 1.0) / (np.sqrt(kappa) + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.ceil(np.log(tol / 2.0) / np.log(np.where(rho > 0, rho, 0.5)) - 1e-12)
    return out(np.where(tol >= 2, 0.0, np.where(rho > 0, steps, 1.0)))


def cg_error_from_residual(kappa, rel_residual):
    """``‖x − x*‖/‖x*‖ ≤ κ ‖r‖/‖b‖`` for any approximate solution of an SPD system (§4.2, claim 18).

    kappa >= 1, rel_residual >= 0.
    """
    kappa = real("kappa", kappa, lo=1)
    r = real("rel_residual", rel_residual, lo=0)
    return out(kappa * r)


def damped_cg_residual(k, damping, mu):
    """Stalled residual norm ``√(ε/(2μk))`` of damped CG after k steps (§4.2; :func:`derive_damped_cg_stall`).

    Absolute units (fla damps with absolute ε; unit q makes it relative). k >= 1 steps, damping ε > 0,
    mu > 0 the Rayleigh quotient of the residual (≈ λ_min(A) once stalled). An asymptotic estimate, not a bound.
    """
    k = real("k", k, lo=1)
    eps = real("damping", damping, lo=0, lo_open=True)
    mu = real("mu", mu, lo=0, lo_open=True)
    return out(np.sqrt(eps / (2.0 * mu * k)))


def damped_cg_steps(residual, damping, mu):
    """Steps ``ε/(2μ r²)`` damped CG needs to bring the residual down to r in the stalled regime (§4.2).

    residual > 0, damping > 0, mu > 0; r = 1e-8, ε = 1e-5, μ ≈ 1 gives ≈ 5e10 steps.
    """
    r = real("residual", residual, lo=0, lo_open=True)
    eps = real("damping", damping, lo=0, lo_open=True)
    mu = real("mu", mu, lo=0, lo_open=True)
    return out(eps / (2.0 * mu * r**2))

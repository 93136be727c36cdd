"""Symbolic derivations for selective attention (selective_attention.md §2.3, §2.5, §3).

Every ``derive_*`` function returns sympy expressions in the module-level symbols below; the numpy helpers in
``needle``, ``construction``, ``gating``, ``memory`` and ``overhead`` are tested against them.
Conventions: logits are dot products (the 1/√d_h scale is absorbed into the gap); τ multiplies a query row;
risks are per coordinate; log is natural.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import sympy as sp

# Symbols (names follow the spec).
Delta, Delta0, Delta1, Delta2, Delta_bar = sp.symbols("Delta Delta0 Delta1 Delta2 Delta_bar", positive=True)
n, m, N, N_active, d, H, L = sp.symbols("n m N N_active d H L", positive=True)
p, s, tau, eps, sigma2, sigma_n2 = sp.symbols("p s tau epsilon sigma2 sigma_n2", positive=True)
beta = sp.symbols("beta", real=True)
rho = sp.symbols("rho", real=True)
t_exp = sp.symbols("t", positive=True)  # e^β in the value-gating risk


def derive_position_temperature():
    """τ_pos(n) = 1 + s·log n (§2.3, §2.4)."""
    return 1 + s * sp.log(n)


def derive_dexp_s():
    """Official squashing s(β) = exp(−e^β), its derivative ds/dβ = −s e^β and inverse β = log(−log s) (§2.3).

    Returns ``(s_of_beta, ds_dbeta, beta_of_s)``; the inverse is in terms of the symbol ``s``.
    """
    s_b = sp.exp(-sp.exp(beta))
    return s_b, sp.diff(s_b, beta), sp.log(-sp.log(s))


def derive_needle_mass():
    """p(Δ, n; s) = e^{Δτ}/(e^{Δτ} + n − 1), τ = 1 + s log n: one key Δτ above n − 1 competitors (§3.1, §3.2)."""
    g = Delta * derive_position_temperature()
    return sp.exp(g) / (sp.exp(g) + n - 1)


def derive_required_gap():
    """Δ*(n, p): solve p = e^Δ/(e^Δ + n − 1) for Δ (§3.1). Returns the solution sympy finds."""
    (sol,) = sp.solve(sp.Eq(p, derive_needle_mass().subs(s, 0)), Delta)
    return sol


def derive_required_gap_slope():
    """dΔ*/d log n = n·∂Δ*/∂n (§3.1); equals n/(n − 1)."""
    return sp.simplify(n * sp.diff(derive_required_gap(), n))


def derive_support_gap():
    """Outside gap for mass p spread uniformly on m of n keys: solve p = m e^Δ/(m e^Δ + n − m) (§3.3)."""
    (sol,) = sp.solve(sp.Eq(p, m * sp.exp(Delta) / (m * sp.exp(Delta) + n - m)), Delta)
    return sol


def derive_ssa_needle_mass():
    """p_SSA(n; Δ0, s) = e^{Δ0} n^{sΔ0}/(e^{Δ0} n^{sΔ0} + n − 1) (§3.2, the printed form)."""
    g = sp.exp(Delta0) * n ** (s * Delta0)
    return g / (g + n - 1)


def derive_invariant_limit():
    """lim_{n→∞} p_SSA at s = 1/Δ0; equals σ(Δ0) = e^{Δ0}/(e^{Δ0} + 1) (§3.2)."""
    return sp.limit(derive_ssa_needle_mass().subs(s, 1 / Delta0), n, sp.oo)


def derive_invariance_error():
    """p_SSA(n; Δ0, 1/Δ0) − σ(Δ0), simplified (§3.2); positive and decreasing in n and (for Δ0 ≥ 0) in Δ0."""
    sig = sp.exp(Delta0) / (sp.exp(Delta0) + 1)
    return sp.simplify(derive_ssa_needle_mass().subs(s, 1 / Delta0) - sig)


def derive_competitor_mgf():
    """E[exp(τ g)] for a competitor logit g ~ N(0, Δ0²/d): unit random keys, query Δ0·(needle key) (§3.2)."""
    g = sp.symbols("g", real=True)
    var = Delta0**2 / d
    dens = sp.exp(-(g**2) / (2 * var)) / sp.sqrt(2 * sp.pi * var)
    return sp.simplify(sp.integrate(sp.exp(tau * g) * dens, (g, -sp.oo, sp.oo)))


def derive_annealed_needle_mass():
    """Annealed needle mass e^{τΔ0}/(e^{τΔ0} + (n − 1)E[e^{τg}]), τ = 1 + s log n (§3.2)."""
    tau_n = derive_position_temperature()
    mgf = derive_competitor_mgf().subs(tau, tau_n)
    return sp.exp(tau_n * Delta0) / (sp.exp(tau_n * Delta0) + (n - 1) * mgf)


def _min_norm_in_span(c1, c2):
    """Minimum ‖u‖ with u·x_1 = c1, u·x_2 = c2 for unit x_1, x_2 of cosine ρ (|ρ| < 1).

    Any component outside span(x_1, x_2) only adds norm, so u lives in the span with x_1 = (1, 0) and
    x_2 = (ρ, √(1 − ρ²)); the two constraints then fix u.
    """
    u1, u2 = sp.symbols("u1 u2", real=True)
    sol = sp.solve([sp.Eq(u1, c1), sp.Eq(rho * u1 + sp.sqrt(1 - rho**2) * u2, c2)], [u1, u2], dict=True)[0]
    return sp.sqrt(sp.simplify(sol[u1] ** 2 + sol[u2] ** 2))


def derive_two_query_min_norm():
    """Min-norm two-query construction (§3.4). Returns a dict of sympy expressions:

    - ``vanilla_u``: min ‖u‖ with u·x_k = Δ_k;
    - ``ssa_u``: min ‖u‖ with u·x_k = Δ̄ (τ_k = Δ_k/Δ̄ carries the ratio);
    - ``gate_w_bias``: min ‖w‖ with log τ_k = w·x_k + b, b free: Lagrange on w·(x_2 − x_1) = log(Δ_2/Δ_1);
    - ``gate_w_nobias``: min ‖w‖ with w·x_k = log(Δ_k/Δ̄) (b = 0).
    """
    lam = sp.symbols("lambda", real=True)
    # With a free bias only w·(x_2 − x_1) is constrained; the stationary w is λ(x_2 − x_1), ‖x_2 − x_1‖² = 2 − 2ρ.
    diff_norm2 = 2 - 2 * rho
    lam_sol = sp.solve(sp.Eq(lam * diff_norm2, sp.log(Delta2 / Delta1)), lam)[0]
    return {
        "vanilla_u": _min_norm_in_span(Delta1, Delta2),
        "ssa_u": sp.simplify(_min_norm_in_span(Delta_bar, Delta_bar)),
        "gate_w_bias": sp.sqrt(sp.simplify(lam_sol**2 * diff_norm2)),
        "gate_w_nobias": _min_norm_in_span(sp.log(Delta1 / Delta_bar), sp.log(Delta2 / Delta_bar)),
    }


def derive_vanilla_value_risk():
    """Vanilla risk R(β) = (1 − m a)² + m a² σ² + (n − m) b² σ_n², a = e^β/Z, b = 1/Z, Z = m e^β + n − m (§3.5)."""
    Z = m * sp.exp(beta) + n - m
    a, b = sp.exp(beta) / Z, 1 / Z
    return (1 - m * a) ** 2 + m * a**2 * sigma2 + (n - m) * b**2 * sigma_n2


def derive_vanilla_value_optimum():
    """Stationary point of R over t = e^β and the risk there (§3.5). Returns ``(t_star, R_star)``.

    R is a convex quadratic in b = 1/Z ∈ (0, 1/(n − m)), so the unique stationary point is the minimum.
    """
    R_t = derive_vanilla_value_risk().subs(sp.exp(beta), t_exp)
    (t_star,) = sp.solve(sp.diff(R_t, t_exp), t_exp)
    return sp.simplify(t_star), sp.factor(sp.simplify(R_t.subs(t_exp, t_star)))


def derive_bayes_value_risk():
    """Posterior variance of θ ~ N(0, 1) from m observations θ + σz: 1/(1 + m/σ²) (§3.5)."""
    return sp.simplify(1 / (1 + m / sigma2))


def derive_value_gate_optimum():
    """Value gate τ_v on the relevant mean, zero elsewhere: R(τ) = (1 − τ)² + τ² σ²/m (§3.5).

    Returns ``(tau_star, R_star)``; R_star equals the Bayes risk, which is why gating reaches it.
    """
    R_tau = (1 - tau) ** 2 + tau**2 * sigma2 / m
    (tau_star,) = sp.solve(sp.diff(R_tau, tau), tau)
    return sp.simplify(tau_star), sp.simplify(R_tau.subs(tau, tau_star))


def derive_naive_value_risk():
    """Naive averaging, a = b = 1/n (the β = 0 member of the vanilla family) (§3.5)."""
    return sp.simplify(derive_vanilla_value_risk().subs(beta, 0))


def derive_hard_value_risk():
    """Hard selection, the β → ∞ limit of vanilla: σ²/m (§3.5)."""
    return sp.limit(derive_vanilla_value_risk(), beta, sp.oo)


def derive_hopfield_beta():
    """Inverse temperature with Hopfield error (N − 1)e^{−βΔ} = ε: β = (log(N − 1) + log(1/ε))/Δ (§3.6)."""
    b = sp.symbols("b", positive=True)
    (sol,) = sp.solve(sp.Eq((N - 1) * sp.exp(-b * Delta), eps), b)
    return sol


def derive_capacity_log_N():
    """Annealed capacity heuristic: needle weight O(1) while log N ≲ β − β²/(2d) (§3.6).

    Returns ``(log_N_of_beta, beta_peak, log_N_peak)``.
    """
    b = sp.symbols("b", positive=True)
    f = b - b**2 / (2 * d)
    (b_star,) = sp.solve(sp.diff(f, b), b)
    return f.subs(b, beta), b_star, sp.simplify(f.subs(b, b_star))


def _feature_map(x, feature: str, degree: int):
    if feature == "tensor":
        return [sp.Mul(*c) for c in itertools.product(x, repeat=degree)]
    if feature == "taylor":
        # φ(q)·φ(k) = 1 + q·k + (q·k)²/2, the non-homogeneous "Based" Taylor map.
        return [sp.Integer(1), *x, *[sp.Mul(*c) / sp.sqrt(2) for c in itertools.product(x, repeat=2)]]
    raise ValueError(f"feature must be one of 'homogeneous', 'tensor', 'taylor', got {feature!r}")


def _readouts(n_keys: int, dim: int, feature: str, degree):
    """(normalized(τq), normalized(q), unnormalized(τq), unnormalized(q), p) for linear attention with φ."""
    v = sp.symbols(f"v0:{n_keys}", real=True)
    if feature == "homogeneous":
        # Abstract φ of symbolic degree p: only the defining property φ(τq) = τ^p φ(q) is used.
        pdeg = sp.symbols("p_deg", positive=True)
        fq = sp.symbols(f"f0:{dim}", real=True)
        fk = [sp.symbols(f"g{j}_0:{dim}", real=True) for j in range(n_keys)]
        fq_tau = [tau**pdeg * f for f in fq]
    else:
        pdeg = sp.Integer(degree) if feature == "tensor" else None
        q = sp.symbols(f"q0:{dim}", real=True)
        ks = [sp.symbols(f"k{j}_0:{dim}", real=True) for j in range(n_keys)]
        fq = _feature_map(q, feature, degree)
        fq_tau = _feature_map([tau * qi for qi in q], feature, degree)
        fk = [_feature_map(k, feature, degree) for k in ks]

    def scores(fqv):
        return [sum(a * b for a, b in zip(fk_j, fqv)) for fk_j in fk]

    def unnorm(fqv):
        return sum(vj * sc for vj, sc in zip(v, scores(fqv)))

    def norm(fqv):
        return unnorm(fqv) / sum(scores(fqv))

    return norm(fq_tau), norm(fq), unnorm(fq_tau), unnorm(fq), pdeg


def derive_query_temperature_inert(n_keys: int = 3, dim: int = 2, feature: str = "homogeneous", degree: int = 1):
    """Normalized linear-attention readout at τq minus the readout at q, simplified (§3.7).

    ``feature='homogeneous'`` is the general proof (any φ with φ(τq) = τ^p φ(q), symbolic p > 0, τ > 0):
    the result is 0. ``'tensor'`` builds φ explicitly as the degree-``degree`` tensor power (identity for 1):
    also 0. ``'taylor'`` (1 + x + x²/2, not homogeneous) gives a non-zero difference: sharpening needs it.
    """
    if int(n_keys) < 1 or int(dim) < 1 or int(degree) < 1:
        raise ValueError("n_keys, dim and degree must be integers >= 1")
    a, b, _, _, _ = _readouts(int(n_keys), int(dim), feature, int(degree))
    return sp.simplify(sp.cancel(sp.together(a - b)))


def derive_query_temperature_unnormalized(n_keys: int = 3, dim: int = 2, feature: str = "homogeneous",
                                          degree: int = 1):
    """Unnormalized readout at τq minus τ^p times the readout at q, simplified: 0 for homogeneous φ (§3.7)."""
    if feature == "taylor":
        raise ValueError("feature must be 'homogeneous' or 'tensor' (the Taylor map has no degree p)")
    if int(n_keys) < 1 or int(dim) < 1 or int(degree) < 1:
        raise ValueError("n_keys, dim and degree must be integers >= 1")
    _, _, a, b, pdeg = _readouts(int(n_keys), int(dim), feature, int(degree))
    return sp.simplify(sp.expand(a - tau**pdeg * b))


def derive_key_overlap_second_moment():
    """E[(k·k')²] for independent uniform unit keys in R^d: 1/d (§3.8).

    t = k·k' has density ∝ (1 − t²)^{(d−3)/2} on [−1, 1], so E[t²] = B(3/2, (d−1)/2)/B(1/2, (d−1)/2).
    """
    c = (d - 1) / 2
    B = lambda x, y: sp.gamma(x) * sp.gamma(y) / sp.gamma(x + y)  # noqa: E731
    return sp.simplify(sp.gammasimp(B(sp.Rational(3, 2), c) / B(sp.Rational(1, 2), c)))


def derive_write_gate_snr():
    """Write-gated linear memory SNR with 0/1 gates, unit-variance values, unit random keys (§3.8).

    Signal variance τ_i² = 1; cross-talk variance Σ_{j≠i} τ_j² E[(k_j·k_i)²] = (N_active − 1)/d.
    """
    return sp.simplify(1 / ((N_active - 1) * derive_key_overlap_second_moment()))


def derive_gate_parameter_counts():
    """Gate parameter counts for a model of width d, H heads, L layers (§2.5)."""
    return {
        "full_projection": L * (d**2 + d),
        "per_head_linear": 2 * L * (d * H + H),
        "per_head_shared": 2 * L * (d + H),
        "official": L,
    }


@lru_cache(maxsize=None)
def lambdified(name: str):
    """numpy function of a derivation, built once (``sympy.lambdify(..., modules='numpy', cse=True)``)."""
    if name == "two_query":
        ex = derive_two_query_min_norm()
        args = (Delta1, Delta2, rho, Delta_bar)
        return {k: sp.lambdify(args, v, modules="numpy", cse=True) for k, v in ex.items()}
    if name == "capacity":
        f, _, _ = derive_capacity_log_N()
        return sp.lambdify((beta, d), f, modules="numpy", cse=True)
    raise ValueError(f"name must be 'two_query' or 'capacity', got {name!r}")

"""theory.selective: closed forms vs sympy derivations, spec reference values (selective_attention.md §2–§3, §8),
limits, orderings and input validation.

Tolerances: spec numbers printed to k decimals are checked to half a unit in the last printed place (the
rounding of the printed value) unless §8 states a looser one; closed form vs sympy/lambdify is float64
round-off (rtol 1e-12); Monte-Carlo checks use 5 standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad
from scipy.optimize import minimize_scalar
from scipy.special import expit

import theory.selective as S
from theory.selective import derivations as D

NS_C1 = np.array([16, 64, 1024, 16384])
NS_GAP = np.array([16, 64, 256, 1024, 4096])


def half_unit(decimals: int) -> float:
    return 0.5 * 10.0**-decimals + 1e-12


# ---------------------------------------------------------------- §3.1 / §3.2 needle mass and schedule

def test_c1_needle_mass_vanilla_and_ssa():
    vanilla = S.needle_mass(3.0, NS_C1)
    ssa = S.needle_mass(3.0, NS_C1, s=1.0 / 3.0)
    np.testing.assert_allclose(vanilla, [0.5725, 0.2417, 0.0193, 0.0012], atol=half_unit(4))
    np.testing.assert_allclose(ssa, [0.9554, 0.9533, 0.9526, 0.9526], atol=half_unit(4))
    np.testing.assert_allclose(ssa[-1], expit(3.0), atol=half_unit(4))


def test_needle_mass_delta0_2_range():
    # §3.2: Δ0 = 2, s = 1/2, n = 16 → 16384: vanilla 0.330 → 0.0005, SSA 0.887 → 0.881.
    assert abs(S.needle_mass(2.0, 16) - 0.330) <= half_unit(3)
    assert abs(S.needle_mass(2.0, 16384) - 0.0005) <= half_unit(4)
    assert abs(S.needle_mass(2.0, 16, s=0.5) - 0.887) <= half_unit(3)
    assert abs(S.needle_mass(2.0, 16384, s=0.5) - 0.881) <= half_unit(3)


def test_needle_mass_matches_sympy_and_printed_form():
    f = sp.lambdify((D.Delta, D.n, D.s), D.derive_needle_mass(), modules="numpy", cse=True)
    g = sp.lambdify((D.Delta0, D.n, D.s), D.derive_ssa_needle_mass(), modules="numpy", cse=True)
    gap, n, s = np.meshgrid([0.3, 1.0, 3.0, 5.0], [2, 16, 1000, 65536], [0.0, 0.1, 1 / 3, 1.0], indexing="ij")
    got = S.needle_mass(gap, n, s)
    np.testing.assert_allclose(got, f(gap, n.astype(float), s), rtol=1e-12)
    np.testing.assert_allclose(got, g(gap, n.astype(float), s), rtol=1e-12)
    # e^{Δ0(1 + s log n)} = e^{Δ0} n^{sΔ0}, exactly.
    lhs = sp.powsimp(sp.expand(D.derive_needle_mass().subs(D.Delta, D.Delta0)))
    rhs = sp.powsimp(sp.expand(D.derive_ssa_needle_mass().rewrite(sp.exp)))
    assert sp.simplify(lhs - rhs) == 0


def test_needle_mass_edge_cases_and_shapes():
    assert S.needle_mass(-4.0, 1) == 1.0  # alone: all the mass
    assert S.needle_mass(0.0, 10) == pytest.approx(0.1, rel=1e-15)  # equal logits: uniform
    # Large gap / large n stay finite and accurate (no overflow of e^{gap·τ}).
    assert S.needle_mass(800.0, 2**40, s=1.0) == 1.0
    tiny = S.needle_mass(3.0, 2.0**50)
    assert tiny == pytest.approx(np.exp(3.0) / (np.exp(3.0) + 2.0**50 - 1), rel=1e-12)
    out = S.needle_mass(np.array([[1.0], [2.0]]), np.array([4, 8, 16]))
    assert out.shape == (2, 3)
    assert isinstance(S.needle_mass(1.0, 4), float)


def test_vanilla_decays_like_e_delta_over_n():
    n = np.array([1e5, 1e7, 1e9])
    rel = np.abs(n * S.needle_mass(3.0, n) / np.exp(3.0) - 1.0)
    # n·p/e^{Δ0} = 1 − (e^{Δ0} − 1)/n + O(n^-2)
    assert np.all(rel <= 1.1 * (np.exp(3.0) - 1) / n)
    assert np.all(np.diff(rel) < 0)


@pytest.mark.parametrize("Delta0", [0.5, 1.0, 3.0, 8.0])
def test_schedule_regimes(Delta0):
    n = np.array([2**10, 2**16, 2**20])
    decay = S.needle_mass(Delta0, n, s=0.5 / Delta0)  # sΔ0 = 1/2 < 1
    sharp = S.needle_mass(Delta0, n, s=2.0 / Delta0)  # sΔ0 = 2 > 1
    inv = S.needle_mass(Delta0, n, s=1.0 / Delta0)
    assert np.all(np.diff(decay) < 0) and np.all(np.diff(sharp) > 0)
    # Asymptotics: p ≈ e^{Δ0} n^{sΔ0 − 1} (decay), 1 − p ≈ e^{−Δ0}/n (sΔ0 = 2), p → σ(Δ0) (invariant).
    far = 2.0**60
    np.testing.assert_allclose(S.needle_mass(Delta0, far, s=0.5 / Delta0), np.exp(Delta0) / np.sqrt(far), rtol=1e-4)
    np.testing.assert_allclose(1 - sharp[-1], np.exp(-Delta0) / n[-1], rtol=1e-3)
    np.testing.assert_allclose(inv, expit(Delta0), atol=1.0 / n.min())


def test_schedule_limits_sympy():
    p = D.derive_ssa_needle_mass()
    assert sp.simplify(D.derive_invariant_limit() - 1 / (1 + sp.exp(-D.Delta0))) == 0
    assert sp.limit(p.subs(D.s, 1 / (2 * D.Delta0)), D.n, sp.oo) == 0
    assert sp.limit(p.subs(D.s, 2 / D.Delta0), D.n, sp.oo) == 1
    assert S.invariant_s(3.0) == pytest.approx(1 / 3, rel=1e-15)


def test_c2_invariance_bound():
    n = np.unique(np.round(np.logspace(np.log10(64), 6, 60))).astype(int)
    Delta0 = np.linspace(1.0, 8.0, 71)
    err = S.invariance_error(n[:, None], Delta0[None, :])
    direct = S.needle_mass(Delta0[None, :], n[:, None], s=1.0 / Delta0[None, :]) - expit(Delta0[None, :])
    np.testing.assert_allclose(err, direct, rtol=1e-9, atol=1e-15)
    assert np.all(err > 0) and err.max() <= 0.0031
    assert err.max() == err[0, 0]  # worst case n = 64, Δ0 = 1
    assert err[0, 0] == pytest.approx(expit(1.0) * expit(-1.0) / 64, rel=0.01)
    assert np.all(np.diff(err, axis=0) < 0) and np.all(np.diff(err, axis=1) < 0)
    f = sp.lambdify((D.n, D.Delta0), D.derive_invariance_error(), modules="numpy", cse=True)
    np.testing.assert_allclose(err, f(n[:, None].astype(float), Delta0[None, :]), rtol=1e-10)


def test_invariance_error_monotone_in_delta0_sympy():
    # With y = e^{Δ0}, c = 1/n: d/dy [c y/((y + 1 − c)(y + 1))] has the sign of (1 − c) − y², < 0 for y > 1.
    y, c = sp.symbols("y c", positive=True)
    f = c * y / ((y + 1 - c) * (y + 1))
    num = sp.factor(sp.numer(sp.together(sp.diff(f, y))))
    assert sp.simplify(num - c * (1 - c - y**2)) == 0
    err = D.derive_invariance_error().subs({D.n: 1 / c, D.Delta0: sp.log(y)})
    assert sp.simplify(err - f) == 0


def test_c3_required_gap_values_and_slope():
    np.testing.assert_allclose(S.required_gap(NS_GAP, 0.9), [4.905, 6.340, 7.738, 9.128, 10.515], atol=half_unit(3))
    np.testing.assert_allclose(S.required_gap(NS_GAP, 0.5), [2.708, 4.143, 5.541, 6.930, 8.318], atol=half_unit(3))
    # Slope in log n: sympy derivative, closed form and a finite difference agree; → 1.
    assert sp.simplify(D.derive_required_gap_slope() - D.n / (D.n - 1)) == 0
    n = np.array([16.0, 256.0, 4096.0])
    h = 1e-5
    fd = (np.log((n * np.exp(h) - 1) / (n * np.exp(-h) - 1))) / (2 * h)  # Δ*(n e^{±h}) with n continuous
    np.testing.assert_allclose(S.required_gap_slope(n.astype(int)), fd, rtol=1e-8)
    assert abs(S.required_gap_slope(2**40) - 1.0) < 1e-11


def test_required_gap_matches_sympy_and_inverts_needle_mass():
    assert sp.simplify(sp.exp(D.derive_required_gap()) - D.p * (D.n - 1) / (1 - D.p)) == 0
    n, p = np.meshgrid([2, 16, 4096, 2**30], [1e-6, 0.1, 0.5, 0.9, 1 - 1e-9], indexing="ij")
    np.testing.assert_allclose(S.needle_mass(S.required_gap(n, p), n), p, rtol=1e-9)


def test_support_gap():
    assert sp.simplify(sp.exp(D.derive_support_gap()) - D.p * (D.n - D.m) / ((1 - D.p) * D.m)) == 0
    np.testing.assert_allclose(S.support_gap(NS_GAP, 1, 0.9), S.required_gap(NS_GAP, 0.9), rtol=1e-14)
    # Mass on m equal logits at the gap is p.
    for n, m, p in [(32, 4, 0.8), (100, 37, 0.6), (8, 7, 0.99)]:
        g = S.support_gap(n, m, p)
        logits = np.r_[np.full(m, g), np.zeros(n - m)]
        w = np.exp(logits - logits.max())
        assert w[:m].sum() / w.sum() == pytest.approx(p, rel=1e-12)
    # Smaller degree needs a larger gap.
    assert np.all(np.diff(S.support_gap(64, np.arange(1, 64), 0.9)) < 0)


def test_query_norm_bound_is_attained_and_divided_by_tau():
    n, p, dist = 256, 0.9, 0.7
    u = S.query_norm_bound(n, p, dist)
    # u ∥ k* − k with all competitors at k: the gap is ‖u‖·dist.
    assert S.needle_mass(u * dist, n) == pytest.approx(p, rel=1e-12)
    assert S.query_norm_bound(n, p, dist, tau=4.0) == pytest.approx(u / 4.0, rel=1e-15)
    assert S.query_norm_bound(n, 1.0 / (2 * n), dist) == 0.0  # uniform row already reaches p


# ---------------------------------------------------------------- §3.2 random competitors (annealed form)

def test_annealed_mass_matches_sympy_and_reduces_to_needle_mass():
    gauss = sp.exp(D.Delta0**2 * D.tau**2 / (2 * D.d))
    assert sp.simplify(D.derive_competitor_mgf() - gauss) == 0
    f = sp.lambdify((D.Delta0, D.n, D.d, D.s), D.derive_annealed_needle_mass(), modules="numpy", cse=True)
    Delta0, n, d, s = np.meshgrid([1.0, 3.0], [16, 4096], [16, 64], [0.0, 1 / 3], indexing="ij")
    np.testing.assert_allclose(S.needle_mass_random_keys(Delta0, n, d, s), f(Delta0, n * 1.0, d * 1.0, s),
                               rtol=1e-12)
    # d → ∞: competitor noise vanishes.
    np.testing.assert_allclose(S.needle_mass_random_keys(3.0, NS_GAP, 2**52, 1 / 3),
                               S.needle_mass(3.0, NS_GAP, 1 / 3), rtol=1e-12)


def test_c4_annealed_form_vs_s1_reference():
    # §4 S1 (d = 64, Δ0 = 3): C4 states the annealed form is within 0.005 of the Monte Carlo.
    vanilla = S.needle_mass_random_keys(3.0, NS_GAP, 64)
    ssa = S.needle_mass_random_keys(3.0, NS_GAP, 64, s=1 / 3)
    np.testing.assert_allclose(vanilla, [0.556, 0.230, 0.068, 0.018, 0.0046], atol=0.005)
    np.testing.assert_allclose(ssa, [0.942, 0.933, 0.920, 0.903, 0.882], atol=0.005)
    # The temperature amplifies competitor noise: SSA-pos still decays with n, but stays far above vanilla.
    assert np.all(np.diff(ssa) < 0) and np.all(ssa > 0.85) and np.all(ssa > vanilla)


# ---------------------------------------------------------------- §2.3 official s(β) semantics (C5)

def test_c5_official_s_semantics():
    assert abs(S.dexp_s(2.0) - 6.18e-4) <= half_unit(6)
    assert abs(S.dexp_s(1.5) - 1.131e-2) <= half_unit(5)
    assert abs(S.position_temperature(1024, S.dexp_s(2.0)) - 1.00428) <= half_unit(5)
    assert abs(S.position_temperature(2048, S.dexp_s(2.0)) - 1.00471) <= half_unit(5)
    assert abs(S.position_temperature(1024, S.dexp_s(1.5)) - 1.07842) <= half_unit(5)
    assert abs(S.position_temperature(2048, S.dexp_s(1.5)) - 1.0863) <= half_unit(4)
    # β = 10.5 underflows to exactly zero: exactly vanilla logits.
    assert S.dexp_s(10.5) == 0.0 and S.position_temperature(1 << 20, S.dexp_s(10.5)) == 1.0
    s_b, ds, inv = D.derive_dexp_s()
    assert sp.simplify(ds + s_b * sp.exp(D.beta)) == 0
    dsf = sp.lambdify(D.beta, ds, modules="numpy")
    assert abs(dsf(2.0) - (-4.6e-3)) <= half_unit(4) and abs(dsf(1.5) - (-5.1e-2)) <= half_unit(3)
    assert sp.simplify(s_b.subs(D.beta, inv) - D.s) == 0
    commented = np.array([0.01, 0.01, 0.01, 0.13, 0.22, 0.20, 0.25, 0.23, 0.20, 0.12, 0.10, 0.05])
    np.testing.assert_allclose(S.dexp_s(S.dexp_beta(commented)), commented, rtol=1e-13)


# ---------------------------------------------------------------- §3.4 two-query construction (C7)

def test_c7_two_query_reference_values():
    r = S.two_query_min_norm(1.0, 20.0, 0.99)
    assert abs(r["vanilla_u"] - 134.76) <= half_unit(2)
    assert abs(r["ssa_u"] - 1.0025) <= half_unit(4)
    assert abs(r["gate_w_bias"] - 21.18) <= half_unit(2)
    assert abs(r["gate_w_nobias"] - 21.24) <= half_unit(2)


def test_two_query_closed_forms_match_sympy():
    ex = D.derive_two_query_min_norm()
    van = (D.Delta1**2 - 2 * D.rho * D.Delta1 * D.Delta2 + D.Delta2**2) / (1 - D.rho**2)
    lr2 = sp.log(D.Delta2 / D.Delta1) ** 2
    assert sp.simplify(ex["vanilla_u"] ** 2 - van) == 0
    assert sp.simplify(ex["ssa_u"] ** 2 - 2 * D.Delta_bar**2 / (1 + D.rho)) == 0
    assert sp.simplify(sp.expand_log(ex["gate_w_bias"] ** 2 - lr2 / (2 * (1 - D.rho)), force=True)) == 0
    nob = ex["gate_w_nobias"].subs(D.Delta_bar, D.Delta1) ** 2
    assert sp.simplify(sp.expand_log(nob - lr2 / (1 - D.rho**2), force=True)) == 0
    D1, D2, rho = np.meshgrid([0.5, 1.0, 3.0], [0.2, 2.0, 40.0], [-0.9, 0.0, 0.5, 0.999], indexing="ij")
    r = S.two_query_min_norm(D1, D2, rho)
    np.testing.assert_allclose(r["vanilla_u"], np.sqrt((D1**2 - 2 * rho * D1 * D2 + D2**2) / (1 - rho**2)),
                               rtol=1e-12)
    np.testing.assert_allclose(r["ssa_u"], D1 * np.sqrt(2 / (1 + rho)), rtol=1e-12)
    np.testing.assert_allclose(r["gate_w_bias"], np.abs(np.log(D2 / D1)) / np.sqrt(2 * (1 - rho)), rtol=1e-12)
    np.testing.assert_allclose(r["gate_w_nobias"], np.abs(np.log(D2 / D1)) / np.sqrt(1 - rho**2), rtol=1e-12)


def test_two_query_norms_are_minimal_least_norm_solutions():
    rng = np.random.default_rng(0)
    dim, rho = 7, 0.8
    x1 = rng.standard_normal(dim)
    x1 /= np.linalg.norm(x1)
    z = rng.standard_normal(dim)
    z -= (z @ x1) * x1
    x2 = rho * x1 + np.sqrt(1 - rho**2) * z / np.linalg.norm(z)
    X = np.stack([x1, x2])
    D1, D2, Dbar = 2.0, 9.0, 1.5
    r = S.two_query_min_norm(D1, D2, rho, Delta_bar=Dbar)
    lstsq = lambda c: np.linalg.norm(np.linalg.pinv(X) @ c)  # noqa: E731  (min-norm solution of X u = c)
    assert r["vanilla_u"] == pytest.approx(lstsq(np.array([D1, D2])), rel=1e-10)
    assert r["ssa_u"] == pytest.approx(lstsq(np.array([Dbar, Dbar])), rel=1e-10)
    assert r["gate_w_nobias"] == pytest.approx(lstsq(np.log(np.array([D1, D2]) / Dbar)), rel=1e-10)
    # Free bias: min over b of the no-bias norm with targets log(Δ_k/Δ̄) − b.
    best = minimize_scalar(lambda b: lstsq(np.log(np.array([D1, D2]) / Dbar) - b), bounds=(-20, 20),
                           method="bounded", options={"xatol": 1e-12})
    assert r["gate_w_bias"] == pytest.approx(best.fun, rel=1e-8)


def test_two_query_additive_vs_multiplicative_cost():
    a = S.two_query_min_norm(1.0, 20.0, 0.9)
    b = S.two_query_min_norm(10.0, 200.0, 0.9)
    assert b["vanilla_u"] == pytest.approx(10 * a["vanilla_u"], rel=1e-12)  # additive: scales with Δ
    assert b["gate_w_bias"] == pytest.approx(a["gate_w_bias"], rel=1e-12)  # multiplicative: ratio only
    assert S.two_query_min_norm(3.0, 3.0, 0.5)["gate_w_bias"] == 0.0


# ---------------------------------------------------------------- §3.5 value gating (C8)

SN2 = np.array([0.0, 4.0, 16.0, 64.0, 256.0])


def test_c8_value_gating_reference_values():
    r = S.value_gating_risks(32, 4, 4.0, SN2)
    assert set(r) == {"bayes", "vanilla_best", "hard_select", "naive_mean"}
    np.testing.assert_allclose(r["bayes"], 0.5, rtol=1e-15)
    np.testing.assert_allclose(r["vanilla_best"], [0.5000, 0.5333, 0.6111, 0.7667, 0.9103], atol=half_unit(4))
    np.testing.assert_allclose(r["hard_select"], 1.0, rtol=1e-15)
    assert abs(r["naive_mean"][1] - 0.8906) <= half_unit(4)
    np.testing.assert_allclose(S.vanilla_best_beta(32, 4, 4.0, SN2), [1.946, 2.079, 2.398, 3.135, 4.263],
                               atol=half_unit(3))
    tau_v = S.bayes_value_gate(4, 4.0)
    assert tau_v == 0.5 and 0.0 < tau_v < 2.0
    gated_risk = (1 - tau_v) ** 2 + tau_v**2 * 4.0 / 4
    assert gated_risk == pytest.approx(0.5, rel=1e-15)


def test_value_risks_match_sympy():
    t_star, R_star = D.derive_vanilla_value_optimum()
    k_plus = D.n - D.m + D.sigma_n2
    assert sp.simplify(t_star - k_plus / D.sigma2) == 0
    assert sp.simplify(R_star - D.sigma2 * k_plus / (D.m * k_plus + (D.n - D.m) * D.sigma2)) == 0
    tau_star, R_gate = D.derive_value_gate_optimum()
    assert sp.simplify(tau_star - D.m / (D.m + D.sigma2)) == 0
    assert sp.simplify(R_gate - D.derive_bayes_value_risk()) == 0
    assert sp.simplify(D.derive_hard_value_risk() - D.sigma2 / D.m) == 0
    naive = ((D.n - D.m) ** 2 + D.m * D.sigma2 + (D.n - D.m) * D.sigma_n2) / D.n**2
    assert sp.simplify(D.derive_naive_value_risk() - naive) == 0
    R = sp.lambdify((D.beta, D.n, D.m, D.sigma2, D.sigma_n2), D.derive_vanilla_value_risk(), modules="numpy")
    beta = np.linspace(-5, 8, 27)
    for n, m, s2, sn2 in [(32, 4, 4.0, 16.0), (5, 1, 0.3, 0.0), (9, 9, 2.0, 1.0), (100, 30, 7.0, 250.0)]:
        np.testing.assert_allclose(S.vanilla_value_risk(beta, n, m, s2, sn2), R(beta, n, m, s2, sn2), rtol=1e-11)


def test_vanilla_best_is_the_minimum_over_beta():
    for n, m, s2, sn2 in [(32, 4, 4.0, 4.0), (32, 4, 4.0, 256.0), (7, 3, 0.5, 0.0), (200, 1, 9.0, 30.0)]:
        res = minimize_scalar(lambda b: S.vanilla_value_risk(b, n, m, s2, sn2), bounds=(-10, 15),
                              method="bounded", options={"xatol": 1e-10})
        r = S.value_gating_risks(n, m, s2, sn2)
        assert res.fun == pytest.approx(r["vanilla_best"], rel=1e-9)
        assert res.x == pytest.approx(S.vanilla_best_beta(n, m, s2, sn2), abs=1e-4)
        assert S.vanilla_value_risk(0.0, n, m, s2, sn2) == pytest.approx(r["naive_mean"], rel=1e-12)
        assert S.vanilla_value_risk(40.0, n, m, s2, sn2) == pytest.approx(r["hard_select"], rel=1e-12)


def test_value_risk_orderings_on_a_grid():
    n, m, s2, sn2 = np.meshgrid([2, 8, 32, 1024], [1, 2, 8], [0.0, 0.1, 4.0, 100.0], [0.0, 1.0, 64.0, 1e4],
                                indexing="ij")
    ok = m <= n
    r = S.value_gating_risks(n[ok], m[ok], s2[ok], sn2[ok])
    tol = 1e-12
    assert np.all(r["bayes"] <= r["vanilla_best"] + tol)
    assert np.all(r["vanilla_best"] <= r["naive_mean"] + tol)
    assert np.all(r["vanilla_best"] <= r["hard_select"] + tol)
    # σ_n² = 0: the irrelevant zeros shrink toward 0 and vanilla reaches Bayes (first column of the table).
    zero = sn2[ok] == 0
    np.testing.assert_allclose(r["vanilla_best"][zero & (m[ok] < n[ok])], r["bayes"][zero & (m[ok] < n[ok])],
                               rtol=1e-12)
    # m = n: no irrelevant tokens, every estimator in the family is the plain mean.
    full = S.value_gating_risks(6, 6, 3.0, 5.0)
    assert full["vanilla_best"] == full["hard_select"] == full["naive_mean"] == 0.5


def test_vanilla_risk_monte_carlo():
    # Independent check of R(β): sample the §3.5 model (one coordinate) at β*.
    n, m, s2, sn2, trials = 32, 4, 4.0, 16.0, 200_000
    beta = S.vanilla_best_beta(n, m, s2, sn2)
    Z = m * np.exp(beta) + n - m
    a, b = np.exp(beta) / Z, 1 / Z
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(trials)
    rel = theta[:, None] + np.sqrt(s2) * rng.standard_normal((trials, m))
    irr = np.sqrt(sn2) * rng.standard_normal((trials, n - m))
    err2 = (a * rel.sum(1) + b * irr.sum(1) - theta) ** 2
    se = err2.std(ddof=1) / np.sqrt(trials)
    assert abs(err2.mean() - S.value_gating_risks(n, m, s2, sn2)["vanilla_best"]) <= 5 * se


# ---------------------------------------------------------------- §3.6 Hopfield / log N temperature

def test_hopfield_beta():
    assert sp.simplify(sp.expand_log(D.derive_hopfield_beta()
                                     - (sp.log(D.N - 1) + sp.log(1 / D.eps)) / D.Delta, force=True)) == 0
    N = np.array([2, 64, 1024, 4096])
    for sep, eps in [(1.0, 0.01), (0.3, 0.2)]:
        b = S.hopfield_beta(N, sep, eps)
        np.testing.assert_allclose(S.hopfield_error(b, N, sep), eps, rtol=1e-12)
        # Needle mass with N − 1 competitors at separation Δ: 1 − p = ε/(1 + ε) <= ε.
        np.testing.assert_allclose(S.needle_mass(b * sep, N), 1 / (1 + eps), rtol=1e-12)
        # log N schedule: β0(1 + s log(N − 1)) with β0 = log(1/ε)/Δ and s = 1/log(1/ε).
        b0, s = np.log(1 / eps) / sep, 1 / np.log(1 / eps)
        np.testing.assert_allclose(b, b0 * (1 + s * np.log(N - 1)), rtol=1e-12)


def test_capacity_heuristic():
    f, b_star, peak = D.derive_capacity_log_N()
    assert b_star == D.d and sp.simplify(peak - D.d / 2) == 0
    beta = np.linspace(0, 40, 9)
    np.testing.assert_allclose(S.capacity_log_N(beta, 16), beta - beta**2 / 32, rtol=1e-13, atol=1e-13)
    res = minimize_scalar(lambda b: -S.capacity_log_N(b, 16), bounds=(0, 64), method="bounded",
                          options={"xatol": 1e-9})
    assert res.x == pytest.approx(16.0, abs=1e-5) and -res.fun == pytest.approx(8.0, rel=1e-10)
    assert S.capacity_peak(16) == (16.0, 8.0)


# ---------------------------------------------------------------- §3.7 homogeneous linear attention (C10)

def test_c10_query_temperature_inert_symbolic():
    assert D.derive_query_temperature_inert() == 0  # any φ with φ(τq) = τ^p φ(q), symbolic p
    for degree in (1, 2, 3):
        assert D.derive_query_temperature_inert(n_keys=3, dim=2, feature="tensor", degree=degree) == 0
        assert D.derive_query_temperature_unnormalized(n_keys=3, dim=2, feature="tensor", degree=degree) == 0
    assert D.derive_query_temperature_unnormalized() == 0
    taylor = D.derive_query_temperature_inert(n_keys=2, dim=1, feature="taylor")
    assert taylor != 0
    point = {sp.Symbol("q0", real=True): 1, sp.Symbol("k0_0", real=True): 1, sp.Symbol("k1_0", real=True): -1,
             sp.Symbol("v0", real=True): 1, sp.Symbol("v1", real=True): 0, D.tau: 3}
    # τ = 3 vs τ = 1 with κ(x) = 1 + x + x²/2: κ(3)/(κ(3) + κ(−3)) − κ(1)/(κ(1) + κ(−1)) = 17/22 − 5/6.
    assert taylor.subs(point) == sp.Rational(-2, 33)


def test_c10_query_temperature_inert_float64():
    rng = np.random.default_rng(2)
    q, K, V, tau = rng.standard_normal(5), rng.standard_normal((9, 5)), rng.standard_normal((9, 3)), 3.7

    def phi_sq(x):  # degree-2 tensor features: φ(q)·φ(k) = (q·k)²
        return np.outer(x, x).ravel() if x.ndim == 1 else np.einsum("na,nb->nab", x, x).reshape(len(x), -1)

    def taylor(x):
        return 1 + x + x**2 / 2

    for phi, p in [(lambda x: x, 1), (phi_sq, 2)]:
        sc, sc_t = phi(K) @ phi(q), phi(K) @ phi(tau * q)
        assert np.max(np.abs(V.T @ sc_t / sc_t.sum() - V.T @ sc / sc.sum())) < 1e-12
        np.testing.assert_allclose(V.T @ sc_t, tau**p * (V.T @ sc), rtol=1e-12)
    sc, sc_t = taylor(K @ q), taylor(K @ (tau * q))
    assert np.max(np.abs(V.T @ sc_t / sc_t.sum() - V.T @ sc / sc.sum())) > 1e-3


# ---------------------------------------------------------------- §3.8 write gating (C11)

def test_c11_write_gate_snr():
    assert sp.simplify(D.derive_key_overlap_second_moment() - 1 / D.d) == 0
    assert sp.simplify(D.derive_write_gate_snr() - D.d / (D.N_active - 1)) == 0
    # E[(k·k')²] from the sphere density ∝ (1 − t²)^{(d−3)/2}.
    for d in (3, 16, 64):
        w = lambda t, d=d: (1 - t * t) ** ((d - 3) / 2)  # noqa: E731
        m2 = quad(lambda t: t * t * w(t), -1, 1)[0] / quad(w, -1, 1)[0]
        assert m2 == pytest.approx(1 / d, rel=1e-9)
    # S4 theory values (in parentheses in §4): N/active 64/64, 64/16, 256/256, 256/64 at d = 64.
    snr = S.write_gate_snr(64, [64, 16, 256, 64])
    for got, want, decimals in zip(snr, [1.016, 4.27, 0.251, 1.016], [3, 2, 3, 3]):
        assert abs(got - want) <= half_unit(decimals)
    gain = S.write_gate_snr(64, np.array([16, 64, 1024]) // 4) / S.write_gate_snr(64, [16, 64, 1024])
    np.testing.assert_allclose(gain, [15 / 3, 63 / 15, 1023 / 255], rtol=1e-14)
    assert np.all(np.abs(gain[1:] / 4 - 1) <= 0.10) and np.all(np.diff(gain) < 0)
    assert S.write_gate_snr(64, 1) == np.inf


# ---------------------------------------------------------------- §2.5 parameter overhead (C12)

def test_c12_parameter_overhead():
    assert S.gate_parameter_count(768, 12, 12, "full_projection") == 7_087_104
    assert S.gate_parameter_count(768, 12, 12, "per_head_linear") == 221_472
    assert S.gate_parameter_count(768, 12, 12, "per_head_shared") == 18_720
    assert S.gate_parameter_count(768, 12, 12, "official") == 12
    share = lambda c, mdl: 100 * S.parameter_overhead(c, mdl)  # noqa: E731  [%]
    assert abs(share("full_projection", "gpt2-small") - 5.7) <= half_unit(1)
    assert abs(share("full_projection", "pythia-160m") - 4.4) <= half_unit(1)
    assert abs(share("full_projection", "pythia-410m") - 6.2) <= half_unit(1)
    assert abs(share("per_head_linear", "gpt2-small") - 0.18) <= half_unit(2)
    assert abs(share("per_head_shared", "gpt2-small") - 0.015) <= half_unit(3)
    assert share("per_head_linear", "gpt2-small") < 0.5 < share("full_projection", "gpt2-small")
    for name, ex in D.derive_gate_parameter_counts().items():
        for d, H, L in [(768, 12, 12), (1024, 16, 24), (5, 1, 3)]:
            assert int(ex.subs({D.d: d, D.H: H, D.L: L})) == S.gate_parameter_count(d, H, L, name)
    np.testing.assert_array_equal(S.gate_parameter_count([768, 1024], 16, 24, "official"), [24, 24])


# ---------------------------------------------------------------- input validation

BAD_CALLS = [
    (S.needle_mass, (np.nan, 4), "gap"),
    (S.needle_mass, (1.0, 0), "n"),
    (S.needle_mass, (1.0, 4.5), "n"),
    (S.needle_mass, (1.0, True), "n"),
    (S.needle_mass, (1.0, 4, -0.1), "s"),
    (S.required_gap, (1, 0.5), "n"),
    (S.required_gap, (16, 1.0), "p"),
    (S.required_gap, (16, 0.0), "p"),
    (S.required_gap_slope, (1,), "n"),
    (S.support_gap, (16, 16, 0.5), "m"),
    (S.support_gap, (16, 0, 0.5), "m"),
    (S.support_gap, (16, 4, 1.5), "p"),
    (S.query_norm_bound, (16, 0.9, 0.0), "key_distance"),
    (S.query_norm_bound, (16, 0.9, 1.0, -1.0), "tau"),
    (S.invariant_s, (0.0,), "Delta0"),
    (S.invariance_error, (0, 1.0), "n"),
    (S.invariance_error, (64, -1.0), "Delta0"),
    (S.needle_mass_random_keys, (-1.0, 16, 64), "Delta0"),
    (S.needle_mass_random_keys, (3.0, 16, 0), "d"),
    (S.position_temperature, (0,), "n"),
    (S.position_temperature, (16, np.inf), "s"),
    (S.dexp_s, (np.nan,), "beta"),
    (S.dexp_beta, (1.0,), "s"),
    (S.two_query_min_norm, (0.0, 1.0, 0.5), "Delta1"),
    (S.two_query_min_norm, (1.0, -1.0, 0.5), "Delta2"),
    (S.two_query_min_norm, (1.0, 2.0, 1.0), "rho"),
    (S.two_query_min_norm, (1.0, 2.0, 0.5, 0.0), "Delta_bar"),
    (S.value_gating_risks, (4, 5, 1.0, 1.0), "m"),
    (S.value_gating_risks, (0, 1, 1.0, 1.0), "n"),
    (S.value_gating_risks, (8, 2, -1.0, 1.0), "sigma2"),
    (S.value_gating_risks, (8, 2, 1.0, np.inf), "sigma_n2"),
    (S.vanilla_value_risk, (np.nan, 8, 2, 1.0, 1.0), "beta"),
    (S.vanilla_best_beta, (8, 8, 1.0, 1.0), "m"),
    (S.bayes_value_gate, (0, 1.0), "m"),
    (S.write_gate_snr, (0, 4), "d"),
    (S.write_gate_snr, (64, 0), "N_active"),
    (S.hopfield_beta, (1, 1.0, 0.1), "N"),
    (S.hopfield_beta, (64, 0.0, 0.1), "separation"),
    (S.hopfield_beta, (64, 1.0, 1.0), "eps"),
    (S.hopfield_error, (-1.0, 64, 1.0), "beta"),
    (S.capacity_log_N, (1.0, 0), "d"),
    (S.gate_parameter_count, (768, 12, 12, "lora"), "construction"),
    (S.gate_parameter_count, (768, 0, 12, "official"), "H"),
    (S.parameter_overhead, ("official", "gpt5"), "model"),
    (D.derive_query_temperature_inert, (3, 2, "relu"), "feature"),
]


@pytest.mark.parametrize("fn, args, name", BAD_CALLS, ids=[f"{f.__name__}-{nm}" for f, _, nm in BAD_CALLS])
def test_invalid_input_names_the_parameter(fn, args, name):
    with pytest.raises(ValueError, match=name):
        fn(*args)

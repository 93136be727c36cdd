"""theory.memory: closed forms vs sympy, the numbers of associative_memory.md, Monte Carlo, limits, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from theory import memory as mem
from theory.memory import derivations as der

# ---------------------------------------------------------------------------------------------------------
# §2.2 Hebbian gap variance
# ---------------------------------------------------------------------------------------------------------


def test_gap_variance_spec_form():
    N, M, d = np.array([9, 121, 64, 300]), np.array([9, 121, 32, 7]), np.array([16, 64, 64, 50])
    want = 2 * N / (M * d) + 2 * N / d**2 + 2 / d
    np.testing.assert_allclose(mem.hebbian_gap_variance(N, M, d), want, rtol=1e-15)
    # M = N: 2N/d² + 4/d
    assert mem.hebbian_gap_variance(121, 121, 64) == pytest.approx(2 * 121 / 64**2 + 4 / 64, rel=1e-15)
    assert isinstance(mem.hebbian_gap_variance(9, 9, 16), float)


def test_gap_variance_derivation_closed_forms():
    g = der.derive_hebbian_gap()
    N, M, d = der.N, der.M, der.d
    assert g.mean == 1
    assert sp.simplify(g.mu_gaussian - (1 + 2 / d)) == 0
    assert sp.simplify(g.var_sphere - (2 * N / (M * d) + (2 * N - 2 * N / M - 1) / d**2)) == 0
    # the spec form is the large-d form of the mixed laws: they differ by O((1 + N/M)/d²)
    assert sp.simplify(g.var_gaussian_inputs - g.var_spec - (1 - 2 * N / M) / d**2) == 0
    assert sp.simplify(g.var_gaussian_outputs - g.var_spec - (2 * N / M - 3) / d**2) == 0
    # ...and exceeds the sphere (the Nichani et al. embeddings) by 2/d at leading order
    assert sp.limit(d * (g.var_spec - g.var_sphere), d, sp.oo) == 2
    assert sp.limit(d * (g.var_gaussian - g.var_spec), d, sp.oo) == 2
    # lambdified numerics agree with the sympy expressions
    for key in ("sphere", "gaussian", "gaussian_inputs", "gaussian_outputs"):
        expr = getattr(g, f"var_{key}")
        val = float(expr.subs({N: 24, M: 6, d: 10}))
        assert mem.hebbian_gap_variance(24, 6, 10, key) == pytest.approx(val, rel=1e-13)
    # the balanced general form equals the per-class-size form
    assert mem.hebbian_gap_variance_exact(24, 10, 4, 4, "gaussian", "sphere") == pytest.approx(
        mem.hebbian_gap_variance(24, 6, 10, "gaussian_inputs"), rel=1e-13
    )


def _draw(rng, shape, kind):
    X = rng.standard_normal(shape)
    if kind == "sphere":
        return X / np.linalg.norm(X, axis=-1, keepdims=True)
    return X / np.sqrt(shape[-1])


def _mc_gaps(rng, N, M, d, inputs, outputs, trials):
    """Gap Δ of input 0 (class f*(0) = 0) against class 1 for f*(i) = ⌊iM/N⌋, one gap per independent draw."""
    f = (np.arange(N) * M) // N
    E = _draw(rng, (trials, N, d), inputs)
    U = _draw(rng, (trials, M, d), outputs)
    ge = np.einsum("tnd,td->tn", E, E[:, 0])  # e_x'·e_0
    gu = np.einsum("tmd,tnd->tmn", U, U[:, f])  # u_y·u_{f*(x')}
    scores = np.einsum("tmn,tn->tm", gu, ge)
    return scores[:, 0] - scores[:, 1]


def _var_se(x):
    """Sample variance and its standard error sqrt((m4 − s⁴)/n) (no Gaussian assumption)."""
    c = x - x.mean()
    s2 = c.var(ddof=1)
    return s2, math.sqrt(max(np.mean(c**4) - s2**2, 0.0) / x.size)


@pytest.mark.parametrize(
    "N, M, d, embeddings, inputs, outputs",
    [
        (12, 3, 8, "sphere", "sphere", "sphere"),
        (8, 8, 16, "gaussian", "gaussian", "gaussian"),
        (16, 4, 16, "gaussian_inputs", "gaussian", "sphere"),
        (20, 20, 32, "gaussian_outputs", "sphere", "gaussian"),
    ],
)
def test_gap_variance_monte_carlo(N, M, d, embeddings, inputs, outputs):
    rng = np.random.default_rng(1234 + N + M + d)
    gaps = _mc_gaps(rng, N, M, d, inputs, outputs, trials=6000)
    v, se = _var_se(gaps)
    assert abs(v - mem.hebbian_gap_variance(N, M, d, embeddings)) < 4 * se
    assert abs(gaps.mean() - mem.hebbian_gap_mean()) < 4 * gaps.std(ddof=1) / math.sqrt(gaps.size)


def test_gap_variance_monte_carlo_unbalanced_and_spec_gap():
    rng = np.random.default_rng(7)
    # N = 10, M = 4: classes of sizes 3, 2, 3, 2; input 0 in class 0 (n_a = 3), competitor class 1 (n_b = 2)
    gaps = _mc_gaps(rng, 10, 4, 12, "sphere", "sphere", trials=6000)
    v, se = _var_se(gaps)
    assert abs(v - mem.hebbian_gap_variance_exact(10, 12, 3, 2)) < 4 * se
    # the §2.2 form does not describe unit-sphere embeddings at small d: it is 2/d too large
    gaps = _mc_gaps(rng, 8, 8, 16, "sphere", "sphere", trials=6000)
    v, se = _var_se(gaps)
    assert abs(v - mem.hebbian_gap_variance(8, 8, 16, "sphere")) < 4 * se
    assert mem.hebbian_gap_variance(8, 8, 16) - v > 8 * se


# §2.2 table: (d, N_99, M) for M = N and M = 32
HEBBIAN_TABLE = [(16, 9, 9), (32, 28, 28), (64, 121, 121), (128, 445, 445), (32, 28, 32), (64, 64, 32), (128, 164, 32)]


def test_threshold_statistic_table_A3b():
    d, N, M = (np.array(c) for c in zip(*HEBBIAN_TABLE))
    stat = mem.hebbian_threshold_statistic(N, M, d)
    # "√Var·√(2 ln M) ∈ [0.9, 1.2] in every case" (two digits), inside the A3b band [0.8, 1.25]
    assert np.all(np.round(stat, 2) >= 0.9) and np.all(np.round(stat, 2) <= 1.2)
    assert np.all((stat >= 0.8) & (stat <= 1.25))
    # the inverse: N_99 lies between the predicted N at the two ends of the band
    lo = mem.hebbian_threshold_capacity(d[:4], level=0.895)
    hi = mem.hebbian_threshold_capacity(d[:4], level=1.2)
    assert np.all((lo <= N[:4]) & (N[:4] <= hi))
    lo = mem.hebbian_threshold_capacity(d[4:], M=32, level=0.895)
    hi = mem.hebbian_threshold_capacity(d[4:], M=32, level=1.2)
    assert np.all((lo <= N[4:]) & (N[4:] <= hi))


def test_hebbian_table_ratios_A3():
    d, N, M = (np.array(c) for c in zip(*HEBBIAN_TABLE))
    np.testing.assert_array_equal(np.round(N[:4] / d[:4] ** 2, 3), [0.035, 0.027, 0.030, 0.027])
    np.testing.assert_array_equal(np.round(mem.capacity_constant(N[:4], d[:4] ** 2), 2), [0.08, 0.09, 0.14, 0.17])
    np.testing.assert_array_equal(np.round(N[4:] / d[4:], 1), [0.9, 1.0, 1.3])
    assert np.all((N[:4] / d[:4] ** 2 >= 0.02) & (N[:4] / d[:4] ** 2 <= 0.04))  # A3 band
    # A3c: trained/Hebbian N_99 at d = 32, 64
    np.testing.assert_array_equal(np.round([176 / 28, 512 / 121], 1), [6.3, 4.2])


def test_threshold_capacity_round_trip():
    for M in (None, 32):
        for level in (0.9, 1.0, 1.2):
            n = mem.hebbian_threshold_capacity(64, M=M, level=level)
            var = mem.derivations.lambdified("hebbian_var_spec")(n, n if M is None else M, 64)
            assert math.sqrt(var * 2 * math.log(n if M is None else M)) == pytest.approx(level, rel=1e-10)


def test_union_bound_bijection_identity():
    u = der.derive_union_bound()
    N, d = der.N, der.d
    assert sp.simplify(u.inverse_two_var_bijection - d**2 / (4 * N + 8 * d)) == 0
    target = d**2 - (4 * N + 8 * d) * sp.log(N * (N - 1) / der.delta)
    assert sp.simplify(sp.expand_log(u.condition_bijection - target, force=True)) == 0
    for dd, delta in ((64, 0.01), (128, 0.05), (1000, 1e-3)):
        n = mem.hebbian_union_capacity(dd, delta=delta)
        assert dd**2 == pytest.approx((4 * n + 8 * dd) * math.log(n * (n - 1) / delta), rel=1e-10)
        k = math.floor(n)
        assert mem.hebbian_union_bound(k, k, dd) <= delta < mem.hebbian_union_bound(k + 1, k + 1, dd)


def test_union_capacity_fixed_M_and_asymptotics():
    n = mem.hebbian_union_capacity(256, M=32, delta=0.01)
    assert mem.hebbian_union_bound(math.floor(n), 32, 256) <= 0.01 < mem.hebbian_union_bound(math.ceil(n), 32, 256)
    assert mem.hebbian_union_capacity(2) == 0.0  # no N >= 2 certified in d = 2
    # N ≈ d²/(8 ln N) as N ≫ d: 8 N ln N/d² increases towards 1
    ds = np.array([1e3, 1e6, 1e9, 1e12])
    Ns = mem.hebbian_union_capacity(ds)
    r = 8 * Ns * np.log(Ns) / ds**2
    assert np.all(np.diff(r) > 0) and 0.9 < r[1] and r[-1] < 1


def test_hebbian_far_below_trained_capacity():
    # the union bound is conservative and the predictor is below the trained memory at every d
    for d, n_trained in ((32, 176), (64, 512)):
        assert mem.hebbian_union_capacity(d) < mem.hebbian_threshold_capacity(d) < n_trained / 3


# ---------------------------------------------------------------------------------------------------------
# §2.1, §2.3, §3 capacity laws, readout, bits
# ---------------------------------------------------------------------------------------------------------


def test_capacity_law_matches_sympy_solution():
    law = der.derive_capacity_law()
    for area, kappa in ((64.0, 1.06), (4096.0, 0.77), (512.0, 2.86), (1e8, 0.5)):
        want = float(law.N.subs({der.kappa: kappa, der.area: area}).evalf(30))
        n = mem.capacity_from_law(area, kappa)
        assert n == pytest.approx(want, rel=1e-12)
        assert n * math.log(n) == pytest.approx(kappa * area, rel=1e-12)
    # slope of ln N in ln(area): finite difference of the solved law vs 1/(1 + 1/ln N)
    for area in (256.0, 4096.0, 1e6):
        h = 1e-5
        n0 = mem.capacity_from_law(area, 0.77)
        up, down = mem.capacity_from_law(area * math.exp(h), 0.77), mem.capacity_from_law(area * math.exp(-h), 0.77)
        fd = (math.log(up) - math.log(down)) / (2 * h)
        assert fd == pytest.approx(mem.capacity_loglog_slope(n0), rel=1e-7)
    assert sp.simplify(law.loglog_slope - 1 / (1 + 1 / sp.log(der.N))) == 0


def test_linear_table_A1_A2():
    d = np.array([8, 16, 32, 45, 64])
    N = np.array([22, 62, 176, 305, 512])
    kap = mem.capacity_constant(N, d**2)
    np.testing.assert_array_equal(np.round(kap, 2), [1.06, 1.00, 0.89, 0.86, 0.78])
    assert np.all(np.diff(kap) <= 0) and np.all((kap >= 0.65) & (kap <= 1.15))
    # A2: measured slope 0.76 (d 16 → 64); the law predicts 1/(1 + 1/ln N) ∈ 0.80–0.86
    assert round(math.log(512 / 62) / math.log(64**2 / 16**2), 2) == 0.76
    np.testing.assert_array_equal(np.round(mem.capacity_loglog_slope([62, 512]), 2), [0.80, 0.86])
    # the law at the measured κ returns the measured N
    np.testing.assert_allclose(mem.linear_capacity(d, kap), N, rtol=1e-12)
    # guide κ = 0.77 is d² = 1.3·N ln N
    assert 1 / mem.GUIDE_KAPPA_LINEAR == pytest.approx(1.3, abs=0.005)


def test_mlp_table_A4_A5():
    dm = [(8, 8), (8, 16), (16, 16), (8, 32), (16, 32)]
    N = np.array([50, 92, 162, 159, 279])
    md = np.array([d * m for d, m in dm])
    np.testing.assert_array_equal(np.round(mem.capacity_constant(N, md), 2), [3.06, 3.25, 3.22, 3.15, 3.07])
    kap = mem.capacity_constant(N, md)
    assert abs(kap[2] / kap[3] - 1) < 0.15  # equal md, m/d = 1 vs 4
    np.testing.assert_array_equal(np.round(np.array([50, 126, 256]) / md[:3], 2), [0.78, 0.98, 1.00])
    np.testing.assert_allclose(mem.mlp_capacity(8, 8, kap[0]), 50, rtol=1e-12)
    assert mem.mlp_capacity_fixed_outputs(16, 16) == pytest.approx(0.83 * 256)
    assert 1 / mem.GUIDE_KAPPA_MLP == pytest.approx(0.35, abs=0.001)
    assert 1 / mem.GUIDE_C_MLP_FIXED == pytest.approx(1.2, abs=0.005)


def test_bits_per_parameter_A6():
    # linear: N log2 N/d² = κ/ln 2 exactly; guide κ → 1.11 bits per entry (1.1 ± 0.2)
    N, d = np.array([176, 512]), np.array([32, 64])
    bits = mem.bits_per_parameter(mem.associative_bits(N, N), d**2)
    np.testing.assert_allclose(bits, mem.capacity_constant(N, d**2) / math.log(2), rtol=1e-14)
    assert abs(mem.GUIDE_KAPPA_LINEAR / math.log(2) - 1.1) <= 0.2
    # MLP, M = N: N log2 N = (κ_MLP/ln 2)·md ≈ 4.1·md → ≈ 2.0 per (2md + m), d = 8..90
    assert round(mem.GUIDE_KAPPA_MLP / math.log(2), 1) == 4.1
    for d in (8, 16, 90):
        m = 2 * d
        n = mem.mlp_capacity(m, d)
        b = mem.bits_per_parameter(n * math.log2(n), 2 * m * d + m)
        assert abs(b - 2.0) <= 0.4
        # M = 32: 0.83·md facts × 5 bits
        b32 = mem.bits_per_parameter(mem.mlp_capacity_fixed_outputs(m, d) * 5, 2 * m * d + m)
        assert abs(b32 - 2.0) <= 0.4 and round(0.83 * 5 / 2, 1) == 2.1
    # §7: 0.15 facts per P_paper at D = 8 → 0.45 bits per counted parameter
    P = mem.transformer_param_count(8, 4, 32, 32)
    facts = mem.transformer_capacity(P)
    assert mem.bits_per_parameter(facts * math.log2(8), P) == pytest.approx(0.45, rel=1e-12)


def test_lower_bounds_B1():
    assert mem.associative_bits(1024, 32) == 5120.0
    assert mem.fact_table_bits(32, 32, 8) == 3072.0
    assert mem.answer_set_bits(32, 8) == 1280.0
    assert mem.answer_set_bits(2, 2, exact=True) == pytest.approx(math.log2(6), rel=1e-13)
    assert mem.bijection_bits(10) == pytest.approx(math.log2(math.factorial(10)), rel=1e-13)
    # exact multinomial below RD log2 R, relatively closer as D grows
    R, D = 4, np.array([2, 20, 200, 20000])
    ex, ap = mem.answer_set_bits(R, D, exact=True), mem.answer_set_bits(R, D)
    assert np.all(ex < ap) and np.all(np.diff(ex / ap) > 0) and ex[-1] / ap[-1] > 0.99
    assert np.all(mem.bijection_bits([10, 100]) < mem.associative_bits([10, 100], [10, 100]))
    # minimal parameters and dimension at b bits per parameter
    assert mem.min_parameters(mem.fact_table_bits(32, 32, 8), 2.0) == 1536.0
    dmin = mem.min_linear_dim(500, 500, 2.0)
    assert dmin**2 * 2.0 == pytest.approx(500 * math.log2(500), rel=1e-13)


def test_readout_bottleneck_A7():
    d = np.array([1, 5, 16, 64])
    np.testing.assert_allclose(mem.cover_separable_probability(2 * d, d), 0.5, rtol=1e-14)
    assert mem.cover_separable_probability(16, 16) == 1.0
    p = mem.cover_separable_probability(np.arange(1, 80), 16)
    assert np.all(np.diff(p) <= 0)
    np.testing.assert_array_equal(mem.cover_capacity(d), 2 * d)
    # measured M = 2 capacities lie in the A7 band around 2
    assert all(1.5 <= r <= 2.5 for r in (2.06, 1.69, 1.94))
    # (M − 1)d ≥ d² needs M ≥ d + 1; M = 2 gives d
    assert mem.linear_readout_dof(2, 32) == 32
    assert mem.linear_readout_dof(33, 32) >= 32**2 > mem.linear_readout_dof(32, 32)
    assert mem.mlp_readout_bound(16, 8, 32) == 16 * 40


# ---------------------------------------------------------------------------------------------------------
# §6.2 transformer parameter counts
# ---------------------------------------------------------------------------------------------------------


def test_param_counts_F0():
    assert mem.transformer_param_count(4, 4, 16, 16) == 1536
    assert mem.transformer_param_count(5, 8, 32, 52) == 8448
    pc = mem.transformer_param_counts(5, 8, 32, 52)
    assert pc == (8448, 8500, 2 * 5 * 8 * 32 + 2 * 52 * 32 + 52)
    H, d_h, d, m = der.H, der.d_h, der.d, der.m
    p = der.derive_param_counts()
    assert sp.expand(p.paper - (4 * H * d_h * d + 2 * m * d)) == 0
    assert sp.expand(p.trainable - p.paper - m) == 0
    assert sp.expand(p.storing - (2 * H * d_h * d + 2 * m * d + m)) == 0
    np.testing.assert_array_equal(mem.transformer_param_count([1, 2, 4], 4, 16, [16, 16, 0]), [768, 1024, 1024])


def test_tradeoff_readings_section_6_5():
    x, y = mem.tradeoff_axes(5, 8, 32, 52)
    assert x == 1280 and 2300 - x / 2 == 1660 and round(1660 / 32) == 52 and y == 1664
    assert abs(1024 / mem.transformer_param_count(5, 8, 32, 52) - 0.12) < 0.005
    # attention-only: x ≈ 4600 → H ≈ 18, P ≈ 18.4k, facts/P ≈ 0.055
    assert round(4600 / (32 * 8)) == 18
    P = mem.transformer_param_count(18, 8, 32, 0)
    assert abs(P - 18400) < 100 and abs(1024 / P - 0.055) < 0.001


def test_fact_sweep_shape():
    d_h, m = mem.fact_sweep_shape([8, 8, 8, 181], [0.25, 1, 4, 4], [0.25, 1, 4, 0.5], 8)
    np.testing.assert_array_equal(d_h, [0, 1, 4, 90])
    np.testing.assert_array_equal(m, [2, 8, 32, 90])
    with pytest.raises(ValueError, match="^d_h "):
        mem.transformer_param_count(8, 0, 8, 2)  # the empty attention layer of §7 is rejected


# ---------------------------------------------------------------------------------------------------------
# §8.4 sequential learning
# ---------------------------------------------------------------------------------------------------------


def test_sequential_derivation():
    s = der.derive_sequential()
    S, R, D = der.S, der.R, der.D
    assert s.rel_sum == 0 and s.subj_sum == 0
    assert sp.simplify(s.rel_norm_sq - (1 / D - 1 / (R * D)) / R**2) == 0
    assert sp.simplify(s.subj_norm_sq - (1 / R - 1 / (R * D)) / S**2) == 0
    assert sp.simplify(s.subj_norm_sq_after - s.subj_norm_sq) == 0
    assert sp.simplify(s.ratio**2 - (S / R) ** 2 * (R - 1) / (D - 1)) == 0  # both sides positive
    t, g, a0 = der.t, der.g, der.a0
    assert sp.simplify(sp.diff(s.a_linear, t) - g * s.v_linear) == 0
    assert sp.simplify(sp.diff(s.v_linear, t) - g * s.a_linear) == 0
    assert s.a_linear.subs(t, 0) == a0 and s.v_linear.subs(t, 0) == 0
    # acosh(A/a0)/g → (ln(1/a0) + ln 2A)/g as a0 → 0
    assert sp.limit(s.escape_linear - s.escape_asymptotic, a0, 0, "+") == 0
    for S_, R_, D_ in ((16, 4, 8), (8, 32, 8), (5, 3, 2)):
        sub = {S: S_, R: R_, D: D_, der.c: 1.8, der.eta: 0.1, a0: 1e-5}
        assert float(s.ratio.subs(sub)) == pytest.approx(mem.stage_time_ratio(S_, R_, D_), rel=1e-13)
        assert float(s.hallucination_length.subs(sub)) == pytest.approx(
            mem.hallucination_length(S_, R_, D_, 0.1, 1e-5, 1.8), rel=1e-12
        )


def test_token_gradients_structured_and_random():
    S, R, D = 16, 4, 8
    table = mem.structured_answer_table(S, R, D)
    assert table.shape == (S, R) and np.all(table // D == np.arange(R))
    assert np.all(np.bincount(table.ravel(), minlength=R * D) == S // D)  # marginal 1/(RD)
    g = mem.token_gradients(table, D)
    np.testing.assert_allclose(np.linalg.norm(g.relation, axis=1), mem.relation_gradient_norm(R, D), rtol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(g.subject, axis=1), mem.subject_gradient_norm(S, R, D), rtol=1e-13)
    np.testing.assert_allclose(g.per_count, 0.0, atol=1e-16)  # noise and EOS: no mean gradient
    # on the hallucination plateau: relation gradient vanishes, subject norm unchanged
    h = mem.token_gradients(table, D, stage="relation")
    np.testing.assert_allclose(h.relation, 0.0, atol=1e-16)
    np.testing.assert_allclose(np.linalg.norm(h.subject, axis=1), mem.subject_gradient_norm(S, R, D), rtol=1e-13)
    # a random table with S = R = 4, D = 8 has a non-uniform marginal, which EOS/noise tokens fit (S5)
    rng = np.random.default_rng(0)
    rand = rng.integers(0, 8, size=(4, 4)) + 8 * np.arange(4)
    assert np.linalg.norm(mem.token_gradients(rand, 8).per_count) > 0.1


# §8.4 table: (S, R, D, a0) → relation pred, measured; subject pred, measured; ratio pred, measured
STAGE_TABLE = [
    (16, 4, 8, 1e-5, 1504, 1728, 3939, 4608, 2.62, 2.67),
    (16, 4, 8, 1e-3, 902, 1152, 2363, 3008, 2.62, 2.61),
    (16, 8, 8, 1e-5, 2785, 3264, 5570, 6528, 2.00, 2.00),
]


def test_stage_time_table_S3():
    for S, R, D, a0, r_pred, r_meas, s_pred, s_meas, q_pred, q_meas in STAGE_TABLE:
        t = mem.stage_times(S, R, D, 0.1, a0)
        assert abs(t.relation - r_pred) < 0.5 and abs(t.subject - s_pred) < 0.5
        assert round(mem.stage_time_ratio(S, R, D), 2) == q_pred
        # the measured times imply c ∈ [1.7, 2.0] ...
        for meas, gn in ((r_meas, mem.relation_gradient_norm(R, D)), (s_meas, mem.subject_gradient_norm(S, R, D))):
            c = 0.1 * gn * meas - math.log(1 / a0)
            assert 1.7 <= c <= 2.0
        # ... and c = 1.8 predicts them within the S3 tolerances (times ±20%, ratio ±10%)
        t = mem.stage_times(S, R, D, 0.1, a0, c=1.8)
        assert abs(t.relation / r_meas - 1) < 0.2 and abs(t.subject / s_meas - 1) < 0.2
        assert abs(mem.stage_time_ratio(S, R, D) / q_meas - 1) < 0.1
    # reversal row: S8 R32 D8
    t = mem.stage_times(8, 32, 8, 0.1, 1e-5)
    assert abs(t.relation - 10587) < 0.5 and abs(t.subject - 5570) < 0.5
    assert round(mem.stage_time_ratio(8, 32, 8), 2) == 0.53


def test_order_reversal_and_plateaus_S1_S4():
    assert mem.relation_first(16, 4, 8) and not mem.relation_first(8, 32, 8)
    np.testing.assert_array_equal(mem.relation_first([16, 16, 8], [4, 8, 32], 8), [True, True, False])
    assert mem.hallucination_length(16, 4, 8, 0.1, 1e-5) > 0 > mem.hallucination_length(8, 32, 8, 0.1, 1e-5)
    t = mem.stage_times(16, 4, 8, 0.1, 1e-5, 1.8)
    assert mem.hallucination_length(16, 4, 8, 0.1, 1e-5, 1.8) == pytest.approx(t.subject - t.relation, rel=1e-14)
    # S = R, D = R: ratio exactly 1 (no order)
    assert mem.stage_time_ratio(8, 8, 8) == pytest.approx(1.0, rel=1e-15)
    p = mem.stage_plateaus(4, 8)
    assert round(p.initial, 3) == 3.466 and round(p.relation_learned, 3) == 2.079 and p.relation_accuracy == 0.125
    assert round(mem.stage_plateaus(32, 8).subject_learned, 3) == 3.466


# ---------------------------------------------------------------------------------------------------------
# §9 Cabannes et al.
# ---------------------------------------------------------------------------------------------------------


def test_unseen_and_tail_mass_Z1():
    assert round(mem.unseen_mass(2, 100, 1024), 4) == 0.0157
    assert round(mem.unseen_mass(2, 100, 10240), 4) == 0.0018
    np.testing.assert_array_equal(np.round(mem.tail_mass(2, 100, [10, 20, 50]), 3), [0.052, 0.024, 0.006])
    Ts = np.logspace(2, 4, 11)
    slope = np.polyfit(np.log(Ts), np.log(mem.unseen_mass(2, 10**6, Ts)), 1)[0]
    assert round(slope, 3) == -0.499 and abs(slope + 0.5) < 0.05
    # limits: T = 0 → 1; K = 0 → 1, K = N → 0; N = 1
    assert mem.unseen_mass(1.5, 50, 0) == pytest.approx(1.0, rel=1e-14)
    assert mem.tail_mass(2, 100, 0) == pytest.approx(1.0, rel=1e-14) and mem.tail_mass(2, 100, 100) == 0.0
    assert mem.unseen_mass(2, 1, [0, 5]).tolist() == [1.0, 0.0]
    p = mem.zipf_probabilities(2, 100)
    assert p.sum() == pytest.approx(1.0, rel=1e-14) and np.all(np.diff(p) < 0)


def test_zipf_asymptotics_vs_sympy_and_sums():
    z = der.derive_zipf_asymptotics()
    a = der.alpha
    assert sp.simplify(z.unseen / (sp.gamma(1 - 1 / a) * der.T ** (-(a - 1) / a) / (a * der.Z ** (1 / a))) - 1) == 0
    assert sp.simplify(z.unseen_exponent + (a - 1) / a) == 0
    for alpha in (1.5, 2.0, 3.0):
        sub = {der.k: alpha - 1, der.T: 5000.0, der.Z: float(sp.zeta(alpha))}
        assert mem.unseen_mass_asymptotic(alpha, 5000.0) == pytest.approx(float(z.unseen.subs(sub)), rel=1e-12)
        assert mem.tail_mass_asymptotic(alpha, 40.0) == pytest.approx(
            float(z.tail.subs({der.k: alpha - 1, der.K: 40.0, der.Z: float(sp.zeta(alpha))})), rel=1e-12
        )
    # exact sums approach the integrals (N = 10⁶ ≫ cut-off √(T/ζ))
    assert mem.unseen_mass(2, 10**6, 1e4) == pytest.approx(mem.unseen_mass_asymptotic(2, 1e4), rel=2e-3)
    assert mem.unseen_mass(3, 10**6, 1e4) == pytest.approx(mem.unseen_mass_asymptotic(3, 1e4), rel=1e-3)
    assert mem.tail_mass(2, 10**6, 1000) == pytest.approx(mem.tail_mass_asymptotic(2, 1000), rel=2e-3)
    distinct = float(z.distinct.subs({der.k: 1, der.T: 1e4, der.Z: float(sp.zeta(2))}))
    assert abs(mem.expected_distinct(2, 10**6, 1e4) - distinct) < 1.0
    assert mem.expected_distinct(2, 100, 0) == 0.0


def test_scheme_exponents():
    e = der.derive_scheme_exponents()
    a = der.alpha
    assert sp.simplify(e.power + (a - 1) / (2 * a * der.rho)) == 0
    assert sp.simplify(e.frequency + (a - 1) / (2 * a)) == 0
    assert sp.simplify(e.power_limit - (1 - a)) == 0 and sp.simplify(e.threshold_d - (1 - a)) == 0
    assert sp.simplify(e.balance - der.T ** (1 / a)) == 0
    assert mem.frequency_exponent(2) == -0.25
    assert mem.threshold_exponents(2) == (-1.0, -0.5)
    for alpha, rho in ((2.0, 1.0), (2.0, 0.35), (3.0, 0.2), (1.5, 2.0)):
        want = float(e.power.subs({der.k: alpha - 1, der.rho: rho}))
        assert mem.power_exponent(alpha, rho) == pytest.approx(want, rel=1e-14)
    assert mem.power_exponent(2, 1) == mem.frequency_exponent(2)
    assert mem.power_exponent(2, 0.25 + 1e-9) == pytest.approx(mem.threshold_exponents(2)[0], rel=1e-7)
    assert mem.threshold_balance_dimension(2, 10**4) == pytest.approx(100.0, rel=1e-14)
    with pytest.raises(ValueError, match="^rho "):
        mem.power_exponent(2, 0.25)


def test_threshold_chance_correction_Z2():
    d = np.array([32, 64, 128, 256, 512])
    tail = mem.tail_mass(2, 1000, d // 8)
    assert np.all((np.round(tail * d, 1) >= 4.3) & (np.round(tail * d, 1) <= 4.6))
    err = mem.threshold_error(2, 1000, d // 8, 5)
    np.testing.assert_allclose(err, 0.8 * tail, rtol=1e-15)
    measured = np.array([3.6, 3.5, 3.8, 3.7, 3.6])
    assert np.all(np.abs(err * d / measured - 1) < 0.25)  # Z2 level tolerance
    slope = np.polyfit(np.log(d), np.log(err), 1)[0]
    assert -1.15 <= slope <= -0.85
    assert mem.chance_corrected_error(0.5, 1) == 0.0


def test_one_step_memory_Z6():
    o = der.derive_one_step_memory()
    assert all(z == 0 for z in o.difference)
    rng = np.random.default_rng(3)
    N, M, dim = 30, 5, 7
    E = rng.standard_normal((N, dim)) / math.sqrt(dim)
    U = rng.standard_normal((M, dim)) / math.sqrt(dim)
    f = np.arange(N) % M
    p = mem.zipf_probabilities(2, N)
    W1 = mem.one_step_memory(p, E, U, f, eta=0.5)
    np.testing.assert_allclose(W1, 0.5 * mem.memory_gradient(np.zeros((dim, dim)), p, E, U, f), rtol=1e-13, atol=1e-16)
    # frequency memory minus the ū correction
    np.testing.assert_allclose(
        W1, 0.5 * (mem.weighted_memory(p, E, U, f) - np.outer(U.mean(axis=0), p @ E)), rtol=1e-12, atol=1e-16
    )

    def loss(W):
        z = E @ W.T @ U.T
        z = z - z.max(axis=1, keepdims=True)
        return float(np.sum(p * (np.log(np.exp(z).sum(axis=1)) - z[np.arange(N), f])))

    W = rng.standard_normal((dim, dim))
    G = mem.memory_gradient(W, p, E, U, f)
    h = 1e-6
    fd = np.zeros_like(W)
    for i in range(dim):
        for j in range(dim):
            Wp, Wm = W.copy(), W.copy()
            Wp[i, j] += h
            Wm[i, j] -= h
            fd[i, j] = -(loss(Wp) - loss(Wm)) / (2 * h)
    np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-9)


def test_scheme_weights_and_memory_error():
    counts = np.array([5.0, 3.0, 3.0, 0.0, 1.0])
    np.testing.assert_array_equal(mem.scheme_weights("fill", counts), np.ones(5))
    np.testing.assert_allclose(mem.scheme_weights("frequency", counts), counts / 12, rtol=1e-15)
    np.testing.assert_array_equal(mem.scheme_weights("seen", counts), [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(mem.scheme_weights("threshold", counts, K=2), [1, 1, 0, 0, 0])  # tie → lower index
    np.testing.assert_allclose(mem.scheme_weights("power", counts, rho=0.5), np.sqrt(counts / 12), rtol=1e-15)
    np.testing.assert_allclose(mem.scheme_weights("power", counts, K=1, rho=2.0), [(5 / 12) ** 2, 0, 0, 0, 0])
    # orthonormal embeddings: the Hebbian memory recalls exactly the stored tokens
    N, M = 6, 3
    E, U = np.eye(N), np.eye(M)
    f = np.arange(N) % M
    p = np.full(N, 1 / N)
    q = mem.scheme_weights("threshold", np.arange(N, 0, -1.0), K=4)
    W = mem.weighted_memory(q, E, U, f)
    # tokens 4, 5 are unstored: all-zero scores, argmax → class 0, while f*(4) = 1, f*(5) = 2
    assert mem.memory_error(W, p, E, U, f) == pytest.approx(2 / 6)


def test_margin_recursion():
    m = der.derive_margin_recursion()
    q, Mm1 = der.q, der.Mm1
    assert sp.simplify(m.increment - 1 / (1 + sp.exp(q) / Mm1)) == 0
    assert sp.simplify(m.invariant - (q + (sp.exp(q) - 1) / Mm1)) == 0
    assert m.small_q_rate.subs(Mm1, 4) == sp.Rational(4, 5)
    n = np.array([0, 1, 10, 100, 1000])
    qc = mem.margin_continuum(n, 0.01, 5)
    np.testing.assert_allclose(qc + np.expm1(qc) / 4, 0.01 * n, rtol=1e-12, atol=1e-15)
    for nn, qq in zip(n[1:], qc[1:]):
        sol = float(m.solution.subs({der.gamma: 0.01, der.n: int(nn), Mm1: 4}).evalf(30))
        assert qq == pytest.approx(sol, rel=1e-10)
    # the recursion follows the continuum to O(γ), grows ∝ n while q ≪ 1, logarithmically later
    qr = mem.margin_recursion(n, 0.01, 5)
    assert qr[0] == 0.0 and qr[1] == pytest.approx(0.01 * 4 / 5, rel=1e-14)
    assert np.max(np.abs(qr - qc)) < 0.01
    assert mem.margin_recursion(10, 0.001, 5) == pytest.approx(0.001 * 10 * 4 / 5, rel=1e-3)
    big = mem.margin_recursion(10**4, 1.0, 5)
    assert abs(big - math.log(4 * 1.0 * 10**4)) < 0.01
    # large γ: nearly constant on seen tokens (close to the seen/threshold scheme)
    assert mem.margin_recursion(50, 100.0, 5) / mem.margin_recursion(1, 100.0, 5) < 1.01


# ---------------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: mem.hebbian_gap_variance(0, 2, 8), "N"),
        (lambda: mem.hebbian_gap_variance(10, 1, 8), "M"),
        (lambda: mem.hebbian_gap_variance(10, 2, 0), "d"),
        (lambda: mem.hebbian_gap_variance(10.5, 2, 8), "N"),
        (lambda: mem.hebbian_gap_variance(np.nan, 2, 8), "N"),
        (lambda: mem.hebbian_gap_variance(10, 2, np.inf), "d"),
        (lambda: mem.hebbian_gap_variance(10, 2, 8, "uniform"), "embeddings"),
        (lambda: mem.hebbian_gap_variance(10, 20, 8, "sphere"), "M"),
        (lambda: mem.hebbian_gap_variance_exact(10, 8, 6, 5), "n_a"),
        (lambda: mem.hebbian_gap_variance_exact(10, 8, 3, 2, inputs="cube"), "inputs"),
        (lambda: mem.hebbian_union_capacity(32, delta=1.0), "delta"),
        (lambda: mem.hebbian_threshold_capacity(32, level=0), "level"),
        (lambda: mem.transformer_param_count(0, 4, 16, 16), "H"),
        (lambda: mem.transformer_param_count(4, 4, 16, -1), "m"),
        (lambda: mem.stage_time_ratio(16, 1, 8), "R"),
        (lambda: mem.stage_time_ratio(16, 4, 1), "D"),
        (lambda: mem.stage_time_ratio(0, 4, 8), "S"),
        (lambda: mem.stage_times(16, 4, 8, 0.1, 0.0), "a0"),
        (lambda: mem.stage_times(16, 4, 8, -0.1, 1e-5), "eta"),
        (lambda: mem.escape_steps(0.1, 0.1, 1e-5, c=-20), "c"),
        (lambda: mem.unseen_mass(0, 100, 10), "alpha"),
        (lambda: mem.unseen_mass(-1, 100, 10), "alpha"),
        (lambda: mem.unseen_mass(2, 0, 10), "N"),
        (lambda: mem.unseen_mass(2, 100, -1), "T"),
        (lambda: mem.unseen_mass(2, 100, np.inf), "T"),
        (lambda: mem.tail_mass(2, 100, 101), "K"),
        (lambda: mem.unseen_mass_asymptotic(1.0, 10), "alpha"),
        (lambda: mem.frequency_exponent(np.nan), "alpha"),
        (lambda: mem.capacity_from_law(0, 0.77), "area"),
        (lambda: mem.linear_capacity(8, kappa=-1), "kappa"),
        (lambda: mem.associative_bits(10, 0), "M"),
        (lambda: mem.cover_separable_probability(0, 4), "N"),
        (lambda: mem.scheme_weights("threshold", [1.0, 2.0]), "K"),
        (lambda: mem.scheme_weights("hopfield", [1.0, 2.0]), "scheme"),
        (lambda: mem.margin_recursion(5, 0.1, 1), "M"),
        (lambda: mem.token_gradients(np.zeros((2, 2), dtype=int), 4), "table"),
    ],
)
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        call()

"""theory.recall: certified one-step derivations, recall-error closed forms, CG facts and state sizes
(test_time_memory.md §2–§6, claims of §9)."""

import zlib

import numpy as np
import pytest
import sympy as sp

import theory.recall as R
from theory.recall._sym import zero_matrix

K_SE = 4.0  # Monte-Carlo tolerance in standard errors, fixed up front


# ---------------------------------------------------------------- helpers


def _random_values(expr_or_matrix, rng):
    """A numeric value for every free symbol: (0.15, 0.85) for positive symbols, N(0, 1) otherwise."""
    values = {}
    for s in sorted(expr_or_matrix.free_symbols, key=str):
        values[s] = sp.Float(rng.uniform(0.15, 0.85) if s.is_positive else rng.standard_normal(), 30)
    return values


def _unit_keys(rng, shape):
    k = rng.standard_normal(shape)
    return k / np.linalg.norm(k, axis=-1, keepdims=True)


def _ratio_of_sums(num, den):
    """E = Σnum/Σden over draws and its delta-method standard error."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    E = num.sum() / den.sum()
    se = np.std(num - E * den, ddof=1) / np.sqrt(len(num)) / den.mean()
    return E, se


def _cg(A, b, steps, damping=0.0):
    """Plain CG from x = 0 (fla-style damping when damping > 0); returns iterates x_1..x_steps and residual norms."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    delta = r @ r
    xs, res = [], []
    for _ in range(steps):
        Ap = A @ p
        alpha = delta / (p @ Ap + damping)
        x = x + alpha * p
        r = r - alpha * Ap
        new = r @ r
        p = r + new / (delta + damping) * p
        delta = new
        xs.append(x.copy())
        res.append(np.sqrt(new))
    return xs, np.array(res)


def _mesa_H(rng, d, T, gamma, beta=None):
    keys = _unit_keys(rng, (T, d))
    b = np.ones(T) if beta is None else beta
    w = gamma ** np.arange(T)[::-1] * b
    return (keys.T * w) @ keys


# ---------------------------------------------------------------- §2.3 / §3: sympy certificates (claims 1–12)


EXPECTED_KIND = {
    "linear_attention": "argmin",
    "gated_linear_attention": "argmin",
    "gated_linear_attention_channel": "argmin",
    "deltanet": "linearised argmin",
    "miras_gated_delta": "linearised argmin",
    "gated_deltanet": "linearised argmin",
    "gdn_miras_difference": "identity",
    "longhorn": "argmin",
    "titans": "recurrence",
    "moneta": "definition",
    "moneta_mirror": "argmin",
    "yaad": "linearised argmin",
    "memora": "KKT",
    "mesa": "argmin",
}


def test_certify_all_covers_every_rule_and_every_residual_is_zero():
    certs = R.certify_all()
    assert set(certs) == set(EXPECTED_KIND)
    for rule, residual in certs.items():
        assert residual.is_zero_matrix, rule
        assert residual.shape[0] > 0, rule


@pytest.mark.parametrize("rule", sorted(EXPECTED_KIND))
def test_rule_kind_parts_and_numeric_residual(rule):
    d = R.RULES[rule]()
    assert d.kind == EXPECTED_KIND[rule]
    assert d.W.shape == (2, 2) and d.update.shape == (2, 2)
    # every named certificate vanishes on its own
    for name, part in d.parts.items():
        assert zero_matrix(part).is_zero_matrix, (rule, name)
    # and the unsimplified residual is ~0 at a random numeric point (a second, independent evaluation)
    rng = np.random.default_rng(zlib.crc32(rule.encode()))
    vals = _random_values(d.residual, rng)
    num = np.array([complex(sp.N(x.xreplace(vals), 25)) for x in d.residual])
    assert np.max(np.abs(num)) <= 1e-12


@pytest.mark.parametrize("rule", ["deltanet", "longhorn", "gdn_miras_difference", "miras_gated_delta"])
def test_certificates_hold_at_d3(rule):
    assert zero_matrix(R.RULES[rule](3, 3).residual).is_zero_matrix


def test_argmin_rules_include_sympy_solution_and_stationarity():
    for rule in ("linear_attention", "gated_linear_attention", "deltanet", "longhorn", "mesa"):
        parts = R.RULES[rule]().parts
        assert {"stationarity", "solve"} <= set(parts)


def test_certificate_detects_a_wrong_update():
    # Longhorn's exact proximal objective is NOT minimised by the linearised (DeltaNet) step
    lh = R.derive_longhorn()
    dn = R.derive_deltanet()
    wrong = dn.update.xreplace({dn.symbols["beta"]: lh.symbols["beta"]})
    grad = lh.W.applyfunc(lambda w: sp.diff(lh.objective, w))
    residual = grad.xreplace(dict(zip(lh.W, wrong)))
    assert not zero_matrix(residual).is_zero_matrix
    # and DeltaNet with the step doubled is not the argmin of its own objective
    doubled = dn.symbols["W_prev"] - 2 * dn.symbols["beta"] * (dn.symbols["W_prev"] * dn.symbols["k"]
                                                               - dn.symbols["v"]) * dn.symbols["k"].T
    grad = dn.W.applyfunc(lambda w: sp.diff(dn.objective, w))
    assert not zero_matrix(grad.xreplace(dict(zip(dn.W, doubled)))).is_zero_matrix


def test_derive_one_step_rejects_nonlinear_stationarity():
    W = sp.Matrix(1, 1, [sp.Symbol("w", real=True)])
    Wp = sp.Matrix(1, 1, [sp.Symbol("p", real=True)])
    with pytest.raises(ValueError, match="loss"):
        R.derive_one_step(W[0] ** 4, W, Wp, sp.Integer(1), linearise=False)
    with pytest.raises(ValueError, match="loss"):
        R.derive_one_step(sp.Abs(W[0] - 1), W, Wp, sp.Integer(1), linearise=False)
    # the same ℓ1 bias linearised at W_prev is solvable: W = W_prev − η sign(W_prev − 1)
    _, sol = R.derive_one_step(sp.Abs(W[0] - 1), W, Wp, sp.Integer(1))
    assert sp.simplify(sol[0] - (Wp[0] - sp.sign(Wp[0] - 1))) == 0
    with pytest.raises(ValueError, match="d_k"):
        R.derive_deltanet(4, 2)
    with pytest.raises(ValueError, match="rule"):
        R.certify("softmax")


def test_gdn_minus_miras_numeric_d3():
    """Claim 3 at a random numeric point: GDN − Miras(λ = a, η' = β) = β(1 − a) M kkᵀ."""
    d = R.derive_gdn_miras_difference(3, 3)
    rng = np.random.default_rng(3)
    vals = _random_values(d.update, rng)
    diff = np.array(d.update.xreplace(vals).evalf(), dtype=float)
    P = np.array(d.symbols["W_prev"].xreplace(vals), dtype=float)
    k = np.array(d.symbols["k"].xreplace(vals), dtype=float)
    a, beta = float(vals[d.symbols["a"]]), float(vals[d.symbols["beta"]])
    assert np.max(np.abs(diff - beta * (1 - a) * P @ k @ k.T)) <= 1e-12


def test_moneta_maps_numeric():
    """Claim 9: stated map degree 3 − q; ≠ exact mirror map at q = 4 (O(1) gap), = at q = 2; exact map inverts ∇½‖W‖_q²."""
    rng = np.random.default_rng(9)
    A = sp.Matrix(3, 2, [sp.Float(x, 30) for x in rng.standard_normal(6)])
    c = sp.Float(2.5, 30)

    def arr(M):
        return np.array(M.evalf(25), dtype=float)

    stated4, exact4 = arr(R.moneta_stated_map(A, 4)), arr(R.moneta_mirror_map(A, sp.Integer(4)))
    assert np.max(np.abs(arr(R.moneta_stated_map(c * A, 4)) - float(c) ** -1 * stated4)) <= 1e-12
    assert np.max(np.abs(arr(R.moneta_mirror_map(c * A, sp.Integer(4))) - float(c) * exact4)) <= 1e-12
    assert np.linalg.norm(stated4 - exact4) / np.linalg.norm(exact4) > 0.1
    assert np.max(np.abs(arr(R.moneta_stated_map(A, 2)) - arr(A))) <= 1e-14
    assert np.max(np.abs(arr(R.moneta_mirror_map(A, sp.Integer(2))) - arr(A))) <= 1e-14
    # ∇ψ(W) = W³/‖W‖₄² at W = exact map returns A, any signs
    W = exact4
    assert np.max(np.abs(W**3 / np.sqrt(np.sum(W**4)) - arr(A))) <= 1e-12


def test_yaad_stated_rule_is_discontinuous_and_normwise_is_not():
    """§3.2: at ‖e‖ = δ the coordinate-wise ℓ1 branch jumps by a factor √d_v in step norm (all |e_i| equal)."""
    d = R.derive_yaad()
    s = d.symbols
    P = np.array([[0.3, -0.2], [0.1, 0.4]])
    k = np.array([0.6, 0.8])
    e = np.array([0.5, -0.5])
    v = P @ k - e
    base = {s["eta"]: 0.3, s["alpha"]: 0.7}
    for x, val in zip(s["W_prev"], P.ravel()):
        base[x] = val
    for x, val in zip(s["k"], k):
        base[x] = val
    for x, val in zip(s["v"], v):
        base[x] = val
    lam = 0.7 / (0.7 + 0.3)
    norm_e = np.linalg.norm(e)

    def step(delta):
        vals = dict(base)
        vals[s["delta"]] = delta
        W = np.array(d.update.xreplace(vals).evalf(), dtype=float)
        return np.linalg.norm(W - lam * P)

    inner = step(norm_e * (1 + 1e-9))
    outer = step(norm_e * (1 - 1e-9))
    assert outer / inner == pytest.approx(np.sqrt(2), rel=1e-6)
    # δ → ∞ is the ℓ2 (Miras-gated delta) step
    eta_w = 0.7 * 0.3 / (0.7 + 0.3)
    assert inner == pytest.approx(eta_w * norm_e * np.linalg.norm(k), rel=1e-6)


def test_memora_update_is_on_the_scaled_simplex():
    """Claim 7: ΣW = c and W > 0 at a random numeric point."""
    d = R.derive_memora()
    vals = _random_values(d.update, np.random.default_rng(7))
    W = np.array(d.update.xreplace(vals).evalf(), dtype=float)
    assert np.all(W > 0)
    assert W.sum() == pytest.approx(float(vals[d.symbols["c"]]), abs=1e-12)


# ---------------------------------------------------------------- §4, §6: closed-form certificates


ALL_FORMULAS = {**R.FORMULAS, **R.CG_FORMULAS}


@pytest.mark.parametrize("name", sorted(ALL_FORMULAS))
def test_formula_certificates(name):
    f = ALL_FORMULAS[name]()
    assert f.parts
    for part, m in f.parts.items():
        assert zero_matrix(m).is_zero_matrix, (name, part)


def test_certify_formula_rejects_unknown_name():
    with pytest.raises(ValueError, match="name"):
        R.certify_formula("nope")
    assert all(m.is_zero_matrix for m in R.certify_formula("mesa_readout").values())


# ---------------------------------------------------------------- numeric examples of the spec


def test_linear_attention_spec_values():
    """§6.2 theory column: d_k = 64, N = 8, 32, 64, 256 → 0.109, 0.484, 0.984, 3.98."""
    got = R.linear_attention_recall_error([8, 32, 64, 256], 64)
    assert np.allclose(got, [7 / 64, 31 / 64, 63 / 64, 255 / 64], rtol=0, atol=1e-15)
    assert np.allclose(np.round(got, 3), [0.109, 0.484, 0.984, 3.984])
    assert R.linear_attention_snr(33, 64) == pytest.approx(2.0)
    assert R.linear_attention_snr(1, 64) == np.inf


def test_least_squares_spec_values():
    """§6.3: N = 96, 128, 256 at d_k = 64 → 0.333, 0.50, 0.75; exact for N ≤ d_k."""
    got = R.least_squares_recall_error([8, 64, 96, 128, 256], 64)
    assert np.allclose(got, [0, 0, 1 / 3, 0.5, 0.75], atol=1e-15)


def test_ridge_orthonormal_spec_values():
    """§6.4, claim 20: λ = 0.25 → 0.04, λ = 1 → 0.25; λ = 0 → 0."""
    assert np.allclose(R.ridge_recall_error_orthonormal([0.0, 0.25, 1.0]), [0.0, 0.04, 0.25], atol=1e-15)
    assert R.ridge_recall_error(np.eye(5), 0.25) == pytest.approx(0.04, abs=1e-15)


def test_ridge_random_small_lam_slope():
    """§6.4: random keys N = 32, d = 64: relative RMS residual ≈ 2.7–2.9·λ; the MP limit is 2√2 λ."""
    lam = 1e-6
    slope = np.sqrt(R.ridge_recall_error_random(32, 64, lam)) / lam
    assert slope == pytest.approx(2 * np.sqrt(2), rel=1e-5)
    assert 2.7 <= slope <= 2.9


def test_mesa_readout_gain_spec_values():
    """§4.1/§4.6: β/(β + λ); λ = 1 halves a β = 1 write; λ → 0 recovers the write."""
    assert R.mesa_readout_gain(1.0, 1.0) == 0.5
    assert R.mesa_readout_gain(0.5, 0.0) == 1.0
    assert R.mesa_readout_gain(1.0, 0.25) == pytest.approx(0.8)


def test_cg_spec_values():
    """§4.3: γ = 0.99, λ = 0.25 → κ ≤ 401; λ_max bound 100; Chebyshev 1e-6 after ≈ 145 steps."""
    assert R.cg_condition_bound(0.99, 0.25) == pytest.approx(401.0, rel=1e-12)
    assert R.hessian_lambda_max_bound(0.99) == pytest.approx(100.0, rel=1e-12)
    assert R.hessian_lambda_max_bound([0.5, 1.0], 3) == pytest.approx([1.75, 3.0])
    assert R.cg_chebyshev_steps(401, 1e-6) == 146
    f = R.derive_chebyshev_steps()
    real_steps = float(f.expr.subs({f.symbols["kappa"]: 401, f.symbols["tol"]: sp.Rational(1, 10**6)}))
    assert abs(real_steps - 145) < 1
    assert R.cg_chebyshev_bound(401, 146) <= 1e-6 < R.cg_chebyshev_bound(401, 145)
    assert R.cg_chebyshev_steps(1.0, 1e-6) == 1 and R.cg_chebyshev_steps(4.0, 3.0) == 0
    assert np.array_equal(R.cg_termination_steps([4, 16, 40, 100], 64), [5, 17, 41, 64])
    assert R.cg_condition_bound(0.9, 0.25, lam_max=1.0) == pytest.approx(44.0)


def test_window_information_and_state_sizes():
    """§6.7, §6.8, §5.5."""
    assert R.forgetting_window(0.99) == pytest.approx(100.0)
    assert np.allclose(R.gated_memory_span(64, [0.9, 0.99, 0.999]), [10.0, 64.0, 64.0])
    assert R.information_bound_bits(256, 8192) == pytest.approx(256 * 12)
    assert R.information_bound_max_pairs(R.information_bound_bits(100, 4096), 4096) == pytest.approx(100)
    assert R.state_size_linear(2, 32, 32) == 2048
    assert R.state_size("deltanet", 2, 32, 32) == 2048
    assert R.state_size("mesa", 1, 32, 32) == 2 * R.state_size("gated_deltanet", 1, 32, 32)  # "2× a GDN state"
    assert R.state_size("titans", 1, 16, 8) == 2 * 16 * 8
    assert R.state_size_attention(64, 256) == 2 * 64 * 256
    assert R.based_feature_dim(16) == 153
    assert R.state_size_based(2, 64, 16) == 2 * 64 * 153 + 2 * 153
    assert R.state_size_mlp_memory(1, 32) == 8 * 32 * 32
    assert R.state_size_mlp_memory(2, 32, copies=2) == 2 * 2 * 8 * 32 * 32
    with pytest.raises(ValueError, match="rule"):
        R.state_size("softmax", 1, 8, 8)


# ---------------------------------------------------------------- helpers vs their sympy derivations


def test_helpers_match_derivations():
    la = R.derive_linear_attention_crosstalk()
    ls = R.derive_least_squares_error()
    rr = R.derive_ridge_error_random()
    N = np.array([1.0, 8, 64, 96, 300])
    assert np.allclose(
        R.linear_attention_recall_error(N, 64),
        sp.lambdify((la.symbols["N"], la.symbols["d_k"]), la.expr, "numpy")(N, 64.0), rtol=1e-15,
    )
    f_ls = sp.lambdify((ls.symbols["N"], ls.symbols["d_k"]), ls.expr, "numpy")
    assert np.allclose(R.least_squares_recall_error(N, 64), [f_ls(n, 64.0) for n in N], atol=1e-15)
    f_rr = sp.lambdify((rr.symbols["lambda"], rr.symbols["y"]), rr.expr, "numpy")
    for y in (0.25, 0.5, 1.0, 2.0, 4.0):
        for lam in (0.01, 0.25, 1.0, 10.0):
            assert R.ridge_recall_error_random(y * 64, 64, lam) == pytest.approx(f_rr(lam, y), rel=1e-9)
    # λ = 0 is the LS value; λ → 0⁺ approaches it
    assert np.allclose(R.ridge_recall_error_random([32, 64, 128], 64, 0.0), [0, 0, 0.5])
    assert R.ridge_recall_error_random(128, 64, 1e-9) == pytest.approx(0.5, abs=1e-6)
    hb = R.derive_hessian_trace_bound()
    assert R.hessian_lambda_max_bound(0.9, 7) == pytest.approx(
        float(hb.expr.subs({hb.symbols["gamma"]: sp.Rational(9, 10), hb.symbols["t"]: 7})), rel=1e-14)
    ds = R.derive_damped_cg_stall()
    s = ds.symbols
    assert R.damped_cg_residual(30, 1e-5, 0.6) == pytest.approx(
        float(ds.expr.subs({s["epsilon"]: 1e-5, s["mu"]: 0.6, s["k"]: 30})), rel=1e-14)
    assert R.damped_cg_steps(R.damped_cg_residual(30, 1e-5, 0.6), 1e-5, 0.6) == pytest.approx(30)
    assert R.damped_cg_steps(1e-8, 1e-5, 1.0) > 1e9  # "never 1e-8"
    mr = R.derive_mesa_readout()
    for beta, lam in ((1.0, 1.0), (0.3, 0.25), (2.0, 0.0)):
        assert R.mesa_readout_gain(beta, lam) == pytest.approx(
            float(mr.expr.subs({mr.symbols["beta"]: beta, mr.symbols["lambda"]: lam})), rel=1e-14)
    fw = R.derive_forgetting_window()
    for d_k, gamma in ((64, 0.9), (64, 0.995), (8, 0.5)):
        assert R.gated_memory_span(d_k, gamma) == pytest.approx(
            float(fw.expr.subs({fw.symbols["d_k"]: d_k, fw.symbols["gamma"]: gamma})), rel=1e-14)
    ib = R.derive_information_bound()
    assert R.information_bound_bits(37, 1000) == pytest.approx(
        float(ib.expr.subs({ib.symbols["N"]: 37, ib.symbols["V"]: 1000})), rel=1e-14)
    G = (lambda K: K @ K.T)(_unit_keys(np.random.default_rng(1), (7, 5)))
    direct = 0.3**2 * np.trace(np.linalg.matrix_power(np.linalg.inv(G + 0.3 * np.eye(7)), 2)) / 7
    assert R.ridge_recall_error(G, 0.3) == pytest.approx(direct, rel=1e-12)


def test_vectorisation_and_scalar_return():
    got = R.linear_attention_recall_error(np.array([[8], [32]]), np.array([32, 64]))
    assert got.shape == (2, 2)
    assert np.allclose(got, [[7 / 32, 7 / 64], [31 / 32, 31 / 64]])
    x = R.least_squares_recall_error(96, 64)
    assert isinstance(x, np.floating) and np.ndim(x) == 0
    G = np.stack([np.eye(3), 2 * np.eye(3)])
    assert np.allclose(R.ridge_recall_error(G, 1.0), [0.25, 1 / 9])
    assert np.allclose(R.ridge_recall_error(G, [[1.0], [0.5]]), [[0.25, 1 / 9], [1 / 9, 1 / 25]])
    # λ = 0 with a singular Gram: the LS limit (fraction of null directions)
    K = _unit_keys(np.random.default_rng(0), (6, 4))
    assert R.ridge_recall_error(K @ K.T, 0.0) == pytest.approx(2 / 6)


# ---------------------------------------------------------------- Monte Carlo (claims 21–23)


@pytest.mark.parametrize("N", [8, 32, 64, 256])
def test_linear_attention_crosstalk_monte_carlo(N):
    """Claim 22: E = (N − 1)/d_k for random unit keys, Gaussian values, d_k = d_v = 64 (ratio of sums, 4 SE)."""
    rng = np.random.default_rng(100 + N)
    draws, d = 60, 64
    K = _unit_keys(rng, (draws, N, d))
    V = rng.standard_normal((draws, N, d))
    M = np.einsum("rni,rnj->rij", V, K)  # Σ v kᵀ [d_v, d_k]
    resid = np.einsum("rij,rnj->rni", M, K) - V
    E, se = _ratio_of_sums((resid**2).sum(axis=(1, 2)), (V**2).sum(axis=(1, 2)))
    theory = R.linear_attention_recall_error(N, d)
    assert abs(E - theory) <= K_SE * se


@pytest.mark.parametrize("N", [96, 128, 256])
def test_least_squares_monte_carlo(N):
    """Claim 23: LS in-sample E = 1 − d_k/N (ratio of sums, 4 SE); exact for N ≤ d_k."""
    rng = np.random.default_rng(200 + N)
    draws, d = 30, 64
    K = _unit_keys(rng, (draws, N, d))
    V = rng.standard_normal((draws, N, d))
    Q, _ = np.linalg.qr(K)
    resid = V - Q @ (np.swapaxes(Q, 1, 2) @ V)
    E, se = _ratio_of_sums((resid**2).sum(axis=(1, 2)), (V**2).sum(axis=(1, 2)))
    assert abs(E - R.least_squares_recall_error(N, d)) <= K_SE * se


def test_least_squares_exact_below_capacity():
    rng = np.random.default_rng(5)
    K = _unit_keys(rng, (64, 64))
    V = rng.standard_normal((64, 64))
    Mt = np.linalg.solve(K, V)
    assert np.max(np.abs(K @ Mt - V)) <= 1e-9
    assert R.least_squares_recall_error(64, 64) == 0.0


@pytest.mark.parametrize("lam", [0.25, 1.0])
def test_ridge_monte_carlo_matches_gram_formula_and_mp_limit(lam):
    """Claim 21: actual ridge error vs λ² tr((Gram + λI)^{-2})/N (4 SE, 200 draws); MP limit within 4 SE + 1/N."""
    rng = np.random.default_rng(int(1000 * lam))
    draws, N, d = 200, 32, 64
    K = _unit_keys(rng, (draws, N, d))
    V = rng.standard_normal((draws, N, d))
    Kt = np.swapaxes(K, 1, 2)
    Mt = np.linalg.solve(Kt @ K + lam * np.eye(d), Kt @ V)  # primal ridge, independent of the Gram form
    resid = K @ Mt - V
    num, den = (resid**2).sum(axis=(1, 2)), (V**2).sum(axis=(1, 2))
    formula = R.ridge_recall_error(K @ Kt, lam)  # [draws]
    # E over values given keys is formula·N·d_v; compare the ratio of sums with the same draws
    E, se = _ratio_of_sums(num, den)
    predicted = formula.mean()
    assert abs(E - predicted) <= K_SE * se
    se_formula = formula.std(ddof=1) / np.sqrt(draws)
    mp = R.ridge_recall_error_random(N, d, lam)
    assert abs(predicted - mp) <= K_SE * se_formula + mp / N


def test_ridge_orthonormal_exact_numeric():
    """Claim 20: orthonormal keys, d = 64, N = 32: E = (λ/(1+λ))² for every value draw (≤ 1e-10)."""
    rng = np.random.default_rng(20)
    Q, _ = np.linalg.qr(rng.standard_normal((64, 64)))
    K = Q[:32]
    V = rng.standard_normal((32, 16))
    for lam in (0.25, 1.0):
        Mt = np.linalg.solve(K.T @ K + lam * np.eye(64), K.T @ V)
        E = np.sum((K @ Mt - V) ** 2) / np.sum(V**2)
        assert abs(E - R.ridge_recall_error_orthonormal(lam)) <= 1e-10



def test_ridge_error_bound_is_attained_and_bounds_every_value_draw():
    """Claim 19: E ≤ (λ/(μ_min + λ))² for any values, with equality for values along the smallest Gram
    eigenvector; the mean-over-values error never exceeds it; orthonormal keys give (λ/(1+λ))²."""
    rng = np.random.default_rng(19)
    K = _unit_keys(rng, (6, 8, 16))
    G = K @ np.swapaxes(K, 1, 2)
    for lam in (1e-3, 0.25, 1.0):
        bound = R.ridge_recall_error_bound(G, lam)
        assert bound.shape == (6,) and np.all(R.ridge_recall_error(G, lam) <= bound * (1 + 1e-12))
        for g, b in zip(G, bound):
            E = [np.sum((lam * np.linalg.solve(g + lam * np.eye(8), V)) ** 2) / np.sum(V**2)
                 for V in (rng.standard_normal((8, 5)), np.linalg.eigh(g)[1][:, :1])]
            assert E[0] <= b * (1 + 1e-10) and abs(E[1] - b) <= 1e-10 * b  # equality along the smallest eigenvector
    assert abs(R.ridge_recall_error_bound(np.eye(4), 0.5) - R.ridge_recall_error_orthonormal(0.5)) <= 1e-15
    with pytest.raises(ValueError, match="lam"):
        R.ridge_recall_error_bound(np.eye(4), 0.0)
    with pytest.raises(ValueError, match="Gram"):
        R.ridge_recall_error_bound(np.ones((2, 3)), 0.5)

def test_orthonormal_keys_and_delta_projection_numeric():
    """Claims 24 (last item exact) and 26 (LA, delta, LS exact for orthonormal keys, N = d_k = 64)."""
    rng = np.random.default_rng(26)
    Q, _ = np.linalg.qr(rng.standard_normal((64, 64)))
    V = rng.standard_normal((64, 32))
    M_la = V.T @ Q
    M_delta = np.zeros((32, 64))
    for k, v in zip(Q, V):
        M_delta = M_delta - np.outer(M_delta @ k - v, k)
    M_ls = np.linalg.solve(Q, V).T
    for M in (M_la, M_delta, M_ls):
        assert np.max(np.abs(Q @ M.T - V)) <= 1e-12
    K = _unit_keys(rng, (40, 64))
    M = np.zeros((32, 64))
    for k, v in zip(K, V[:40]):
        M = M - np.outer(M @ k - v, k)
        assert np.max(np.abs(M @ k - v)) <= 1e-12


def test_mesa_limits_numeric():
    """Claim 19: exact recall at λ = 1e-9 for N ≤ d_k (≤ 1e-6); λ·o → G q with deviation ≤ ‖H‖/(‖H‖+λ)."""
    rng = np.random.default_rng(19)
    d, N = 16, 12
    K = _unit_keys(rng, (N, d))
    V = rng.standard_normal((N, d))
    H, G = K.T @ K, V.T @ K
    o = G @ np.linalg.solve(H + 1e-9 * np.eye(d), K.T)
    assert np.max(np.abs(o.T - V)) <= 1e-6
    q = _unit_keys(rng, (d,))
    h = np.linalg.norm(H, 2)
    for lam in (10.0, 100.0, 1e4):
        dev = np.linalg.norm(lam * G @ np.linalg.solve(H + lam * np.eye(d), q) - G @ q)
        bound = np.linalg.norm(G, 2) * R.mesa_large_lam_deviation(h, lam)
        assert dev <= bound * (1 + 1e-12)
        assert R.mesa_large_lam_deviation(h, lam) <= h / lam
    # isolated unit key: read-out gain β/(β + λ)
    k, v = K[0], V[0]
    for beta, lam in ((1.0, 1.0), (0.3, 0.25)):
        out = beta * np.outer(v, k) @ np.linalg.solve(beta * np.outer(k, k) + lam * np.eye(d), k)
        assert np.max(np.abs(out - R.mesa_readout_gain(beta, lam) * v)) <= 1e-12


# ---------------------------------------------------------------- CG facts (claims 15–18)


@pytest.mark.parametrize("t", [4, 16, 40])
@pytest.mark.parametrize("gamma", [1.0, 0.95])
def test_cg_finite_termination(t, gamma):
    """Claim 15: scalar λ, t < d_k keys: CG exact after min(t + 1, d_k) steps (γ = 1 and also gated)."""
    rng = np.random.default_rng(t)
    d, lam = 64, 0.25
    A = _mesa_H(rng, d, t, gamma) + lam * np.eye(d)
    b = _unit_keys(rng, (d,))
    xs, _ = _cg(A, b, int(R.cg_termination_steps(t, d)))
    x_star = np.linalg.solve(A, b)
    assert np.linalg.norm(xs[-1] - x_star) / np.linalg.norm(x_star) <= 1e-10
    if t == 16:  # a generic non-scalar Λ does not terminate at t + 1
        A2 = A + np.diag(rng.uniform(0.0, 1.0, d))
        xs2, _ = _cg(A2, b, t + 1)
        x2 = np.linalg.solve(A2, b)
        assert np.linalg.norm(xs2[-1] - x2) / np.linalg.norm(x2) > 1e-6


def test_hessian_and_condition_bounds():
    """Claim 17: λ_max(H_T) ≤ (1 − γ^T)/(1 − γ) ≤ 1/(1 − γ); κ(H + Λ) ≤ bound; tight for repeated keys."""
    rng = np.random.default_rng(17)
    d, T, gmax = 32, 400, 0.98
    keys = _unit_keys(rng, (T, d))
    beta = rng.uniform(0.05, 1.0, T)
    gammas = rng.uniform(0.5, gmax, T)
    H = np.zeros((d, d))
    for k, b, g in zip(keys, beta, gammas):
        H = g * H + b * np.outer(k, k)
    lam = rng.uniform(0.25, 1.0, d)
    ev = np.linalg.eigvalsh(H)
    assert ev[-1] <= R.hessian_lambda_max_bound(gmax, T) <= R.hessian_lambda_max_bound(gmax)
    evA = np.linalg.eigvalsh(H + np.diag(lam))
    assert evA[-1] / evA[0] <= R.cg_condition_bound(gmax, lam.min(), lam.max())
    k = keys[0]
    H_worst = sum(gmax**i for i in range(T)) * np.outer(k, k)
    assert np.linalg.eigvalsh(H_worst)[-1] == pytest.approx(R.hessian_lambda_max_bound(gmax, T), rel=1e-12)


def test_chebyshev_and_residual_bounds_hold_for_cg():
    """Chebyshev A-norm bound at every step; claim 18's error ≤ κ·relative residual."""
    rng = np.random.default_rng(18)
    d = 64
    A = _mesa_H(rng, d, 20, 0.9) * 30 + 0.25 * np.eye(d)  # ill-conditioned low-rank + ridge
    ev = np.linalg.eigvalsh(A)
    kappa = ev[-1] / ev[0]
    b = _unit_keys(rng, (d,))
    x_star = np.linalg.solve(A, b)
    xs, res = _cg(A, b, 20)
    e0 = np.sqrt(x_star @ A @ x_star)
    for k, x in enumerate(xs, start=1):
        e = x - x_star
        assert np.sqrt(e @ A @ e) / e0 <= R.cg_chebyshev_bound(kappa, k) * (1 + 1e-9)
        rel_err = np.linalg.norm(e) / np.linalg.norm(x_star)
        assert rel_err <= R.cg_error_from_residual(kappa, res[k - 1] / np.linalg.norm(b)) * (1 + 1e-9)


@pytest.mark.parametrize("lam", [0.25, 1.0])
def test_damped_cg_stall_estimate(lam):
    """§4.2: fla-damped CG (ε = 1e-5), d = 64, γ = 0.99, T = 512, unit q: the residual after 30 steps is within
    a factor 3 of √(ε/(2 λ_min(A) k)); undamped CG is far below it."""
    rng = np.random.default_rng(int(16 * lam))
    d = 64
    A = _mesa_H(rng, d, 512, 0.99) + lam * np.eye(d)
    mu = np.linalg.eigvalsh(A)[0]
    res_damped, res_plain = [], []
    for _ in range(16):
        b = _unit_keys(rng, (d,))
        res_damped.append(_cg(A, b, 30, damping=1e-5)[1][-1])
        res_plain.append(_cg(A, b, 30)[1][-1])
    predicted = R.damped_cg_residual(30, 1e-5, mu)
    assert predicted / 3 <= np.mean(res_damped) <= 3 * predicted
    assert np.max(res_plain) < 1e-3 * predicted


# ---------------------------------------------------------------- validation


BAD = [
    (R.linear_attention_recall_error, (0, 64), "N"),
    (R.linear_attention_recall_error, (8, 0.5), "d_k"),
    (R.linear_attention_recall_error, (np.nan, 64), "N"),
    (R.linear_attention_recall_error, (8, np.inf), "d_k"),
    (R.linear_attention_recall_error, ("8", "x"), "d_k"),
    (R.linear_attention_snr, ([4, -1], 8), "N"),
    (R.least_squares_recall_error, (0.9, 64), "N"),
    (R.least_squares_recall_error, (8, -3), "d_k"),
    (R.least_squares_recall_error, (8, np.nan), "d_k"),
    (R.ridge_recall_error_orthonormal, (-0.1,), "lam"),
    (R.ridge_recall_error_orthonormal, (np.inf,), "lam"),
    (R.ridge_recall_error_orthonormal, ([],), "lam"),
    (R.ridge_recall_error, (np.eye(3), -1.0), "lam"),
    (R.ridge_recall_error, (np.ones((2, 3)), 1.0), "Gram"),
    (R.ridge_recall_error, ([["a", "b"], ["c", "d"]], 1.0), "Gram"),
    (R.ridge_recall_error, (np.array([[1.0, 2.0], [0.0, 1.0]]), 1.0), "Gram"),
    (R.ridge_recall_error, (-np.eye(2), 1.0), "Gram"),
    (R.ridge_recall_error_random, (32, 64, -1.0), "lam"),
    (R.ridge_recall_error_random, (0, 64, 1.0), "N"),
    (R.mesa_readout_gain, (0.0, 1.0), "beta"),
    (R.mesa_readout_gain, (1.0, -1.0), "lam"),
    (R.mesa_large_lam_deviation, (1.0, 0.0), "lam"),
    (R.forgetting_window, (1.0,), "gamma"),
    (R.gated_memory_span, (64, -0.1), "gamma"),
    (R.information_bound_bits, (8, 2), "V"),
    (R.information_bound_max_pairs, (0, 8192), "state_bits"),
    (R.cg_termination_steps, (2.5, 64), "t"),
    (R.cg_termination_steps, (4, 0), "d_k"),
    (R.hessian_lambda_max_bound, (1.0,), "gamma_max"),
    (R.hessian_lambda_max_bound, (0.9, 0), "t"),
    (R.cg_condition_bound, (0.99, 0.0), "lam_min"),
    (R.cg_condition_bound, (0.99, 1.0, 0.5), "lam_max"),
    (R.cg_chebyshev_bound, (0.5, 3), "kappa"),
    (R.cg_chebyshev_steps, (10.0, 0.0), "tol"),
    (R.cg_error_from_residual, (2.0, -1e-3), "rel_residual"),
    (R.damped_cg_residual, (0, 1e-5, 1.0), "k"),
    (R.damped_cg_steps, (1e-8, 1e-5, 0.0), "mu"),
    (R.state_size_linear, (1, 32.5, 32), "d_k"),
    (R.state_size_mesa, (0, 32, 32), "heads"),
    (R.based_feature_dim, (0,), "f"),
    (R.state_size_attention, (64, np.nan), "L"),
]


@pytest.mark.parametrize("fn, args, name", BAD, ids=[f"{f.__name__}-{n}-{i}" for i, (f, _, n) in enumerate(BAD)])
def test_bad_input_raises_naming_the_parameter(fn, args, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        fn(*args)

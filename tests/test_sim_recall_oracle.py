"""sim.recall oracle experiments X2–X4 against the closed forms of theory.recall (test_time_memory.md §6, §9 rows
15–17, 19–28). Tolerances are k·SE over draws (k = 4) plus the stated finite-size bias, fixed up front."""

import numpy as np
import pytest

import sim.recall as R
from theory.recall import gated_memory_span, least_squares_recall_error, linear_attention_recall_error

K_SE = 4.0


@pytest.fixture(scope="module")
def small_capacity():
    return R.oracle_capacity(d_k=(16,), N=(4, 8, 16, 24, 32, 64), draws=20, seed=0, lams=(0.25, 1.0),
                             n_candidates=64)


def test_x3_linear_attention_crosstalk(small_capacity):
    """Claim 22: E = (N − 1)/d_k; the per-draw ratio differs from the ratio of expectations by O(1/(N·d_v))
    (bias allowance 2/(N·d_v) relative)."""
    r = small_capacity
    i = r.index("la")
    N, dk = r.N, r.d_k[0]
    theory = linear_attention_recall_error(N, dk)
    np.testing.assert_allclose(r.theory_E[i, 0], theory)
    err = np.abs(r.mean("E")[i, 0] - theory)
    assert np.all(err <= K_SE * r.se("E")[i, 0] + 2.0 / (N * dk) * theory), (r.mean("E")[i, 0], theory)


def test_x3_least_squares_and_ridge(small_capacity):
    """Claims 21, 23, 19: LS E = max(0, 1 − d_k/N) (exact, ≤ 1e-20, for N ≤ d_k, stored-N accuracy ≥ 99%);
    ridge E = λ² tr((Gram + λI)^{-2})/N per draw (paired k·SE); Mesa-CG reads equal the ridge reads."""
    r = small_capacity
    dk = r.d_k[0]
    i = r.index("ls")
    under = r.N <= dk
    assert np.all(r.E[i, 0, under] <= 1e-20)
    # every read is exact; an inner-product argmax can still prefer a longer, aligned stored value (d_v = 16)
    assert np.all(r.mean("acc_stored")[i, 0, under] >= 0.99)
    th = least_squares_recall_error(r.N, dk)
    over = ~under
    err = np.abs(r.mean("E")[i, 0, over] - th[over])
    assert np.all(err <= K_SE * r.se("E")[i, 0, over] + 2.0 / (r.N[over] * dk) * th[over])
    for lam in (0.25, 1.0):
        j = r.index(f"ridge(lam={lam:g})")
        diff = r.E[j, 0] - r.theory_E_draws[j, 0]  # [n, draws]
        se = diff.std(axis=1, ddof=1) / np.sqrt(r.draws)
        assert np.all(np.abs(diff.mean(axis=1)) <= K_SE * se + 1e-12)
        # the Marchenko–Pastur limit is close already at d_k = 16 (finite-N corrections O(1/N))
        np.testing.assert_allclose(r.mean("E")[j, 0], r.theory_E[j, 0], rtol=0.15)
        m = r.index(f"mesa_cg(lam={lam:g})")
        np.testing.assert_allclose(r.E[m], r.E[j], rtol=1e-6)
        assert np.all(r.cg_capped[m] == 0) and np.all(r.cg_steps_max[m] <= dk + 1)
    # λ = 0.25 stores more than λ = 1 (the β/(β + λ) read-out shrinks every value)
    assert np.all(r.mean("E")[r.index("ridge(lam=0.25)")] < r.mean("E")[r.index("ridge(lam=1)")])


def test_x3_orderings_at_large_load(small_capacity):
    """Claim 27 (ordering): at N = 4·d_k, stored-N accuracy LS ≥ LA > delta; E of LS < delta < LA."""
    r = small_capacity
    acc, E = r.mean("acc_stored")[:, 0, -1], r.mean("E")[:, 0, -1]
    la, de, ls = r.index("la"), r.index("delta"), r.index("ls")
    assert acc[ls] >= acc[la] > acc[de]
    assert E[ls] < E[de] < E[la]
    # the codebook read-out (64 candidates) is never easier than the stored-N one
    assert np.all(r.mean("acc_all") <= r.mean("acc_stored") + 1e-12)


def test_x3_reference_numbers_d64():
    """Claims 24, 27 at d_k = d_v = 64 (§6.5–§6.6 numerical checks): one-pass delta E ≈ 0.60 ± 0.05 at N = 64 and
    > 0.03 at N = 8; stored-N accuracy within ±3 points of LA 0.99–1.00 / delta 0.87 / LS 1.00 (N = 64),
    0.98 / 0.68 / 1.00 (N = 96), 0.68 / 0.25 / 0.80 (N = 256)."""
    r = R.oracle_capacity(d_k=(64,), N=(8, 64, 96, 256), draws=20, seed=1, methods=("la", "delta", "ls"),
                          n_candidates=256)
    E = r.mean("E")[r.index("delta"), 0]
    assert abs(E[1] - 0.60) <= 0.05 and E[0] > 0.03
    acc = r.mean("acc_stored")[:, 0, 1:]
    # the spec's values (a range for LA at N = 64), widened by ±0.03
    low = {"la": (0.99, 0.98, 0.68), "delta": (0.87, 0.68, 0.25), "ls": (1.0, 1.0, 0.80)}
    high = {"la": (1.0, 0.98, 0.68), "delta": (0.87, 0.68, 0.25), "ls": (1.0, 1.0, 0.80)}
    for m in low:
        a = acc[r.index(m)]
        assert np.all(a >= np.array(low[m]) - 0.03) and np.all(a <= np.array(high[m]) + 0.03), (m, a)


def test_x3_delta_cyclic_passes_converge():
    """Claim 25: N = 20, d = 32, β = 1: the median E falls monotonically with cyclic passes and is ≤ 1e-3 after 30
    (Kaczmarz converges to the interpolant for N ≤ d_k)."""
    p = R.delta_passes(N=20, d_k=32, passes=(1, 2, 5, 10, 30), draws=100, seed=0)
    med = p.median()
    assert np.all(np.diff(med) < 0)
    assert med[-1] <= 1e-3
    assert 0.25 <= med[0] <= 0.5  # one pass leaves a large error (§6.5: 0.37)


def test_x4_forgetting_window_shape():
    """Claim 28 (qualitative): recall is perfect at lag 0 for every rule (β = 1), vanishes far beyond the window
    1/(1 − γ), and the number of recalled pairs grows with γ for gated LA and Mesa."""
    f = R.forgetting_curves(d_k=16, gammas=(0.5, 0.8, 0.95), T=300, draws=4, seed=0)
    np.testing.assert_allclose(f.theory_span, gated_memory_span(16, f.gammas))
    acc = f.accuracy_vs_lag()  # [rule, gamma, lag]
    assert np.all(acc[:, :, 0] == 1.0)
    for g, w in enumerate(f.window):
        assert np.all(acc[:, g, int(5 * w):].mean(axis=-1) < 0.05)  # chance is 1/T
    rec = f.recalled.mean(axis=-1)
    for rule in ("gated_linear_attention", "mesa"):
        assert np.all(np.diff(rec[f.rules.index(rule)]) > 0)


def test_x2_cg_convergence_bounds():
    """Claims 15, 17 and the Chebyshev bound: λ_max(H_T) ≤ (1 − γ^T)/(1 − γ), κ ≤ its bound, the 2-norm error
    ≤ √κ · 2ρ^k, exact after d_k steps; correlated keys raise λ_max(H); damped CG stalls above 1e-6."""
    kw = dict(d_k=32, T=128, gamma=0.95, lam=0.25, n_queries=8, steps=(1, 2, 4, 8, 16, 32), seed=0)
    c = R.cg_convergence(**kw)
    assert c.lam_max_H <= c.lam_max_bound and c.kappa <= c.kappa_bound
    assert np.all(c.rel_error.max(axis=1) <= np.sqrt(c.kappa) * c.chebyshev)
    assert c.rel_error[-1].max() <= 1e-10
    corr = R.cg_convergence(**kw, keys="correlated")
    assert corr.lam_max_H > 2 * c.lam_max_H and corr.lam_max_H <= corr.lam_max_bound
    damped = R.cg_convergence(**kw, damped=True)
    assert np.median(damped.rel_error[-1]) > 1e-6
    np.testing.assert_allclose(np.median(damped.residual[-1]), damped.damped_theory[-1], rtol=0.7)


def test_oracle_validation():
    with pytest.raises(ValueError, match="n_candidates"):
        R.oracle_capacity(d_k=(8,), N=(16,), n_candidates=8)
    with pytest.raises(ValueError, match="N"):
        R.oracle_capacity(d_k=(8,), N=(0,))
    with pytest.raises(ValueError, match="methods"):
        R.oracle_capacity(d_k=(8,), N=(4,), methods=("softmax",))
    with pytest.raises(ValueError, match="lams"):
        R.oracle_capacity(d_k=(8,), N=(4,), lams=(0.0,))
    with pytest.raises(ValueError, match="gammas"):
        R.forgetting_curves(gammas=(1.0,))
    with pytest.raises(ValueError, match="rules"):
        R.forgetting_curves(rules=("softmax",))
    with pytest.raises(ValueError, match="keys"):
        R.cg_convergence(keys="orthogonal")
    with pytest.raises(ValueError, match="metric"):
        R.oracle_capacity(d_k=(4,), N=(2,), draws=2, n_candidates=4).mean("accuracy")

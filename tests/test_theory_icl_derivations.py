"""Sympy derivations of theory.icl against the hand-written forms of icl_linear_attention.md and Monte Carlo."""

import numpy as np
import pytest
import sympy as sp

from theory.icl import derivations as der
from theory.icl import (
    covariance,
    derive_attn_m_escape_rate,
    derive_attn_s_escape,
    derive_large_N_limits,
    derive_loss,
    derive_mode_solution,
    derive_optimal_matrix,
    derive_population_moments,
    derive_scalar_ode,
    derive_white_solution,
    loss,
    population_moments,
    white_closed_forms,
)


def _is_zero_matrix(A) -> bool:
    # every entry compared here is a rational function of the symbols, for which cancel is canonical
    return all(sp.cancel(sp.together(e)) == 0 for e in A)


# --------------------------------------------------------------------------------------------------------
# §4 population moments (claim #1)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("D, diagonal", [(2, False), (3, True)])
def test_wick_moments_equal_section4_formulas(D, diagonal):
    m = derive_population_moments(D, diagonal)
    Lam = sp.Matrix(m.Lam)
    I = sp.eye(D)
    S2 = Lam**2 + (Lam + Lam.trace() * I) * Lam / der.N
    assert _is_zero_matrix(sp.Matrix(m.Lam_hat_sq) - S2)
    assert _is_zero_matrix(sp.Matrix(m.beta_beta) - S2)
    assert _is_zero_matrix(sp.Matrix(m.y_beta_xq) - Lam**2)
    assert _is_zero_matrix(sp.Matrix(m.zz) - sp.kronecker_product(Lam, S2))
    assert sp.simplify(m.yy - Lam.trace()) == 0


@pytest.mark.parametrize("seed, N", [(0, 1), (1, 7), (2, 31)])
def test_population_moments_equal_wick_derivation(seed, N):
    m = derive_population_moments(2, False)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((2, 2))
    Lam = A @ A.T + 0.3 * np.eye(2)
    subs = {m.Lam[0, 0]: Lam[0, 0], m.Lam[0, 1]: Lam[0, 1], m.Lam[1, 1]: Lam[1, 1], der.N: N}
    S2 = np.array(m.Lam_hat_sq.subs(subs).evalf(), dtype=float)
    zz = np.array(m.zz.subs(subs).evalf(), dtype=float)
    mom = population_moments(Lam, N)
    np.testing.assert_allclose(mom.S2, S2, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(np.kron(mom.Lam, mom.S2), zz, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(mom.Lam2, np.array(m.y_beta_xq.subs(subs).evalf(), dtype=float), rtol=1e-13)
    assert mom.trLam == pytest.approx(float(m.yy.subs(subs)), rel=1e-14)


def test_wick_loss_equals_moments_loss():
    d = derive_loss(2)
    Lam, M = sp.Matrix(d.Lam), sp.Matrix(d.M)
    S2 = Lam**2 + (Lam + Lam.trace() * sp.eye(2)) * Lam / der.N
    hand = Lam.trace() - 2 * (M * Lam**2).trace() + (M.T * S2 * M * Lam).trace()
    assert sp.expand(d.loss - hand) == 0
    rng = np.random.default_rng(5)
    A = rng.standard_normal((2, 2))
    Lnum, Mnum = A @ A.T + 0.5 * np.eye(2), rng.standard_normal((2, 2))
    subs = {Lam[0, 0]: Lnum[0, 0], Lam[0, 1]: Lnum[0, 1], Lam[1, 1]: Lnum[1, 1], der.N: 9}
    subs.update({M[i, j]: Mnum[i, j] for i in range(2) for j in range(2)})
    assert float(d.loss.subs(subs)) == pytest.approx(loss(Mnum, population_moments(Lnum, 9)), rel=1e-12)


def test_population_moments_monte_carlo():
    """Sample means within 5 standard errors of every entry of E[Λ̂²], E[ββᵀ], E[y_q β x_qᵀ], E[zzᵀ], E[y_q²], L(M)."""
    D, N, P, k = 3, 4, 100_000, 5.0
    rng = np.random.default_rng(1234)
    Lam = 3 * covariance("code-default", D, seed=7)
    C = np.linalg.cholesky(Lam)
    x = rng.standard_normal((P, N, D)) @ C.T
    xq = rng.standard_normal((P, D)) @ C.T
    w = rng.standard_normal((P, D))
    Lhat = np.einsum("pni,pnj->pij", x, x) / N
    beta = np.einsum("pij,pj->pi", Lhat, w)
    yq = np.einsum("pi,pi->p", w, xq)
    z = np.einsum("pj,pi->pji", xq, beta).reshape(P, D * D)  # column-major vec(β x_qᵀ) = x_q ⊗ β
    M = rng.standard_normal((D, D)) / D
    err = yq - np.einsum("pi,ij,pj->p", beta, M, xq)
    mom = population_moments(Lam, N)
    samples = {
        "Lhat2": (np.einsum("pik,pkj->pij", Lhat, Lhat).reshape(P, -1), mom.S2.ravel()),
        "bb": (np.einsum("pi,pj->pij", beta, beta).reshape(P, -1), mom.S2.ravel()),
        "ybx": (np.einsum("p,pi,pj->pij", yq, beta, xq).reshape(P, -1), mom.Lam2.ravel()),
        "yy": (yq[:, None] ** 2, np.array([mom.trLam])),
        "loss": (err[:, None] ** 2, np.array([loss(M, mom)])),
    }
    for name, (s, exact) in samples.items():
        se = s.std(axis=0, ddof=1) / np.sqrt(P)
        assert np.all(np.abs(s.mean(axis=0) - exact) < k * se), name
    # E[zzᵀ] without materializing [P, 81]: second moments of the products from (z²)ᵀ(z²)
    zz_mean = z.T @ z / P
    zz_sq = (z**2).T @ (z**2) / P
    se = np.sqrt((zz_sq - zz_mean**2) / (P - 1))
    assert np.all(np.abs(zz_mean - np.kron(Lam, mom.S2)) < k * se)


# --------------------------------------------------------------------------------------------------------
# per-mode solution, Γ* (§1, §5.5, §6.2–6.3)
# --------------------------------------------------------------------------------------------------------


def test_mode_solution_equals_hand_forms():
    s = derive_mode_solution()
    lam, tr, N = der.lam, der.trLam, der.N
    kap = 1 + (1 + tr / lam) / N
    assert sp.simplify(s.kappa - kap) == 0
    assert sp.simplify(s.gamma - 1 / (lam * kap)) == 0
    assert sp.simplify(s.drop - lam / kap) == 0
    assert sp.simplify(s.drop - N * lam**2 / ((N + 1) * lam + tr)) == 0
    assert sp.simplify(s.head_magnitude**3 * lam * kap - 1) == 0


def test_optimal_matrix_derivation_equals_eq11():
    d = derive_optimal_matrix(2)
    Lam = sp.Matrix(d.Lam)
    hand = (Lam + (Lam + Lam.trace() * sp.eye(2)) / der.N).inv()
    assert _is_zero_matrix(sp.Matrix(d.Gamma) - hand)


# --------------------------------------------------------------------------------------------------------
# §5.4 white covariance (dsolve vs Eq. 10)
# --------------------------------------------------------------------------------------------------------


def test_white_solution_equals_eq10():
    w = derive_white_solution()
    h = white_closed_forms()
    assert sp.simplify(w.sigma - h["sigma"]) == 0
    assert sp.simplify(w.sigma_inf - h["sigma_inf"]) == 0
    assert sp.simplify(w.r - h["rate"]) == 0
    Y = w.decay_symbol
    assert sp.simplify(w.sigma_of_decay.subs(Y, sp.exp(-w.r * der.t)) - h["sigma"]) == 0
    f = {name: sp.lambdify((der.t, der.D, der.N, der.w_init, der.c), e) for name, e in
         [("loss", w.loss), ("t_half", w.t_half), ("t_mid", w.t_mid)]}
    g = {name: sp.lambdify((der.t, der.D, der.N, der.w_init, der.c), h[name]) for name in f}
    for D, N, wi, c, tt in [(4, 31, 1e-3, 1.0, 2.7), (3, 7, 0.05, 0.25, 11.0), (9, 100, 1e-6, 2.0, 0.4)]:
        for name in f:
            assert f[name](tt, D, N, wi, c) == pytest.approx(g[name](tt, D, N, wi, c), rel=1e-12), name


def test_white_loss_endpoints():
    w = derive_white_solution()
    L = w.loss_of_sigma
    assert sp.simplify(L.subs(w.sigma_symbol, 0) - der.D * der.c) == 0
    end = der.D * der.c * (der.D + 1) / (der.N + der.D + 1)
    assert sp.simplify(L.subs(w.sigma_symbol, w.sigma_inf) - end) == 0


def test_escape_rate_derivations():
    e = derive_attn_m_escape_rate(2)
    l1, l2 = e.Lam[0, 0], e.Lam[1, 1]
    assert sp.simplify(e.top_rate - sp.sqrt(l1**4 + l2**4)) == 0
    # ‖(cI)²‖_F = c²√D
    assert sp.simplify(e.white_escape_coefficient * der.c**2 * sp.sqrt(der.D) - 1) == 0
    s = derive_attn_s_escape()
    assert sp.simplify(s.blowup_time - 1 / (der.lam**2 * der.v0)) == 0
    assert sp.simplify(s.v_early.diff(der.t) - der.lam**2 * s.v_early**2) == 0


# --------------------------------------------------------------------------------------------------------
# Eq. 21 implicit solution (claim #18, symbolic part)
# --------------------------------------------------------------------------------------------------------


def test_scalar_ode_F_is_the_sympy_integral():
    s = derive_scalar_ode()
    u = der.u
    assert sp.simplify(s.v_star - (der.lam * der.kappa) ** sp.Rational(-1, 3)) == 0
    assert sp.simplify(sp.diff(s.F, u) - 1 / (u**2 * (1 - u**3))) == 0
    # sympy's antiderivative uses log(u − 1): complex on (0, 1) but a constant away from F
    grid = np.linspace(0.01, 0.99, 57)
    Fi = sp.lambdify(u, s.F_integral, modules="numpy")
    Fh = sp.lambdify(u, s.F, modules="numpy")
    diff = Fi(grid.astype(complex)) - Fh(grid)
    assert np.max(np.abs(diff - diff[0])) < 1e-12
    # the time formula solves Eq. 21: dt/dv · (rhs) = 1
    assert sp.simplify(sp.diff(s.time, der.v) * s.rhs - 1) == 0


# --------------------------------------------------------------------------------------------------------
# N → ∞ (claim #22)
# --------------------------------------------------------------------------------------------------------


def test_large_N_limits():
    D = 4
    lim = derive_large_N_limits(D)
    lams = [lim.Lam[d, d] for d in range(D)]
    for m in range(D + 1):
        assert sp.simplify(lim.plateau_losses[m] - sum(lams[m:])) == 0
    assert _is_zero_matrix(sp.Matrix(lim.optimal_matrix) - sp.Matrix(lim.Lam).inv())
    general_Lam = sp.Matrix(derive_optimal_matrix(2).Lam)
    assert _is_zero_matrix(sp.Matrix(lim.optimal_matrix_general) - general_Lam.inv())
    assert sp.simplify(lim.pcr_coefficient - 1 / der.lam) == 0
    assert lim.pcr_projector == 1
    # §8 N → ∞ row for λ = .4, .3, .2, .1
    vals = {l: v for l, v in zip(lams, [0.4, 0.3, 0.2, 0.1])}
    row = [float(p.subs(vals)) for p in lim.plateau_losses]
    np.testing.assert_allclose(row, [1.0, 0.6, 0.3, 0.1, 0.0], atol=1e-15)

"""ATTN_S theory (icl_linear_attention.md §6): plateaus, 2^D fixed points, Eq. 21, conservation, escape, rank-R rule."""

import itertools

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from theory.icl import (
    attn_s_conserved,
    attn_s_escape_steps_code,
    attn_s_escape_time,
    attn_s_matrix,
    attn_s_rhs,
    covariance,
    default_eigvals,
    drop_sizes,
    final_loss,
    fixed_point,
    fixed_point_loss,
    fixed_point_matrix,
    head_magnitudes,
    kappa,
    loss,
    optimal_matrix,
    pcr_matrix,
    plateau_losses,
    population_moments,
    rank_r_plateaus,
    scalar_ode_F,
    scalar_ode_fixed_point,
    scalar_ode_rhs,
    scalar_ode_time,
    scalar_ode_v,
)

L4 = default_eigvals(4)


# --------------------------------------------------------------------------------------------------------
# §8 reference numbers (claims #2, #3, #17)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "eigvals, N, expected",
    [
        (L4, 31, [1, 0.640580, 0.377372, 0.209805, 0.135995]),
        (L4, 32, [1, 0.639437, 0.375216, 0.206795, 0.132377]),
        (default_eigvals(8), 31, [1, .811263, .648977, .513012, .403176, .319166, .260454, .226009, .213346]),
        (np.full(4, 0.25), 31, [1, None, None, None, 0.138889]),
    ],
)
def test_plateau_losses_section8(eigvals, N, expected):
    got = plateau_losses(eigvals, N)
    assert got.shape == (eigvals.size + 1,)
    for g, e in zip(got, expected):
        if e is not None:
            assert g == pytest.approx(e, abs=5e-7)
    # any order of the eigenvalues
    np.testing.assert_allclose(plateau_losses(np.random.default_rng(0).permutation(eigvals), N), got, rtol=1e-15)
    assert got[-1] == pytest.approx(final_loss(eigvals, N), rel=1e-14)


def test_default_eigvals_section8():
    np.testing.assert_allclose(default_eigvals(4), [0.4, 0.3, 0.2, 0.1], rtol=1e-15)
    np.testing.assert_allclose(default_eigvals(8), np.arange(8, 0, -1) / 36, rtol=1e-15)


def test_drop_sizes_section8():
    d = drop_sizes(L4[::-1], 31)
    np.testing.assert_allclose(d, [0.359420, 0.263208, 0.167568, 0.073810], atol=5e-7)
    np.testing.assert_allclose(d, -np.diff(plateau_losses(L4, 31)), rtol=1e-13)
    N, tr = 31, L4.sum()
    np.testing.assert_allclose(d, N * L4**2 / ((N + 1) * L4 + tr), rtol=1e-14)
    np.testing.assert_allclose(d, L4 / kappa(L4, N), rtol=1e-14)


def test_kappa_and_head_magnitudes_section8():
    np.testing.assert_allclose(kappa(L4, 31), 1 + (1 + 1 / L4) / 31, rtol=1e-15)
    np.testing.assert_allclose(kappa(np.ones(4), 31), 36 / 31, rtol=1e-15)
    hm = head_magnitudes(L4[::-1], 31)
    np.testing.assert_allclose(hm, [1.30967, 1.43005, 1.61204, 1.94702], atol=5e-6)
    np.testing.assert_allclose(hm / np.cbrt(31), [0.41691, 0.45523, 0.51316, 0.61980], atol=5e-6)


def test_large_N_row_section8():
    np.testing.assert_allclose(plateau_losses(L4, 10**12), [1, 0.6, 0.3, 0.1, 0], atol=1e-11)


# --------------------------------------------------------------------------------------------------------
# §6.2 2^D fixed points (claim #15)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("R", [1, 2])
def test_every_fixed_point_has_zero_gradient(R):
    D, N, H = 4, 31, 5
    Lam = covariance("code-default", D, seed=3)
    mom = population_moments(Lam, N)
    lams = np.sort(np.linalg.eigvalsh(Lam))[::-1]
    kap = 1 + (1 + lams.sum() / lams) / N
    for m in range(D + 1):
        for S in itertools.combinations(range(D), m):
            v, K, Q = fixed_point(S, Lam, N, H, R)
            assert v.shape == (H,) and K.shape == Q.shape == (H, R, D)
            grads = attn_s_rhs(v, K, Q, mom)
            assert max(np.max(np.abs(g)) for g in grads) < 1e-12, S
            M = attn_s_matrix(v, K, Q)
            np.testing.assert_allclose(M, fixed_point_matrix(S, Lam, N), atol=1e-13)
            expected = lams.sum() - sum(lams[d] / kap[d] for d in S)
            assert loss(M, mom) == pytest.approx(expected, abs=1e-13)
            assert fixed_point_loss(S, Lam, N) == pytest.approx(expected, abs=1e-14)
            cv, ck = attn_s_conserved(v, K, Q)
            assert np.max(np.abs(cv)) < 1e-13 and np.max(np.abs(ck)) < 1e-13


def test_fixed_point_gradient_detects_wrong_magnitude():
    # the zero-gradient check can fail: a head 1% off its balanced magnitude is not stationary
    Lam = covariance("code-default", 4, seed=3)
    mom = population_moments(Lam, 31)
    v, K, Q = fixed_point([0, 2], Lam, 31, 3)
    v[0] *= 1.01
    assert np.max(np.abs(attn_s_rhs(v, K, Q, mom)[0])) > 1e-4


def test_full_fixed_point_is_attn_m_optimum_and_pcr():
    Lam = covariance("code-default", 4, seed=4)
    np.testing.assert_allclose(fixed_point_matrix(range(4), Lam, 31), optimal_matrix(Lam, 31), atol=1e-13)
    np.testing.assert_allclose(pcr_matrix(Lam, 31, 4), optimal_matrix(Lam, 31), atol=1e-13)
    assert np.all(pcr_matrix(Lam, 31, 0) == 0)
    lams, V = np.linalg.eigh(Lam)
    e1 = V[:, -1]
    gamma1 = 1 / (lams[-1] * (1 + (1 + 1 / lams[-1]) / 31))
    np.testing.assert_allclose(pcr_matrix(Lam, 31, 1), gamma1 * np.outer(e1, e1), atol=1e-14)
    # plateau m is the loss at M_m
    mom = population_moments(Lam, 31)
    np.testing.assert_allclose([loss(pcr_matrix(Lam, 31, m), mom) for m in range(5)],
                               plateau_losses(lams, 31), atol=1e-13)


def test_rank_r_plateaus_section66():
    assert rank_r_plateaus(8, 1) == list(range(8))
    assert rank_r_plateaus(8, 2) == [0, 2, 4, 6]
    assert rank_r_plateaus(8, 4) == [0, 4]
    assert rank_r_plateaus(8, 3) == [0, 3, 6]
    assert rank_r_plateaus(8, 8) == [0]


# --------------------------------------------------------------------------------------------------------
# flow and conservation (claim #11)
# --------------------------------------------------------------------------------------------------------


def test_attn_s_rhs_is_half_negative_gradient():
    rng = np.random.default_rng(1)
    H, R, D, N = 2, 2, 3, 6
    mom = population_moments(covariance("code-default", D, seed=5), N)
    v, K, Q = rng.standard_normal(H), rng.standard_normal((H, R, D)), rng.standard_normal((H, R, D))

    def L(v, K, Q):
        return loss(attn_s_matrix(v, K, Q), mom)

    dv, dK, dQ = attn_s_rhs(v, K, Q, mom)
    h = 1e-6
    for idx in [(0, 0, 0), (1, 1, 2), (0, 1, 1)]:
        E = np.zeros_like(K)
        E[idx] = h
        assert dK[idx] == pytest.approx(-(L(v, K + E, Q) - L(v, K - E, Q)) / (4 * h), rel=1e-7, abs=1e-9)
        assert dQ[idx] == pytest.approx(-(L(v, K, Q + E) - L(v, K, Q - E)) / (4 * h), rel=1e-7, abs=1e-9)
    for i in range(H):
        e = np.zeros(H)
        e[i] = h
        assert dv[i] == pytest.approx(-(L(v + e, K, Q) - L(v - e, K, Q)) / (4 * h), rel=1e-7, abs=1e-9)


def test_attn_s_conservation_along_flow():
    H, R, D, N = 4, 2, 4, 31
    rng = np.random.default_rng(12)
    Lam = 4 * covariance("code-default", D, seed=6)
    mom = population_moments(Lam, N)
    v0 = 0.1 * rng.standard_normal(H)
    K0, Q0 = 0.1 * rng.standard_normal((H, R, D)), 0.1 * rng.standard_normal((H, R, D))
    n = H * R * D

    def rhs(_t, y):
        dv, dK, dQ = attn_s_rhs(y[:H], y[H : H + n].reshape(H, R, D), y[H + n :].reshape(H, R, D), mom)
        return np.concatenate([dv, dK.ravel(), dQ.ravel()])

    def unflat(y):
        return y[:H], y[H : H + n].reshape(H, R, D), y[H + n :].reshape(H, R, D)

    T = 150.0
    sol = solve_ivp(rhs, (0, T), np.concatenate([v0, K0.ravel(), Q0.ravel()]), method="DOP853",
                    rtol=1e-12, atol=1e-12, dense_output=True)
    assert sol.success
    c0v, c0k = attn_s_conserved(v0, K0, Q0)
    drift = 0.0
    for tt in np.linspace(0, T, 76):
        cv, ck = attn_s_conserved(*unflat(sol.sol(tt)))
        drift = max(drift, np.max(np.abs(cv - c0v)), np.max(np.abs(ck - c0k)))
    assert drift < 1e-9
    # the trajectory left the origin: at least the first two eigenvectors were learned
    assert loss(attn_s_matrix(*unflat(sol.y[:, -1])), mom) < plateau_losses(4 * L4, N)[2] + 1e-3


# --------------------------------------------------------------------------------------------------------
# §6.4 Eq. 21 (claims #18, #19) and escape time (claim #20)
# --------------------------------------------------------------------------------------------------------

LAM = 0.4
KAP = float(kappa(L4, 31)[0])


def test_scalar_ode_check_values():
    vstar = scalar_ode_fixed_point(LAM, KAP)
    assert vstar == pytest.approx(1.30967, abs=5e-6)
    assert vstar == pytest.approx(head_magnitudes(L4, 31)[0], rel=1e-14)
    assert scalar_ode_rhs(vstar, LAM, KAP) == pytest.approx(0.0, abs=1e-15)
    assert scalar_ode_rhs(0.5 * vstar, LAM, KAP) > 0 and scalar_ode_rhs(1.5 * vstar, LAM, KAP) < 0
    assert scalar_ode_time(0.5 * vstar, 1e-3, LAM, KAP) == pytest.approx(6241.08, abs=5e-3)


def test_scalar_ode_v_matches_solve_ivp():
    vstar = scalar_ode_fixed_point(LAM, KAP)
    t_05 = scalar_ode_time(0.5 * vstar, 1e-3, LAM, KAP)
    ts = np.array([0.0, 3000.0, 6000.0, t_05, 6300.0, 6600.0, 8000.0])
    sol = solve_ivp(lambda _t, y: scalar_ode_rhs(y, LAM, KAP), (0, ts[-1]), [1e-3], method="DOP853",
                    t_eval=ts, rtol=1e-10, atol=1e-14)
    assert sol.success
    u_ode = sol.y[0] / vstar
    u_imp = scalar_ode_v(ts, 1e-3, LAM, KAP) / vstar
    assert np.max(np.abs(u_ode - u_imp)) < 1e-8
    assert u_imp[3] == pytest.approx(0.5, abs=1e-12)
    assert u_imp[-1] > 0.99  # the grid covers the whole rise


def test_scalar_ode_time_and_v_are_inverse():
    vstar = scalar_ode_fixed_point(LAM, KAP)
    vs = vstar * np.array([2e-3, 0.1, 0.5, 0.9, 0.999999])
    ts = scalar_ode_time(vs, 1e-3, LAM, KAP)
    np.testing.assert_allclose(scalar_ode_v(ts, 1e-3, LAM, KAP), vs, rtol=1e-10)
    assert np.all(np.diff(ts) > 0)
    assert scalar_ode_v(0.0, 1e-3, LAM, KAP) == pytest.approx(1e-3, rel=1e-14)
    assert scalar_ode_v(1e9, 1e-3, LAM, KAP) == pytest.approx(vstar, rel=1e-15)
    assert scalar_ode_time(1e-3, 0.01, LAM, KAP) < 0


def test_scalar_ode_F_values():
    u = np.array([0.1, 0.5, 0.9])
    F = -1 / u - np.log(1 - u) / 3 + np.log(1 + u + u**2) / 6 - np.arctan((2 * u + 1) / np.sqrt(3)) / np.sqrt(3)
    np.testing.assert_allclose(scalar_ode_F(u), F, rtol=1e-14)


def test_attn_s_escape():
    assert attn_s_escape_time(0.4, 1e-3) == pytest.approx(1 / (0.16 * 1e-3), rel=1e-14)
    assert attn_s_escape_steps_code(0.4, 31, 0.02, 0.01) == pytest.approx(504, abs=0.5)
    assert attn_s_escape_steps_code(0.4, 31, 0.02, 0.01) == pytest.approx(1 / (2 * 0.02 * 31 * 0.16 * 0.01), rel=1e-12)
    np.testing.assert_allclose(attn_s_escape_time(np.array([0.4, 0.2]), 1e-3), [6250, 25000], rtol=1e-14)
    # for small v0 the exact Eq. 21 time to u = 1/2 approaches the blow-up time 1/(λ²v0)
    vstar = scalar_ode_fixed_point(LAM, KAP)
    ratio = scalar_ode_time(0.5 * vstar, 1e-6, LAM, KAP) / attn_s_escape_time(LAM, 1e-6)
    assert ratio == pytest.approx(1.0, abs=1e-3)


# --------------------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------------------

_mom = population_moments(np.eye(2), 3)
_Lam = np.diag([0.6, 0.4])

BAD_CALLS = [
    (lambda: attn_s_rhs(np.zeros(2), np.zeros((2, 1, 3)), np.zeros((2, 1, 3)), _mom), "K"),
    (lambda: attn_s_rhs(np.zeros(2), np.zeros((2, 1, 2)), np.zeros((2, 2, 2)), _mom), "Q"),
    (lambda: attn_s_rhs(np.zeros(3), np.zeros((2, 1, 2)), np.zeros((2, 1, 2)), _mom), "v"),
    (lambda: attn_s_rhs(np.zeros(2), np.zeros((2, 1, 2)), np.zeros((2, 1, 2)), "mom"), "mom"),
    (lambda: attn_s_conserved(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2))), "K"),
    (lambda: attn_s_matrix(np.zeros(1), np.zeros((2, 1, 2)), np.zeros((2, 1, 2))), "v"),
    (lambda: plateau_losses([0.5, -0.5], 31), "eigvals"),
    (lambda: plateau_losses([], 31), "eigvals"),
    (lambda: plateau_losses([0.5, 0.5], 0), "N"),
    (lambda: drop_sizes([0.5, np.inf], 31), "eigvals"),
    (lambda: head_magnitudes([0.5, 0.5], -3), "N"),
    (lambda: kappa([0.0, 1.0], 3), "eigvals"),
    (lambda: kappa([1.0], 1.5), "N"),
    (lambda: fixed_point([0, 2], _Lam, 31, 2), "S"),
    (lambda: fixed_point([0, 0], _Lam, 31, 2), "S"),
    (lambda: fixed_point(0, _Lam, 31, 2), "S"),
    (lambda: fixed_point([0, 1], _Lam, 31, 1), "H"),
    (lambda: fixed_point([0], _Lam, 31, 1, R=3), "R"),
    (lambda: fixed_point([0], np.array([[1.0, 2.0], [2.0, 1.0]]), 31, 1), "Lam"),
    (lambda: fixed_point_matrix([1.5], _Lam, 31), "S"),
    (lambda: fixed_point_matrix([0], _Lam, 0), "N"),
    (lambda: fixed_point_loss([3], _Lam, 31), "S"),
    (lambda: pcr_matrix(_Lam, 31, 3), "m"),
    (lambda: pcr_matrix(_Lam, 31, -1), "m"),
    (lambda: pcr_matrix(np.array([[1.0, 0.1], [0.2, 1.0]]), 31, 1), "Lam"),
    (lambda: rank_r_plateaus(4, 0), "R"),
    (lambda: rank_r_plateaus(4, 5), "R"),
    (lambda: rank_r_plateaus(0, 1), "D"),
    (lambda: scalar_ode_rhs(1.0, 0.0, KAP), "lam"),
    (lambda: scalar_ode_rhs(np.nan, LAM, KAP), "v"),
    (lambda: scalar_ode_fixed_point(LAM, -1.0), "kappa"),
    (lambda: scalar_ode_F(1.0), "u"),
    (lambda: scalar_ode_F(0.0), "u"),
    (lambda: scalar_ode_time(1.4, 1e-3, LAM, KAP), "v"),
    (lambda: scalar_ode_time(0.0, 1e-3, LAM, KAP), "v"),
    (lambda: scalar_ode_time(0.5, 2.0, LAM, KAP), "v0"),
    (lambda: scalar_ode_time(0.5, [1e-3, 2e-3], LAM, KAP), "v0"),
    (lambda: scalar_ode_v(10.0, -1e-3, LAM, KAP), "v0"),
    (lambda: scalar_ode_v(-1.0, 1e-3, LAM, KAP), "t"),
    (lambda: scalar_ode_v(1.0, 1e-3, LAM, np.inf), "kappa"),
    (lambda: attn_s_escape_time(0.4, 0.0), "v0"),
    (lambda: attn_s_escape_time(-0.4, 1e-3), "lam"),
    (lambda: attn_s_escape_steps_code(0.4, 31, 0.02, -0.01), "v0_code"),
    (lambda: attn_s_escape_steps_code(0.4, 31, 0.0, 0.01), "eta"),
    (lambda: attn_s_escape_steps_code(0.4, 0, 0.02, 0.01), "N"),
]


@pytest.mark.parametrize("call, name", BAD_CALLS)
def test_invalid_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()


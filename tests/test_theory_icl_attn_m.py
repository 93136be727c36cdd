"""ATTN_M theory (icl_linear_attention.md §5): reference numbers, σ(t) vs the full flow, conservation, escape."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from theory.icl import (
    aligned_balanced_attn_m,
    attn_m_conserved,
    attn_m_escape_slope_code,
    attn_m_escape_steps_code,
    attn_m_escape_time,
    attn_m_rhs,
    covariance,
    default_eigvals,
    error_signal,
    final_loss,
    loss,
    loss_white,
    optimal_matrix,
    population_moments,
    sigma_white,
    t_half,
    t_mid,
)

L4 = default_eigvals(4)


def _flat_rhs(H, D, mom):
    def rhs(_t, y):
        dU, dv = attn_m_rhs(y[: H * D * D].reshape(H, D, D), y[H * D * D :], mom)
        return np.concatenate([dU.ravel(), dv])

    return rhs


def _unflat(y, H, D):
    return y[: H * D * D].reshape(H, D, D), y[H * D * D :]


# --------------------------------------------------------------------------------------------------------
# §8 reference numbers
# --------------------------------------------------------------------------------------------------------


def test_optimal_matrix_section8():
    Gamma = optimal_matrix(np.diag(L4), 31)
    np.testing.assert_allclose(np.diag(Gamma), [2.246377, 2.924528, 4.189189, 7.380952], atol=5e-7)
    np.testing.assert_allclose(np.diag(Gamma) / 31, [0.07246, 0.09434, 0.13514, 0.23810], atol=5e-6)
    assert np.max(np.abs(Gamma - np.diag(np.diag(Gamma)))) == 0.0


def test_optimal_matrix_is_eq11_and_zeroes_the_error_signal():
    Lam = covariance("code-default", 5, seed=3)
    N = 17
    Gamma = optimal_matrix(Lam, N)
    hand = np.linalg.inv(Lam + (Lam + np.trace(Lam) * np.eye(5)) / N)
    np.testing.assert_allclose(Gamma, hand, rtol=1e-12, atol=1e-12)
    mom = population_moments(Lam, N)
    assert np.max(np.abs(error_signal(Gamma, mom))) < 1e-13
    assert loss(Gamma, mom) == pytest.approx(final_loss(np.linalg.eigvalsh(Lam), N), rel=1e-12)


@pytest.mark.parametrize(
    "eigvals, N, expected",
    [
        (L4, 31, 0.135995),
        (np.full(4, 0.25), 31, 0.138889),
        (np.ones(4), 31, 0.555556),
        (L4, 32, 0.132377),
        (default_eigvals(8), 31, 0.213346),
    ],
)
def test_final_loss_section8(eigvals, N, expected):
    assert final_loss(eigvals, N) == pytest.approx(expected, abs=5e-7)
    assert final_loss(eigvals[::-1], N) == pytest.approx(expected, abs=5e-7)


def test_final_loss_white_closed_forms():
    for D, N in [(4, 31), (3, 5), (8, 100)]:
        assert final_loss(np.ones(D), N) == pytest.approx(D * (D + 1) / (N + D + 1), rel=1e-13)
        assert final_loss(np.ones(D) / D, N) == pytest.approx((D + 1) / (N + D + 1), rel=1e-13)


def test_lam2_norms_section8():
    # ‖Λ²‖_F enters every escape time; slope 1/(2ηN‖Λ²‖_F) with η = N = 1/2 isolates it
    for Lam, expected in [(np.diag(L4), 0.188149), (np.diag(default_eigvals(8)), 0.072268), (np.eye(4) / 4, 0.125)]:
        assert 1.0 / attn_m_escape_slope_code(Lam, 1, 0.5) == pytest.approx(expected, abs=5e-7)


# --------------------------------------------------------------------------------------------------------
# §5.4 σ(t) (claims #9, #10)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("c, expected", [(1.0, (3.5898, 3.3694)), (0.25, (62.982, 59.456))])
def test_white_markers_section54(c, expected):
    assert t_half(4, 31, 1e-3, c) == pytest.approx(expected[0], abs=5e-5 if c == 1 else 5e-4)
    assert t_mid(4, 31, 1e-3, c) == pytest.approx(expected[1], abs=5e-5 if c == 1 else 5e-4)


def test_sigma_white_endpoints_and_large_t():
    D, N, w, c = 4, 31, 1e-3, 0.5
    kap = 1 + (1 + D) / N
    assert sigma_white(0.0, D, N, w, c) == pytest.approx(w**2 / np.sqrt(D), rel=1e-12)
    # far past the drop; no overflow of e^{rt}
    assert sigma_white(1e6, D, N, w, c) == pytest.approx(1 / (c * kap), rel=1e-14)
    assert loss_white(1e6, D, N, w, c) == pytest.approx(D * c * (D + 1) / (N + D + 1), rel=1e-12)
    assert loss_white(0.0, D, N, w, c) == pytest.approx(D * c, rel=1e-6)
    assert sigma_white(np.array([0.0, 1.0]), D, N, w, c).shape == (2,)
    s = sigma_white(np.linspace(0, 40, 200), D, N, w, c)
    assert np.all(np.diff(s) > 0)


@pytest.mark.parametrize("c, H", [(1.0, 8), (0.25, 3)])
def test_sigma_white_matches_full_attn_m_flow(c, H):
    """Claim #9: the ATTN_M flow from the aligned balanced init stays at M = σ(t) I with σ of Eq. 10."""
    D, N, w = 4, 31, 1e-3
    mom = population_moments(c * np.eye(D), N)
    U0, v0 = aligned_balanced_attn_m(D, H, w, c)
    T = 2 * t_half(D, N, w, c)
    ts = np.linspace(0, T, 81)
    sol = solve_ivp(_flat_rhs(H, D, mom), (0, T), np.concatenate([U0.ravel(), v0]), method="DOP853",
                    t_eval=ts, rtol=1e-12, atol=1e-15)
    assert sol.success
    sig = sigma_white(ts, D, N, w, c)
    err = 0.0
    for k in range(ts.size):
        U, v = _unflat(sol.y[:, k], H, D)
        M = np.einsum("h,hij->ij", v, U)
        err = max(err, np.max(np.abs(M - sig[k] * np.eye(D))))
    assert err < 1e-8
    assert sig[-1] > 0.99 / (c * (1 + (1 + D) / N))  # the whole drop was covered
    np.testing.assert_allclose(loss_white(ts[::10], D, N, w, c),
                               [loss(sig[k] * np.eye(D), mom) for k in range(0, ts.size, 10)], rtol=1e-12)


@pytest.mark.parametrize("c", [1.0, 0.25])
def test_white_markers_match_flow_events(c):
    """Claim #10: t_1/2 and t_mid against event times of the full ATTN_M flow (1e-6 relative)."""
    D, N, w, H = 4, 31, 1e-3, 2
    mom = population_moments(c * np.eye(D), N)
    kap = 1 + (1 + D) / N
    s_inf = 1 / (c * kap)
    L0, Linf = D * c, D * c * (D + 1) / (N + D + 1)

    def half(_t, y):
        U, v = _unflat(y, H, D)
        return np.trace(np.einsum("h,hij->ij", v, U)) / D - s_inf / 2

    def mid(_t, y):
        U, v = _unflat(y, H, D)
        return loss(np.einsum("h,hij->ij", v, U), mom) - (L0 + Linf) / 2

    U0, v0 = aligned_balanced_attn_m(D, H, w, c)
    T = 2 * t_half(D, N, w, c)
    sol = solve_ivp(_flat_rhs(H, D, mom), (0, T), np.concatenate([U0.ravel(), v0]), method="DOP853",
                    events=[half, mid], rtol=1e-12, atol=1e-15)
    assert sol.t_events[0].size == 1 and sol.t_events[1].size == 1
    assert sol.t_events[0][0] == pytest.approx(t_half(D, N, w, c), rel=1e-6)
    assert sol.t_events[1][0] == pytest.approx(t_mid(D, N, w, c), rel=1e-6)


def test_aligned_balanced_init():
    U, v = aligned_balanced_attn_m(3, 5, 0.02, 0.7)
    assert U.shape == (5, 3, 3) and v.shape == (5,)
    assert np.linalg.norm(v) == pytest.approx(0.02, rel=1e-14)
    assert np.linalg.norm(U) == pytest.approx(0.02, rel=1e-14)
    np.testing.assert_allclose(attn_m_conserved(U, v), 0.0, atol=1e-18)
    np.testing.assert_allclose(np.einsum("h,hij->ij", v, U), 0.02**2 / np.sqrt(3) * np.eye(3), rtol=1e-14)


# --------------------------------------------------------------------------------------------------------
# flow and conservation (claim #11)
# --------------------------------------------------------------------------------------------------------


def test_attn_m_rhs_is_half_negative_gradient():
    rng = np.random.default_rng(0)
    H, D, N = 3, 3, 5
    mom = population_moments(covariance("code-default", D, seed=1), N)
    U, v = rng.standard_normal((H, D, D)), rng.standard_normal(H)

    def L(U, v):
        return loss(np.einsum("h,hij->ij", v, U), mom)

    dU, dv = attn_m_rhs(U, v, mom)
    h = 1e-6
    for idx in [(0, 0, 0), (1, 2, 0), (2, 1, 2)]:
        E = np.zeros_like(U)
        E[idx] = h
        fd = -(L(U + E, v) - L(U - E, v)) / (4 * h)
        assert dU[idx] == pytest.approx(fd, rel=1e-7, abs=1e-9)
    for i in range(H):
        e = np.zeros(H)
        e[i] = h
        assert dv[i] == pytest.approx(-(L(U, v + e) - L(U, v - e)) / (4 * h), rel=1e-7, abs=1e-9)


def test_attn_m_conservation_along_flow():
    H, D, N = 3, 4, 31
    rng = np.random.default_rng(11)
    mom = population_moments(4 * covariance("code-default", D, seed=2), N)
    U0, v0 = 0.1 * rng.standard_normal((H, D, D)), 0.1 * rng.standard_normal(H)
    sol = solve_ivp(_flat_rhs(H, D, mom), (0, 80.0), np.concatenate([U0.ravel(), v0]), method="DOP853",
                    rtol=1e-12, atol=1e-12, dense_output=True)
    assert sol.success
    C0 = attn_m_conserved(U0, v0)
    drift = max(np.max(np.abs(attn_m_conserved(*_unflat(sol.sol(tt), H, D)) - C0)) for tt in np.linspace(0, 80, 81))
    assert drift < 1e-9
    U, v = _unflat(sol.y[:, -1], H, D)
    # the run did reach the optimum, so the check covered the whole drop
    assert loss(np.einsum("h,hij->ij", v, U), mom) == pytest.approx(final_loss(4 * L4, N), rel=1e-6)


# --------------------------------------------------------------------------------------------------------
# §5.3 escape (claims #12, #13)
# --------------------------------------------------------------------------------------------------------


def test_escape_numbers():
    Lam = covariance("code-default", 4, seed=10)
    assert attn_m_escape_slope_code(Lam, 31, 1e-3) == pytest.approx(85.7, abs=0.05)
    # Fig. 1 config: w_init = √H·init, H = 8, init 1e-6 → ≈ 948 steps
    assert attn_m_escape_steps_code(Lam, 31, 1e-3, np.sqrt(8) * 1e-6) == pytest.approx(948, abs=0.5)
    n4 = np.sqrt(np.sum(L4**4))
    assert attn_m_escape_time(Lam, 1e-4) == pytest.approx(np.log(1e4) / n4, rel=1e-13)
    w = 3e-5
    expected = np.log(1 / (np.sqrt(31) * w)) / (2 * 1e-3 * 31 * n4)
    assert attn_m_escape_steps_code(Lam, 31, 1e-3, w) == pytest.approx(expected, rel=1e-13)
    # slope: steps(init/e) − steps(init) = 1/(2ηN‖Λ²‖_F)
    d = attn_m_escape_steps_code(Lam, 31, 1e-3, w / np.e) - attn_m_escape_steps_code(Lam, 31, 1e-3, w)
    assert d == pytest.approx(attn_m_escape_slope_code(Lam, 31, 1e-3), rel=1e-12)


def test_escape_time_matches_white_t_half_asymptotically():
    # t_1/2 = ln(1/w)/‖Λ²‖_F + O(1) for Λ = cI; the ratio tends to 1 as w → 0
    D, N, c = 4, 31, 0.5
    ratios = [t_half(D, N, w, c) / attn_m_escape_time(c * np.eye(D), w) for w in (1e-4, 1e-8, 1e-16)]
    assert abs(ratios[2] - 1) < abs(ratios[1] - 1) < abs(ratios[0] - 1) < 0.2


# --------------------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------------------

_mom = population_moments(np.eye(2), 3)

BAD_CALLS = [
    (lambda: attn_m_rhs(np.zeros((2, 3, 3)), np.zeros(2), _mom), "U"),
    (lambda: attn_m_rhs(np.zeros((2, 2, 2)), np.zeros(3), _mom), "v"),
    (lambda: attn_m_rhs(np.zeros((2, 2, 2)), np.zeros(2), None), "mom"),
    (lambda: attn_m_conserved(np.zeros((2, 2)), np.zeros(2)), "U"),
    (lambda: optimal_matrix(np.array([[1.0, 0.5], [0.0, 1.0]]), 3), "Lam"),
    (lambda: optimal_matrix(np.diag([1.0, -1.0]), 3), "Lam"),
    (lambda: optimal_matrix(np.eye(2), 0), "N"),
    (lambda: final_loss([0.4, 0.0], 31), "eigvals"),
    (lambda: final_loss([0.4, np.nan], 31), "eigvals"),
    (lambda: final_loss(np.eye(2), 31), "eigvals"),
    (lambda: final_loss([0.4], 2.5), "N"),
    (lambda: sigma_white(-1.0, 4, 31, 1e-3), "t"),
    (lambda: sigma_white(1.0, 0, 31, 1e-3), "D"),
    (lambda: sigma_white(1.0, 4, 31, 0.0), "w_init"),
    (lambda: sigma_white(1.0, 4, 31, 1e-3, c=-1.0), "c"),
    (lambda: loss_white(np.inf, 4, 31, 1e-3), "t"),
    (lambda: t_half(4, 31, 1.0), "w_init"),
    (lambda: t_mid(4, 31, 0.9), "w_init"),
    (lambda: t_mid(4, 0, 1e-3), "N"),
    (lambda: aligned_balanced_attn_m(4, 0, 1e-3), "H"),
    (lambda: aligned_balanced_attn_m(4, 2, -1e-3), "w_init"),
    (lambda: attn_m_escape_time(np.eye(2), 1.5), "w_init"),
    (lambda: attn_m_escape_time(np.ones((2, 3)), 0.1), "Lam"),
    (lambda: attn_m_escape_steps_code(np.eye(2), 31, 1e-3, 0.5), "w_init_code"),
    (lambda: attn_m_escape_steps_code(np.eye(2), 31, 0.0, 1e-4), "eta"),
    (lambda: attn_m_escape_slope_code(np.eye(2), 31, -1e-3), "eta"),
]


@pytest.mark.parametrize("call, name", BAD_CALLS)
def test_invalid_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()


def test_t_half_just_inside_bound():
    # σ(0) just below σ(∞)/2: finite positive t_1/2
    D, N, c = 4, 31, 1.0
    kap = 1 + (1 + D) / N
    w_max = np.sqrt(np.sqrt(D) * 0.5 / (c * kap))
    assert 0 < t_half(D, N, 0.999 * w_max, c) < 1e-2

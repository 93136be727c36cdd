"""Paper ↔ official-code units (§1.2) and covariance presets (§1.2, §2.2) of theory.icl."""

import numpy as np
import pytest

from theory.icl import (
    PRESETS,
    attn_m_rhs,
    attn_s_matrix,
    attn_s_rhs,
    code_eta,
    code_weights,
    covariance,
    default_eigvals,
    loss,
    paper_eta,
    paper_weights,
    population_moments,
    random_rotation,
    steps_to_time,
    time_per_step,
    time_to_steps,
    weight_scale,
)


def test_weight_scale_and_eta():
    assert weight_scale(31, "attn_m") == pytest.approx(np.sqrt(31), rel=1e-15)
    assert weight_scale(31, "mlp") == pytest.approx(np.sqrt(31), rel=1e-15)
    assert weight_scale(31, "attn_s") == pytest.approx(31 ** (1 / 3), rel=1e-15)
    assert paper_eta(1e-3, 31, "attn_m") == pytest.approx(0.031, rel=1e-15)
    assert paper_eta(0.02, 31, "attn_s") == pytest.approx(0.02 * 31 ** (2 / 3), rel=1e-14)


def test_time_per_step():
    assert time_per_step(1e-3, 31, "attn_m", "paper") == pytest.approx(2e-3, rel=1e-15)
    assert time_per_step(1e-3, 31, "attn_m", "code") == pytest.approx(2e-3 * 31, rel=1e-15)
    assert time_per_step(1e-3, 31, "mlp", "code") == pytest.approx(2e-3 * 31, rel=1e-15)
    assert time_per_step(0.02, 31, "attn_s", "code") == pytest.approx(0.04 * 31 ** (2 / 3), rel=1e-14)
    # a code step equals a paper step at the mapped learning rate
    for model in ("attn_m", "mlp", "attn_s"):
        assert time_per_step(0.01, 7, model, "code") == pytest.approx(
            time_per_step(paper_eta(0.01, 7, model), 7, model, "paper"), rel=1e-15)


@pytest.mark.parametrize("model", ["attn_m", "mlp", "attn_s"])
def test_round_trips(model):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4, 4))
    np.testing.assert_allclose(code_weights(paper_weights(W, 31, model), 31, model), W, rtol=1e-15)
    np.testing.assert_allclose(paper_weights(code_weights(W, 31, model), 31, model), W, rtol=1e-15)
    assert code_eta(paper_eta(0.02, 31, model), 31, model) == pytest.approx(0.02, rel=1e-15)
    steps = np.array([0, 1, 950, 20001])
    for units in ("paper", "code"):
        t = steps_to_time(steps, 1e-3, 31, model, units)
        np.testing.assert_allclose(time_to_steps(t, 1e-3, 31, model, units), steps, rtol=1e-14)
    assert isinstance(steps_to_time(10, 1e-3, 31, model), float)


def test_code_gd_step_equals_paper_gd_step_attn_m():
    """§1.2 identity: a code GD step (no 1/N, rate η) maps onto a paper GD step at rate Nη, weights ×√N."""
    rng = np.random.default_rng(3)
    H, D, N, eta = 2, 3, 9, 0.01
    mom = population_moments(covariance("code-default", D, seed=1), N)
    Uc, vc = 0.3 * rng.standard_normal((H, D, D)), 0.3 * rng.standard_normal(H)

    def L_code(U, v):  # the code model's effective matrix is N·Σ v_i U_i
        return loss(N * np.einsum("h,hij->ij", v, U), mom)

    h = 1e-6
    gU = np.zeros_like(Uc)
    for idx in np.ndindex(Uc.shape):
        E = np.zeros_like(Uc)
        E[idx] = h
        gU[idx] = (L_code(Uc + E, vc) - L_code(Uc - E, vc)) / (2 * h)
    gv = np.array([(L_code(Uc, vc + h * e) - L_code(Uc, vc - h * e)) / (2 * h) for e in np.eye(H)])
    Uc1, vc1 = Uc - eta * gU, vc - eta * gv

    Up, vp = paper_weights(Uc, N, "attn_m"), paper_weights(vc, N, "attn_m")
    dU, dv = attn_m_rhs(Up, vp, mom)
    dt = time_per_step(paper_eta(eta, N, "attn_m"), N, "attn_m", "paper")
    np.testing.assert_allclose(paper_weights(Uc1, N, "attn_m"), Up + dt * dU, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(paper_weights(vc1, N, "attn_m"), vp + dt * dv, rtol=1e-7, atol=1e-10)


def test_code_gd_step_equals_paper_gd_step_attn_s():
    rng = np.random.default_rng(4)
    H, R, D, N, eta = 2, 1, 3, 9, 0.02
    mom = population_moments(covariance("code-default", D, seed=2), N)
    vc, Kc, Qc = (0.4 * rng.standard_normal(s) for s in [(H,), (H, R, D), (H, R, D)])

    def L_code(v, K, Q):
        return loss(N * attn_s_matrix(v, K, Q), mom)

    h = 1e-6
    grads = []
    for which in range(3):
        args = [vc, Kc, Qc]
        g = np.zeros_like(args[which])
        for idx in np.ndindex(g.shape):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[which][idx] += h
            minus[which][idx] -= h
            g[idx] = (L_code(*plus) - L_code(*minus)) / (2 * h)
        grads.append(g)
    code_next = [a - eta * g for a, g in zip([vc, Kc, Qc], grads)]
    paper_now = [paper_weights(a, N, "attn_s") for a in (vc, Kc, Qc)]
    dt = time_per_step(paper_eta(eta, N, "attn_s"), N, "attn_s", "paper")
    for a_code, a_paper, d in zip(code_next, paper_now, attn_s_rhs(*paper_now, mom)):
        np.testing.assert_allclose(paper_weights(a_code, N, "attn_s"), a_paper + dt * d, rtol=1e-7, atol=1e-10)


def test_covariance_presets():
    np.testing.assert_array_equal(covariance("paper-white", 4), np.eye(4))
    np.testing.assert_allclose(covariance("code-white", 4), np.eye(4) / 4, rtol=1e-15)
    np.testing.assert_allclose(covariance("code-default", 4), np.diag([0.4, 0.3, 0.2, 0.1]), rtol=1e-15)
    for D in (1, 4, 8):
        np.testing.assert_allclose(default_eigvals(D).sum(), 1.0, rtol=1e-15)
    L10 = covariance("code-default", 4, seed=10)
    np.testing.assert_allclose(L10, L10.T, rtol=0, atol=0)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(L10)), [0.1, 0.2, 0.3, 0.4], atol=1e-15)
    assert np.max(np.abs(L10 - np.diag(np.diag(L10)))) > 1e-3  # actually rotated
    np.testing.assert_array_equal(covariance("code-default", 4, seed=10), L10)  # reproducible
    assert not np.allclose(covariance("code-default", 4, seed=11), L10)
    Q = random_rotation(5, 0)
    np.testing.assert_allclose(Q @ Q.T, np.eye(5), atol=1e-14)
    assert set(PRESETS) == {"paper-white", "code-white", "code-default"}


BAD_CALLS = [
    (lambda: weight_scale(31, "softmax"), "model"),
    (lambda: weight_scale(0, "attn_m"), "N"),
    (lambda: paper_weights(np.array([np.nan]), 31, "attn_m"), "W_code"),
    (lambda: code_weights(np.inf, 31, "attn_s"), "W_paper"),
    (lambda: paper_eta(-1e-3, 31, "attn_m"), "eta_code"),
    (lambda: code_eta(0.0, 31, "attn_m"), "eta_paper"),
    (lambda: time_per_step(1e-3, 31, "attn_m", "seconds"), "units"),
    (lambda: time_per_step(0.0, 31, "attn_m", "paper"), "eta"),
    (lambda: steps_to_time(-1, 1e-3, 31, "attn_m"), "steps"),
    (lambda: time_to_steps(np.nan, 1e-3, 31, "attn_m"), "t"),
    (lambda: covariance("white", 4), "preset"),
    (lambda: covariance("paper-white", 0), "D"),
    (lambda: default_eigvals(2.5), "D"),
    (lambda: random_rotation(-1, 0), "D"),
]


@pytest.mark.parametrize("call, name", BAD_CALLS)
def test_invalid_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()

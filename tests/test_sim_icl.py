"""sim.icl population flows: numba = naive reference, unit mapping, recording convention, closed forms, and
reference numbers of icl_linear_attention.md §5–§9."""

import numpy as np
import pytest

import sim.icl as icl
from sim.icl import flows, kernels, naive
from theory.icl.moments import error_signal, loss as pop_loss, population_moments

LAM4 = np.diag([0.4, 0.3, 0.2, 0.1])  # official-code default eigenvalues, D = 4 (§2.2)
# §8 table, D = 4, N = 31: L(M_0..4)
PLATEAUS4 = np.array([1.0, 0.640580, 0.377372, 0.209805, 0.135995])
GAMMA4 = np.array([2.246377, 2.924528, 4.189189, 7.380952])  # Γ*_dd, paper scale


def random_spd(D, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((D, D))
    Lam = A @ A.T / D + 0.3 * np.eye(D)
    return Lam / np.trace(Lam)


def assert_same_trajectory(a, b, rtol=1e-10):
    """Every recorded array agrees to rtol (atol = rtol·max|x|, entries near zero are round-off)."""
    pairs = [("loss", a.loss, b.loss), ("v", a.v, b.v), ("steps", a.steps, b.steps), ("t", a.t, b.t),
             ("diverged", a.diverged, b.diverged)]
    for key in a.norms:
        pairs.append(("norms." + key, a.norms[key], b.norms[key]))
    for key in a.conserved:
        pairs.append(("conserved." + key, a.conserved[key], b.conserved[key]))
    for key in a.final:
        pairs.append(("final." + key, a.final[key], b.final[key]))
    assert (a.M is None) == (b.M is None) and (a.alignment is None) == (b.alignment is None)
    if a.M is not None:
        pairs.append(("M", a.M, b.M))
    if a.alignment is not None:
        for key in a.alignment:
            pairs.append(("alignment." + key, a.alignment[key], b.alignment[key]))
    for name, x, y in pairs:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        assert x.shape == y.shape, name
        scale = np.nanmax(np.abs(y)) if np.any(np.isfinite(y)) and y.size else 1.0
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=name)


def all_written(traj):
    arrays = [traj.loss, traj.v, *traj.norms.values(), *traj.conserved.values()]
    if traj.M is not None:
        arrays.append(traj.M)
    if traj.alignment is not None:
        arrays += list(traj.alignment.values())
    return all(np.all(np.isfinite(x)) for x in arrays)


# ------------------------------------------------------------------------------------------------------------
# numba kernel = naive reference (awkward sizes, NaN-filled output buffers)

ATTN_M_CASES = [
    # n, H, D, steps, record_every, mode, units, record_M
    (2, 1, 3, 7, 2, "gd", "paper", True),
    (1, 3, 1, 1, 1, "rk4", "code", False),  # T = 1, D = 1
    (3, 2, 3, 6, 4, "rk4", "paper", True),
    (2, 4, 2, 9, 1, "gd", "code", False),
]


@pytest.mark.parametrize("n,H,D,steps,every,mode,units,record_M", ATTN_M_CASES)
def test_attn_m_numba_matches_naive(n, H, D, steps, every, mode, units, record_M):
    Lam = random_spd(D, seed=D)
    N = 5
    rng = np.random.default_rng(1)
    v0, U0 = 0.4 * rng.standard_normal((n, H)), 0.4 * rng.standard_normal((n, H, D, D))
    if units == "code":
        v0, U0 = v0 / np.sqrt(N), U0 / np.sqrt(N)
    step = {"eta": 0.05} if mode == "gd" else {"dt": 0.1}
    args = (Lam, N, v0, U0, steps, step.get("eta"), step.get("dt"), mode, units, every, record_M)
    fast = flows._attn_m(kernels.attn_m_kernel, *args, fill=np.nan)
    ref = flows._attn_m(naive.attn_m_kernel, *args, fill=np.nan)
    assert all_written(fast) and all_written(ref)
    assert_same_trajectory(fast, ref)
    assert np.all(fast.loss[:, -1] < fast.loss[:, 0]) or steps == 1  # the runs move downhill
    expected_steps = sorted(set(range(0, steps, every)) | {steps - 1})
    assert fast.steps.tolist() == expected_steps


ATTN_S_CASES = [
    # n, H, R, D, steps, record_every, mode, units, record_M, record_alignment
    (2, 1, 1, 3, 7, 3, "gd", "paper", True, True),
    (1, 2, 3, 3, 1, 1, "gd", "code", True, True),  # T = 1
    (3, 3, 2, 3, 5, 1, "rk4", "code", False, True),
    (2, 2, 1, 4, 8, 5, "rk4", "paper", True, False),
]


@pytest.mark.parametrize("n,H,R,D,steps,every,mode,units,record_M,record_alignment", ATTN_S_CASES)
def test_attn_s_numba_matches_naive(n, H, R, D, steps, every, mode, units, record_M, record_alignment):
    Lam = random_spd(D, seed=10 + D)
    N = 7
    rng = np.random.default_rng(2)
    W = [0.6 * rng.standard_normal(s) for s in ((n, H), (n, H, R, D), (n, H, R, D))]
    if units == "code":
        W = [w / N ** (1 / 3) for w in W]
    if n > 1:
        W[1][1, 0, 0] = 0.0  # a zero key: alignment is reported as 0
    step = {"eta": 0.05} if mode == "gd" else {"dt": 0.1}
    args = (Lam, N, *W, steps, step.get("eta"), step.get("dt"), mode, units, every, record_M, record_alignment)
    fast = flows._attn_s(kernels.attn_s_kernel, *args, fill=np.nan)
    ref = flows._attn_s(naive.attn_s_kernel, *args, fill=np.nan)
    assert all_written(fast) and all_written(ref)
    assert_same_trajectory(fast, ref)
    if record_alignment and n > 1:
        assert np.all(fast.alignment["k"][1, 0, 0, 0] == 0.0)
        assert np.all(fast.alignment["k"] <= 1.0 + 1e-12)


def test_mlp_numba_matches_naive_zspace_and_attn_m_mapping():
    """MLP(z) in z-space (Eq. 8) = ATTN-M with U_i = W1[i] reshaped column-major (§3.3), both integrators."""
    n, H, D, N = 2, 3, 3, 4
    Lam = random_spd(D, seed=3)
    rng = np.random.default_rng(4)
    w2, W1 = 0.5 * rng.standard_normal((n, H)), 0.5 * rng.standard_normal((n, H, D * D))
    U = np.stack([[W1[a, i].reshape(D, D, order="F") for i in range(H)] for a in range(n)])
    for kw in ({"eta": 0.04, "units": "code"}, {"dt": 0.07, "mode": "rk4"}):
        fast = flows._mlp(kernels.mlp_kernel, Lam, N, w2, W1, 9, kw.get("eta"), kw.get("dt"), kw.get("mode", "gd"),
                          kw.get("units", "paper"), 2, True, fill=np.nan)
        ref = icl.naive.mlp_flow(Lam, N, w2, W1, 9, record_every=2, record_M=True, **kw)
        assert all_written(fast)
        assert_same_trajectory(fast, ref)
        attn = icl.attn_m_flow(Lam, N, w2, U, 9, record_every=2, record_M=True, **kw)
        np.testing.assert_array_equal(fast.loss, attn.loss)  # the same arithmetic under the mapping
        np.testing.assert_array_equal(fast.M, attn.M)
        np.testing.assert_allclose(fast.conserved["w2_minus_W1"], attn.conserved["v2_minus_U2"], atol=1e-13)
        U_final = fast.final["W1"].reshape(n, H, D, D).transpose(0, 1, 3, 2)
        np.testing.assert_allclose(U_final, attn.final["U"], rtol=1e-12, atol=1e-15)


def test_public_naive_wrappers_have_the_same_signature():
    import inspect

    for name in ("attn_m_flow", "mlp_flow", "attn_s_flow", "mc_moments"):
        fast, ref = inspect.signature(getattr(icl, name)), inspect.signature(getattr(naive, name))
        assert fast.parameters == ref.parameters, name
    for name in ("attn_m_kernel", "mlp_kernel", "attn_s_kernel", "mc_kernel"):
        fast, ref = getattr(kernels, name), getattr(naive, name)
        fast = getattr(fast, "py_func", fast)
        assert inspect.signature(fast).parameters == inspect.signature(ref).parameters, name


# ------------------------------------------------------------------------------------------------------------
# divergence


@pytest.mark.parametrize("impl", ["numba", "naive"])
def test_divergence_stops_the_run_and_fills_nan(impl):
    D, H, N = 3, 2, 5
    Lam = random_spd(D, seed=5)
    v0 = np.array([[1e-3, -1e-3], [30.0, 30.0]])
    U0 = np.stack([1e-3 * np.ones((H, D, D)), 30.0 * np.ones((H, D, D))])
    kernel = kernels.attn_m_kernel if impl == "numba" else naive.attn_m_kernel
    traj = flows._attn_m(kernel, Lam, N, v0, U0, 40, 0.5, None, "gd", "paper", 3, True, fill=-7.0)
    assert traj.diverged.tolist() == [False, True]
    assert np.all(np.isfinite(traj.loss[0])) and np.all(np.isfinite(traj.M[0]))
    bad = ~np.isfinite(traj.loss[1])
    assert bad.any() and bad[-1]
    first = int(np.argmax(bad))
    assert first >= 1 and np.all(bad[first:]) and np.all(np.isfinite(traj.loss[1, :first]))
    for x in (traj.v, traj.norms["U"], traj.conserved["v2_minus_U2"], traj.M):
        assert np.all(np.isnan(x[1, first:])) and not np.any(x == -7.0)
    c = icl.crossings(traj, [1e-300])
    assert np.all(np.isnan(c))


def test_attn_s_divergence_flag():
    D, N = 2, 3  # one head of rank one
    Lam = np.eye(D) / D
    traj = icl.attn_s_flow(Lam, N, [[20.0]], [[[[20.0, 0.0]]]], [[[[20.0, 0.0]]]], 30, eta=0.5)
    assert traj.diverged.tolist() == [True]
    assert np.isnan(traj.loss[0, -1]) and np.isnan(traj.norms["k"][0, -1]).all()


# ------------------------------------------------------------------------------------------------------------
# recording convention and units


def test_loss_recorded_before_each_update_and_time_axis():
    D, H, N, eta = 3, 2, 6, 0.03
    Lam = random_spd(D, seed=6)
    mom = population_moments(Lam, N)
    rng = np.random.default_rng(7)
    v0, U0 = 0.5 * rng.standard_normal(H), 0.5 * rng.standard_normal((H, D, D))  # one run without the n axis
    traj = icl.attn_m_flow(Lam, N, v0, U0, 3, eta=eta)
    M0 = np.einsum("i,iab->ab", v0, U0)
    G0 = error_signal(M0, mom)
    v1 = v0 + 2 * eta * np.einsum("iab,ab->i", U0, G0)
    U1 = U0 + 2 * eta * v0[:, None, None] * G0
    assert traj.loss[0, 0] == pytest.approx(pop_loss(M0, mom), rel=1e-13)
    assert traj.loss[0, 1] == pytest.approx(pop_loss(np.einsum("i,iab->ab", v1, U1), mom), rel=1e-13)
    np.testing.assert_allclose(traj.v[0, 1], v1, rtol=1e-13)
    # steps − 1 updates: the final weights are the last record's
    np.testing.assert_allclose(traj.norms["U"][0, -1], np.linalg.norm(traj.final["U"][0], axis=(1, 2)), rtol=1e-13)
    # the gradient of the un-halved loss is −2G: GD with rate η is the step W + 2η·(dW/dt)
    eps = 1e-6
    E = np.zeros((D, D))
    E[0, 1] = eps
    num = (pop_loss(M0 + E, mom) - pop_loss(M0 - E, mom)) / (2 * eps)
    assert num == pytest.approx(-2 * G0[0, 1], rel=1e-7)
    for units, model, expected in [("paper", "attn_m", 2 * eta), ("code", "attn_m", 2 * eta * N),
                                   ("code", "attn_s", 2 * eta * N ** (2 / 3))]:
        if model == "attn_m":
            tr = icl.attn_m_flow(Lam, N, v0, U0, 11, eta=eta, units=units, record_every=4)
        else:
            tr = icl.attn_s_flow(Lam, N, v0, U0[:, :1], U0[:, 1:2], 11, eta=eta, units=units, record_every=4)
        assert tr.steps.tolist() == [0, 4, 8, 10]
        np.testing.assert_allclose(tr.t, tr.steps * expected, rtol=1e-15)
    tr = icl.attn_m_flow(Lam, N, v0, U0, 5, dt=0.25, mode="rk4")
    np.testing.assert_allclose(tr.t, [0, 0.25, 0.5, 0.75, 1.0])


def test_code_units_equal_paper_units_with_rescaled_weights_and_rate():
    """Claim #8 (population): code run (W, η) ≡ paper run (N^{1/2} W, Nη) for ATTN-M, (N^{1/3} W, N^{2/3} η) for
    ATTN-S; the same paper time per step; RK4 in code units follows the same paper-time flow."""
    N, D, eta = 31, 4, 1e-3
    Lam = random_spd(D, seed=8)
    v, U = icl.init_attn_m(2, 3, D, 0.05, seed=1)
    code = icl.attn_m_flow(Lam, N, v, U, 301, eta=eta, units="code", record_M=True)
    paper = icl.attn_m_flow(Lam, N, np.sqrt(N) * v, np.sqrt(N) * U, 301, eta=N * eta, units="paper", record_M=True)
    assert code.loss[0, -1] < 0.9 * code.loss[0, 0]
    np.testing.assert_allclose(code.loss, paper.loss, rtol=1e-10)
    np.testing.assert_allclose(code.M, paper.M, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(code.t, paper.t, rtol=1e-14)
    np.testing.assert_allclose(np.sqrt(N) * code.final["U"], paper.final["U"], rtol=1e-9, atol=1e-15)

    eta_s = 0.02
    v, K, Q = icl.init_attn_s(2, 3, 2, D, 0.3, seed=2)
    c3 = N ** (1 / 3)
    code = icl.attn_s_flow(Lam, N, v, K, Q, 301, eta=eta_s, units="code")
    paper = icl.attn_s_flow(Lam, N, c3 * v, c3 * K, c3 * Q, 301, eta=N ** (2 / 3) * eta_s, units="paper")
    assert code.loss[0, -1] < 0.9 * code.loss[0, 0]
    np.testing.assert_allclose(code.loss, paper.loss, rtol=1e-10)
    np.testing.assert_allclose(code.t, paper.t, rtol=1e-14)
    np.testing.assert_allclose(c3 * code.final["K"], paper.final["K"], rtol=1e-9, atol=1e-15)

    code = icl.attn_s_flow(Lam, N, v, K, Q, 41, dt=0.5, mode="rk4", units="code")
    paper = icl.attn_s_flow(Lam, N, c3 * v, c3 * K, c3 * Q, 41, dt=0.5, mode="rk4", units="paper")
    np.testing.assert_allclose(code.loss, paper.loss, rtol=1e-10)
    np.testing.assert_allclose(c3 ** 2 * code.conserved["v2_minus_k2"], paper.conserved["v2_minus_k2"],
                               rtol=1e-9, atol=1e-15)


# ------------------------------------------------------------------------------------------------------------
# closed forms (RK4)


def test_rk4_matches_sigma_closed_form_white_covariance():
    """Claim #9: aligned balanced ATTN-M init, Λ = cI: L(t) = Dc − 2Dc²σ + Dc³κσ² with σ(t) of Eq. 10 (§5.4).
    Claim #10: GD with Δt/τ = 2η = 0.002 crosses the loss midpoint at t_mid within 1%."""
    D, N, H, w = 4, 31, 8, 1e-3
    kappa = 1 + (1 + D) / N
    v, U = icl.aligned_attn_m(H, D, w)
    for c, t_end, dt, t_mid in [(1.0, 6.0, 1e-3, 3.3694), (0.25, 100.0, 1e-2, 59.456)]:
        Lam = c * np.eye(D)
        tr = icl.attn_m_flow(Lam, N, v, U, int(round(t_end / dt)) + 1, dt=dt, mode="rk4", record_every=10)
        r = 2 * c**2 * np.sqrt(D)
        ert = np.exp(r * tr.t)
        sigma = ert / (c * kappa * (ert - 1) + np.sqrt(D) / w**2)
        L = D * c - 2 * D * c**2 * sigma + D * c**3 * kappa * sigma**2
        assert tr.loss[0, -1] < 0.2 * tr.loss[0, 0]  # the drop happened inside the window
        np.testing.assert_allclose(tr.loss[0], L, rtol=0, atol=1e-8)
        eta = dt
        gd = icl.attn_m_flow(Lam, N, v, U, int(t_end / (2 * eta)) + 1, eta=eta)
        L_star = D * c * (D + 1) / (N + D + 1)
        t_cross = gd.crossings([(D * c + L_star) / 2])[0, 0] * 2 * eta
        assert t_cross == pytest.approx(t_mid, rel=0.01)


def test_rk4_conserves_balance_quantities():
    """Claim #11: v_i² − ‖U_i‖², v_i² − Σ_r ‖k_{i,r}‖², ‖k_{i,r}‖² − ‖q_{i,r}‖² drift < 1e-9 under RK4."""
    D, N = 4, 31
    Lam = random_spd(D, seed=9)
    v, U = icl.init_attn_m(2, 3, D, 0.3, seed=3)  # paper-unit weights of order 0.3
    tr = icl.attn_m_flow(Lam, N, v, U, 2001, dt=0.01, mode="rk4", record_every=100)
    assert tr.loss[0, -1] < 0.8 * tr.loss[0, 0]
    drift = np.abs(tr.conserved["v2_minus_U2"] - tr.conserved["v2_minus_U2"][:, :1]).max()
    assert drift < 1e-9
    v, K, Q = icl.init_attn_s(2, 3, 2, D, 1.0, seed=4)
    tr = icl.attn_s_flow(Lam, N, v, K, Q, 2001, dt=0.02, mode="rk4", record_every=100)
    assert tr.loss[0, -1] < 0.8 * tr.loss[0, 0]
    for key in ("v2_minus_k2", "k2_minus_q2"):
        x = tr.conserved[key]
        assert np.abs(x - x[:, :1]).max() < 1e-9
    # GD does not conserve them exactly: the drift is O(η) per unit time
    gd = icl.attn_s_flow(Lam, N, v, K, Q, 2001, eta=0.01, record_every=100)
    x = gd.conserved["k2_minus_q2"]
    assert np.abs(x - x[:, :1]).max() > 1e-9


def test_aligned_single_head_follows_eq21_implicit_solution():
    """Claim #19 with the aligned balanced single-head init (§6.4): v(t) obeys τ dv/dt = λ²v² − λ³κ v⁵ whose
    implicit solution is t = [F(u) − F(u_0)]/(a v*), u = v/v*; u = 1/2 at t = 6241.08 for v_0 = 1e-3."""
    N, H, R, D, v0 = 31, 3, 2, 4, 1e-3
    rng = np.random.default_rng(0)
    Qr, _ = np.linalg.qr(rng.standard_normal((D, D)))
    Lam = Qr @ LAM4 @ Qr.T  # rotated: e_1 is not a basis vector
    lam, trL = 0.4, 1.0
    kap = 1 + (1 + trL / lam) / N
    a, b = lam**2, lam**3 * kap
    vstar = (a / b) ** (1 / 3)
    v, K, Q = icl.aligned_attn_s_single_head(H, R, D, v0, Lam)
    tr = icl.attn_s_flow(Lam, N, v, K, Q, 80001, dt=0.1, mode="rk4", record_every=20, record_alignment=True)

    def F(u):
        return (-1 / u - np.log(1 - u) / 3 + np.log(1 + u + u * u) / 6
                - np.arctan((2 * u + 1) / np.sqrt(3)) / np.sqrt(3))

    u = tr.v[0, :, 0] / vstar
    sel = (u > 0.01) & (u < 0.99)
    assert sel.sum() > 100 and u[-1] > 0.99
    t_pred = (F(u[sel]) - F(v0 / vstar)) / (a * vstar)
    np.testing.assert_allclose(tr.t[sel], t_pred, rtol=1e-6)
    assert (F(0.5) - F(v0 / vstar)) / (a * vstar) == pytest.approx(6241.08, abs=0.01)
    j = int(np.argmax(u > 0.5))  # the flow's own u = 1/2 time, interpolated on the Eq. 21 clock
    t_half = tr.t[j - 1] + (tr.t[j] - tr.t[j - 1]) * (F(0.5) - F(u[j - 1])) / (F(u[j]) - F(u[j - 1]))
    assert t_half == pytest.approx(6241.08, abs=0.02)
    # the other heads and pairs stay exactly zero; the active pair stays aligned with e_1 and balanced
    assert np.all(tr.v[0, :, 1:] == 0)
    assert np.all(tr.norms["k"][0, :, 1:] == 0) and np.all(tr.norms["k"][0, :, 0, 1:] == 0)
    np.testing.assert_allclose(tr.alignment["k"][0, :, 0, 0, 0], 1.0, atol=1e-12)
    np.testing.assert_allclose(tr.alignment["q"][0, :, 0, 0, 1:], 0.0, atol=1e-10)
    np.testing.assert_allclose(tr.norms["k"][0, :, 0, 0], np.abs(tr.v[0, :, 0]), rtol=1e-10)


# ------------------------------------------------------------------------------------------------------------
# reference numbers (§6.6, §8, §9)


def test_fig1_attn_m_population_gd_code_units():
    """E1 / claims #4, #5, #12: D = 4, N = 31, H = 8, init 1e-6, η = 1e-3 (code units): midpoint crossing in
    950–1150 steps, loss 0.135995 ± 1e-4 after 6001 steps; M → Γ* (1e-3 rel) by 20001 steps."""
    N = 31
    v, U = icl.init_attn_m(3, 8, 4, 1e-6, seed=0)
    tr = icl.attn_m_flow(LAM4, N, v, U, 6001, eta=1e-3, units="code")
    assert not tr.diverged.any()
    assert np.all(np.abs(tr.loss[:, 0] - 1.0) < 1e-9)
    c = tr.crossings([(1.0 + PLATEAUS4[-1]) / 2])[:, 0]
    assert np.all((c >= 950) & (c <= 1150)), c
    np.testing.assert_allclose(tr.loss[:, -1], PLATEAUS4[-1], atol=1e-4)
    assert np.all(np.diff(tr.loss, axis=1) <= 1e-15)  # GD at this rate descends monotonically: one drop
    long = icl.attn_m_flow(LAM4, N, v[:1], U[:1], 20001, eta=1e-3, units="code", record_every=20000,
                           record_M=True)
    np.testing.assert_allclose(long.M[0, -1], np.diag(GAMMA4), rtol=0, atol=1e-3 * GAMMA4.max())
    np.testing.assert_allclose(np.diag(long.M[0, -1]), GAMMA4, rtol=1e-3)


def test_fig3_attn_s_plateau_values_code_units():
    """E3 / claim #2: ATTN-S D = 4, H = 5, R = 1, η = 0.02, code units, paper-era init 0.01: the loss at the middle
    of each conspicuous plateau (dwell ≥ 500 steps) is L(M_m) ± 1e-3; plateau 2 is conspicuous in every run."""
    try:
        from theory.icl import plateau_losses

        P = np.asarray(plateau_losses(np.diag(LAM4), 31), dtype=float)
        np.testing.assert_allclose(P, PLATEAUS4, atol=1e-6)
    except ImportError:
        P = PLATEAUS4
    v, K, Q = icl.init_attn_s(4, 5, 1, 4, 0.01, seed=0)
    tr = icl.attn_s_flow(LAM4, 31, v, K, Q, 10001, eta=0.02, units="code")
    c = tr.crossings(icl.midpoint_levels(P))
    dwell = icl.plateau_dwell(c)
    assert np.all(np.isfinite(c[:, :3])), c  # three drops within 10001 steps
    assert np.all(np.diff(c[:, :3], axis=1) > 0)
    assert np.all(dwell[:, 2] >= 500)
    checked = 0
    for a in range(c.shape[0]):
        for m in (1, 2):
            if dwell[a, m] >= 500:
                mid = int((c[a, m - 1] + c[a, m]) // 2)
                assert abs(tr.loss[a, mid] - P[m]) < 1e-3, (a, m, tr.loss[a, mid])
                checked += 1
    assert checked >= 5


def test_attn_s_learned_head_magnitudes_rank1():
    """Claim #17 / Eq. 20 in paper units, small init, RK4: on plateau 4 (after three drops) the heads aligned with
    e_1, e_2, e_3 have |v_i| = ‖k_i‖ = ‖q_i‖ = (λ_i κ_i)^{-1/3} (§8: 1.30967, 1.43005, 1.61204) and the loss is
    L(M_3) = 0.209805."""
    N, D, H = 31, 4, 4
    v, K, Q = icl.init_attn_s(1, H, 1, D, 0.01, seed=3, units="paper", N=N)
    tr = icl.attn_s_flow(LAM4, N, v, K, Q, 6001, dt=0.5, mode="rk4", record_every=6000, record_alignment=True)
    assert tr.loss[0, -1] == pytest.approx(PLATEAUS4[3], abs=1e-4)
    al = np.minimum(tr.alignment["k"][0, -1, :, 0, :], tr.alignment["q"][0, -1, :, 0, :])  # [head, e_d]
    heads = [int(np.argmax(al[:, d])) for d in range(3)]
    assert len(set(heads)) == 3 and all(al[heads[d], d] > 0.999 for d in range(3))
    expected = np.array([1.30967, 1.43005, 1.61204])
    np.testing.assert_allclose(np.abs(tr.v[0, -1, heads]), expected, rtol=1e-3)
    np.testing.assert_allclose(tr.norms["k"][0, -1, heads, 0], expected, rtol=1e-3)
    np.testing.assert_allclose(tr.norms["q"][0, -1, heads, 0], expected, rtol=1e-3)


# ------------------------------------------------------------------------------------------------------------
# helpers and validation


def test_crossings_and_dwell_on_synthetic_trajectory():
    steps = np.array([0, 10, 20, 30, 40])
    loss = np.array([[1.0, 0.9, 0.5, 0.2, 0.1], [1.0, 1.0, 1.0, 1.0, np.nan]])
    traj = flows.Trajectory("attn_s", "gd", "paper", 3, 0.1, steps, steps * 0.1, loss, loss[:, :, None], {}, {},
                            None, None, {}, np.array([False, True]))
    c = icl.crossings(traj, [0.95, 0.3, 0.05])
    np.testing.assert_array_equal(c[0], [10.0, 30.0, np.nan])
    assert np.all(np.isnan(c[1]))
    np.testing.assert_array_equal(traj.crossings([0.95]), c[:, :1])
    np.testing.assert_array_equal(icl.plateau_dwell(c[0]), [10.0, 20.0, np.nan])
    np.testing.assert_allclose(icl.midpoint_levels([1.0, 0.6, 0.2]), [0.8, 0.4])


def test_input_validation():
    Lam = np.eye(2)
    v, U = np.zeros((1, 2)), np.zeros((1, 2, 2, 2))
    with pytest.raises(ValueError, match="mode"):
        icl.attn_m_flow(Lam, 3, v, U, 5, eta=0.1, mode="euler")
    with pytest.raises(ValueError, match="units"):
        icl.attn_m_flow(Lam, 3, v, U, 5, eta=0.1, units="si")
    with pytest.raises(ValueError, match="eta"):
        icl.attn_m_flow(Lam, 3, v, U, 5)
    with pytest.raises(ValueError, match="eta"):
        icl.attn_m_flow(Lam, 3, v, U, 5, eta=-0.1)
    with pytest.raises(ValueError, match="dt"):
        icl.attn_m_flow(Lam, 3, v, U, 5, eta=0.1, dt=0.1)
    with pytest.raises(ValueError, match="dt"):
        icl.attn_s_flow(Lam, 3, v, U[:, :, :1], U[:, :, :1], 5, mode="rk4")
    with pytest.raises(ValueError, match="steps"):
        icl.attn_m_flow(Lam, 3, v, U, 0, eta=0.1)
    with pytest.raises(ValueError, match="record_every"):
        icl.attn_m_flow(Lam, 3, v, U, 3, eta=0.1, record_every=0)
    with pytest.raises(ValueError, match="U0"):
        icl.attn_m_flow(Lam, 3, v, np.zeros((1, 2, 3, 3)), 5, eta=0.1)
    with pytest.raises(ValueError, match="W1"):
        icl.mlp_flow(Lam, 3, v, np.zeros((1, 2, 3)), 5, eta=0.1)
    with pytest.raises(ValueError, match="Q0"):
        icl.attn_s_flow(Lam, 3, v, np.zeros((1, 2, 1, 2)), np.zeros((1, 2, 2, 2)), 5, eta=0.1)
    with pytest.raises(ValueError, match="K0"):
        icl.attn_s_flow(Lam, 3, v, np.zeros((1, 2, 1, 3)), np.zeros((1, 2, 1, 3)), 5, eta=0.1)
    with pytest.raises(ValueError, match="v0"):
        icl.attn_m_flow(Lam, 3, [[np.nan, 0.0]], U, 5, eta=0.1)
    with pytest.raises(ValueError, match="Lam"):
        icl.attn_m_flow(-np.eye(2), 3, v, U, 5, eta=0.1)
    with pytest.raises(ValueError, match="N"):
        icl.attn_m_flow(Lam, 0, v, U, 5, eta=0.1)
    with pytest.raises(ValueError, match="levels"):
        icl.crossings(icl.attn_m_flow(Lam, 3, v, U, 2, eta=0.1), [np.nan])

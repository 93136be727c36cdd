"""sim.recall recurrences: numba = naive reference, rule identities (test_time_memory.md §9 rows 1–5, 7–13),
chunkwise = recurrence, exact cases and limits, the CG solver (rows 15–18) and input validation."""

import numpy as np
import pytest

import sim.recall as R
from sim.recall import chunkwise, naive
from theory.recall import (
    cg_condition_bound,
    damped_cg_residual,
    hessian_lambda_max_bound,
    mesa_large_lam_deviation,
    mesa_readout_gain,
    ridge_recall_error_orthonormal,
)

RTOL = 1e-10  # float64 round-off of O(T·d) operations, fixed up front


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def qkv(lead, T, dk, dv, seed, unit_keys=True):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(lead + (T, dk))
    k = rng.standard_normal(lead + (T, dk))
    if unit_keys:
        k = unit(k)
    v = rng.standard_normal(lead + (T, dv))
    return q, k, v, rng


def assert_close(x, y, rtol=RTOL, name=""):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    assert x.shape == y.shape, name
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y)), name
    scale = max(float(np.max(np.abs(y))), 1e-300) if y.size else 1.0
    np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale, err_msg=name)


def rel_rmse(x, y):
    return float(np.sqrt(np.mean((x - y) ** 2)) / np.sqrt(np.mean(y**2)))


# ------------------------------------------------------------------------------------------------------------
# numba kernels = naive references (awkward sizes; the wrappers hand the kernels NaN-filled output buffers)

SIZES = [
    # lead, T, d_k, d_v
    ((), 1, 1, 1),  # T = 1, scalar memory
    ((2,), 7, 3, 2),
    ((2, 3), 5, 5, 4),  # two batch axes
]


def rule_args(name, lead, T, dk, rng):
    """Per-token gates of each rule (strictly inside their ranges) and a non-zero initial state."""
    def g(lo, hi):
        return rng.uniform(lo, hi, lead + (T,))

    return {
        "linear_attention": ((), {}),
        "gated_linear_attention": ((g(0.05, 1.0), g(0.1, 2.0)), {}),
        "gated_linear_attention_channel": ((rng.uniform(0.05, 1.0, lead + (T, dk)),), {}),
        "delta_rule": ((g(0.05, 1.0),), {}),
        "gated_delta_rule": ((g(0.05, 1.0), g(0.05, 1.0)), {}),
        "miras_gated_delta_rule": ((g(0.05, 1.0), g(0.05, 1.0)), {}),
        "longhorn": ((g(0.1, 5.0),), {}),
        "titans": ((g(0.0, 0.5), g(0.0, 1.0), g(0.0, 0.5)), {}),
        "moneta": ((g(0.5, 1.0), g(0.01, 0.3)), {}),
        "moneta_mirror": ((g(0.5, 1.0), g(0.01, 0.3)), {"retention_map": "mirror", "p": 2.5, "q_norm": 3.0}),
        "yaad": ((g(0.5, 1.0), g(0.05, 0.5), g(0.3, 2.0)), {}),
        "yaad_norm": ((g(0.5, 1.0), g(0.05, 0.5), g(0.3, 2.0)), {"huber": "norm"}),
        "memora": ((g(0.3, 1.0), g(0.05, 1.0)), {}),
        "memora_row": ((g(0.3, 1.0), g(0.05, 1.0)), {"axis": "row"}),
        "memora_column": ((g(0.0, 1.0), g(0.05, 1.0)), {"axis": "column", "c": 2.0}),
    }[name]


RULES = ["linear_attention", "gated_linear_attention", "gated_linear_attention_channel", "delta_rule",
         "gated_delta_rule", "miras_gated_delta_rule", "longhorn", "titans", "moneta", "moneta_mirror", "yaad",
         "yaad_norm", "memora", "memora_row", "memora_column"]


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("lead,T,dk,dv", SIZES)
def test_rule_numba_matches_naive(name, lead, T, dk, dv):
    q, k, v, rng = qkv(lead, T, dk, dv, seed=10 * RULES.index(name) + T)
    args, kwargs = rule_args(name, lead, T, dk, rng)
    fn = {"moneta_mirror": "moneta", "yaad_norm": "yaad", "memora_row": "memora", "memora_column": "memora"}.get(
        name, name)
    if name.startswith("memora"):
        init = rng.uniform(0.5, 1.5, lead + (dv, dk)) / (dv * dk)
    elif name.startswith("titans"):
        init = (0.3 * rng.standard_normal(lead + (dv, dk)), 0.1 * rng.standard_normal(lead + (dv, dk)))
    else:
        init = 0.3 * rng.standard_normal(lead + (dv, dk))
    fast, sf = getattr(R, fn)(q, k, v, *args, initial_state=init, return_state=True, **kwargs)
    ref, sr = getattr(naive, fn)(q, k, v, *args, initial_state=init, return_state=True, **kwargs)
    assert fast.shape == lead + (T, dv)
    assert_close(fast, ref, name=name)
    for a, b in zip(sf if isinstance(sf, tuple) else (sf,), sr if isinstance(sr, tuple) else (sr,)):
        assert_close(a, b, name=name + " state")
    if name.startswith("memora"):
        W = sf
        axis = {"memora": (-2, -1), "memora_row": -1, "memora_column": -2}[name]
        c = kwargs.get("c", 1.0)
        # claim 7: W stays strictly positive and every slice sums to c
        assert np.all(W > 0)
        np.testing.assert_allclose(W.sum(axis=axis), c, rtol=1e-12)


def test_yaad_takes_both_branches_and_huber_variants_differ():
    """The coordinate-wise and norm-wise outer branches give different memories once ‖e‖ > δ (§3.2)."""
    q, k, v, rng = qkv((), 6, 3, 4, seed=3)
    a = (0.9, 0.3, 0.5)
    coord = R.yaad(q, k, v, *a)
    norm = R.yaad(q, k, v, *a, huber="norm")
    l2 = R.yaad(q, k, v, 0.9, 0.3, np.inf)
    assert np.abs(coord - norm).max() > 1e-3 and np.abs(coord - l2).max() > 1e-3
    # claim 10: δ → ∞ is the ℓ2 step of the Miras-gated delta rule (λ = α, η' = η)
    assert_close(l2, R.miras_gated_delta_rule(q, k, v, 0.9, 0.3), rtol=1e-12)
    # one step from W_0 = 0 with ‖e‖ = ‖v‖ > δ: W_1 = −η δ sign(e) kᵀ = η δ sign(v) kᵀ
    _, W1 = R.yaad(q[:1], k[:1], v[:1], 0.9, 0.3, 0.5, return_state=True)
    assert_close(W1, 0.3 * 0.5 * np.outer(np.sign(v[0]), k[0]), rtol=1e-12)


@pytest.mark.parametrize("solver", ["exact", "cg", "cg_damped"])
@pytest.mark.parametrize("init", ["zero", "jacobi"])
@pytest.mark.parametrize("lead,T,dk,dv", SIZES)
def test_mesa_numba_matches_naive(solver, init, lead, T, dk, dv):
    q, k, v, rng = qkv(lead, T, dk, dv, seed=11 + T + dk)
    gamma = rng.uniform(0.5, 1.0, lead + (T,))
    beta = rng.uniform(0.1, 1.0, lead + (T,))
    lam = rng.uniform(0.2, 1.0, dk)  # per-channel Λ
    A0 = rng.standard_normal(lead + (dk, dk))
    H0 = 0.2 * A0 @ np.swapaxes(A0, -1, -2)
    G0 = 0.3 * rng.standard_normal(lead + (dv, dk))
    kw = dict(solver=solver, init=init, max_steps=2 if solver == "cg" else None, initial_state=(H0, G0),
              return_state=True, return_info=True)
    o, (H, G), info = R.mesa(q, k, v, gamma, beta, lam, **kw)
    o_r, (H_r, G_r), info_r = naive.mesa(q, k, v, gamma, beta, lam, **kw)
    assert_close(o, o_r, name="o")
    assert_close(H, H_r, name="H")
    assert_close(G, G_r, name="G")
    np.testing.assert_array_equal(info.steps, info_r.steps)
    np.testing.assert_array_equal(info.breakdown, info_r.breakdown)
    assert not info.breakdown.any()
    np.testing.assert_allclose(info.residual, info_r.residual, rtol=1e-6, atol=1e-14)
    if solver == "exact":
        assert np.all(info.steps == 0) and np.all(info.residual < 1e-13)
    elif solver == "cg_damped":
        assert np.all(info.steps == 30)


def test_cg_solve_numba_matches_naive_and_breakdown():
    rng = np.random.default_rng(5)
    d = 5
    X = rng.standard_normal((3, d, d))
    A = X @ np.swapaxes(X, 1, 2) + 0.1 * np.eye(d)
    b = rng.standard_normal((3, d))
    b[1] = 0.0  # a zero right-hand side: x = 0, no steps
    for kw in ({}, {"init": "jacobi"}, {"damped": True, "max_steps": 7}, {"max_steps": 3}):
        x, info = R.cg_solve(A, b, **kw)
        xr, ir = naive.cg_solve(A, b, **kw)
        assert_close(x, xr)
        np.testing.assert_array_equal(info.steps, ir.steps)
        assert info.steps[1] == 0 and np.all(x[1] == 0) and info.residual[1] == 0
    # an indefinite matrix is not SPD: pᵀAp <= 0 is reported, not hidden
    Aind = np.diag([1.0, -1.0, 2.0])
    x, info = R.cg_solve(Aind, np.array([1.0, 1.0, 0.0]))
    _, ir = naive.cg_solve(Aind, np.array([1.0, 1.0, 0.0]))
    assert info.breakdown and ir.breakdown


# ------------------------------------------------------------------------------------------------------------
# rule identities (§2.3, §3; claims 1, 3, 4, 5, 8, 9, 11)


def test_reductions_between_rules():
    q, k, v, rng = qkv((2,), 9, 4, 3, seed=21)
    beta = rng.uniform(0.05, 1.0, (2, 9))
    gam = rng.uniform(0.3, 1.0, (2, 9))
    delta = R.delta_rule(q, k, v, beta)
    assert_close(R.gated_delta_rule(q, k, v, 1.0, beta), delta)
    assert_close(R.miras_gated_delta_rule(q, k, v, 1.0, beta), delta)
    assert_close(R.chunkwise_delta_rule(q, k, v, beta, chunk=4), delta)
    assert_close(R.gated_linear_attention(q, k, v, 1.0, 1.0), R.linear_attention(q, k, v))
    assert_close(R.gated_linear_attention_channel(q, k, v, np.repeat(gam[..., None], 4, -1)),
                 R.gated_linear_attention(q, k, v, gam))
    # Longhorn with unit keys is DeltaNet with β = β'/(1 + β') (§3.1)
    b_lh = 1.0 / beta - 1.0 + 0.5
    assert_close(R.longhorn(q, k, v, b_lh), R.delta_rule(q, k, v, b_lh / (1 + b_lh)))
    # Titans without momentum or decay is DeltaNet with β = 2θ (ℓ = ‖Mk − v‖²)
    assert_close(R.titans(q, k, v, 0.0, 0.0, beta / 2), delta)
    # claim 8: Moneta p = q = 2 is decayed ℓ2 GD with learning rate 2η (A_0 = W_0 = 0)
    eta = rng.uniform(0.0, 0.4, (2, 9))
    for m in ("stated", "mirror"):
        assert_close(R.moneta(q, k, v, gam, eta, p=2, q_norm=2, retention_map=m),
                     R.miras_gated_delta_rule(q, k, v, gam, 2 * eta))


def test_deltanet_step_is_sgd_and_gdn_minus_miras_identity():
    """Claims 1 and 3 on one token from a random state: DeltaNet = M − β∇(½‖Mk − v‖²) (gradient by central
    differences); GDN − Miras-gated delta = β(1 − a) M_{t−1} k kᵀ."""
    rng = np.random.default_rng(4)
    dk, dv = 5, 3
    M0 = rng.standard_normal((dv, dk))
    k = unit(rng.standard_normal(dk))
    v, q = rng.standard_normal(dv), rng.standard_normal(dk)
    a, b = 0.7, 0.35

    def loss(M):
        return 0.5 * np.sum((M @ k - v) ** 2)

    grad = np.zeros_like(M0)
    h = 1e-5
    for i in range(dv):
        for j in range(dk):
            E = np.zeros_like(M0)
            E[i, j] = h
            grad[i, j] = (loss(M0 + E) - loss(M0 - E)) / (2 * h)
    _, M1 = R.delta_rule(q[None], k[None], v[None], b, initial_state=M0, return_state=True)
    np.testing.assert_allclose(M1, M0 - b * grad, atol=1e-9)  # finite-difference error O(h²)
    np.testing.assert_allclose(M1, M0 - b * np.outer(M0 @ k - v, k), atol=1e-12)
    _, Mg = R.gated_delta_rule(q[None], k[None], v[None], a, b, initial_state=M0, return_state=True)
    _, Mm = R.miras_gated_delta_rule(q[None], k[None], v[None], a, b, initial_state=M0, return_state=True)
    np.testing.assert_allclose(Mg - Mm, b * (1 - a) * M0 @ np.outer(k, k), atol=1e-12)


def test_longhorn_is_the_implicit_argmin_and_titans_unrolls():
    """Claim 4: Longhorn's step satisfies the stationarity of ½‖W − M‖² + (β/2)‖Wk − v‖² (non-unit key).
    Claim 11: the Titans recurrence equals M_t = (1−α_t)M_{t−1} − Σ_i (Π_{j=i+1..t} η_j) θ_i ∇ℓ_i(M_{i−1})."""
    rng = np.random.default_rng(8)
    dk, dv = 4, 3
    M0 = rng.standard_normal((dv, dk))
    k = 1.7 * unit(rng.standard_normal(dk))
    v, q = rng.standard_normal(dv), rng.standard_normal(dk)
    _, W = R.longhorn(q[None], k[None], v[None], 0.8, initial_state=M0, return_state=True)
    np.testing.assert_allclose((W - M0) + 0.8 * np.outer(W @ k - v, k), 0.0, atol=1e-12)

    T = 5
    q, kk, vv, rng = qkv((), T, dk, dv, seed=9)
    al, et, th = rng.uniform(0, 0.3, T), rng.uniform(0, 1, T), rng.uniform(0, 0.4, T)
    Ms, grads, M = [M0], [], M0
    S = np.zeros_like(M0)
    for t in range(T):
        grads.append(2 * np.outer(M @ kk[t] - vv[t], kk[t]))
        _, (M, S) = R.titans(q[t:t + 1], kk[t:t + 1], vv[t:t + 1], al[t], et[t], th[t], initial_state=(M, S),
                             return_state=True)
        Ms.append(M)
    for t in range(T):
        mom = sum(np.prod(et[i + 1:t + 1]) * th[i] * grads[i] for i in range(t + 1))
        np.testing.assert_allclose(Ms[t + 1], (1 - al[t]) * Ms[t] - mom, atol=1e-12)
    _, (M_all, _) = R.titans(q, kk, vv, al, et, th, initial_state=(M0, np.zeros_like(M0)), return_state=True)
    np.testing.assert_allclose(M_all, Ms[-1], atol=1e-12)


def test_moneta_retention_maps_homogeneity():
    """Claim 9: the stated map W = A/‖A‖_q^{q−2} has degree 3 − q in A; the exact mirror map has degree 1; the two
    differ at O(1) for q = 4 and coincide at q = 2. Read with α = 1, η = 0 so that W = map(A_0)."""
    rng = np.random.default_rng(10)
    dk, dv = 3, 2
    A0 = rng.standard_normal((dv, dk))
    q = rng.standard_normal((1, dk))
    k, v = unit(rng.standard_normal((1, dk))), rng.standard_normal((1, dv))
    c = 2.5

    def W(A, qn, m):
        return R.moneta(q, k, v, 1.0, 0.0, q_norm=qn, retention_map=m, initial_state=A, return_state=True)[1][0]

    np.testing.assert_allclose(W(c * A0, 4, "stated"), c ** (3 - 4) * W(A0, 4, "stated"), rtol=1e-12)
    np.testing.assert_allclose(W(c * A0, 4, "mirror"), c * W(A0, 4, "mirror"), rtol=1e-12)
    assert np.abs(W(A0, 4, "stated") - W(A0, 4, "mirror")).max() > 0.1 * np.abs(W(A0, 4, "mirror")).max()
    np.testing.assert_allclose(W(A0, 2, "stated"), A0, rtol=1e-14)
    np.testing.assert_allclose(W(A0, 2, "mirror"), A0, rtol=1e-14)
    # the mirror map inverts ∇ψ, ψ(W) = ½‖W‖_q²: ∇ψ(W) = sign(W)|W|^{q−1} ‖W‖_q^{2−q} gives back A
    Wm = W(A0, 4, "mirror")
    back = np.sign(Wm) * np.abs(Wm) ** 3 * np.linalg.norm(Wm.ravel(), 4) ** (2 - 4)
    np.testing.assert_allclose(back, A0, rtol=1e-12)


# ------------------------------------------------------------------------------------------------------------
# Mesa: objective, limits, exact cases (claims 12, 19, 20, 26)


def test_mesa_equals_direct_weighted_ridge_minimiser():
    """Claim 12: o_t = Φ_t q_t with Φ_t the minimiser of ½ Σ_i ζ_{t,i} β_i ‖v_i − Φ k_i‖² + ½ tr(Φ Λ Φᵀ), built
    from scratch for every t (ζ_{t,i} = Π_{j=i+1..t} γ_j)."""
    T, dk, dv = 9, 4, 3
    q, k, v, rng = qkv((), T, dk, dv, seed=12)
    gam, beta, lam = rng.uniform(0.3, 1, T), rng.uniform(0.1, 1, T), rng.uniform(0.1, 1, dk)
    o = R.mesa(q, k, v, gam, beta, lam)
    for t in range(T):
        zeta = np.array([np.prod(gam[i + 1:t + 1]) for i in range(t + 1)]) * beta[:t + 1]
        Kt, Vt = k[:t + 1], v[:t + 1]
        # stationarity: Φ (Kᵀ diag(ζβ) K + Λ) = Vᵀ diag(ζβ) K
        Phi = np.linalg.solve((Kt.T * zeta) @ Kt + np.diag(lam), ((Vt.T * zeta) @ Kt).T).T
        np.testing.assert_allclose(o[t], Phi @ q[t], rtol=1e-10, atol=1e-12)


def test_mesa_limits_and_exact_recall():
    dk = 8
    q, k, v, rng = qkv((), 6, dk, 5, seed=13)
    gam, beta = rng.uniform(0.5, 1, 6), rng.uniform(0.2, 1, 6)
    # claim 19, λ → ∞: λ·o_t → G_t q_t (gated LA with input gate β), relative deviation ≤ ‖H_t‖/λ
    lam = 1e4
    o, (H, G) = R.mesa(q, k, v, gam, beta, lam, return_state=True)
    gla = R.gated_linear_attention(q, k, v, gam, beta)
    dev = np.linalg.norm(lam * o - gla, axis=1) / np.linalg.norm(gla, axis=1)
    assert dev.max() < 1e-3
    # at the last token: ‖λ o_T − G_T q_T‖ ≤ ‖G_T‖ ‖λ(H_T + λI)^{-1} − I‖ ‖q_T‖ = ‖G_T‖ h/(h + λ) ‖q_T‖
    h = np.linalg.norm(H, 2)
    bound = np.linalg.norm(G, 2) * mesa_large_lam_deviation(h, lam) * np.linalg.norm(q[-1])
    assert np.linalg.norm(lam * o[-1] - gla[-1]) <= bound * (1 + 1e-9)
    assert np.linalg.norm(lam * o[-1] - gla[-1]) >= 1e-3 * bound  # the deviation is O(h/λ), not smaller
    # claim 19, λ → 0, γ = β = 1: N <= d_k linearly independent (not orthogonal) keys are recalled exactly
    N = dk
    Kd = unit(rng.standard_normal((N, dk)))
    V = rng.standard_normal((N, 5))
    b = np.r_[np.ones(N), np.zeros(N)]
    o = R.mesa(np.r_[Kd, Kd], np.r_[Kd, Kd], np.r_[V, 0 * V], 1.0, b, 1e-9)
    np.testing.assert_allclose(o[N:], V, atol=1e-6)
    # N > d_k keys: Mesa at λ → 0 reads the least-squares interpolant
    N = 2 * dk + 3
    Kd = unit(rng.standard_normal((N, dk)))
    V = rng.standard_normal((N, 5))
    b = np.r_[np.ones(N), np.zeros(N)]
    o = R.mesa(np.r_[Kd, Kd], np.r_[Kd, Kd], np.r_[V, 0 * V], 1.0, b, 1e-9)
    Mls = np.linalg.lstsq(Kd, V, rcond=None)[0]
    np.testing.assert_allclose(o[N:], Kd @ Mls, rtol=0, atol=1e-7)
    # an isolated unit key written with weight β reads back β/(β + λ)·v (§4.1)
    o = R.mesa(Kd[:1], Kd[:1], V[:1], 1.0, 0.6, 0.25)
    np.testing.assert_allclose(o[0], mesa_readout_gain(0.6, 0.25) * V[0], rtol=1e-13)


def test_orthonormal_keys_exact_recall():
    """Claims 20, 26, 24: orthonormal keys, N = d_k — LA, delta (β = 1, any order) and LS recall exactly (≤ 1e-12);
    Mesa (γ = β = 1, λ) reads v/(1 + λ), i.e. E = (λ/(1 + λ))²; random keys: the delta rule's last item is exact."""
    dk = 6
    rng = np.random.default_rng(14)
    Qo, _ = np.linalg.qr(rng.standard_normal((dk, dk)))
    Kd, V = Qo.T, rng.standard_normal((dk, 4))
    for perm in (np.arange(dk), rng.permutation(dk)):
        K_, V_ = Kd[perm], V[perm]
        for M in (R.linear_attention(K_, K_, V_, return_state=True)[1],
                  R.delta_rule(K_, K_, V_, 1.0, return_state=True)[1]):
            np.testing.assert_allclose(Kd @ M.T, V, atol=1e-12)
    np.testing.assert_allclose(Kd @ np.linalg.lstsq(Kd, V, rcond=None)[0], V, atol=1e-12)
    for lam in (0.25, 1.0):
        b = np.r_[np.ones(dk), np.zeros(dk)]
        o = R.mesa(np.r_[Kd, Kd], np.r_[Kd, Kd], np.r_[V, 0 * V], 1.0, b, lam)[dk:]
        E = np.sum((o - V) ** 2) / np.sum(V**2)
        assert abs(E - ridge_recall_error_orthonormal(lam)) <= 1e-10
    Kr = unit(rng.standard_normal((5, dk)))
    _, M = R.delta_rule(Kr, Kr, V[:5], 1.0, return_state=True)
    np.testing.assert_allclose(M @ Kr[-1], V[4], atol=1e-12)
    assert np.linalg.norm(M @ Kr[0] - V[0]) > 1e-3  # earlier, non-orthogonal keys are perturbed


# ------------------------------------------------------------------------------------------------------------
# chunkwise forms (claims 2, 13)


@pytest.mark.parametrize("chunk", [1, 4, 16, 64])
def test_chunkwise_gdn_and_delta_match_recurrence(chunk):
    q, k, v, rng = qkv((2,), 37, 5, 3, seed=15)
    alpha = rng.uniform(0.05, 0.999, (2, 37))
    alpha[0, 10] = 0.0  # a full reset: the direct decay products stay exact
    beta = rng.uniform(0.05, 0.999, (2, 37))
    M0 = rng.standard_normal((2, 3, 5))
    o, M = R.gated_delta_rule(q, k, v, alpha, beta, initial_state=M0, return_state=True)
    oc, Mc = R.chunkwise_gated_delta_rule(q, k, v, alpha, beta, chunk=chunk, initial_state=M0, return_state=True)
    assert rel_rmse(oc, o) <= 1e-10 and rel_rmse(Mc, M) <= 1e-10
    od = R.delta_rule(q, k, v, beta)
    assert rel_rmse(R.chunkwise_delta_rule(q, k, v, beta, chunk=chunk), od) <= 1e-10


@pytest.mark.parametrize("solver", ["exact", "cg", "cg_damped"])
@pytest.mark.parametrize("chunk", [1, 8, 64])
def test_chunkwise_mesa_matches_recurrence(solver, chunk):
    q, k, v, rng = qkv((2,), 21, 5, 3, seed=16)
    gamma = rng.uniform(0.05, 1.0, (2, 21))
    gamma[1, 3] = 0.0
    beta = rng.uniform(0.05, 1.0, (2, 21))
    lam = rng.uniform(0.2, 1.0, 5)
    for init in ("zero", "jacobi"):
        kw = dict(solver=solver, init=init, max_steps=3 if solver == "cg" else None, return_state=True,
                  return_info=True)
        o, (H, G), info = R.mesa(q, k, v, gamma, beta, lam, **kw)
        oc, (Hc, Gc), ic = R.chunkwise_mesa(q, k, v, gamma, beta, lam, chunk=chunk, **kw)
        scale = np.abs(o).max()
        np.testing.assert_allclose(oc, o, rtol=0, atol=1e-12 * scale)
        np.testing.assert_allclose(Hc, H, rtol=0, atol=1e-12 * np.abs(H).max())
        np.testing.assert_allclose(Gc, G, rtol=0, atol=1e-12 * np.abs(G).max())
        np.testing.assert_array_equal(ic.steps, info.steps)
        assert not ic.breakdown.any()


def test_chunkwise_mesa_matvec_equals_per_token_system():
    """Claim 13: (P ⊙ b) H_[c] + ((P Kᵀ) ⊙ D) K + P Λ equals (H_t + Λ) p_t with H_t from the recurrence."""
    q, k, v, rng = qkv((1,), 12, 4, 2, seed=17)
    gamma, beta, lam = rng.uniform(0.3, 1, (1, 12)), rng.uniform(0.1, 1, (1, 12)), rng.uniform(0.1, 1, 4)
    _, (H6, _) = R.mesa(q[:, :6], k[:, :6], v[:, :6], gamma[:, :6], beta[:, :6], lam, return_state=True)
    Gam, b = chunkwise._decay(gamma[:, 6:])
    D = Gam * beta[:, None, 6:]
    P = rng.standard_normal((1, 6, 4))
    out = chunkwise._mesa_matvec(P, H6, k[:, 6:], D, b, lam[None])
    H = H6[0].copy()
    for t in range(6):
        H = gamma[0, 6 + t] * H + beta[0, 6 + t] * np.outer(k[0, 6 + t], k[0, 6 + t])
        np.testing.assert_allclose(out[0, t], (H + np.diag(lam)) @ P[0, t], rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------------------
# CG facts (claims 15–18)


def mesa_system(d, T, gamma, seed):
    rng = np.random.default_rng(seed)
    K = unit(rng.standard_normal((T, d)))
    _, H = R.gated_linear_attention(K, K, K, gamma, 1.0, return_state=True)
    return H, rng


def test_cg_tolerance_stop_and_inits_agree():
    """Claim 18: the reported residual is ≤ tol and the error ≤ κ·tol; zero and Jacobi inits agree within
    10·tol·κ; steps stay below the cap. Claim 17: λ_max(H_t) ≤ 1/(1 − γ)."""
    d, gamma, lam = 32, 0.95, 0.25
    H, rng = mesa_system(d, 200, gamma, seed=18)
    assert np.linalg.eigvalsh(H)[-1] <= hessian_lambda_max_bound(gamma)
    A = H + lam * np.eye(d)
    ev = np.linalg.eigvalsh(A)
    kappa = ev[-1] / ev[0]
    assert kappa <= cg_condition_bound(gamma, lam)
    Q = unit(rng.standard_normal((16, d)))
    x_star = np.linalg.solve(A, Q.T).T
    for tol in (1e-4, 1e-6, 1e-10):
        xs = {}
        for init in ("zero", "jacobi"):
            x, info = R.cg_solve(A, Q, tol=tol, max_steps=4 * d, init=init)
            assert np.all(info.residual <= tol) and not info.breakdown.any()
            assert np.all(info.steps < 4 * d)
            err = np.linalg.norm(x - x_star, axis=1) / np.linalg.norm(x_star, axis=1)
            assert np.all(err <= kappa * tol)
            xs[init] = x
        assert np.abs(xs["zero"] - xs["jacobi"]).max() <= 10 * tol * kappa * np.abs(x_star).max()


def test_cg_finite_termination_with_scalar_lambda():
    """Claim 15: γ = 1, scalar λ, t < d_k keys ⇒ ≤ t + 1 distinct eigenvalues ⇒ CG exact after t + 1 steps;
    a per-channel Λ breaks this."""
    d = 24
    rng = np.random.default_rng(19)
    q = unit(rng.standard_normal(d))
    for t in (3, 10):
        K = unit(rng.standard_normal((t, d)))
        H = K.T @ K
        for lam, expect_exact in ((0.5, True), (rng.uniform(0.2, 1.0, d), False)):
            A = H + np.diag(np.broadcast_to(lam, (d,)))
            x_star = np.linalg.solve(A, q)
            x, _ = R.cg_solve(A, q, tol=1e-300, max_steps=t + 1)
            err = np.linalg.norm(x - x_star) / np.linalg.norm(x_star)
            assert (err <= 1e-10) == expect_exact, (t, err)


def test_damped_cg_has_an_accuracy_floor():
    """Claim 16 (§4.2): fp64, d = 64, unit q, γ = 0.99, T = 512 isotropic unit keys, 30 steps. Damped (ε = 1e-5):
    relative error ≈ 9e-4 (λ = 0.25) and 4.5e-4 (λ = 1) within a factor 3, never 1e-8, with or without Jacobi
    init; its residual follows √(ε/(2 λ_min k)) within a factor 3. Undamped 30 steps: ≤ 1e-10."""
    H, rng = mesa_system(64, 512, 0.99, seed=20)
    Q = unit(rng.standard_normal((32, 64)))
    for lam, floor in ((0.25, 9e-4), (1.0, 4.5e-4)):
        A = H + lam * np.eye(64)
        lam_min = np.linalg.eigvalsh(A)[0]
        x_star = np.linalg.solve(A, Q.T).T
        for init in ("zero", "jacobi"):
            x, info = R.cg_solve(A, Q, max_steps=30, init=init, damped=True)
            err = np.median(np.linalg.norm(x - x_star, axis=1) / np.linalg.norm(x_star, axis=1))
            assert floor / 3 <= err <= 3 * floor, (lam, init, err)
            assert np.all(info.steps == 30)
            theory = damped_cg_residual(30, 1e-5, lam_min)
            assert theory / 3 <= np.median(info.residual) <= 3 * theory
        x, info = R.cg_solve(A, Q, tol=1e-300, max_steps=30)
        assert np.max(np.linalg.norm(x - x_star, axis=1) / np.linalg.norm(x_star, axis=1)) <= 1e-10


def test_mesa_cg_within_tolerance_of_exact_and_exact_breakdown():
    q, k, v, rng = qkv((2,), 40, 16, 4, seed=22)
    gamma, beta = rng.uniform(0.8, 1, (2, 40)), rng.uniform(0.2, 1, (2, 40))
    ex = R.mesa(q, k, v, gamma, beta, 0.3)
    for init in ("zero", "jacobi"):
        cg, info = R.mesa(q, k, v, gamma, beta, 0.3, solver="cg", tol=1e-8, init=init, return_info=True)
        assert np.all(info.residual <= 1e-8) and np.all(info.steps <= 16)
        kappa = 1 + 40 / 0.3  # crude bound: λ_max(H) ≤ tr H ≤ t for unit keys and β, γ ≤ 1
        assert np.all(np.linalg.norm(cg - ex, axis=-1) <= kappa * 1e-8 * np.linalg.norm(ex, axis=-1) + 1e-14)
    # λ = 0 with fewer keys than d_k: H_t is singular; the exact solve reports it instead of a number
    o, info = R.mesa(q[0, :3], k[0, :3], v[0, :3], 1.0, 1.0, 0.0, return_info=True)
    assert info.breakdown.all() and np.isnan(o).all()


# ------------------------------------------------------------------------------------------------------------
# validation


def test_input_validation():
    q, k, v, _ = qkv((), 4, 3, 2, seed=0)
    cases = [
        (lambda: R.linear_attention(q, k[:, :2], v), "k"),
        (lambda: R.linear_attention(q, k, v[:3]), "v"),
        (lambda: R.linear_attention(q[0], k[0], v[0]), "q"),
        (lambda: R.linear_attention(q * np.nan, k, v), "q"),
        (lambda: R.delta_rule(q, k, v, 1.5), "beta"),
        (lambda: R.delta_rule(q, k, v, np.ones(5)), "beta"),
        (lambda: R.gated_delta_rule(q, k, v, -0.1, 0.5), "alpha"),
        (lambda: R.gated_linear_attention_channel(q, k, v, np.ones((4, 2))), "a"),
        (lambda: R.longhorn(q, k, v, -1.0), "beta"),
        (lambda: R.titans(q, k, v, 0.1, 1.2, 0.1), "eta"),
        (lambda: R.titans(q, k, v, 0.1, 0.5, 0.1, initial_state=np.zeros((2, 3))), "initial_state"),
        (lambda: R.moneta(q, k, v, 0.9, 0.1, q_norm=1.0), "q_norm"),
        (lambda: R.moneta(q, k, v, 0.9, 0.1, retention_map="exact"), "retention_map"),
        (lambda: R.yaad(q, k, v, 0.9, 0.1, 0.0), "delta"),
        (lambda: R.yaad(q, k, v, 0.9, 0.1, 1.0, huber="l1"), "huber"),
        (lambda: R.memora(q, k, v, 0.9, 0.1, axis="slice"), "axis"),
        (lambda: R.memora(q, k, v, 0.9, 0.1, initial_state=np.zeros((2, 3))), "initial_state"),
        (lambda: R.memora(q, k, v, 0.9, 0.1, c=0.0), "c"),
        (lambda: R.mesa(q, k, v, 1.0, 1.0, -0.1), "lam"),
        (lambda: R.mesa(q, k, v, 1.0, 1.0, np.ones(2)), "lam"),
        (lambda: R.mesa(q, k, v, 1.1, 1.0, 0.5), "gamma"),
        (lambda: R.mesa(q, k, v, 1.0, 1.0, 0.5, solver="cg", tol=0.0), "tol"),
        (lambda: R.mesa(q, k, v, 1.0, 1.0, 0.5, solver="cg", max_steps=0), "max_steps"),
        (lambda: R.mesa(q, k, v, 1.0, 1.0, 0.5, solver="lu"), "solver"),
        (lambda: R.mesa(q, k, v, 1.0, 1.0, 0.5, solver="cg", init="ones"), "init"),
        (lambda: R.mesa(q, k, v, 1.0, 1.0, 0.5, damping=-1.0), "damping"),
        (lambda: R.mesa(q, k, v, 1.0, 1.0, 0.5, initial_state=np.zeros((3, 3))), "initial_state"),
        (lambda: R.mesa(q, k, v, 1.0, 1.0, 0.5, initial_state=(np.triu(np.ones((3, 3))), np.zeros((2, 3)))), "H_0"),
        (lambda: R.chunkwise_delta_rule(q, k, v, 0.5, chunk=0), "chunk"),
        (lambda: R.chunkwise_mesa(q, k, v, 1.0, 1.0, 0.5, chunk=2.5), "chunk"),
        (lambda: R.cg_solve(np.triu(np.ones((3, 3))), np.ones(3)), "symmetric"),
        (lambda: R.cg_solve(np.eye(3), np.ones(2)), "A"),
    ]
    for fn, match in cases:
        with pytest.raises(ValueError, match=match):
            fn()


def test_exact_recall_bound_holds_for_nearly_dependent_keys():
    """Claim 19's λ → 0 check: with nearly dependent keys a fixed λ = 1e-9 does not recall exactly (E ≫ 1e-6),
    yet E stays within the exact bound (λ/(μ_min + λ))², which the check now uses; well-conditioned keys stay
    below 1e-6 and below the bound."""
    from theory.recall import ridge_recall_error_bound
    from verify.experiments.recall.rules import EXACT_LAM

    rng = np.random.default_rng(5)
    d = 16
    for eps, small in ((1e-5, False), (None, True)):
        K = unit(rng.standard_normal((d, d)))
        if eps is not None:  # the last key almost a combination of two others: μ_min ≈ eps²
            K[-1] = unit(K[0] + K[1] + eps * rng.standard_normal(d))
        V = rng.standard_normal((d, d))
        b = np.r_[np.ones(d), np.zeros(d)]
        o = R.mesa(np.r_[0 * K, K], np.r_[K, K], np.r_[V, 0 * V], 1.0, b, EXACT_LAM, solver="exact")[d:]
        E = np.sum((o - V) ** 2) / np.sum(V**2)
        bound = ridge_recall_error_bound(K @ K.T, EXACT_LAM)
        assert E <= bound * (1 + 1e-6)
        assert (E <= 1e-6) == small
        # the error is −λ(Gram + λI)⁻¹V (to the float64 accuracy of a solve with condition number ~ 1/(μ_min + λ))
        G = K @ K.T
        np.testing.assert_allclose(o - V, -EXACT_LAM * np.linalg.solve(G + EXACT_LAM * np.eye(d), V), rtol=1e-5,
                                   atol=1e-9)

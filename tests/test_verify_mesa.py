"""verify.models.mesa: the torch Mesa layer (test_time_memory.md §4) against the float64 references of sim.recall,
the chunkwise form against the token recurrence, the implicit-differentiation backward against autograd through an
exact solve (§9 rows 12–14), the CG solver's stopping rule and diagnostics, low-precision state emulation, the
layer's parametrisation and input validation."""

import numpy as np
import pytest
import torch

import sim.recall as R
from verify.models.mesa import (
    Mesa,
    cg,
    mesa_chunk_states,
    mesa_chunkwise,
    mesa_recurrent,
    mesa_state_trace,
    solve_exact,
    state_size,
)

TOL64 = 1e-12  # float64 round-off of O(T·d) operations, fixed up front
GRAD_REL = 1e-8  # row 14: implicit-diff gradients vs autograd through the exact solve


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def inputs(B, H, T, dk, dv, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, T, dk, generator=g, dtype=dtype)
    k = unit(torch.randn(B, H, T, dk, generator=g, dtype=dtype))
    v = torch.randn(B, H, T, dv, generator=g, dtype=dtype)
    log_gamma = torch.log(0.5 + 0.5 * torch.rand(B, H, T, generator=g, dtype=dtype))
    beta = torch.rand(B, H, T, generator=g, dtype=dtype)
    lam = 0.25 + torch.rand(H, dk, generator=g, dtype=dtype)
    return q, k, v, log_gamma, beta, lam


def sim_mesa(q, k, v, log_gamma, beta, lam, **kw):
    B, H, _, dk = q.shape
    return R.mesa(q.numpy(), k.numpy(), v.numpy(), log_gamma.exp().numpy(), beta.numpy(),
                  np.broadcast_to(lam.numpy(), (B, H, dk)), **kw)


def max_rel(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


SIZES = [(1, 1, 1, 1, 1), (2, 1, 7, 3, 2), (1, 2, 37, 5, 4), (2, 3, 20, 8, 3)]  # B, H, T, d_k, d_v


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("chunk", [1, 5, 16, 64])
def test_chunkwise_and_recurrent_equal_the_sim_reference(size, chunk):
    """Row 13: chunked Mesa = per-token Mesa = sim.recall.mesa (float64), exact and tolerance-stopped CG."""
    x = inputs(*size, seed=sum(size) + chunk)
    ref = torch.from_numpy(sim_mesa(*x))
    o_rec, info_rec = mesa_recurrent(*x)
    o_ex, _ = mesa_chunkwise(*x, chunk=chunk, solver="exact")
    o_cg, info = mesa_chunkwise(*x, chunk=chunk, solver="cg", tol=1e-13, max_steps=200)
    o_j, info_j = mesa_chunkwise(*x, chunk=chunk, solver="cg", tol=1e-13, max_steps=200, init="jacobi")
    for o in (o_rec, o_ex, o_cg, o_j):
        assert max_rel(o, ref) <= TOL64
    assert bool((info_rec.steps == 0).all()) and float(info_rec.residual.max()) <= 1e-13
    for i in (info, info_j):
        assert float(i.residual.max()) <= 1e-13 and not bool(i.breakdown.any())
        assert int(i.steps.max()) <= size[3] + 1  # ≤ #distinct eigenvalues ≤ d_k (+1 for round-off)


@pytest.mark.parametrize("init", ["zero", "jacobi"])
def test_partial_cg_follows_the_sim_iteration(init):
    """Unconverged CG (tol 1e-3, ≤ 3 steps): the same iterates and step counts as the sim kernels."""
    x = inputs(2, 2, 23, 6, 3, seed=3)
    ref, info_ref = sim_mesa(*x, solver="cg", tol=1e-3, max_steps=3, init=init, return_info=True)
    for o, info in (mesa_recurrent(*x, solver="cg", tol=1e-3, max_steps=3, init=init),
                    mesa_chunkwise(*x, chunk=8, solver="cg", tol=1e-3, max_steps=3, init=init)):
        assert max_rel(o, torch.from_numpy(ref)) <= TOL64
        assert np.array_equal(info.steps.numpy(), info_ref.steps)
        np.testing.assert_allclose(info.residual.numpy(), info_ref.residual, rtol=1e-9, atol=1e-15)


def test_initial_state_and_final_state():
    x = inputs(1, 2, 19, 4, 3, seed=5)
    g = torch.Generator().manual_seed(9)
    kk = unit(torch.randn(1, 2, 4, generator=g, dtype=torch.float64))
    H0 = kk[..., :, None] * kk[..., None, :]
    G0 = torch.randn(1, 2, 3, 4, generator=g, dtype=torch.float64)
    ref, (HT, GT) = sim_mesa(*x, initial_state=(H0.numpy(), G0.numpy()), return_state=True)
    o1, _, (H1, G1) = mesa_recurrent(*x, initial_state=(H0, G0), return_state=True)
    o2, _, (H2, G2) = mesa_chunkwise(*x, chunk=6, solver="exact", initial_state=(H0, G0), return_state=True)
    for o in (o1, o2):
        assert max_rel(o, torch.from_numpy(ref)) <= TOL64
    for H, G in ((H1, G1), (H2, G2)):
        assert max_rel(H, torch.from_numpy(HT)) <= TOL64 and max_rel(G, torch.from_numpy(GT)) <= TOL64


@pytest.mark.parametrize("chunk", [4, 16])
def test_implicit_gradients_match_autograd_through_the_exact_solve(chunk):
    """Row 14: gradients w.r.t. q, k, v, β, log γ and λ by implicit differentiation (second CG) equal autograd
    through the Cholesky solve, and autograd through the CG iterations, in float64."""
    x = inputs(2, 2, 21, 6, 4, seed=11)
    w = torch.randn(2, 2, 21, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def grads(**kw):
        leaves = [t.clone().requires_grad_() for t in x]
        o, _ = mesa_chunkwise(*leaves, chunk=chunk, **kw)
        return torch.autograd.grad((o * w).sum(), leaves)

    ref = grads(solver="exact")
    implicit = grads(solver="cg", tol=1e-14, max_steps=300, backward="implicit")
    unrolled = grads(solver="cg", tol=1e-14, max_steps=300, backward="autograd")
    for name, a, b, c in zip(("q", "k", "v", "beta", "log_gamma", "lam"), ref, implicit, unrolled):
        assert float((b - a).norm() / a.norm()) <= GRAD_REL, name
        assert float((c - a).norm() / a.norm()) <= GRAD_REL, name


def test_recurrent_gradients_equal_chunkwise_gradients():
    x = inputs(1, 1, 13, 3, 2, seed=2)

    def grads(fn):
        leaves = [t.clone().requires_grad_() for t in x]
        return torch.autograd.grad(fn(*leaves)[0].square().sum(), leaves)

    for g1, g2 in zip(grads(mesa_recurrent), grads(lambda *a: mesa_chunkwise(*a, chunk=4, solver="exact"))):
        assert float((g1 - g2).norm() / g1.norm()) <= 1e-11


def test_unconverged_implicit_gradient_is_inexact_but_finite():
    """A 1-step solve gives a gradient that is finite but measurably different from the exact one (§4.5)."""
    x = inputs(1, 1, 30, 8, 2, seed=4)
    leaves = [t.clone().requires_grad_() for t in x]
    o, info = mesa_chunkwise(*leaves, chunk=8, solver="cg", tol=0.0, max_steps=1)
    g1 = torch.autograd.grad(o.sum(), leaves[0])[0]
    leaves = [t.clone().requires_grad_() for t in x]
    o, _ = mesa_chunkwise(*leaves, chunk=8, solver="exact")
    g = torch.autograd.grad(o.sum(), leaves[0])[0]
    assert bool(torch.isfinite(g1).all()) and int(info.steps.max()) == 1
    assert float((g1 - g).norm() / g.norm()) > 1e-3


# ------------------------------------------------------------------------------------------------------------
# CG solver


def spd(n, d, seed, cond=50.0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, d, d, generator=g, dtype=torch.float64))
    ev = torch.logspace(0, np.log10(cond), d, dtype=torch.float64)
    return Q @ torch.diag_embed(ev.expand(n, d)) @ Q.transpose(-1, -2), torch.randn(n, d, generator=g,
                                                                                    dtype=torch.float64)


@pytest.mark.parametrize("tol", [1e-2, 1e-6, 1e-10])
@pytest.mark.parametrize("init", ["zero", "jacobi"])
def test_cg_matches_sim_and_stops_on_tolerance(tol, init):
    A, b = spd(6, 9, seed=1)
    x, info = cg(lambda p: (A @ p[..., None])[..., 0], b, torch.diagonal(A, dim1=-2, dim2=-1), tol, 50, init)
    xs, infos = R.cg_solve(A.numpy(), b.numpy(), tol=tol, max_steps=50, init=init)
    if tol >= 1e-6:
        assert np.array_equal(info.steps.numpy(), infos.steps)
        assert max_rel(x, torch.from_numpy(xs)) <= 1e-10
    else:  # the last step's residual sits at round-off level: the count may differ by one, x by ≤ κ·tol
        assert max_rel(x, torch.from_numpy(xs)) <= 50 * tol
    assert float(info.residual.max()) <= tol and not bool(info.breakdown.any())


def test_cg_edge_rows_zero_rhs_cap_and_breakdown():
    A, b = spd(3, 5, seed=2)
    b[1] = 0.0
    A[2] = torch.diag(torch.tensor([1.0, -1.0, 2.0, 3.0, 4.0], dtype=torch.float64))  # indefinite
    b[2] = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64)  # pᵀAp = 0 on the first step
    x, info = cg(lambda p: (A @ p[..., None])[..., 0], b, None, 1e-12, 2, "zero")
    assert int(info.steps[0]) == 2 and float(info.residual[0]) > 1e-12  # capped, reported
    assert int(info.steps[1]) == 0 and float(info.residual[1]) == 0.0 and bool((x[1] == 0).all())
    assert bool(info.breakdown[2]) and not bool(info.breakdown[:2].any())
    _, info_e = solve_exact(A, b)
    assert bool(info_e.breakdown[2]) and not bool(info_e.breakdown[:2].any())


def test_cg_validation():
    A, b = spd(1, 3, seed=0)
    mv = (lambda p: (A @ p[..., None])[..., 0])
    with pytest.raises(ValueError, match="tol"):
        cg(mv, b, tol=-1.0)
    with pytest.raises(ValueError, match="max_steps"):
        cg(mv, b, max_steps=0)
    with pytest.raises(ValueError, match="init"):
        cg(mv, b, init="ones")
    with pytest.raises(ValueError, match="jacobi"):
        cg(mv, b, None, init="jacobi")


# ------------------------------------------------------------------------------------------------------------
# states and precision emulation


def test_chunk_states_and_state_trace_equal_the_recurrence():
    q, k, v, lg, beta, lam = inputs(2, 1, 24, 4, 3, seed=8)
    _, _, (HT, GT) = mesa_recurrent(q, k, v, lg, beta, lam, return_state=True)
    Hc, _, (H_end, G_end) = mesa_chunk_states(k, v, lg, beta, chunk=6)
    assert max_rel(H_end, HT) <= TOL64 and max_rel(G_end, GT) <= TOL64
    H, G = mesa_state_trace(k, v, lg, beta, [5, 11, 23])
    assert max_rel(H[:, :, -1], HT) <= TOL64 and max_rel(G[:, :, -1], GT) <= TOL64
    assert max_rel(H[:, :, 0], Hc[:, :, 1]) <= TOL64 and max_rel(H[:, :, 1], Hc[:, :, 2]) <= TOL64


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_states_are_stored_in_that_precision(dtype):
    """Every emulated state is exactly representable in the storage precision and differs from the float64
    recurrence by at most a few units of its rounding."""
    _, k, v, lg, beta, _ = inputs(1, 2, 40, 5, 3, seed=6)
    H, G = mesa_state_trace(k, v, lg, beta, list(range(40)), state_dtype=dtype)
    H64, _ = mesa_state_trace(k, v, lg, beta, list(range(40)))
    td = getattr(torch, dtype)
    assert bool((H == H.to(td).double()).all()) and bool((G == G.to(td).double()).all())
    eps = torch.finfo(td).eps
    assert 0 < float((H - H64).abs().max()) <= 40 * eps * float(H64.abs().max())
    Hn, _ = mesa_state_trace(k, v, lg, beta, [39], state_dtype=dtype, native=True)
    assert bool((Hn == Hn.to(td).double()).all())


def test_chunkwise_state_dtype_rounds_chunk_states():
    x = inputs(1, 1, 16, 4, 3, seed=12)
    o, _ = mesa_chunkwise(*x, chunk=4, solver="exact")
    o16, _ = mesa_chunkwise(*x, chunk=4, solver="exact", state_dtype="float16")
    d = max_rel(o16, o)
    assert 1e-6 < d < 1e-2


# ------------------------------------------------------------------------------------------------------------
# the layer


def test_layer_parametrisation_and_state_size():
    layer = Mesa(12, heads=3)
    assert layer.state_size() == state_size(3, 4, 4) == 3 * (16 + 16)
    assert torch.allclose(layer.lam, torch.ones(3, 4)) and layer.lam_raw._no_weight_decay
    with torch.no_grad():
        layer.lam_raw.fill_(-50.0)
    assert float(layer.lam.detach().min()) >= 0.25
    with pytest.raises(ValueError, match="lam_init"):
        Mesa(8, lam_init=0.2)
    with pytest.raises(ValueError, match="unknown Mesa option"):
        layer.configure(steps=3)
    with pytest.raises(ValueError, match="solver"):
        layer.configure(solver="lu")


def test_layer_cg_equals_exact_solve_in_float64_and_records_diagnostics():
    torch.manual_seed(0)
    layer = Mesa(8, heads=2, chunk=5).double()
    x = torch.randn(2, 11, 8, dtype=torch.float64)
    y_ex = layer.configure(solver="exact")(x)
    g_ex = torch.autograd.grad(y_ex.sum(), layer.lam_raw)[0]
    y_cg = layer.configure(solver="cg", tol=1e-13, max_steps=100)(x)
    g_cg = torch.autograd.grad(y_cg.sum(), layer.lam_raw)[0]
    assert max_rel(y_cg, y_ex) <= 1e-11 and float((g_cg - g_ex).norm() / g_ex.norm()) <= GRAD_REL
    info = layer.last_info
    assert tuple(info.steps.shape) == (2, 2, 11) and float(info.residual.max()) <= 1e-13
    layer.configure(tol=0.0, max_steps=2)
    layer(x)
    assert int(layer.last_info.steps.max()) == 2


def test_layer_float32_forward_backward_is_finite():
    torch.manual_seed(1)
    layer = Mesa(16, heads=1)
    x = torch.randn(3, 40, 16, requires_grad=True)
    y = layer(x)
    y.square().mean().backward()
    assert y.dtype == torch.float32 and bool(torch.isfinite(y).all())
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in layer.parameters()
               if p.requires_grad)


@pytest.mark.parametrize("bad, match", [
    ({"beta": 1.5}, "beta"), ({"log_gamma": 0.1}, "log_gamma"), ({"lam": -1.0}, "lam"),
])
def test_input_validation(bad, match):
    q, k, v, lg, beta, lam = inputs(1, 1, 4, 2, 2, seed=0)
    args = {"q": q, "k": k, "v": v, "log_gamma": lg, "beta": beta, "lam": lam}
    name, val = next(iter(bad.items()))
    args[name] = torch.full_like(args[name], val)
    with pytest.raises(ValueError, match=match):
        mesa_chunkwise(**args)


def test_shape_and_option_validation():
    q, k, v, lg, beta, lam = inputs(1, 1, 4, 2, 2, seed=0)
    with pytest.raises(ValueError, match="k must have the shape"):
        mesa_recurrent(q, k[..., :1], v, lg, beta, lam)
    with pytest.raises(ValueError, match=r"\[B, H, T\]"):
        mesa_chunkwise(q, k, v, lg[..., :2], beta, lam)
    with pytest.raises(ValueError, match="lam must broadcast"):
        mesa_chunkwise(q, k, v, lg, beta, torch.ones(3))
    with pytest.raises(ValueError, match="chunk"):
        mesa_chunkwise(q, k, v, lg, beta, lam, chunk=0)
    with pytest.raises(ValueError, match="backward"):
        mesa_chunkwise(q, k, v, lg, beta, lam, backward="adjoint")
    with pytest.raises(ValueError, match="state_dtype"):
        mesa_chunkwise(q, k, v, lg, beta, lam, state_dtype="float8")
    with pytest.raises(ValueError, match="at must be"):
        mesa_state_trace(k, v, lg, beta, [2, 1])

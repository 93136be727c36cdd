"""The Mesa layer in torch (test_time_memory.md §4): exact solve, tolerance-stopped CG, the chunkwise form and an
implicit-differentiation backward.

Per head, with unit keys and gates γ_t = exp(log γ_t), β_t ∈ [0, 1] and Λ = diag(λ) (λ not decayed, §4.1):

    H_t = γ_t H_{t−1} + β_t k_t k_tᵀ  [d_k, d_k],     G_t = γ_t G_{t−1} + β_t v_t k_tᵀ  [d_v, d_k]
    q*_t = (H_t + Λ)^{-1} q_t,     o_t = G_t q*_t  [d_v]           (Φ_t = G_t (H_t + Λ)^{-1} is never formed)

Layout: q, k [B, H, T, d_k], v [B, H, T, d_v], log_gamma and beta [B, H, T], lam [H, d_k] (anything that
broadcasts to [B, H, d_k]). Every function computes in the dtype of q (float64 for references).

- :func:`cg`: batched undamped CG (§4.2) on any SPD operator given as a mat-vec: per-row scalars, converged rows
  frozen, stop at ‖r‖ ≤ tol·‖b‖ or after ``max_steps``; zero or Jacobi init; reports steps, the true final
  relative residual and a breakdown flag (pᵀAp ≤ 0 or non-finite: A not numerically SPD).
- :func:`mesa_recurrent`: the token loop above (the faithful forward), exact or CG solve.
- :func:`mesa_chunkwise`: the chunkwise-parallel form of §4.4. The chunk-start states H_[c], G_[c] come from one
  scan over chunks; then every token of every chunk solves at once with the mat-vec
  ``(H_t + Λ) p_t = b_t H_[c] p_t + Σ_{i≤t} D_ti (k_iᵀ p_t) k_i + λ ⊙ p_t``, D_ti = exp(g_t − g_i) β_i, g the
  chunk-local cumulative log gate, b_t = exp(g_t), and reads ``o_t = b_t G_[c] q*_t + Σ_{i≤t} D_ti (k_iᵀ q*_t) v_i``.
- :class:`MesaSolve`: the CG solve as a ``torch.autograd.Function`` whose backward is implicit differentiation
  (§4.5): with upstream gradient g_t of q*_t, u_t = A_t^{-1} g_t (a second CG on the same SPD matrix) is the
  gradient of q_t, and ∂L/∂A_t = −u_t q*_tᵀ flows into H_[c], k, β, log γ and λ as the gradient of the scalar
  −Σ_t u_tᵀ A_t(θ) q*_t with u, q* held fixed. Unconverged solves give inexact gradients (§4.5).
- :class:`Mesa`: the trainable layer (§4.6) on the shared :class:`~verify.models.recall_base.MemoryLayer`
  features, λ = softplus(θ_λ) + 0.25 initialised to 1.0 per head and key channel, without weight decay.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from theory._validate import count
from verify.models.recall_base import MemoryLayer

SOLVERS = ("exact", "cg")
INITS = ("zero", "jacobi")
BACKWARDS = ("implicit", "autograd")
LAM_MIN = 0.25  # λ = softplus(θ) + 0.25 (§4.6): the floor keeps κ(H + Λ) bounded (§4.3)
STATE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64}


class CGInfo(NamedTuple):
    """Per-solve diagnostics: steps [...] (int64; CG steps taken, 0 for an exact solve), residual [...]
    (true ‖b − A x‖/‖b‖, 0 for b = 0) and breakdown [...] (bool: A not numerically SPD)."""

    steps: torch.Tensor
    residual: torch.Tensor
    breakdown: torch.Tensor


# ================================================================================================================
# validation


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _tol(tol) -> float:
    tol = float(tol)
    if not (math.isfinite(tol) and tol >= 0.0):
        raise ValueError(f"tol must be a finite number >= 0 (0: run max_steps steps), got {tol!r}")
    return tol


def _check_inputs(q, k, v, log_gamma, beta, lam):
    """Shapes and ranges of the Mesa inputs; returns lam broadcast to [B, H, d_k]."""
    for name, x in (("q", q), ("k", k), ("v", v), ("log_gamma", log_gamma), ("beta", beta), ("lam", lam)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if q.ndim != 4:
        raise ValueError(f"q must be [B, H, T, d_k], got shape {tuple(q.shape)}")
    B, H, T, dk = q.shape
    if min(B, H, T, dk) < 1:
        raise ValueError(f"q must have B, H, T, d_k >= 1, got shape {tuple(q.shape)}")
    if k.shape != q.shape:
        raise ValueError(f"k must have the shape of q {tuple(q.shape)}, got {tuple(k.shape)}")
    if v.ndim != 4 or v.shape[:3] != q.shape[:3] or v.shape[3] < 1:
        raise ValueError(f"v must be [B, H, T, d_v] with [B, H, T] = {tuple(q.shape[:3])}, got {tuple(v.shape)}")
    for name, g in (("log_gamma", log_gamma), ("beta", beta)):
        if g.shape != q.shape[:3]:
            raise ValueError(f"{name} must be [B, H, T] = {tuple(q.shape[:3])}, got {tuple(g.shape)}")
    with torch.no_grad():
        if not bool(torch.all(log_gamma <= 0)):
            raise ValueError("log_gamma must be <= 0 (γ = exp(log_gamma) in (0, 1])")
        if not bool(torch.all((beta >= 0) & (beta <= 1))):
            raise ValueError("beta must lie in [0, 1]")
        if not bool(torch.all(torch.isfinite(lam) & (lam >= 0))):
            raise ValueError("lam must be finite and >= 0")
    try:
        return lam.expand(B, H, dk)
    except RuntimeError:
        raise ValueError(f"lam must broadcast to [B, H, d_k] = {(B, H, dk)}, got {tuple(lam.shape)}") from None


def _state_dtype(state_dtype):
    if state_dtype is None or isinstance(state_dtype, torch.dtype):
        if state_dtype is not None and state_dtype not in STATE_DTYPES.values():
            raise ValueError(f"state_dtype must be one of {tuple(STATE_DTYPES)} or None, got {state_dtype!r}")
        return state_dtype
    return STATE_DTYPES[_choice("state_dtype", state_dtype, tuple(STATE_DTYPES))]


def _round(x, dtype):
    """Store x in ``dtype`` and read it back in x's dtype (the emulation of a low-precision state, §10 X8)."""
    return x if dtype is None or dtype == x.dtype else x.to(dtype).to(x.dtype)


# ================================================================================================================
# solvers


def cg(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, diag: torch.Tensor | None = None,
       tol=1e-5, max_steps=30, init="zero") -> tuple[torch.Tensor, CGInfo]:
    """Undamped conjugate gradients on SPD systems A x = b, all rows in lock-step (§4.2).

    matvec: maps p [..., d] to A p [..., d] (row-wise); b [..., d]; diag [..., d] = diag(A), needed for
    ``init="jacobi"`` (x_0 = b ⊘ diag(A)). Per row: r_0 = b − A x_0, p_0 = r_0; α = rᵀr/pᵀAp, x ← x + αp,
    r ← r − αAp; stop when ‖r‖ ≤ tol·‖b‖ (tol = 0: never) or after ``max_steps`` steps; else β = r_newᵀr_new/rᵀr,
    p ← r + βp. Converged and broken rows are frozen. Differentiable by autograd through the iterations (the
    implicit gradient is :class:`MesaSolve`).

    Returns (x [..., d], :class:`CGInfo` with tensors [...]).
    """
    tol = _tol(tol)
    max_steps = count("max_steps", max_steps)
    _choice("init", init, INITS)
    if not isinstance(b, torch.Tensor) or b.ndim < 1 or b.shape[-1] < 1:
        raise ValueError("b must be a tensor [..., d] with d >= 1")
    bn = torch.linalg.vector_norm(b, dim=-1)
    nonzero = bn > 0
    breakdown = torch.zeros_like(nonzero)
    if init == "jacobi":
        if diag is None or diag.shape[-1] != b.shape[-1]:
            raise ValueError("init='jacobi' needs diag [..., d] = diag(A)")
        good = torch.all(diag > 0, dim=-1)
        breakdown = nonzero & ~good
        x = torch.where((nonzero & good)[..., None], b / torch.where(good[..., None], diag, 1.0), 0.0)
        r = b - matvec(x)
    else:
        x = torch.zeros_like(b)
        r = b
    rr = (r * r).sum(-1)
    active = nonzero & ~breakdown & (rr.sqrt() > tol * bn)
    steps = torch.zeros(bn.shape, dtype=torch.int64, device=b.device)
    p = r
    for _ in range(max_steps):
        active = active & (rr > 0)
        if not bool(active.any()):
            break
        Ap = matvec(p)
        pAp = (p * Ap).sum(-1)
        bad = active & ~((pAp > 0) & torch.isfinite(pAp))
        breakdown = breakdown | bad
        active = active & ~bad
        # a frozen row gets α = β = 0: x and r stay put and p becomes r (finite), so no row-select is needed
        alpha = torch.where(active, rr / torch.where(active, pAp, 1.0), 0.0)[..., None]
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = (r * r).sum(-1)
        steps = steps + active.long()
        active = active & (rr_new.sqrt() > tol * bn)
        beta = torch.where(active, rr_new / torch.where(rr > 0, rr, 1.0), 0.0)[..., None]
        p = r + beta * p
        rr = rr_new
    with torch.no_grad():
        res = torch.linalg.vector_norm(b - matvec(x.detach()), dim=-1) / torch.where(nonzero, bn, 1.0)
        res = torch.where(nonzero, res, 0.0)
        res = torch.where(torch.all(torch.isfinite(x), dim=-1), res, torch.nan)
        breakdown = breakdown | ~torch.isfinite(res)
    return x, CGInfo(steps, res, breakdown)


def solve_exact(A: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, CGInfo]:
    """x = A^{-1} b by Cholesky for SPD A [..., d, d], b [..., d] (differentiable by autograd). A row whose A is
    not numerically SPD gives NaN and the breakdown flag."""
    L, info = torch.linalg.cholesky_ex(A)
    ok = info == 0
    x = torch.cholesky_solve(b[..., None], L)[..., 0]
    x = torch.where(ok[..., None], x, torch.nan)
    with torch.no_grad():
        bn = torch.linalg.vector_norm(b, dim=-1)
        res = torch.linalg.vector_norm(b - (A @ x.detach()[..., None])[..., 0], dim=-1) / torch.where(bn > 0, bn, 1)
        res = torch.where(bn > 0, res, 0.0)
        res = torch.where(ok, res, torch.nan)
    return x, CGInfo(torch.zeros(b.shape[:-1], dtype=torch.int64, device=b.device), res, ~ok | ~torch.isfinite(res))


class MesaSolve(torch.autograd.Function):
    """x = A(θ)^{-1} b by tolerance-stopped CG, with the implicit-differentiation backward of §4.5.

    ``MesaSolve.apply(matvec, options, b, diag, *params)``: ``matvec(p, *params)`` is A(θ) p for SPD A;
    ``options`` = (tol, max_steps, init, backward_tol, backward_max_steps). Returns (x, steps, residual,
    breakdown); only x is differentiable. Backward: u = A^{-1} g by a second CG (A symmetric, so Aᵀ = A), ∂b = u,
    and ∂θ = ∇_θ[−Σ uᵀ A(θ) x] with u, x fixed, which is ⟨∂L/∂A, ∂A/∂θ⟩ for ∂L/∂A = −u xᵀ.
    """

    @staticmethod
    def forward(ctx, matvec, options, b, diag, *params):
        tol, max_steps, init, btol, bsteps = options
        with torch.no_grad():
            x, info = cg(lambda p: matvec(p, *params), b, diag, tol, max_steps, init)
        ctx.matvec = matvec
        ctx.backward_options = (btol, bsteps, init)
        ctx.save_for_backward(x, diag, *params)
        ctx.mark_non_differentiable(info.steps, info.residual, info.breakdown)
        return x, info.steps, info.residual, info.breakdown

    @staticmethod
    @once_differentiable
    def backward(ctx, gx, *_):
        x, diag, *params = ctx.saved_tensors
        btol, bsteps, init = ctx.backward_options
        with torch.no_grad():
            u, _ = cg(lambda p: ctx.matvec(p, *params), gx, diag, btol, bsteps, init)
        needs = ctx.needs_input_grad[4:]
        grads = [None] * len(params)
        wanted = [i for i, n in enumerate(needs) if n]
        if wanted:
            with torch.enable_grad():
                leaves = [p.detach().requires_grad_(i in wanted) for i, p in enumerate(params)]
                s = -(u * ctx.matvec(x, *leaves)).sum()
                got = torch.autograd.grad(s, [leaves[i] for i in wanted], allow_unused=True)
            for i, g in zip(wanted, got):
                grads[i] = g
        return (None, None, u if ctx.needs_input_grad[2] else None, None, *grads)


# ================================================================================================================
# recurrent form


def mesa_recurrent(q, k, v, log_gamma, beta, lam, solver="exact", tol=1e-10, max_steps=None, init="zero",
                   initial_state=None, return_state=False):
    """Mesa by the token recurrence of §4.1 (the faithful forward): write token t, then solve and read.

    q, k [B, H, T, d_k], v [B, H, T, d_v], log_gamma <= 0 and beta in [0, 1] [B, H, T], lam >= 0 broadcasting to
    [B, H, d_k]. solver ``"exact"`` (Cholesky) or ``"cg"`` (tol >= 0 relative-residual stop, max_steps default
    2·d_k, init ``"zero"`` or ``"jacobi"``); gradients by autograd through the solver. initial_state: (H_0
    [B, H, d_k, d_k], G_0 [B, H, d_v, d_k]), default zeros.

    Returns (o [B, H, T, d_v], :class:`CGInfo` of [B, H, T] tensors), plus (H_T, G_T) with ``return_state``.
    """
    lam = _check_inputs(q, k, v, log_gamma, beta, lam)
    _choice("solver", solver, SOLVERS)
    B, Hh, T, dk = q.shape
    dv = v.shape[-1]
    max_steps = 2 * dk if max_steps is None else max_steps
    if initial_state is None:
        Hs = q.new_zeros(B, Hh, dk, dk)
        Gs = q.new_zeros(B, Hh, dv, dk)
    else:
        Hs, Gs = initial_state
    Lam = torch.diag_embed(lam)
    outs, infos = [], []
    for t in range(T):
        g = log_gamma[:, :, t].exp()[..., None, None]
        kt, bt = k[:, :, t], beta[:, :, t][..., None, None]
        Hs = g * Hs + bt * kt[..., :, None] * kt[..., None, :]
        Gs = g * Gs + bt * v[:, :, t][..., :, None] * kt[..., None, :]
        A = Hs + Lam
        if solver == "exact":
            x, info = solve_exact(A, q[:, :, t])
        else:
            x, info = cg(lambda p, A=A: (A @ p[..., None])[..., 0], q[:, :, t], torch.diagonal(A, dim1=-2, dim2=-1),
                         tol, max_steps, init)
        outs.append((Gs @ x[..., None])[..., 0])
        infos.append(info)
    o = torch.stack(outs, dim=2)
    info = CGInfo(*(torch.stack([getattr(i, f) for i in infos], dim=2) for f in CGInfo._fields))
    return (o, info, (Hs, Gs)) if return_state else (o, info)


# ================================================================================================================
# chunkwise form


def _chunk(x, n, C):
    """[B, H, T', ...] → [B, H, n, C, ...] (T' = n·C after padding)."""
    return x.reshape(x.shape[:2] + (n, C) + x.shape[3:])


def _pad_time(x, pad):
    if pad == 0:
        return x
    shape = list(x.shape)
    shape[2] = pad
    return torch.cat([x, x.new_zeros(shape)], dim=2)


def _decays(log_gamma, beta):
    """Chunk-local decays of log_gamma, beta [B, H, n, C]: b_t = exp(g_t) [B, H, n, C], D [B, H, n, C, C]
    (D_ti = exp(g_t − g_i) β_i for i ≤ t, else 0; the mask is applied before exp so no exp overflows) and the
    end-of-chunk write weights w_i = exp(g_C − g_i) β_i [B, H, n, C]."""
    g = torch.cumsum(log_gamma, dim=-1)
    C = g.shape[-1]
    lower = torch.ones(C, C, dtype=torch.bool, device=g.device).tril()
    diff = (g[..., :, None] - g[..., None, :]).masked_fill(~lower, -math.inf)
    D = diff.exp() * beta[..., None, :]
    w = (g[..., -1:] - g).exp() * beta
    return g.exp(), D, w, g[..., -1].exp()


def mesa_chunk_states(k, v, log_gamma, beta, chunk=64, initial_state=None, state_dtype=None):
    """States at the start of every chunk (§4.4): H_[c] [B, H, n, d_k, d_k] and G_[c] [B, H, n, d_v, d_k], plus
    the final states (H_T, G_T). The chunk increments K_cᵀ diag(w) K_c are formed for all chunks at once; the scan
    over chunks only decays and adds. ``state_dtype`` (e.g. torch.float16): each stored state is rounded to it
    (low-precision state emulation, §10 X8). T must be a multiple of ``chunk`` (``mesa_chunkwise`` pads)."""
    B, Hh, T, dk = k.shape
    dv = v.shape[-1]
    C = count("chunk", chunk)
    if T % C:
        raise ValueError(f"T ({T}) must be a multiple of chunk ({C})")
    n = T // C
    Kc, Vc = _chunk(k, n, C), _chunk(v, n, C)
    _, _, w, bC = _decays(_chunk(log_gamma, n, C), _chunk(beta, n, C))
    dH = Kc.transpose(-1, -2) @ (w[..., None] * Kc)
    dG = Vc.transpose(-1, -2) @ (w[..., None] * Kc)
    state_dtype = _state_dtype(state_dtype)
    if initial_state is None:
        Hs, Gs = k.new_zeros(B, Hh, dk, dk), k.new_zeros(B, Hh, dv, dk)
    else:
        Hs, Gs = initial_state
    Hs, Gs = _round(Hs, state_dtype), _round(Gs, state_dtype)
    H_list, G_list = [], []
    for c in range(n):
        H_list.append(Hs)
        G_list.append(Gs)
        Hs = _round(bC[:, :, c, None, None] * Hs + dH[:, :, c], state_dtype)
        Gs = _round(bC[:, :, c, None, None] * Gs + dG[:, :, c], state_dtype)
    return torch.stack(H_list, dim=2), torch.stack(G_list, dim=2), (Hs, Gs)


def _chunk_matvec(P, Hc, Kc, KcT, D, b, lam):
    """(H_t + Λ) p_t for every token of every chunk: b_t H_[c] p_t + Σ_{i≤t} D_ti (k_iᵀ p_t) k_i + λ ⊙ p_t.

    P, Kc [B, H, n, C, d_k], KcT = Kc transposed and contiguous (formed once: a transposed operand would be copied
    by every batched product), Hc [B, H, n, d_k, d_k] (symmetric), D [B, H, n, C, C], b [B, H, n, C],
    lam [B, H, d_k]."""
    return (b[..., None] * (P @ Hc)) + ((P @ KcT) * D) @ Kc + P * lam[:, :, None, None, :]


def mesa_chunkwise(q, k, v, log_gamma, beta, lam, chunk=64, solver="cg", tol=1e-5, max_steps=30, init="zero",
                   backward="implicit", backward_tol=None, backward_max_steps=None, initial_state=None,
                   state_dtype=None, return_state=False):
    """Mesa in the chunkwise-parallel form of §4.4; the same function as :func:`mesa_recurrent`.

    Arguments as :func:`mesa_recurrent`, plus ``chunk`` (>= 1; T is zero-padded to a multiple: a padded token has
    β = 0, γ = 1 and q = 0, so it changes nothing), ``backward`` (``"implicit"``: :class:`MesaSolve`, gradients
    by a second CG with ``backward_tol``/``backward_max_steps``, default those of the forward; ``"autograd"``:
    through the CG iterations) and ``state_dtype`` (round the chunk-start states, §10 X8). ``solver="exact"``
    forms every A_t = b_t H_[c] + K_cᵀ diag(D_t·) K_c + Λ and solves by Cholesky (autograd).

    Returns (o [B, H, T, d_v], :class:`CGInfo` of [B, H, T] tensors), plus (H_T, G_T) with ``return_state``.
    """
    lam = _check_inputs(q, k, v, log_gamma, beta, lam)
    _choice("solver", solver, SOLVERS)
    _choice("backward", backward, BACKWARDS)
    _choice("init", init, INITS)
    C = count("chunk", chunk)
    tol = _tol(tol)
    max_steps = count("max_steps", max_steps)
    btol = tol if backward_tol is None else _tol(backward_tol)
    bsteps = max_steps if backward_max_steps is None else count("backward_max_steps", backward_max_steps)
    B, Hh, T, _ = q.shape
    C = min(C, T)
    pad = (-T) % C
    n = (T + pad) // C
    q, k, v, log_gamma, beta = (_pad_time(x, pad) for x in (q, k, v, log_gamma, beta))
    Hc, Gc, final = mesa_chunk_states(k, v, log_gamma, beta, C, initial_state, state_dtype)
    Qc, Kc, Vc = (_chunk(x, n, C).contiguous() for x in (q, k, v))
    KcT = Kc.transpose(-1, -2).contiguous()
    b, D, _, _ = _decays(_chunk(log_gamma, n, C), _chunk(beta, n, C))
    if solver == "exact":
        A = b[..., None, None] * Hc[:, :, :, None] + torch.einsum("bhnti,bhnic,bhnid->bhntcd", D, Kc, Kc)
        A = A + torch.diag_embed(lam)[:, :, None, None]
        Qs, info = solve_exact(A, Qc)
    else:
        diag = (b[..., None] * torch.diagonal(Hc, dim1=-2, dim2=-1)[..., None, :] + D @ (Kc * Kc)
                + lam[:, :, None, None, :]).detach()
        if backward == "implicit":
            Qs, steps, res, brk = MesaSolve.apply(_chunk_matvec, (tol, max_steps, init, btol, bsteps), Qc, diag,
                                                  Hc, Kc, KcT, D, b, lam)
            info = CGInfo(steps, res, brk)
        else:
            Qs, info = cg(lambda P: _chunk_matvec(P, Hc, Kc, KcT, D, b, lam), Qc, diag, tol, max_steps, init)
    O = b[..., None] * (Qs @ Gc.transpose(-1, -2)) + ((Qs @ KcT) * D) @ Vc
    o = O.reshape(B, Hh, n * C, -1)[:, :, :T]
    info = CGInfo(*(x.reshape(B, Hh, n * C)[:, :, :T] for x in info))
    return (o, info, final) if return_state else (o, info)


# ================================================================================================================
# state trace for precision experiments


def mesa_state_trace(k, v, log_gamma, beta, at, state_dtype=None, native=False):
    """The states (H_t, G_t) after the write of each token in ``at``, by the token recurrence, with every stored
    state rounded to ``state_dtype`` after each step (§10 X8 emulation of fp16/bf16 states).

    k [B, H, T, d_k], v [B, H, T, d_v], log_gamma, beta [B, H, T]; at: increasing token indices. ``native``: do
    the update arithmetic itself in ``state_dtype`` (what a low-precision kernel does) instead of computing in the
    input dtype and rounding the result. Returns H [B, H, len(at), d_k, d_k] and G [B, H, len(at), d_v, d_k] in
    the input dtype (non-finite entries kept).
    """
    B, Hh, T, dk = k.shape
    dv = v.shape[-1]
    at = [int(t) for t in at]
    if not at or any(b <= a for a, b in zip(at, at[1:])) or at[0] < 0 or at[-1] >= T:
        raise ValueError(f"at must be increasing token indices in [0, {T - 1}], got {at[:5]}…")
    sd = _state_dtype(state_dtype)
    work = sd if (native and sd is not None) else k.dtype
    Hs = torch.zeros(B, Hh, dk, dk, dtype=work, device=k.device)
    Gs = torch.zeros(B, Hh, dv, dk, dtype=work, device=k.device)
    kw, vw, gw, bw = (x.to(work) for x in (k, v, log_gamma.exp(), beta))
    H_out, G_out = [], []
    j = 0
    for t in range(at[-1] + 1):
        kt, bt, gt = kw[:, :, t], bw[:, :, t][..., None, None], gw[:, :, t][..., None, None]
        Hs = _round(gt * Hs + bt * kt[..., :, None] * kt[..., None, :], sd)
        Gs = _round(gt * Gs + bt * vw[:, :, t][..., :, None] * kt[..., None, :], sd)
        if t == at[j]:
            H_out.append(Hs.to(k.dtype))
            G_out.append(Gs.to(k.dtype))
            j += 1
    return torch.stack(H_out, dim=2), torch.stack(G_out, dim=2)


def state_size(heads, d_k, d_v) -> int:
    """Mesa state in numbers (§5.5): H [d_k, d_k] and G [d_v, d_k] per head, heads·(d_k² + d_k·d_v)."""
    heads, d_k, d_v = count("heads", heads), count("d_k", d_k), count("d_v", d_v)
    return heads * (d_k * d_k + d_k * d_v)


# ================================================================================================================
# the layer


class Mesa(MemoryLayer):
    """The MesaNet layer (§4.6) on the shared features (q, k L2-normalised after conv + SiLU, v, β = σ(·),
    log γ = logsigmoid(·)) with learned λ = softplus(θ_λ) + 0.25 [heads, d_k], initialised to ``lam_init`` = 1.0
    and excluded from weight decay (``_no_weight_decay``).

    Solver settings (attributes, changeable between calls, e.g. for an inference CG budget, §10 X7): ``solver``
    ("cg" or "exact"), ``tol``, ``max_steps``, ``init``, ``backward`` ("implicit" or "autograd"), ``chunk``,
    ``state_dtype``. The diagnostics of the last forward are kept in ``last_info`` (:class:`CGInfo`, detached).
    """

    def __init__(self, d_model, heads=1, d_k=None, d_v=None, conv=4, output_norm=True, chunk=64, solver="cg",
                 tol=1e-4, max_steps=8, init="zero", backward="implicit", lam_init=1.0, state_dtype=None):
        super().__init__(d_model, heads, d_k, d_v, conv, output_norm)
        lam_init = float(lam_init)
        if not (math.isfinite(lam_init) and lam_init > LAM_MIN):
            raise ValueError(f"lam_init must be a finite number > {LAM_MIN}, got {lam_init!r}")
        raw = torch.tensor(lam_init - LAM_MIN)
        self.lam_raw = nn.Parameter(torch.full((self.heads, self.d_k), float(raw + torch.log(-torch.expm1(-raw)))))
        self.lam_raw._no_weight_decay = True
        self.configure(chunk=chunk, solver=solver, tol=tol, max_steps=max_steps, init=init, backward=backward,
                       state_dtype=state_dtype)
        self.last_info: CGInfo | None = None

    def configure(self, **options):
        """Set solver options (validated): chunk, solver, tol, max_steps, init, backward, state_dtype."""
        checks = {"chunk": lambda x: count("chunk", x), "solver": lambda x: _choice("solver", x, SOLVERS),
                  "tol": _tol, "max_steps": lambda x: count("max_steps", x),
                  "init": lambda x: _choice("init", x, INITS), "backward": lambda x: _choice("backward", x, BACKWARDS),
                  "state_dtype": _state_dtype}
        for key, value in options.items():
            if key not in checks:
                raise ValueError(f"unknown Mesa option {key!r}; choose from {tuple(checks)}")
            setattr(self, key, checks[key](value))
        return self

    @property
    def lam(self) -> torch.Tensor:
        """λ [heads, d_k] = softplus(θ_λ) + 0.25."""
        return F.softplus(self.lam_raw) + LAM_MIN

    def mix(self, feats: dict) -> torch.Tensor:
        q, k, v = feats["q"], feats["k"], feats["v"]
        work = torch.promote_types(q.dtype, torch.float32)  # states and CG in >= fp32 (§4.2)
        args = [x.to(work) for x in (q, k, v, feats["log_gamma"], feats["beta"], self.lam)]
        o, info = mesa_chunkwise(*args, chunk=self.chunk, solver=self.solver, tol=self.tol,
                                 max_steps=self.max_steps, init=self.init, backward=self.backward,
                                 state_dtype=self.state_dtype)
        self.last_info = CGInfo(*(x.detach() for x in info))
        return o.to(q.dtype)

    def state_size(self, seq_len=None) -> int:
        return state_size(self.heads, self.d_k, self.d_v)

"""Chunkwise-parallel forms of DeltaNet/GDN (UT form, test_time_memory.md §3.3) and of Mesa (§4.4).

Vectorised numpy over the batch and over the C tokens of a chunk; a sequential loop runs over chunks only. These
are the forms fast kernels use; each is tested equal to the token recurrence of ``sim.recall``.

Decay products are formed as direct products of the gates, Γ_{tj} = Π_{i=j+1..t} a_i for j ≤ t (0 above the
diagonal), never as exp of differences of cumulative log-gates: a gate equal to 0 (a full reset) then gives exact
zeros instead of 0/0 or exp(−inf + inf).
"""

from __future__ import annotations

import numpy as np

from sim.recall import _inputs as inp
from sim.recall import kernels as K
from sim.recall import mesa as _mesa_mod
from sim.recall.mesa import SolveInfo


def _decay(a):
    """Γ [B, C, C] with Γ[t, j] = Π_{i=j+1..t} a_i (j ≤ t), 0 for j > t; b [B, C] = Π_{i≤t} a_i."""
    B, C = a.shape
    Gam = np.zeros((B, C, C))
    Gam[:, 0, 0] = 1.0
    for t in range(1, C):
        Gam[:, t, :t] = Gam[:, t - 1, :t] * a[:, t, None]
        Gam[:, t, t] = 1.0
    b = Gam[:, :, 0] * a[:, :1]
    return Gam, b


def _chunks(T, C):
    return [(s, min(s + C, T)) for s in range(0, T, C)]


def _gdn_chunk(Q, Kc, V, a, beta, M):
    """One chunk of GDN in UT form (§3.3); returns (O [B, C, d_v], M_end [B, d_v, d_k])."""
    C = Kc.shape[1]
    Gam, b = _decay(a)
    KK = Kc @ np.swapaxes(Kc, 1, 2)
    # (I + StrictLower(diag(β)(K Kᵀ ⊙ Γ))) U = diag(β)(V − diag(b) K M_0ᵀ), by forward substitution
    L = np.tril(beta[:, :, None] * KK * Gam, -1)
    R = beta[:, :, None] * (V - b[:, :, None] * (Kc @ np.swapaxes(M, 1, 2)))
    U = np.empty_like(R)
    for t in range(C):
        U[:, t] = R[:, t] - np.einsum("bj,bjv->bv", L[:, t, :t], U[:, :t])
    O = b[:, :, None] * (Q @ np.swapaxes(M, 1, 2)) + (np.tril(Q @ np.swapaxes(Kc, 1, 2)) * Gam) @ U
    M_end = b[:, -1, None, None] * M + np.swapaxes(U, 1, 2) @ (Gam[:, -1, :, None] * Kc)
    return O, M_end


def _gdn(q, k, v, alpha, beta, chunk, initial_state, return_state):
    chunk = inp.integer("chunk", chunk, 1)
    seq = inp.sequences(q, k, v)
    alpha = inp.gate("alpha", alpha, seq, 0.0, 1.0)
    beta = inp.gate("beta", beta, seq, 0.0, 1.0)
    shape = (seq.d_v, seq.d_k)
    M = np.zeros((seq.B,) + shape) if initial_state is None else inp.state("initial_state", initial_state, seq,
                                                                             shape)
    O = np.empty((seq.B, seq.T, seq.d_v))
    for s, e in _chunks(seq.T, chunk):
        O[:, s:e], M = _gdn_chunk(seq.q[:, s:e], seq.k[:, s:e], seq.v[:, s:e], alpha[:, s:e], beta[:, s:e], M)
    out = inp.restore(O, seq.lead, (seq.T, seq.d_v))
    return (out, inp.restore(M, seq.lead, shape)) if return_state else out


def chunkwise_delta_rule(q, k, v, beta, chunk=64, initial_state=None, return_state=False):
    """DeltaNet in chunkwise UT form (§3.3 with a ≡ 1); same arguments and result as ``sim.recall.delta_rule``
    plus the chunk length ``chunk`` >= 1 (the last chunk may be shorter)."""
    return _gdn(q, k, v, 1.0, beta, chunk, initial_state, return_state)


def chunkwise_gated_delta_rule(q, k, v, alpha, beta, chunk=64, initial_state=None, return_state=False):
    """Gated DeltaNet in chunkwise UT form (§3.3); same arguments and result as ``sim.recall.gated_delta_rule``
    plus ``chunk`` >= 1. Per chunk of C tokens with start state M_0 and b_t = Π_{j≤t} a_j, Γ_{tj} = b_t/b_j:

        (I + StrictLower(diag(β)(K Kᵀ ⊙ Γ))) U = diag(β)(V − diag(b) K M_0ᵀ)
        O = diag(b) Q M_0ᵀ + Lower(Q Kᵀ ⊙ Γ) U,      M_end = b_C M_0 + Uᵀ diag(b_C/b) K
    """
    return _gdn(q, k, v, alpha, beta, chunk, initial_state, return_state)


# ----------------------------------------------------------------------------------------------------------------
# Mesa


def _mesa_matvec(P, H, Kc, D, b, lam):
    """(H_t + Λ) p_t for every token t of a chunk (§4.4): rows (P ⊙ b) H_[c] + ((P Kᵀ) ⊙ D) K + P Λ.

    P [B, C, d_k], H [B, d_k, d_k] (state at the chunk start, symmetric), Kc [B, C, d_k], D [B, C, C]
    (D_ti = Γ_ti β_i, i ≤ t), b [B, C], lam [B, d_k].
    """
    return (b[:, :, None] * P) @ H + ((P @ np.swapaxes(Kc, 1, 2)) * D) @ Kc + P * lam[:, None, :]


def _cg_rows(matvec, rhs, diag, tol, max_steps, init, damped, damping):
    """CG (§4.2) on all rows of rhs [B, C, d] in lock-step with per-row scalars; converged rows are frozen.

    Same iteration, stopping rule, residual and breakdown test as the kernels' CG. Returns (x, steps, resid,
    breakdown), the last three [B, C].
    """
    bn = np.linalg.norm(rhs, axis=-1)
    nonzero = bn > 0
    breakdown = np.zeros(bn.shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        if init == K.INIT_JACOBI:
            bad = nonzero & ~np.all(diag > 0, axis=-1)
            breakdown |= bad
            x = np.where(nonzero[..., None], rhs / diag, 0.0)
            x[bad] = np.nan
        else:
            x = np.zeros_like(rhs)
        r = rhs - matvec(np.where(np.isnan(x), 0.0, x))
    rr = np.sum(r * r, axis=-1)
    steps = np.zeros(bn.shape, dtype=np.int64)
    active = nonzero & ~breakdown
    if not damped:
        active &= np.sqrt(rr) > tol * bn
    p = r.copy()
    for _ in range(max_steps):
        active &= rr > 0.0
        if not active.any():
            break
        Ap = matvec(p)
        pAp = np.sum(p * Ap, axis=-1)
        bad = active & ~((pAp > 0.0) & np.isfinite(pAp))
        breakdown |= bad
        active &= ~bad
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(active, rr / (pAp + damping) if damped else rr / pAp, 0.0)
        x = np.where(active[..., None], x + alpha[..., None] * p, x)
        r = np.where(active[..., None], r - alpha[..., None] * Ap, r)
        rr_new = np.sum(r * r, axis=-1)
        steps += active
        if not damped:
            active &= ~(np.sqrt(rr_new) <= tol * bn)
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = rr_new / (rr + damping) if damped else rr_new / rr
        p = np.where(active[..., None], r + beta[..., None] * p, p)
        rr = np.where(active, rr_new, rr)
    with np.errstate(invalid="ignore"):
        res_vec = rhs - matvec(np.where(np.isfinite(x), x, 0.0))
        res = np.where(nonzero, np.linalg.norm(res_vec, axis=-1) / np.where(nonzero, bn, 1.0), 0.0)
    res = np.where(np.all(np.isfinite(x), axis=-1), res, np.nan)
    breakdown |= ~np.isfinite(res)
    return x, steps, res, breakdown


def _mesa_chunk_solve(Q, H, Kc, D, b, lam, solver, tol, max_steps, init, damping):
    """q*_t = (H_t + Λ)^{-1} q_t for every token of a chunk; returns (Q* [B, C, d_k], steps, resid, breakdown)."""
    B, C, dk = Q.shape
    if solver == K.EXACT:
        # H_t = b_t H_[c] + Σ_{i≤t} D_ti k_i k_iᵀ, formed per token
        A = b[:, :, None, None] * H[:, None] + np.einsum("bti,bic,bid->btcd", D, Kc, Kc)
        A = A + np.eye(dk) * lam[:, None, None, :]
        Qs = np.full((B, C, dk), np.nan)
        breakdown = np.zeros((B, C), dtype=bool)
        try:
            np.linalg.cholesky(A)  # the kernels' SPD test, for all tokens at once
            Qs = np.linalg.solve(A, Q[..., None])[..., 0]
        except np.linalg.LinAlgError:
            for i in range(B):
                for t in range(C):
                    try:
                        np.linalg.cholesky(A[i, t])
                    except np.linalg.LinAlgError:
                        breakdown[i, t] = True
                        continue
                    Qs[i, t] = np.linalg.solve(A[i, t], Q[i, t])
        bn = np.linalg.norm(Q, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.linalg.norm(Q - np.einsum("btcd,btd->btc", A, Qs), axis=-1) / np.where(bn > 0, bn, 1.0)
        res = np.where(bn > 0, res, 0.0)
        res[breakdown] = np.nan
        return Qs, np.zeros((B, C), dtype=np.int64), res, breakdown | ~np.isfinite(res)
    diag = b[:, :, None] * np.diagonal(H, axis1=1, axis2=2)[:, None, :] + D @ (Kc * Kc) + lam[:, None, :]
    return _cg_rows(lambda P: _mesa_matvec(P, H, Kc, D, b, lam), Q, diag, tol, max_steps, init,
                    solver == K.CG_DAMPED, damping)


def chunkwise_mesa(q, k, v, gamma, beta, lam, chunk=64, solver="exact", tol=1e-10, max_steps=None, init="zero",
                   damping=_mesa_mod.DAMPING, initial_state=None, return_state=False, return_info=False):
    """Mesa in chunkwise-parallel form (§4.4); same arguments and results as ``sim.recall.mesa`` plus ``chunk``.

    Per chunk, with H_[c], G_[c] the states at its start, D_ti = Π_{j=i+1..t} γ_j β_i (i ≤ t) and
    b_t = Π_{j≤t} γ_j (chunk-local, inclusive): the mat-vec of every token at once is
    ``(P ⊙ b) H_[c] + ((P Kᵀ) ⊙ D) K + P Λ``; CG runs all tokens in lock-step with per-row scalars (converged
    rows frozen); ``"exact"`` forms each H_t from the same two terms and solves by Cholesky. Output
    ``O = (Q* ⊙ b) G_[c]ᵀ + ((Q* Kᵀ) ⊙ D) V``; the states advance by ``H ← b_C H + Kᵀ diag(D_C·) K`` and
    ``G ← b_C G + Vᵀ diag(D_C·) K``.
    """
    chunk = inp.integer("chunk", chunk, 1)
    prep = _mesa_mod._mesa(q, k, v, gamma, beta, lam, solver, tol, max_steps, init, damping)
    seq = prep.seq
    H, G = _mesa_mod._mesa_states(seq, initial_state)
    O = np.empty((seq.B, seq.T, seq.d_v))
    steps = np.empty((seq.B, seq.T), dtype=np.int64)
    resid = np.empty((seq.B, seq.T))
    breakdown = np.empty((seq.B, seq.T), dtype=bool)
    for s, e in _chunks(seq.T, chunk):
        Kc, V = seq.k[:, s:e], seq.v[:, s:e]
        Gam, b = _decay(prep.gamma[:, s:e])
        D = Gam * prep.beta[:, None, s:e]
        Qs, steps[:, s:e], resid[:, s:e], breakdown[:, s:e] = _mesa_chunk_solve(
            seq.q[:, s:e], H, Kc, D, b, prep.lam, prep.solver, prep.tol, prep.max_steps, prep.init, prep.damping)
        O[:, s:e] = (b[:, :, None] * Qs) @ np.swapaxes(G, 1, 2) + ((Qs @ np.swapaxes(Kc, 1, 2)) * D) @ V
        w = D[:, -1, :, None]  # Π_{j=i+1..C} γ_j β_i
        H = b[:, -1, None, None] * H + np.swapaxes(Kc, 1, 2) @ (w * Kc)
        G = b[:, -1, None, None] * G + np.swapaxes(V, 1, 2) @ (w * Kc)
    out = [inp.restore(O, seq.lead, (seq.T, seq.d_v))]
    if return_state:
        out.append((inp.restore(H, seq.lead, (seq.d_k, seq.d_k)), inp.restore(G, seq.lead, (seq.d_v, seq.d_k))))
    if return_info:
        out.append(SolveInfo(*(inp.restore(a, seq.lead, (seq.T,)) for a in (steps, resid, breakdown))))
    return out[0] if len(out) == 1 else tuple(out)

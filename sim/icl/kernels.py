"""Numba kernels of the population gradient flows and of the Monte Carlo moments (icl_linear_attention.md §4–§6).

Every kernel has a plain float64 reference with the same signature in ``sim.icl.naive``.

Common conventions of the flow kernels
--------------------------------------
- Weights are in the units of the run ("paper" or "code"); the effective matrix is M = mscale·M_w with
  M_w = Σ_i v_i U_i (ATTN-M) or Σ_i v_i Σ_r k_{i,r} q_{i,r}ᵀ (ATTN-S), mscale = 1 (paper) or N (code, §1.2).
- f(W) is the flow of §5.1 / §6.1 written in the run's weights with G = G(M) = Λ² − E[Λ̂²] M Λ:
  ATTN-M dU_i = v_i G, dv_i = ⟨U_i, G⟩_F; ATTN-S dv_i = Σ_r k_{i,r}ᵀ G q_{i,r}, dk_{i,r} = v_i G q_{i,r},
  dq_{i,r} = v_i Gᵀ k_{i,r}.
- One update is W ← W + h·f(W) (``rk4`` False) or one classical RK4 step of W' = f(W) with step h (``rk4`` True);
  the wrapper turns η or dt and the units into h.
- Step s = 0 .. rec_steps[-1]: the loss is evaluated at the weights after s updates (the loss recorded at step s is
  the loss before update s); records are written at the steps listed in ``rec_steps`` [T] (increasing, starting at
  0); no update follows the last step, so the weights left in v, U (K, Q) are those of the last record.
- A non-finite loss stops that run: ``diverged`` is set and every remaining record is written as NaN.
- Inputs v, U (K, Q) [n, ...] are overwritten with the final weights; outputs are written in full.
- ``prange`` runs over the independent runs only.
- The model entry points pack each run's weights into one flat state vector and call a single compiled
  ``_flow_kernel``: ATTN-M W = (v [H], U [H, D, D]), ATTN-S W = (v [H], K [H, R, D], Q [H, R, D]) in C order;
  dims = (H, R, D) with R = 0 for ATTN-M. One kernel serves both models, which halves compilation.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

ATTN_M = 0  # model codes of the flat-state kernel
ATTN_S = 1

# ----------------------------------------------------------------------------------------------------------------
# shared small linear algebra (D x D, written out so that the step loop allocates nothing)


@njit(cache=True)
def _error_signal(Lam, Lam2, S2, trLam, M, T1, G):
    """G = Λ² − S2 M Λ into G; returns L(M) = tr Λ − ⟨M, Λ²⟩ − ⟨M, G⟩ (equal to the §4 loss)."""
    D = M.shape[0]
    for a in range(D):
        for b in range(D):
            s = 0.0
            for c in range(D):
                s += S2[a, c] * M[c, b]
            T1[a, b] = s
    L = trLam
    for a in range(D):
        for b in range(D):
            s = 0.0
            for c in range(D):
                s += T1[a, c] * Lam[c, b]
            g = Lam2[a, b] - s
            G[a, b] = g
            L -= M[a, b] * (Lam2[a, b] + g)
    return L


# ----------------------------------------------------------------------------------------------------------------
# flows on the flat state


@njit(cache=True)
def _eval(model, Lam, Lam2, S2, trLam, mscale, dims, W, M, T1, G, dW, scratch):
    """Loss at the flat state W and the flow f(W) into dW; leaves M (effective) and G in the scratch arrays."""
    H, R, D = dims[0], dims[1], dims[2]
    for a in range(D):
        for b in range(D):
            M[a, b] = 0.0
    if model == ATTN_M:
        for i in range(H):
            c = mscale * W[i]
            o = H + i * D * D
            for a in range(D):
                for b in range(D):
                    M[a, b] += c * W[o + a * D + b]
        L = _error_signal(Lam, Lam2, S2, trLam, M, T1, G)
        for i in range(H):
            vi = W[i]
            o = H + i * D * D
            s = 0.0
            for a in range(D):
                for b in range(D):
                    g = G[a, b]
                    s += W[o + a * D + b] * g
                    dW[o + a * D + b] = vi * g
            dW[i] = s
        return L
    nk = H * R * D
    for i in range(H):
        c = mscale * W[i]
        for r in range(R):
            ok = H + (i * R + r) * D
            oq = ok + nk
            for a in range(D):
                ck = c * W[ok + a]
                for b in range(D):
                    M[a, b] += ck * W[oq + b]
    L = _error_signal(Lam, Lam2, S2, trLam, M, T1, G)
    for i in range(H):
        vi = W[i]
        acc = 0.0
        for r in range(R):
            ok = H + (i * R + r) * D
            oq = ok + nk
            for b in range(D):
                scratch[b] = 0.0
            for a in range(D):
                ka = W[ok + a]
                gq = 0.0
                for b in range(D):
                    g = G[a, b]
                    gq += g * W[oq + b]
                    scratch[b] += g * ka  # (Gᵀ k)_b
                acc += ka * gq
                dW[ok + a] = vi * gq
            for b in range(D):
                dW[oq + b] = vi * scratch[b]
        dW[i] = acc
    return L


@njit(cache=True)
def _combine(W, W0, acc, dW, w, c):
    """One RK4 bookkeeping pass on flat state vectors: acc += w·dW, then W = W0 + c·dW (skipped for c = 0)."""
    for p in range(W.shape[0]):
        acc[p] += w * dW[p]
        if c != 0.0:
            W[p] = W0[p] + c * dW[p]


@njit(cache=True)
def _update(W, dW, h, rk4, W0, acc, model, Lam, Lam2, S2, trLam, mscale, dims, M, T1, G, scratch):
    """Advance the flat state W by one GD step (W += h·dW) or one classical RK4 step; dW holds f(W) on entry."""
    n = W.shape[0]
    if not rk4:
        for p in range(n):
            W[p] += h * dW[p]
        return
    for p in range(n):
        W0[p] = W[p]
        acc[p] = 0.0
    _combine(W, W0, acc, dW, 1.0, 0.5 * h)
    _eval(model, Lam, Lam2, S2, trLam, mscale, dims, W, M, T1, G, dW, scratch)
    _combine(W, W0, acc, dW, 2.0, 0.5 * h)
    _eval(model, Lam, Lam2, S2, trLam, mscale, dims, W, M, T1, G, dW, scratch)
    _combine(W, W0, acc, dW, 2.0, h)
    _eval(model, Lam, Lam2, S2, trLam, mscale, dims, W, M, T1, G, dW, scratch)
    _combine(W, W0, acc, dW, 1.0, 0.0)
    for p in range(n):
        W[p] = W0[p] + h / 6.0 * acc[p]


@njit(cache=True)
def _run(model, Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, E, dims, W,
         loss, v_rec, n1_rec, n2_rec, c1_rec, c2_rec, M_rec, ak_rec, aq_rec):
    """One run on the flat state W (in/out); returns True if it diverged.

    Records: ATTN-M n1 = ‖U_i‖_F [T, H], c1 = v_i² − ‖U_i‖_F² [T, H] (n2, c2, ak, aq unused);
    ATTN-S n1, n2 = ‖k_{i,r}‖, ‖q_{i,r}‖ [T, H, R], c1 = v_i² − Σ_r ‖k_{i,r}‖² [T, H],
    c2 = ‖k_{i,r}‖² − ‖q_{i,r}‖² [T, H, R], ak, aq alignment [T or 0, H, R, D].
    """
    H, R, D = dims[0], dims[1], dims[2]
    T = rec_steps.shape[0]
    last = rec_steps[T - 1]
    record_M = M_rec.shape[0] > 0
    record_align = ak_rec.shape[0] > 0
    n = W.shape[0]
    nk = H * R * D
    M = np.empty((D, D))
    T1 = np.empty((D, D))
    G = np.empty((D, D))
    dW = np.empty(n)
    scratch = np.empty(D)
    W0 = np.empty(n if rk4 else 0)
    acc = np.empty(n if rk4 else 0)
    j = 0
    for s in range(last + 1):
        L = _eval(model, Lam, Lam2, S2, trLam, mscale, dims, W, M, T1, G, dW, scratch)
        if not np.isfinite(L):
            for jj in range(j, T):
                loss[jj] = np.nan
                v_rec[jj] = np.nan
                n1_rec[jj] = np.nan
                n2_rec[jj] = np.nan
                c1_rec[jj] = np.nan
                c2_rec[jj] = np.nan
                if record_M:
                    M_rec[jj] = np.nan
                if record_align:
                    ak_rec[jj] = np.nan
                    aq_rec[jj] = np.nan
            return True
        if s == rec_steps[j]:
            loss[j] = L
            for i in range(H):
                v_rec[j, i] = W[i]
                if model == ATTN_M:
                    o = H + i * D * D
                    u2 = 0.0
                    for p in range(D * D):
                        u2 += W[o + p] * W[o + p]
                    n1_rec[j, i, 0] = np.sqrt(u2)
                    c1_rec[j, i] = W[i] * W[i] - u2
                    continue
                sk = 0.0
                for r in range(R):
                    ok = H + (i * R + r) * D
                    oq = ok + nk
                    k2 = 0.0
                    q2 = 0.0
                    for a in range(D):
                        k2 += W[ok + a] * W[ok + a]
                        q2 += W[oq + a] * W[oq + a]
                    sk += k2
                    kn = np.sqrt(k2)
                    qn = np.sqrt(q2)
                    n1_rec[j, i, r] = kn
                    n2_rec[j, i, r] = qn
                    c2_rec[j, i, r] = k2 - q2
                    if record_align:
                        for d in range(D):
                            pk = 0.0
                            pq = 0.0
                            for a in range(D):
                                pk += W[ok + a] * E[a, d]
                                pq += W[oq + a] * E[a, d]
                            # a zero vector has no direction: report 0 rather than 0/0
                            ak_rec[j, i, r, d] = abs(pk) / kn if kn > 0.0 else 0.0
                            aq_rec[j, i, r, d] = abs(pq) / qn if qn > 0.0 else 0.0
                c1_rec[j, i] = W[i] * W[i] - sk
            if record_M:
                for a in range(D):
                    for b in range(D):
                        M_rec[j, a, b] = M[a, b]
            j += 1
        if s == last:
            break
        _update(W, dW, h, rk4, W0, acc, model, Lam, Lam2, S2, trLam, mscale, dims, M, T1, G, scratch)
    return False


@njit(cache=True, parallel=True)
def _flow_kernel(model, Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, E, dims, W,
                 loss, v_rec, n1_rec, n2_rec, c1_rec, c2_rec, M_rec, ak_rec, aq_rec, diverged):
    """Independent runs a = 0..n−1 of ``_run`` on the flat states W [n, P]; prange over runs only."""
    for a in prange(W.shape[0]):
        diverged[a] = _run(model, Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, E, dims, W[a],
                           loss[a], v_rec[a], n1_rec[a], n2_rec[a], c1_rec[a], c2_rec[a], M_rec[a],
                           ak_rec[a], aq_rec[a])


def attn_m_kernel(Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, v, U,
                  loss, v_rec, norm_rec, cons_rec, M_rec, diverged):
    """ATTN-M population flow for n independent runs (§5.1).

    Lam, Lam2, S2 [D, D], trLam: moments of §4; mscale: M = mscale·Σ v_i U_i; h: step; rk4: integrator;
    rec_steps [T] int64. In/out: v [n, H], U [n, H, D, D]. Out: loss [n, T], v_rec [n, T, H], norm_rec [n, T, H]
    (‖U_i‖_F), cons_rec [n, T, H] (v_i² − ‖U_i‖_F²), M_rec [n, T, D, D] or [n, 0, D, D] (not recorded),
    diverged [n] bool.
    """
    n, H, D = U.shape[0], U.shape[1], U.shape[2]
    W = np.ascontiguousarray(np.concatenate([v, U.reshape(n, H * D * D)], axis=1))
    T = loss.shape[1]
    none = np.empty((n, 0, H, 0, D))
    # the (H, R) buffers of ATTN-S are unused: pass the [n, T, H] ones reshaped to [n, T, H, 1]
    _flow_kernel(ATTN_M, Lam, Lam2, S2, float(trLam), float(mscale), float(h), bool(rk4), rec_steps,
                 np.eye(D), np.array([H, 0, D], dtype=np.int64), W, loss, v_rec,
                 norm_rec.reshape(n, T, H, 1), norm_rec.reshape(n, T, H, 1), cons_rec,
                 cons_rec.reshape(n, T, H, 1), M_rec, none, none, diverged)
    v[...] = W[:, :H]
    U[...] = W[:, H:].reshape(n, H, D, D)


def mlp_kernel(Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, w2, W1,
               loss, v_rec, norm_rec, cons_rec, M_rec, diverged):
    """MLP(z) flow (§3.3, Eqs. 6–8), same arguments as ``attn_m_kernel`` with W1 [n, H, D²] in place of U.

    With z = x_q ⊗ β, row i of W1 is vec(U_i) column-major, so the network is ATTN-M with U_i = W1[i] reshaped
    with order='F'; this runs ``attn_m_kernel`` on that view and writes the final weights back into W1.
    """
    n, H, DD = W1.shape
    D = Lam.shape[0]
    U = np.ascontiguousarray(W1.reshape(n, H, D, D).transpose(0, 1, 3, 2))
    attn_m_kernel(Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, w2, U,
                  loss, v_rec, norm_rec, cons_rec, M_rec, diverged)
    W1[...] = U.transpose(0, 1, 3, 2).reshape(n, H, DD)


def attn_s_kernel(Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, E, v, K, Q,
                  loss, v_rec, kn_rec, qn_rec, cvk_rec, ckq_rec, M_rec, ak_rec, aq_rec, diverged):
    """ATTN-S population flow (rank R, H heads) for n independent runs (§6.1).

    E [D, D]: unit eigenvectors of Λ as columns, by descending eigenvalue. In/out: v [n, H], K, Q [n, H, R, D].
    Out: loss [n, T], v_rec [n, T, H], kn_rec, qn_rec [n, T, H, R] (‖k_{i,r}‖, ‖q_{i,r}‖), cvk_rec [n, T, H]
    (v_i² − Σ_r ‖k_{i,r}‖²), ckq_rec [n, T, H, R] (‖k_{i,r}‖² − ‖q_{i,r}‖²), M_rec [n, T or 0, D, D],
    ak_rec, aq_rec [n, T or 0, H, R, D] (|cos(k_{i,r}, e_d)|, |cos(q_{i,r}, e_d)|; 0 for a zero vector),
    diverged [n] bool.
    """
    n, H, R, D = K.shape
    nk = H * R * D
    W = np.ascontiguousarray(np.concatenate([v, K.reshape(n, nk), Q.reshape(n, nk)], axis=1))
    _flow_kernel(ATTN_S, Lam, Lam2, S2, float(trLam), float(mscale), float(h), bool(rk4), rec_steps, E,
                 np.array([H, R, D], dtype=np.int64), W, loss, v_rec, kn_rec, qn_rec, cvk_rec, ckq_rec, M_rec,
                 ak_rec, aq_rec, diverged)
    v[...] = W[:, :H]
    K[...] = W[:, H:H + nk].reshape(n, H, R, D)
    Q[...] = W[:, H + nk:].reshape(n, H, R, D)


# ----------------------------------------------------------------------------------------------------------------
# Monte Carlo of the §4 moments


@njit(cache=True, parallel=True)
def mc_kernel(C, Zx, Zw, Ms, s2_sum, s2_sq, l_sum, l_sq):
    """Partial sums over blocks of samples of Λ̂² and of (y_q − βᵀ M x_q)² (claim #1).

    C [D, D]: Cholesky factor of Λ (x = C z); Zx [B, N+1, D]: standard normals, rows 0..N-1 the context x_n and
    row N the query; Zw [B, D]: task vectors w ~ N(0, I); Ms [k, D, D]. Out, one row per block b of the
    n_blocks = s2_sum.shape[0] equal contiguous blocks of samples: s2_sum, s2_sq [n_blocks, D, D] (Σ Λ̂², Σ (Λ̂²)²
    entrywise), l_sum, l_sq [n_blocks, k] (Σ e², Σ e⁴ with e = y_q − βᵀ M x_q).
    """
    B = Zx.shape[0]
    N = Zx.shape[1] - 1
    D = C.shape[0]
    k = Ms.shape[0]
    nb = s2_sum.shape[0]
    for b in prange(nb):
        lo = (b * B) // nb
        hi = ((b + 1) * B) // nb
        x = np.empty(D)
        xq = np.empty(D)
        Lh = np.empty((D, D))
        beta = np.empty(D)
        for a in range(D):
            for c in range(D):
                s2_sum[b, a, c] = 0.0
                s2_sq[b, a, c] = 0.0
        for m in range(k):
            l_sum[b, m] = 0.0
            l_sq[b, m] = 0.0
        for p in range(lo, hi):
            for a in range(D):
                for c in range(D):
                    Lh[a, c] = 0.0
            for t in range(N):
                for a in range(D):
                    s = 0.0
                    for c in range(a + 1):
                        s += C[a, c] * Zx[p, t, c]
                    x[a] = s
                for a in range(D):
                    for c in range(D):
                        Lh[a, c] += x[a] * x[c]
            for a in range(D):
                for c in range(D):
                    Lh[a, c] /= N
            for a in range(D):
                for c in range(D):
                    s = 0.0
                    for e in range(D):
                        s += Lh[a, e] * Lh[e, c]
                    s2_sum[b, a, c] += s
                    s2_sq[b, a, c] += s * s
            yq = 0.0
            for a in range(D):
                s = 0.0
                for c in range(a + 1):
                    s += C[a, c] * Zx[p, N, c]
                xq[a] = s
                yq += Zw[p, a] * s
            for a in range(D):
                s = 0.0
                for c in range(D):
                    s += Lh[a, c] * Zw[p, c]
                beta[a] = s
            for m in range(k):
                yh = 0.0
                for a in range(D):
                    s = 0.0
                    for c in range(D):
                        s += Ms[m, a, c] * xq[c]
                    yh += beta[a] * s
                e2 = (yq - yh) * (yq - yh)
                l_sum[b, m] += e2
                l_sq[b, m] += e2 * e2

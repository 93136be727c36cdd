"""Plain float64 references of ``sim.icl.kernels`` and of the public flows (same signatures).

The kernels here are written with numpy matrix expressions and the §4 helpers of ``theory.icl.moments``;
``mlp_kernel`` works in z-space (Eqs. 6–8: E[y_q z] = vec(Λ²), E[zzᵀ] = Λ ⊗ E[Λ̂²] for z = x_q ⊗ β), so it checks the
column-major mapping used by the fast MLP path independently.
"""

from __future__ import annotations

import numpy as np

from theory.icl.moments import Moments, error_signal, loss as population_loss

# ----------------------------------------------------------------------------------------------------------------
# kernels


def _integrate(f, state, h, rk4, rec_steps, record):
    """Shared driver: evaluate (loss, derivative) at each step, record, then take a GD or RK4 step.

    ``state`` is a list of arrays, ``f(state) -> (L, derivs, extra)``; returns (diverged, final state). A
    non-finite loss stops the run and ``record(j, None, None, None)`` fills the remaining records with NaN.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported, not warned about
        return _integrate_loop(f, state, h, rk4, rec_steps, record)


def _integrate_loop(f, state, h, rk4, rec_steps, record):
    T = len(rec_steps)
    j = 0
    for s in range(int(rec_steps[-1]) + 1):
        L, d, extra = f(state)
        if not np.isfinite(L):
            for jj in range(j, T):
                record(jj, None, None, None)
            return True, state
        if s == rec_steps[j]:
            record(j, L, state, extra)
            j += 1
        if s == rec_steps[-1]:
            break
        if not rk4:
            state = [w + h * dw for w, dw in zip(state, d)]
        else:
            k1 = d
            k2 = f([w + 0.5 * h * dw for w, dw in zip(state, k1)])[1]
            k3 = f([w + 0.5 * h * dw for w, dw in zip(state, k2)])[1]
            k4 = f([w + h * dw for w, dw in zip(state, k3)])[1]
            state = [w + h / 6.0 * (a + 2.0 * b + 2.0 * c + e) for w, a, b, c, e in zip(state, k1, k2, k3, k4)]
    return False, state


def attn_m_kernel(Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, v, U,
                  loss, v_rec, norm_rec, cons_rec, M_rec, diverged):
    """Reference of ``kernels.attn_m_kernel`` (same arguments and outputs)."""
    mom = Moments(Lam, Lam2, S2, trLam)
    record_M = M_rec.shape[1] > 0
    for a in range(v.shape[0]):

        def f(state):
            vv, UU = state
            M = mscale * np.einsum("i,iab->ab", vv, UU)
            G = error_signal(M, mom)
            return population_loss(M, mom), [np.einsum("iab,ab->i", UU, G), vv[:, None, None] * G], M

        def record(j, L, state, M, a=a):
            if L is None:
                loss[a, j] = np.nan
                v_rec[a, j] = norm_rec[a, j] = cons_rec[a, j] = np.nan
                if record_M:
                    M_rec[a, j] = np.nan
                return
            vv, UU = state
            n2 = np.sum(UU**2, axis=(1, 2))
            loss[a, j] = L
            v_rec[a, j] = vv
            norm_rec[a, j] = np.sqrt(n2)
            cons_rec[a, j] = vv**2 - n2
            if record_M:
                M_rec[a, j] = M

        div, state = _integrate(f, [v[a].copy(), U[a].copy()], h, rk4, rec_steps, record)
        diverged[a] = div
        v[a], U[a] = state


def mlp_kernel(Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, w2, W1,
               loss, v_rec, norm_rec, cons_rec, M_rec, diverged):
    """Reference of ``kernels.mlp_kernel`` written in z-space (Eq. 8): τ dW1/dt = w2 (E[y_q zᵀ] − w2ᵀW1 E[zzᵀ]),
    τ dw2/dt = W1 (E[y_q zᵀ] − w2ᵀW1 E[zzᵀ])ᵀ, with z = vec(β x_qᵀ) = x_q ⊗ β (column-major vec)."""
    D = Lam.shape[0]
    Eyz = Lam2.reshape(-1, order="F")
    Ezz = np.kron(Lam, S2)
    record_M = M_rec.shape[1] > 0
    for a in range(w2.shape[0]):

        def f(state):
            ww, WW = state
            m = mscale * (WW.T @ ww)
            Gz = Eyz - Ezz @ m
            L = trLam - 2.0 * m @ Eyz + m @ Ezz @ m
            return L, [WW @ Gz, np.outer(ww, Gz)], m

        def record(j, L, state, m, a=a):
            if L is None:
                loss[a, j] = np.nan
                v_rec[a, j] = norm_rec[a, j] = cons_rec[a, j] = np.nan
                if record_M:
                    M_rec[a, j] = np.nan
                return
            ww, WW = state
            n2 = np.sum(WW**2, axis=1)
            loss[a, j] = L
            v_rec[a, j] = ww
            norm_rec[a, j] = np.sqrt(n2)
            cons_rec[a, j] = ww**2 - n2
            if record_M:
                M_rec[a, j] = m.reshape(D, D, order="F")

        div, state = _integrate(f, [w2[a].copy(), W1[a].copy()], h, rk4, rec_steps, record)
        diverged[a] = div
        w2[a], W1[a] = state


def attn_s_kernel(Lam, Lam2, S2, trLam, mscale, h, rk4, rec_steps, E, v, K, Q,
                  loss, v_rec, kn_rec, qn_rec, cvk_rec, ckq_rec, M_rec, ak_rec, aq_rec, diverged):
    """Reference of ``kernels.attn_s_kernel`` (same arguments and outputs)."""
    mom = Moments(Lam, Lam2, S2, trLam)
    record_M = M_rec.shape[1] > 0
    record_align = ak_rec.shape[1] > 0
    for a in range(v.shape[0]):

        def f(state):
            vv, KK, QQ = state
            M = mscale * np.einsum("i,ira,irb->ab", vv, KK, QQ)
            G = error_signal(M, mom)
            dv = np.einsum("ira,ab,irb->i", KK, G, QQ)
            dK = vv[:, None, None] * np.einsum("ab,irb->ira", G, QQ)  # v_i G q_{i,r}
            dQ = vv[:, None, None] * np.einsum("ab,ira->irb", G, KK)  # v_i Gᵀ k_{i,r}
            return population_loss(M, mom), [dv, dK, dQ], M

        def record(j, L, state, M, a=a):
            if L is None:
                for arr in (loss, v_rec, kn_rec, qn_rec, cvk_rec, ckq_rec):
                    arr[a, j] = np.nan
                if record_M:
                    M_rec[a, j] = np.nan
                if record_align:
                    ak_rec[a, j] = aq_rec[a, j] = np.nan
                return
            vv, KK, QQ = state
            k2 = np.sum(KK**2, axis=2)
            q2 = np.sum(QQ**2, axis=2)
            loss[a, j] = L
            v_rec[a, j] = vv
            kn_rec[a, j] = np.sqrt(k2)
            qn_rec[a, j] = np.sqrt(q2)
            cvk_rec[a, j] = vv**2 - k2.sum(axis=1)
            ckq_rec[a, j] = k2 - q2
            if record_M:
                M_rec[a, j] = M
            if record_align:
                for arr, W, n2 in ((ak_rec, KK, k2), (aq_rec, QQ, q2)):
                    nrm = np.sqrt(n2)[..., None]
                    proj = np.abs(W @ E)
                    arr[a, j] = np.where(nrm > 0, proj / np.where(nrm > 0, nrm, 1.0), 0.0)

        div, state = _integrate(f, [v[a].copy(), K[a].copy(), Q[a].copy()], h, rk4, rec_steps, record)
        diverged[a] = div
        v[a], K[a], Q[a] = state


def mc_kernel(C, Zx, Zw, Ms, s2_sum, s2_sq, l_sum, l_sq):
    """Reference of ``kernels.mc_kernel`` (same arguments and outputs)."""
    B = Zx.shape[0]
    N = Zx.shape[1] - 1
    nb = s2_sum.shape[0]
    for b in range(nb):
        sl = slice((b * B) // nb, ((b + 1) * B) // nb)
        X = Zx[sl] @ C.T  # rows x = C z
        Lh = np.einsum("pta,ptc->pac", X[:, :N], X[:, :N]) / N
        L2 = Lh @ Lh
        s2_sum[b] = L2.sum(axis=0)
        s2_sq[b] = (L2**2).sum(axis=0)
        xq = X[:, N]
        w = Zw[sl]
        yq = np.sum(w * xq, axis=1)
        beta = np.einsum("pac,pc->pa", Lh, w)
        yh = np.einsum("pa,mac,pc->pm", beta, Ms, xq)
        e2 = (yq[:, None] - yh) ** 2
        l_sum[b] = e2.sum(axis=0)
        l_sq[b] = (e2**2).sum(axis=0)


# ----------------------------------------------------------------------------------------------------------------
# public references with the signatures of sim.icl


def attn_m_flow(Lam, N, v0, U0, steps, eta=None, dt=None, mode="gd", units="paper", record_every=1,
                record_M=False):
    """Reference of ``sim.icl.attn_m_flow`` (same signature and result)."""
    from sim.icl import flows

    return flows._attn_m(attn_m_kernel, Lam, N, v0, U0, steps, eta, dt, mode, units, record_every, record_M)


def mlp_flow(Lam, N, w2, W1, steps, eta=None, dt=None, mode="gd", units="paper", record_every=1,
             record_M=False):
    """Reference of ``sim.icl.mlp_flow`` (same signature and result), integrated in z-space."""
    from sim.icl import flows

    return flows._mlp(mlp_kernel, Lam, N, w2, W1, steps, eta, dt, mode, units, record_every, record_M)


def attn_s_flow(Lam, N, v0, K0, Q0, steps, eta=None, dt=None, mode="gd", units="paper", record_every=1,
                record_M=False, record_alignment=False):
    """Reference of ``sim.icl.attn_s_flow`` (same signature and result)."""
    from sim.icl import flows

    return flows._attn_s(attn_s_kernel, Lam, N, v0, K0, Q0, steps, eta, dt, mode, units, record_every,
                         record_M, record_alignment)


def mc_moments(Lam, N, n_samples, seed, M=None):
    """Reference of ``sim.icl.mc_moments`` (same signature, same random draws, same result to round-off)."""
    from sim.icl import montecarlo

    return montecarlo._mc_moments(mc_kernel, Lam, N, n_samples, seed, M)

"""Plain float64 references of ``sim.recall.kernels`` and of the public recurrences (same signatures).

The kernels here write each rule in its textbook matrix form rather than the kernels' error form, so the
comparison checks the algebra too: DeltaNet as ``M(I − βkkᵀ) + βvkᵀ``, GDN as ``αM(I − βkkᵀ) + βvkᵀ``, Longhorn
as the solution of its implicit step ``(M_{t−1} + βvkᵀ)(I + βkkᵀ)^{-1}``, the exact Mesa solve by
``numpy.linalg.solve``, GLA by ``M Diag(a)``.
"""

from __future__ import annotations

import numpy as np

from sim.recall import kernels as K
from sim.recall import mesa as _mesa_mod
from sim.recall import rules as _rules

# ----------------------------------------------------------------------------------------------------------------
# kernels


def _moneta_map(A, qn, mirror):
    if not np.any(A):
        return np.zeros_like(A)
    if mirror:
        qs = qn / (qn - 1.0)
        return np.sign(A) * np.abs(A) ** (qs - 1.0) / np.linalg.norm(A.ravel(), qs) ** (qs - 2.0)
    return A / np.linalg.norm(A.ravel(), qn) ** (qn - 2.0)


def _softmax_slices(L, c, axis):
    if axis == K.SLICE_ROW:
        E = np.exp(L - L.max(axis=1, keepdims=True))
        return c * E / E.sum(axis=1, keepdims=True)
    if axis == K.SLICE_COLUMN:
        E = np.exp(L - L.max(axis=0, keepdims=True))
        return c * E / E.sum(axis=0, keepdims=True)
    E = np.exp(L - L.max())
    return c * E / E.sum()


def _step(rule, M, S, kt, vt, gt, par):
    """One token of ``rule``: returns (M_t, S_t)."""
    dk = kt.shape[0]
    eye = np.eye(dk)
    kk = np.outer(kt, kt)
    vk = np.outer(vt, kt)
    if rule == K.LA:
        return M + vk, S
    if rule == K.GLA:
        return gt[0] * M + gt[1] * vk, S
    if rule == K.GLA_CHANNEL:
        return M @ np.diag(gt) + vk, S
    if rule == K.DELTA:
        return M @ (eye - gt[0] * kk) + gt[0] * vk, S
    if rule == K.GDN:
        return gt[0] * M @ (eye - gt[1] * kk) + gt[1] * vk, S
    e = M @ kt - vt
    if rule == K.MIRAS_DELTA:
        return gt[0] * M - gt[1] * np.outer(e, kt), S
    if rule == K.LONGHORN:
        # argmin ½‖W − M‖² + (β/2)‖Wk − v‖²: W (I + βkkᵀ) = M + βvkᵀ (symmetric system)
        b = gt[0]
        return np.linalg.solve(eye + b * kk, (M + b * vk).T).T, S
    if rule == K.TITANS:
        S = gt[1] * S - gt[2] * 2.0 * np.outer(e, kt)
        return (1.0 - gt[0]) * M + S, S
    if rule == K.MONETA:
        p = par[0]
        S = gt[0] * S - gt[1] * p * np.outer(np.sign(e) * np.abs(e) ** (p - 1.0), kt)
        return _moneta_map(S, par[1], par[2] != 0.0), S
    if rule == K.YAAD:
        alpha, eta, delta = gt
        ne = np.linalg.norm(e)
        if ne <= delta:
            g = e
        elif par[0] != 0.0:
            g = delta * e / ne
        else:
            g = delta * np.sign(e)
        return alpha * M - eta * np.outer(g, kt), S
    if rule == K.MEMORA:
        alpha, eta = gt
        logits = -eta * np.outer(e, kt)
        if alpha != 0.0:
            logits = logits + alpha * np.log(M)
        return _softmax_slices(logits, par[0], int(par[1])), S
    raise ValueError(f"rule must be a rule code of sim.recall.kernels, got {rule!r}")


def recurrent_kernel(rule, q, k, v, g, par, M, S, o):
    """Reference of ``kernels.recurrent_kernel`` (same arguments and outputs)."""
    for b in range(q.shape[0]):
        Mb, Sb = M[b].copy(), S[b].copy()
        if rule == K.MONETA:
            Mb = _moneta_map(Sb, par[1], par[2] != 0.0)
        for t in range(q.shape[1]):
            Mb, Sb = _step(rule, Mb, Sb, k[b, t], v[b, t], g[b, t], par)
            o[b, t] = Mb @ q[b, t]
        M[b], S[b] = Mb, Sb


def _cg(A, b, tol, max_steps, init, damped, damping):
    """Reference CG (§4.2) on one system; returns (x, steps, relative residual, breakdown)."""
    bn = np.linalg.norm(b)
    if bn == 0.0:
        return np.zeros_like(b), 0, 0.0, False
    if init == K.INIT_JACOBI:
        diag = np.diag(A)
        if not np.all(diag > 0):
            return np.full_like(b, np.nan), 0, np.nan, True
        x = b / diag
    else:
        x = np.zeros_like(b)
    r = b - A @ x
    rr = r @ r
    steps, breakdown = 0, False
    if damped or np.sqrt(rr) > tol * bn:
        p = r.copy()
        while steps < max_steps and rr > 0.0:
            Ap = A @ p
            pAp = p @ Ap
            if not (pAp > 0.0 and np.isfinite(pAp)):
                breakdown = True
                break
            alpha = rr / (pAp + damping) if damped else rr / pAp
            x = x + alpha * p
            r = r - alpha * Ap
            rr_new = r @ r
            steps += 1
            if not damped and np.sqrt(rr_new) <= tol * bn:
                break
            beta = rr_new / (rr + damping) if damped else rr_new / rr
            p = r + beta * p
            rr = rr_new
    res = np.linalg.norm(b - A @ x) / bn
    return x, steps, res, breakdown or not np.isfinite(res)


def _exact(A, b):
    try:
        np.linalg.cholesky(A)  # the same SPD test as the kernel's Cholesky
    except np.linalg.LinAlgError:
        return np.full_like(b, np.nan), 0, np.nan, True
    x = np.linalg.solve(A, b)
    bn = np.linalg.norm(b)
    res = np.linalg.norm(b - A @ x) / bn if bn > 0 else 0.0
    return x, 0, res, not np.isfinite(res)


def mesa_kernel(q, k, v, gamma, beta, lam, solver, tol, max_steps, init, damping, H, G, o, steps, resid,
                breakdown):
    """Reference of ``kernels.mesa_kernel`` (same arguments and outputs)."""
    for b in range(q.shape[0]):
        Hb, Gb = H[b].copy(), G[b].copy()
        for t in range(q.shape[1]):
            kt = k[b, t]
            Hb = gamma[b, t] * Hb + beta[b, t] * np.outer(kt, kt)
            Gb = gamma[b, t] * Gb + beta[b, t] * np.outer(v[b, t], kt)
            A = Hb + np.diag(lam[b])
            if solver == K.EXACT:
                x, n, res, bad = _exact(A, q[b, t])
            else:
                x, n, res, bad = _cg(A, q[b, t], tol, max_steps, init, solver == K.CG_DAMPED, damping)
            o[b, t] = Gb @ x
            steps[b, t], resid[b, t], breakdown[b, t] = n, res, bad
        H[b], G[b] = Hb, Gb


def cg_kernel(A, b, tol, max_steps, init, damped, damping, x, steps, resid, breakdown):
    """Reference of ``kernels.cg_kernel`` (same arguments and outputs)."""
    for i in range(b.shape[0]):
        x[i], steps[i], resid[i], breakdown[i] = _cg(A[i], b[i], tol, max_steps, init, damped, damping)


# ----------------------------------------------------------------------------------------------------------------
# public references with the signatures of sim.recall


def linear_attention(q, k, v, initial_state=None, return_state=False):
    """Reference of ``sim.recall.linear_attention``."""
    return _rules._run(recurrent_kernel, _rules._linear_attention(q, k, v), initial_state, return_state)


def gated_linear_attention(q, k, v, gamma, beta=1.0, initial_state=None, return_state=False):
    """Reference of ``sim.recall.gated_linear_attention``."""
    prep = _rules._gated_linear_attention(q, k, v, gamma, beta)
    return _rules._run(recurrent_kernel, prep, initial_state, return_state)


def gated_linear_attention_channel(q, k, v, a, initial_state=None, return_state=False):
    """Reference of ``sim.recall.gated_linear_attention_channel``."""
    prep = _rules._gated_linear_attention_channel(q, k, v, a)
    return _rules._run(recurrent_kernel, prep, initial_state, return_state)


def delta_rule(q, k, v, beta, initial_state=None, return_state=False):
    """Reference of ``sim.recall.delta_rule``."""
    return _rules._run(recurrent_kernel, _rules._delta_rule(q, k, v, beta), initial_state, return_state)


def gated_delta_rule(q, k, v, alpha, beta, initial_state=None, return_state=False):
    """Reference of ``sim.recall.gated_delta_rule``."""
    prep = _rules._gated_delta_rule(q, k, v, alpha, beta)
    return _rules._run(recurrent_kernel, prep, initial_state, return_state)


def miras_gated_delta_rule(q, k, v, alpha, beta, initial_state=None, return_state=False):
    """Reference of ``sim.recall.miras_gated_delta_rule``."""
    prep = _rules._miras_gated_delta_rule(q, k, v, alpha, beta)
    return _rules._run(recurrent_kernel, prep, initial_state, return_state)


def longhorn(q, k, v, beta, initial_state=None, return_state=False):
    """Reference of ``sim.recall.longhorn`` (the implicit step solved as a linear system)."""
    return _rules._run(recurrent_kernel, _rules._longhorn(q, k, v, beta), initial_state, return_state)


def titans(q, k, v, alpha, eta, theta, initial_state=None, return_state=False):
    """Reference of ``sim.recall.titans``."""
    prep = _rules._titans(q, k, v, alpha, eta, theta)
    return _rules._run(recurrent_kernel, prep, initial_state, return_state)


def moneta(q, k, v, alpha, eta, p=3.0, q_norm=4.0, retention_map="stated", initial_state=None,
           return_state=False):
    """Reference of ``sim.recall.moneta``."""
    prep = _rules._moneta(q, k, v, alpha, eta, p, q_norm, retention_map)
    return _rules._run(recurrent_kernel, prep, initial_state, return_state)


def yaad(q, k, v, alpha, eta, delta, huber="coordinate", initial_state=None, return_state=False):
    """Reference of ``sim.recall.yaad``."""
    prep = _rules._yaad(q, k, v, alpha, eta, delta, huber)
    return _rules._run(recurrent_kernel, prep, initial_state, return_state)


def memora(q, k, v, alpha, eta, c=1.0, axis="matrix", initial_state=None, return_state=False):
    """Reference of ``sim.recall.memora``."""
    prep = _rules._memora(q, k, v, alpha, eta, c, axis)
    return _rules._run(recurrent_kernel, prep, initial_state, return_state)


def mesa(q, k, v, gamma, beta, lam, solver="exact", tol=1e-10, max_steps=None, init="zero",
         damping=_mesa_mod.DAMPING, initial_state=None, return_state=False, return_info=False):
    """Reference of ``sim.recall.mesa``."""
    prep = _mesa_mod._mesa(q, k, v, gamma, beta, lam, solver, tol, max_steps, init, damping)
    return _mesa_mod._run_mesa(mesa_kernel, prep, initial_state, return_state, return_info)


def cg_solve(A, b, tol=1e-10, max_steps=None, init="zero", damped=False, damping=_mesa_mod.DAMPING):
    """Reference of ``sim.recall.cg_solve``."""
    return _mesa_mod._run_cg(cg_kernel, *_mesa_mod._cg_inputs(A, b, tol, max_steps, init, damped, damping))

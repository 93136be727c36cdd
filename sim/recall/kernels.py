"""Numba kernels of the memory recurrences and of the Mesa solve (test_time_memory.md §3, §4.1–§4.2).

Every kernel has a plain float64 reference with the same signature in ``sim.recall.naive``.

Conventions
-----------
- M-orientation: memory M [d_v, d_k], write with key k, read o_t = M_t q_t after the write of token t.
  Prediction error e_t = M_{t−1} k_t − v_t (GDN: on the decayed state), ∇ℓ2 = e kᵀ (ℓ2 = ½‖Mk − v‖²).
- Inputs are batches of independent sequences: q, k [B, T, d_k], v [B, T, d_v]; ``prange`` runs over B only.
- Compiled with ``error_model="numpy"`` (a division by zero gives inf/NaN as in the references, never an
  exception) and ``fastmath={"reassoc", "contract"}`` only: reductions may be reordered into SIMD lanes, which
  changes results at round-off level, while NaN/inf semantics stay IEEE, so breakdown tests keep working.
- ``recurrent_kernel`` serves every linear-memory rule through a rule code, so the package compiles one kernel
  for all of them. Per-token gates sit in the columns of g [B, T, n_g] and rule constants in par [4]:

  ======================  =========================================  ==========================================
  rule                    g columns                                   update (§3)
  ======================  =========================================  ==========================================
  LA                      —                                           M += v kᵀ
  GLA (scalar)            γ, β                                        M = γ M + β v kᵀ
  GLA_CHANNEL             a_1..a_{d_k}                                M = M Diag(a) + v kᵀ
  DELTA                   β                                           M −= β e kᵀ
  GDN                     a, β                                        M = a M; M −= β e kᵀ (e on a M)
  MIRAS_DELTA             λ, η'                                       M = λ M − η' e kᵀ
  LONGHORN                β                                           M −= β/(1 + β‖k‖²) e kᵀ
  TITANS                  α, η, θ                                     S = η S − 2θ e kᵀ; M = (1 − α) M + S
  MONETA                  α, η            par = (p, q, mirror)        A = α A − η p (sign(e)|e|^{p−1}) kᵀ;
                                                                      W = A/‖A‖_q^{q−2} or the mirror map
  YAAD                    α, η, δ         par = (normwise,)           ‖e‖ ≤ δ: W = αW − η e kᵀ, else
                                                                      αW − ηδ sign(e) kᵀ (or ηδ e kᵀ/‖e‖)
  MEMORA                  α, η            par = (c, axis)             W = c·Softmax_slice(α log W − η e kᵀ)
  ======================  =========================================  ==========================================

  M [B, d_v, d_k] holds the initial memory on entry and the final one on exit; S [B, d_v, d_k] the second state
  (Titans momentum S, Moneta accumulator A; untouched otherwise). Moneta starts from W_0 = map(A_0). o [B, T, d_v]
  is written in full.
- Mesa (§4.1): H_t = γ_t H_{t−1} + β_t k_t k_tᵀ, G_t = γ_t G_{t−1} + β_t v_t k_tᵀ, q*_t = (H_t + Λ)^{-1} q_t,
  o_t = G_t q*_t. Solvers: exact (Cholesky), CG (§4.2, undamped, relative-residual stop, step cap) and the
  fixed-step damped CG of the public implementation.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# rule codes of recurrent_kernel
LA = 0
GLA = 1
GLA_CHANNEL = 2
DELTA = 3
GDN = 4
MIRAS_DELTA = 5
LONGHORN = 6
TITANS = 7
MONETA = 8
YAAD = 9
MEMORA = 10

# Memora slice axes (par[1])
SLICE_ROW = 0  # each row of W [d_k entries] sums to c
SLICE_COLUMN = 1  # each column [d_v entries]
SLICE_MATRIX = 2  # the whole matrix

# Mesa solvers and CG initial guesses
EXACT = 0
CG = 1
CG_DAMPED = 2
INIT_ZERO = 0
INIT_JACOBI = 1


# ----------------------------------------------------------------------------------------------------------------
# linear-memory rules


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _abs_pow(x, e):
    """|x|^e with the common integer exponents as products (pow() dominates Moneta's cost otherwise)."""
    a = abs(x)
    if e == 2.0:
        return a * a
    if e == 3.0:
        return a * a * a
    if e == 4.0:
        a2 = a * a
        return a2 * a2
    if e == 1.0:
        return a
    return a**e


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _moneta_map(A, W, qn, mirror):
    """W = A/‖A‖_q^{q−2} (stated) or sign(A)|A|^{q*−1}/‖A‖_{q*}^{q*−2}, q* = q/(q−1) (mirror); W = 0 at A = 0."""
    dv, dk = A.shape
    e = qn / (qn - 1.0) if mirror else qn
    s = 0.0
    for a in range(dv):
        for c in range(dk):
            s += _abs_pow(A[a, c], e)
    if s == 0.0:
        for a in range(dv):
            for c in range(dk):
                W[a, c] = 0.0
        return
    scale = (s ** (1.0 / e)) ** (e - 2.0)
    for a in range(dv):
        for c in range(dk):
            x = A[a, c]
            if mirror:
                W[a, c] = np.sign(x) * _abs_pow(x, e - 1.0) / scale
            else:
                W[a, c] = x / scale


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _softmax_rows(L, W, c):
    """W[a] = c·Softmax(L[a]) for every row a, max-shifted for stability."""
    for a in range(L.shape[0]):
        m = -np.inf
        for j in range(L.shape[1]):
            m = max(m, L[a, j])
        s = 0.0
        for j in range(L.shape[1]):
            W[a, j] = np.exp(L[a, j] - m)
            s += W[a, j]
        for j in range(L.shape[1]):
            W[a, j] *= c / s


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _memora_normalise(L, W, c, axis):
    """W = c·Softmax(L) over each slice (rows, columns or the whole matrix), max-shifted for stability."""
    if axis == SLICE_ROW:
        _softmax_rows(L, W, c)
    elif axis == SLICE_COLUMN:
        _softmax_rows(L.T, W.T, c)  # a column of L is a row of its transpose (a view: W is written in place)
    else:
        _softmax_rows(L.reshape(1, -1), W.reshape(1, -1), c)


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _error(M, kt, vt, e):
    """e = M k − v."""
    dv, dk = M.shape
    for a in range(dv):
        s = 0.0
        for c in range(dk):
            s += M[a, c] * kt[c]
        e[a] = s - vt[a]


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _sequence(rule, q, k, v, g, par, M, S, o):
    T, dk = k.shape
    dv = v.shape[1]
    e = np.empty(dv)
    L = np.empty((dv, dk) if rule == MEMORA else (0, 0))
    if rule == MONETA:
        _moneta_map(S, M, par[1], par[2] != 0.0)
    for t in range(T):
        kt = k[t]
        vt = v[t]
        gt = g[t]
        if rule == LA:
            for a in range(dv):
                for c in range(dk):
                    M[a, c] += vt[a] * kt[c]
        elif rule == GLA:
            gam, b = gt[0], gt[1]
            for a in range(dv):
                for c in range(dk):
                    M[a, c] = gam * M[a, c] + b * vt[a] * kt[c]
        elif rule == GLA_CHANNEL:
            for a in range(dv):
                for c in range(dk):
                    M[a, c] = M[a, c] * gt[c] + vt[a] * kt[c]
        elif rule == DELTA or rule == LONGHORN:
            b = gt[0]
            if rule == LONGHORN:
                k2 = 0.0
                for c in range(dk):
                    k2 += kt[c] * kt[c]
                b = b / (1.0 + b * k2)
            _error(M, kt, vt, e)
            for a in range(dv):
                for c in range(dk):
                    M[a, c] -= b * e[a] * kt[c]
        elif rule == GDN:
            al, b = gt[0], gt[1]
            for a in range(dv):
                for c in range(dk):
                    M[a, c] *= al
            _error(M, kt, vt, e)
            for a in range(dv):
                for c in range(dk):
                    M[a, c] -= b * e[a] * kt[c]
        elif rule == MIRAS_DELTA:
            lam, eta = gt[0], gt[1]
            _error(M, kt, vt, e)
            for a in range(dv):
                for c in range(dk):
                    M[a, c] = lam * M[a, c] - eta * e[a] * kt[c]
        elif rule == TITANS:
            al, eta, th = gt[0], gt[1], gt[2]
            _error(M, kt, vt, e)
            for a in range(dv):
                for c in range(dk):
                    S[a, c] = eta * S[a, c] - 2.0 * th * e[a] * kt[c]
                    M[a, c] = (1.0 - al) * M[a, c] + S[a, c]
        elif rule == MONETA:
            al, eta = gt[0], gt[1]
            p = par[0]
            _error(M, kt, vt, e)
            for a in range(dv):
                ga = p * np.sign(e[a]) * _abs_pow(e[a], p - 1.0)
                for c in range(dk):
                    S[a, c] = al * S[a, c] - eta * ga * kt[c]
            _moneta_map(S, M, par[1], par[2] != 0.0)
        elif rule == YAAD:
            al, eta, delta = gt[0], gt[1], gt[2]
            _error(M, kt, vt, e)
            ne = 0.0
            for a in range(dv):
                ne += e[a] * e[a]
            ne = np.sqrt(ne)
            for a in range(dv):
                if ne <= delta:
                    ga = e[a]
                elif par[0] != 0.0:
                    ga = delta * e[a] / ne
                else:
                    ga = delta * np.sign(e[a])
                for c in range(dk):
                    M[a, c] = al * M[a, c] - eta * ga * kt[c]
        else:  # MEMORA
            al, eta = gt[0], gt[1]
            _error(M, kt, vt, e)
            for a in range(dv):
                for c in range(dk):
                    # α = 0 forgets W entirely; skip α·log W so that a zero entry cannot give 0·(−inf)
                    lg = al * np.log(M[a, c]) if al != 0.0 else 0.0
                    L[a, c] = lg - eta * e[a] * kt[c]
            _memora_normalise(L, M, par[0], int(par[1]))
        for a in range(dv):
            s = 0.0
            for c in range(dk):
                s += M[a, c] * q[t, c]
            o[t, a] = s


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"reassoc", "contract"})
def recurrent_kernel(rule, q, k, v, g, par, M, S, o):
    """Linear-memory rule ``rule`` on B independent sequences (see the module table); prange over B."""
    for b in prange(q.shape[0]):
        _sequence(rule, q[b], k[b], v[b], g[b], par, M[b], S[b], o[b])


# ----------------------------------------------------------------------------------------------------------------
# SPD solves


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _matvec(A, x, y):
    d = A.shape[0]
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += A[i, j] * x[j]
        y[i] = s


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _dot(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    return s


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _relative_residual(A, b, x, r, bn):
    """‖b − A x‖/‖b‖ (0 for b = 0), recomputed from x rather than taken from the CG recursion."""
    if bn == 0.0:
        return 0.0
    _matvec(A, x, r)
    s = 0.0
    for i in range(b.shape[0]):
        s += (b[i] - r[i]) ** 2
    return np.sqrt(s) / bn


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _cg(A, b, x, r, p, Ap, tol, max_steps, init, damped, damping):
    """CG on the SPD system A x = b (§4.2); returns (steps, relative residual, breakdown).

    Undamped: α = rᵀr/pᵀAp, β = r_newᵀr_new/rᵀr; stops when ‖r‖ ≤ tol·‖b‖ (checked before the first step too)
    or after max_steps steps. Damped (public implementation): α = δ/(pᵀAp + ε), β = δ_new/(δ_old + ε) with
    δ = ‖r‖², exactly max_steps steps, no tolerance test. Breakdown: pᵀAp ≤ 0 or a non-finite scalar (A not
    numerically SPD); the iteration stops there. Init x_0 = 0 or Jacobi x_0 = b ⊘ diag(A).
    """
    d = b.shape[0]
    bn = np.sqrt(_dot(b, b))
    if bn == 0.0:
        for i in range(d):
            x[i] = 0.0
        return 0, 0.0, False
    if init == INIT_JACOBI:
        for i in range(d):
            if not A[i, i] > 0.0:
                for j in range(d):
                    x[j] = np.nan
                return 0, np.nan, True
            x[i] = b[i] / A[i, i]
        _matvec(A, x, Ap)
        for i in range(d):
            r[i] = b[i] - Ap[i]
    else:
        for i in range(d):
            x[i] = 0.0
            r[i] = b[i]
    rr = _dot(r, r)
    steps = 0
    breakdown = False
    if damped or np.sqrt(rr) > tol * bn:
        for i in range(d):
            p[i] = r[i]
        # rr = 0 means x is exact (possible in the damped mode, which has no tolerance test): nothing to do
        while steps < max_steps and rr > 0.0:
            _matvec(A, p, Ap)
            pAp = _dot(p, Ap)
            if not (pAp > 0.0) or not np.isfinite(pAp):
                breakdown = True
                break
            alpha = rr / (pAp + damping) if damped else rr / pAp
            for i in range(d):
                x[i] += alpha * p[i]
                r[i] -= alpha * Ap[i]
            rr_new = _dot(r, r)
            steps += 1
            if not damped and np.sqrt(rr_new) <= tol * bn:
                break
            beta = rr_new / (rr + damping) if damped else rr_new / rr
            for i in range(d):
                p[i] = r[i] + beta * p[i]
            rr = rr_new
    res = _relative_residual(A, b, x, Ap, bn)
    if not np.isfinite(res):
        breakdown = True
    return steps, res, breakdown


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _cholesky_solve(A, b, Lc, x):
    """x = A^{-1} b by Cholesky A = L Lᵀ; returns False (x = NaN) if a pivot is not positive and finite."""
    d = A.shape[0]
    for j in range(d):
        s = A[j, j]
        for m in range(j):
            s -= Lc[j, m] * Lc[j, m]
        if not (s > 0.0) or not np.isfinite(s):
            for i in range(d):
                x[i] = np.nan
            return False
        ljj = np.sqrt(s)
        Lc[j, j] = ljj
        for i in range(j + 1, d):
            s = A[i, j]
            for m in range(j):
                s -= Lc[i, m] * Lc[j, m]
            Lc[i, j] = s / ljj
    for i in range(d):  # L y = b
        s = b[i]
        for m in range(i):
            s -= Lc[i, m] * x[m]
        x[i] = s / Lc[i, i]
    for i in range(d - 1, -1, -1):  # Lᵀ x = y
        s = x[i]
        for m in range(i + 1, d):
            s -= Lc[m, i] * x[m]
        x[i] = s / Lc[i, i]
    return True


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _solve(A, b, x, Lc, r, p, Ap, solver, tol, max_steps, init, damping):
    if solver == EXACT:
        ok = _cholesky_solve(A, b, Lc, x)
        if not ok:
            return 0, np.nan, True
        bn = np.sqrt(_dot(b, b))
        res = _relative_residual(A, b, x, Ap, bn)
        return 0, res, not np.isfinite(res)
    return _cg(A, b, x, r, p, Ap, tol, max_steps, init, solver == CG_DAMPED, damping)


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _mesa_sequence(q, k, v, gamma, beta, lam, solver, tol, max_steps, init, damping, H, G, o, steps, resid,
                   breakdown):
    T, dk = k.shape
    dv = v.shape[1]
    A = np.empty((dk, dk))
    Lc = np.empty((dk, dk) if solver == EXACT else (0, 0))
    x = np.empty(dk)
    r = np.empty(dk)
    p = np.empty(dk)
    Ap = np.empty(dk)
    for t in range(T):
        gam, b = gamma[t], beta[t]
        kt = k[t]
        for i in range(dk):
            for j in range(dk):
                H[i, j] = gam * H[i, j] + b * kt[i] * kt[j]
                A[i, j] = H[i, j]
            A[i, i] += lam[i]
        for a in range(dv):
            for j in range(dk):
                G[a, j] = gam * G[a, j] + b * v[t, a] * kt[j]
        n, res, bad = _solve(A, q[t], x, Lc, r, p, Ap, solver, tol, max_steps, init, damping)
        steps[t] = n
        resid[t] = res
        breakdown[t] = bad
        for a in range(dv):
            s = 0.0
            for j in range(dk):
                s += G[a, j] * x[j]
            o[t, a] = s


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"reassoc", "contract"})
def mesa_kernel(q, k, v, gamma, beta, lam, solver, tol, max_steps, init, damping, H, G, o, steps, resid,
                breakdown):
    """Mesa on B sequences (§4.1–§4.2); prange over B.

    q, k [B, T, d_k], v [B, T, d_v], gamma, beta [B, T], lam [B, d_k] (Λ = diag(lam)); solver EXACT, CG or
    CG_DAMPED; tol (CG only), max_steps, init INIT_ZERO or INIT_JACOBI (CG modes), damping ε (CG_DAMPED).
    In/out H [B, d_k, d_k], G [B, d_v, d_k] (initial → final states). Out: o [B, T, d_v], steps [B, T] int64
    (CG steps taken; 0 for EXACT), resid [B, T] (‖q_t − (H_t + Λ) q*_t‖/‖q_t‖), breakdown [B, T] bool.
    """
    for b in prange(q.shape[0]):
        _mesa_sequence(q[b], k[b], v[b], gamma[b], beta[b], lam[b], solver, tol, max_steps, init, damping,
                       H[b], G[b], o[b], steps[b], resid[b], breakdown[b])


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"reassoc", "contract"})
def cg_kernel(A, b, tol, max_steps, init, damped, damping, x, steps, resid, breakdown):
    """CG (§4.2) on B independent SPD systems A [B, d, d] x = b [B, d]; prange over B.

    Out: x [B, d], steps [B] int64, resid [B] (true relative residual), breakdown [B] bool.
    """
    d = b.shape[1]
    for i in prange(b.shape[0]):
        r = np.empty(d)
        p = np.empty(d)
        Ap = np.empty(d)
        n, res, bad = _cg(A[i], b[i], x[i], r, p, Ap, tol, max_steps, init, damped, damping)
        steps[i] = n
        resid[i] = res
        breakdown[i] = bad

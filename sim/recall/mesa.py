"""The Mesa layer as a reference recurrence, and the CG solver it uses (test_time_memory.md §4.1–§4.3).

    H_t = γ_t H_{t−1} + β_t k_t k_tᵀ  [d_k, d_k],   G_t = γ_t G_{t−1} + β_t v_t k_tᵀ  [d_v, d_k]
    q*_t = (H_t + Λ)^{-1} q_t,   o_t = G_t q*_t  [d_v]     (Φ_t = G_t (H_t + Λ)^{-1} is never formed)

Λ = diag(lam) is not decayed. Solvers (§4.2):

- ``"exact"``: Cholesky solve; a non-positive pivot (H_t + Λ not numerically SPD, e.g. lam = 0 with fewer than
  d_k independent keys) gives NaN outputs and sets the breakdown flag.
- ``"cg"``: undamped CG, stops when ‖r‖ ≤ tol·‖q_t‖ or after ``max_steps`` steps; init ``"zero"`` or ``"jacobi"``
  (x_0 = q ⊘ (diag(H_t) + λ)), the same in every call (no prefill/decoding mismatch).
- ``"cg_damped"``: the public implementation's fixed-step iteration, α = δ/(pᵀAp + ε), β = δ_new/(δ_old + ε),
  δ = ‖r‖², ε = ``damping`` (1e-5 there), exactly ``max_steps`` steps (30 there), no tolerance test. It has an
  accuracy floor (§4.2; ``theory.recall.damped_cg_residual``).

Every token reports the CG steps taken (0 for the exact solve), the true final relative residual
‖q_t − (H_t + Λ) q*_t‖/‖q_t‖ and a breakdown flag (pᵀAp ≤ 0 or a non-finite scalar).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.recall import _inputs as inp
from sim.recall import kernels as K

SOLVERS = {"exact": K.EXACT, "cg": K.CG, "cg_damped": K.CG_DAMPED}
INITS = {"zero": K.INIT_ZERO, "jacobi": K.INIT_JACOBI}
DAMPING = 1e-5  # the public implementation's ε
DAMPED_STEPS = 30  # the public implementation's step count (training and decoding)


class SolveInfo(NamedTuple):
    """Per-solve diagnostics: steps [...] int (CG steps taken; 0 for an exact solve), residual [...]
    (‖b − A x‖/‖b‖, 0 for b = 0), breakdown [...] bool (A not numerically SPD)."""

    steps: np.ndarray
    residual: np.ndarray
    breakdown: np.ndarray


class _MesaPrepared(NamedTuple):
    seq: inp.Sequences
    gamma: np.ndarray
    beta: np.ndarray
    lam: np.ndarray
    solver: int
    tol: float
    max_steps: int
    init: int
    damping: float


def _solver_options(solver, tol, max_steps, init, damping, d):
    solver = SOLVERS[inp.choice("solver", solver, tuple(SOLVERS))]
    tol = inp.positive_scalar("tol", tol)
    if max_steps is None:
        max_steps = DAMPED_STEPS if solver == K.CG_DAMPED else 2 * d
    max_steps = inp.integer("max_steps", max_steps, 1)
    init = INITS[inp.choice("init", init, tuple(INITS))]
    damping = inp.positive_scalar("damping", damping)
    return solver, tol, max_steps, init, damping


def _mesa(q, k, v, gamma, beta, lam, solver, tol, max_steps, init, damping):
    seq = inp.sequences(q, k, v)
    gamma = inp.gate("gamma", gamma, seq, 0.0, 1.0)
    beta = inp.gate("beta", beta, seq, 0.0, 1.0)
    lam = inp.key_vector("lam", lam, seq, 0.0)
    opts = _solver_options(solver, tol, max_steps, init, damping, seq.d_k)
    return _MesaPrepared(seq, gamma, beta, lam, *opts)


def _mesa_states(seq, initial_state):
    if initial_state is None:
        return np.zeros((seq.B, seq.d_k, seq.d_k)), np.zeros((seq.B, seq.d_v, seq.d_k))
    if not isinstance(initial_state, (tuple, list)) or len(initial_state) != 2:
        raise ValueError("initial_state must be a pair (H_0 [..., d_k, d_k], G_0 [..., d_v, d_k])")
    H = inp.state("initial_state[0] (H_0)", initial_state[0], seq, (seq.d_k, seq.d_k))
    G = inp.state("initial_state[1] (G_0)", initial_state[1], seq, (seq.d_v, seq.d_k))
    scale = max(1.0, float(np.abs(H).max())) if H.size else 1.0
    if not np.allclose(H, np.swapaxes(H, -1, -2), rtol=0.0, atol=1e-12 * scale):
        raise ValueError("initial_state[0] (H_0) must be symmetric")
    return H, G


def _run_mesa(kernel, prep: _MesaPrepared, initial_state, return_state, return_info):
    seq = prep.seq
    H, G = _mesa_states(seq, initial_state)
    o = np.full((seq.B, seq.T, seq.d_v), np.nan)
    steps = np.full((seq.B, seq.T), -1, dtype=np.int64)
    resid = np.full((seq.B, seq.T), np.nan)
    breakdown = np.zeros((seq.B, seq.T), dtype=np.bool_)
    kernel(seq.q, seq.k, seq.v, prep.gamma, prep.beta, prep.lam, prep.solver, prep.tol, prep.max_steps,
           prep.init, prep.damping, H, G, o, steps, resid, breakdown)
    out = [inp.restore(o, seq.lead, (seq.T, seq.d_v))]
    if return_state:
        out.append((inp.restore(H, seq.lead, (seq.d_k, seq.d_k)), inp.restore(G, seq.lead, (seq.d_v, seq.d_k))))
    if return_info:
        out.append(SolveInfo(*(inp.restore(a, seq.lead, (seq.T,)) for a in (steps, resid, breakdown))))
    return out[0] if len(out) == 1 else tuple(out)


def mesa(q, k, v, gamma, beta, lam, solver="exact", tol=1e-10, max_steps=None, init="zero", damping=DAMPING,
         initial_state=None, return_state=False, return_info=False):
    """Mesa layer (§4.1): ``o_t = G_t (H_t + Λ)^{-1} q_t`` with the gated H, G recurrences of the module docstring.

    q, k [..., T, d_k], v [..., T, d_v]; gamma, beta in [0, 1] broadcast to [..., T] (β = 0 makes a read-only
    token, γ = 1 no forgetting); lam >= 0: a scalar, a [d_k] vector or [..., d_k] (Λ = diag(lam), per key channel).
    solver ``"exact"``, ``"cg"`` (tol > 0: relative-residual stop; max_steps, default 2·d_k) or ``"cg_damped"``
    (max_steps fixed, default 30; damping ε > 0, default 1e-5); init ``"zero"`` or ``"jacobi"`` (CG modes).
    initial_state: (H_0, G_0), default zeros.

    Returns o [..., T, d_v]; with ``return_state`` also (H_T, G_T); with ``return_info`` also a
    :class:`SolveInfo` of per-token arrays [..., T] — in that order, as a tuple.
    """
    prep = _mesa(q, k, v, gamma, beta, lam, solver, tol, max_steps, init, damping)
    return _run_mesa(K.mesa_kernel, prep, initial_state, return_state, return_info)


# ----------------------------------------------------------------------------------------------------------------
# stand-alone CG


def _cg_inputs(A, b, tol, max_steps, init, damped, damping):
    b = inp.finite_array("b", b, 1)
    A = inp.finite_array("A", A, 2)
    d = b.shape[-1]
    if d < 1:
        raise ValueError(f"b must have a last dimension >= 1, got shape {b.shape}")
    if A.shape[-2:] != (d, d):
        raise ValueError(f"A must have shape [..., d, d] with d = b.shape[-1] = {d}, got {A.shape}")
    lead = np.broadcast_shapes(A.shape[:-2], b.shape[:-1])
    A = inp.writable(np.broadcast_to(A, lead + (d, d)).reshape(-1, d, d))
    b = inp.writable(np.broadcast_to(b, lead + (d,)).reshape(-1, d))
    scale = max(1.0, float(np.abs(A).max())) if A.size else 1.0
    if not np.allclose(A, np.swapaxes(A, -1, -2), rtol=0.0, atol=1e-12 * scale):
        raise ValueError("A must be symmetric")
    if not isinstance(damped, (bool, np.bool_)):
        raise ValueError(f"damped must be True or False, got {damped!r}")
    solver = "cg_damped" if damped else "cg"
    _, tol, max_steps, init, damping = _solver_options(solver, tol, max_steps, init, damping, d)
    return A, b, lead, d, tol, max_steps, init, bool(damped), damping


def _run_cg(kernel, A, b, lead, d, tol, max_steps, init, damped, damping):
    n = b.shape[0]
    x = np.full((n, d), np.nan)
    steps = np.full(n, -1, dtype=np.int64)
    resid = np.full(n, np.nan)
    breakdown = np.zeros(n, dtype=np.bool_)
    kernel(A, b, tol, max_steps, init, damped, damping, x, steps, resid, breakdown)
    info = SolveInfo(steps.reshape(lead), resid.reshape(lead), breakdown.reshape(lead))
    return x.reshape(lead + (d,)), info


def cg_solve(A, b, tol=1e-10, max_steps=None, init="zero", damped=False, damping=DAMPING):
    """Conjugate gradients on SPD systems A x = b (§4.2), batched: A [..., d, d], b [..., d] (broadcast).

    Undamped (default): stop at ‖r‖ ≤ tol·‖b‖ or after max_steps (default 2·d) steps. ``damped=True``: the
    public implementation's fixed-step iteration with ε = damping (max_steps default 30). init ``"zero"`` or
    ``"jacobi"`` (x_0 = b ⊘ diag(A)). CG is deterministic, so the iterate after k steps is the result with
    ``max_steps=k`` and a tolerance that is not reached.

    Returns (x [..., d], :class:`SolveInfo` with arrays of shape [...]).
    """
    return _run_cg(K.cg_kernel, *_cg_inputs(A, b, tol, max_steps, init, damped, damping))

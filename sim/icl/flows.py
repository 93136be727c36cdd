"""Public population gradient flows of ATTN-M, MLP(z) and ATTN-S (icl_linear_attention.md §1.2, §4–§6).

Every model predicts ŷ_q = βᵀ M x_q and is trained on the exact population loss
L(M) = tr Λ − 2 tr(MΛ²) + tr(Mᵀ E[Λ̂²] M Λ) (un-halved, §4).

Integrators
- ``mode="gd"``: plain gradient descent with rate η on the un-halved loss, the official code's optimizer.
  Paper units: W ← W + 2η·dW/dt (Δt/τ = 2η per step).
- ``mode="rk4"``: classical RK4 of the gradient flow (τ = 1) with step ``dt`` in paper time.

Units (§1.2)
- ``units="paper"``: weights of the 1/N-normalized model; M = Σ_i v_i U_i (ATTN-M) or Σ_i v_i Σ_r k_{i,r} q_{i,r}ᵀ.
- ``units="code"``: weights of the official code (no 1/N); M = N·M_code. A GD step is W ← W − η ∂L/∂W_code, e.g.
  U_i ← U_i + 2ηN v_i G(N M_code); one step is Δt/τ = 2ηN (ATTN-M, MLP) or 2ηN^{2/3} (ATTN-S). In RK4 mode the
  code weights follow the same paper-time flow, W_code = W_paper/N^{1/2} (ATTN-M, MLP) or /N^{1/3} (ATTN-S).

Recording: the loss recorded at step s is the loss before update s (official code); records are taken every
``record_every`` steps and always at step 0 and at the last step ``steps − 1``; ``steps − 1`` updates are applied,
so the final weights are those of the last record. Weights, norms and conserved quantities are in the run's units;
the loss, M and the time t are in paper units. A non-finite loss stops that run and marks it ``diverged``; its
remaining records are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.icl import kernels
from theory._validate import count, positive_finite, spd_matrix
from theory.icl.moments import population_moments

MODES = ("gd", "rk4")
UNITS = ("paper", "code")


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Records of n independent population runs at T recorded steps.

    model: "attn_m", "mlp" or "attn_s"; mode, units: as passed; N: context length; dt_step: paper time t/τ of one
    step; steps [T] int (step index of each record); t [T] (paper time = steps·dt_step); loss [n, T];
    v [n, T, H] (value weights v_i, or w2 for the MLP);
    norms: ATTN-M {"U": ‖U_i‖_F [n, T, H]}, MLP {"W1": ‖W1[i]‖ [n, T, H]},
    ATTN-S {"k": ‖k_{i,r}‖, "q": ‖q_{i,r}‖ [n, T, H, R]};
    conserved: ATTN-M {"v2_minus_U2": v_i² − ‖U_i‖_F²}, MLP {"w2_minus_W1": w2_i² − ‖W1[i]‖²} [n, T, H];
    ATTN-S {"v2_minus_k2": v_i² − Σ_r ‖k_{i,r}‖² [n, T, H], "k2_minus_q2": ‖k_{i,r}‖² − ‖q_{i,r}‖² [n, T, H, R]};
    alignment: ATTN-S with record_alignment {"k": |cos(k_{i,r}, e_d)|, "q": |cos(q_{i,r}, e_d)|} [n, T, H, R, D],
    e_d the eigenvectors of Λ by descending eigenvalue (0 for a zero vector), else None;
    M: effective M (paper scale) [n, T, D, D] with record_M, else None;
    final: final weights in the run's units, {"v", "U"}, {"w2", "W1"} or {"v", "K", "Q"};
    diverged [n] bool.
    """

    model: str
    mode: str
    units: str
    N: int
    dt_step: float
    steps: np.ndarray
    t: np.ndarray
    loss: np.ndarray
    v: np.ndarray
    norms: dict
    conserved: dict
    alignment: dict | None
    M: np.ndarray | None
    final: dict
    diverged: np.ndarray

    def crossings(self, levels) -> np.ndarray:
        """First recorded step with loss below each level, per run [n, len(levels)] (NaN if never)."""
        return crossings(self, levels)


def crossings(traj: Trajectory, levels) -> np.ndarray:
    """First recorded step at which the loss is below each level [n, len(levels)], NaN where never reached.

    The resolution is the recording interval. For ATTN-S plateau timing (§11) pass
    ``midpoint_levels(L(M_0), …, L(M_D))``: c_m = first step with loss below (L(M_m) + L(M_{m+1}))/2.
    """
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    if levels.ndim != 1 or not np.all(np.isfinite(levels)):
        raise ValueError("levels must be a finite 1-D sequence of loss values")
    below = traj.loss[:, :, None] < levels[None, None, :]  # NaN compares False
    hit = below.any(axis=1)
    first = np.argmax(below, axis=1)
    return np.where(hit, traj.steps[first].astype(float), np.nan)


def midpoint_levels(plateaus) -> np.ndarray:
    """Levels (L_m + L_{m+1})/2 between consecutive plateau losses L_0 > L_1 > … [len − 1]."""
    p = np.asarray(plateaus, dtype=float)
    if p.ndim != 1 or p.size < 2 or not np.all(np.isfinite(p)):
        raise ValueError("plateaus must be a finite 1-D sequence of at least 2 losses")
    return 0.5 * (p[:-1] + p[1:])


def plateau_dwell(c) -> np.ndarray:
    """Dwell on each plateau from crossings c [..., m]: dwell(0) = c_0, dwell(m) = c_m − c_{m−1} (§11)."""
    c = np.asarray(c, dtype=float)
    if c.ndim == 0 or c.shape[-1] == 0:
        raise ValueError("crossings must have a non-empty last axis")
    return np.concatenate([c[..., :1], np.diff(c, axis=-1)], axis=-1)


# ----------------------------------------------------------------------------------------------------------------
# validation and step parameters


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _step(degree, N, eta, dt, mode, units):
    """(h, rk4, dt_step, mscale) for a model whose M has degree ``degree`` in the weights (2 ATTN-M, 3 ATTN-S)."""
    _choice("mode", mode, MODES)
    _choice("units", units, UNITS)
    if mode == "gd":
        if eta is None:
            raise ValueError("eta must be given (> 0) for mode='gd'")
        if dt is not None:
            raise ValueError("dt is for mode='rk4'; give eta only for mode='gd'")
        eta = float(positive_finite("eta", eta))
    else:
        if dt is None:
            raise ValueError("dt must be given (> 0) for mode='rk4'")
        if eta is not None:
            raise ValueError("eta is for mode='gd'; give dt only for mode='rk4'")
        dt = float(positive_finite("dt", dt))
    code = units == "code"
    mscale = float(N) if code else 1.0
    if mode == "gd":
        h = 2.0 * eta * N if code else 2.0 * eta
        dt_step = 2.0 * eta * N ** (2.0 / degree) if code else 2.0 * eta
        return h, False, dt_step, mscale
    # W_code = W_paper/N^{1/degree}: dW_code/dt = N^{(degree-2)/degree} f(W_code) with G at M = N M_code
    h = dt * N ** ((degree - 2.0) / degree) if code else dt
    return h, True, dt, mscale


def _rec_steps(steps, record_every):
    steps = count("steps", steps)
    record_every = count("record_every", record_every)
    return np.unique(np.r_[np.arange(0, steps, record_every), steps - 1]).astype(np.int64)


def _weights(name, a, ndim):
    """float64 C-contiguous copy with a leading run axis (a single run may omit it)."""
    a = np.array(a, dtype=float, copy=True)
    if a.ndim == ndim - 1:
        a = a[None]
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes [n_runs, ...] (or {ndim - 1} for one run), got {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return np.ascontiguousarray(a)


def _out(shape, fill):
    return np.empty(shape) if fill is None else np.full(shape, fill, dtype=float)


def _setup(Lam, N):
    Lam = spd_matrix("Lam", Lam)
    N = count("N", N)
    mom = population_moments(Lam, N)
    return N, mom


# ----------------------------------------------------------------------------------------------------------------
# drivers shared by the numba and the naive paths (``kernel`` is the only difference)


def _attn_m_like(model, kernel, Lam, N, v0, U0, steps, eta, dt, mode, units, record_every, record_M, fill):
    N, mom = _setup(Lam, N)
    D = mom.Lam.shape[0]
    vname, Uname = ("w2", "W1") if model == "mlp" else ("v0", "U0")
    v = _weights(vname, v0, 2)
    U = _weights(Uname, U0, 3 if model == "mlp" else 4)
    n, H = v.shape
    tail = (H, D * D) if model == "mlp" else (H, D, D)
    if U.shape != (n,) + tail:
        raise ValueError(f"{Uname} must have shape {(n,) + tail} to match {vname} {v.shape} and Lam {D}x{D}, "
                         f"got {U.shape}")
    h, rk4, dt_step, mscale = _step(2, N, eta, dt, mode, units)
    rec = _rec_steps(steps, record_every)
    T = rec.shape[0]
    loss = _out((n, T), fill)
    v_rec = _out((n, T, H), fill)
    norm_rec = _out((n, T, H), fill)
    cons_rec = _out((n, T, H), fill)
    M_rec = _out((n, T if record_M else 0, D, D), fill)
    diverged = np.zeros(n, dtype=np.bool_)
    kernel(mom.Lam, mom.Lam2, mom.S2, float(mom.trLam), mscale, h, rk4, rec, v, U,
           loss, v_rec, norm_rec, cons_rec, M_rec, diverged)
    if model == "mlp":
        norms, conserved, final = {"W1": norm_rec}, {"w2_minus_W1": cons_rec}, {"w2": v, "W1": U}
    else:
        norms, conserved, final = {"U": norm_rec}, {"v2_minus_U2": cons_rec}, {"v": v, "U": U}
    return Trajectory(model, mode, units, N, dt_step, rec, rec * dt_step, loss, v_rec, norms, conserved, None,
                      M_rec if record_M else None, final, diverged)


def _attn_m(kernel, Lam, N, v0, U0, steps, eta, dt, mode, units, record_every, record_M, fill=None):
    return _attn_m_like("attn_m", kernel, Lam, N, v0, U0, steps, eta, dt, mode, units, record_every, record_M,
                        fill)


def _mlp(kernel, Lam, N, w2, W1, steps, eta, dt, mode, units, record_every, record_M, fill=None):
    return _attn_m_like("mlp", kernel, Lam, N, w2, W1, steps, eta, dt, mode, units, record_every, record_M, fill)


def _attn_s(kernel, Lam, N, v0, K0, Q0, steps, eta, dt, mode, units, record_every, record_M, record_alignment,
            fill=None):
    N, mom = _setup(Lam, N)
    D = mom.Lam.shape[0]
    v = _weights("v0", v0, 2)
    K = _weights("K0", K0, 4)
    Q = _weights("Q0", Q0, 4)
    n, H = v.shape
    if K.shape[:2] != (n, H) or K.shape[3] != D:
        raise ValueError(f"K0 must have shape ({n}, {H}, R, {D}) to match v0 {v.shape} and Lam {D}x{D}, "
                         f"got {K.shape}")
    if Q.shape != K.shape:
        raise ValueError(f"Q0 must have the shape of K0 {K.shape}, got {Q.shape}")
    R = K.shape[2]
    h, rk4, dt_step, mscale = _step(3, N, eta, dt, mode, units)
    rec = _rec_steps(steps, record_every)
    T = rec.shape[0]
    E = np.ascontiguousarray(np.linalg.eigh(mom.Lam)[1][:, ::-1])  # e_d by descending eigenvalue
    loss = _out((n, T), fill)
    v_rec = _out((n, T, H), fill)
    kn = _out((n, T, H, R), fill)
    qn = _out((n, T, H, R), fill)
    cvk = _out((n, T, H), fill)
    ckq = _out((n, T, H, R), fill)
    M_rec = _out((n, T if record_M else 0, D, D), fill)
    Ta = T if record_alignment else 0
    ak = _out((n, Ta, H, R, D), fill)
    aq = _out((n, Ta, H, R, D), fill)
    diverged = np.zeros(n, dtype=np.bool_)
    kernel(mom.Lam, mom.Lam2, mom.S2, float(mom.trLam), mscale, h, rk4, rec, E, v, K, Q,
           loss, v_rec, kn, qn, cvk, ckq, M_rec, ak, aq, diverged)
    return Trajectory("attn_s", mode, units, N, dt_step, rec, rec * dt_step, loss, v_rec, {"k": kn, "q": qn},
                      {"v2_minus_k2": cvk, "k2_minus_q2": ckq},
                      {"k": ak, "q": aq} if record_alignment else None,
                      M_rec if record_M else None, {"v": v, "K": K, "Q": Q}, diverged)


# ----------------------------------------------------------------------------------------------------------------
# public API


def attn_m_flow(Lam, N, v0, U0, steps, eta=None, dt=None, mode="gd", units="paper", record_every=1,
                record_M=False) -> Trajectory:
    """Population GD / gradient flow of ATTN-M with H heads (§3.1, Eq. 8 in matrix form, §5.1).

    Lam [D, D] SPD; N >= 1; v0 [n, H]; U0 [n, H, D, D] (a single run may omit the n axis); steps >= 1 recorded
    step indices 0..steps−1; eta > 0 (mode "gd") or dt > 0 (mode "rk4", paper time); units "paper" or "code"
    (§1.2); record_every >= 1; record_M: also record the effective M [n, T, D, D]. Returns a ``Trajectory``.
    """
    return _attn_m(kernels.attn_m_kernel, Lam, N, v0, U0, steps, eta, dt, mode, units, record_every, record_M)


def mlp_flow(Lam, N, w2, W1, steps, eta=None, dt=None, mode="gd", units="paper", record_every=1,
             record_M=False) -> Trajectory:
    """Population GD / gradient flow of the width-H two-layer linear network on z = x_q ⊗ β (§3.3, Eqs. 6–8).

    w2 [n, H]; W1 [n, H, D²] with row i = vec(U_i) column-major (U_i = W1[i].reshape(D, D, order="F")), so the run
    is ATTN-M's under that mapping. Other arguments as ``attn_m_flow``.
    """
    return _mlp(kernels.mlp_kernel, Lam, N, w2, W1, steps, eta, dt, mode, units, record_every, record_M)


def attn_s_flow(Lam, N, v0, K0, Q0, steps, eta=None, dt=None, mode="gd", units="paper", record_every=1,
                record_M=False, record_alignment=False) -> Trajectory:
    """Population GD / gradient flow of ATTN-S with H heads of rank R (§3.2, §6.1).

    v0 [n, H]; K0, Q0 [n, H, R, D] (rows k_{i,r}, q_{i,r}; a single run may omit the n axis);
    record_alignment: record |cos(k_{i,r}, e_d)|, |cos(q_{i,r}, e_d)| [n, T, H, R, D]. Other arguments as
    ``attn_m_flow``; in code units one GD step is Δt/τ = 2ηN^{2/3}.
    """
    return _attn_s(kernels.attn_s_kernel, Lam, N, v0, K0, Q0, steps, eta, dt, mode, units, record_every,
                   record_M, record_alignment)

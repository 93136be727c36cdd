"""ATTN_M (merged key-query linear attention) and its equivalent MLP on cubic features (icl_linear_attention.md §5).

Paper units: τ = 1, 1/N-normalized attention, un-halved MSE. Head i carries U_i [D, D] and a value weight
v_i; the model's matrix is M = Σ_i v_i U_i and ŷ_q = βᵀ M x_q.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from theory._validate import count, positive_finite, spd_matrix
from theory.icl import derivations as der
from theory.icl import units
from theory.icl.modes import check_eigvals, eigh_descending, mode_function
from theory.icl.moments import Moments, error_signal


def _check_moments(mom) -> Moments:
    if not isinstance(mom, Moments):
        raise ValueError(f"mom must be a Moments from population_moments(Lam, N), got {type(mom).__name__}")
    return mom


def _heads_attn_m(U, v, D=None) -> tuple[np.ndarray, np.ndarray]:
    U = np.asarray(U, dtype=float)
    v = np.asarray(v, dtype=float)
    if U.ndim != 3 or U.shape[1] != U.shape[2]:
        raise ValueError(f"U must have shape [H, D, D], got {U.shape}")
    if D is not None and U.shape[1] != D:
        raise ValueError(f"U must have shape [H, {D}, {D}] to match Lam, got {U.shape}")
    if v.shape != (U.shape[0],):
        raise ValueError(f"v must have shape [H] = [{U.shape[0]}], got {v.shape}")
    return U, v


def attn_m_rhs(U, v, mom: Moments) -> tuple[np.ndarray, np.ndarray]:
    """Gradient-flow velocities of ATTN_M (Eq. 8, matrix form of §5.1), τ = 1.

    dU_i/dt = v_i G(M), dv_i/dt = ⟨U_i, G(M)⟩_F with M = Σ_i v_i U_i and G(M) = Λ² − E[Λ̂²] M Λ.
    U [H, D, D], v [H] → (dU [H, D, D], dv [H]).
    """
    mom = _check_moments(mom)
    U, v = _heads_attn_m(U, v, mom.Lam.shape[0])
    G = error_signal(np.einsum("h,hij->ij", v, U), mom)
    return v[:, None, None] * G, np.einsum("hij,ij->h", U, G)


def attn_m_conserved(U, v) -> np.ndarray:
    """Per-head conserved quantity v_i² − ‖U_i‖_F² of the ATTN_M flow (§5.2) [H]."""
    U, v = _heads_attn_m(U, v)
    return v**2 - np.einsum("hij,hij->h", U, U)


def optimal_matrix(Lam, N) -> np.ndarray:
    """Γ* = (Λ + (Λ + tr Λ·I)/N)⁻¹ [D, D], the global minimizer of L(M) (Eq. 11, §5.5).

    Built on the eigenbasis of Λ with the derived coefficient Γ*_dd = 1/(λ_d κ_d).
    """
    lams, V = eigh_descending(Lam)
    N = count("N", N)
    gamma = mode_function("gamma", lams, float(lams.sum()), N)
    out = (V * gamma) @ V.T
    return 0.5 * (out + out.T)


def final_loss(eigvals, N) -> float:
    """L* = tr Λ − Σ_d λ_d/κ_d, the loss at Γ* (§5.5; Eq. 19 at m = D); eigenvalues in any order."""
    lams = check_eigvals(eigvals)
    N = count("N", N)
    tr = float(lams.sum())
    return float(tr - mode_function("drop", lams, tr, N).sum())


# ---------------------------------------------------------------------------------------------------------
# §5.4: Λ = cI, aligned balanced init
# ---------------------------------------------------------------------------------------------------------


@functools.cache
def _white_fns() -> dict:
    sol = der.derive_white_solution()
    params = (der.D, der.N, der.w_init, der.c)
    lf = functools.partial(sp.lambdify, modules="numpy", cse=True)
    return {
        "r": lf(params, sol.r),
        "sigma_of_decay": lf((sol.decay_symbol, *params), sol.sigma_of_decay),
        "loss_of_sigma": lf((sol.sigma_symbol, der.D, der.N, der.c), sol.loss_of_sigma),
        "t_half": lf(params, sol.t_half),
        "t_mid": lf(params, sol.t_mid),
    }


def _scalar(name, x, *, allow_zero=False) -> float:
    a = positive_finite(name, x, allow_zero=allow_zero)
    if a.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {a.shape}")
    return float(a)


def _white_params(D, N, w_init, c):
    return count("D", D), count("N", N), _scalar("w_init", w_init), _scalar("c", c)


def _output(x, like):
    x = np.asarray(x, dtype=float)
    return float(x) if np.ndim(like) == 0 else x


def sigma_white(t, D, N, w_init, c=1.0):
    """σ(t) with M(t) = σ(t)·I for Λ = cI from the aligned balanced init (Eq. 10 and its cI form, §5.4).

    σ(t) = e^{rt} / [cκ(e^{rt} − 1) + √D/w_init²], r = 2c²√D, κ = 1 + (1 + D)/N; σ(0) = w_init²/√D,
    σ(∞) = 1/(cκ). t [τ] >= 0, scalar or array; the result has the shape of t.
    """
    D, N, w, c = _white_params(D, N, w_init, c)
    tt = positive_finite("t", t, allow_zero=True)
    fns = _white_fns()
    decay = np.exp(-fns["r"](D, N, w, c) * tt)
    return _output(fns["sigma_of_decay"](decay, D, N, w, c), t)


def loss_white(t, D, N, w_init, c=1.0):
    """L(t) = Dc − 2Dc²σ + Dc³κσ² along ``sigma_white`` (§5.4): from ≈ Dc down to Dc(D+1)/(N+D+1)."""
    sigma = sigma_white(t, D, N, w_init, c)
    D, N, _, c = _white_params(D, N, w_init, c)
    return _output(_white_fns()["loss_of_sigma"](np.asarray(sigma), D, N, c), t)


def _white_marker(name, level, D, N, w_init, c):
    D, N, w, c = _white_params(D, N, w_init, c)
    kap = 1.0 + (1.0 + D) / N
    # σ(0) = w²/√D must lie below the marker level for the crossing to happen at t > 0
    w_max = np.sqrt(np.sqrt(D) * level / (c * kap))
    if w >= w_max:
        raise ValueError(f"w_init must be in (0, {w_max:.6g}) so that {name} > 0, got {w_init!r}")
    return float(_white_fns()[name](D, N, w, c))


def t_half(D, N, w_init, c=1.0) -> float:
    """t_1/2 [τ]: σ = σ(∞)/2 (3/4 of the loss drop done) = (1/r) ln(√D/(cκ w_init²) − 1) (§5.4)."""
    return _white_marker("t_half", 0.5, D, N, w_init, c)


def t_mid(D, N, w_init, c=1.0) -> float:
    """t_mid [τ]: loss at the midpoint of its drop = (1/r) ln[(√2 − 1)(√D/(cκ w_init²) − 1)] (§5.4)."""
    return _white_marker("t_mid", 1.0 - 1.0 / np.sqrt(2.0), D, N, w_init, c)


def aligned_balanced_attn_m(D, H, w_init, c=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Init for which ``sigma_white`` is exact: U_i = v_i I/√D, v_i = w_init/√H (‖v‖ = ‖W_1‖_F = w_init).

    I/√D is the direction Λ²/‖Λ²‖_F of E[y_q z] for Λ = cI, the same for every c > 0 (c is validated so the
    call documents the covariance it is meant for). Returns U [H, D, D], v [H].
    """
    D, H = count("D", D), count("H", H)
    w = _scalar("w_init", w_init)
    _scalar("c", c)
    v = np.full(H, w / np.sqrt(H))
    U = v[:, None, None] * np.eye(D)[None] / np.sqrt(D)
    return U, v


# ---------------------------------------------------------------------------------------------------------
# §5.3: escape time
# ---------------------------------------------------------------------------------------------------------


def _lam2_norm(Lam) -> float:
    return float(np.linalg.norm(np.linalg.matrix_power(spd_matrix("Lam", Lam), 2)))


def attn_m_escape_time(Lam, w_init) -> float:
    """ln(1/w_init)/‖Λ²‖_F [τ] (§5.3): the top mode of the flow linearized at 0 grows at rate ‖Λ²‖_F.

    w_init [paper units] is the initial ℓ2 norm of one layer, in (0, 1).
    """
    norm = _lam2_norm(Lam)
    w = _scalar("w_init", w_init)
    if w >= 1.0:
        raise ValueError(f"w_init must be in (0, 1), got {w_init!r}")
    return float(np.log(1.0 / w) / norm)


def attn_m_escape_steps_code(Lam, N, eta, w_init_code) -> float:
    """Escape time in official-code GD steps: ln(1/(√N w_init,code)) / (2ηN‖Λ²‖_F) (§5.3).

    ``eta`` and ``w_init_code`` are code units (no 1/N in attention); √N·w_init,code must be < 1.
    """
    N = count("N", N)
    w = _scalar("w_init_code", w_init_code)
    w_paper = units.paper_weights(w, N, "attn_m")
    if w_paper >= 1.0:
        raise ValueError(f"w_init_code must be in (0, {1 / np.sqrt(N):.6g}) (√N·w_init_code < 1), got {w_init_code!r}")
    return float(units.time_to_steps(attn_m_escape_time(Lam, w_paper), eta, N, "attn_m", "code"))


def attn_m_escape_slope_code(Lam, N, eta) -> float:
    """d(escape steps)/d ln(1/init) = 1/(2ηN‖Λ²‖_F) in official-code steps (§5.3, claim #13)."""
    norm = _lam2_norm(Lam)
    N = count("N", N)
    return float(1.0 / (units.time_per_step(eta, N, "attn_m", "code") * norm))

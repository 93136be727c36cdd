"""Initial weights of the population runs (icl_linear_attention.md §3.6, §5.4, §6.4).

Random inits draw from ``numpy.random.default_rng(seed)`` and return arrays with a leading n_runs axis, in the
order the flows take them. The official code's inits are defined in its own (code) units; ``units="paper"``
rescales them by the §1.2 map: W_paper = N^{1/2} W_code (ATTN-M, MLP) or N^{1/3} W_code (ATTN-S).
The official W^K, W^Q of ATTN-S have D + 1 columns, but the y-column (b_{i,r}) is zeroed and never enters ŷ_q;
only the D x-part entries are drawn here, with the stated standard deviation.
"""

from __future__ import annotations

import numpy as np

from theory._validate import count, positive_finite, spd_matrix

SCHEMES = ("paper", "dec2025")


def _scale(units, N, degree):
    if units not in ("paper", "code"):
        raise ValueError(f"units must be one of ('paper', 'code'), got {units!r}")
    if units == "code":
        return 1.0
    if N is None:
        raise ValueError("N (context length >= 1) must be given for units='paper'")
    return float(count("N", N)) ** (1.0 / degree)


def init_attn_m(n_runs, H, D, init, seed, units="code", N=None):
    """ATTN-M init of the official code: every entry of U_i and v_i ~ N(0, init²) (§3.6; Fig. 1 uses 1e-6).

    Returns v [n_runs, H], U [n_runs, H, D, D] (U drawn first). ``units="paper"`` multiplies by √N.
    """
    n_runs, H, D = count("n_runs", n_runs), count("H", H), count("D", D)
    init = float(positive_finite("init", init, allow_zero=True))
    c = init * _scale(units, N, 2)
    rng = np.random.default_rng(seed)
    U = c * rng.standard_normal((n_runs, H, D, D))
    v = c * rng.standard_normal((n_runs, H))
    return v, U


def init_mlp(n_runs, H, D, init, seed, units="code", N=None):
    """MLP(z) init of the official code: both layers N(0, init²) (§3.6; default 0.01).

    Returns w2 [n_runs, H], W1 [n_runs, H, D²] (W1 drawn first). ``units="paper"`` multiplies by √N.
    """
    n_runs, H, D = count("n_runs", n_runs), count("H", H), count("D", D)
    init = float(positive_finite("init", init, allow_zero=True))
    c = init * _scale(units, N, 2)
    rng = np.random.default_rng(seed)
    W1 = c * rng.standard_normal((n_runs, H, D * D))
    w2 = c * rng.standard_normal((n_runs, H))
    return w2, W1


def init_attn_s(n_runs, H, R, D, init, seed, scheme="paper", units="code", N=None):
    """ATTN-S init of the official code (§3.6). Returns v [n_runs, H], K, Q [n_runs, H, R, D].

    scheme "paper" (paper era, package default): k, q entries N(0, init²/(R(D+1))), v ~ N(0, init²);
    scheme "dec2025": k, q std init/√(H R (D+1)), v std init/√(H (D+1)²). Draw order K, Q, v.
    ``units="paper"`` multiplies by N^{1/3}.
    """
    n_runs, H, R, D = count("n_runs", n_runs), count("H", H), count("R", R), count("D", D)
    init = float(positive_finite("init", init, allow_zero=True))
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    c = _scale(units, N, 3)
    if scheme == "paper":
        s_kq, s_v = init / np.sqrt(R * (D + 1)), init
    else:
        s_kq, s_v = init / np.sqrt(H * R * (D + 1)), init / np.sqrt(H * (D + 1) ** 2)
    rng = np.random.default_rng(seed)
    K = c * s_kq * rng.standard_normal((n_runs, H, R, D))
    Q = c * s_kq * rng.standard_normal((n_runs, H, R, D))
    v = c * s_v * rng.standard_normal((n_runs, H))
    return v, K, Q


def _top_eigvec(Lam):
    Lam = spd_matrix("Lam", Lam)
    return np.linalg.eigh(Lam)[1][:, -1]


def aligned_attn_s_single_head(H, R, D, v0, Lam):
    """Aligned, balanced single-head ATTN-S init (§6.4): head 0 has v = v0, k_{0,0} = q_{0,0} = v0·e_1 (e_1 the top
    eigenvector of Λ); all other weights 0. Along it v(t) follows Eq. 21 exactly. Returns v [1, H], K, Q [1, H, R, D].
    """
    H, R, D = count("H", H), count("R", R), count("D", D)
    v0 = float(positive_finite("v0", v0))
    e1 = _top_eigvec(Lam)
    if e1.shape[0] != D:
        raise ValueError(f"Lam must be {D}x{D} to match D={D}, got {e1.shape[0]}x{e1.shape[0]}")
    v = np.zeros((1, H))
    K = np.zeros((1, H, R, D))
    v[0, 0] = v0
    K[0, 0, 0] = v0 * e1
    return v, K, K.copy()


def aligned_attn_m(H, D, w_init):
    """Aligned, balanced ATTN-M init of §5.4: v_i = w_init/√H, U_i = v_i I/√D, so ‖v‖ = w_init,
    v_i² = ‖U_i‖_F² and M(0) = w_init² I/√D (σ(0) = w_init²/√D of Eq. 10). Returns v [1, H], U [1, H, D, D]."""
    H, D = count("H", H), count("D", D)
    w_init = float(positive_finite("w_init", w_init))
    v = np.full((1, H), w_init / np.sqrt(H))
    U = v[:, :, None, None] * np.eye(D) / np.sqrt(D)
    return v, U

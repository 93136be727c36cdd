"""Population moments of in-context linear regression (icl_linear_attention.md §4).

Paper units: x ~ N(0, Λ), w ~ N(0, I_D), β = Λ̂ w with Λ̂ = (1/N) Σ_n x_n x_nᵀ.
Every model of the paper predicts ŷ_q = βᵀ M x_q; the loss and error signal below are exact population
quantities (un-halved MSE).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from theory._validate import count, spd_matrix


class Moments(NamedTuple):
    """Exact population moments for covariance Λ [D, D] and context length N."""

    Lam: np.ndarray  # Λ [D, D]
    Lam2: np.ndarray  # Λ² = E[y_q β x_qᵀ] [D, D]
    S2: np.ndarray  # E[Λ̂²] = E[ββᵀ] = Λ² + (Λ + tr Λ·I)Λ/N [D, D]
    trLam: float  # tr Λ = E[y_q²]


def population_moments(Lam, N) -> Moments:
    """Λ², E[Λ̂²] and tr Λ for a symmetric positive-definite Λ [D, D] and N >= 1 context pairs (§4)."""
    Lam = spd_matrix("Lam", Lam)
    N = count("N", N)
    D = Lam.shape[0]
    tr = float(np.trace(Lam))
    Lam2 = Lam @ Lam
    S2 = Lam2 + (Lam + tr * np.eye(D)) @ Lam / N
    return Moments(Lam, Lam2, 0.5 * (S2 + S2.T), tr)


def loss(M, mom: Moments) -> float:
    """L(M) = tr Λ − 2 tr(MΛ²) + tr(Mᵀ E[Λ̂²] M Λ) for M [D, D] (§4, un-halved)."""
    M = np.asarray(M, dtype=float)
    return float(mom.trLam - 2.0 * np.trace(M @ mom.Lam2) + np.trace(M.T @ mom.S2 @ M @ mom.Lam))


def error_signal(M, mom: Moments) -> np.ndarray:
    """G(M) = −½ ∂L/∂M = Λ² − E[Λ̂²] M Λ [D, D] (the bracket of Eqs. 8 and 14)."""
    M = np.asarray(M, dtype=float)
    return mom.Lam2 - mom.S2 @ M @ mom.Lam

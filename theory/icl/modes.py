"""Per-eigenmode quantities of Λ shared by ATTN_M and ATTN_S (icl_linear_attention.md §1, §5.5, §6.2–6.3).

Each function of one eigenvalue λ (with tr Λ and N) is the lambdified ``derive_mode_solution``; the helpers
here validate spectra and covariance matrices and order eigenpairs by descending eigenvalue (d = 1..D of
the spec is index d − 1 here). Paper units.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from theory._validate import count, positive_finite, spd_matrix
from theory.icl import derivations as der


@functools.cache
def _mode_fns() -> dict:
    sol = der.derive_mode_solution()
    args = (der.lam, der.trLam, der.N)
    return {
        name: sp.lambdify(args, getattr(sol, name), modules="numpy", cse=True)
        for name in ("kappa", "gamma", "drop", "head_magnitude")
    }


def mode_function(name: str, lams: np.ndarray, trLam: float, N: int) -> np.ndarray:
    """Evaluate the lambdified per-mode quantity ``name`` on validated eigenvalues ``lams`` [D]."""
    return np.asarray(_mode_fns()[name](lams, trLam, N), dtype=float) * np.ones_like(lams)


def check_eigvals(eigvals, name: str = "eigvals") -> np.ndarray:
    """Return a validated 1-D spectrum [D] (positive, finite), in the given order."""
    lams = positive_finite(name, eigvals)
    if lams.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of eigenvalues, got shape {lams.shape}")
    return lams


def sorted_eigvals(eigvals, name: str = "eigvals") -> np.ndarray:
    """Return a validated spectrum sorted in descending order [D]."""
    return np.sort(check_eigvals(eigvals, name))[::-1].copy()


def eigh_descending(Lam, name: str = "Lam") -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of a validated SPD Λ [D, D]: eigenvalues [D] descending and unit eigenvectors as columns."""
    Lam = spd_matrix(name, Lam)
    w, V = np.linalg.eigh(Lam)
    order = np.argsort(w)[::-1]
    return w[order], V[:, order]


def kappa(eigvals, N) -> np.ndarray:
    """κ_d = 1 + (1 + tr Λ/λ_d)/N for each eigenvalue (§1), in the order given [D].

    E[Λ̂²] e_d = λ_d² κ_d e_d (§4): κ_d is the input variance of mode d after the finite-context noise.
    """
    lams = check_eigvals(eigvals)
    N = count("N", N)
    return mode_function("kappa", lams, float(lams.sum()), N)

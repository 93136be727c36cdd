"""Input validation shared by the public helpers: one ``ValueError`` naming the parameter and its range."""

from __future__ import annotations

import numpy as np


def positive_finite(name: str, x, *, allow_zero: bool = False) -> np.ndarray:
    """Return ``x`` as a float64 array after checking every entry is finite and > 0 (>= 0 if allowed)."""
    a = np.asarray(x, dtype=float)
    if a.size == 0:
        raise ValueError(f"{name} must be non-empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if allow_zero:
        if np.any(a < 0):
            raise ValueError(f"{name} must be >= 0, got {x!r}")
    elif np.any(a <= 0):
        raise ValueError(f"{name} must be > 0, got {x!r}")
    return a


def count(name: str, n, *, minimum: int = 1) -> int:
    """Return ``n`` as an int after checking it is an integer >= ``minimum``."""
    if isinstance(n, bool) or not float(n).is_integer() or int(n) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def spd_matrix(name: str, A, *, rtol: float = 1e-10) -> np.ndarray:
    """Return ``A`` [D, D] as float64 after checking it is finite, symmetric and positive definite."""
    a = np.asarray(A, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    scale = max(1.0, float(np.max(np.abs(a))))
    if not np.allclose(a, a.T, rtol=0.0, atol=rtol * scale):
        raise ValueError(f"{name} must be symmetric")
    if np.linalg.eigvalsh(a).min() <= 0:
        raise ValueError(f"{name} must be positive definite")
    return 0.5 * (a + a.T)

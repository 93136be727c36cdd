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


# ---------------------------------------------------------------------------------------------------------
# Vectorised checks (array in, float64 array out), shared by the theory.memory and theory.selective helpers.
def _as_float(name: str, x) -> np.ndarray:
    """``x`` as a non-empty float64 array; booleans and non-numeric input are rejected."""
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number or array of real numbers, got {x!r}")
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or array of real numbers, got {x!r}") from None
    if a.size == 0:
        raise ValueError(f"{name} must be non-empty")
    return a


def finite(name: str, x) -> np.ndarray:
    """Finite reals, as float64."""
    a = _as_float(name, x)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return a


def at_least(name: str, x, lower: float, *, strict: bool = False) -> np.ndarray:
    """Finite reals in [lower, ∞) (or (lower, ∞) when ``strict``)."""
    a = finite(name, x)
    if np.any(a <= lower if strict else a < lower):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} {lower:g}, got {x!r}")
    return a


def open_interval(name: str, x, lower: float, upper: float) -> np.ndarray:
    """Finite reals in the open interval (lower, upper)."""
    a = finite(name, x)
    if np.any((a <= lower) | (a >= upper)):
        raise ValueError(f"{name} must be in ({lower:g}, {upper:g}), got {x!r}")
    return a


def integers(name: str, x, minimum: int) -> np.ndarray:
    """Integer-valued entries >= ``minimum``, returned as float64 (exact up to 2^53); booleans are rejected."""
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    a = _as_float(name, x)
    if not np.all(np.isfinite(a)) or np.any(a != np.round(a)) or np.any(a < minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return a


def out(a):
    """A Python float for a 0-d result, the float64 array otherwise."""
    a = np.asarray(a, dtype=float)
    return float(a) if a.ndim == 0 else a

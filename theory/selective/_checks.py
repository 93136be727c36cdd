"""Vectorised input checks for the selective-attention helpers (each raises one ``ValueError`` naming the
parameter and its valid range)."""

from __future__ import annotations

import numpy as np


def _as_float(name: str, x) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or array of real numbers, got {x!r}") from None
    if a.size == 0:
        raise ValueError(f"{name} must be non-empty")
    return a


def finite(name: str, x) -> np.ndarray:
    """Any finite real (−∞, ∞)."""
    a = _as_float(name, x)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (in (-inf, inf)), got {x!r}")
    return a


def at_least(name: str, x, lower: float, *, strict: bool = False) -> np.ndarray:
    """Finite reals in [lower, ∞) (or (lower, ∞) when strict)."""
    a = finite(name, x)
    bad = a <= lower if strict else a < lower
    if np.any(bad):
        bracket = "(" if strict else "["
        raise ValueError(f"{name} must be in {bracket}{lower:g}, inf), got {x!r}")
    return a


def open_interval(name: str, x, lower: float, upper: float) -> np.ndarray:
    """Finite reals in the open interval (lower, upper)."""
    a = finite(name, x)
    if np.any((a <= lower) | (a >= upper)):
        raise ValueError(f"{name} must be in ({lower:g}, {upper:g}), got {x!r}")
    return a


def integers(name: str, x, minimum: int) -> np.ndarray:
    """Integer-valued entries >= minimum, returned as float64 so large n stays exact up to 2^53."""
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    a = _as_float(name, x)
    if not np.all(np.isfinite(a)) or np.any(a != np.round(a)) or np.any(a < minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return a


def out(a):
    """Return a Python float for a 0-d result, the array otherwise."""
    a = np.asarray(a, dtype=float)
    return float(a) if a.ndim == 0 else a

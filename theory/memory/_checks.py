"""Vectorised input checks for the associative-memory helpers: each raises one ``ValueError`` naming the
parameter and its valid range."""

from __future__ import annotations

import numpy as np


def _as_float(name: str, x) -> np.ndarray:
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
    """Finite reals in (lower, upper)."""
    a = finite(name, x)
    if np.any((a <= lower) | (a >= upper)):
        raise ValueError(f"{name} must be in ({lower:g}, {upper:g}), got {x!r}")
    return a


def integers(name: str, x, minimum: int) -> np.ndarray:
    """Integer-valued entries >= ``minimum``, as float64 (exact up to 2^53)."""
    a = _as_float(name, x)
    if not np.all(np.isfinite(a)) or np.any(a != np.round(a)) or np.any(a < minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {x!r}")
    return a


def out(a):
    """A Python float for a 0-d result, the float64 array otherwise."""
    a = np.asarray(a, dtype=float)
    return float(a) if a.ndim == 0 else a


def out_int(a):
    """A Python int for a 0-d integer-valued result, an int64 array otherwise."""
    a = np.asarray(np.round(a)).astype(np.int64)
    return int(a) if a.ndim == 0 else a

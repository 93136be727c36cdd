"""Validation of array-valued inputs: one ``ValueError`` naming the parameter and its valid range."""

from __future__ import annotations

import numpy as np


def _range_text(lo, hi, lo_open, hi_open) -> str:
    if hi is None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if lo is None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def real(name: str, x, *, lo=None, hi=None, lo_open=False, hi_open=False, integer=False) -> np.ndarray:
    """Return ``x`` as a float64 array after checking it is non-empty, finite and within the given bounds."""
    rng = _range_text(lo, hi, lo_open, hi_open) if (lo is not None or hi is not None) else "finite"
    what = f"finite {'integers' if integer else 'numbers'} {rng}".rstrip()
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {x!r}") from None
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be {what}, got {x!r}")
    bad = np.zeros(a.shape, dtype=bool)
    if lo is not None:
        bad |= (a <= lo) if lo_open else (a < lo)
    if hi is not None:
        bad |= (a >= hi) if hi_open else (a > hi)
    if integer:
        bad |= a != np.round(a)
    if np.any(bad):
        raise ValueError(f"{name} must be {what}, got {x!r}")
    return a


def out(x):
    """A 0-d result as a numpy float scalar, anything else as an array."""
    x = np.asarray(x, dtype=float)
    return x[()] if x.ndim == 0 else x

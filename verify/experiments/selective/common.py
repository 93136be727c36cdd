"""Shared constants and helpers of the selective claims."""

from __future__ import annotations


import numpy as np


SRC = "selective_attention.md"
K_SE = 4.0


# --- shared helpers --------------------------------------------------------------------------------------------

def _half_unit(text: str) -> float:
    """Half a unit of the last printed digit of a number written as text ('0.0046' → 5e-5, '6.18e-4' → 5e-7)."""
    mant, _, exp = text.lower().partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 0.5 * 10.0 ** (-decimals) * 10.0 ** (int(exp) if exp else 0)


def _ref_tol(se: float, trials: int, ref_trials: int, text: str) -> float:
    """Tolerance of |MC − ref| for a reference printed as ``text`` from an independent ``ref_trials`` run."""
    return K_SE * se * np.sqrt(1.0 + trials / ref_trials) + _half_unit(text)


def _point_seed(seed: int, *keys: int) -> int:
    """A seed per grid point, so adding points to a sweep leaves the draws of the others unchanged."""
    return int(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]).generate_state(1)[0])


def _arr(x) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in x], float) \
        if x and isinstance(x[0], list) else np.array([np.nan if v is None else v for v in x], float)


def _mpf_close(f_np, f_mp, points, dps: int) -> float:
    """Largest relative difference between a float64 function and a ``dps``-digit mpmath evaluation."""
    import mpmath

    worst = 0.0
    with mpmath.workdps(dps):
        for args in points:
            exact = f_mp(*[mpmath.mpf(float(a)) for a in args])
            worst = max(worst, float(abs((mpmath.mpf(float(f_np(*args))) - exact) / exact)))
    return worst

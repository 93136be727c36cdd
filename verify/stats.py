"""Small estimators shared by the claims: the mean of independent draws and its standard error."""

from __future__ import annotations

import numpy as np


def mean_se(x) -> tuple[float, float]:
    """(mean, standard error of the mean) of the 1-D sample ``x``; SE = std(ddof = 1)/√n, 0 for one draw."""
    x = np.asarray(x, float).ravel()
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0

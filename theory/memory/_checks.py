"""Input/output helpers specific to the associative-memory formulas; the generic vectorised checks
(``finite``, ``at_least``, ``open_interval``, ``integers``, ``out``) live in :mod:`theory._validate`."""

from __future__ import annotations

import numpy as np


def out_int(a):
    """A Python int for a 0-d integer-valued result, an int64 array otherwise."""
    a = np.asarray(np.round(a)).astype(np.int64)
    return int(a) if a.ndim == 0 else a

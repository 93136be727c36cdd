"""Timing helpers shared by the benchmarks: best-of-N wall time, and one fast-vs-baseline row."""

from __future__ import annotations

import time

import numpy as np


def best_of(fn, repeats: int = 3):
    """(the shortest wall time of ``repeats`` calls of ``fn``, the last result)."""
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def side_by_side(name, fast_fn, base_fn, diff_fn, repeats: int = 3):
    """One benchmark row: (name, best fast time of ``repeats``, one baseline time, diff_fn(fast result, baseline
    result)). The fast path runs once untimed first, so numba compiles (or loads its cache) outside the timing."""
    fast_fn()
    t_fast, a = best_of(fast_fn, repeats)
    t0 = time.perf_counter()
    b = base_fn()
    return name, t_fast, time.perf_counter() - t0, float(diff_fn(a, b))

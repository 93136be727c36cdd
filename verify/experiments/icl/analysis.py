"""Curve analysis shared by the icl claims: crossings, plateau values, dwell times, drop counts.

Conventions (icl_linear_attention.md §11): crossing c_m = first recorded step with loss below
(L(M_m) + L(M_{m+1}))/2; dwell(0) = c_0, dwell(m) = c_m − c_{m−1}. A plateau's value is the loss at its flattest
recorded point between the crossings that bound it (the point nearest the saddle).
"""

from __future__ import annotations

import numpy as np


def crossings(steps, loss, levels) -> np.ndarray:
    """First recorded step with ``loss`` below each level [len(levels)], NaN where never reached."""
    steps, loss = np.asarray(steps, float), np.asarray(loss, float)
    levels = np.atleast_1d(np.asarray(levels, float))
    below = loss[:, None] < levels[None, :]
    hit = below.any(axis=0)
    return np.where(hit, steps[np.argmax(below, axis=0)], np.nan)


def midpoints(plateaus) -> np.ndarray:
    p = np.asarray(plateaus, float)
    return 0.5 * (p[:-1] + p[1:])


def dwell(c) -> np.ndarray:
    c = np.asarray(c, float)
    return np.concatenate([c[:1], np.diff(c)])


def plateau_points(steps, loss, plateaus) -> list[dict]:
    """For each plateau m = 0..len(plateaus)−1 that the run reaches, its flattest recorded point.

    Plateau m spans (c_{m−1}, c_m), with c_{−1} = step 0 and c_m = the last step when drop m+1 never happens.
    Returns dicts {m, step, index, loss, complete} for the plateaus entered; ``complete`` says the run also left
    it (or, for the last plateau, that the run ended on it).
    """
    steps, loss = np.asarray(steps, float), np.asarray(loss, float)
    c = crossings(steps, loss, midpoints(plateaus))
    out = []
    start = 0
    for m in range(len(plateaus)):
        if m > 0:
            if np.isnan(c[m - 1]):
                break
            start = int(np.searchsorted(steps, c[m - 1]))
        left = m < len(c) and not np.isnan(c[m])
        stop = int(np.searchsorted(steps, c[m])) if left else len(steps) - 1
        if stop - start < 4:
            out.append({"m": m, "step": float(steps[start]), "index": start, "loss": float(loss[start]),
                        "complete": bool(left or m == len(plateaus) - 1), "flat": False})
            continue
        slope = np.abs(np.gradient(loss[start:stop + 1], steps[start:stop + 1]))
        inner = slice(1, len(slope) - 1)
        i = start + 1 + int(np.argmin(slope[inner]))
        out.append({"m": m, "step": float(steps[i]), "index": i, "loss": float(loss[i]),
                    "complete": bool(left or m == len(plateaus) - 1), "flat": True})
    return out


def count_drops(steps, loss, *, window: float = 0.02, flat_tol: float = 0.005, min_drop: float = 0.02) -> int:
    """Number of abrupt drops: transitions between flat stretches that lower the loss by >= ``min_drop``·L(0).

    A recorded point is flat when the loss changes by less than ``flat_tol``·L(0) across ± ``window``·(run
    length); a flat stretch must last at least one window. Consecutive stretches closer than ``min_drop``·L(0)
    in level merge. A run that ends while still falling counts its last descent as a drop if it is deep enough.
    """
    steps, loss = np.asarray(steps, float), np.asarray(loss, float)
    L0 = loss[0]
    w = window * (steps[-1] - steps[0])
    lo = np.searchsorted(steps, steps - w)
    hi = np.minimum(np.searchsorted(steps, steps + w, side="right") - 1, len(steps) - 1)
    flat = np.abs(loss[hi] - loss[lo]) < flat_tol * L0
    levels = []
    i = 0
    while i < len(steps):
        if not flat[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(steps) and flat[j + 1]:
            j += 1
        if steps[j] - steps[i] >= w:
            level = float(np.median(loss[i:j + 1]))
            if not levels or levels[-1] - level >= min_drop * L0:
                levels.append(level)
        i = j + 1
    if not levels:
        return int(L0 - loss[-1] >= min_drop * L0)
    drops = len(levels) - 1
    if levels[-1] - loss[-1] >= min_drop * L0 and not flat[-1]:
        drops += 1
    if loss[0] - levels[0] >= min_drop * L0:
        drops += 1
    return drops


def thin(steps, n: int = 800) -> np.ndarray:
    """Indices of at most ``n`` recorded points, evenly spread, always keeping the first and last."""
    T = len(steps)
    if T <= n:
        return np.arange(T)
    return np.unique(np.linspace(0, T - 1, n).round().astype(int))


def mean_se(x) -> tuple[float, float]:
    """Mean and standard error of the finite entries of x (SE = 0 for a single value)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    se = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0
    return float(x.mean()), se


def fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}"


def fmt_list(xs, digits: int = 4) -> str:
    return ", ".join(fmt(float(x), digits) for x in xs)

"""Shared constants, helpers and the run dispatcher of the recall claims."""

from __future__ import annotations

import numpy as np

from verify.claims import RunContext

SRC = "test_time_memory.md"
K_SE = 4.0  # every statistical tolerance is K_SE standard errors of its estimator


# ================================================================================================================
# shared helpers


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _a(x) -> np.ndarray:
    """JSON (nested lists, None for a non-finite number) → float array."""
    if isinstance(x, list):
        return np.array([_a(v) for v in x], dtype=float)
    return np.asarray(np.nan if x is None else x, dtype=float)


def _maxabs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def _rel_rmse(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.sqrt(np.mean((a - b) ** 2)) / max(np.sqrt(np.mean(b**2)), 1e-300))


def _rel(a, b) -> float:
    """‖a − b‖/‖b‖ over all entries."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _worst(results: list[dict], row: str, key: str) -> float:
    """Largest ``r[row][key]`` over the runs; a non-finite value (JSON None) or no run at all gives inf (a fail)."""
    vals = [r[row][key] for r in results if row in r]
    if not vals or any(v is None or not np.isfinite(v) for v in vals):
        return float("inf")
    return float(max(vals))


def _g(x, digits=2) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def _mean_se(x, axis=-1):
    x = np.asarray(x, float)
    n = x.shape[axis]
    return x.mean(axis=axis), (x.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(x.shape[:-1]))


# the one run function of the topic: claims that plan the same parameters share the record
RUNS = {"rules": "certificates:rules_run", "formulas": "certificates:formulas_run", "x1": "rules:x1_run",
        "curves": "cg:x2_run", "tolstop": "cg:x2_run", "termination": "cg:x2_run",
        "capacity": "capacity:capacity_run", "passes": "passes:passes_run", "forgetting": "forgetting:forgetting_run"}


def recall_run(p: dict, ctx: RunContext) -> dict:
    """Compute one planned run of the recall topic; ``p["kind"]`` names it (see :data:`RUNS`)."""
    import importlib

    kind = p.get("kind")
    if kind not in RUNS:
        raise ValueError(f"run kind must be one of {sorted(RUNS)}, got {kind!r}")
    module, _, name = RUNS[kind].partition(":")
    return getattr(importlib.import_module(f"verify.experiments.recall.{module}"), name)(p, ctx)

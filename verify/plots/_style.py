"""Shared plotting helpers: one look for every capdyn figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

THEORY = dict(color="k", ls=":", lw=1.0)
SIM = "#1f77b4"
TRAIN = "#d62728"
TRAIN2 = "#2ca02c"


def subplots(n: int = 1, width: float = 5.0, height: float = 3.6, **kw):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False, **kw)
    return fig, axes[0]


def band(ax, b: dict, color: str, label: str) -> None:
    """Mean line and min–max band over seeds of a {steps, mean, lo, hi, n} dict."""
    if not b or not b.get("steps"):
        return
    x = np.asarray(b["steps"], float)
    ax.plot(x, b["mean"], color=color, lw=1.4, label=f"{label} (n={b['n']})")
    if b["n"] > 1:
        ax.fill_between(x, b["lo"], b["hi"], color=color, alpha=0.2, lw=0)


def arr(x) -> np.ndarray:
    """JSON list → float array (None → NaN)."""
    return np.array([np.nan if v is None else v for v in x], float) if isinstance(x, list) else np.asarray(x, float)

"""Shared torch helpers of the trained selective claims (selective_attention.md §2.4 "Training"): CPU thread
pinning, log-spaced record grids, the optimizer loop with standard gradient accumulation, seed statistics."""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import torch
from tqdm.auto import tqdm
from verify.stats import mean_se as _mean_se  # noqa: F401  (shared by the trained claim modules)

F64 = torch.float64


@contextmanager
def _cpu_threads(dev: torch.device, n: int = 1):
    """Tiny models run fastest on one CPU thread (extra threads only synchronize); GPUs are left alone."""
    if dev.type != "cpu":
        yield
        return
    from verify.device import set_threads

    previous = set_threads(n)
    try:
        yield
    finally:
        set_threads(previous)


def _grid(steps: int, n: int = 150, extra=()) -> list[int]:
    """Record steps 0 … steps, log-spaced (n points) plus ``extra``: curves for log-x axes."""
    g = {0, steps, *np.unique(np.round(np.geomspace(1, max(steps, 1), n)).astype(int)).tolist()}
    return sorted(x for x in g | set(extra) if 0 <= x <= steps)


def _optimize(opt, loss_fn, steps: int, record: list[int], on_record, *, micro: int = 1, progress=False,
              desc="train") -> dict:
    """``steps`` optimizer steps, each on ``micro`` micro-batches (loss/micro accumulated, then one step: the
    standard loop of §2.4, not the official inverted one of §7.3). ``loss_fn(t, m)`` returns micro-batch m's
    loss at step t; ``on_record(t)`` is called at the record steps (t updates done). A non-finite loss stops
    the run as diverged."""
    todo, curve, diverged = set(record), [], False
    bar = tqdm(total=steps, desc=desc, unit="step", disable=not progress, leave=False)
    for t in range(steps + 1):
        if t in todo:
            on_record(t)
        if t == steps:
            break
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for m in range(micro):
            loss = loss_fn(t, m) / micro
            loss.backward()
            total += float(loss.detach())
        if not math.isfinite(total):
            diverged = True
            curve.append((t, None))
            break
        if t in todo:
            curve.append((t, total))
        opt.step()
        bar.update(1)
    bar.close()
    return {"loss_curve": curve, "diverged": diverged}


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    y = np.asarray(y, float)
    if np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)

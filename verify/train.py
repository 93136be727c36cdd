"""One small full-batch gradient-descent loop shared by every topic (DESIGN.md §4).

Plain SGD: W ← W − lr ∇L, no momentum, no weight decay, on whatever ``loss_fn(model)`` returns. The loss
recorded at step t is the loss *before* update t (the official code's logging, icl_linear_attention.md §3.5),
so ``steps`` updates give records at t = 0, record_every, 2·record_every, ... and t = steps − 1.

Fixed dataset (the usual case): ``loss_fn`` closes over precomputed tensors, e.g.
``lambda m: mse(m.predict_gram(S, xq, N), y)``.
Online mode: ``loss_fn`` may draw a fresh batch on every call (``fresh_batch_loss``); it is called exactly once
per step and that one value is both recorded and differentiated, so the curve is the per-step minibatch loss.

A non-finite loss stops the run and marks it ``diverged`` (the non-finite value is the last record); no
exception is raised. The loop draws no random numbers, so a run is deterministic given the seeds of the model
and the data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from theory._validate import count


@dataclass
class TrainResult:
    """Outcome of ``train``.

    steps [T] (int) and loss [T] (float64): the recorded steps and the losses before those updates;
    records: extra per-record values from the callbacks, name -> list aligned with ``steps``;
    diverged: a non-finite loss was met (at ``steps[-1]``); n_updates: updates applied; lr; wall_s.
    """

    steps: np.ndarray
    loss: np.ndarray
    records: dict = field(default_factory=dict)
    diverged: bool = False
    n_updates: int = 0
    lr: float = 0.0
    wall_s: float = 0.0


def mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Un-halved mean squared error mean((pred − y)²) (§1.1)."""
    if pred.shape != y.shape:
        raise ValueError(f"pred and y must have the same shape, got {tuple(pred.shape)} and {tuple(y.shape)}")
    return (pred - y).square().mean()


def fresh_batch_loss(sampler: Callable, batch, loss: Callable = mse) -> Callable:
    """Online-mode ``loss_fn``: each call draws ``inputs, target = sampler(batch)`` and returns
    ``loss(model(inputs), target)``. Reproducibility comes from the sampler's own seeded stream
    (e.g. ``verify.tasks.icl.regression_stream``)."""
    batch = count("batch", batch)
    if not callable(sampler):
        raise ValueError("sampler must be callable: sampler(batch) -> (inputs, target)")

    def loss_fn(model) -> torch.Tensor:
        inputs, target = sampler(batch)
        return loss(model(inputs), target)

    return loss_fn


def _snapshot(value):
    """Detach tensors so a record never aliases a parameter that later updates change."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return value.item() if value.ndim == 0 else value.numpy().copy()
    return value


def train(model: torch.nn.Module, loss_fn: Callable, steps, lr, *, record_every=1,
          callbacks: Iterable[Callable] = (), progress: bool = False, cuda_graph: bool = False,
          threads: int | None = None) -> TrainResult:
    """Run ``steps`` full-batch GD updates with learning rate ``lr`` on ``loss_fn(model)`` (a scalar tensor).

    ``callbacks``: functions ``cb(step, model) -> Mapping[str, value]`` called at each recorded step, before
    that step's update (same state as the recorded loss); tensors are stored as numpy copies.
    ``progress``: a tqdm progress bar on stderr (updated about every 1% of the run, with the current loss).
    ``threads``: torch intra-op threads on the CPU during the loop (restored after). Small models run fastest on
    one thread: extra threads only add synchronisation, and on a loaded machine they can be many times slower.
    ``cuda_graph``: opt-in for small models on a GPU, where a step is bound by kernel-launch overhead: one step
    (loss, backward, update) is captured once as a CUDA graph and replayed, which gives the same updates and
    records without per-step Python dispatch. Needs every trainable parameter on one CUDA device and a
    ``loss_fn`` with static shapes and no host synchronization (a fixed dataset, not online mode). The capture
    runs warm-up steps that are undone before training. Non-finite losses are detected in blocks of
    ``GRAPH_CHECK_EVERY`` steps: the result is the same (records end at the first non-finite loss, whose callback
    entries are None if it was not a record step), but the model's parameters have then moved past it.
    """
    steps = count("steps", steps)
    record_every = count("record_every", record_every)
    lr = float(lr)
    if not (math.isfinite(lr) and lr > 0.0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    callbacks = tuple(callbacks)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")

    if cuda_graph:
        return _train_graphed(model, loss_fn, steps, lr, record_every, callbacks, progress, params)

    if threads is None:
        return _train_eager(model, loss_fn, steps, lr, record_every, callbacks, progress, params)
    from verify.device import set_threads

    previous = set_threads(threads)
    try:
        return _train_eager(model, loss_fn, steps, lr, record_every, callbacks, progress, params)
    finally:
        set_threads(previous)


def _train_eager(model, loss_fn, steps, lr, record_every, callbacks, progress, params) -> TrainResult:
    rec_steps: list[int] = []
    rec_loss: list[float] = []
    records: dict[str, list] = {}
    diverged = False
    n_updates = 0
    report_every = max(1, steps // 100)
    bar = tqdm(total=steps, desc="train", unit="step", disable=not progress, leave=False)
    start = time.perf_counter()
    for t in range(steps):
        for p in params:
            p.grad = None
        loss = loss_fn(model)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError("loss_fn must return a scalar tensor")
        value = float(loss.detach())
        finite = math.isfinite(value)
        if t % record_every == 0 or t == steps - 1 or not finite:
            rec_steps.append(t)
            rec_loss.append(value)
            for cb in callbacks:
                for name, v in dict(cb(t, model)).items():
                    records.setdefault(name, []).append(_snapshot(v))
        if not finite:
            diverged = True
            break
        if progress and (t % report_every == 0 or t == steps - 1):
            bar.set_postfix(loss=f"{value:.4g}", refresh=False)
            bar.update(t + 1 - bar.n)
        loss.backward()
        with torch.no_grad():
            live = [p for p in params if p.grad is not None]
            if live:
                torch._foreach_add_(live, [p.grad for p in live], alpha=-lr)
        n_updates += 1
    bar.close()
    for p in params:
        p.grad = None
    return TrainResult(
        steps=np.asarray(rec_steps, dtype=np.int64),
        loss=np.asarray(rec_loss, dtype=np.float64),
        records=records,
        diverged=diverged,
        n_updates=n_updates,
        lr=lr,
        wall_s=time.perf_counter() - start,
    )


GRAPH_CHECK_EVERY = 256


def _train_graphed(model, loss_fn, steps, lr, record_every, callbacks, progress, params) -> TrainResult:
    """``train`` with one GD step captured as a CUDA graph (see ``train``)."""
    device = params[0].device
    if device.type != "cuda" or any(p.device != device for p in params):
        raise ValueError("cuda_graph=True needs every trainable parameter on one CUDA device")
    start = time.perf_counter()
    losses = torch.full((steps + 3,), math.nan, dtype=torch.float64, device=device)  # +3: warm-up writes
    t_dev = torch.zeros(1, dtype=torch.long, device=device)

    def step():
        loss = loss_fn(model)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError("loss_fn must return a scalar tensor")
        loss.backward()
        losses.index_copy_(0, t_dev, loss.detach().reshape(1).to(torch.float64))
        t_dev.add_(1)
        live = [p for p in params if p.grad is not None]
        if live:
            with torch.no_grad():
                torch._foreach_add_(live, [p.grad for p in live], alpha=-lr)

    saved = [p.detach().clone() for p in params]
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up outside the capture (workspaces, autograd state)
            for p in params:
                p.grad = None
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    for p in params:
        p.grad = None  # the captured backward allocates static .grad tensors that every replay overwrites
    with torch.cuda.graph(graph):
        step()
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)
        t_dev.zero_()
        losses.fill_(math.nan)

    def is_record(t):
        return t % record_every == 0 or t == steps - 1

    records: dict[str, list] = {}
    cb_steps: list[int] = []
    bad = None
    checked = 0
    bar = tqdm(total=steps, desc="train (CUDA graph)", unit="step", disable=not progress, leave=False)
    for t in range(steps):
        if callbacks and is_record(t):
            cb_steps.append(t)
            for cb in callbacks:
                for name, v in dict(cb(t, model)).items():
                    records.setdefault(name, []).append(_snapshot(v))
        graph.replay()
        if (t + 1) % GRAPH_CHECK_EVERY == 0 or t == steps - 1:
            block = losses[checked : t + 1]
            nonfinite = torch.nonzero(~torch.isfinite(block)).flatten()
            if nonfinite.numel() > 0:
                bad = checked + int(nonfinite[0])
                break
            checked = t + 1
            if progress:
                bar.set_postfix(loss=f"{float(losses[t]):.4g}", refresh=False)
                bar.update(t + 1 - bar.n)
    bar.close()
    torch.cuda.synchronize(device)
    end = steps if bad is None else bad + 1
    rec_steps = [t for t in range(end) if is_record(t)]
    if bad is not None and not is_record(bad):
        rec_steps.append(bad)
    values = losses[:end].cpu().numpy()
    keep = sum(1 for t in cb_steps if t <= bad) if bad is not None else len(cb_steps)
    for name in records:
        records[name] = records[name][:keep] + [None] * (len(rec_steps) - keep)
    for p in params:
        p.grad = None
    return TrainResult(
        steps=np.asarray(rec_steps, dtype=np.int64),
        loss=values[rec_steps].astype(np.float64),
        records=records,
        diverged=bad is not None,
        n_updates=steps if bad is None else bad,
        lr=lr,
        wall_s=time.perf_counter() - start,
    )

"""Optimisation-based associative memories of Cabannes, Dohmatob, Bietti (associative_memory.md §9.4; official
``scaling_law/grid_experiments``: ``utils.py`` models, ``run.py`` training), vectorised over independent copies.

Task: x ∈ [N] with p(x) ∝ (x + 1)^{−α}, label y = x mod M; cross-entropy on logits [M].
Models (row-vector convention of the official code, e_x = E[x] [d], UT [d, M]):

- ``matrix``:      logits = LN?(e_x W) UT; W [d, d] learned, E [N, d] and UT [d, M] fixed;
- ``exponential``: logits = LN?(ReLU(e_x)) UT; E and UT learned;
- ``learnable``:   logits = LN?(e_x W) UT; E, W and UT learned.

LN(h) = h/√(‖h‖² + 1e-6) (the official ``LN``, no affine part). Init: every matrix N(0, 1/d) entries (randn/√d),
or W = 0 (``W_init="zero"``, the one-step analysis of §1.2). In theory's convention W_q [d_u, d_e] with logits
u_yᵀ W_q e_x this W is W_qᵀ.

Training (``train_one_pass``): T samples drawn once, one pass in batches (T/batch steps, the official ``niter``),
mean cross-entropy per copy. Optimisers: ``SGD`` p ← p − lr·g; ``Adam`` = torch Adam with betas (0, 0), which is
p ← p − lr_p·g/(|g| + 1e-8) (m = g, v = g², bias corrections 1), with lr_p = lr/d for W and lr/√d for E and UT.

Copies: a leading dimension C of independent models (seeds × learning rates). Copy c has its own parameters,
data and learning rate; the summed loss gives each copy exactly its own gradient, and both updates are
elementwise, so a batched step equals C separate official steps.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from theory._validate import count

KINDS = ("matrix", "exponential", "learnable")
OPTIMIZERS = ("SGD", "Adam")
ADAM_EPS = 1e-8


def layer_norm(h: torch.Tensor) -> torch.Tensor:
    """h/√(Σ h² + 1e-6) over the last dimension (official ``LN``)."""
    return h / torch.sqrt((h * h).sum(dim=-1, keepdim=True) + 1e-6)


class MemoryModels(nn.Module):
    """C copies of one §9.4 model, parameters [C, ...]; copy c is initialised from ``seeds[c]`` (equal seeds give
    equal copies, e.g. one seed at several learning rates)."""

    def __init__(self, kind: str, seeds, N, M, d, *, layernorm: bool = False, W_init: str = "random",
                 dtype=torch.float32):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if W_init not in ("random", "zero"):
            raise ValueError(f"W_init must be 'random' or 'zero', got {W_init!r}")
        self.kind, self.layernorm = kind, bool(layernorm)
        self.N, self.M, self.d = count("N", N), count("M", M, minimum=2), count("d", d)
        seeds = [count("seed", s, minimum=0) for s in seeds]
        if not seeds:
            raise ValueError("seeds must be a non-empty list")
        E, W, UT = [], [], []
        for s in seeds:
            g = torch.Generator().manual_seed(s)
            # official order: W (matrix, learnable), E, UT
            w = torch.randn(self.d, self.d, generator=g, dtype=torch.float64) / math.sqrt(self.d)
            E.append(torch.randn(self.N, self.d, generator=g, dtype=torch.float64) / math.sqrt(self.d))
            UT.append(torch.randn(self.d, self.M, generator=g, dtype=torch.float64) / math.sqrt(self.d))
            W.append(torch.zeros_like(w) if W_init == "zero" else w)
        E, W, UT = (torch.stack(x).to(dtype) for x in (E, W, UT))
        learn_E = kind in ("exponential", "learnable")
        learn_U = kind in ("exponential", "learnable")
        self.E = nn.Parameter(E, requires_grad=learn_E)
        self.UT = nn.Parameter(UT, requires_grad=learn_U)
        self.W = nn.Parameter(W, requires_grad=kind != "exponential")
        self.copies = len(seeds)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """h [C, n, d] for inputs x [C, n] (integers in [0, N))."""
        if x.ndim != 2 or x.shape[0] != self.copies:
            raise ValueError(f"x must be [C={self.copies}, n], got {tuple(x.shape)}")
        e = torch.gather(self.E, 1, x[:, :, None].expand(-1, -1, self.d))
        h = F.relu(e) if self.kind == "exponential" else torch.bmm(e, self.W)
        return layer_norm(h) if self.layernorm else h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """logits [C, n, M] for x [C, n]."""
        return torch.bmm(self.hidden(x), self.UT)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Σ_c mean_n CE(logits_c, y_c): each copy's gradient is that of its own mean cross-entropy."""
        logits = self.forward(x)
        ce = F.cross_entropy(logits.reshape(-1, self.M), y.reshape(-1), reduction="none")
        return ce.reshape(y.shape).mean(dim=1).sum()

    def copy_losses_counts(self, counts: torch.Tensor) -> torch.Tensor:
        """Per-copy mean CE [C] of a batch given by its token counts [C, N]. Every occurrence of x has the same
        logits, so mean_n CE = Σ_x (counts_x/Σ counts)·CE(logits(x), x mod M): exact, and O(N) per copy instead of
        O(batch), the cheaper path when batch > N."""
        if counts.shape != (self.copies, self.N):
            raise ValueError(f"counts must be [C={self.copies}, N={self.N}], got {tuple(counts.shape)}")
        x = torch.arange(self.N, device=self.E.device).expand(self.copies, -1)
        ce = F.cross_entropy(self.forward(x).reshape(-1, self.M), (x % self.M).reshape(-1), reduction="none")
        w = counts.to(device=ce.device, dtype=ce.dtype)
        return (ce.reshape(self.copies, self.N) * w / w.sum(dim=1, keepdim=True)).sum(dim=1)

    def lr_scale(self, name: str, optimizer: str) -> float:
        """Official per-parameter learning-rate factor: 1 (SGD); Adam: 1/d for W, 1/√d for E and UT."""
        if optimizer == "SGD":
            return 1.0
        return 1.0 / self.d if name == "W" else 1.0 / math.sqrt(self.d)

    @torch.no_grad()
    def step(self, lr: torch.Tensor, optimizer: str) -> None:
        """One update of every learned parameter with per-copy learning rates lr [C] (gradients already set)."""
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        for name, p in (("W", self.W), ("E", self.E), ("UT", self.UT)):
            if not p.requires_grad or p.grad is None:
                continue
            g = p.grad
            rate = (lr * self.lr_scale(name, optimizer)).to(p.dtype).reshape(-1, 1, 1)
            if optimizer == "SGD":
                p.sub_(rate * g)
            else:
                p.sub_(rate * g / (g.abs() + ADAM_EPS))

    @torch.no_grad()
    def errors(self, p: torch.Tensor) -> torch.Tensor:
        """E = Σ_x p(x)·1{argmax logits ≠ x mod M} [C] (official ``error``; ties to the lowest class)."""
        x = torch.arange(self.N, device=self.E.device).expand(self.copies, -1)
        pred = self.forward(x).argmax(dim=-1)
        wrong = (pred != x % self.M).to(p.dtype)
        return wrong @ p


def zipf(N, alpha, dtype=torch.float64) -> torch.Tensor:
    """p(x) ∝ (x + 1)^{−α} [N] (official ``proba``)."""
    x = torch.arange(count("N", N), dtype=dtype)
    w = (x + 1.0) ** (-float(alpha))
    return w / w.sum()


def sample_inputs(p: torch.Tensor, T, seeds) -> torch.Tensor:
    """X [C, T]: T iid draws from p per copy, from a generator seeded with 10⁶ + seed (the init uses seed)."""
    T = count("T", T)
    return torch.stack([torch.multinomial(p, T, replacement=True,
                                          generator=torch.Generator().manual_seed(10**6 + count("seed", s, minimum=0)))
                        for s in seeds])


def train_counts(model: MemoryModels, counts, lr, optimizer: str, *, checkpoints=(), p: torch.Tensor):
    """SGD/Adam on batches given by token counts [steps, C, N] (``loss_counts``), one update per batch.

    Same returns as ``train_one_pass``: (errors at the end [C], {step: errors [C]}, diverged [C]).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    lr = torch.as_tensor(lr, dtype=torch.float64).expand(model.copies).clone()
    if not torch.all(torch.isfinite(lr) & (lr > 0)):
        raise ValueError(f"lr must be finite and > 0, got {lr.tolist()}")
    points = sorted({int(c) for c in checkpoints})
    record = {}
    diverged = torch.zeros(model.copies, dtype=torch.bool)
    params = [q for q in model.parameters() if q.requires_grad]
    steps = len(counts)
    for t in range(steps + 1):
        if t in points:
            err = model.errors(p)
            record[t] = torch.where(diverged, torch.full_like(err, float("nan")), err)
        if t == steps:
            break
        for q in params:
            q.grad = None
        per_copy = model.copy_losses_counts(torch.as_tensor(counts[t]))
        diverged |= ~torch.isfinite(per_copy.detach())
        per_copy.sum().backward()
        model.step(lr, optimizer)
    final = model.errors(p)
    return torch.where(diverged, torch.full_like(final, float("nan")), final), record, diverged


def train_one_pass(model: MemoryModels, X: torch.Tensor, lr, batch, optimizer: str, *, checkpoints=(),
                   p: torch.Tensor | None = None):
    """One pass over X [C, T] in batches of ``batch`` (T/batch updates; T must be a multiple of batch).

    lr: a number or [C] learning rates. Returns (errors at the end [C], {step: errors [C]} at the requested
    checkpoints (step = updates done; needs p), diverged [C] bool: a copy whose loss became non-finite).
    A diverged copy keeps updating with non-finite values (copies never mix) and reports NaN errors from then on.
    """
    T = X.shape[1]
    batch = count("batch", batch)
    if T % batch:
        raise ValueError(f"T = {T} must be a multiple of batch = {batch}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    lr = torch.as_tensor(lr, dtype=torch.float64).expand(model.copies).clone()
    if not torch.all(torch.isfinite(lr) & (lr > 0)):
        raise ValueError(f"lr must be finite and > 0, got {lr.tolist()}")
    Y = X % model.M
    steps = T // batch
    points = sorted({int(c) for c in checkpoints})
    if points and p is None:
        raise ValueError("p is needed to record errors at checkpoints")
    record = {}
    diverged = torch.zeros(model.copies, dtype=torch.bool)
    params = [q for q in model.parameters() if q.requires_grad]
    for t in range(steps + 1):
        if t in points:
            err = model.errors(p)
            record[t] = torch.where(diverged, torch.full_like(err, float("nan")), err)
        if t == steps:
            break
        x, y = X[:, t * batch:(t + 1) * batch], Y[:, t * batch:(t + 1) * batch]
        for q in params:
            q.grad = None
        logits = model(x)
        ce = F.cross_entropy(logits.reshape(-1, model.M), y.reshape(-1), reduction="none").reshape(y.shape)
        per_copy = ce.mean(dim=1)
        diverged |= ~torch.isfinite(per_copy.detach())
        per_copy.sum().backward()
        model.step(lr, optimizer)
    final = model.errors(p) if p is not None else None
    if final is not None:
        final = torch.where(diverged, torch.full_like(final, float("nan")), final)
    return final, record, diverged

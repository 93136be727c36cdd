"""Trained associative memories (associative_memory.md §2.3, §3.2): linear F(z) = Wz and MLP F(z) = Vᵀσ(Wz + b),
decoded by f̂(x) = argmax_y u_yᵀF(e_x), trained with full-batch Adam on the uniform-weight cross-entropy.

Many independent memories are trained as one batch [B, ...] (seeds, sizes, cells): problem b has its own
N_b inputs, M_b classes, width d_b and hidden size m_b, zero-padded to the batch maximum. Padding is exact:
padded inputs carry zero loss weight, padded classes a −inf logit, and padded rows/columns of the embeddings
are zero, so padded parameter entries start at zero, receive zero gradient and (Adam being elementwise) never
move; every problem follows exactly the trajectory it would follow alone.

Initialisation (official flax ``Dense``): LeCun-normal kernels, i.e. a normal truncated at ±2σ' with
σ' = σ/0.8796 so that the variance is 1/fan_in (fan_in = d_b for W, m_b for V); zero first-layer bias.

Two paths compute the loss and its gradient: ``faithful_loss`` (the model's forward + autograd) and
``loss_grads`` (closed-form backward of the same batched forward, no autograd graph); tests hold them equal.
``fit`` runs Adam (β = (0.9, 0.999), ε = 1e-8, the optax/torch defaults; torch's fused Adam kernel) with the
closed-form gradients, checks the loss and the accuracy on all N inputs every ``check_every`` updates and stops a
problem at its first check with accuracy >= ``level`` (that checkpoint is its final one). Between checks only
the gradient is computed: a problem whose loss turned non-finite carries non-finite parameters to the next check,
where its non-finite loss stops it and marks it ``diverged`` (never a success). Between checks the loop never
waits for the device.

``capacity_search`` runs the §1.3 search (``sim.memory.CapacitySearch``) for several cells and seeds in lockstep:
every round's pending sizes are trained together, in as few batched fits as pays (``group_tests``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from sim.memory.capacity import CapacitySearch, allowed_errors, memory_problem, run_searches
from theory._validate import count
from verify.device import set_threads

KINDS = ("linear", "mlp")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
_TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [−2, 2]
BATCH_BUDGET = {"cpu": 1 << 23, "cuda": 1 << 27}  # score entries B·N·M per sub-batch of a round
LOGIT_FLOOR = -80.0  # shifted-score floor of the softmax (``_softmax_ce``)
# Below this many score entries B·N·M a CPU step is a few dozen ops of at most ~1 ms each, and an OpenMP
# fork/join per op costs more than it saves (measured on 2 cores: a 2-thread step is 2–30× slower, far worse
# when other processes hold the cores), so ``fit`` runs such batches on one thread.
SERIAL_SCORES = 1 << 21


# ----------------------------------------------------------------------------------------------------------------
# data


@dataclass
class MemoryBatch:
    """B padded memory problems on one device.

    E [B, N, d], U [B, M, d]: embeddings (zero rows/columns beyond N_b, M_b, d_b); target [B, N] int64 (0 on
    padded rows); weight [B, N]: 1/N_b on real inputs, 0 on padding; class_bias [B, M]: 0 on real classes,
    −inf on padding; n_inputs [B] int64; target_pull [B, N, d] = weight·u_{f*(x)}, the constant part of
    dLoss/dF (zero on padded rows); class_padding: whether some problem has fewer than M classes (only then
    is class_bias added to the scores).
    """

    E: torch.Tensor
    U: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor
    class_bias: torch.Tensor
    n_inputs: torch.Tensor
    target_pull: torch.Tensor
    class_padding: bool

    @classmethod
    def build(cls, problems, device="cpu", dtype=torch.float32) -> "MemoryBatch":
        """From a list of (E [N_b, d_b], U [M_b, d_b], f_star [N_b]) numpy arrays."""
        if not problems:
            raise ValueError("problems must be a non-empty list of (E, U, f_star)")
        B = len(problems)
        N = max(p[0].shape[0] for p in problems)
        M = max(p[1].shape[0] for p in problems)
        d = max(p[0].shape[1] for p in problems)
        E = np.zeros((B, N, d))
        U = np.zeros((B, M, d))
        tgt = np.zeros((B, N), dtype=np.int64)
        w = np.zeros((B, N))
        bias = np.full((B, M), -np.inf)
        for b, (Eb, Ub, fb) in enumerate(problems):
            n, db = Eb.shape
            if Ub.ndim != 2 or Ub.shape[1] != db or np.asarray(fb).shape != (n,):
                raise ValueError(f"problem {b}: E [N, d], U [M, d] and f_star [N] must agree, got "
                                 f"{Eb.shape}, {Ub.shape}, {np.asarray(fb).shape}")
            if np.min(fb) < 0 or np.max(fb) >= Ub.shape[0]:
                raise ValueError(f"problem {b}: f_star must lie in [0, {Ub.shape[0]})")
            E[b, :n, :db] = Eb
            U[b, :Ub.shape[0], :db] = Ub
            tgt[b, :n] = fb
            w[b, :n] = 1.0 / n
            bias[b, :Ub.shape[0]] = 0.0
        t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        pull = w[:, :, None] * np.take_along_axis(U, tgt[:, :, None], axis=1)
        return cls(t(E), t(U), torch.as_tensor(tgt, device=device), t(w), t(bias),
                   torch.as_tensor([p[0].shape[0] for p in problems], device=device), t(pull),
                   bool(np.isinf(bias).any()))

    def select(self, idx: torch.Tensor) -> "MemoryBatch":
        """Problems ``idx`` only, with padding trimmed to their largest N and M."""
        n = int(self.n_inputs[idx].max())
        classes = torch.isfinite(self.class_bias[idx]).sum(dim=1)
        m = int(classes.max())
        return MemoryBatch(self.E[idx, :n], self.U[idx, :m], self.target[idx, :n], self.weight[idx, :n],
                           self.class_bias[idx, :m], self.n_inputs[idx], self.target_pull[idx, :n],
                           bool((classes < m).any()))


# ----------------------------------------------------------------------------------------------------------------
# models


def lecun_normal(shape, fan_in, generator) -> torch.Tensor:
    """Flax ``lecun_normal``: truncated normal on ±2σ' with σ' = 1/(√fan_in · 0.8796), variance 1/fan_in."""
    std = 1.0 / (math.sqrt(fan_in) * _TRUNC_STD)
    x = torch.empty(shape)
    torch.nn.init.trunc_normal_(x, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=generator)
    return x * std


def _generator(seed) -> torch.Generator:
    entropy = [int(s) for s in (seed if isinstance(seed, (list, tuple)) else [seed])]
    return torch.Generator().manual_seed(int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1))


class LinearMemories(torch.nn.Module):
    """B linear memories F_b(z) = W_b z (§2.3), W [B, d, d] (bias-free); problem b uses W[b, :d_b, :d_b]."""

    kind = "linear"

    def __init__(self, dims, seeds, device="cpu", dtype=torch.float32):
        super().__init__()
        dims = [count("d", x) for x in dims]
        if len(seeds) != len(dims):
            raise ValueError(f"seeds must have one entry per problem ({len(dims)}), got {len(seeds)}")
        D = max(dims)
        W = torch.zeros(len(dims), D, D)
        for b, (d, s) in enumerate(zip(dims, seeds)):
            W[b, :d, :d] = lecun_normal((d, d), d, _generator(s))
        self.W = torch.nn.Parameter(W.to(device=device, dtype=dtype))
        self.dims = dims

    def features(self, E: torch.Tensor) -> torch.Tensor:
        """F(E) = E Wᵀ [B, N, d] for E [B, N, d]."""
        return torch.bmm(E, self.W.transpose(1, 2))

    @staticmethod
    def loss_grads(params, batch: MemoryBatch, evaluate: bool = True):
        """Closed-form (loss [B], correct [B], grads) at params = (W,) (module docstring); loss and correct are
        None unless ``evaluate``."""
        (W,) = params
        A = torch.bmm(batch.E, W.transpose(1, 2))
        loss, correct, dA = _softmax_ce(_scores(A, batch), batch, evaluate)
        return loss, correct, (torch.bmm(dA.transpose(1, 2), batch.E),)


class MLPMemories(torch.nn.Module):
    """B MLP memories F_b(z) = V_bᵀ ReLU(W_b z + b_b) (§3.2): W, V [B, m, d], bias [B, m] (first layer only)."""

    kind = "mlp"

    def __init__(self, dims, widths, seeds, device="cpu", dtype=torch.float32):
        super().__init__()
        dims = [count("d", x) for x in dims]
        widths = [count("m", x) for x in widths]
        if not (len(seeds) == len(dims) == len(widths)):
            raise ValueError("dims, widths and seeds must have one entry per problem")
        D, H = max(dims), max(widths)
        W = torch.zeros(len(dims), H, D)
        V = torch.zeros(len(dims), H, D)
        for b, (d, m, s) in enumerate(zip(dims, widths, seeds)):
            g = _generator(s)
            W[b, :m, :d] = lecun_normal((m, d), d, g)
            V[b, :m, :d] = lecun_normal((m, d), m, g)
        self.W = torch.nn.Parameter(W.to(device=device, dtype=dtype))
        self.bias = torch.nn.Parameter(torch.zeros(len(dims), H, device=device, dtype=dtype))
        self.V = torch.nn.Parameter(V.to(device=device, dtype=dtype))
        self.dims, self.widths = dims, widths

    def features(self, E: torch.Tensor) -> torch.Tensor:
        """F(E) = ReLU(E Wᵀ + b) V [B, N, d] for E [B, N, d]."""
        return torch.bmm(torch.relu(torch.baddbmm(self.bias[:, None, :], E, self.W.transpose(1, 2))), self.V)

    @staticmethod
    def loss_grads(params, batch: MemoryBatch, evaluate: bool = True):
        """Closed-form (loss [B], correct [B], grads) at params = (W, bias, V) (module docstring); loss and
        correct are None unless ``evaluate``."""
        W, bias, V = params
        pre = torch.baddbmm(bias[:, None, :], batch.E, W.transpose(1, 2))
        H = torch.relu(pre)
        loss, correct, dF = _softmax_ce(_scores(torch.bmm(H, V), batch), batch, evaluate)
        dV = torch.bmm(H.transpose(1, 2), dF)
        # ReLU backward as autograd computes it (zero where H = 0, ReLU'(0) = 0), one fused pass
        dpre = torch.ops.aten.threshold_backward(torch.bmm(dF, V.transpose(1, 2)), H, 0.0)
        return loss, correct, (torch.bmm(dpre.transpose(1, 2), batch.E), dpre.sum(dim=1), dV)


def _scores(F: torch.Tensor, batch: MemoryBatch) -> torch.Tensor:
    """S = F Uᵀ [B, N, M] (+ class_bias where some problem has padded classes)."""
    if batch.class_padding:
        return torch.baddbmm(batch.class_bias[:, None, :], F, batch.U.transpose(1, 2))
    return torch.bmm(F, batch.U.transpose(1, 2))


def _softmax_ce(S: torch.Tensor, batch: MemoryBatch, evaluate: bool):
    """Per-problem weighted cross-entropy [B] and correct top-1 count [B] (both None unless ``evaluate``) and
    dLoss/dF [B, N, d] from scores S = F Uᵀ, which is overwritten (one exp pass, no second [B, N, M] buffer).

    dLoss/dS = weight·(softmax(S) − onehot(f*)), so dLoss/dF = (weight/Z)·(exp(S − max) U) − target_pull: the
    one-hot part is the precomputed target_pull and no [B, N, M] pass beyond the exp and its row sums is needed.

    Shifted scores below ``LOGIT_FLOOR`` are raised to it before the exp: each such softmax probability
    (< e^−80 ≈ 1.8e-35) moves by less than 1.8e-35, the normaliser Z >= 1 not at all in float32 or float64, and
    exp stays on its fast path (arguments far below −87, which lr-1000 runs produce, cost ~10× more on CPU).
    Padded classes (−inf) get a probability of 1.8e-35/Z but a zero embedding row, so their gradient is 0."""
    loss = correct = s_true = None
    if evaluate:
        correct = ((S.argmax(dim=2) == batch.target) & (batch.weight > 0)).sum(dim=1)
    S.sub_(S.amax(dim=2, keepdim=True))
    if evaluate:
        s_true = S.gather(2, batch.target[:, :, None])[:, :, 0]
    P = S.clamp_(min=LOGIT_FLOOR).exp_()
    Z = P.sum(dim=2)
    if evaluate:
        loss = ((Z.log() - s_true) * batch.weight).sum(dim=1)
    dF = torch.bmm(P, batch.U).mul_((batch.weight / Z)[:, :, None]).sub_(batch.target_pull)
    return loss, correct, dF


def faithful_loss(model: torch.nn.Module, batch: MemoryBatch) -> torch.Tensor:
    """Per-problem cross-entropy [B] of model.features via ``torch.nn.functional.cross_entropy`` (autograd)."""
    S = torch.bmm(model.features(batch.E), batch.U.transpose(1, 2)) + batch.class_bias[:, None, :]
    ce = torch.nn.functional.cross_entropy(S.transpose(1, 2), batch.target, reduction="none")  # [B, N]
    return (ce * batch.weight).sum(dim=1)


def make_model(kind: str, dims, seeds, widths=None, device="cpu", dtype=torch.float32) -> torch.nn.Module:
    """LinearMemories (kind "linear") or MLPMemories (kind "mlp", needs ``widths``); one seed per problem (an
    integer or a sequence of them)."""
    if kind == "linear":
        return LinearMemories(dims, seeds, device, dtype)
    if kind == "mlp":
        if widths is None:
            raise ValueError("kind='mlp' needs widths")
        return MLPMemories(dims, widths, seeds, device, dtype)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


# ----------------------------------------------------------------------------------------------------------------
# training


@dataclass
class FitResult:
    """Per problem [B]: success (accuracy >= level at a check), steps (updates at stop), acc (accuracy at stop),
    best_acc (largest checked accuracy), loss (loss at stop), diverged (non-finite loss met)."""

    success: np.ndarray
    steps: np.ndarray
    acc: np.ndarray
    best_acc: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray


def fit(model: torch.nn.Module, batch: MemoryBatch, steps, lr, check_every=32, level=0.99,
        progress: bool = False) -> FitResult:
    """Full-batch Adam on every problem of ``batch`` (module docstring); finished problems leave the batch.

    steps >= 1: update budget; lr > 0; check_every >= 1: updates between accuracy checks (the last check is at
    ``steps``); level in (0, 1]: success threshold. The model's parameters hold each problem's state at its stop.
    On CPU a batch with fewer than ``SERIAL_SCORES`` score entries B·N·M trains on one thread (restored after).
    """
    steps, check_every = count("steps", steps), count("check_every", check_every)
    lr = float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (0.0 < float(level) <= 1.0):
        raise ValueError(f"level must be in (0, 1], got {level!r}")
    serial = batch.E.device.type == "cpu" and batch.E.shape[0] * batch.E.shape[1] * batch.U.shape[1] < SERIAL_SCORES
    previous = set_threads(1) if serial else None
    try:
        return _fit(model, batch, steps, lr, check_every, level, progress)
    finally:
        if previous is not None:
            set_threads(previous)


def _fit(model, batch, steps, lr, check_every, level, progress) -> FitResult:
    params = list(model.parameters())
    B = params[0].shape[0]
    device = params[0].device
    n_all = batch.n_inputs.cpu().numpy()
    need = torch.as_tensor([int(n) - allowed_errors(level, int(n)) for n in n_all], device=device)
    nan = np.full(B, np.nan)
    out = FitResult(np.zeros(B, bool), np.zeros(B, np.int64), nan.copy(), nan.copy(), nan.copy(), np.zeros(B, bool))
    active = torch.arange(B, device=device)
    P = [p.detach().clone() for p in params]
    m1 = [torch.zeros_like(p) for p in P]
    m2 = [torch.zeros_like(p) for p in P]
    sub = batch
    b1, b2 = ADAM_BETAS
    step = torch.zeros((), dtype=P[0].dtype, device=device)  # Adam's update count t (bias corrections)
    bar = tqdm(total=steps, desc="fit", unit="step", disable=not progress, leave=False)
    with torch.no_grad():
        for t in range(steps + 1):
            check = (t > 0 and t % check_every == 0) or t == steps
            loss, correct, grads = type(model).loss_grads(P, sub, check)
            # decisions (and host syncs) only at checks: a problem whose loss turned non-finite keeps
            # non-finite parameters until then, and problems never interact
            if check:
                bad = ~torch.isfinite(loss)
                ok = (correct >= need[active]) & ~bad
                done = bad | ok | (t == steps)
                acc = torch.where(bad, torch.nan, correct.double() / sub.n_inputs.double()).cpu().numpy()
                ia = active.cpu().numpy()
                out.best_acc[ia] = np.fmax(out.best_acc[ia], acc)
                sel = done.cpu().numpy()
                if sel.any():
                    idx = ia[sel]
                    out.steps[idx] = t
                    out.loss[idx] = loss.double().cpu().numpy()[sel]
                    out.diverged[idx] = bad.cpu().numpy()[sel]
                    out.acc[idx] = acc[sel]
                    out.success[idx] = ok.cpu().numpy()[sel]
                    for p, q in zip(params, P):
                        p.data[active[done]] = q[done]
                    keep = ~done
                    if not bool(keep.any()):
                        break
                    active = active[keep]
                    P = [q[keep] for q in P]
                    grads = [g[keep] for g in grads]
                    m1 = [q[keep] for q in m1]
                    m2 = [q[keep] for q in m2]
                    sub = batch.select(active)
            if t == steps:
                break
            # torch.optim.Adam(fused=True)'s kernel: one op for every parameter instead of ~20 small ones
            step.add_(1.0)
            torch._fused_adam_(P, list(grads), m1, m2, [], [step] * len(P), lr=lr, beta1=b1, beta2=b2,
                               weight_decay=0.0, eps=ADAM_EPS, amsgrad=False, maximize=False)
            if progress:
                bar.update(1)
    bar.close()
    return out


# ----------------------------------------------------------------------------------------------------------------
# capacity search over seeds and cells (§1.3)

# Grouping of a round's tests into batched fits: a fit costs about steps·(OVERHEAD + B·u(N, M, d, m)) with
# u = N·M·d (+ 3·N·m·d for the MLP) the work of one padded problem; OVERHEAD is the per-step launch and
# dispatch cost in the same units (measured on one CPU core: 0.07–0.13 ms per step at 0.12–0.4 ns per unit,
# i.e. 3e5–1e6 units; the smoke searches train within 5% of each other at 7.5e5 and 1.5e6, 15% slower at 3e5;
# a GPU step costs ≈0.2 ms of launches against ≈1e-12 s per unit).
OVERHEAD_UNITS = {"cpu": 7.5e5, "cuda": 2e8}


@dataclass
class SeedCapacity:
    """One (cell, seed) search: N (N_99; None if even min_size failed), status ("converged", "below", "above"),
    tests: one dict per trained size in order (d, m, seed, N, success, steps, acc, best_acc, loss, diverged)."""

    d: int
    m: int | None
    seed: int
    N: int | None
    status: str
    lo: int
    hi: int
    tests: list = field(default_factory=list)


@dataclass
class CapacityRun:
    """``capacity_search`` result: searches [cells][seeds], the logistic-grid tests per cell, wall time [s]."""

    searches: list
    grid: list
    wall_s: float


def _problem(d, m, M, targets_kind, seed, N, law):
    # the data stream and the init stream are separate children of one key per (seed, cell, output mode)
    key = [int(seed), int(d), int(m or 0), 0 if M is None else int(M), 1 if targets_kind == "random" else 0]
    p = memory_problem(N, d, M, seed=key + [0], law=law, targets_kind=targets_kind)
    return (p.E, p.U, p.f_star), key + [1]


def _unit_cost(kind, N, M, d, m):
    return N * M * d + (3 * N * m * d if kind == "mlp" else 0)


def group_tests(kind, tests, M=None, device="cpu") -> list[list[int]]:
    """Split tests [(d, m, seed, N)] into batched fits: sorted by cost, a test joins the current group while the
    padded group is cheaper than a separate fit (``OVERHEAD_UNITS``) and within ``BATCH_BUDGET`` scores."""
    dev = "cuda" if torch.device(device).type == "cuda" else "cpu"
    over, budget = OVERHEAD_UNITS[dev], BATCH_BUDGET[dev]
    Mc = lambda N: N if M is None else M  # noqa: E731
    order = sorted(range(len(tests)), key=lambda i: _unit_cost(kind, tests[i][3], Mc(tests[i][3]), tests[i][0],
                                                               tests[i][1] or 0))
    groups: list[list[int]] = []
    cur: list[int] = []
    own = 0.0
    for i in order:
        d, m, _, N = tests[i]
        if cur:
            D = max(d, *(tests[j][0] for j in cur))
            H = max(m or 0, *((tests[j][1] or 0) for j in cur))
            Nn = max(N, *(tests[j][3] for j in cur))
            merged = (len(cur) + 1) * _unit_cost(kind, Nn, Mc(Nn), D, H)
            alone = own + over + _unit_cost(kind, N, Mc(N), d, m or 0)
            if merged <= alone and (len(cur) + 1) * Nn * Mc(Nn) <= budget:
                cur.append(i)
                own = merged
                continue
            groups.append(cur)
        cur, own = [i], over + _unit_cost(kind, N, Mc(N), d, m or 0)
    if cur:
        groups.append(cur)
    return groups


def train_sizes(kind, tests, *, M=None, targets_kind=None, lr, steps, check_every, level=0.99, law="sphere",
                device="cpu", progress=False) -> list[dict]:
    """Train one memory per test (d, m, seed, N) (m None for the linear memory), in the batched fits of
    ``group_tests``; returns one dict per test, in input order."""
    dev = torch.device(device)
    results: list[dict | None] = [None] * len(tests)
    for chunk in group_tests(kind, tests, M, dev):
        probs, inits = zip(*(_problem(tests[c][0], tests[c][1], M, targets_kind, tests[c][2], tests[c][3], law)
                             for c in chunk))
        batch = MemoryBatch.build(list(probs), device=dev)
        dims = [tests[c][0] for c in chunk]
        widths = None if kind == "linear" else [tests[c][1] for c in chunk]
        r = fit(make_model(kind, dims, list(inits), widths, dev), batch, steps, lr, check_every, level, progress)
        for k, c in enumerate(chunk):
            d, m, seed, N = tests[c]
            results[c] = {"d": int(d), "m": None if m is None else int(m), "seed": int(seed), "N": int(N),
                          "success": bool(r.success[k]), "steps": int(r.steps[k]), "acc": float(r.acc[k]),
                          "best_acc": float(r.best_acc[k]), "loss": float(r.loss[k]),
                          "diverged": bool(r.diverged[k])}
    return results


def capacity_search(kind, cells, seeds, *, brackets, M=None, targets_kind=None, lr, steps, check_every,
                    level=0.99, ratio=1.02, expand=2.0, points=1, min_size=2, max_sizes=None, grid_points=0,
                    grid_span=1.3, law="sphere", device="cpu", progress=False) -> CapacityRun:
    """N_99 of trained memories for every (cell, seed) by the §1.3 search, all pending sizes of a round trained
    together (``group_tests``).

    kind: "linear" or "mlp"; cells: [(d, m)] (m None for the linear memory); seeds: integers >= 0 (each seeds
    the embeddings and the init of every cell; the same seed gives the same draws for every lr); brackets:
    one initial (lo, hi) per cell (tested, then expanded by ``expand``); M: None (M = N, f* = identity) or
    classes >= 2 ("blocks" targets, or ``targets_kind="random"``); ratio, points, min_size, max_sizes (one per
    cell or None): see ``sim.memory.CapacitySearch``. ``grid_points`` > 0 adds, per cell, a log-spaced grid of that many
    sizes in [N/span, N·span] around the median N_99, trained for every seed (the design of the logistic
    success-curve fit of §1.3 item 4).
    """
    t0 = time.perf_counter()
    cells = [(int(d), None if m is None else int(m)) for d, m in cells]
    seeds = [int(s) for s in seeds]
    if len(brackets) != len(cells) or (max_sizes is not None and len(max_sizes) != len(cells)):
        raise ValueError("brackets (and max_sizes) must have one entry per cell")
    keys = [(c, s) for c in range(len(cells)) for s in range(len(seeds))]
    searches = [CapacitySearch(brackets[c][0], brackets[c][1], ratio=ratio, expand=expand, min_size=min_size,
                               max_size=None if max_sizes is None else max_sizes[c], points=points)
                for c, _ in keys]
    logs: list[list[dict]] = [[] for _ in keys]
    kw = dict(M=M, targets_kind=targets_kind, lr=lr, steps=steps, check_every=check_every, level=level, law=law,
              device=device, progress=progress)

    def evaluate(todo):
        tests = [(*cells[keys[i][0]], seeds[keys[i][1]], N) for i, N in todo]
        res = train_sizes(kind, tests, **kw)
        for (i, _), r in zip(todo, res):
            logs[i].append(r)
        return [r["success"] for r in res]

    run_searches(searches, evaluate)
    grid: list[list[dict]] = [[] for _ in cells]
    if grid_points > 0:
        tests = []
        for c, (d, m) in enumerate(cells):
            found = [searches[k].N for k, (cc, _) in enumerate(keys) if cc == c and searches[k].N is not None]
            if not found:
                continue
            mid = float(np.median(found))
            sizes = sorted({max(min_size, int(round(x)))
                            for x in np.geomspace(mid / grid_span, mid * grid_span, grid_points)})
            tests += [(d, m, s, N) for s in seeds for N in sizes]
        for r in train_sizes(kind, tests, **kw):
            grid[cells.index((r["d"], r["m"]))].append(r)
    out = [[None] * len(seeds) for _ in cells]
    for k, (c, si) in enumerate(keys):
        se = searches[k]
        out[c][si] = SeedCapacity(cells[c][0], cells[c][1], seeds[si], se.N, se.status, se.lo, se.hi, logs[k])
    return CapacityRun(out, grid, time.perf_counter() - t0)

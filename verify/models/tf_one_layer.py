"""One-layer factual-recall transformer of associative_memory.md §6 (official ``model.py: TF_one_layer``), as an
ensemble of E independent members trained side by side.

Per member: frozen embeddings x_t = wte[z_t] ~ N(0, I/d) and a frozen unembedding U ~ N(0, I/d) over the DR
answers; H heads Q_h, K_h, V_h [d, d_h] and O [H·d_h, d]; only the last position queries:

    s_{h,t} = (x_t K_h)·(x_{T−1} Q_h)/√d_h,  π_h = softmax_t(s_h),  a = Σ_h (Σ_t π_{h,t} x_t V_h) O_h,
    h = a + W_2ᵀ ReLU(W_1ᵀ a + b_1),          logits = U h                      (no residual from x_{T−1}).

Inits (§6.1): Q, K, V ~ N(0, 1/d_h), O ~ N(0, 1/d), W_1, W_2 LeCun-normal (Flax: truncated normal, variance
1/fan_in), b_1 = 0. Trained: Q, K, V, O, W_1, b_1, W_2 with Adam (decoupled weight decay 0, constant lr).
``train_vo=False`` freezes V and O at their init (the F4 "MLP memory" ablation); m = 1 is the F4
"attention memory" ablation.

Fast path (``forward``): the key side enters only through K_h q_h and the value side only through the
attention-pooled embedding, so s_{h,t} = x_t·(K_h q_h)/√d_h and Σ_t π x_t V_h = (Σ_t π x_t) V_h, with the
parameter products Q_h K_hᵀ and V_h O_h [d, d] formed once per step: O(B·T·H·d) per member instead of
O(B·T·H·d·d_h). ``forward_faithful`` computes every key and value and is tested equal.

Ensembles: members share (d, H, d_h, m) as array shapes but each has its own vocabulary, answer count, head
count H_e ≤ H and MLP width m_e ≤ m. Unused rows/heads/units are zero; their gradients are exactly zero
(zero values, zero output weights, ReLU'(0) = 0), so Adam leaves them at zero and each member trains exactly as
it would alone. Padded answers are masked out of the softmax. Each member's weights are drawn from its own
seed, on the CPU, so a seed gives the same member on any device and in any ensemble.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from theory._validate import count

_TRUNC = 0.87962566103423978  # std of N(0, 1) truncated to [−2, 2]; Flax divides by it (variance_scaling)


def _normal(shape, std: float, g: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float32) * std


def _lecun(shape, fan_in: int, g: torch.Generator) -> torch.Tensor:
    """Flax ``lecun_normal``: truncated normal on [−2σ, 2σ] with σ = 1/(√fan_in · 0.8796)."""
    w = torch.empty(*shape, dtype=torch.float32)
    nn.init.trunc_normal_(w, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=g)
    return w / (_TRUNC * math.sqrt(fan_in))


def _per_member(name: str, values, E: int, default: int, minimum: int, maximum: int) -> list[int]:
    if values is None:
        return [default] * E
    vals = [count(name, v, minimum=minimum) for v in values]
    if len(vals) != E or any(v > maximum for v in vals):
        raise ValueError(f"{name} must list {E} integers in [{minimum}, {maximum}], got {list(values)!r}")
    return vals


class TFOneLayer(nn.Module):
    """E members of the §6 one-layer transformer [parameters with a leading member axis E].

    vocab, n_answers: array sizes (the largest member's); d, H, d_h, m: widths (m = 0: no MLP); seeds: E
    integer seeds (member weights depend only on their seed and sizes); vocabs, answers, heads, widths:
    per-member sizes (default: the array sizes); train_vo: train V and O (False freezes them at init).
    """

    def __init__(self, vocab, n_answers, d, H, d_h, m, seeds, *, vocabs=None, answers=None, heads=None,
                 widths=None, train_vo: bool = True):
        super().__init__()
        self.vocab, self.n_answers = count("vocab", vocab, minimum=2), count("n_answers", n_answers, minimum=2)
        self.d, self.H, self.d_h = count("d", d), count("H", H), count("d_h", d_h)
        self.m = count("m", m, minimum=0)
        seeds = [count("seed", s, minimum=0) for s in seeds]
        if not seeds:
            raise ValueError("seeds must list at least one member seed")
        E = self.E = len(seeds)
        self.vocabs = _per_member("vocabs", vocabs, E, self.vocab, 2, self.vocab)
        self.answers = _per_member("answers", answers, E, self.n_answers, 2, self.n_answers)
        self.heads = _per_member("heads", heads, E, self.H, 1, self.H)
        self.widths = _per_member("widths", widths, E, self.m, 0, self.m)
        self.train_vo = bool(train_vo)
        d, H, dh, m = self.d, self.H, self.d_h, self.m
        wte = torch.zeros(E, self.vocab, d)
        U = torch.zeros(E, self.n_answers, d)
        Q, K, V = (torch.zeros(E, H, d, dh) for _ in range(3))
        O = torch.zeros(E, H, dh, d)
        W1, b1, W2 = torch.zeros(E, d, m), torch.zeros(E, m), torch.zeros(E, m, d)
        mask = torch.zeros(E, self.n_answers, dtype=torch.bool)
        for e, s in enumerate(seeds):
            g = torch.Generator().manual_seed(s)
            Ve, Ae, He, me = self.vocabs[e], self.answers[e], self.heads[e], self.widths[e]
            wte[e, :Ve] = _normal((Ve, d), 1 / math.sqrt(d), g)
            U[e, :Ae] = _normal((Ae, d), 1 / math.sqrt(d), g)
            for P in (Q, K, V):
                P[e, :He] = _normal((He, d, dh), 1 / math.sqrt(dh), g)
            O[e, :He] = _normal((He, dh, d), 1 / math.sqrt(d), g)
            if me:
                W1[e, :, :me] = _lecun((d, me), d, g)
                W2[e, :me] = _lecun((me, d), me, g)
            mask[e, Ae:] = True
        self.register_buffer("wte", wte)
        self.register_buffer("unembed", U)
        self.register_buffer("answer_pad", mask)
        self.Q, self.K = nn.Parameter(Q), nn.Parameter(K)
        if self.train_vo:
            self.V, self.O = nn.Parameter(V), nn.Parameter(O)
        else:
            self.register_buffer("V", V)
            self.register_buffer("O", O)
        self.W1, self.b1, self.W2 = nn.Parameter(W1), nn.Parameter(b1), nn.Parameter(W2)

    # ---- forward passes ------------------------------------------------------------------------------------

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 3 or tokens.shape[0] != self.E:
            shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"tokens must be an integer tensor [E={self.E}, B, T], got {shape}")
        offset = torch.arange(self.E, device=tokens.device)[:, None, None] * self.vocab
        return nn.functional.embedding(tokens + offset, self.wte.reshape(-1, self.d))  # [E, B, T, d]

    def _head(self, a: torch.Tensor) -> torch.Tensor:
        """MLP with residual, then logits over the answers with padded answers masked [E, B, A]."""
        if self.m:
            a = a + torch.relu(a @ self.W1 + self.b1[:, None, :]) @ self.W2
        logits = a @ self.unembed.transpose(1, 2)
        return logits.masked_fill(self.answer_pad[:, None, :], float("-inf"))

    def attention(self, tokens: torch.Tensor) -> torch.Tensor:
        """Attention output a [E, B, d] at the last position (fast path, see module docstring)."""
        E, d, H = self.E, self.d, self.H
        x = self._embed(tokens)
        B, T = x.shape[1], x.shape[2]
        # x_t·(K_h Q_hᵀ x_{T−1}) and (Σ_t π x_t) V_h O_h: two d×d maps per head, products of parameters only
        QK = torch.einsum("ehdk,ehfk->edhf", self.Q, self.K).reshape(E, d, H * d)
        VO = torch.einsum("ehdk,ehkf->ehdf", self.V, self.O).reshape(E, H * d, d)
        kq = torch.bmm(x[:, :, -1], QK).reshape(E * B, H, d)
        xf = x.reshape(E * B, T, d)
        s = torch.bmm(xf, kq.transpose(1, 2)) / math.sqrt(self.d_h)  # [EB, T, H]
        pooled = torch.bmm(torch.softmax(s, dim=1).transpose(1, 2), xf)  # [EB, H, d]
        return torch.bmm(pooled.reshape(E, B, H * d), VO)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Answer logits [E, B, A] for tokens [E, B, T] (−inf at padded answers)."""
        return self._head(self.attention(tokens))

    def forward_faithful(self, tokens: torch.Tensor) -> torch.Tensor:
        """§6.1 literally: every key x_t K_h and value x_t V_h, scores against x_{T−1} Q_h [E, B, A]."""
        x = self._embed(tokens)
        q = torch.einsum("ebd,ehdk->ebhk", x[:, :, -1], self.Q)
        k = torch.einsum("ebtd,ehdk->ebhtk", x, self.K)
        v = torch.einsum("ebtd,ehdk->ebhtk", x, self.V)
        pi = torch.softmax(torch.einsum("ebhtk,ebhk->ebht", k, q) / math.sqrt(self.d_h), dim=-1)
        heads = torch.einsum("ebht,ebhtk->ebhk", pi, v)
        a = heads.reshape(*heads.shape[:2], -1) @ self.O.reshape(self.E, -1, self.d)
        return self._head(a)

    def loss(self, tokens: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
        """Cross-entropy per member [E] (mean over the batch) for answers [E, B] in [0, A_e)."""
        logits = self(tokens)
        logp = torch.log_softmax(logits, dim=-1)
        return -logp.gather(-1, answers[..., None])[..., 0].mean(dim=1)

    @torch.no_grad()
    def correct(self, tokens: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
        """Number of sequences whose argmax answer equals a* [E] (int64)."""
        return (self(tokens).argmax(dim=-1) == answers).sum(dim=1)


# ---------------------------------------------------------------------------------------------------------
# the §5 task, sampled on the model's device for all members at once
# ---------------------------------------------------------------------------------------------------------


class FactBatches:
    """Fresh §5 sequences for E members, sampled with torch on ``device`` [tokens E, B, T; answers E, B].

    tables: E fact tables [S_e, R_e] with a*(s, r) ∈ [rD_e, (r + 1)D_e) (``sim.memory.factual.fact_table``);
    D: answers per relation, one int or one per member; n_noise: per member (default S_e + R_e, official
    ``run.py``); T, eos: layout (§5); seed: the torch stream of this sampler. The law is that of
    ``sim.memory.factual.sample_sequences`` with uniform subjects and relations.
    """

    def __init__(self, tables, D, T, n_noise=None, eos: bool = True, *, seed=0, device="cpu"):
        self.T, self.eos = count("T", T, minimum=3 if eos else 2), bool(eos)
        tabs = [np.asarray(t) for t in tables]
        if not tabs or any(t.ndim != 2 or t.size == 0 or not np.issubdtype(t.dtype, np.integer) for t in tabs):
            raise ValueError("tables must be a non-empty list of integer arrays [S, R]")
        self.E = len(tabs)
        Ds = [D] * self.E if np.ndim(D) == 0 else list(D)
        if len(Ds) != self.E:
            raise ValueError(f"D must be one integer or {self.E} integers, got {D!r}")
        self.D = [count("D", x) for x in Ds]
        for t, x in zip(tabs, self.D):
            lo = x * np.arange(t.shape[1])[None, :]
            if np.any((t < lo) | (t >= lo + x)):
                raise ValueError("table entries must satisfy a*(s, r) ∈ [rD, (r + 1)D)")
        S = [t.shape[0] for t in tabs]
        R = [t.shape[1] for t in tabs]
        noise = [s + r for s, r in zip(S, R)] if n_noise is None else [count("n_noise", n, minimum=1)
                                                                         for n in np.broadcast_to(n_noise, self.E)]
        self.device = torch.device(device)
        self.S, self.R, self.n_noise = S, R, noise
        self.vocabs = [s + r + n + 1 for s, r, n in zip(S, R, noise)]
        self.answers = [r * x for r, x in zip(R, self.D)]
        pad = np.zeros((self.E, max(S), max(R)), dtype=np.int64)
        for e, t in enumerate(tabs):
            pad[e, : t.shape[0], : t.shape[1]] = t
        self.table = torch.as_tensor(pad, device=self.device)
        self._S, self._R, self._noise = (torch.as_tensor(v, dtype=torch.float64, device=self.device)[:, None]
                                         for v in (S, R, noise))
        self._Sl = torch.as_tensor(S, device=self.device)[:, None]
        self._Rl = torch.as_tensor(R, device=self.device)[:, None]
        self._eos = self._Sl + self._Rl + torch.as_tensor(noise, device=self.device)[:, None]
        self._Tm1 = torch.full((self.E, 1), T - 1.0, dtype=torch.float64, device=self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(count("seed", seed, minimum=0))

    def _uniform(self, shape, n: torch.Tensor) -> torch.Tensor:
        """Uniform integers in [0, n) per member (n [E, 1] float64); float64 keeps floor(U·n) < n."""
        u = torch.rand(shape, generator=self.generator, dtype=torch.float64, device=self.device)
        n = n.reshape(n.shape[0], *([1] * (len(shape) - 1)))
        return torch.minimum((u * n).floor(), n - 1).long()

    def sample(self, batch):
        """(tokens [E, B, T] int64, subjects [E, B], relations [E, B], answers [E, B])."""
        B, T, E = count("batch", batch), self.T, self.E
        s = self._uniform((E, B), self._S)
        r = self._uniform((E, B), self._R)
        tokens = self._uniform((E, B, T), self._noise) + (self._Sl + self._Rl)[:, :, None]
        pos_s = self._uniform((E, B), self._Tm1)
        tokens.scatter_(2, pos_s[..., None], s[..., None])
        rel = self._Sl + r
        if self.eos:
            u = self._uniform((E, B), self._Tm1 - 1)  # T − 2 slots: {0, …, T − 2} without the subject's
            pos_r = u + (u >= pos_s).long()
            tokens.scatter_(2, pos_r[..., None], rel[..., None])
            tokens[:, :, T - 1] = self._eos
        else:
            tokens[:, :, T - 1] = rel
        answers = self.table[torch.arange(E, device=self.device)[:, None], s, r]
        return tokens, s, r, answers


# ---------------------------------------------------------------------------------------------------------
# training: per-member Adam, early stop on a validation draw, final checkpoint on a fresh test set (§1.3)
# ---------------------------------------------------------------------------------------------------------


@dataclass
class EnsembleResult:
    """Per-member outcome of ``train_ensemble`` (lists of length E).

    test_acc: final-checkpoint accuracy on ``test_size`` fresh sequences (NaN when diverged); best_val_acc:
    max over validation checkpoints (secondary, optimistic, §1.3); stop_step: updates applied; diverged:
    a non-finite loss was met; final_loss: last training loss; curves: validation steps and accuracies [E, K].
    """

    test_acc: list[float]
    best_val_acc: list[float]
    stop_step: list[int]
    diverged: list[bool]
    final_loss: list[float]
    val_steps: list[int] = field(default_factory=list)
    val_acc: list[list[float]] = field(default_factory=list)
    test_size: int = 0
    wall_s: float = 0.0


@torch.no_grad()
def accuracy(model: TFOneLayer, batches: FactBatches, n, chunk: int = 1024) -> np.ndarray:
    """Top-1 accuracy of every member on ``n`` fresh sequences [E] (float64)."""
    n = count("n", n)
    hits = torch.zeros(model.E, dtype=torch.int64, device=batches.device)
    done = 0
    while done < n:
        b = min(chunk, n - done)
        tokens, _, _, answers = batches.sample(b)
        hits += model.correct(tokens, answers)
        done += b
    return hits.double().cpu().numpy() / n


def train_ensemble(model: TFOneLayer, train: FactBatches, val: FactBatches, test: FactBatches, *, steps, lr,
                   batch, eval_every, val_size=1024, test_size=4096, stop_acc=0.995, betas=(0.9, 0.999),
                   eps=1e-8) -> EnsembleResult:
    """Train every member with its own Adam (lr: scalar or [E]) on fresh batches for ≤ ``steps`` updates.

    Every ``eval_every`` updates each active member is evaluated on ``val_size`` fresh validation sequences and
    stops (its weights freeze) once that accuracy is ≥ ``stop_acc``; the run ends when no member is active.
    A member with a non-finite loss is frozen and marked diverged. Success is then decided by the caller from
    ``test_acc``: the final checkpoint on ``test_size`` fresh sequences of an independent stream.
    Members are independent: the summed loss gives each its own gradient and Adam is elementwise.
    """
    steps, batch = count("steps", steps), count("batch", batch)
    eval_every, val_size, test_size = count("eval_every", eval_every), count("val_size", val_size), count(
        "test_size", test_size)
    E, dev = model.E, train.device
    for name, b in (("train", train), ("val", val), ("test", test)):
        if b.E != E:
            raise ValueError(f"{name} batches hold {b.E} members, the model {E}")
    lr_t = torch.as_tensor(np.broadcast_to(np.asarray(lr, dtype=np.float64), (E,)).copy(), dtype=torch.float32,
                           device=dev)
    if not torch.all(torch.isfinite(lr_t) & (lr_t > 0)):
        raise ValueError(f"lr must be finite and > 0, got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    b1, b2 = betas
    active = torch.ones(E, dtype=torch.bool, device=dev)
    diverged = torch.zeros(E, dtype=torch.bool, device=dev)
    stop_dev = torch.full((E,), steps, dtype=torch.int64, device=dev)
    best = np.zeros(E)
    last_loss = torch.full((E,), float("nan"), device=dev)
    val_steps, val_curve = [], []
    t0 = time.perf_counter()
    for t in range(1, steps + 1):
        tokens, _, _, answers = train.sample(batch)
        per = model.loss(tokens, answers)
        finite = torch.isfinite(per)
        # bookkeeping stays on the device: no host synchronisation inside the step
        stop_dev = torch.where(active & ~finite, t - 1, stop_dev)
        diverged |= active & ~finite
        active &= finite
        last_loss = torch.where(active, per.detach(), last_loss)
        for p in params:
            p.grad = None
        torch.where(finite, per, torch.zeros_like(per)).sum().backward()
        with torch.no_grad():
            # Adam over all parameter tensors at once; a frozen member's step size is 0 (its moments stay finite
            # because non-finite gradients are zeroed, so 0·step is exactly 0)
            grads = [torch.nan_to_num(p.grad, nan=0.0, posinf=0.0, neginf=0.0) for p in params]
            torch._foreach_mul_(m1, b1)
            torch._foreach_add_(m1, grads, alpha=1 - b1)
            torch._foreach_mul_(m2, b2)
            torch._foreach_addcmul_(m2, grads, grads, value=1 - b2)
            denom = torch._foreach_div(m2, 1 - b2**t)
            torch._foreach_sqrt_(denom)
            torch._foreach_add_(denom, eps)
            step = torch._foreach_div(m1, denom)
            scale = lr_t * active / (1 - b1**t)
            torch._foreach_mul_(step, [scale.reshape((E,) + (1,) * (p.ndim - 1)) for p in params])
            torch._foreach_sub_(params, step)
        if t % eval_every == 0 or t == steps:
            acc = accuracy(model, val, val_size)
            val_steps.append(t)
            val_curve.append(acc.tolist())
            act = active.cpu().numpy()
            best = np.where(act, np.maximum(best, acc), best)
            done = torch.as_tensor(act & (acc >= stop_acc), device=dev)
            stop_dev = torch.where(done, t, stop_dev)
            active &= ~done
            if not bool(active.any()):
                break
    test_acc = accuracy(model, test, test_size)
    div = diverged.cpu().numpy()
    test_acc[div] = np.nan
    return EnsembleResult(test_acc=test_acc.tolist(), best_val_acc=best.tolist(),
                          stop_step=stop_dev.cpu().tolist(),
                          diverged=div.tolist(), final_loss=last_loss.cpu().double().numpy().tolist(),
                          val_steps=val_steps, val_acc=np.asarray(val_curve).T.tolist() if val_curve else [],
                          test_size=test_size, wall_s=time.perf_counter() - t0)

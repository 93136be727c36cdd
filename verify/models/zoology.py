"""The Zoology-style language model, metric and training loop for MQAR (test_time_memory.md §5.3, §10 X6–X8).

Model (Zoology ``LanguageModel``): tied token embedding / LM head; learned absolute positions added when
``max_position_embeddings`` > 0; ``n_layers`` pre-norm blocks

    residual ← residual + drop(h);  h ← mixer(LN₁(residual));  residual ← residual + h;  h ← state_mixer(LN₂(residual))

(the first block's dropout is the embedding dropout 0.1, later ones the residual dropout 0), then
``LN_f(residual + h)``. With the identity state mixer (no MLP, the X6 setting) the next block therefore adds
LN₂(residual) to the stream, exactly as the official block does. LayerNorm eps 1e-5. Initialisation: every
linear and embedding weight N(0, 0.02²), output projections (``o_proj``/``out_proj``/``fc2``) N(0, (0.02/√(2·n_layers))²);
linear biases zero except inside the memory layers, whose only biases are gate biases and keep the layer's own
initialisation (they set the initial forgetting rate and write strength, §4.6).

The sequence mixer is any layer of ``verify.models.recall_layers.LAYERS`` or ``"mesa"``
(:class:`verify.models.mesa.Mesa`). ``state_size`` sums the layers' states in numbers (§5.5).

Metric (§5.3): per example, the mean over its labelled positions of ``argmax(logits) == target`` with the argmax
over the whole vocabulary ("zoology"), and with the argmax restricted to the value half [⌊V/2⌋, V) ("value");
reported per segment (one (L, N) slice each) with the standard error over examples, and overall.
Training (§5.3): AdamW (weight decay 0.1, none on parameters flagged ``_no_weight_decay``), cosine annealing
stepped once per epoch (T_max = epochs, η_min = 0), cross-entropy over the full vocabulary on labelled positions
only (the LM head is applied to those positions alone: the same loss without the [B, T, V] logits), early stop
when the overall test accuracy exceeds ``early_stop``; a non-finite loss stops the run as diverged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from theory._validate import count
from verify.stats import mean_se as _mean_se
from verify.tasks.mqar import IGNORE, MQARLoader

INIT_STD = 0.02
LN_EPS = 1e-5
STATE_MIXERS = ("identity", "mlp")
OUT_PROJ_NAMES = ("o_proj.weight", "out_proj.weight", "fc2.weight")


def layer_names() -> tuple[str, ...]:
    """Names accepted as the sequence mixer: the shared recall layers plus ``"mesa"``."""
    from verify.models.recall_layers import LAYERS

    return tuple(LAYERS) + ("mesa",)


def layer_class(name: str) -> type:
    if name == "mesa":
        from verify.models.mesa import Mesa

        return Mesa
    from verify.models.recall_layers import LAYERS

    if name not in LAYERS:
        raise ValueError(f"layer must be one of {layer_names()}, got {name!r}")
    return LAYERS[name]


class MLP(nn.Module):
    """State mixer of the minimal Zoology example: Linear(d, 4d) → GELU → Linear(4d, d)."""

    def __init__(self, d_model: int, expand: int = 4):
        super().__init__()
        self.fc1 = nn.Linear(d_model, expand * d_model)
        self.fc2 = nn.Linear(expand * d_model, d_model)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """One pre-norm block (Zoology ``TransformerBlock``, without stochastic depth)."""

    def __init__(self, mixer: nn.Module, d_model: int, state_mixer: str, dropout: float):
        super().__init__()
        self.sequence_mixer = mixer
        self.state_mixer = MLP(d_model) if state_mixer == "mlp" else nn.Identity()
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model, eps=LN_EPS)
        self.norm2 = nn.LayerNorm(d_model, eps=LN_EPS)

    def forward(self, hidden, residual=None):
        dropped = self.dropout1(hidden)
        residual = dropped if residual is None else dropped + residual
        hidden = self.sequence_mixer(self.norm1(residual))
        residual = hidden + residual  # residual dropout 0 (Figure-2 configuration)
        return self.state_mixer(self.norm2(residual)), residual


class ZoologyLM(nn.Module):
    """Two-layer (``n_layers``) Zoology language model around a memory layer (see the module docstring).

    layer: a name of :func:`layer_names`; vocab_size V; d_model; heads, d_k, d_v passed to the layer (defaults
    d_model // heads); max_position_embeddings: learned positions when > 0 (inputs longer than it are an error);
    state_mixer "identity" (X6) or "mlp"; embed_dropout (0.1); layer_kwargs: extra keyword arguments of the layer
    class (e.g. Mesa's solver options); seed: initialisation seed (the global torch RNG is left untouched).
    """

    def __init__(self, layer, vocab_size, d_model, n_layers=2, heads=1, d_k=None, d_v=None,
                 max_position_embeddings=0, state_mixer="identity", embed_dropout=0.1, layer_kwargs=None, seed=0):
        super().__init__()
        cls = layer_class(layer)
        self.layer = layer
        self.vocab_size = count("vocab_size", vocab_size, minimum=2)
        self.d_model = count("d_model", d_model)
        self.n_layers = count("n_layers", n_layers)
        self.max_position_embeddings = count("max_position_embeddings", max_position_embeddings, minimum=0)
        if state_mixer not in STATE_MIXERS:
            raise ValueError(f"state_mixer must be one of {STATE_MIXERS}, got {state_mixer!r}")
        embed_dropout = float(embed_dropout)
        if not 0.0 <= embed_dropout < 1.0:
            raise ValueError(f"embed_dropout must lie in [0, 1), got {embed_dropout!r}")
        kwargs = dict(layer_kwargs or {})
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(count("seed", seed, minimum=0))
            self.embed = nn.Embedding(self.vocab_size, self.d_model)
            self.pos = nn.Embedding(self.max_position_embeddings, self.d_model) if self.max_position_embeddings else None
            self.blocks = nn.ModuleList([
                Block(cls(self.d_model, heads=heads, d_k=d_k, d_v=d_v, **kwargs), self.d_model, state_mixer,
                      embed_dropout if i == 0 else 0.0)
                for i in range(self.n_layers)])
            self.ln_f = nn.LayerNorm(self.d_model, eps=LN_EPS)
            self._init_weights()

    def _init_weights(self):
        out_std = INIT_STD / math.sqrt(2 * self.n_layers)
        with torch.no_grad():
            for name, mod in self.named_modules():
                if isinstance(mod, nn.Linear):
                    nn.init.normal_(mod.weight, std=INIT_STD)
                    if mod.bias is not None and ".sequence_mixer." not in f".{name}.":
                        mod.bias.zero_()
                elif isinstance(mod, nn.Embedding):
                    nn.init.normal_(mod.weight, std=INIT_STD)
            for name, p in self.named_parameters():
                if name.endswith(OUT_PROJ_NAMES):
                    nn.init.normal_(p, std=out_std)

    @property
    def mixers(self) -> list[nn.Module]:
        return [b.sequence_mixer for b in self.blocks]

    def hidden(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Final hidden states [B, T, d_model] of token ids [B, T]."""
        if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2 or input_ids.dtype != torch.int64:
            raise ValueError("input_ids must be an int64 tensor [B, T]")
        T = input_ids.shape[1]
        h = self.embed(input_ids)
        if self.pos is not None:
            if T > self.max_position_embeddings:
                raise ValueError(f"sequence length {T} exceeds max_position_embeddings "
                                 f"{self.max_position_embeddings}")
            h = h + self.pos(torch.arange(T, device=input_ids.device))
        residual = None
        for block in self.blocks:
            h, residual = block(h, residual)
        return self.ln_f(h + residual)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Tied LM head: hidden [..., d_model] → logits [..., V]."""
        return hidden @ self.embed.weight.T

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] of token ids [B, T]."""
        return self.logits(self.hidden(input_ids))

    def state_size(self, seq_len: int) -> int:
        """Σ over layers of the sequence mixers' state sizes in numbers at sequence length ``seq_len`` (§5.5)."""
        return int(sum(m.state_size(seq_len) for m in self.mixers))


# ================================================================================================================
# metric


def labelled_logits(model: ZoologyLM, inputs, labels):
    """Logits [n, V] and targets [n] at the labelled positions only (row-major order of the batch)."""
    mask = labels != IGNORE
    return model.logits(model.hidden(inputs)[mask]), labels[mask], mask


def example_scores(model: ZoologyLM, inputs, labels) -> dict:
    """Per example [B]: zoology accuracy (full-vocabulary argmax), value-restricted accuracy and summed
    cross-entropy, plus the label count; all on the labelled positions."""
    logits, target, mask = labelled_logits(model, inputs, labels)
    V = logits.shape[-1]
    row = torch.nonzero(mask)[:, 0]
    B = inputs.shape[0]
    n = mask.sum(1).clamp_min(1).to(torch.float64)
    hit = (logits.argmax(-1) == target).to(torch.float64)
    hit_v = ((logits[:, V // 2:].argmax(-1) + V // 2) == target).to(torch.float64)
    ce = F.cross_entropy(logits.float(), target, reduction="none").to(torch.float64)
    z = torch.zeros(B, dtype=torch.float64, device=inputs.device)
    return {"acc": z.index_add(0, row, hit) / n, "acc_value": z.index_add(0, row, hit_v) / n,
            "ce": z.index_add(0, row, ce), "labels": mask.sum(1)}


@torch.no_grad()
def evaluate(model: ZoologyLM, loader: MQARLoader) -> dict:
    """Test metrics per segment and overall (mean over examples ± SE; loss = mean CE per labelled position)."""
    was = model.training
    model.eval()
    parts: dict[int, dict[str, list]] = {}
    for x, y, i in loader.epoch(0):
        s = example_scores(model, x, y)
        d = parts.setdefault(i, {k: [] for k in s})
        for k, v in s.items():
            d[k].append(v.cpu().numpy())
    model.train(was)
    out = {"segments": []}
    alls = {"acc": [], "acc_value": [], "ce": [], "labels": []}
    for i, seg in enumerate(loader.segments):
        d = {k: np.concatenate(v) for k, v in parts[i].items()}
        for k in alls:
            alls[k].append(d[k])
        acc, se = _mean_se(d["acc"])
        accv, sev = _mean_se(d["acc_value"])
        out["segments"].append({"L": seg.spec.input_seq_len, "N": seg.spec.num_kv_pairs, "n": len(seg),
                                "acc": acc, "acc_se": se, "acc_value": accv, "acc_value_se": sev,
                                "loss": float(d["ce"].sum() / max(d["labels"].sum(), 1))})
    cat = {k: np.concatenate(v) for k, v in alls.items()}
    out["acc"], out["acc_se"] = _mean_se(cat["acc"])
    out["acc_value"], out["acc_value_se"] = _mean_se(cat["acc_value"])
    out["loss"] = float(cat["ce"].sum() / max(cat["labels"].sum(), 1))
    return out


# ================================================================================================================
# training


@dataclass
class MQARResult:
    """Per-epoch history (train loss = mean over the epoch's batches, test metrics of :func:`evaluate`, lr),
    the best and final overall test accuracy, epochs run, whether the early stop fired, divergence, update count,
    wall time and, for Mesa models, the CG statistics of the training forwards (mean steps, fraction of token
    solves that hit the step cap)."""

    history: list[dict] = field(default_factory=list)
    best_acc: float = 0.0
    final: dict = field(default_factory=dict)
    epochs: int = 0
    early_stopped: bool = False
    diverged: bool = False
    n_updates: int = 0
    wall_s: float = 0.0
    cg: dict = field(default_factory=dict)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on every parameter except those flagged ``_no_weight_decay`` (e.g. Mesa's λ)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if getattr(p, "_no_weight_decay", False) else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def _cg_stats(model) -> tuple[float, float, int] | None:
    infos = [m.last_info for m in model.mixers if getattr(m, "last_info", None) is not None]
    if not infos:
        return None
    steps = sum(float(i.steps.float().sum()) for i in infos)
    capped = sum(float((i.steps >= m.max_steps).float().sum()) for i, m in zip(infos, model.mixers))
    n = sum(i.steps.numel() for i in infos)
    return steps, capped, n


def train_mqar(model: ZoologyLM, train_loader: MQARLoader, test_loader: MQARLoader, epochs, lr,
               weight_decay=0.1, early_stop=0.99, seed=0, progress=False, threads=None) -> MQARResult:
    """Train ``model`` in place (§5.3); returns an :class:`MQARResult`. The model must already be on the loaders'
    device. ``seed`` drives dropout; ``threads`` sets torch's CPU threads for the run (restored after)."""
    epochs = count("epochs", epochs)
    lr, weight_decay, early_stop = float(lr), float(weight_decay), float(early_stop)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    previous = None
    if threads is not None:
        from verify.device import set_threads

        previous = set_threads(threads)
    dev = train_loader.device
    try:
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(count("seed", seed, minimum=0))
            return _train(model, train_loader, test_loader, epochs, lr, weight_decay, early_stop, progress)
    finally:
        if previous is not None:
            from verify.device import set_threads

            set_threads(previous)


def _train(model, train_loader, test_loader, epochs, lr, weight_decay, early_stop, progress) -> MQARResult:
    opt = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.0)
    res = MQARResult()
    cg_steps = cg_capped = cg_n = 0.0
    start = time.perf_counter()
    bar = tqdm(total=epochs * len(train_loader), desc=f"MQAR {model.layer}", unit="step", disable=not progress,
               leave=False)
    model.train()
    for epoch in range(epochs):
        losses = []
        for x, y, _ in train_loader.epoch(epoch):
            logits, target, _ = labelled_logits(model, x, y)
            loss = F.cross_entropy(logits.float(), target)
            value = float(loss.detach())
            if not math.isfinite(value):
                res.diverged = True
                losses.append(value)
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            res.n_updates += 1
            losses.append(value)
            stats = _cg_stats(model)
            if stats is not None:
                cg_steps += stats[0]
                cg_capped += stats[1]
                cg_n += stats[2]
            if progress:
                bar.set_postfix(loss=f"{value:.3g}", refresh=False)
                bar.update(1)
        lr_now = opt.param_groups[0]["lr"]
        metrics = evaluate(model, test_loader)
        res.history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "lr": lr_now, **metrics})
        res.epochs = epoch + 1
        res.best_acc = max(res.best_acc, metrics["acc"]) if math.isfinite(metrics["acc"]) else res.best_acc
        if res.diverged or not math.isfinite(metrics["loss"]):
            res.diverged = True
            break
        if metrics["acc"] > early_stop:
            res.early_stopped = True
            break
        sched.step()
    bar.close()
    res.final = res.history[-1] if res.history else {}
    res.wall_s = time.perf_counter() - start
    if cg_n:
        res.cg = {"mean_steps": cg_steps / cg_n, "capped_fraction": cg_capped / cg_n}
    return res

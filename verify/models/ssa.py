"""Selective attention (SSA): softmax attention with query and value temperatures (selective_attention.md §2).

Parametrization — the package's own choice (§2.4), not the paper's (whose exact gate forms are unverified):

    τ_pos(n)  = 1 + s·log n,                        n = visible keys of the query (absolute position + 1)
    τ_q(x, n) = τ_pos(n) + tanh(w_q,h·x + b_q,h)     (link "tanh", default)  or  τ_pos(n)·exp(w_q,h·x + b_q,h)
    τ_v(x)    = 1 + tanh(w_v,h·x + b_v,h) ∈ (0, 2)

with s = exp(−e^β) (``s_param="dexp"``, the official code), s itself (``"raw"``, the no-squash ablation) or
softplus(ρ) (``"softplus"``, unbounded); one s per layer (``s_scope="layer"``, official) or per head. Gate weights
and biases start at 0, so every preset starts as vanilla attention up to τ_pos. The gates read the layer input
x (``gate_input="x"``: per-head scalar linear gates, 2L(dH + H) parameters, §2.5) or the head's own q and v
(``"head"``: 2L(d + H), the weight-sharing count of §2.5).

Application (§2.4): Q̃ = diag(τ_q)·Q and Ṽ = diag(τ_v)·V go through the fused causal kernel
(``torch.nn.functional.scaled_dot_product_attention``) with the usual 1/√d_h scale. (diag(τ)Q)Kᵀ = diag(τ)(QKᵀ)
exactly, so no T×T matrix is formed; ``rowscaled_attention_naive`` is the official-code computation (explicit
logits, row t multiplied by τ, mask, softmax) that the fused path is tested against.

Cached decoding: τ_pos uses the absolute position (cache length + offset in the chunk), never the chunk length,
and only filled cache slots are read — the two defects of the official cache path (§7.2) are absent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from theory._validate import count

PRESETS = {  # preset -> (position part, token part on q, value temperature)
    "vanilla": (False, False, False),
    "pos": (True, False, False),
    "tok": (False, True, False),
    "pos+tok": (True, True, False),
    "pos+tok+value": (True, True, True),
    "value": (False, False, True),
}
S_PARAMS = ("dexp", "raw", "softplus")
S_SCOPES = ("layer", "head")
LINKS = ("tanh", "exp")
GATE_INPUTS = ("x", "head")


def _choice(name: str, value, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


@dataclass(frozen=True)
class SSAConfig:
    """Gate configuration of one SSA layer (§2.4; every field is a package choice, stated in run configs).

    preset: one of ``PRESETS``; s_param: ``dexp`` | ``raw`` | ``softplus``; s_scope: ``layer`` | ``head``;
    beta_init: initial β of ``dexp`` (2.0 LLM-style, 1.5 GPT-2-style); s_init: initial s of ``raw`` and
    ``softplus`` (> 0 for softplus); link: ``tanh`` (additive) | ``exp`` (multiplicative) token part;
    gate_input: ``x`` (the normalized layer input) | ``head`` (the head's own q and v).
    """

    preset: str = "vanilla"
    s_param: Literal["dexp", "raw", "softplus"] = "dexp"
    s_scope: Literal["layer", "head"] = "layer"
    beta_init: float = 2.0
    s_init: float = 1e-5
    link: Literal["tanh", "exp"] = "tanh"
    gate_input: Literal["x", "head"] = "x"

    def __post_init__(self):
        _choice("preset", self.preset, PRESETS)
        _choice("s_param", self.s_param, S_PARAMS)
        _choice("s_scope", self.s_scope, S_SCOPES)
        _choice("link", self.link, LINKS)
        _choice("gate_input", self.gate_input, GATE_INPUTS)
        if not math.isfinite(self.beta_init):
            raise ValueError(f"beta_init must be finite, got {self.beta_init!r}")
        if not math.isfinite(self.s_init) or (self.s_param == "softplus" and self.s_init <= 0):
            raise ValueError(f"s_init must be finite (and > 0 for s_param='softplus'), got {self.s_init!r}")

    @property
    def position(self) -> bool:
        return PRESETS[self.preset][0]

    @property
    def token(self) -> bool:
        return PRESETS[self.preset][1]

    @property
    def value(self) -> bool:
        return PRESETS[self.preset][2]


# ----------------------------------------------------------------------------------------------------------
# temperatures
# ----------------------------------------------------------------------------------------------------------


class Temperatures(nn.Module):
    """The gates of one layer: s (position part), (w_q, b_q) token part, (w_v, b_v) value temperature.

    d_in: width of x (gate_input "x"); n_heads H; d_head d_h (width read by gate_input "head").
    """

    def __init__(self, d_in, n_heads, d_head, cfg: SSAConfig = SSAConfig()):
        super().__init__()
        d_in, self.H, d_head = count("d_in", d_in), count("n_heads", n_heads), count("d_head", d_head)
        if not isinstance(cfg, SSAConfig):
            raise ValueError(f"cfg must be an SSAConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        feat = d_in if cfg.gate_input == "x" else d_head
        n_s = 1 if cfg.s_scope == "layer" else self.H
        if cfg.position:
            if cfg.s_param == "dexp":
                self.beta = nn.Parameter(torch.full((n_s,), float(cfg.beta_init)))
            elif cfg.s_param == "raw":
                self.s_raw = nn.Parameter(torch.full((n_s,), float(cfg.s_init)))
            else:  # softplus⁻¹(s) = log(e^s − 1), written stably with expm1
                self.rho = nn.Parameter(torch.full((n_s,), math.log(math.expm1(cfg.s_init))))
        if cfg.token:
            self.w_q = nn.Parameter(torch.zeros(self.H, feat))
            self.b_q = nn.Parameter(torch.zeros(self.H))
        if cfg.value:
            self.w_v = nn.Parameter(torch.zeros(self.H, feat))
            self.b_v = nn.Parameter(torch.zeros(self.H))

    def s(self) -> torch.Tensor:
        """s [1 or H] (0-d zeros when the preset has no position part)."""
        c = self.cfg
        if not c.position:
            return torch.zeros(1)
        if c.s_param == "dexp":
            return torch.exp(-torch.exp(self.beta))
        if c.s_param == "raw":
            return self.s_raw
        return F.softplus(self.rho)

    def _gate_input(self, x: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        """[B, H, T, F]: x broadcast over heads (or already per head), or the head's own q / v."""
        if self.cfg.gate_input == "head":
            return own
        return x if x.ndim == 4 else x.unsqueeze(1)

    def query(self, x: torch.Tensor, q: torch.Tensor, n: torch.Tensor) -> torch.Tensor | None:
        """τ_q [B, H, T] for layer input x [B, T, d_in] (or one input per head [B, H, T, d_in]), head queries
        q [B, H, T, d_h] and visible-key counts n [T] or [B, T] (>= 1); None when the preset leaves q alone."""
        c = self.cfg
        if not (c.position or c.token):
            return None
        if c.position:
            s = self.s().to(q.dtype).view(1, -1, 1)
            logn = torch.log(n.to(q.dtype))
            logn = logn.view(1, 1, -1) if logn.ndim == 1 else logn.unsqueeze(1)
            tau_pos = 1.0 + s * logn
        else:
            tau_pos = torch.ones((), dtype=q.dtype, device=q.device)
        if not c.token:
            return tau_pos.expand(q.shape[0], self.H, q.shape[2])
        z = (self._gate_input(x, q) * self.w_q.view(1, self.H, 1, -1)).sum(-1) + self.b_q.view(1, -1, 1)
        return tau_pos + torch.tanh(z) if c.link == "tanh" else tau_pos * torch.exp(z)

    def value(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor | None:
        """τ_v [B, H, T] ∈ (0, 2) for x [B, T, d_in], head values v [B, H, T, d_h]; None without value gate."""
        if not self.cfg.value:
            return None
        z = (self._gate_input(x, v) * self.w_v.view(1, self.H, 1, -1)).sum(-1) + self.b_v.view(1, -1, 1)
        return 1.0 + torch.tanh(z)


# ----------------------------------------------------------------------------------------------------------
# attention with row temperatures: fused (pre-scaled) and naive (row-scaled logits)
# ----------------------------------------------------------------------------------------------------------


def _scaled(x: torch.Tensor, tau: torch.Tensor | None) -> torch.Tensor:
    return x if tau is None else x * tau.unsqueeze(-1).to(x.dtype)


def prescaled_attention(q, k, v, tau_q=None, tau_v=None, *, attn_mask=None, is_causal=False) -> torch.Tensor:
    """softmax(diag(τ_q) Q Kᵀ/√d_h + mask) · diag(τ_v) V through the fused kernel on Q̃ = diag(τ_q)Q, Ṽ = diag(τ_v)V.

    q [B, H, Tq, d_h], k and v [B, H, Tk, d_h]; tau_q [B, H, Tq], tau_v [B, H, Tk] (None = 1);
    attn_mask [Tq, Tk] or broadcastable boolean, True = may attend. Returns [B, H, Tq, d_h].
    """
    return F.scaled_dot_product_attention(_scaled(q, tau_q), k, _scaled(v, tau_v), attn_mask=attn_mask,
                                          is_causal=is_causal, scale=1.0 / math.sqrt(q.shape[-1]))


def rowscaled_attention_naive(q, k, v, tau_q=None, tau_v=None, *, attn_mask=None, is_causal=False):
    """The official computation (§2.3): explicit logits A = QKᵀ/√d_h, row i multiplied by τ_q,i, mask (−∞ fill),
    softmax, times diag(τ_v)V. Same arguments as ``prescaled_attention``; returns (out [B, H, Tq, d_h],
    probabilities [B, H, Tq, Tk])."""
    logits = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if tau_q is not None:
        logits = logits * tau_q.unsqueeze(-1).to(logits.dtype)
    if is_causal:
        Tq, Tk = logits.shape[-2:]
        attn_mask = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril()
    if attn_mask is not None:
        logits = logits.masked_fill(~attn_mask, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return probs @ _scaled(v, tau_v), probs


# ----------------------------------------------------------------------------------------------------------
# the layer, its KV cache, and a small GPT
# ----------------------------------------------------------------------------------------------------------


class KVCache:
    """Keys and temperature-scaled values Ṽ of one layer in fixed buffers [B, H, max_len, d_h].

    ``length`` slots are filled; attention reads only those (§7.2: unfilled slots are never attended).
    """

    def __init__(self, batch, n_heads, max_len, d_head, *, device=None, dtype=torch.float32):
        shape = (count("batch", batch), count("n_heads", n_heads), count("max_len", max_len),
                 count("d_head", d_head))
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store a chunk [B, H, T, d_h] after the filled slots; returns the filled keys and values."""
        T = k.shape[2]
        end = self.length + T
        if end > self.k.shape[2]:
            raise ValueError(f"cache overflow: {self.length} filled + {T} new > max_len {self.k.shape[2]}")
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


class SSAAttention(nn.Module):
    """Causal multi-head SSA layer: x [B, T, d_model] -> [B, T, d_model] (§2.4).

    W_q, W_k, W_v [H·d_h, d_model] and W_o [d_model, H·d_h], without biases (package choice); the gates live in
    ``self.gates`` (a ``Temperatures``). A query at absolute position i (0-indexed) sees n = i + 1 keys.
    ``seed``: draw torch's default init U(±1/√fan_in) from that seed (else from the global RNG).
    """

    def __init__(self, d_model, n_heads, d_head=None, cfg: SSAConfig = SSAConfig(), *, seed=None):
        super().__init__()
        self.d_model, self.H = count("d_model", d_model), count("n_heads", n_heads)
        if d_head is None:
            if self.d_model % self.H:
                raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads}) "
                                 "when d_head is not given")
            d_head = self.d_model // self.H
        self.d_h = count("d_head", d_head)
        inner = self.H * self.d_h
        self.W_q = nn.Linear(self.d_model, inner, bias=False)
        self.W_k = nn.Linear(self.d_model, inner, bias=False)
        self.W_v = nn.Linear(self.d_model, inner, bias=False)
        self.W_o = nn.Linear(inner, self.d_model, bias=False)
        self.gates = Temperatures(self.d_model, self.H, self.d_h, cfg)
        if seed is not None:  # torch's default U(±1/√fan_in) init, drawn from a private generator
            gen = torch.Generator().manual_seed(count("seed", seed, minimum=0))
            with torch.no_grad():
                for lin in (self.W_q, self.W_k, self.W_v, self.W_o):
                    bound = 1.0 / math.sqrt(lin.in_features)
                    lin.weight.copy_((2 * torch.rand(lin.weight.shape, generator=gen) - 1) * bound)

    def _heads(self, y: torch.Tensor) -> torch.Tensor:
        B, T, _ = y.shape
        return y.view(B, T, self.H, self.d_h).transpose(1, 2)

    def _project(self, x: torch.Tensor, positions: torch.Tensor):
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must be [B, T, d_model={self.d_model}], got {tuple(x.shape)}")
        q, k, v = self._heads(self.W_q(x)), self._heads(self.W_k(x)), self._heads(self.W_v(x))
        tau_q = self.gates.query(x, q, positions + 1)
        tau_v = self.gates.value(x, v)
        return q, k, _scaled(v, tau_v), tau_q

    def _merge(self, o: torch.Tensor) -> torch.Tensor:
        B, _, T, _ = o.shape
        return self.W_o(o.transpose(1, 2).reshape(B, T, self.H * self.d_h))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, positions: torch.Tensor | None = None):
        """Fused forward. Without a cache: the full causal sequence. With a cache: x is the next chunk, at
        absolute positions cache.length … cache.length + T − 1, attending to every filled slot and causally
        within the chunk. ``positions`` [T] (0-indexed absolute positions) overrides the temperature's n − 1
        only; the default is the absolute position."""
        offset = 0 if cache is None else cache.length
        T = x.shape[1]
        if positions is None:
            positions = torch.arange(offset, offset + T, device=x.device)
        q, k, v, tau_q = self._project(x, positions)
        if cache is None:
            return self._merge(prescaled_attention(q, k, v, tau_q, is_causal=True))
        k, v = cache.append(k, v)
        mask = None
        if T > 1:  # query t sees keys 0 … offset + t
            mask = torch.arange(offset + T, device=x.device).view(1, -1) <= (offset + torch.arange(
                T, device=x.device)).view(-1, 1)
        return self._merge(prescaled_attention(q, k, v, tau_q, attn_mask=mask))

    def forward_naive(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Full causal sequence through the explicit row-scaled logits; returns (out, probabilities [B, H, T, T])."""
        positions = torch.arange(x.shape[1], device=x.device)
        q, k, v, tau_q = self._project(x, positions)
        o, probs = rowscaled_attention_naive(q, k, v, tau_q, is_causal=True)
        return self._merge(o), probs

    def new_cache(self, batch, max_len, *, device=None, dtype=None) -> KVCache:
        w = self.W_k.weight
        return KVCache(batch, self.H, max_len, self.d_h, device=device or w.device, dtype=dtype or w.dtype)


class Block(nn.Module):
    """Pre-LN transformer block: x + SSA(LN(x)), then x + MLP(LN(x)) with a 4× GELU MLP. The gates read LN(x),
    the normalized hidden state that feeds W_q (§2.4)."""

    def __init__(self, d_model, n_heads, cfg: SSAConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SSAAttention(d_model, n_heads, cfg=cfg)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x, cache=None, naive: bool = False):
        if naive:
            a, probs = self.attn.forward_naive(self.ln1(x))
        else:
            a, probs = self.attn(self.ln1(x), cache), None
        x = x + a
        return x + self.mlp(self.ln2(x)), probs


class SSAGPT(nn.Module):
    """A small GPT (nanoGPT layout) whose attention layers are SSA layers with one ``SSAConfig`` (§5 T5).

    Token and learned absolute position embeddings, L pre-LN blocks, final LayerNorm, LM head tied to the token
    embedding. idx [B, T] (int64, T <= context) -> logits [B, T, vocab].
    """

    def __init__(self, vocab, context, d_model, n_layers, n_heads, cfg: SSAConfig = SSAConfig(), *, seed=None):
        super().__init__()
        self.vocab, self.context = count("vocab", vocab), count("context", context)
        d_model, n_layers = count("d_model", d_model), count("n_layers", n_layers)
        gen = None if seed is None else torch.Generator().manual_seed(count("seed", seed, minimum=0))
        self.tok = nn.Embedding(self.vocab, d_model)
        self.pos = nn.Embedding(self.context, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, cfg) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, self.vocab, bias=False)
        self.head.weight = self.tok.weight
        for name, p in self.named_parameters():
            if "gates." in name or p.ndim < 2:
                continue
            # GPT-2 init: N(0, 0.02²), residual output projections scaled by 1/√(2L)
            std = 0.02 / math.sqrt(2 * n_layers) if name.endswith(("W_o.weight", "mlp.2.weight")) else 0.02
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=gen) * std)
        for m in self.modules():
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def _check(self, idx: torch.Tensor, offset: int) -> None:
        if idx.ndim != 2 or idx.dtype != torch.long:
            raise ValueError(f"idx must be an int64 tensor [B, T], got {idx.dtype} {tuple(idx.shape)}")
        if offset + idx.shape[1] > self.context:
            raise ValueError(f"positions up to {offset + idx.shape[1]} exceed the context {self.context}")

    def forward(self, idx: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
        """Logits [B, T, vocab]; with ``caches`` (one per layer, from ``new_caches``) idx is the next chunk."""
        offset = 0 if caches is None else caches[0].length
        self._check(idx, offset)
        x = self.tok(idx) + self.pos(torch.arange(offset, offset + idx.shape[1], device=idx.device))
        for i, blk in enumerate(self.blocks):
            x, _ = blk(x, None if caches is None else caches[i])
        return self.head(self.ln_f(x))

    def forward_naive(self, idx: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits through the explicit row-scaled path, and each layer's attention probabilities [B, H, T, T]."""
        self._check(idx, 0)
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        probs = []
        for blk in self.blocks:
            x, p = blk(x, naive=True)
            probs.append(p)
        return self.head(self.ln_f(x)), probs

    def new_caches(self, batch, max_len=None) -> list[KVCache]:
        return [b.attn.new_cache(batch, max_len or self.context) for b in self.blocks]

    def layer_s(self) -> torch.Tensor:
        """s of every layer [L, 1 or H] (zeros without a position part)."""
        return torch.stack([b.attn.gates.s().detach().cpu() for b in self.blocks])


# ----------------------------------------------------------------------------------------------------------
# single-layer readouts of T3 (Markov) and T4 (needle recall)
# ----------------------------------------------------------------------------------------------------------


def _normal_linear(d_in: int, d_out: int, gen, bias: bool = False) -> nn.Linear:
    lin = nn.Linear(d_in, d_out, bias=bias)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(d_out, d_in, generator=gen) / math.sqrt(d_in))
        if bias:
            lin.bias.zero_()
    return lin


class MarkovReadout(nn.Module):
    """T3 (§5): one SSA head whose attention row is the next-node prediction, as S independent copies.

    The query is node i's fixed embedding e_i; the context holds all K nodes, keys W_k e_j and values
    one-hot(j), so A_i = softmax_j(τ_q(e_i, K)·(W_q e_i)·(W_k e_j)/√d_h) is the predicted distribution. Every
    query sees n = K keys, so ``pos`` is vanilla times the global scale 1 + s·log K.

    E [S, K, d_e] (or [K, d_e] for S = 1) holds copy c's fixed embeddings; copy c has its own W_q, W_k [d_h, d_e]
    drawn N(0, 1/d_e) from ``seeds[c]`` (package choice) and its own gates, so training the copies together with an
    elementwise optimizer (Adam) equals training them one by one: the copies are the heads of one
    ``Temperatures`` with per-head inputs, and each has its own s.
    """

    def __init__(self, E, d_h, cfg: SSAConfig = SSAConfig(), *, seeds=(0,)):
        super().__init__()
        if cfg.value:
            raise ValueError(f"preset {cfg.preset!r} has a value temperature, which would leave the one-hot "
                             "values' simplex; T3 takes vanilla, pos, tok or pos+tok")
        E = torch.as_tensor(E, dtype=torch.float32)
        E = E.unsqueeze(0) if E.ndim == 2 else E
        if E.ndim != 3 or E.shape[0] != len(seeds):
            raise ValueError(f"E must be [S, K, d_e] with S = len(seeds) = {len(seeds)}, got {tuple(E.shape)}")
        self.register_buffer("E", E)
        S, K, d_e = E.shape
        d_h = count("d_h", d_h)
        W_q, W_k = [], []
        for sd in seeds:
            gen = torch.Generator().manual_seed(count("seed", sd, minimum=0))
            W_q.append(torch.randn(d_h, d_e, generator=gen) / math.sqrt(d_e))
            W_k.append(torch.randn(d_h, d_e, generator=gen) / math.sqrt(d_e))
        self.W_q = nn.Parameter(torch.stack(W_q))
        self.W_k = nn.Parameter(torch.stack(W_k))
        self.gates = Temperatures(d_e, S, d_h, replace(cfg, s_scope="head"))

    def pre_logits(self) -> torch.Tensor:
        """(W_q e_i)·(W_k e_j)/√d_h [S, K, K], before the temperature."""
        q, k = self.E @ self.W_q.transpose(1, 2), self.E @ self.W_k.transpose(1, 2)
        return q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])

    def tau(self) -> torch.Tensor:
        """τ_q(e_i, n = K) [S, K] (ones for vanilla)."""
        S, K, _ = self.E.shape
        q = (self.E @ self.W_q.transpose(1, 2))[None]
        t = self.gates.query(self.E[None], q, torch.full((K,), K, device=self.E.device))
        return torch.ones(S, K, device=self.E.device) if t is None else t[0]

    def forward(self) -> torch.Tensor:
        """log A [S, K, K]: row i of copy c is the log of the attention row of query node i."""
        return torch.log_softmax(self.tau()[..., None] * self.pre_logits(), dim=-1)

    def s(self) -> torch.Tensor:
        """s of every copy [S] (zeros without a position part)."""
        return self.gates.s().detach().expand(self.E.shape[0]).cpu()


class NeedleReader(nn.Module):
    """T4 (§5): one SSA head; the query token attends to the n items only (itself masked), and a linear readout
    of the head output gives logits over the N_v classes.

    Tokens have width D = d_k + N_v + 1; W_q, W_k, W_v [d_h, D] start N(0, 1/D), the readout [N_v, d_h] N(0,
    1/d_h) with zero bias (package choice). The gates read the raw token (query for τ_q, items for τ_v), and
    the query sees n keys: τ_pos = 1 + s·log n.
    """

    def __init__(self, d_k, N_v, d_h, cfg: SSAConfig = SSAConfig(), *, seed=0):
        super().__init__()
        self.D = count("d_k", d_k) + count("N_v", N_v) + 1
        gen = torch.Generator().manual_seed(count("seed", seed, minimum=0))
        self.W_q = _normal_linear(self.D, count("d_h", d_h), gen)
        self.W_k = _normal_linear(self.D, d_h, gen)
        self.W_v = _normal_linear(self.D, d_h, gen)
        self.readout = _normal_linear(d_h, N_v, gen, bias=True)
        self.gates = Temperatures(self.D, 1, d_h, cfg)

    def _heads(self, items, query):
        if items.ndim != 3 or items.shape[-1] != self.D or query.shape != (items.shape[0], self.D):
            raise ValueError(f"items must be [B, n, D={self.D}] and query [B, D], got {tuple(items.shape)} "
                             f"and {tuple(query.shape)}")
        q = self.W_q(query)[:, None, None]  # [B, 1, 1, d_h]
        k, v = self.W_k(items)[:, None], self.W_v(items)[:, None]  # [B, 1, n, d_h]
        n = torch.full((items.shape[0], 1), items.shape[1], device=items.device)
        return q, k, v, self.gates.query(query[:, None], q, n), self.gates.value(items, v)

    def forward(self, items: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Class logits [B, N_v] through the fused pre-scaled path."""
        q, k, v, tau_q, tau_v = self._heads(items, query)
        return self.readout(prescaled_attention(q, k, v, tau_q, tau_v)[:, 0, 0])

    def forward_naive(self, items, query) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(class logits [B, N_v], attention [B, n], pre-temperature logits [B, n]) via explicit logits."""
        q, k, v, tau_q, tau_v = self._heads(items, query)
        o, probs = rowscaled_attention_naive(q, k, v, tau_q, tau_v)
        z = (q @ k.transpose(-1, -2))[:, 0, 0] / math.sqrt(q.shape[-1])
        return self.readout(o[:, 0, 0]), probs[:, 0, 0], z

    def s(self) -> float:
        return float(self.gates.s().detach().reshape(-1)[0])


# ----------------------------------------------------------------------------------------------------------
# optimizer groups
# ----------------------------------------------------------------------------------------------------------


def param_groups(model: nn.Module, *, lr, gate_lr, weight_decay=0.0, decay="qk") -> list[dict]:
    """AdamW groups (§2.4 "Training", "Scale fixing"): gates in their own group (lr ``gate_lr``, no decay);
    ``decay="qk"``: decay only the W_q and W_k weights (the scale fixing of §2.4); ``"matrices"``: every
    weight matrix outside the gates (GPT practice); the rest undecayed."""
    if decay not in ("qk", "matrices"):
        raise ValueError(f"decay must be 'qk' or 'matrices', got {decay!r}")
    for name, val in (("lr", lr), ("gate_lr", gate_lr)):
        if not (math.isfinite(float(val)) and float(val) > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {val!r}")
    if not (math.isfinite(float(weight_decay)) and float(weight_decay) >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    gates, decayed, rest = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if "gates." in name or name.startswith("gates"):
            gates.append(p)
        elif (decay == "qk" and name.endswith(("W_q.weight", "W_k.weight"))) or \
                (decay == "matrices" and p.ndim >= 2 and "tok." not in name and "pos." not in name):
            decayed.append(p)
        else:
            rest.append(p)
    groups = [{"params": decayed, "lr": lr, "weight_decay": weight_decay},
              {"params": rest, "lr": lr, "weight_decay": 0.0},
              {"params": gates, "lr": gate_lr, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]

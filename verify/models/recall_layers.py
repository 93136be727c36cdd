"""Trainable memory layers of the ``recall`` topic (test_time_memory.md §3, §4.6, §5.5).

``LAYERS`` maps a name to a ``MemoryLayer`` subclass constructed as ``cls(d_model, heads=h, d_k=dk)``; each
implements ``mix`` (one rule of ``verify.models.recall_rules``, chunkwise where the spec gives a form) and
``state_size`` (§5.5). The rules are re-exported here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from theory._validate import count
from verify.models.recall_base import MemoryLayer
from verify.models.recall_rules import (  # noqa: F401  (the rules are part of this module's API)
    MEMORA_AXES,
    MONETA_MAPS,
    YAAD_HUBER,
    _choice,
    _chunk_delta,
    _chunk_gla,
    _chunk_gla_channel,
    _delta,
    _gla,
    _gla_channel,
    _longhorn_rate,
    _memora,
    _moneta,
    _titans,
    _titans_mlp,
    _yaad,
    chunkwise_delta_rule,
    chunkwise_gated_delta_rule,
    chunkwise_gated_linear_attention,
    chunkwise_gated_linear_attention_channel,
    delta_rule,
    gated_delta_rule,
    gated_linear_attention,
    gated_linear_attention_channel,
    linear_attention,
    longhorn,
    memora,
    miras_gated_delta_rule,
    moneta,
    softmax_attention,
    titans,
    titans_mlp,
    yaad,
)


class _Chunkable(MemoryLayer):
    """A layer with an exact chunkwise form: ``mode`` "chunk" (default) or "recurrent" (the token loop, for
    checks), chunk length ``chunk_size``. Both are plain attributes, settable on an instance."""

    mode = "chunk"
    chunk_size = 64

    def _chunked_mode(self) -> bool:
        if self.mode not in ("chunk", "recurrent"):
            raise ValueError(f"mode must be 'chunk' or 'recurrent', got {self.mode!r}")
        count("chunk_size", self.chunk_size)
        return self.mode == "chunk"


class SoftmaxAttention(MemoryLayer):
    """Causal multi-head softmax attention (§3), scale d_k^{-1/2}: raw projections (no SiLU, no L2 norm), and by
    default no short convolution and no output norm (Zoology's attention baseline). State: the KV cache,
    heads·(d_k + d_v)·L = 2·d_model·L at the default head widths (§5.5)."""

    use_beta = False
    use_gamma = False
    qk_activation = False
    qk_norm = False

    def __init__(self, d_model, heads=1, d_k=None, d_v=None, conv=0, output_norm=False):
        super().__init__(d_model, heads=heads, d_k=d_k, d_v=d_v, conv=conv, output_norm=output_norm)

    def mix(self, feats):
        return F.scaled_dot_product_attention(feats["q"], feats["k"], feats["v"], is_causal=True)

    def state_size(self, seq_len=None) -> int:
        """KV cache of ``seq_len`` tokens (required): heads·(d_k + d_v)·seq_len."""
        if seq_len is None:
            raise ValueError("seq_len is required for the state size of softmax attention (its KV cache grows "
                             "with the sequence)")
        return self.heads * (self.d_k + self.d_v) * count("seq_len", seq_len)


class LinearAttention(_Chunkable):
    """Linear attention (§3) with L2-normalised q, k: ``M_t = M_{t−1} + v_t k_tᵀ``; state heads·d_k·d_v."""

    use_beta = False
    use_gamma = False

    def mix(self, feats):
        q, k, v = feats["q"], feats["k"], feats["v"]
        zero = q.new_zeros(q.shape[:-1])
        if self._chunked_mode():
            return _chunk_gla(q, k, v, zero, zero + 1.0, self.chunk_size, None)[0]
        return _gla(q, k, v, zero, zero + 1.0, None)[0]


class GLA(_Chunkable):
    """Gated linear attention with a per-channel decay (§3): ``M_t = M_{t−1} Diag(a_t) + v_t k_tᵀ``.

    fla GLA gate: log a_t = logsigmoid(W_2 W_1 x + b)/16, W_1 of rank 16 (``gate_rank``), 16 the gate-logit
    normaliser (``gate_normalizer``). State heads·d_k·d_v."""

    use_beta = False
    use_gamma = False
    chunk_size = 16  # the chunk materialises [C, C, d_k] decay weights
    gate_rank = 16
    gate_normalizer = 16.0

    def __init__(self, d_model, heads=1, d_k=None, d_v=None, conv=4, output_norm=True):
        super().__init__(d_model, heads=heads, d_k=d_k, d_v=d_v, conv=conv, output_norm=output_norm)
        self.gk_proj = nn.Sequential(nn.Linear(self.d_model, self.gate_rank, bias=False),
                                     nn.Linear(self.gate_rank, self.heads * self.d_k, bias=True))

    def features(self, x):
        feats = super().features(x)
        gk = self._heads(self.gk_proj(x), self.d_k)
        feats["log_a"] = F.logsigmoid(gk) / self.gate_normalizer
        return feats

    def mix(self, feats):
        q, k, v, log_a = feats["q"], feats["k"], feats["v"], feats["log_a"]
        if self._chunked_mode():
            return _chunk_gla_channel(q, k, v, log_a, self.chunk_size, None)[0]
        return _gla_channel(q, k, v, log_a, None)[0]


class DeltaNet(_Chunkable):
    """DeltaNet (§3), β_t = σ(W_b x + b): ``M_t = M_{t−1} − β_t e_t k_tᵀ``; chunkwise UT form (§3.3).
    State heads·d_k·d_v."""

    use_gamma = False

    def mix(self, feats):
        q, k, v, beta = feats["q"], feats["k"], feats["v"], feats["beta"]
        if self._chunked_mode():
            return _chunk_delta(q, k, v, None, beta, self.chunk_size, None)[0]
        return _delta(q, k, v, None, beta, None)[0]


class GatedDeltaNet(_Chunkable):
    """Gated DeltaNet (§3, fla): decay a_t with the Mamba2 gate log a_t = −exp(A_log) softplus(W_a x + dt_bias),
    β_t = σ(W_b x + b); ``M_t = a_t M_{t−1}(I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ``; chunkwise UT form (§3.3).
    State heads·d_k·d_v."""

    gate_style = "mamba2"

    def mix(self, feats):
        q, k, v, beta, lg = feats["q"], feats["k"], feats["v"], feats["beta"], feats["log_gamma"]
        if self._chunked_mode():
            return _chunk_delta(q, k, v, lg, beta, self.chunk_size, None)[0]
        return _delta(q, k, v, lg, beta, None)[0]


class Longhorn(_Chunkable):
    """Longhorn (§3.1), exact implicit step with β_t = softplus(W_b x + b) > 0 per head: a delta rule with rate
    ε_t = β_t/(1 + β_t‖k_t‖²) ∈ (0, 1) for unit keys, run in DeltaNet's chunkwise form. State heads·d_k·d_v."""

    use_gamma = False
    beta_activation = "softplus"

    def mix(self, feats):
        q, k, v = feats["q"], feats["k"], feats["v"]
        eps = _longhorn_rate(k, feats["beta"])
        if self._chunked_mode():
            return _chunk_delta(q, k, v, None, eps, self.chunk_size, None)[0]
        return _delta(q, k, v, None, eps, None)[0]


class _Momentum(MemoryLayer):
    """Adds a per-head momentum gate η_t = σ(W_η x + b) (Titans' surprise decay) to the features."""

    def __init__(self, d_model, heads=1, d_k=None, d_v=None, conv=4, output_norm=True):
        super().__init__(d_model, heads=heads, d_k=d_k, d_v=d_v, conv=conv, output_norm=output_norm)
        self.m_proj = nn.Linear(self.d_model, self.heads, bias=True)
        nn.init.zeros_(self.m_proj.bias)

    def features(self, x):
        feats = super().features(x)
        feats["eta"] = torch.sigmoid(self.head_gate(self.m_proj, x))
        return feats


class Titans(_Momentum):
    """Titans with a linear memory (§2.3(h), §3), per token: forgetting α_t = 1 − γ_t (γ from log γ), momentum
    η_t = σ(·), step θ_t = ``theta_max``·β_t, β_t = σ(·); ``S_t = η_t S_{t−1} − 2θ_t e_t k_tᵀ``,
    ``M_t = (1 − α_t)M_{t−1} + S_t``. With unit keys the curvature of ‖Mk − v‖² along k is 2, so heavy-ball
    stability needs θ < 1 + η: ``theta_max`` = 1 keeps every token's step inside it.
    State: memory and momentum, 2·heads·d_k·d_v (§5.5)."""

    theta_max = 1.0

    def mix(self, feats):
        alpha = -torch.expm1(feats["log_gamma"])
        theta = self.theta_max * feats["beta"]
        return _titans(feats["q"], feats["k"], feats["v"], alpha, feats["eta"], theta, None, None)[0]

    def state_size(self, seq_len=None) -> int:
        return 2 * self.heads * self.d_k * self.d_v


class TitansMLP(_Momentum):
    """Titans with a 2-layer MLP memory f(x) = W1 gelu(W2 x) per head (titans-pytorch ``MemoryMLP``, depth 2,
    hidden width ``expansion``·d_k), gates as ``Titans`` but θ_t = ``theta_max``·σ(·) with ``theta_max`` = 0.1:
    the MLP loss has curvature of order 2(‖z‖² + ‖W1‖²) instead of 2, and per-token steps of order 1 diverge at
    initialisation (titans-pytorch likewise caps its adaptive step, at 1e-2). The initial memory weights
    W1_0 [H, d_v, d_h], W2_0 [H, d_h, d_k] are learned. State: memory weights and their momenta,
    2·heads·(d_v·d_h + d_h·d_k)."""

    expansion = 2
    theta_max = 0.1

    def __init__(self, d_model, heads=1, d_k=None, d_v=None, conv=4, output_norm=True):
        super().__init__(d_model, heads=heads, d_k=d_k, d_v=d_v, conv=conv, output_norm=output_norm)
        self.d_h = count("expansion·d_k", int(self.expansion * self.d_k))
        self.W1_0 = nn.Parameter(torch.randn(self.heads, self.d_v, self.d_h) / math.sqrt(self.d_h))
        self.W2_0 = nn.Parameter(torch.randn(self.heads, self.d_h, self.d_k) / math.sqrt(self.d_k))

    def mix(self, feats):
        q = feats["q"]
        B, H = q.shape[:2]
        W1 = self.W1_0.expand(B, H, self.d_v, self.d_h)
        W2 = self.W2_0.expand(B, H, self.d_h, self.d_k)
        alpha = -torch.expm1(feats["log_gamma"])
        theta = self.theta_max * feats["beta"]
        return _titans_mlp(q, feats["k"], feats["v"], alpha, feats["eta"], theta, W1, W2)[0]

    def state_size(self, seq_len=None) -> int:
        return 2 * self.heads * (self.d_v * self.d_h + self.d_h * self.d_k)


class Moneta(MemoryLayer):
    """Moneta with a linear memory (§3.2), p = 3, q = 4, stated map W = A/‖A‖_q^{q−2} (class attributes ``p``,
    ``q_norm``, ``retention_map``); retention α_t = γ_t, step η_t = β_t. State: W and the accumulator A,
    2·heads·d_k·d_v (§5.5)."""

    p = 3.0
    q_norm = 4.0
    retention_map = "stated"

    def mix(self, feats):
        mirror = _choice("retention_map", self.retention_map, MONETA_MAPS) == "mirror"
        alpha = torch.exp(feats["log_gamma"])
        return _moneta(feats["q"], feats["k"], feats["v"], alpha, feats["beta"], self.p, self.q_norm, mirror,
                       None)[0]

    def state_size(self, seq_len=None) -> int:
        return 2 * self.heads * self.d_k * self.d_v


class Yaad(MemoryLayer):
    """Yaad (§3.2): Huber attentional bias with data-dependent threshold δ_t = softplus(W_δ x + b) per head,
    retention α_t = γ_t, step η_t = β_t; ``huber`` class attribute "coordinate" (stated) or "norm".
    State heads·d_k·d_v."""

    huber = "coordinate"

    def __init__(self, d_model, heads=1, d_k=None, d_v=None, conv=4, output_norm=True):
        super().__init__(d_model, heads=heads, d_k=d_k, d_v=d_v, conv=conv, output_norm=output_norm)
        self.delta_proj = nn.Linear(self.d_model, self.heads, bias=True)
        nn.init.zeros_(self.delta_proj.bias)

    def features(self, x):
        feats = super().features(x)
        feats["delta"] = F.softplus(self.head_gate(self.delta_proj, x))
        return feats

    def mix(self, feats):
        normwise = _choice("huber", self.huber, YAAD_HUBER) == "norm"
        alpha = torch.exp(feats["log_gamma"])
        return _yaad(feats["q"], feats["k"], feats["v"], alpha, feats["beta"], feats["delta"], normwise, None)[0]


class Memora(MemoryLayer):
    """Memora (§3.2): ``W_t = c·Softmax(α_t log W_{t−1} − η_t e_t k_tᵀ)`` with α_t = γ_t, η_t = β_t, c = 1 over the
    whole matrix (class attributes ``c``, ``axis``), W_0 = c/n. State heads·d_k·d_v."""

    c = 1.0
    axis = "matrix"

    def mix(self, feats):
        axis = _choice("axis", self.axis, MEMORA_AXES)
        alpha = torch.exp(feats["log_gamma"])
        return _memora(feats["q"], feats["k"], feats["v"], alpha, feats["beta"], self.c, axis, None)[0]


LAYERS: dict[str, type] = {
    "attention": SoftmaxAttention,
    "linear_attention": LinearAttention,
    "gla": GLA,
    "deltanet": DeltaNet,
    "gdn": GatedDeltaNet,
    "longhorn": Longhorn,
    "titans": Titans,
    "titans_mlp": TitansMLP,
    "moneta": Moneta,
    "yaad": Yaad,
    "memora": Memora,
}

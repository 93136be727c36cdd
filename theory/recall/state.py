"""Recurrent-state sizes, the x-axis of capacity plots (test_time_memory.md §5.5), in numbers of scalars.

Zoology/Based conventions [official code]: attention counts its KV cache, recurrent layers their state.
Package additions [derived]: LA/GLA one d_k×d_v matrix per head; Mesa H and G; Titans adds the momentum;
Moneta adds its accumulator A; MLP memories count all memory weights (W_1, W_2).
"""

from __future__ import annotations

import numpy as np

from theory.recall._checks import out, real

__all__ = [
    "LINEAR_MEMORY_COPIES",
    "state_size_attention",
    "state_size_linear",
    "state_size",
    "based_feature_dim",
    "state_size_based",
    "state_size_mesa",
    "state_size_mlp_memory",
]

# number of d_k×d_v matrices a rule with a linear memory carries per head
LINEAR_MEMORY_COPIES = {
    "linear_attention": 1,
    "gated_linear_attention": 1,
    "deltanet": 1,
    "gated_deltanet": 1,
    "longhorn": 1,
    "yaad": 1,
    "memora": 1,
    "titans": 2,  # memory + momentum S
    "moneta": 2,  # W + accumulator A
}


def _count(name, x):
    return real(name, x, lo=1, integer=True)


def state_size_attention(d_model, L):
    """KV cache ``2·d_model·L`` (§5.5); d_model >= 1, L >= 1 sequence length."""
    return out(2.0 * _count("d_model", d_model) * _count("L", L))


def state_size_linear(heads, d_k, d_v):
    """One d_k×d_v matrix per head, ``heads·d_k·d_v`` (LA, GLA, DeltaNet, GDN; §5.5)."""
    return out(_count("heads", heads) * _count("d_k", d_k) * _count("d_v", d_v))


def state_size(rule, heads, d_k, d_v):
    """State size of a linear-memory rule or Mesa (§5.5): copies × ``heads·d_k·d_v``, Mesa ``heads·(d_k² + d_k·d_v)``.

    rule: one of :data:`LINEAR_MEMORY_COPIES` or ``"mesa"``.
    """
    if rule == "mesa":
        return state_size_mesa(heads, d_k, d_v)
    if rule not in LINEAR_MEMORY_COPIES:
        raise ValueError(f"rule must be one of {sorted([*LINEAR_MEMORY_COPIES, 'mesa'])}, got {rule!r}")
    return out(LINEAR_MEMORY_COPIES[rule] * np.asarray(state_size_linear(heads, d_k, d_v)))


def based_feature_dim(f):
    """Taylor feature dimension ``F = f(f + 1)/2 + f + 1`` of Based for feature dim f >= 1 (§5.5)."""
    f = _count("f", f)
    return out(f * (f + 1) / 2.0 + f + 1.0)


def state_size_based(heads, d_head, f):
    """Based ``heads·d_head·F + heads·F`` with F = :func:`based_feature_dim` (§5.5)."""
    heads = _count("heads", heads)
    d_head = _count("d_head", d_head)
    F = np.asarray(based_feature_dim(f))
    return out(heads * d_head * F + heads * F)


def state_size_mesa(heads, d_k, d_v):
    """Mesa H [d_k, d_k] and G [d_v, d_k] per head: ``heads·(d_k² + d_k·d_v)`` (§4.1, §5.5)."""
    heads, d_k, d_v = _count("heads", heads), _count("d_k", d_k), _count("d_v", d_v)
    return out(heads * (d_k * d_k + d_k * d_v))


def state_size_mlp_memory(heads, d, expansion=4, copies=1):
    """MLP memory x + LN(W_1 σ(W_2 x)) per head: ``copies·heads·2·expansion·d²`` (§3.2, §5.5).

    W_2 [expansion·d, d] and W_1 [d, expansion·d]; copies = 2 adds Titans' momentum or Moneta's accumulator.
    heads, d, expansion, copies >= 1 integers.
    """
    heads, d = _count("heads", heads), _count("d", d)
    e, c = _count("expansion", expansion), _count("copies", copies)
    return out(c * heads * 2.0 * e * d * d)

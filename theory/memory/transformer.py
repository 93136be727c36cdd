"""Parameter counts and sweep shapes of the one-layer factual-recall transformer (associative_memory.md §6–§7).

P_paper = 4·H·d_h·d + 2·m·d counts Q, K, V, O, W_1, W_2 (not b_1, not the frozen embeddings); every plot
of the paper uses it. P_trainable adds b_1; P_storing drops Q and K, which route rather than store (§6.2).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from theory._validate import at_least, integers
from theory.memory._checks import out_int
from theory.memory.derivations import lambdified


class ParamCounts(NamedTuple):
    """P_paper, P_trainable = P_paper + m, P_storing = 2Hd_h d + 2md + m (§6.2)."""

    paper: int | np.ndarray
    trainable: int | np.ndarray
    storing: int | np.ndarray


def _check(H, d_h, d, m):
    return integers("H", H, 1), integers("d_h", d_h, 1), integers("d", d, 1), integers("m", m, 0)


def transformer_param_count(H, d_h, d, m):
    """P_paper = 4·H·d_h·d + 2·m·d (§6.2, F0) [broadcast; int for scalars].

    H: heads >= 1; d_h: head width >= 1 (d_h = 0, an empty attention layer, is rejected: §7, §10);
    d: model width >= 1; m: MLP width >= 0. Examples: (4, 4, 16, 16) → 1536; (5, 8, 32, 52) → 8448.
    """
    return out_int(lambdified("param_counts")(*_check(H, d_h, d, m))[0])


def transformer_param_counts(H, d_h, d, m) -> ParamCounts:
    """(P_paper, P_trainable, P_storing) (§6.2) [broadcast; ints for scalars]."""
    paper, trainable, storing = lambdified("param_counts")(*_check(H, d_h, d, m))
    return ParamCounts(out_int(paper), out_int(trainable), out_int(storing))


def fact_sweep_shape(d, alpha_att, beta_mlp, H):
    """(d_h, m) = (⌊d·α_att/H⌋, ⌊d·β_mlp⌋) of the §7 sweep (α_att = Hd_h/d, β_mlp = m/d) [broadcast].

    d_h = 0 marks an empty attention layer, which the package skips (§7). d, H: integers >= 1;
    alpha_att, beta_mlp > 0.
    """
    d = integers("d", d, 1)
    H = integers("H", H, 1)
    a = at_least("alpha_att", alpha_att, 0.0, strict=True)
    b = at_least("beta_mlp", beta_mlp, 0.0, strict=True)
    return out_int(np.floor(d * a / H)), out_int(np.floor(d * b))


def tradeoff_axes(H, d_h, d, m):
    """(x, y) = (d·d_h·H, d·m): "attention" and "MLP" parameters of one matrix each, §6.5 axes [broadcast]."""
    H, d_h, d, m = _check(H, d_h, d, m)
    return out_int(d * d_h * H), out_int(d * m)

"""Parameter overhead of SSA gate constructions (selective_attention.md §2.5).

The two abstracts quote "less than 0.5%" and "about 5%" new parameters; these match a per-head scalar gate and
a full d×d projection per layer respectively (§2.5).
"""

from __future__ import annotations

import numpy as np

from theory._validate import integers, out

#: Reference sizes of §2.5: width d, heads H, layers L, total parameters.
REFERENCE_MODELS = {
    "gpt2-small": {"d": 768, "H": 12, "L": 12, "params": 124.4e6},
    "pythia-160m": {"d": 768, "H": 12, "L": 12, "params": 162.3e6},
    "pythia-410m": {"d": 1024, "H": 16, "L": 24, "params": 405.3e6},
}

#: Gate constructions of §2.5 (counts per model).
CONSTRUCTIONS = ("full_projection", "per_head_linear", "per_head_shared", "official")


def gate_parameter_count(d, H, L, construction):
    """New parameters of one gate construction (§2.5) for width d, H heads, L layers (integers >= 1).

    ``full_projection``: one d×d projection (+ bias) per layer, L(d² + d); ``per_head_linear``: per-head scalar
    linear gates on x for q and v, 2L(dH + H); ``per_head_shared``: per-head gates reading the head's own q or
    v (d/H features each), 2L(d + H); ``official``: one scalar per layer, L.
    """
    d = integers("d", d, 1)
    H = integers("H", H, 1)
    L = integers("L", L, 1)
    counts = {
        "full_projection": L * (d * d + d),
        "per_head_linear": 2 * L * (d * H + H),
        "per_head_shared": 2 * L * (d + H),
        "official": L * np.ones_like(d),
    }
    if construction not in counts:
        raise ValueError(f"construction must be one of {CONSTRUCTIONS}, got {construction!r}")
    c = np.asarray(counts[construction])
    return int(c) if c.ndim == 0 else c.astype(np.int64)


def parameter_overhead(construction, model):
    """Share of new parameters, count/params, for a ``REFERENCE_MODELS`` entry (§2.5). [fraction, not %]"""
    if model not in REFERENCE_MODELS:
        raise ValueError(f"model must be one of {tuple(REFERENCE_MODELS)}, got {model!r}")
    ref = REFERENCE_MODELS[model]
    return out(gate_parameter_count(ref["d"], ref["H"], ref["L"], construction) / ref["params"])

"""capdyn.sim.recall — sequence-model memories as test-time optimisers (test_time_memory.md §3–§4, §6, §10).

Reference recurrences of every update rule in M-orientation (memory M [d_v, d_k], read o_t = M_t q_t after the
write of token t), batched over leading dimensions: linear attention, gated LA (scalar and per-channel), DeltaNet,
Gated DeltaNet, Miras-gated delta, Longhorn, Titans (linear memory), Moneta, Yaad, Memora and Mesa (exact solve,
CG with tolerance stop, the public fixed-step damped CG); chunkwise DeltaNet/GDN (UT form) and Mesa; the
training-free oracle experiments X2–X4. ``sim.recall.naive`` holds the plain float64 references with the same
signatures.
"""

from sim.recall import naive
from sim.recall.chunkwise import chunkwise_delta_rule, chunkwise_gated_delta_rule, chunkwise_mesa
from sim.recall.mesa import SolveInfo, cg_solve, mesa
from sim.recall.oracle import (
    CapacityResult,
    CGCurve,
    ForgettingResult,
    PassesResult,
    cg_convergence,
    delta_passes,
    forgetting_curves,
    oracle_capacity,
)
from sim.recall.rules import (
    delta_rule,
    gated_delta_rule,
    gated_linear_attention,
    gated_linear_attention_channel,
    linear_attention,
    longhorn,
    memora,
    miras_gated_delta_rule,
    moneta,
    titans,
    yaad,
)

__all__ = [
    "CGCurve",
    "CapacityResult",
    "ForgettingResult",
    "PassesResult",
    "SolveInfo",
    "cg_convergence",
    "cg_solve",
    "chunkwise_delta_rule",
    "chunkwise_gated_delta_rule",
    "chunkwise_mesa",
    "delta_passes",
    "delta_rule",
    "forgetting_curves",
    "gated_delta_rule",
    "gated_linear_attention",
    "gated_linear_attention_channel",
    "linear_attention",
    "longhorn",
    "memora",
    "mesa",
    "miras_gated_delta_rule",
    "moneta",
    "naive",
    "oracle_capacity",
    "titans",
    "yaad",
]

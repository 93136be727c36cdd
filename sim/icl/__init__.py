"""capdyn.sim.icl — population gradient flows of linear attention on in-context regression
(icl_linear_attention.md §4–§6): ATTN-M, MLP(z), ATTN-S in GD or RK4 mode, paper or official-code units, and the
Monte Carlo of the §4 moments. ``sim.icl.naive`` holds the plain float64 references with the same signatures.
"""

from sim.icl import naive
from sim.icl.flows import (
    Trajectory,
    attn_m_flow,
    attn_s_flow,
    crossings,
    midpoint_levels,
    mlp_flow,
    plateau_dwell,
)
from sim.icl.inits import aligned_attn_m, aligned_attn_s_single_head, init_attn_m, init_attn_s, init_mlp
from sim.icl.montecarlo import MCMoments, mc_moments

__all__ = [
    "MCMoments",
    "Trajectory",
    "aligned_attn_m",
    "aligned_attn_s_single_head",
    "attn_m_flow",
    "attn_s_flow",
    "crossings",
    "init_attn_m",
    "init_attn_s",
    "init_mlp",
    "mc_moments",
    "midpoint_levels",
    "mlp_flow",
    "naive",
    "plateau_dwell",
]

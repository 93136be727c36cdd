"""capdyn.theory.icl — training dynamics of in-context learning in linear attention (icl_linear_attention.md).

Package convention: paper units (τ = 1, attention normalized by 1/N, un-halved MSE L = E(y_q − ŷ_q)²);
``units`` converts to the official code's units. Eigenvalues are indexed in descending order from 0.

- ``derivations``: sympy ``derive_*`` functions (Wick moments, per-mode solution, Γ*, σ(t), Eq. 21, limits);
- ``moments``: exact population moments, L(M), G(M) (§4);
- ``modes``: κ_d and eigen-helpers (§1); ``covariance``: Λ presets (§1.2, §2.2); ``units``: §1.2;
- ``attn_m``: ATTN_M flow, Γ*, L*, white-covariance σ(t), escape time (§5);
- ``attn_s``: ATTN_S flow, 2^D fixed points, plateaus, Eq. 21, escape time, rank-R rule, PCR (§6).
"""

from theory.icl.attn_m import (
    aligned_balanced_attn_m,
    attn_m_conserved,
    attn_m_escape_slope_code,
    attn_m_escape_steps_code,
    attn_m_escape_time,
    attn_m_rhs,
    final_loss,
    loss_white,
    optimal_matrix,
    sigma_white,
    t_half,
    t_mid,
)
from theory.icl.attn_s import (
    attn_s_conserved,
    attn_s_escape_steps_code,
    attn_s_escape_time,
    attn_s_matrix,
    attn_s_rhs,
    drop_sizes,
    fixed_point,
    fixed_point_loss,
    fixed_point_matrix,
    head_magnitudes,
    pcr_matrix,
    plateau_losses,
    rank_r_plateaus,
    scalar_ode_F,
    scalar_ode_fixed_point,
    scalar_ode_rhs,
    scalar_ode_time,
    scalar_ode_v,
)
from theory.icl.covariance import PRESETS, covariance, default_eigvals, random_rotation
from theory.icl.derivations import (
    derive_attn_m_escape_rate,
    derive_attn_s_escape,
    derive_large_N_limits,
    derive_loss,
    derive_mode_solution,
    derive_optimal_matrix,
    derive_population_moments,
    derive_scalar_ode,
    derive_white_solution,
    white_closed_forms,
)
from theory.icl.modes import kappa
from theory.icl.moments import Moments, error_signal, loss, population_moments
from theory.icl.units import (
    code_eta,
    code_weights,
    paper_eta,
    paper_weights,
    steps_to_time,
    time_per_step,
    time_to_steps,
    weight_scale,
)

__all__ = [
    "Moments",
    "PRESETS",
    "aligned_balanced_attn_m",
    "attn_m_conserved",
    "attn_m_escape_slope_code",
    "attn_m_escape_steps_code",
    "attn_m_escape_time",
    "attn_m_rhs",
    "attn_s_conserved",
    "attn_s_escape_steps_code",
    "attn_s_escape_time",
    "attn_s_matrix",
    "attn_s_rhs",
    "code_eta",
    "code_weights",
    "covariance",
    "default_eigvals",
    "derive_attn_m_escape_rate",
    "derive_attn_s_escape",
    "derive_large_N_limits",
    "derive_loss",
    "derive_mode_solution",
    "derive_optimal_matrix",
    "derive_population_moments",
    "derive_scalar_ode",
    "derive_white_solution",
    "drop_sizes",
    "error_signal",
    "final_loss",
    "fixed_point",
    "fixed_point_loss",
    "fixed_point_matrix",
    "head_magnitudes",
    "kappa",
    "loss",
    "loss_white",
    "optimal_matrix",
    "paper_eta",
    "paper_weights",
    "pcr_matrix",
    "plateau_losses",
    "population_moments",
    "random_rotation",
    "rank_r_plateaus",
    "scalar_ode_F",
    "scalar_ode_fixed_point",
    "scalar_ode_rhs",
    "scalar_ode_time",
    "scalar_ode_v",
    "sigma_white",
    "steps_to_time",
    "t_half",
    "t_mid",
    "time_per_step",
    "time_to_steps",
    "weight_scale",
    "white_closed_forms",
]

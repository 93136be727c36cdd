"""Min-norm two-query construction: vanilla vs query temperature (selective_attention.md §3.4).

Unit inputs x_1, x_2 with cosine ρ must produce gaps Δ_1, Δ_2. Vanilla pays ‖u‖ for the additive difference
Δ_2 − Δ_1; with a query temperature τ_k = Δ_k/Δ̄ the shared direction u only needs the common gap Δ̄, and the
gate τ = exp(w·x + b) pays ‖w‖ for the log-ratio log(Δ_2/Δ_1).
"""

from __future__ import annotations

import numpy as np

from theory._validate import at_least, open_interval, out
from theory.selective.derivations import lambdified


def two_query_min_norm(Delta1, Delta2, rho, Delta_bar=None) -> dict:
    """Minimum norms of the two-query construction (§3.4), from the lambdified sympy derivation.

    Returns a dict of floats (arrays when inputs are arrays):
    ``vanilla_u`` = √((Δ_1² − 2ρΔ_1Δ_2 + Δ_2²)/(1 − ρ²)); ``ssa_u`` = Δ̄√(2/(1 + ρ));
    ``gate_w_bias`` = |log(Δ_2/Δ_1)|/√(2(1 − ρ)) (free bias); ``gate_w_nobias``: min ‖w‖ with
    w·x_k = log(Δ_k/Δ̄), which at Δ̄ = Δ_1 (τ_1 = 1) is |log(Δ_2/Δ_1)|/√(1 − ρ²).
    Delta1, Delta2 > 0 [logit units]; rho ∈ (−1, 1); Delta_bar > 0, default Δ_1.
    """
    D1 = at_least("Delta1", Delta1, 0.0, strict=True)
    D2 = at_least("Delta2", Delta2, 0.0, strict=True)
    r = open_interval("rho", rho, -1.0, 1.0)
    Db = D1 if Delta_bar is None else at_least("Delta_bar", Delta_bar, 0.0, strict=True)
    D1, D2, r, Db = np.broadcast_arrays(D1, D2, r, Db)
    fns = lambdified("two_query")
    return {k: out(np.broadcast_to(f(D1, D2, r, Db), D1.shape)) for k, f in fns.items()}

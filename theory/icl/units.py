"""Paper ↔ official-code units (icl_linear_attention.md §1.2).

The paper normalizes attention by 1/N and writes gradient flow τ dW/dt = −½ ∂L/∂W with the un-halved MSE,
so one GD step of rate η is Δt/τ = 2η. The official code omits the 1/N; a code run with weights W_code and
rate η_code is the paper run with W_paper = s·W_code and η_paper = s²·η_code, where s = √N for ATTN_M and
the MLP on cubic features (two weight factors carry the 1/N) and s = N^(1/3) for ATTN_S (three factors).
One code step is therefore Δt/τ = 2·s²·η_code (2ηN or 2ηN^(2/3)).

``model`` is one of "attn_m", "mlp", "attn_s"; ``units`` is "paper" or "code" (which η is passed).
"""

from __future__ import annotations

import numpy as np

from theory._validate import count, positive_finite

MODELS = ("attn_m", "mlp", "attn_s")
UNITS = ("paper", "code")


def _check_model(model) -> str:
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    return model


def _check_units(units) -> str:
    if units not in UNITS:
        raise ValueError(f"units must be one of {UNITS}, got {units!r}")
    return units


def _scalar_or_array(x):
    a = np.asarray(x, dtype=float)
    return float(a) if a.ndim == 0 else a


def weight_scale(N, model) -> float:
    """s with W_paper = s·W_code: √N for "attn_m" and "mlp", N^(1/3) for "attn_s" (§1.2)."""
    N = count("N", N)
    model = _check_model(model)
    return float(np.cbrt(N)) if model == "attn_s" else float(np.sqrt(N))


def _finite(name, x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def paper_weights(W_code, N, model):
    """Paper-unit weights s·W_code [any shape] (§1.2)."""
    return _scalar_or_array(weight_scale(N, model) * _finite("W_code", W_code))


def code_weights(W_paper, N, model):
    """Official-code weights W_paper/s [any shape] (§1.2)."""
    return _scalar_or_array(_finite("W_paper", W_paper) / weight_scale(N, model))


def paper_eta(eta_code, N, model):
    """Paper-normalized learning rate giving the same loss curve: N·η for attn_m/mlp, N^(2/3)·η for attn_s."""
    eta = positive_finite("eta_code", eta_code)
    return _scalar_or_array(weight_scale(N, model) ** 2 * eta)


def code_eta(eta_paper, N, model):
    """Inverse of ``paper_eta``: η_paper/N (attn_m, mlp) or η_paper/N^(2/3) (attn_s)."""
    eta = positive_finite("eta_paper", eta_paper)
    return _scalar_or_array(eta / weight_scale(N, model) ** 2)


def time_per_step(eta, N, model, units="paper"):
    """Δt/τ of one GD step [τ]: 2η in paper units; 2ηN (attn_m, mlp) or 2ηN^(2/3) (attn_s) in code units."""
    units = _check_units(units)
    eta = positive_finite("eta", eta)
    s2 = weight_scale(N, model) ** 2
    return _scalar_or_array(2.0 * eta * (s2 if units == "code" else 1.0))


def steps_to_time(steps, eta, N, model, units="paper"):
    """t/τ reached after ``steps`` GD steps (steps >= 0, any shape)."""
    steps = positive_finite("steps", steps, allow_zero=True)
    return _scalar_or_array(steps * time_per_step(eta, N, model, units))


def time_to_steps(t, eta, N, model, units="paper"):
    """Number of GD steps (real-valued) covering t/τ (t >= 0, any shape)."""
    t = positive_finite("t", t, allow_zero=True)
    return _scalar_or_array(t / time_per_step(eta, N, model, units))

"""Value gating vs vanilla attention vs Bayes, and value temperature as a write gate
(selective_attention.md §3.5, §3.8).

§3.5 model: n tokens; m relevant values θ + σz and n − m irrelevant values σ_n z, θ ~ N(0, I), relevance visible
to keys and gates. Vanilla attention puts weight a = e^β/Z on each relevant and b = 1/Z on each irrelevant token
(Z = m e^β + n − m), so it stays inside the convex hull of the values; a value gate can also shrink toward 0.
Risks are mean squared error per coordinate. All functions broadcast over numpy arrays.
"""

from __future__ import annotations

import numpy as np

from theory._validate import at_least, finite, integers, out


def _check_nm(n, m):
    n = integers("n", n, 1)
    m = integers("m", m, 1)
    if np.any(m > n):
        raise ValueError(f"m must satisfy 1 <= m <= n, got m={m!r}, n={n!r}")
    return n, m


def vanilla_value_risk(beta, n, m, sigma2, sigma_n2):
    """R(β) = (1 − m a)² + m a² σ² + (n − m) b² σ_n² for vanilla attention with relevant-logit advantage β (§3.5).

    beta: finite real [logit units]; n: integer >= 1; m: integer in [1, n]; sigma2, sigma_n2 >= 0 [variance].
    Uses 1 − m a = (n − m) b and e^{−|β|} so neither large |β| nor the cancellation in 1 − m a loses accuracy.
    """
    beta = finite("beta", beta)
    n, m = _check_nm(n, m)
    sigma2 = at_least("sigma2", sigma2, 0.0)
    sigma_n2 = at_least("sigma_n2", sigma_n2, 0.0)
    k = n - m
    e = np.exp(-np.abs(beta))
    pos = beta >= 0
    denom = np.where(pos, m + k * e, m * e + k)
    a = np.where(pos, 1.0, e) / denom
    b = np.where(pos, e, 1.0) / denom
    return out((k * b) ** 2 + m * a**2 * sigma2 + k * b**2 * sigma_n2)


def vanilla_best_beta(n, m, sigma2, sigma_n2):
    """β* = log((n − m + σ_n²)/σ²), the unique minimiser of ``vanilla_value_risk`` over β (§3.5).

    R is a convex quadratic in b = 1/Z, stationary at e^{β*} = (n − m + σ_n²)/σ². n: integer >= 2;
    m: integer in [1, n − 1] (with m = n the risk does not depend on β); sigma2 >= 0 (β* = +inf at 0);
    sigma_n2 >= 0.
    """
    n, m = _check_nm(n, m)
    if np.any(m >= n):
        raise ValueError(f"m must satisfy 1 <= m < n (the risk is flat in beta at m = n), got m={m!r}, n={n!r}")
    sigma2 = at_least("sigma2", sigma2, 0.0)
    sigma_n2 = at_least("sigma_n2", sigma_n2, 0.0)
    with np.errstate(divide="ignore"):
        return out(np.log(n - m + sigma_n2) - np.log(sigma2))


def bayes_value_gate(m, sigma2):
    """Value temperature τ_v = m/(m + σ²) on the relevant mean (0 elsewhere) that attains the Bayes risk (§3.5).

    m: integer >= 1; sigma2 >= 0. Lies in (0, 1], inside the (0, 2) range of the package's value gate (§2.4).
    """
    m = integers("m", m, 1)
    sigma2 = at_least("sigma2", sigma2, 0.0)
    return out(m / (m + sigma2))


def value_gating_risks(n, m, sigma2, sigma_n2) -> dict:
    """Per-coordinate risks of four readouts of the §3.5 model.

    Returns ``{'bayes', 'vanilla_best', 'hard_select', 'naive_mean'}``:
    - bayes = σ²/(m + σ²), the posterior variance, also reached by value gating (``bayes_value_gate``);
    - vanilla_best = min_β R(β) = σ²(n − m + σ_n²)/(m(n − m + σ_n²) + (n − m)σ²) (σ²/m when m = n);
    - hard_select = σ²/m (β → ∞: average the relevant tokens only);
    - naive_mean = ((n − m)² + mσ² + (n − m)σ_n²)/n² (β = 0: uniform weights).
    Ordering: bayes <= vanilla_best <= min(hard_select, naive_mean).
    n: integer >= 1; m: integer in [1, n]; sigma2, sigma_n2 >= 0 [variance]. Arrays broadcast.
    """
    n, m = _check_nm(n, m)
    sigma2 = at_least("sigma2", sigma2, 0.0)
    sigma_n2 = at_least("sigma_n2", sigma_n2, 0.0)
    n, m, sigma2, sigma_n2 = np.broadcast_arrays(n, m, sigma2, sigma_n2)
    k = n - m
    A = k + sigma_n2
    # A = 0 only when m = n and σ_n² = 0: no irrelevant tokens, every β gives the relevant mean.
    with np.errstate(invalid="ignore", divide="ignore"):
        vanilla = np.where(A > 0, sigma2 * A / (m * A + k * sigma2), sigma2 / m)
        bayes = np.where(m + sigma2 > 0, sigma2 / (m + sigma2), 0.0)
    return {
        "bayes": out(bayes),
        "vanilla_best": out(vanilla),
        "hard_select": out(sigma2 / m),
        "naive_mean": out((k**2 + m * sigma2 + k * sigma_n2) / n**2),
    }


def write_gate_snr(d, N_active):
    """SNR = d/(N_active − 1) of a linear memory S = Σ τ_v,s v_s k_sᵀ read at a stored key (§3.8).

    0/1 write gates, independent unit-variance values, uniform random unit keys in R^d (E[(k·k')²] = 1/d).
    SNR is signal variance over trial-pooled cross-talk variance. d: integer >= 1; N_active: integer >= 1
    (one active item has no cross-talk: inf). Gating out 3/4 of N items multiplies it by (N − 1)/(N/4 − 1) → 4.
    """
    d = integers("d", d, 1)
    N_active = integers("N_active", N_active, 1)
    with np.errstate(divide="ignore"):
        return out(d / (N_active - 1.0))

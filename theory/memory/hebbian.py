"""Hebbian (correlation-matrix) memory W = Σ_x u_{f*(x)} e_xᵀ: gap variance, union bound, threshold predictor
(associative_memory.md §2.2).

x ∈ [N] has input embedding e_x ∈ R^d, class y ∈ [M] output embedding u_y ∈ R^d; classes are balanced (N/M
inputs each). The gap Δ = u_{f*(x)}ᵀWe_x − u_bᵀWe_x against one competitor b has E[Δ] = 1 and variance
``hebbian_gap_variance``. ``embeddings`` selects the variance:

- ``"spec"``: the §2.2 form 2N/(Md) + 2N/d² + 2/d (the A3b threshold band was measured with it);
- ``"sphere"``: exact, e and u uniform on S^{d−1} (normalised Gaussian, the Nichani et al. code);
- ``"gaussian"``: exact, e, u ~ N(0, I_d/d);
- ``"gaussian_inputs"``: exact, e ~ N(0, I_d/d) and u on the sphere (the Cabannes et al. notebooks);
- ``"gaussian_outputs"``: exact, e on the sphere and u ~ N(0, I_d/d).

The §2.2 form agrees with the two mixed cases up to O((1 + N/M)/d²) and exceeds the sphere case by 2/d.
The exact forms need M <= N (every class holds N/M >= 1 inputs).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from theory._validate import at_least, integers, open_interval, out
from theory.memory.derivations import derive_hebbian_gap, lambdified

EMBEDDINGS = ("spec", "sphere", "gaussian", "gaussian_inputs", "gaussian_outputs")
_LAWS = ("sphere", "gaussian")


def _embeddings(embeddings: str) -> str:
    if embeddings not in EMBEDDINGS:
        raise ValueError(f"embeddings must be one of {EMBEDDINGS}, got {embeddings!r}")
    return embeddings


def _variance(N, M, d, embeddings: str):
    """Unchecked Var(Δ) on float arrays (N may be real inside the capacity solvers)."""
    return lambdified(f"hebbian_var_{embeddings}")(N, M, d)


def _check_NMd(N, M, d, embeddings: str):
    embeddings = _embeddings(embeddings)
    N = integers("N", N, 1)
    M = integers("M", M, 2)
    d = integers("d", d, 1)
    if embeddings != "spec" and np.any(M > N):
        raise ValueError(f"M must be <= N for embeddings={embeddings!r} (classes of N/M >= 1 inputs), got M={M!r}")
    return N, M, d, embeddings


def hebbian_gap_variance(N, M, d, embeddings: str = "spec"):
    """Var(Δ) of the Hebbian gap (§2.2) [broadcast of N, M, d].

    N: inputs, integer >= 1; M: classes, integer >= 2 (M = N is the bijection); d: dimension, integer >= 1.
    ``embeddings``: see the module docstring; the default is the spec's 2N/(Md) + 2N/d² + 2/d
    (for M = N: 2N/d² + 4/d). Exact sphere value: 2N/(Md) + (2N − 2N/M − 1)/d².
    """
    N, M, d, embeddings = _check_NMd(N, M, d, embeddings)
    return out(_variance(N, M, d, embeddings))


def hebbian_gap_variance_exact(N, d, n_a, n_b, inputs: str = "sphere", outputs: str = "sphere"):
    """Exact Var(Δ) for class sizes n_a (true class, x included) and n_b (competitor) (§2.2) [broadcast].

    Var = (μ_u + 1/d)μ_e − 1 + (μ_u + 1/d)(n_a + n_b − 1)/d + 2(N − n_a − n_b)/d², with μ = E‖v‖⁴
    (1 on the sphere, 1 + 2/d for N(0, I/d)). ``inputs``/``outputs`` ∈ {"sphere", "gaussian"} give the
    distribution of e and u. N: integer >= 2; d: integer >= 1; n_a: integer >= 1; n_b: integer >= 0;
    n_a + n_b <= N.
    """
    N = integers("N", N, 2)
    d = integers("d", d, 1)
    n_a = integers("n_a", n_a, 1)
    n_b = integers("n_b", n_b, 0)
    if np.any(n_a + n_b > N):
        raise ValueError(f"n_a + n_b must be <= N, got n_a={n_a!r}, n_b={n_b!r}, N={N!r}")
    mus = []
    for name, kind in (("inputs", inputs), ("outputs", outputs)):
        if kind not in _LAWS:
            raise ValueError(f"{name} must be 'sphere' or 'gaussian', got {kind!r}")
        mus.append(np.ones_like(d) if kind == "sphere" else 1.0 + 2.0 / d)
    return out(lambdified("hebbian_var_general")(N, n_a, n_b, d, mus[0], mus[1]))


def hebbian_gap_mean():
    """E[Δ] = 1 for every isotropic embedding law with E‖v‖² = 1 (§2.2)."""
    return float(derive_hebbian_gap().mean)


def hebbian_union_bound(N, M, d, embeddings: str = "spec"):
    """min(1, N(M − 1)·exp(−1/(2 Var(Δ)))): union bound on P(any input misclassified) (§2.2) [broadcast]."""
    N, M, d, embeddings = _check_NMd(N, M, d, embeddings)
    log_b = np.log(N) + np.log(M - 1.0) - 1.0 / (2.0 * _variance(N, M, d, embeddings))
    return out(np.exp(np.minimum(log_b, 0.0)))


def hebbian_threshold_statistic(N, M, d, embeddings: str = "spec"):
    """√Var(Δ)·√(2 ln M) (§2.2); at the measured N_99 it lies in [0.9, 1.2] with the spec variance [broadcast]."""
    N, M, d, embeddings = _check_NMd(N, M, d, embeddings)
    return out(np.sqrt(_variance(N, M, d, embeddings) * 2.0 * np.log(M)))


def _solve_increasing(f, lo: float) -> float:
    """Root of an increasing f on [lo, ∞) in log N; 0.0 when f(lo) > 0 (no N >= lo qualifies)."""
    if f(lo) > 0:
        return 0.0
    hi = 2.0 * lo
    while f(hi) <= 0:
        hi *= 2.0
        if hi > 1e300:
            raise RuntimeError("capacity root not bracketed below 1e300")
    s = brentq(lambda s: f(np.exp(s)), np.log(lo), np.log(hi), xtol=1e-13, rtol=4 * np.finfo(float).eps)
    return float(np.exp(s))


def _capacity(d, M, param, solve_one):
    d = integers("d", d, 1)
    if M is None:
        Mb = np.full(d.shape, np.nan)
    else:
        Mb = integers("M", M, 2)
    d, Mb, param = np.broadcast_arrays(d, Mb, param)
    res = np.array([solve_one(*args) for args in zip(d.ravel(), Mb.ravel(), param.ravel())], dtype=float)
    return out(res.reshape(d.shape))


def hebbian_union_capacity(d, M=None, delta=0.01, embeddings: str = "spec"):
    """Largest real N with N(M − 1)exp(−1/(2Var)) <= δ (§2.2) [broadcast of d, M, delta].

    M=None is the bijection M = N: with the spec variance the condition is d² >= (4N + 8d)·ln(N(N − 1)/δ),
    so N ln N → d²/8 as d → ∞. d: integer >= 1; M: integer >= 2; delta ∈ (0, 1). Returns 0.0 when even the
    smallest N (2 for M = N, else 1) fails. The exact embedding laws are evaluated at real N.
    """
    embeddings = _embeddings(embeddings)
    delta = open_interval("delta", delta, 0.0, 1.0)

    def one(dd, mm, dl):
        if np.isnan(mm):
            f = lambda n: np.log(n) + np.log(n - 1.0) - 1.0 / (2.0 * _variance(n, n, dd, embeddings)) - np.log(dl)
            return _solve_increasing(f, 2.0)
        f = lambda n: np.log(n) + np.log(mm - 1.0) - 1.0 / (2.0 * _variance(n, mm, dd, embeddings)) - np.log(dl)
        return _solve_increasing(f, 1.0)

    return _capacity(d, M, delta, one)


def hebbian_threshold_capacity(d, M=None, level=1.0, embeddings: str = "spec"):
    """N at which √Var(Δ)·√(2 ln M) = level (§2.2 predictor of N_99; level 1 ± 20%) [broadcast].

    M=None is the bijection M = N. d: integer >= 1; M: integer >= 2; level > 0. N is real (the exact
    embedding laws are evaluated at real N). Returns 0.0 when the statistic already exceeds ``level`` at N = 1.
    """
    embeddings = _embeddings(embeddings)
    level = at_least("level", level, 0.0, strict=True)

    def one(dd, mm, lv):
        if np.isnan(mm):
            f = lambda n: _variance(n, n, dd, embeddings) * 2.0 * np.log(n) - lv**2
        else:
            f = lambda n: _variance(n, mm, dd, embeddings) * 2.0 * np.log(mm) - lv**2
        return _solve_increasing(f, 1.0)

    return _capacity(d, M, level, one)

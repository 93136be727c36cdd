"""Training-free memory experiments with oracle keys and values (test_time_memory.md §6, §10 X2–X4).

Keys are independent uniform unit vectors in R^{d_k} (normalised Gaussians); values are isotropic Gaussian
vectors N(0, I/d_v). Every memory is written by the package's own recurrences and read with the stored keys.

- X3 :func:`oracle_capacity` — N pairs written once, every key read back from the final state. Relative error
  ``E = Σ_j ‖M k_j − v_j‖² / Σ_j ‖v_j‖²`` per draw, and argmax read-out accuracy (argmax over candidates of the
  inner product ⟨ŷ_j, c⟩, §6.6) against two candidate sets: the N stored values ("stored") and a codebook of
  ``n_candidates`` Gaussian vectors from which the N values are drawn without replacement ("all", V/2 = 4096).
  :func:`delta_passes` — cyclic repeated delta-rule passes (Kaczmarz).
- X4 :func:`forgetting_curves` — a stream of T pairs written with a forget gate γ; argmax accuracy of each key
  read from the final state, against all T stream values, as a function of its lag.
- X2 :func:`cg_convergence` — CG error against steps on a Mesa system ``(H_T + λI) x = q``.

Theory values from ``theory.recall`` are returned alongside the measurements. Seeds: each (d_k, N) cell draws
from ``numpy.random.default_rng((seed, d_k, N))``, so adding cells does not change the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.recall import _inputs as inp
from sim.recall.mesa import cg_solve, mesa
from sim.recall.rules import delta_rule, gated_delta_rule, gated_linear_attention, linear_attention
from theory.recall import (
    cg_chebyshev_bound,
    cg_condition_bound,
    damped_cg_residual,
    forgetting_window,
    gated_memory_span,
    hessian_lambda_max_bound,
    least_squares_recall_error,
    linear_attention_recall_error,
    ridge_recall_error,
    ridge_recall_error_random,
)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _counts(name, values, minimum=1):
    text = f"{name} must be a non-empty 1-D sequence of integers >= {minimum}, got {values!r}"
    try:
        vals = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(text) from None
    if vals.ndim != 1 or vals.size == 0 or not np.all(np.isfinite(vals)) or np.any(vals != np.round(vals)) \
            or np.any(vals < minimum):
        raise ValueError(text)
    return tuple(int(x) for x in vals)


def _mean_se(x, axis=-1):
    """Mean and standard error over ``axis`` (NaN-free input; SE 0 for a single draw)."""
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    se = x.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, se


def _read_metrics(Y, V, codebook, idx):
    """Per-draw E, stored-N accuracy and codebook accuracy of reads Y [draws, N, d_v] of values V."""
    E = np.sum((Y - V) ** 2, axis=(1, 2)) / np.sum(V**2, axis=(1, 2))
    N = V.shape[1]
    acc_stored = np.mean(np.argmax(Y @ np.swapaxes(V, 1, 2), axis=-1) == np.arange(N), axis=-1)
    acc_all = np.mean(np.argmax(Y @ np.swapaxes(codebook, 1, 2), axis=-1) == idx, axis=-1)
    return E, acc_stored, acc_all


# ----------------------------------------------------------------------------------------------------------------
# X3: capacity


@dataclass(frozen=True, eq=False)
class CapacityResult:
    """X3 results; m methods × a key dims × n pair counts × draws.

    methods: labels, e.g. ``"la"``, ``"delta"``, ``"ls"``, ``"ridge(lam=0.25)"``, ``"mesa_cg(lam=0.25)"``;
    d_k [a], N [n] ints; E, acc_stored, acc_all [m, a, n, draws] per-draw measurements;
    theory_E [m, a, n]: closed forms — LA ``(N − 1)/d_k``, LS ``max(0, 1 − d_k/N)``, ridge/Mesa the
    Marchenko–Pastur limit ``ridge_recall_error_random`` (finite-N corrections O(1/N)); NaN for the delta rule;
    theory_E_draws [m, a, n, draws]: the exact expectation over values given each draw's keys where one exists
    (ridge/Mesa ``λ² tr((Gram + λI)^{-2})/N`` with λ/β for Mesa; LA and LS repeat theory_E), else NaN;
    cg_steps_mean, cg_steps_max, cg_capped [m, a, n]: CG steps of the Mesa reads and the fraction that hit the
    step cap (NaN for the other methods); n_candidates, d_v, beta, draws, seed: the configuration.
    """

    methods: tuple
    d_k: np.ndarray
    N: np.ndarray
    E: np.ndarray
    acc_stored: np.ndarray
    acc_all: np.ndarray
    theory_E: np.ndarray
    theory_E_draws: np.ndarray
    cg_steps_mean: np.ndarray
    cg_steps_max: np.ndarray
    cg_capped: np.ndarray
    n_candidates: int
    d_v: int | None
    beta: float
    draws: int
    seed: int

    def mean(self, metric: str) -> np.ndarray:
        """Mean over draws of ``metric`` ("E", "acc_stored", "acc_all") [m, a, n]."""
        return _mean_se(self._metric(metric))[0]

    def se(self, metric: str) -> np.ndarray:
        """Standard error over draws of ``metric`` [m, a, n]."""
        return _mean_se(self._metric(metric))[1]

    def index(self, method: str) -> int:
        if method not in self.methods:
            raise ValueError(f"method must be one of {self.methods}, got {method!r}")
        return self.methods.index(method)

    def _metric(self, metric):
        if metric not in ("E", "acc_stored", "acc_all"):
            raise ValueError(f"metric must be 'E', 'acc_stored' or 'acc_all', got {metric!r}")
        return getattr(self, metric)


def oracle_capacity(d_k=(32, 64), N=(8, 16, 32, 48, 64, 96, 128, 256), draws=20, seed=0, lams=(0.25, 1.0),
                    beta=1.0, n_candidates=4096, cg_tol=1e-8, cg_max_steps=None, d_v=None,
                    methods=("la", "delta", "ls", "ridge", "mesa_cg")) -> CapacityResult:
    """X3 oracle capacity (§6, §10; claims 19–24, 26–27): relative error and argmax accuracy against N per d_k.

    Memories (γ = 1, no forgetting): ``"la"`` linear attention; ``"delta"`` one delta-rule pass with β = beta;
    ``"ls"`` the least-squares interpolant (pseudo-inverse); ``"ridge"`` ``M = Vᵀ K (KᵀK + λI)^{-1}`` per λ in
    lams; ``"mesa_cg"`` the Mesa recurrence (β = beta, Λ = λI) with CG reads (tol cg_tol, max_steps cg_max_steps,
    default 4·d_k): N write tokens followed by N read-only tokens (β = 0) that query the stored keys.

    d_k, N: sequences of integers >= 1 (N <= n_candidates); draws >= 2; beta in (0, 1]; lams > 0 (the λ → 0
    limit is the "ls" method); d_v defaults to d_k. Returns a :class:`CapacityResult`.
    """
    dks = _counts("d_k", d_k)
    Ns = _counts("N", N)
    draws = inp.integer("draws", draws, 2)
    seed = inp.integer("seed", seed, 0)
    beta = float(inp.in_range("beta", np.asarray(beta, dtype=float), 0.0, 1.0, lo_open=True))
    lams = tuple(float(x) for x in inp.in_range("lams", np.atleast_1d(np.asarray(lams, dtype=float)), 0.0,
                                                lo_open=True))
    n_candidates = inp.integer("n_candidates", n_candidates, 1)
    if max(Ns) > n_candidates:
        raise ValueError(f"n_candidates must be >= max(N) = {max(Ns)}, got {n_candidates}")
    cg_tol = inp.positive_scalar("cg_tol", cg_tol)
    if d_v is not None:
        d_v = inp.integer("d_v", d_v, 1)
    methods = tuple(methods)
    for m in methods:
        inp.choice("methods entry", m, ("la", "delta", "ls", "ridge", "mesa_cg"))
    labels = []
    for m in methods:
        labels += [f"{m}(lam={lam:g})" for lam in lams] if m in ("ridge", "mesa_cg") else [m]
    shape = (len(labels), len(dks), len(Ns))
    E, acc_s, acc_a = (np.full(shape + (draws,), np.nan) for _ in range(3))
    th, th_d = np.full(shape, np.nan), np.full(shape + (draws,), np.nan)
    st_mean, st_max, capped = (np.full(shape, np.nan) for _ in range(3))
    for a, dk in enumerate(dks):
        dv = dk if d_v is None else d_v
        max_steps = 4 * dk if cg_max_steps is None else inp.integer("cg_max_steps", cg_max_steps, 1)
        for n, Nn in enumerate(Ns):
            rng = np.random.default_rng((seed, dk, Nn))
            Kd = _unit(rng.standard_normal((draws, Nn, dk)))
            codebook = rng.standard_normal((draws, n_candidates, dv)) / np.sqrt(dv)
            idx = np.argsort(rng.random((draws, n_candidates)), axis=1)[:, :Nn]
            V = np.take_along_axis(codebook, idx[:, :, None], axis=1)
            Gram = Kd @ np.swapaxes(Kd, 1, 2)
            i = 0
            for m in methods:
                for lam in (lams if m in ("ridge", "mesa_cg") else (None,)):
                    if m == "la":
                        _, M = linear_attention(Kd, Kd, V, return_state=True)
                        Y = Kd @ np.swapaxes(M, 1, 2)
                        th[i, a, n] = linear_attention_recall_error(Nn, dk)
                        th_d[i, a, n] = th[i, a, n]
                    elif m == "delta":
                        _, M = delta_rule(Kd, Kd, V, beta, return_state=True)
                        Y = Kd @ np.swapaxes(M, 1, 2)
                    elif m == "ls":
                        Y = Kd @ (np.linalg.pinv(Kd) @ V)
                        th[i, a, n] = least_squares_recall_error(Nn, dk)
                        th_d[i, a, n] = th[i, a, n]
                    elif m == "ridge":
                        A = np.swapaxes(Kd, 1, 2) @ Kd + lam * np.eye(dk)
                        Y = Kd @ np.linalg.solve(A, np.swapaxes(Kd, 1, 2) @ V)
                        th[i, a, n] = ridge_recall_error_random(Nn, dk, lam)
                        th_d[i, a, n] = ridge_recall_error(Gram, lam)
                    else:
                        # write phase: zero queries skip the solves; read phase: β = 0, γ = 1 keep the state
                        q = np.concatenate([np.zeros_like(Kd), Kd], axis=1)
                        k = np.concatenate([Kd, Kd], axis=1)
                        v = np.concatenate([V, np.zeros_like(V)], axis=1)
                        b = np.concatenate([np.full(Nn, beta), np.zeros(Nn)])
                        o, info = mesa(q, k, v, 1.0, b, lam, solver="cg", tol=cg_tol, max_steps=max_steps,
                                       return_info=True)
                        Y = o[:, Nn:]
                        steps = info.steps[:, Nn:]
                        st_mean[i, a, n], st_max[i, a, n] = steps.mean(), steps.max()
                        capped[i, a, n] = np.mean(steps >= max_steps)
                        th[i, a, n] = ridge_recall_error_random(Nn, dk, lam / beta)
                        th_d[i, a, n] = ridge_recall_error(Gram, lam / beta)
                    E[i, a, n], acc_s[i, a, n], acc_a[i, a, n] = _read_metrics(Y, V, codebook, idx)
                    i += 1
    return CapacityResult(tuple(labels), np.array(dks), np.array(Ns), E, acc_s, acc_a, th, th_d, st_mean, st_max,
                          capped, n_candidates, d_v, beta, draws, seed)


@dataclass(frozen=True, eq=False)
class PassesResult:
    """Cyclic delta-rule passes: passes [p] ints, E [p, draws] relative error after that many passes."""

    passes: np.ndarray
    E: np.ndarray
    N: int
    d_k: int
    beta: float
    seed: int

    def median(self) -> np.ndarray:
        return np.median(self.E, axis=1)

    def quantile(self, level: float) -> np.ndarray:
        return np.quantile(self.E, level, axis=1)


def delta_passes(N=20, d_k=32, passes=(1, 2, 5, 10, 30), draws=100, seed=0, beta=1.0, d_v=None) -> PassesResult:
    """X3 (claim 25): the delta rule over the N pairs repeated cyclically; E after each count in ``passes``.

    For N <= d_k independent keys this is Kaczmarz's method and converges to the exact interpolant (§6.5).
    """
    N = inp.integer("N", N, 1)
    d_k = inp.integer("d_k", d_k, 1)
    passes = tuple(sorted(set(_counts("passes", passes))))
    draws = inp.integer("draws", draws, 1)
    seed = inp.integer("seed", seed, 0)
    beta = float(inp.in_range("beta", np.asarray(beta, dtype=float), 0.0, 1.0, lo_open=True))
    dv = d_k if d_v is None else inp.integer("d_v", d_v, 1)
    rng = np.random.default_rng((seed, d_k, N))
    Kd = _unit(rng.standard_normal((draws, N, d_k)))
    V = rng.standard_normal((draws, N, dv)) / np.sqrt(dv)
    M = np.zeros((draws, dv, d_k))
    E = np.empty((len(passes), draws))
    j = 0
    for p in range(1, passes[-1] + 1):
        _, M = delta_rule(Kd, Kd, V, beta, initial_state=M, return_state=True)
        if p == passes[j]:
            Y = Kd @ np.swapaxes(M, 1, 2)
            E[j] = np.sum((Y - V) ** 2, axis=(1, 2)) / np.sum(V**2, axis=(1, 2))
            j += 1
    return PassesResult(np.array(passes), E, N, d_k, beta, seed)


# ----------------------------------------------------------------------------------------------------------------
# X4: forgetting window


FORGETTING_RULES = ("gated_linear_attention", "gated_delta_rule", "mesa")


@dataclass(frozen=True, eq=False)
class ForgettingResult:
    """X4 results; r rules × g gates × draws × T lags.

    rules, gammas [g]; acc [r, g, draws, T]: 1 where the key written ``lag`` tokens before the end reads back its
    own value (argmax over all T stream values), lag = 0 the last token; recalled [r, g, draws] = Σ_lag acc, the
    number of pairs recalled; window [g] = 1/(1 − γ) and theory_span [g] = min(d_k, 1/(1 − γ)) (§6.7, a heuristic
    to measure, claim 28).
    """

    rules: tuple
    gammas: np.ndarray
    acc: np.ndarray
    recalled: np.ndarray
    window: np.ndarray
    theory_span: np.ndarray
    d_k: int
    T: int
    lam: float
    beta: float
    seed: int

    def accuracy_vs_lag(self) -> np.ndarray:
        """Mean accuracy over draws [r, g, T]."""
        return self.acc.mean(axis=2)


def forgetting_curves(d_k=64, gammas=(0.9, 0.95, 0.98, 0.99), T=2000, draws=5, seed=0, rules=FORGETTING_RULES,
                      lam=0.25, beta=1.0, d_v=None) -> ForgettingResult:
    """X4 forgetting window (§6.7, §10; claim 28): recall accuracy against lag for gated memories.

    Rules: ``"gated_linear_attention"`` (M_t = γM + βvkᵀ), ``"gated_delta_rule"`` (decay a = γ, β), ``"mesa"``
    (γ, β, Λ = λI; read by an exact solve against the final H_T). gammas in [0, 1) (γ = 1 has no window);
    T >= 1; lam > 0; beta in (0, 1]; d_v defaults to d_k.
    """
    d_k = inp.integer("d_k", d_k, 1)
    gammas = np.atleast_1d(np.asarray(gammas, dtype=float))
    if gammas.ndim != 1 or not np.all((gammas >= 0) & (gammas < 1)):
        raise ValueError(f"gammas must be a 1-D sequence of gates in [0, 1), got {gammas!r}")
    T = inp.integer("T", T, 1)
    draws = inp.integer("draws", draws, 1)
    seed = inp.integer("seed", seed, 0)
    rules = tuple(inp.choice("rules entry", r, FORGETTING_RULES) for r in rules)
    lam = inp.positive_scalar("lam", lam)
    beta = float(inp.in_range("beta", np.asarray(beta, dtype=float), 0.0, 1.0, lo_open=True))
    dv = d_k if d_v is None else inp.integer("d_v", d_v, 1)
    rng = np.random.default_rng((seed, d_k, T))
    Kd = _unit(rng.standard_normal((draws, T, d_k)))
    V = rng.standard_normal((draws, T, dv)) / np.sqrt(dv)
    acc = np.empty((len(rules), gammas.size, draws, T))
    for r, rule in enumerate(rules):
        for g, gam in enumerate(gammas):
            if rule == "gated_linear_attention":
                _, M = gated_linear_attention(Kd, Kd, V, gam, beta, return_state=True)
                Y = Kd @ np.swapaxes(M, 1, 2)
            elif rule == "gated_delta_rule":
                _, M = gated_delta_rule(Kd, Kd, V, gam, beta, return_state=True)
                Y = Kd @ np.swapaxes(M, 1, 2)
            else:
                # zero queries: CG returns at once, so the pass only builds H_T, G_T
                _, (H, G) = mesa(np.zeros_like(Kd), Kd, V, gam, beta, lam, solver="cg", return_state=True)
                Y = np.swapaxes(G @ np.linalg.solve(H + lam * np.eye(d_k), np.swapaxes(Kd, 1, 2)), 1, 2)
            for s in range(draws):
                hit = np.argmax(Y[s] @ V[s].T, axis=-1) == np.arange(T)
                acc[r, g, s] = hit[::-1]  # index = lag
    return ForgettingResult(rules, gammas, acc, acc.sum(axis=-1), np.asarray(forgetting_window(gammas)),
                            np.asarray(gated_memory_span(d_k, gammas)), d_k, T, lam, beta, seed)


# ----------------------------------------------------------------------------------------------------------------
# X2: CG convergence on a Mesa system


@dataclass(frozen=True, eq=False)
class CGCurve:
    """CG error against steps on ``A = H_T + λI``, H_T from T unit keys with gate γ (β = 1).

    steps [s]; rel_error [s, n_queries] = ‖x_k − x*‖/‖x*‖; residual [s, n_queries] = ‖q − A x_k‖/‖q‖;
    kappa = κ(A); lam_max_H = λ_max(H_T); lam_max_bound = (1 − γ^T)/(1 − γ) (claim 17); kappa_bound; chebyshev [s]
    = 2ρ^k with the measured κ (a bound on the A-norm error ratio); damped_theory [s] = √(ε/(2 λ_min(A) k)), the
    stalled residual of the damped iteration (NaN when undamped).
    """

    steps: np.ndarray
    rel_error: np.ndarray
    residual: np.ndarray
    kappa: float
    lam_max_H: float
    lam_max_bound: float
    kappa_bound: float
    chebyshev: np.ndarray
    damped_theory: np.ndarray


def cg_convergence(d_k=64, T=512, gamma=0.99, lam=0.25, n_queries=64, steps=tuple(range(1, 65)), seed=0,
                   init="zero", damped=False, damping=1e-5, keys="isotropic", rank=4, noise=0.1) -> CGCurve:
    """X2 (claims 15–18): CG on the Mesa system at the last token for ``n_queries`` unit queries.

    keys ``"isotropic"`` (uniform unit) or ``"correlated"`` (unit-normalised rank-``rank`` Gaussian plus ``noise``
    times isotropic noise: a large λ_max(H) that approaches the κ bound). gamma in [0, 1], lam > 0.
    """
    d_k = inp.integer("d_k", d_k, 1)
    T = inp.integer("T", T, 1)
    gamma = float(inp.in_range("gamma", np.asarray(gamma, dtype=float), 0.0, 1.0))
    lam = inp.positive_scalar("lam", lam)
    n_queries = inp.integer("n_queries", n_queries, 1)
    steps = _counts("steps", steps)
    seed = inp.integer("seed", seed, 0)
    keys = inp.choice("keys", keys, ("isotropic", "correlated"))
    rank = inp.integer("rank", rank, 1)
    noise = inp.positive_scalar("noise", noise, allow_zero=True)
    rng = np.random.default_rng((seed, d_k, T))
    if keys == "isotropic":
        Kd = _unit(rng.standard_normal((T, d_k)))
    else:
        basis = rng.standard_normal((rank, d_k))
        Kd = _unit(rng.standard_normal((T, rank)) @ basis + noise * rng.standard_normal((T, d_k)))
    Q = _unit(rng.standard_normal((n_queries, d_k)))
    _, H = gated_linear_attention(Kd, Kd, Kd, gamma, 1.0, return_state=True)  # H_T: the Mesa key recurrence
    A = H + lam * np.eye(d_k)
    x_star = np.linalg.solve(A, Q.T).T
    ev = np.linalg.eigvalsh(A)
    rel = np.empty((len(steps), n_queries))
    res = np.empty((len(steps), n_queries))
    for j, k in enumerate(steps):
        # a tolerance no iterate reaches: the result is the k-th iterate
        x, info = cg_solve(A, Q, tol=1e-300, max_steps=k, init=init, damped=damped, damping=damping)
        rel[j] = np.linalg.norm(x - x_star, axis=1) / np.linalg.norm(x_star, axis=1)
        res[j] = info.residual
    kappa = float(ev[-1] / ev[0])
    steps_arr = np.array(steps)
    damped_theory = damped_cg_residual(steps_arr, damping, ev[0]) if damped else np.full(len(steps), np.nan)
    return CGCurve(steps_arr, rel, res, kappa, float(ev[-1] - lam), float(hessian_lambda_max_bound(gamma, T)),
                   float(cg_condition_bound(gamma, lam, t=T)), np.asarray(cg_chebyshev_bound(kappa, steps_arr)),
                   np.asarray(damped_theory, dtype=float))

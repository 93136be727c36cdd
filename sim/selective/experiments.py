"""Monte Carlo experiments S1–S4 of selective_attention.md §4, each with standard errors and the theory values of
``theory.selective`` at the same points.

- S1 ``dilution_mc``: needle mass among n random unit keys, vanilla (s = 0) and position temperature
  τ(n) = 1 + s·log n (§3.1, §3.2), against the annealed random-key form and the fixed-gap closed form.
- S2 ``hopfield_mc``: Hopfield needle weight softmax(βXξ)_i for a stored pattern ξ = x_i (§3.6).
- S3 ``value_gating_mc``: risks of vanilla attention at β*, naive averaging, hard selection and value gating in
  the §3.5 denoising model, against the closed-form risks.
- S4 ``write_gating_mc``: pooled read-out SNR of a gated linear memory (§3.8), and ``temperature_invariance``:
  q → τq for homogeneous and non-homogeneous feature maps (§3.7).

Randomness: S1/S2 give every trial its own generator (``SeedSequence(seed).spawn``), so their results do not depend
on how trials and keys are split into blocks; S3/S4 draw from one ``default_rng(seed)`` in fixed chunks of trials
(``S3_CHUNK``, ``S4_CHUNK``). Units: logits in the paper's units (τ = 1, scale 1/√d_h absorbed into the gap),
risks per coordinate, un-halved squared error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.selective import kernels
from theory._validate import count, positive_finite
from theory.selective import (
    bayes_value_gate,
    needle_mass,
    needle_mass_random_keys,
    value_gating_risks,
    vanilla_best_beta,
    write_gate_snr,
)

BUDGET = 1 << 22  # float64 entries per block of drawn keys (32 MiB); bounds memory at any n and d
MIN_TRIAL_CHUNK = 32  # trials per needle-kernel call, so prange has work even when one trial fills a block
S3_CHUNK = 4096  # trials per draw in S3
S4_CHUNK = 32  # trials per draw in S4
SAMPLERS = ("vectors", "projection")  # S1, S2
S3_SAMPLERS = ("tokens", "pooled")
ESTIMATORS = ("vanilla", "naive", "hard", "gated")
PHIS = {"identity": (kernels.PHI_IDENTITY, 1), "square": (kernels.PHI_SQUARE, 2), "taylor": (kernels.PHI_TAYLOR, None)}


# ----------------------------------------------------------------------------------------------------------------
# validation and small statistics


def _seed(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _grid(name, x, minimum, *, integer):
    """A non-empty 1-D strictly increasing grid (integers >= minimum, or finite reals >= minimum)."""
    try:
        a = np.atleast_1d(np.asarray(x, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers, got {x!r}") from None
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < minimum) or (integer and np.any(a != np.round(a))):
        kind = "integers" if integer else "finite numbers"
        raise ValueError(f"{name} must contain {kind} >= {minimum}, got {x!r}")
    if np.any(np.diff(a) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {x!r}")
    return a.astype(np.int64) if integer else a


def _sampler(sampler):
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    return sampler


def _expit(x):
    """1/(1 + e^{−x}) without overflow (inf → 1, −inf → 0)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _mean_se(x, axis=0):
    n = x.shape[axis]
    se = np.std(x, axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.full(np.mean(x, axis=axis).shape, np.nan)
    return np.mean(x, axis=axis), se


def _median_se(x, z=1.96):
    """Median over axis 0 and an SE from the distribution-free order-statistic interval: the ranks
    n/2 ± z√n/2 bracket the median with ≈95% coverage for z = 1.96, and their spread is ≈ 2z SE."""
    n = x.shape[0]
    s = np.sort(x, axis=0)
    lo = max(int(np.floor(n / 2 - z * np.sqrt(n) / 2)), 0)
    hi = min(int(np.ceil(n / 2 + z * np.sqrt(n) / 2)), n - 1)
    return np.median(x, axis=0), (s[hi] - s[lo]) / (2 * z)


# ----------------------------------------------------------------------------------------------------------------
# S1 / S2: needle among random unit keys


def _needle_trials(kernel, n_grid, scale, d, trials, seed, sampler):
    """Per-trial competitor logsumexp lse [trials, G, T] and largest competitor cosine cmax [trials, G].

    Trial t draws, from its own generator, the needle direction u and then the n_grid[-1] − 1 competitor keys in
    order; keys are streamed to ``kernel`` in blocks of at most ``BUDGET`` entries. sampler "vectors": Gaussian
    rows in R^d (the kernel normalizes them); "projection": rows (z1, r) in R^2 with z1 ~ N(0, 1),
    r² ~ χ²_{d−1} and u = e1, whose cosine z1/√(z1² + r²) has exactly the law of the cosine of two independent
    uniform unit vectors in R^d, at 2/d of the cost.
    """
    G, T = scale.shape
    n_comp = int(n_grid[-1]) - 1
    e = d if sampler == "vectors" else 2
    B = min(trials, max(MIN_TRIAL_CHUNK, BUDGET // max(n_comp * e, 1)))
    L = max(1, min(n_comp, BUDGET // (B * e)))  # n_comp = 0 (n = 1 only) draws no block
    children = np.random.SeedSequence(seed).spawn(trials)
    lse = np.empty((trials, G, T))
    cmax = np.empty((trials, G))
    for t0 in range(0, trials, B):
        bs = min(B, trials - t0)
        if sampler == "vectors":
            rngs = [np.random.default_rng(c) for c in children[t0:t0 + bs]]
            U = np.empty((bs, e))
            for i, r in enumerate(rngs):
                r.standard_normal(out=U[i])
            U /= np.linalg.norm(U, axis=1, keepdims=True)
        else:
            # one stream for z1 and one for r keeps the draws independent of the block length
            rngs = [[np.random.default_rng(cc) for cc in c.spawn(2)] for c in children[t0:t0 + bs]]
            U = np.zeros((bs, e))
            U[:, 0] = 1.0
        mx = np.full((bs, G, T), -np.inf)
        sm = np.zeros((bs, G, T))
        cm = np.full((bs, G), -np.inf)
        for j0 in range(0, n_comp, L):
            ln = min(L, n_comp - j0)
            Z = np.empty((bs, ln, e))
            if sampler == "vectors":
                for i, r in enumerate(rngs):
                    r.standard_normal(out=Z[i])
            else:
                for i, (r1, r2) in enumerate(rngs):
                    Z[i, :, 0] = r1.standard_normal(ln)
                    Z[i, :, 1] = np.sqrt(r2.chisquare(d - 1, ln)) if d > 1 else 0.0
            kernel(U, Z, j0, scale, n_grid, mx, sm, cm)
        with np.errstate(divide="ignore"):
            lse[t0:t0 + bs] = mx + np.log(sm)
        cmax[t0:t0 + bs] = cm
    return lse, cmax


@dataclass(frozen=True, eq=False)
class DilutionMC:
    """S1 (§4): needle mass with n − 1 random unit competitor keys in R^d and query Δ0·(needle key).

    n [G]; s [T]; mass, mass_se, mass_median [G, T]: mean over trials, its SE, median; theory_annealed [G, T]:
    ``needle_mass_random_keys`` (annealed over Gaussian competitor logits, §3.2); theory_fixed_gap [G, T]:
    ``needle_mass`` with every competitor exactly Δ0·τ below (orthogonal keys, §3.1–§3.2).
    """

    n: np.ndarray
    s: np.ndarray
    Delta0: float
    d: int
    trials: int
    sampler: str
    mass: np.ndarray
    mass_se: np.ndarray
    mass_median: np.ndarray
    theory_annealed: np.ndarray
    theory_fixed_gap: np.ndarray


def _dilution(kernel, n, Delta0, d, s, trials, seed, sampler):
    n_grid = _grid("n", n, 1, integer=True)
    Delta0 = float(positive_finite("Delta0", Delta0))
    d = count("d", d)
    s_vals = np.array([0.0, 1.0 / Delta0]) if s is None else _grid("s", s, 0.0, integer=False)
    trials = count("trials", trials, minimum=2)
    seed = _seed(seed)
    sampler = _sampler(sampler)
    tau = 1.0 + s_vals[None, :] * np.log(n_grid)[:, None]  # [G, T]
    scale = np.ascontiguousarray(Delta0 * tau)
    lse, _ = _needle_trials(kernel, n_grid, scale, d, trials, seed, sampler)
    mass = _expit(scale[None] - lse)  # the needle's own logit is scale·cos(u, u) = scale
    mean, se = _mean_se(mass)
    nn, ss = n_grid[:, None], s_vals[None, :]
    return DilutionMC(n_grid, s_vals, Delta0, d, trials, sampler, mean, se, np.median(mass, axis=0),
                      np.asarray(needle_mass_random_keys(Delta0, nn, d, ss)),
                      np.asarray(needle_mass(Delta0, nn, ss)))


def dilution_mc(n, Delta0=3.0, d=64, s=None, trials=200, seed=0, sampler="vectors") -> DilutionMC:
    """S1 dilution (§4): mean needle mass vs n with and without the log-n query temperature.

    n: strictly increasing visible-key counts (integers >= 1, needle included); Delta0 > 0: needle logit
    [logit units] (query = Δ0·needle key, unit keys); d >= 1: key dimension; s: strictly increasing schedule
    slopes >= 0 of τ(n) = 1 + s log n (default (0, 1/Δ0): vanilla and the length-invariant SSA-pos);
    trials >= 2; seed: integer >= 0; sampler: "vectors" (Gaussian keys in R^d) or "projection" (same law of the
    logits, drawn in R^2; for large n·d). The keys of a trial are shared by all n (prefixes) and all s.
    """
    return _dilution(kernels.needle_kernel, n, Delta0, d, s, trials, seed, sampler)


@dataclass(frozen=True, eq=False)
class HopfieldMC:
    """S2 (§4): weight softmax(β Xξ)_i of the retrieved pattern for N random unit patterns in R^d, ξ = x_i.

    N [G]; beta [T]; weight_median, weight_median_se, weight_mean, weight_mean_se [G, T];
    error_median [G, T]: median of 1 − weight; error_bound_median [G, T]: median over trials of
    (N − 1)e^{−βΔ} (§3.6, ``hopfield_error``) at the trial's separation Δ = 1 − max_j x_j·ξ;
    separation_median [G]; theory_annealed [G, T]: ``needle_mass_random_keys(β, N, d)``, the annealed form behind
    the §3.6 capacity heuristic (qualitative: it fails once β²/(2d) is large, the heavy-tail regime).
    """

    N: np.ndarray
    beta: np.ndarray
    d: int
    trials: int
    sampler: str
    weight_median: np.ndarray
    weight_median_se: np.ndarray
    weight_mean: np.ndarray
    weight_mean_se: np.ndarray
    error_median: np.ndarray
    error_bound_median: np.ndarray
    separation_median: np.ndarray
    theory_annealed: np.ndarray


def _hopfield(kernel, N, beta, d, trials, seed, sampler):
    n_grid = _grid("N", N, 2, integer=True)
    beta = _grid("beta", beta, 0.0, integer=False)
    d = count("d", d, minimum=2)
    trials = count("trials", trials, minimum=2)
    seed = _seed(seed)
    sampler = _sampler(sampler)
    scale = np.ascontiguousarray(np.broadcast_to(beta[None, :], (n_grid.size, beta.size)))
    lse, cmax = _needle_trials(kernel, n_grid, scale, d, trials, seed, sampler)
    weight = _expit(scale[None] - lse)
    error = _expit(lse - scale[None])  # 1 − weight without cancellation
    sep = 1.0 - cmax  # [trials, G]
    # (N − 1)e^{−βΔ} of theory.selective.hopfield_error, per trial (Δ is random here, and may round to 0)
    bound = (n_grid[None, :, None] - 1.0) * np.exp(-beta[None, None, :] * sep[:, :, None])
    wmed, wmed_se = _median_se(weight)
    wmean, wmean_se = _mean_se(weight)
    return HopfieldMC(n_grid, beta, d, trials, sampler, wmed, wmed_se, wmean, wmean_se, np.median(error, axis=0),
                      np.median(bound, axis=0), np.median(sep, axis=0),
                      np.asarray(needle_mass_random_keys(beta[None, :], n_grid[:, None], d)))


def hopfield_mc(N, beta, d=16, trials=200, seed=0, sampler="vectors") -> HopfieldMC:
    """S2 Hopfield grid (§4): needle weight of a stored pattern among N random unit patterns vs inverse
    temperature β.

    N: strictly increasing memory sizes (integers >= 2; the patterns of a trial are shared by all N as prefixes);
    beta: strictly increasing β >= 0; d >= 2; trials >= 2; seed: integer >= 0; sampler as in ``dilution_mc``.
    """
    return _hopfield(kernels.needle_kernel, N, beta, d, trials, seed, sampler)


# ----------------------------------------------------------------------------------------------------------------
# S3: value-gated denoising


@dataclass(frozen=True, eq=False)
class ValueGatingMC:
    """S3 (§4, §3.5): per-coordinate risks of four attention readouts, ``ESTIMATORS`` order:
    vanilla (softmax with relevant-logit advantage β*(σ_n²), inside the convex hull), naive (uniform weights),
    hard (attention on the relevant tokens only), gated (hard selection with value temperature
    τ_v = m/(m + σ²) on the relevant tokens and 0 elsewhere, which reaches the Bayes risk).

    sigma_n2 [S]; risk, risk_se, theory [S, E] (theory: ``value_gating_risks`` vanilla_best / naive_mean /
    hard_select / bayes); beta_star [S]; tau_v; gap, gap_se, gap_theory [S]: vanilla − gated risk, paired on the
    same draws.
    """

    n: int
    m: int
    sigma2: float
    d: int
    trials: int
    sampler: str
    sigma_n2: np.ndarray
    estimators: tuple
    risk: np.ndarray
    risk_se: np.ndarray
    theory: np.ndarray
    beta_star: np.ndarray
    tau_v: float
    gap: np.ndarray
    gap_se: np.ndarray
    gap_theory: np.ndarray


def _value_gating(kernel, sigma_n2, n, m, sigma2, d, trials, seed, sampler):
    if sampler not in S3_SAMPLERS:
        raise ValueError(f"sampler must be one of {S3_SAMPLERS}, got {sampler!r}")
    sigma_n2 = _grid("sigma_n2", sigma_n2, 0.0, integer=False)
    n = count("n", n, minimum=2)
    m = count("m", m)
    if m >= n:
        raise ValueError(f"m must satisfy 1 <= m < n (some tokens must be irrelevant), got m={m}, n={n}")
    sigma2 = float(positive_finite("sigma2", sigma2))
    d = count("d", d)
    trials = count("trials", trials, minimum=2)
    rng = np.random.default_rng(_seed(seed))
    S, E = sigma_n2.size, len(ESTIMATORS)
    beta_star = np.atleast_1d(np.asarray(vanilla_best_beta(n, m, sigma2, sigma_n2), dtype=float))
    tau_v = float(bayes_value_gate(m, sigma2))
    params = np.empty((S, E, 4))
    params[:, 0] = np.stack([beta_star, np.zeros(S), np.ones(S), np.ones(S)], axis=1)
    params[:, 1] = (0.0, 0.0, 1.0, 1.0)
    params[:, 2] = (0.0, -np.inf, 1.0, 1.0)
    params[:, 3] = (0.0, -np.inf, tau_v, 0.0)
    sigma, sigma_n = np.sqrt(sigma2), np.sqrt(sigma_n2)
    m_draw, k_draw = m, n - m
    if sampler == "pooled":
        # every estimator gives one logit and one gate to all tokens of a class, so a class of c tokens reads
        # like one token with logit + log c whose noise is the class mean (variance / c): same law, 2 tokens
        params[:, :, 0] += np.log(m)
        params[:, :, 1] += np.log(n - m)
        sigma, sigma_n = sigma / np.sqrt(m), sigma_n / np.sqrt(n - m)
        m_draw, k_draw = 1, 1
    s1 = np.zeros((S, E))
    s2 = np.zeros((S, E))
    g1 = np.zeros(S)
    g2 = np.zeros(S)
    done = 0
    while done < trials:
        B = min(S3_CHUNK, trials - done)
        theta = rng.standard_normal((B, d))
        Zr = rng.standard_normal((B, m_draw, d))
        Zi = rng.standard_normal((B, k_draw, d))
        sq = np.empty((B, S, E))
        kernel(theta, Zr, Zi, float(sigma), sigma_n, params, sq)
        s1 += sq.sum(axis=0)
        s2 += (sq**2).sum(axis=0)
        gp = sq[:, :, 0] - sq[:, :, 3]
        g1 += gp.sum(axis=0)
        g2 += (gp**2).sum(axis=0)
        done += B

    def mean_se(a, b):
        mu = a / trials
        return mu, np.sqrt(np.maximum(b - trials * mu**2, 0.0) / (trials - 1) / trials)

    risk, risk_se = mean_se(s1, s2)
    gap, gap_se = mean_se(g1, g2)
    th = value_gating_risks(n, m, sigma2, sigma_n2)
    theory = np.stack([np.broadcast_to(np.asarray(th[k], dtype=float), (S,))
                       for k in ("vanilla_best", "naive_mean", "hard_select", "bayes")], axis=1)
    return ValueGatingMC(n, m, sigma2, d, trials, sampler, sigma_n2, ESTIMATORS, risk, risk_se, theory, beta_star,
                         tau_v, gap, gap_se, theory[:, 0] - theory[:, 3])


def value_gating_mc(sigma_n2, n=32, m=4, sigma2=4.0, d=16, trials=20_000, seed=0,
                    sampler="tokens") -> ValueGatingMC:
    """S3 value-gated denoising (§4, §3.5): risks of vanilla at β*, naive, hard selection and value gating.

    sigma_n2: strictly increasing irrelevant-value variances >= 0 (the same draws serve every σ_n²);
    n >= 2 tokens with 1 <= m < n relevant; sigma2 > 0: relevant-value noise variance; d >= 1 coordinates of θ
    (risks are per coordinate); trials >= 2; seed: integer >= 0; sampler: "tokens" (all n values drawn) or
    "pooled" (each class of tokens as one token carrying the class-mean noise, logit + log(count): the same law
    of every readout here at 2/n of the draws; for large n and many trials).
    """
    return _value_gating(kernels.value_gate_kernel, sigma_n2, n, m, sigma2, d, trials, seed, sampler)


# ----------------------------------------------------------------------------------------------------------------
# S4: write-gated linear memory and the homogeneity check


@dataclass(frozen=True, eq=False)
class WriteGatingMC:
    """S4 (§4, §3.8): memory S = Σ_j g_j v_j k_jᵀ with 0/1 write gates on N_active of N items, read at every active
    key. snr = pooled signal power / pooled cross-talk power (ratio of sums over trials, items and coordinates);
    snr_se by the delta method over trials; theory = ``write_gate_snr(d, N_active)`` = d/(N_active − 1).
    N_active, snr, snr_se, theory, signal_power, noise_power [A] (powers per read-out coordinate).
    """

    N: int
    N_active: np.ndarray
    d: int
    d_v: int
    trials: int
    snr: np.ndarray
    snr_se: np.ndarray
    theory: np.ndarray
    signal_power: np.ndarray
    noise_power: np.ndarray


def _unit_rows(Z):
    return Z / np.linalg.norm(Z, axis=-1, keepdims=True)


def _write_gating(kernel, N, N_active, d, d_v, trials, seed):
    N = count("N", N, minimum=2)
    N_active = _grid("N_active", N_active, 2, integer=True)
    if N_active[-1] > N:
        raise ValueError(f"N_active must be <= N = {N}, got {N_active.tolist()}")
    d = count("d", d)
    d_v = count("d_v", d_v)
    trials = count("trials", trials, minimum=2)
    rng = np.random.default_rng(_seed(seed))
    A = N_active.size
    sig = np.empty((trials, A))
    noi = np.empty((trials, A))
    done = 0
    while done < trials:
        B = min(S4_CHUNK, trials - done)
        K = _unit_rows(rng.standard_normal((B, N, d)))
        V = rng.standard_normal((B, N, d_v))
        order = rng.random((B, N)).argsort(axis=1)  # a random token order; the first N_a tokens are written
        rows = np.arange(B)[:, None]
        for a, Na in enumerate(N_active):
            act = order[:, :Na]
            g = np.zeros((B, N))
            g[rows, act] = 1.0
            Qr = np.ascontiguousarray(K[rows, act])
            num = np.empty((B, Na, d_v))
            den = np.empty((B, Na))
            kernel(kernels.PHI_IDENTITY, K, V, g, Qr, num, den)
            signal = V[rows, act]  # g_i (k_i·k_i) v_i with unit keys and unit gates
            sig[done:done + B, a] = np.sum(signal**2, axis=(1, 2))
            noi[done:done + B, a] = np.sum((num - signal) ** 2, axis=(1, 2))
        done += B
    ms, mn = sig.mean(axis=0), noi.mean(axis=0)
    snr = ms / mn
    resid = sig - snr[None, :] * noi
    snr_se = np.std(resid, axis=0, ddof=1) / np.sqrt(trials) / mn
    per = N_active * d_v
    return WriteGatingMC(N, N_active, d, d_v, trials, snr, snr_se,
                         np.asarray(write_gate_snr(d, N_active), dtype=float), ms / per, mn / per)


def write_gating_mc(N, N_active, d=64, d_v=16, trials=300, seed=0) -> WriteGatingMC:
    """S4 write gating (§4, §3.8): pooled SNR of a linear memory read at stored keys vs the number of written
    items.

    N >= 2 items per trial with Gaussian values in R^{d_v} and uniform random unit keys in R^d; N_active: strictly
    increasing counts of written items, 2 <= N_a <= N (nested random subsets of the same items); trials >= 2;
    seed: integer >= 0.
    """
    return _write_gating(kernels.linear_memory_kernel, N, N_active, d, d_v, trials, seed)


@dataclass(frozen=True, eq=False)
class TemperatureInvariance:
    """S4 homogeneity check (§3.7): linear attention with feature map φ read at q and at τq.

    degree: p with φ(τq) = τ^p φ(q) (None for the non-homogeneous Taylor map); tau [T];
    normalized_change [T]: max |out(τq) − out(q)| / max |out(q)| for the normalized readout out = num/den;
    unnormalized_scale_error [T]: max |num(τq) − τ^p num(q)| / max |τ^p num(q)| (NaN without a degree).
    """

    phi: str
    degree: int | None
    tau: np.ndarray
    normalized_change: np.ndarray
    unnormalized_scale_error: np.ndarray


def _temperature_invariance(kernel, phi, tau, d, N, d_v, trials, seed):
    if phi not in PHIS:
        raise ValueError(f"phi must be one of {tuple(PHIS)}, got {phi!r}")
    code, p = PHIS[phi]
    tau = _grid("tau", tau, 0.0, integer=False)
    if tau[0] <= 0:
        raise ValueError(f"tau must be > 0, got {tau.tolist()}")
    d = count("d", d)
    N = count("N", N)
    d_v = count("d_v", d_v)
    trials = count("trials", trials)
    rng = np.random.default_rng(_seed(seed))
    K = _unit_rows(rng.standard_normal((trials, N, d)))
    V = rng.standard_normal((trials, N, d_v))
    q = _unit_rows(rng.standard_normal((trials, d)))
    Qr = np.ascontiguousarray(np.concatenate([[1.0], tau])[None, :, None] * q[:, None, :])
    num = np.empty((trials, tau.size + 1, d_v))
    den = np.empty((trials, tau.size + 1))
    kernel(code, K, V, np.ones((trials, N)), Qr, num, den)
    out = num / den[:, :, None]
    base = out[:, 0]
    change = np.abs(out[:, 1:] - base[:, None]).max(axis=(0, 2)) / np.abs(base).max()
    if p is None:
        scale_err = np.full(tau.size, np.nan)
    else:
        scaled = tau[:, None, None] ** p * num[:, :1].transpose(1, 0, 2)  # τ^p num(q) [T, trials, d_v]
        err = np.abs(num[:, 1:].transpose(1, 0, 2) - scaled)
        scale_err = err.max(axis=(1, 2)) / np.abs(scaled).max(axis=(1, 2))
    return TemperatureInvariance(phi, p, tau, change, scale_err)


def temperature_invariance(phi="square", tau=(0.3, 3.7, 10.0), d=8, N=64, d_v=4, trials=16,
                           seed=0) -> TemperatureInvariance:
    """S4 homogeneity check (§3.7, C10): does q → τq change a linear-attention readout?

    phi: "identity" (degree 1), "square" (φ(x) = x ⊗ x, degree 2) or "taylor" (φ(x)·φ(y) = 1 + x·y + (x·y)²/2,
    non-homogeneous); tau: strictly increasing temperatures > 0; d, N, d_v >= 1: key dimension, stored items,
    value dimension (unit random keys and query, Gaussian values, all gates 1); trials >= 1; seed: integer >= 0.
    """
    return _temperature_invariance(kernels.linear_memory_kernel, phi, tau, d, N, d_v, trials, seed)

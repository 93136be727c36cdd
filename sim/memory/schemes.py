"""Monte Carlo of the Cabannes–Dohmatob–Bietti memories W_q with random embeddings (associative_memory.md §9.1–§9.3,
claims Z1–Z4, Z7).

Setting (§9.1): inputs x ∈ [N] (index x = rank − 1) with Zipf law p(x) ∝ (x + 1)^{−α}, labels f*(x) = x mod M,
embeddings e_x [d] and unembeddings u_y [d]; memory W_q = Σ_x q(x) u_{f*(x)} e_xᵀ, prediction
f̂(x) = argmax_y u_yᵀ W_q e_x (ties to the lowest class), error E = Σ_x p(x)·1{f̂(x) ≠ f*(x)}.
Embeddings: ``"gaussian"`` N(0, I/d) or ``"sphere"`` uniform on S^{d−1}; the theory notebooks use gaussian inputs
and sphere outputs (the defaults).

The kernel never forms W: with K = U Uᵀ [M, M] and Z_m = Σ_{x: f*(x)=m} q(x) e_x [d],
u_yᵀ W_q e_x = Σ_m K[y, m] (Z_m·e_x), which costs O(N d M) per memory instead of O(N d²).

Schemes (§9.2, ``theory.memory.scheme_weights``): from the counts of T samples (p itself at T = ∞), sort seen
tokens by count, keep the top K (all when K is None), q = (count/T)^ρ on them: ``fill`` q ≡ 1, ``frequency``
ρ = 1, ``power`` ρ = rho, ``seen`` ρ = 0, ``threshold`` ρ = 0 with K = K or ⌊K_per_d·d⌋.

Randomness: trial t owns ``SeedSequence(seed).spawn(trials)[t]``; its first child draws the sample counts for
every finite T (one multinomial per T, in order), child 1 + j the embeddings for d[j]. Results therefore do not
depend on how trials are split into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from theory._validate import count
from theory.memory import SCHEMES, scheme_weights, zipf_probabilities

EMBEDDINGS = ("gaussian", "sphere")
BUDGET = 1 << 22  # float64 entries of drawn input embeddings per kernel call (32 MiB)


class Scheme(NamedTuple):
    """One memory scheme of §9.2: ``name`` in SCHEMES; K (kept tokens) fixed, or ⌊K_per_d·d⌋; rho for ``power``."""

    name: str
    K: int | None = None
    K_per_d: float | None = None
    rho: float | None = None

    @property
    def label(self) -> str:
        if self.name == "threshold":
            return f"threshold K={self.K}" if self.K is not None else f"threshold K=d·{self.K_per_d:g}"
        if self.name == "power":
            return f"power rho={self.rho:g}"
        return self.name


def check_scheme(s) -> Scheme:
    """A Scheme from a Scheme, a name, or a mapping {name|scheme, K, K_per_d, rho}; validated."""
    if isinstance(s, str):
        s = Scheme(s)
    elif isinstance(s, dict):
        d = dict(s)
        name = d.pop("scheme", d.pop("name", None))
        unknown = set(d) - {"K", "K_per_d", "rho"}
        if unknown:
            raise ValueError(f"scheme settings must be among K, K_per_d, rho, got {sorted(unknown)}")
        s = Scheme(name, **d)
    elif not isinstance(s, Scheme):
        raise ValueError(f"scheme must be a name, a Scheme or a mapping, got {s!r}")
    if s.name not in SCHEMES:
        raise ValueError(f"scheme name must be one of {SCHEMES}, got {s.name!r}")
    if s.K is not None and s.K_per_d is not None:
        raise ValueError("give K or K_per_d, not both")
    if s.name == "threshold" and s.K is None and s.K_per_d is None:
        raise ValueError("scheme 'threshold' needs K or K_per_d")
    if s.K is not None:
        count("K", s.K, minimum=0)
    if s.K_per_d is not None and not (np.isfinite(s.K_per_d) and s.K_per_d > 0):
        raise ValueError(f"K_per_d must be a finite number > 0, got {s.K_per_d!r}")
    if s.name == "power" and (s.rho is None or not (np.isfinite(s.rho) and s.rho >= 0)):
        raise ValueError(f"scheme 'power' needs rho >= 0, got {s.rho!r}")
    return s


def kept(s: Scheme, d: int) -> int | None:
    """K of scheme ``s`` at dimension d (None: every seen token)."""
    if s.K is not None:
        return s.K
    if s.K_per_d is not None:
        return int(np.floor(s.K_per_d * d))
    return None


def weights(s: Scheme, counts, d: int) -> np.ndarray:
    """q [N] of scheme ``s`` at dimension d from counts [N] (p at T = ∞)."""
    return scheme_weights(s.name, counts, K=kept(s, d), rho=s.rho)


def draw_embeddings(N, M, d, rng, inputs="gaussian", outputs="sphere"):
    """E [N, d], U [M, d]: ``gaussian`` N(0, I/d) or ``sphere`` uniform on S^{d−1} rows."""
    N, M, d = count("N", N), count("M", M), count("d", d)
    out = []
    for name, n in (("inputs", N), ("outputs", M)):
        kind = inputs if name == "inputs" else outputs
        if kind not in EMBEDDINGS:
            raise ValueError(f"{name} must be one of {EMBEDDINGS}, got {kind!r}")
        X = rng.standard_normal((n, d))
        X = X / np.linalg.norm(X, axis=1, keepdims=True) if kind == "sphere" else X / np.sqrt(d)
        out.append(X)
    return out[0], out[1]


# ----------------------------------------------------------------------------------------------------------------
# kernel


@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def memory_errors_kernel(E, U, f_star, p, Q, out, frac):
    """out[b, c] = Σ_x p(x)·1{argmax_y u_yᵀ W e_x ≠ f*(x)} for W = Σ_x Q[b, c, x] u_{f*(x)} e_xᵀ and
    frac[b, c] = (1/N)·#{x wrong} (prange over b).

    E [B, N, d], U [B, M, d], f_star [N] in [0, M), p [N], Q [B, C, N]; ties go to the lowest class.
    """
    B, N, d = E.shape
    M = U.shape[1]
    C = Q.shape[1]
    for b in prange(B):
        K = np.empty((M, M))
        for y in range(M):
            for m in range(M):
                s = 0.0
                for k in range(d):
                    s += U[b, y, k] * U[b, m, k]
                K[y, m] = s
        Z = np.empty((M, d))
        h = np.empty(M)
        for c in range(C):
            Z[:, :] = 0.0
            for x in range(N):
                q = Q[b, c, x]
                if q != 0.0:
                    m = f_star[x]
                    for k in range(d):
                        Z[m, k] += q * E[b, x, k]
            err = 0.0
            wrong = 0
            for x in range(N):
                for m in range(M):
                    s = 0.0
                    for k in range(d):
                        s += Z[m, k] * E[b, x, k]
                    h[m] = s
                best = 0
                best_s = -np.inf
                for y in range(M):
                    s = 0.0
                    for m in range(M):
                        s += K[y, m] * h[m]
                    if s > best_s:
                        best_s = s
                        best = y
                if best != f_star[x]:
                    err += p[x]
                    wrong += 1
            out[b, c] = err
            frac[b, c] = wrong / N


def _check_memory_batch(E, U, f_star, p, Q):
    E = np.ascontiguousarray(E, dtype=float)
    U = np.ascontiguousarray(U, dtype=float)
    Q = np.ascontiguousarray(Q, dtype=float)
    p = np.ascontiguousarray(p, dtype=float)
    f = np.asarray(f_star)
    if E.ndim != 3 or U.ndim != 3 or U.shape[0] != E.shape[0] or U.shape[2] != E.shape[2] or E.size == 0:
        raise ValueError(f"E must be [B, N, d] and U [B, M, d], got {E.shape} and {U.shape}")
    B, N, _ = E.shape
    M = U.shape[1]
    if f.shape != (N,) or not np.issubdtype(f.dtype, np.integer) or f.min() < 0 or f.max() >= M:
        raise ValueError(f"f_star must be integers in [0, {M}) of shape [{N}]")
    if p.shape != (N,) or np.any(p < 0) or not np.all(np.isfinite(p)):
        raise ValueError(f"p must be non-negative and finite of shape [{N}]")
    if Q.ndim != 3 or Q.shape[0] != B or Q.shape[2] != N or not np.all(np.isfinite(Q)):
        raise ValueError(f"Q must be finite of shape [{B}, C, {N}], got {Q.shape}")
    if not (np.all(np.isfinite(E)) and np.all(np.isfinite(U))):
        raise ValueError("E and U must be finite")
    return E, U, np.ascontiguousarray(f, dtype=np.int64), p, Q


def memory_errors(E, U, f_star, p, Q, return_fraction=False):
    """Errors [B, C] of the memories W_q for every trial b and weight vector Q[b, c] (numba kernel).

    E [B, N, d] inputs, U [B, M, d] outputs, f_star [N], p [N] (the error weights), Q [B, C, N].
    ``return_fraction``: also the unweighted fraction of wrong inputs [B, C].
    """
    E, U, f, p, Q = _check_memory_batch(E, U, f_star, p, Q)
    out = np.empty((E.shape[0], Q.shape[1]))
    frac = np.empty_like(out)
    memory_errors_kernel(E, U, f, p, Q, out, frac)
    return (out, frac) if return_fraction else out


# ----------------------------------------------------------------------------------------------------------------
# Monte Carlo over embeddings and samples


@dataclass
class SchemeMC:
    """Scheme errors over d and T.

    error, error_se [n_schemes, n_d, n_T]: mean over trials and its SE; T [n_T] (np.inf for T = ∞);
    fraction, fraction_se: the same for the unweighted fraction of wrong inputs. For ``fill`` (q ≡ 1) with M | N
    every input is exchangeable, so its expectation equals that of the error, with a far smaller variance (the
    error is dominated by the few most frequent tokens);
    unseen, unseen_se [n_T]: Σ_x p(x)1{x unseen} of the samples (0 at T = ∞); per_trial [n_schemes, n_d, n_T,
    trials]: the raw errors.
    """

    schemes: tuple
    d: np.ndarray
    T: np.ndarray
    error: np.ndarray
    error_se: np.ndarray
    fraction: np.ndarray
    fraction_se: np.ndarray
    unseen: np.ndarray
    unseen_se: np.ndarray
    per_trial: np.ndarray
    alpha: float
    N: int
    M: int
    trials: int
    seed: int
    inputs: str
    outputs: str


def _check_mc(schemes, d, T, alpha, N, M, trials, seed, inputs, outputs):
    schemes = tuple(check_scheme(s) for s in schemes)
    if not schemes:
        raise ValueError("schemes must be a non-empty list")
    d = np.atleast_1d(np.asarray(d))
    if d.ndim != 1 or d.size == 0 or not all(float(x).is_integer() and x >= 1 for x in d):
        raise ValueError(f"d must be a non-empty list of integers >= 1, got {d!r}")
    T = np.atleast_1d(np.asarray([np.inf if t is None else t for t in np.atleast_1d(T)], dtype=float))
    if T.size == 0 or np.any(np.isnan(T)) or np.any(T < 1) or np.any(np.isfinite(T) & (T != np.round(T))):
        raise ValueError(f"T must be a non-empty list of integers >= 1 or inf/None (T = ∞), got {T!r}")
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
    N, M, trials = count("N", N), count("M", M, minimum=2), count("trials", trials, minimum=2)
    if isinstance(seed, bool) or not float(seed).is_integer() or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    for name, kind in (("inputs", inputs), ("outputs", outputs)):
        if kind not in EMBEDDINGS:
            raise ValueError(f"{name} must be one of {EMBEDDINGS}, got {kind!r}")
    return schemes, d.astype(np.int64), T, alpha, N, M, trials, int(seed)


def trial_draws(t_seq, p, d_list, T, M, inputs, outputs):
    """Counts [n_T, N] (p at T = ∞) and the embeddings [(E, U) per d] of one trial (see module docstring)."""
    kids = t_seq.spawn(1 + len(d_list))
    g = np.random.default_rng(kids[0])
    counts = np.stack([p if not np.isfinite(t) else g.multinomial(int(t), p).astype(float) for t in T])
    emb = [draw_embeddings(len(p), M, int(dd), np.random.default_rng(kids[1 + j]), inputs, outputs)
           for j, dd in enumerate(d_list)]
    return counts, emb


def scheme_error_mc(schemes, d, T=(None,), *, alpha=2.0, N=1000, M=5, trials=20, seed=0, inputs="gaussian",
                    outputs="sphere") -> SchemeMC:
    """Monte Carlo errors of the §9.2 memories for every scheme, d and T (T = None or inf: q from p).

    Each trial draws one sample of size T for every finite T (shared by all d) and one embedding pair per d
    (shared by all schemes and T), so differences between schemes, d and T are paired within a trial.
    """
    return monte_carlo(memory_errors, schemes, d, T, alpha, N, M, trials, seed, inputs, outputs)


def monte_carlo(errors, schemes, d, T, alpha, N, M, trials, seed, inputs, outputs) -> SchemeMC:
    """``scheme_error_mc`` with the error function ``errors`` (the kernel or the naive reference)."""
    schemes, d, T, alpha, N, M, trials, seed = _check_mc(schemes, d, T, alpha, N, M, trials, seed, inputs, outputs)
    p = zipf_probabilities(alpha, N)
    f = np.arange(N, dtype=np.int64) % M
    seqs = np.random.SeedSequence(seed).spawn(trials)
    nS, nd, nT = len(schemes), len(d), len(T)
    per = np.empty((nS, nd, nT, trials))
    per_frac = np.empty_like(per)
    unseen = np.empty((nT, trials))
    chunk = max(2, BUDGET // (N * int(d.sum())))
    for start in range(0, trials, chunk):
        idx = range(start, min(trials, start + chunk))
        draws = [trial_draws(seqs[t], p, d, T, M, inputs, outputs) for t in idx]
        for j, t in enumerate(idx):
            unseen[:, t] = [(p * (c == 0)).sum() if np.isfinite(TT) else 0.0 for c, TT in zip(draws[j][0], T)]
        for k, dd in enumerate(d):
            E = np.stack([dr[1][k][0] for dr in draws])
            U = np.stack([dr[1][k][1] for dr in draws])
            Q = np.stack([[weights(s, dr[0][i], int(dd)) for s in schemes for i in range(nT)] for dr in draws])
            err, frac = errors(E, U, f, p, Q, return_fraction=True)
            per[:, k, :, start:start + len(idx)] = err.reshape(len(idx), nS, nT).transpose(1, 2, 0)
            per_frac[:, k, :, start:start + len(idx)] = frac.reshape(len(idx), nS, nT).transpose(1, 2, 0)
    se = per.std(axis=-1, ddof=1) / np.sqrt(trials)
    return SchemeMC(schemes=schemes, d=d, T=T, error=per.mean(axis=-1), error_se=se,
                    fraction=per_frac.mean(axis=-1), fraction_se=per_frac.std(axis=-1, ddof=1) / np.sqrt(trials),
                    unseen=unseen.mean(axis=1),
                    unseen_se=unseen.std(axis=1, ddof=1) / np.sqrt(trials), per_trial=per, alpha=alpha, N=N, M=M,
                    trials=trials, seed=seed, inputs=inputs, outputs=outputs)


def unseen_mass_mc(alpha, N, T, *, trials=1000, seed=0):
    """Monte Carlo of the unseen mass Σ_x p(x)1{count_x = 0} of T Zipf(α) samples on N tokens (§9.3, Z1).

    Returns (mean [n_T], SE [n_T]) over ``trials`` independent samples per T (one multinomial draw each).
    """
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
    N, trials = count("N", N), count("trials", trials, minimum=2)
    T = np.atleast_1d(np.asarray(T))
    if T.size == 0 or not all(float(t).is_integer() and t >= 0 for t in T):
        raise ValueError(f"T must be a non-empty list of integers >= 0, got {T!r}")
    if isinstance(seed, bool) or not float(seed).is_integer() or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    p = zipf_probabilities(alpha, N)
    rng = np.random.default_rng(int(seed))
    mass = np.empty((T.size, trials))
    for i, t in enumerate(T):
        counts = rng.multinomial(int(t), p, size=trials)
        mass[i] = (counts == 0) @ p
    return mass.mean(axis=1), mass.std(axis=1, ddof=1) / np.sqrt(trials)


@njit(cache=True)
def _margin_table_kernel(gamma, Mm1, out):
    q = 0.0
    out[0] = 0.0
    for n in range(1, out.shape[0]):
        e = Mm1 * np.exp(-q)  # (M − 1)e^{−q}: the increment γ/(1 + e^q/(M − 1)) without overflow at large q
        q += gamma * e / (1.0 + e)
        out[n] = q


def margin_table(n_max, gamma, M) -> np.ndarray:
    """q_n = f_γ^n(0) for n = 0..n_max [n_max + 1], f_γ(q) = q + γ/(1 + e^q/(M − 1)) (§9.4, Z7).

    The margin after n occurrences, for all n at once (``theory.memory.margin_recursion`` evaluates it per n).
    gamma > 0; M: integer >= 2.
    """
    n_max, M = count("n_max", n_max, minimum=0), count("M", M, minimum=2)
    gamma = float(gamma)
    if not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")
    out = np.empty(n_max + 1)
    _margin_table_kernel(gamma, float(M - 1), out)
    return out

"""Random-embedding associative memories: W_q memories, exact top-1 accuracy, Monte Carlo over embedding draws
and the package-standard capacity search (associative_memory.md §1.1, §1.3, §2.2).

- Embeddings (§1.1): rows iid uniform on S^{d−1} (``law="sphere"``, normalised Gaussian, the Nichani et al. code)
  or N(0, I_d/d) (``"gaussian"``). Every array is drawn from its own stream, so the first n rows of a draw do
  not depend on how many rows were drawn: the draws are nested in N (common random numbers across sizes).
- Targets f*: ``"bijection"`` f*(x) = x (M = N), ``"blocks"`` f*(x) = ⌊xM/N⌋ (contiguous balanced classes, the
  official M = 32 runs), ``"random"`` iid uniform labels (the M = 2 readout runs of §2.1).
- W_q = Σ_x q(x)·u_{f*(x)} e_xᵀ [d_u, d_e]; q ≡ 1 is the Hebbian memory (§2.2).
- Top-1 decoding f̂(x) = argmax_y u_yᵀ W e_x; ties go to the lowest class index (``numpy.argmax``). The error
  count is computed in blocks of inputs, so no [N, M] score matrix is ever formed; with ``max_errors`` >= 0
  it stops once the count exceeds ``max_errors`` and reports ``max_errors + 1`` (a failure is then decided
  exactly without scoring every input). Block scores are float32 with a proven error bound; rows the bound
  cannot decide are rescored in float64, so the decisions are the float64 ones.
- ``CapacitySearch`` (§1.3): both brackets are tested, then expanded geometrically until success(lo) and
  failure(hi), then bisected in log-size until hi/lo <= ratio or hi − lo <= 1. ``logistic_capacity`` fits
  P(success) = σ(a + b(ln N − mean ln N)) by Firth-penalised maximum likelihood (finite under separation) and
  returns the size at a given success probability with a delta-method 95% interval.

Kernels live in this module (``weighted_memory_kernel``, ``top1_errors_kernel``, ``hebbian_errors_kernel``,
``prange`` over independent draws only); ``sim.memory.naive`` holds plain float64 references with the same
signatures, and the public drivers run identically on either set of kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from theory._validate import count
from theory.memory import hebbian_threshold_capacity, hebbian_threshold_statistic, hebbian_union_capacity

LAWS = ("sphere", "gaussian")
TARGETS = ("bijection", "blocks", "random")
SCORE_BUDGET = 1 << 18  # score entries per block of inputs and per draw (2 MiB): block = SCORE_BUDGET // M
DRAW_BUDGET = 1 << 24  # float64 entries of embeddings held per chunk of draws (128 MiB)
STATUSES = ("converged", "below", "above")


# ----------------------------------------------------------------------------------------------------------------
# validation


def _seed_entropy(seed) -> list[int]:
    """A seed (int >= 0) or a sequence of them, as SeedSequence entropy."""
    items = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    if not items:
        raise ValueError("seed must be an integer >= 0 or a non-empty sequence of them")
    for s in items:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"seed must be an integer >= 0 or a sequence of them, got {seed!r}")
    return [int(s) for s in items]


def _law(law: str) -> str:
    if law not in LAWS:
        raise ValueError(f"law must be one of {LAWS}, got {law!r}")
    return law


def _targets_kind(targets, M) -> str:
    if targets is None:
        return "bijection" if M is None else "blocks"
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    if (targets == "bijection") != (M is None):
        raise ValueError("targets='bijection' goes with M=None (M = N) and only with it")
    return targets


def _level(level) -> float:
    level = float(level)
    if not (0.0 < level <= 1.0):
        raise ValueError(f"level must be in (0, 1], got {level!r}")
    return level


def allowed_errors(level, n) -> int:
    """Largest error count with accuracy >= ``level`` over n scored inputs (1e-9 absorbs the rounding of 1 − level)."""
    return int(math.floor((1.0 - level) * n + 1e-9))


# ----------------------------------------------------------------------------------------------------------------
# embeddings and targets


def embeddings(n, d, rng, law: str = "sphere") -> np.ndarray:
    """n rows in R^d [n, d]: uniform on S^{d−1} (``"sphere"``) or N(0, I_d/d) (``"gaussian"``) (§1.1).

    ``rng``: a ``numpy.random.Generator``; the first k rows are the same for every n >= k.
    """
    n, d = count("n", n), count("d", d)
    X = rng.standard_normal((n, d))
    if _law(law) == "sphere":
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    else:
        X /= np.sqrt(d)
    return X


def targets(N, M, kind: str, rng=None) -> np.ndarray:
    """f* [N] (int64) (§1.1, §2.1, §3.2): ``"bijection"`` x (M = N), ``"blocks"`` ⌊xM/N⌋, ``"random"`` iid uniform
    in [M] drawn from ``rng`` (nested in N)."""
    N = count("N", N)
    if kind == "bijection":
        return np.arange(N, dtype=np.int64)
    M = count("M", M, minimum=2)
    if kind == "blocks":
        return (np.arange(N, dtype=np.int64) * M) // N
    if kind == "random":
        if rng is None:
            raise ValueError("targets='random' needs rng")
        return rng.integers(0, M, size=N, dtype=np.int64)
    raise ValueError(f"kind must be one of {TARGETS}, got {kind!r}")


@dataclass(frozen=True, eq=False)
class MemoryProblem:
    """One draw of an associative-memory problem (§1.1): E [N, d] inputs, U [M, d] outputs, f_star [N] int64."""

    E: np.ndarray
    U: np.ndarray
    f_star: np.ndarray
    law: str
    targets: str


def memory_problem(N, d, M=None, seed=0, law: str = "sphere", targets_kind=None) -> MemoryProblem:
    """Draw E, U, f* for N inputs in R^d (§1.1, §2.3, §3.2); nested in N for a fixed ``seed``.

    M=None is the bijection M = N; otherwise M >= 2 classes with ``targets_kind`` "blocks" (default) or
    "random". ``seed``: integer >= 0 or a sequence of them. E, U and the labels come from three independent
    streams of ``SeedSequence(seed)``, so the first n rows of E (and of U when M = N) do not depend on N.
    """
    N, d = count("N", N), count("d", d)
    kind = _targets_kind(targets_kind, M)
    if M is not None:
        M = count("M", M, minimum=2)
    law = _law(law)
    rE, rU, rf = (np.random.default_rng(s) for s in np.random.SeedSequence(_seed_entropy(seed)).spawn(3))
    E = embeddings(N, d, rE, law)
    U = embeddings(N if M is None else M, d, rU, law)
    return MemoryProblem(E, U, targets(N, M, kind, rf), law, kind)


def _check_problem(E, U, f_star):
    E = np.asarray(E, dtype=float)
    U = np.asarray(U, dtype=float)
    f = np.asarray(f_star)
    if E.ndim != 2 or U.ndim != 2 or E.size == 0 or U.size == 0:
        raise ValueError(f"E must be [N, d_e] and U [M, d_u], got shapes {E.shape} and {U.shape}")
    if not (np.all(np.isfinite(E)) and np.all(np.isfinite(U))):
        raise ValueError("E and U must be finite")
    if f.shape != (E.shape[0],) or not np.issubdtype(f.dtype, np.integer) or f.min() < 0 or f.max() >= U.shape[0]:
        raise ValueError(f"f_star must be integers in [0, {U.shape[0]}) of shape [{E.shape[0]}]")
    return np.ascontiguousarray(E), np.ascontiguousarray(U), np.ascontiguousarray(f, dtype=np.int64)


# ----------------------------------------------------------------------------------------------------------------
# numba kernels (prange over draws r; arrays [R, ...])


@njit(cache=True, parallel=True)
def weighted_memory_kernel(q, E, U, f, W):
    """W[r] = Σ_x q[r, x]·U[r, f[r, x]] E[r, x]ᵀ [R, d_u, d_e] (§1.1), one BLAS product per draw.

    q [R, N]; E [R, N, d_e]; U [R, M, d_u]; f [R, N] int64. Out: W [R, d_u, d_e].
    """
    R, N = q.shape
    du = U.shape[2]
    for r in prange(R):
        G = np.empty((N, du))
        for x in range(N):
            y = f[r, x]
            for a in range(du):
                G[x, a] = q[r, x] * U[r, y, a]
        W[r] = np.dot(G.T, E[r])


@njit(cache=True)
def _errors_one(Wt, E, Ut, f, max_errors, block):
    """Top-1 errors of one memory; Wt = Wᵀ [d_e, d_u], Ut = Uᵀ [d_u, M]; scores formed block by block.

    Scores are computed in float32 (half the GEMM time) from the float64 readouts z = Wᵀe, with a rigorous
    bound on their error: |fl32(z·u) − z·u| <= tol = 1.05·(d_u + 3)·2⁻²⁴·‖z‖·max_y‖u_y‖ (rounding of z and u to
    float32, then any summation order). A row whose float32 margin is within 2·tol of zero is rescored in
    float64, so every decision equals the float64 one (ties to the lowest class, as ``numpy.argmax``).
    """
    N = E.shape[0]
    du, M = Ut.shape
    Ut32 = Ut.astype(np.float32)
    umax = 0.0
    for c in range(M):
        nrm = 0.0
        for a in range(du):
            nrm += Ut[a, c] * Ut[a, c]
        umax = max(umax, np.sqrt(nrm))
    scale = 1.05 * (du + 3) * 2.0 ** -24 * umax
    errors = 0
    for x0 in range(0, N, block):
        x1 = min(N, x0 + block)
        Z = np.dot(E[x0:x1], Wt)  # [x1 − x0, d_u] float64
        S = np.dot(Z.astype(np.float32), Ut32)  # [x1 − x0, M] float32
        for i in range(x1 - x0):
            y = f[x0 + i]
            s = S[i, y]
            best = -np.inf
            for c in range(M):
                if c != y and S[i, c] > best:
                    best = S[i, c]
            zn = 0.0
            for a in range(du):
                zn += Z[i, a] * Z[i, a]
            tol = 2.0 * scale * np.sqrt(zn)
            margin = np.float64(s) - np.float64(best)
            if margin > tol:
                continue
            if margin < -tol:
                errors += 1
                continue
            # undecided in float32: rescore the row in float64
            s64 = 0.0
            for a in range(du):
                s64 += Z[i, a] * Ut[a, y]
            for c in range(M):
                if c == y:
                    continue
                v = 0.0
                for a in range(du):
                    v += Z[i, a] * Ut[a, c]
                if v > s64 or (v == s64 and c < y):
                    errors += 1
                    break
        if max_errors >= 0 and errors > max_errors:
            return max_errors + 1
    return errors


@njit(cache=True, parallel=True)
def top1_errors_kernel(W, E, U, f, max_errors, block, out):
    """Top-1 errors of memories W[r] [d_u, d_e] on inputs E[r] [N, d_e] with outputs U[r] [M, d_u], targets
    f[r] [N] (§1.1). ``max_errors`` < 0: exact counts; else counts are capped at max_errors + 1 (early exit).
    ``block``: inputs scored per BLAS call. Out: out [R] int64."""
    R = E.shape[0]
    for r in prange(R):
        Wt = np.ascontiguousarray(W[r].T)
        Ut = np.ascontiguousarray(U[r].T)
        out[r] = _errors_one(Wt, E[r], Ut, f[r], max_errors, block)


@njit(cache=True, parallel=True)
def hebbian_errors_kernel(E, U, f, max_errors, block, out):
    """Top-1 errors of the Hebbian memory W = Σ_x u_{f(x)} e_xᵀ of each draw (§2.2): E [R, N, d_e],
    U [R, M, d_u], f [R, N] int64; ``max_errors``, ``block`` as in ``top1_errors_kernel``. Out: out [R] int64."""
    R, N, de = E.shape
    for r in prange(R):
        C = np.zeros((U.shape[1], de))  # C[y] = Σ_{x: f(x) = y} e_x, so W = Uᵀ C
        for x in range(N):
            y = f[r, x]
            for b in range(de):
                C[y, b] += E[r, x, b]
        Wt = np.dot(C.T, U[r])  # Wᵀ [d_e, d_u]
        Ut = np.ascontiguousarray(U[r].T)
        out[r] = _errors_one(Wt, E[r], Ut, f[r], max_errors, block)


# ----------------------------------------------------------------------------------------------------------------
# public single-memory functions


def _block(M: int) -> int:
    return max(1, SCORE_BUDGET // max(M, 1))


def weighted_memory(q, E, U, f_star, kernels=None) -> np.ndarray:
    """W_q = Σ_x q(x) u_{f*(x)} e_xᵀ [d_u, d_e] (§1.1). q [N] finite; E [N, d_e]; U [M, d_u]; f_star [N] in [0, M)."""
    E, U, f = _check_problem(E, U, f_star)
    q = np.asarray(q, dtype=float)
    if q.shape != (E.shape[0],) or not np.all(np.isfinite(q)):
        raise ValueError(f"q must be finite of shape [{E.shape[0]}], got {q.shape}")
    kern = kernels.weighted_memory_kernel if kernels is not None else weighted_memory_kernel
    W = np.empty((1, U.shape[1], E.shape[1]))
    kern(np.ascontiguousarray(q)[None], E[None], U[None], f[None], W)
    return W[0]


def top1_errors(W, E, U, f_star, max_errors=None, kernels=None) -> int:
    """Inputs x with argmax_y u_yᵀ W e_x ≠ f*(x) (§1.1), scored in blocks (no [N, M] matrix).

    W [d_u, d_e]; E [N, d_e]; U [M, d_u]; f_star [N]. ``max_errors``: None for the exact count, or an integer
    >= 0: the count stops at max_errors + 1 (enough to decide accuracy >= 1 − max_errors/N).
    """
    E, U, f = _check_problem(E, U, f_star)
    W = np.asarray(W, dtype=float)
    if W.shape != (U.shape[1], E.shape[1]) or not np.all(np.isfinite(W)):
        raise ValueError(f"W must be finite of shape [{U.shape[1]}, {E.shape[1]}], got {W.shape}")
    cap = -1 if max_errors is None else count("max_errors", max_errors, minimum=0)
    kern = kernels.top1_errors_kernel if kernels is not None else top1_errors_kernel
    out = np.empty(1, dtype=np.int64)
    kern(np.ascontiguousarray(W)[None], E[None], U[None], f[None], cap, _block(U.shape[0]), out)
    return int(out[0])


def top1_accuracy(W, E, U, f_star, kernels=None) -> float:
    """Fraction of inputs decoded correctly by W (§1.1); see ``top1_errors``."""
    return 1.0 - top1_errors(W, E, U, f_star, kernels=kernels) / np.asarray(E).shape[0]


# ----------------------------------------------------------------------------------------------------------------
# Monte Carlo over embedding draws (Hebbian memory, §2.2)


def _draw_streams(seed, draws):
    """Three generator seeds (E, U, labels) per draw: draw k of ``seed`` is the same in every call."""
    return [c.spawn(3) for c in np.random.SeedSequence(_seed_entropy(seed)).spawn(draws)]


def _hebbian_errors(kern, N, M, d, streams, law, kind, max_total):
    """Per-draw Hebbian errors at size N; with max_total >= 0 the draws stop once their sum exceeds it."""
    Mc = N if M is None else M
    R = len(streams)
    chunk = max(1, min(R, DRAW_BUDGET // (N * d + Mc * d)))
    errs = np.zeros(R, dtype=np.int64)
    block = _block(Mc)
    for r0 in range(0, R, chunk):
        sl = streams[r0:r0 + chunk]
        E = np.empty((len(sl), N, d))
        U = np.empty((len(sl), Mc, d))
        f = np.empty((len(sl), N), dtype=np.int64)
        for i, (sE, sU, sf) in enumerate(sl):
            E[i] = embeddings(N, d, np.random.default_rng(sE), law)
            U[i] = embeddings(Mc, d, np.random.default_rng(sU), law)
            f[i] = targets(N, M, kind, np.random.default_rng(sf))
        cap = -1 if max_total < 0 else max_total - int(errs.sum())
        out = np.empty(len(sl), dtype=np.int64)
        kern(E, U, f, cap, block, out)
        errs[r0:r0 + len(sl)] = out
        if max_total >= 0 and errs.sum() > max_total:
            errs[r0 + len(sl):] = -1  # not scored
            break
    return errs


@dataclass(frozen=True, eq=False)
class HebbianMC:
    """Hebbian top-1 accuracy over embedding draws at one size (§2.2).

    acc [draws]: accuracy of each draw; mean, se: their mean and standard error; theory_statistic:
    √Var(Δ)·√(2 ln M) with the §2.2 variance; theory_statistic_exact: the same with the exact variance of the
    embedding law (``theory.memory.hebbian``).
    """

    N: int
    M: int | None
    d: int
    draws: int
    law: str
    targets: str
    acc: np.ndarray
    mean: float
    se: float
    theory_statistic: float
    theory_statistic_exact: float


def _hebbian_accuracy(kern, N, M, d, draws, seed, law, targets_kind):
    N, d = count("N", N), count("d", d)
    draws = count("draws", draws, minimum=2)
    kind = _targets_kind(targets_kind, M)
    if M is not None:
        M = count("M", M, minimum=2)
    law = _law(law)
    errs = _hebbian_errors(kern, N, M, d, _draw_streams(seed, draws), law, kind, -1)
    acc = 1.0 - errs / N
    Mm = N if M is None else M
    stat = stat_exact = float("nan")
    if Mm >= 2 and Mm <= N:
        stat = float(hebbian_threshold_statistic(N, Mm, d, "spec"))
        stat_exact = float(hebbian_threshold_statistic(N, Mm, d, law))
    return HebbianMC(N, M, d, draws, law, kind, acc, float(acc.mean()), float(acc.std(ddof=1) / np.sqrt(draws)),
                     stat, stat_exact)


def hebbian_accuracy(N, M, d, draws=20, seed=0, law: str = "sphere", targets_kind=None) -> HebbianMC:
    """Top-1 accuracy of the Hebbian memory over ``draws`` embedding draws (§2.2).

    N >= 1 inputs; M: None for the bijection M = N, else classes >= 2 ("blocks" targets by default, or
    ``targets_kind="random"``); d >= 1; draws >= 2; seed: integer >= 0 or a sequence of them (draw k is the
    same for every N: nested embeddings); law: "sphere" or "gaussian".
    """
    return _hebbian_accuracy(hebbian_errors_kernel, N, M, d, draws, seed, law, targets_kind)


# ----------------------------------------------------------------------------------------------------------------
# capacity search (§1.3)


class CapacitySearch:
    """Largest size N with ``success(N)`` (§1.3 package standard): both brackets are tested; while lo fails it
    moves down by ``expand`` (hi takes the failed lo) and while hi succeeds it moves up; then the bracket shrinks
    until hi/lo <= ``ratio`` or hi − lo <= 1.

    Each round tests ``points`` sizes log-spaced inside (lo, hi) (1: bisection at the geometric midpoint; k > 1:
    the bracket shrinks by a factor ~k + 1 in log-size per round, for drivers that test a round as one batch,
    and the first round tests them together with both brackets). The bracket update depends only on the set of
    results: hi = the smallest failed size above lo, lo = the largest successful size below that hi.

    Drive it with ``pending`` (the sizes to test now) and ``record``. ``status``: "running", "converged"
    (``N`` = lo, the largest size that succeeded below a failed hi), "below" (even ``min_size`` failed; ``N`` =
    None) or "above" (``max_size`` succeeded; ``N`` = max_size is a lower bound). ``history``: (size, success)
    in the order recorded. Results are cached, so no size is tested twice.
    """

    def __init__(self, lo, hi, *, ratio=1.02, expand=2.0, min_size=1, max_size=None, points=1):
        self.min_size = count("min_size", min_size)
        self.lo = count("lo", lo, minimum=self.min_size)
        self.hi = count("hi", hi, minimum=self.lo + 1)
        self.max_size = None if max_size is None else count("max_size", max_size, minimum=self.hi)
        self.points = count("points", points)
        self.ratio, self.expand = float(ratio), float(expand)
        if not (self.ratio > 1.0 and math.isfinite(self.ratio)):
            raise ValueError(f"ratio must be a finite number > 1, got {ratio!r}")
        if not (self.expand > 1.0 and math.isfinite(self.expand)):
            raise ValueError(f"expand must be a finite number > 1, got {expand!r}")
        self.results: dict[int, bool] = {}
        self.history: list[tuple[int, bool]] = []
        self.status = "running"
        self.bracketed = False
        self._pending: list[int] = []
        self._advance()

    @property
    def done(self) -> bool:
        return self.status != "running"

    @property
    def N(self) -> int | None:
        if self.status == "below":
            return None
        return self.lo if self.done else None

    @property
    def pending(self) -> list[int]:
        return list(self._pending)

    def _interior(self) -> list[int]:
        """``points`` integer sizes strictly inside (lo, hi), log-spaced (all of them if fewer exist)."""
        lo, hi = self.lo, self.hi
        if hi - lo <= self.points + 1:
            return list(range(lo + 1, hi))
        if self.points == 1:
            return [min(hi - 1, max(lo + 1, int(round(math.sqrt(lo * hi)))))]
        xs = np.exp(np.linspace(math.log(lo), math.log(hi), self.points + 2)[1:-1])
        out = sorted({min(hi - 1, max(lo + 1, int(round(x)))) for x in xs})
        return out

    def record(self, N, success) -> None:
        N = int(N)
        if N not in self._pending:
            raise ValueError(f"size {N} is not pending (pending: {self._pending})")
        self.results[N] = bool(success)
        self.history.append((N, bool(success)))
        self._pending.remove(N)
        if not self._pending:
            self._advance()

    def _shrink(self) -> None:
        """hi = smallest failure above lo; lo = largest success below it (both among tested sizes in [lo, hi])."""
        r = self.results
        inside = sorted(s for s in r if self.lo <= s <= self.hi)
        self.hi = min(s for s in inside if s > self.lo and not r[s])
        self.lo = max(s for s in inside if s < self.hi and r[s])

    def _advance(self) -> None:
        r = self.results
        while True:
            if not self.bracketed:
                if self.lo not in r or self.hi not in r:
                    first = not r and self.points > 1
                    want = [s for s in (self.lo, self.hi) if s not in r]
                    if first:
                        want += [s for s in self._interior() if s not in r]
                    self._pending = sorted(set(want))
                    return
                if not r[self.lo]:
                    if self.lo <= self.min_size:
                        self.status = "below"
                        return
                    self.hi = self.lo
                    self.lo = min(self.lo - 1, max(self.min_size, int(math.floor(self.lo / self.expand))))
                    continue
                if r[self.hi]:
                    if self.max_size is not None and self.hi >= self.max_size:
                        self.status = "above"
                        self.lo = self.hi
                        return
                    self.lo = self.hi
                    self.hi = max(self.hi + 1, int(math.ceil(self.hi * self.expand)))
                    if self.max_size is not None:
                        self.hi = min(self.hi, self.max_size)
                    continue
                self.bracketed = True
            self._shrink()
            if self.hi / self.lo <= self.ratio or self.hi - self.lo <= 1:
                self.status = "converged"
                return
            want = [s for s in self._interior() if s not in r]
            if want:
                self._pending = want
                return


def run_searches(searches, evaluate) -> None:
    """Drive many ``CapacitySearch`` in lockstep: each round, ``evaluate([(i, N), ...])`` returns the success of
    every pending size of every unfinished search i (so a round can be one batched computation)."""
    searches = list(searches)
    while True:
        todo = [(i, N) for i, s in enumerate(searches) for N in s.pending]
        if not todo:
            return
        outcome = list(evaluate(todo))
        if len(outcome) != len(todo):
            raise ValueError(f"evaluate returned {len(outcome)} results for {len(todo)} sizes")
        for (i, N), ok in zip(todo, outcome):
            searches[i].record(N, ok)


@dataclass(frozen=True, eq=False)
class HebbianCapacity:
    """Hebbian N_99 of one seed (§2.2, §11 A3): the largest N whose mean accuracy over ``draws`` nested
    embedding draws is >= ``level``.

    N: N_99 (None if even the smallest size failed; a lower bound when status is "above"); status: see
    ``CapacitySearch``; sizes, success [K]: every size tested in order; mean_acc [K]: mean accuracy over draws
    at each size (NaN where early exit left it undetermined, i.e. on failures); theory_threshold,
    theory_threshold_exact: N at which √Var·√(2 ln M) = 1 with the §2.2 and the exact variance; theory_union:
    union-bound capacity at δ = 1 − level (§2.2).
    """

    d: int
    M: int | None
    draws: int
    seed: list
    level: float
    law: str
    targets: str
    N: int | None
    status: str
    lo: int
    hi: int
    sizes: np.ndarray
    success: np.ndarray
    mean_acc: np.ndarray
    theory_threshold: float
    theory_threshold_exact: float
    theory_union: float
    extra: dict = field(default_factory=dict)


def default_hebbian_bracket(d, M=None) -> tuple[int, int]:
    """Initial (lo, hi) around the §2.2 threshold predictor √Var·√(2 ln M) = 1 (factor 1.5 each way); the search
    tests and expands them, so they only set the cost, not the answer."""
    d = count("d", d)
    Nt = float(hebbian_threshold_capacity(d, M, 1.0, "spec"))
    lo = max(2, int(Nt / 1.5))
    return lo, max(lo + 1, int(math.ceil(Nt * 1.5)))


def _hebbian_capacity(kern, d, M, draws, seed, level, lo, hi, ratio, expand, law, targets_kind):
    d = count("d", d)
    draws = count("draws", draws, minimum=2)
    kind = _targets_kind(targets_kind, M)
    if M is not None:
        M = count("M", M, minimum=2)
    level, law = _level(level), _law(law)
    entropy = _seed_entropy(seed)
    min_size = 2  # with N < M the "blocks" targets are injective (the §2.2 table has N_99 = 28 < M = 32)
    dlo, dhi = default_hebbian_bracket(d, M)
    lo = dlo if lo is None else lo
    hi = max(lo + 1, dhi) if hi is None else hi
    search = CapacitySearch(lo, hi, ratio=ratio, expand=expand, min_size=min_size)
    streams = _draw_streams(entropy, draws)
    means: dict[int, float] = {}

    def evaluate(todo):
        res = []
        for _, N in todo:
            allowed = allowed_errors(level, N * draws)
            errs = _hebbian_errors(kern, N, M, d, streams, law, kind, allowed)
            ok = bool(errs.sum() <= allowed)
            means[N] = float(1.0 - errs.sum() / (N * draws)) if ok else float("nan")
            res.append(ok)
        return res

    run_searches([search], evaluate)
    sizes = np.array([s for s, _ in search.history], dtype=np.int64)
    Mt = None if M is None else M
    return HebbianCapacity(
        d=d, M=M, draws=draws, seed=entropy, level=level, law=law, targets=kind, N=search.N, status=search.status,
        lo=search.lo, hi=search.hi, sizes=sizes, success=np.array([ok for _, ok in search.history], dtype=bool),
        mean_acc=np.array([means[s] for s in sizes]),
        theory_threshold=float(hebbian_threshold_capacity(d, Mt, 1.0, "spec")),
        theory_threshold_exact=float(hebbian_threshold_capacity(d, Mt, 1.0, law)),
        theory_union=float(hebbian_union_capacity(d, Mt, 1.0 - level if level < 1.0 else 1e-12, "spec")))


def hebbian_capacity(d, M=None, draws=20, seed=0, level=0.99, lo=None, hi=None, ratio=1.02, expand=2.0,
                     law: str = "sphere", targets_kind=None) -> HebbianCapacity:
    """Hebbian N_99 by the §1.3 search, success(N) = mean accuracy over ``draws`` draws >= ``level`` (§2.2, A3).

    d >= 1; M: None (M = N) or classes >= 2 (sizes start at 2; N < M gives injective targets); draws >= 2;
    seed: integer >= 0 or a sequence; level in (0, 1]; lo < hi: initial brackets (default:
    ``default_hebbian_bracket``); ratio > 1: stop when hi/lo <= ratio (or hi − lo <= 1); expand > 1: bracket
    expansion factor. Failures are decided with early exit
    (the error count stops once it exceeds (1 − level)·N·draws), so only successes score every input.
    """
    return _hebbian_capacity(hebbian_errors_kernel, d, M, draws, seed, level, lo, hi, ratio, expand, law,
                             targets_kind)


# ----------------------------------------------------------------------------------------------------------------
# logistic success curve (§1.3 item 4)


@dataclass(frozen=True, eq=False)
class LogisticFit:
    """P(success | N) = σ(a + b·(ln N − x̄)) fitted by Firth-penalised maximum likelihood (§1.3).

    N_level: size at success probability ``p`` (0.5 by default); ci: its delta-method 95% interval
    (exp(ln N ± 1.96·SE)); a, b, x_bar: the curve (b < 0 when success falls with size); n: points;
    overlap: successes and failures are not separated by a single size (the unpenalised MLE would exist);
    valid: the fit converged with b < 0 and both outcomes present.
    """

    N_level: float
    ci: tuple[float, float]
    se_log: float
    a: float
    b: float
    x_bar: float
    p: float
    n: int
    overlap: bool
    valid: bool


def _expit(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def logistic_capacity(sizes, success, p=0.5, iters=200, tol=1e-10) -> LogisticFit:
    """Firth logistic fit of success against ln(size) (§1.3 item 4); sizes [K] > 0, success [K] bool, p in (0, 1).

    Firth's penalty (½ log det of the Fisher information) keeps the estimate finite when every success lies
    below every failure, as one bisection path always does, and removes the O(1/K) bias of the MLE.
    """
    x = np.log(np.asarray(sizes, dtype=float))
    y = np.asarray(success, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError("sizes and success must be 1-D of equal length >= 2 with finite sizes > 0")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("success must hold booleans")
    if not (0.0 < float(p) < 1.0):
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    x_bar = float(x.mean())
    X = np.column_stack([np.ones_like(x), x - x_bar])
    beta = np.zeros(2)
    converged = False
    for _ in range(iters):
        pr = _expit(X @ beta)
        w = pr * (1.0 - pr)
        info = X.T @ (X * w[:, None])
        try:
            inv = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            break
        h = w * np.einsum("ij,jk,ik->i", X, inv, X)  # leverages of the weighted hat matrix
        step = inv @ (X.T @ (y - pr + h * (0.5 - pr)))
        # halve a step that would more than double the coefficients (keeps Newton stable at near-separation)
        scale = 1.0
        while np.max(np.abs(scale * step)) > 5.0 + 2.0 * np.max(np.abs(beta)):
            scale *= 0.5
        beta = beta + scale * step
        if np.max(np.abs(scale * step)) < tol:
            converged = True
            break
    a, b = float(beta[0]), float(beta[1])
    pr = _expit(X @ beta)
    w = pr * (1.0 - pr)
    cov = np.linalg.pinv(X.T @ (X * w[:, None]))
    lp = math.log(p / (1.0 - p))
    both = bool(y.min() == 0 and y.max() == 1)
    valid = converged and b < 0 and both
    if b != 0:
        xl = x_bar + (lp - a) / b
        g = np.array([-1.0 / b, -(lp - a) / b**2])
        se = float(np.sqrt(max(g @ cov @ g, 0.0)))
    else:
        xl, se = float("nan"), float("nan")
    succ_x, fail_x = x[y == 1], x[y == 0]
    overlap = bool(both and succ_x.max() >= fail_x.min())
    N_level = float(np.exp(xl)) if np.isfinite(xl) and abs(xl) < 700 else float("nan")
    ci = (float(np.exp(xl - 1.96 * se)), float(np.exp(xl + 1.96 * se))) if np.isfinite(N_level) and \
        np.isfinite(se) and abs(xl) + 1.96 * se < 700 else (float("nan"), float("nan"))
    return LogisticFit(N_level, ci, se, a, b, x_bar, float(p), int(x.size), overlap, valid)

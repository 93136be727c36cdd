"""In-context linear regression data (icl_linear_attention.md §2).

A sequence is the token matrix of Eq. 1 stored row-wise: ``tokens[p, n] = (x_n; y_n)`` for the N context pairs
n = 0..N-1, and ``tokens[p, N] = (x_q; 0)`` for the query, so ``tokens`` is [P, N+1, D+1] with x first and y
last. The query target ``y[p] = w_pᵀ x_q`` is returned separately.

Two samplers (§2.1, §2.2):
- ``"paper"``: x_n, x_q iid N(0, Λ); w ~ N(0, I_D) per sequence; no label noise.
- ``"official"``: x drawn in float64, cast to float32, then centered per position over the P sequences;
  the task vectors are whitened over the training set (sample mean 0, sample covariance exactly I with the
  unbiased 1/(P-1) normalization, which needs P >= D+1).

Randomness comes from ``numpy.random.default_rng(seed)`` (float64), so a seed gives the same data on every
device; tensors are float32 on the requested device.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from theory._validate import count, spd_matrix

SAMPLERS = ("paper", "official")


# ----------------------------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------------------------


def _seed(seed) -> int:
    return count("seed", seed, minimum=0)


def _device(device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must name a torch device ('cpu', 'cuda', ...), got {device!r}") from exc


def _lam(Lam, D: int) -> np.ndarray:
    Lam = spd_matrix("Lam", Lam)
    if Lam.shape != (D, D):
        raise ValueError(f"Lam must have shape (D, D) = ({D}, {D}), got {Lam.shape}")
    return Lam


def _to(a: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)


# ----------------------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------------------


def _gaussian_x(rng, P: int, N: int, Lam: np.ndarray) -> np.ndarray:
    """x [P, N+1, D] ~ N(0, Λ) in float64 (context then query)."""
    L = np.linalg.cholesky(Lam)
    return rng.standard_normal((P, N + 1, Lam.shape[0])) @ L.T


def _official_x(rng, P: int, N: int, Lam: np.ndarray) -> np.ndarray:
    """x as the official code builds it (§2.2): float64 draw -> float32 -> centered per position over P.

    The centering is done in float32, as on the float32 tensor, so column means vanish to float32 round-off.
    """
    x = _gaussian_x(rng, P, N, Lam).astype(np.float32)
    return x - x.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)


def _whitened_w(rng, P: int, D: int) -> np.ndarray:
    """Task vectors w [P, D] with sample mean 0 and unbiased sample covariance exactly I (§2.2)."""
    if P < D + 1:
        raise ValueError(f"P must be >= D + 1 = {D + 1} to whiten the task vectors, got P = {P}")
    w = rng.standard_normal((P, D))
    w -= w.mean(axis=0)
    C = w.T @ w / (P - 1)
    # Cholesky whitening: w L⁻ᵀ has covariance L⁻¹ C L⁻ᵀ = I exactly (to float64 round-off).
    L = np.linalg.cholesky(C)
    return np.linalg.solve(L, w.T).T


def _assemble(x: np.ndarray, y_ctx: np.ndarray, y_q: np.ndarray, device) -> dict:
    """tokens [P, N+1, D+1] with the query's y zeroed; y [P] (query target)."""
    P, T, D = x.shape
    tokens = np.zeros((P, T, D + 1), dtype=np.float32)
    tokens[:, :, :D] = x
    tokens[:, : T - 1, D] = y_ctx
    return {"tokens": _to(tokens, device), "y": _to(y_q, device)}


# ----------------------------------------------------------------------------------------------------------
# pure in-context regression (§2.1, §2.2)
# ----------------------------------------------------------------------------------------------------------


def sample_regression(P, N, D, Lam, seed=0, sampler: str = "paper", device="cpu") -> dict:
    """A fixed training set of in-context linear regression sequences (§2.1 paper / §2.2 official).

    Returns a dict of float32 tensors on ``device``:
    ``tokens`` [P, N+1, D+1] (x first, y last; the query's y is 0), ``y`` [P] (query target y_q = wᵀx_q),
    ``w`` [P, D] (task vector of each sequence). Labels are computed in float64 from the stored float32 x.
    """
    P, N, D = count("P", P), count("N", N), count("D", D)
    Lam = _lam(Lam, D)
    seed, device = _seed(seed), _device(device)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    rng = np.random.default_rng(seed)
    if sampler == "paper":
        x = _gaussian_x(rng, P, N, Lam).astype(np.float32)
        w = rng.standard_normal((P, D))
    else:
        x = _official_x(rng, P, N, Lam)
        w = _whitened_w(rng, P, D)
    labels = np.einsum("pnd,pd->pn", x.astype(np.float64), w)
    out = _assemble(x, labels[:, :N], labels[:, N], device)
    out["w"] = _to(w, device)
    return out


def regression_stream(N, D, Lam, seed=0, device="cpu") -> Callable[[int], tuple]:
    """Online sampler for ``verify.train.fresh_batch_loss``: ``draw(batch) -> (tokens, y)``.

    Each call draws a fresh batch from the paper sampler (§2.1) with one ``default_rng(seed)`` stream, so a run
    is reproducible from ``seed``.
    """
    N, D = count("N", N), count("D", D)
    Lam = _lam(Lam, D)
    device = _device(device)
    rng = np.random.default_rng(_seed(seed))

    def draw(batch) -> tuple:
        batch = count("batch", batch)
        x = _gaussian_x(rng, batch, N, Lam).astype(np.float32)
        w = rng.standard_normal((batch, D))
        labels = np.einsum("pnd,pd->pn", x.astype(np.float64), w)
        d = _assemble(x, labels[:, :N], labels[:, N], device)
        return d["tokens"], d["y"]

    return draw


# ----------------------------------------------------------------------------------------------------------
# ICL / IWL mixture (§2.3)
# ----------------------------------------------------------------------------------------------------------


def make_w_fix(D, seed=0) -> np.ndarray:
    """The fixed in-weight task vector w_fix [D] (float64): w ~ N(0, I) rescaled to ‖w_fix‖ = √D (§2.3)."""
    D = count("D", D)
    w = np.random.default_rng(_seed(seed)).standard_normal(D)
    return w * (np.sqrt(D) / np.linalg.norm(w))


def sample_icl_iwl(P, N, D, Lam, c, w_fix, seed=0, device="cpu") -> dict:
    """Training set mixing in-context and in-weight sequences (§2.3, official-code construction).

    x is drawn as in the official sampler (float64 -> float32, centered per position over the P sequences).
    - c = 0: context labels are pure noise y_n ~ N(0, 1), independent of x; the query target is w_fixᵀ x_q.
    - 0 < c < 1: the first ⌊cP⌋ sequences use iid w ~ N(0, I) (not whitened); the remaining ones use w_fix in
      context and query (so they are also solvable in context).
    - c = 1: pure ICL with task vectors whitened over the set (needs P >= D + 1).

    Returns ``tokens`` [P, N+1, D+1], ``y`` [P], ``w`` [P, D] (the vector generating y_q; w_fix for c = 0),
    ``in_context`` [P] (bool: the context labels come from the query's own w) and ``random_w`` [P] (bool: the
    sequence uses a random task vector rather than w_fix).
    """
    P, N, D = count("P", P), count("N", N), count("D", D)
    Lam = _lam(Lam, D)
    seed, device = _seed(seed), _device(device)
    c = float(c)
    if not (np.isfinite(c) and 0.0 <= c <= 1.0):
        raise ValueError(f"c must be in [0, 1], got {c!r}")
    w_fix = np.asarray(w_fix, dtype=float)
    if w_fix.shape != (D,) or not np.all(np.isfinite(w_fix)):
        raise ValueError(f"w_fix must be a finite vector of shape ({D},), got shape {w_fix.shape}")

    rng = np.random.default_rng(seed)
    x = _official_x(rng, P, N, Lam)
    x64 = x.astype(np.float64)
    if c == 0.0:
        w = np.broadcast_to(w_fix, (P, D)).copy()
        y_ctx = rng.standard_normal((P, N))
        in_context = np.zeros(P, dtype=bool)
        random_w = np.zeros(P, dtype=bool)
    else:
        if c == 1.0:
            w = _whitened_w(rng, P, D)
            random_w = np.ones(P, dtype=bool)
        else:
            n_icl = int(np.floor(c * P))
            w = np.broadcast_to(w_fix, (P, D)).copy()
            w[:n_icl] = rng.standard_normal((n_icl, D))
            random_w = np.arange(P) < n_icl
        y_ctx = np.einsum("pnd,pd->pn", x64[:, :N], w)
        in_context = np.ones(P, dtype=bool)
    y_q = np.einsum("pd,pd->p", x64[:, N], w)
    out = _assemble(x, y_ctx, y_q, device)
    out["w"] = _to(w, device)
    out["in_context"] = torch.from_numpy(in_context).to(device)
    out["random_w"] = torch.from_numpy(random_w).to(device)
    return out


def iw_test(P, N, D, Lam, w_fix, seed=0, device="cpu") -> dict:
    """In-weight test set: the c = 0 construction (noise context labels, target w_fixᵀ x_q) (§2.3)."""
    return sample_icl_iwl(P, N, D, Lam, 0.0, w_fix, seed=seed, device=device)


def ic_test(P, N, D, Lam, w_fix, seed=0, device="cpu") -> dict:
    """In-context test set: the c = 1 construction (whitened random w) (§2.3); ``w_fix`` only checks D."""
    return sample_icl_iwl(P, N, D, Lam, 1.0, w_fix, seed=seed, device=device)


# ----------------------------------------------------------------------------------------------------------
# Gram statistics for the exact fast path (§3.7)
# ----------------------------------------------------------------------------------------------------------


def _tokens(tokens) -> torch.Tensor:
    if not isinstance(tokens, torch.Tensor) or tokens.ndim != 3 or tokens.shape[1] < 2 or tokens.shape[2] < 2:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"tokens must be a tensor [P, N+1, D+1] with N >= 1, D >= 1, got {shape}")
    return tokens


def context_gram(tokens) -> torch.Tensor:
    """S = X Xᵀ per sequence [P, D+1, D+1]: the sum over all N+1 tokens, query included (§2.1, §3.7)."""
    tokens = _tokens(tokens)
    return torch.bmm(tokens.transpose(1, 2), tokens)


def query_token(tokens) -> torch.Tensor:
    """The query token x̃_q = (x_q; 0) of each sequence [P, D+1]."""
    return _tokens(tokens)[:, -1, :]


def prefix_grams(tokens, y) -> dict:
    """Prefix statistics for the varying-length loss (§3.4, §3.7).

    For prefix n = 2..N+1 (its first n tokens, the n-th acting as query with its y zeroed), index k = n - 2:
    ``S`` [P, N, D+1, D+1] its Gram matrix (exclusive cumulative sum of token outer products plus the zeroed
    query's outer product), ``xq`` [P, N, D+1] its query token, ``target`` [P, N] the zeroed label
    (the last prefix's target is ``y``), ``n`` [N] the token counts n.
    """
    tokens = _tokens(tokens)
    P, T, Dp1 = tokens.shape
    if not isinstance(y, torch.Tensor) or y.shape != (P,):
        raise ValueError(f"y must be a tensor of shape ({P},)")
    target = torch.cat([tokens[:, 1 : T - 1, -1], y[:, None]], dim=1)
    xq = tokens[:, 1:, :].clone()
    xq[:, :, -1] = 0.0
    outer = tokens[:, :, :, None] * tokens[:, :, None, :]
    before = torch.cumsum(outer[:, : T - 1], dim=1)  # Σ_{j<m} t_j t_jᵀ for m = 1..N
    S = before + xq[:, :, :, None] * xq[:, :, None, :]
    n = torch.arange(2, T + 1, device=tokens.device)
    return {"S": S, "xq": xq, "target": target, "n": n}

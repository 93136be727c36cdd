"""Data of the trained selective-attention experiments T1–T5 (selective_attention.md §5).

No corpus can be downloaded, so every task is synthetic; each choice below that the spec leaves open is the
package's own and is named in the docstring that makes it.

- T1 ``row_scaled_targets``: P = rowsoftmax(diag(c) E M Eᵀ) with unit-row E [K, d], M ~ N(0, 1) [d, d] and
  c_i = exp(g·e_i) ∈ [1/4, 4] (g Gaussian, rescaled so max_i |g·e_i| = log 4). Draw order E, M, g from
  ``numpy.random.default_rng(seed)``.
- T2 ``degree_graph``: node i's neighbours are i+1, …, i+deg(i) (mod K); P*_i uniform on them.
- T3 ``random_graph``: out-degrees cycle through a degree list; neighbours drawn without replacement among the
  other K − 1 nodes (package choice: no self-loops); ``unit_embeddings`` fixed random unit rows.
- T4 ``needle_batch``: items x_j = [k_j; onehot(v_j); 0] with fresh random unit keys per sequence, query
  [k_needle; 0; 1].
- T5 ``walk_recall_batch`` (package choice of corpus): a sequence alternates key and value tokens
  k_1 v_1 k_2 v_2 …; the keys are a random walk on a T3 graph (the Markov part), and each key carries a value
  drawn once per sequence, so a key seen before predicts its value (the recall part of T4).

Float64 numpy for the exact targets (T1–T3); torch tensors drawn from a seeded ``torch.Generator`` on the
requested device for the streamed batches (T3–T5), so a seed gives the same batches on the same device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from theory._validate import count


def _seed(seed) -> int:
    return count("seed", seed, minimum=0)


# ----------------------------------------------------------------------------------------------------------
# T1: row-scaled targets
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowScaledTarget:
    """T1 target: E [K, d] unit rows, M [d, d], g [d], c [K] row scales, P [K, K] row-stochastic (float64)."""

    E: np.ndarray
    M: np.ndarray
    g: np.ndarray
    c: np.ndarray
    P: np.ndarray


def row_scaled_targets(K, d, seed, c_max=4.0) -> RowScaledTarget:
    """T1 (§5): P = rowsoftmax(diag(c) E M Eᵀ), c_i = exp(g·e_i) with max_i |g·e_i| = log c_max (c_max > 1)."""
    K, d, seed = count("K", K, minimum=2), count("d", d), _seed(seed)
    c_max = float(c_max)
    if not (np.isfinite(c_max) and c_max > 1.0):
        raise ValueError(f"c_max must be a finite number > 1, got {c_max!r}")
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((K, d))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    M = rng.standard_normal((d, d))
    g = rng.standard_normal(d)
    g *= np.log(c_max) / np.max(np.abs(E @ g))
    c = np.exp(E @ g)
    L = c[:, None] * (E @ M @ E.T)
    P = np.exp(L - L.max(axis=1, keepdims=True))
    return RowScaledTarget(E, M, g, c, P / P.sum(axis=1, keepdims=True))


# ----------------------------------------------------------------------------------------------------------
# T2 / T3: graphs and embeddings
# ----------------------------------------------------------------------------------------------------------


def cycled_degrees(K, degree_list) -> np.ndarray:
    """Out-degrees [K] cycling through ``degree_list`` (each in 1 … K − 1)."""
    K = count("K", K, minimum=2)
    degs = [count("degree", x) for x in degree_list]
    if not degs or max(degs) > K - 1:
        raise ValueError(f"degree_list must be non-empty with entries in [1, K − 1 = {K - 1}], got {degree_list!r}")
    return np.array([degs[i % len(degs)] for i in range(K)], dtype=np.int64)


def degree_graph(degrees) -> np.ndarray:
    """T2 (§5): P* [K, K] with P*_ij = 1/deg(i) for j ∈ {i+1, …, i+deg(i)} (mod K), K = len(degrees)."""
    degrees = [count("degree", x) for x in degrees]
    K = len(degrees)
    if K < 2 or max(degrees) > K - 1:
        raise ValueError(f"degrees must have length K >= 2 and entries in [1, K − 1], got {degrees!r}")
    P = np.zeros((K, K))
    for i, deg in enumerate(degrees):
        P[i, (i + np.arange(1, deg + 1)) % K] = 1.0 / deg
    return P


def random_graph(K, degree_list, seed) -> np.ndarray:
    """T3 (§5): P* [K, K]; node i has out-degree ``cycled_degrees(K, degree_list)[i]``, neighbours drawn without
    replacement among the other nodes, P*_i uniform on them."""
    degrees = cycled_degrees(K, degree_list)
    rng = np.random.default_rng(_seed(seed))
    P = np.zeros((len(degrees), len(degrees)))
    for i, deg in enumerate(degrees):
        others = np.delete(np.arange(len(degrees)), i)
        P[i, rng.choice(others, size=deg, replace=False)] = 1.0 / deg
    return P


def unit_embeddings(K, d, seed) -> np.ndarray:
    """K random unit vectors in R^d [K, d] (float64)."""
    K, d = count("K", K), count("d", d)
    e = np.random.default_rng(_seed(seed)).standard_normal((K, d))
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def excess_ce(P: torch.Tensor, log_A: torch.Tensor) -> torch.Tensor:
    """Exact excess cross-entropy mean_i KL(P_i ‖ A_i) [nats] for row-stochastic P [..., K, K] and log A."""
    logP = torch.where(P > 0, torch.log(P.clamp_min(1e-300)), torch.zeros_like(P))
    return (P * (logP - log_A)).sum(-1).mean(-1)


def next_states(P: torch.Tensor, i: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """j ~ P_i for every entry of i (int64, any shape) by inverse-CDF sampling (one uniform per draw).

    P [K, K] row-stochastic, or [S, K, K] with i [S, ...] indexing copy s's rows."""
    u = torch.rand(i.shape, generator=generator, device=P.device, dtype=P.dtype)
    cdf = P.cumsum(-1)
    copy = torch.arange(P.shape[0], device=P.device).view(-1, *[1] * (i.ndim - 1))
    rows = (cdf[i] if P.ndim == 2 else cdf[copy, i]).reshape(-1, P.shape[-1]).contiguous()
    # scaling u by the row's own total keeps every draw below it, so a zero-probability column is never chosen
    v = u.reshape(-1, 1) * rows[:, -1:]
    return torch.searchsorted(rows, v, right=True).view(i.shape)


def sample_transitions(P: torch.Tensor, batch, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """T3 (§5) transitions (i, j): i uniform over nodes, j ~ P_i. P [K, K] gives int64 [batch] each; P [S, K, K]
    (S graphs) gives [S, batch] each, row s drawn from graph s."""
    batch = count("batch", batch)
    shape = (batch,) if P.ndim == 2 else (P.shape[0], batch)
    i = torch.randint(P.shape[-1], shape, generator=generator, device=P.device)
    return i, next_states(P, i, generator)


# ----------------------------------------------------------------------------------------------------------
# T4: needle recall
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NeedleBatch:
    """items [B, n, d_k + N_v + 1], query [B, d_k + N_v + 1], needle [B] (item index), answer [B] (class)."""

    items: torch.Tensor
    query: torch.Tensor
    needle: torch.Tensor
    answer: torch.Tensor


def needle_batch(batch, n, d_k, N_v, generator: torch.Generator) -> NeedleBatch:
    """T4 (§5): n items [k_j; onehot(v_j); 0] with fresh random unit keys k_j ∈ R^{d_k} and classes v_j uniform
    in N_v; the needle is a uniform item, the query [k_needle; 0; 1], the answer v_needle. Tensors (float32,
    int64) on ``generator.device``."""
    batch, n, d_k, N_v = count("batch", batch), count("n", n), count("d_k", d_k), count("N_v", N_v)
    dev = generator.device
    keys = torch.randn(batch, n, d_k, generator=generator, device=dev)
    keys = keys / keys.norm(dim=-1, keepdim=True)
    vals = torch.randint(N_v, (batch, n), generator=generator, device=dev)
    needle = torch.randint(n, (batch,), generator=generator, device=dev)
    items = torch.cat([keys, torch.nn.functional.one_hot(vals, N_v).float(), keys.new_zeros(batch, n, 1)], -1)
    rows = torch.arange(batch, device=dev)
    query = torch.cat([keys[rows, needle], keys.new_zeros(batch, N_v), keys.new_ones(batch, 1)], -1)
    return NeedleBatch(items, query, needle, vals[rows, needle])


# ----------------------------------------------------------------------------------------------------------
# T5: random-walk key/value corpus
# ----------------------------------------------------------------------------------------------------------


def walk_recall_batch(P: torch.Tensor, N_v, batch, length, generator: torch.Generator):
    """T5 corpus (package choice, see module docstring): ``length`` + 1 tokens k_1 v_1 k_2 v_2 … per sequence.

    P [K, K] the key graph (tokens 0 … K − 1 are keys, K … K + N_v − 1 values); the first key is uniform, then
    k_{t+1} ~ P_{k_t}; value(k) is uniform in N_v, drawn once per key and sequence. Returns (inputs, targets),
    int64 [batch, length] each, targets shifted by one token; vocabulary K + N_v.
    """
    N_v, batch, length = count("N_v", N_v), count("batch", batch), count("length", length)
    dev = generator.device
    K = P.shape[0]
    n_keys = (length + 2) // 2
    walk = torch.empty(batch, n_keys, dtype=torch.long, device=dev)
    walk[:, 0] = torch.randint(K, (batch,), generator=generator, device=dev)
    # inverse-CDF steps as in ``next_states``, with the CDF and the uniforms drawn once for the whole walk
    cdf = P.cumsum(-1)
    u = torch.rand(batch, n_keys, generator=generator, device=dev, dtype=P.dtype)
    for t in range(1, n_keys):
        rows = cdf[walk[:, t - 1]]
        walk[:, t] = torch.searchsorted(rows, u[:, t:t + 1] * rows[:, -1:], right=True).squeeze(1)
    binding = torch.randint(N_v, (batch, K), generator=generator, device=dev)
    values = K + binding.gather(1, walk)
    seq = torch.stack([walk, values], dim=2).reshape(batch, 2 * n_keys)[:, : length + 1]
    return seq[:, :-1].contiguous(), seq[:, 1:].contiguous()

"""One-hot linear-attention model of the factual-recall task, trained by SGD on fresh batches
(associative_memory.md §8.2–§8.4, claims F5, S1–S5).

Model (§8.2). Tokens z_0..z_{T−1} with one-hot embeddings (d = vocab); the EOS token at T−1 is the only query,
so of the attention matrix only its EOS row a = A[EOS, :] [vocab] matters, and with the value/readout matrix
V [vocab, n_answers] the logits of a sequence are

    logits = Σ_t a_{z_t} V[z_t, :] = Σ_τ c_τ(z) w_τ,    w_τ = a_τ v_τ,

where c_τ(z) is the number of occurrences of token τ. The model is invariant to positions, so a sequence is
represented by its token counts. Loss: mean cross-entropy over the batch; with G_b = softmax(logits_b) − e_{y_b}
and gW_τ = mean_b c_bτ G_b, the closed-form gradients are ∂L/∂a_τ = gW_τ·v_τ and ∂L/∂v_τ = a_τ gW_τ.
Init A = V = a0·ones (official code); plain SGD with constant lr.

Token layout (§5): subjects [0, S), relations [S, S+R), noise [S+R, S+R+n_noise), EOS = S+R+n_noise;
vocab = S+R+n_noise+1. Answers: ``"disjoint"`` answer sets 𝒜_r = [rD, (r+1)D), n_answers = RD (the official
layout); ``"shared"``: 𝒜_r = [0, D) for every r, n_answers = D (the additivity counter-example, F5).

One sequence (EOS mode, §5): subject and relation uniform (Zipf exponents 0), at two distinct positions of
[0, T−2], EOS at T−1 and T−3 iid uniform noise tokens. Only the counts matter, so a batch is drawn as
subjects [B], relations [B] and the T−3 noise tokens [B, T−3]; every draw comes from the seed's
``numpy.random.default_rng`` outside the kernels.

Metrics on a fixed test set per seed (§8.2): total CE; relation-only loss −log Σ_{a∈𝒜_r} p(a); subject-only loss
−log Σ_{a: a mod D = a* mod D} p(a); accuracy (argmax over the answers equals a*; ties to the lowest index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from sim.memory.factual import vocab_size
from theory._validate import count

ANSWER_SETS = ("disjoint", "shared")


# ----------------------------------------------------------------------------------------------------------------
# layout, validation and draws


def answer_count(R, D, answer_sets="disjoint") -> int:
    """RD for disjoint answer sets, D for one shared set."""
    R, D = count("R", R), count("D", D)
    if answer_sets not in ANSWER_SETS:
        raise ValueError(f"answer_sets must be one of {ANSWER_SETS}, got {answer_sets!r}")
    return R * D if answer_sets == "disjoint" else D


def check_tables(tables, D, answer_sets="disjoint") -> np.ndarray:
    """Fact tables [n, S, R] (or [S, R]) as int64 [n, S, R], checked against the answer sets."""
    t = np.asarray(tables)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.size == 0 or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"tables must be a non-empty integer array [S, R] or [n, S, R], got {t.dtype} {t.shape}")
    D = count("D", D)
    R = t.shape[2]
    lo = (np.arange(R) * D if answer_sets == "disjoint" else np.zeros(R, dtype=np.int64))[None, None, :]
    answer_count(R, D, answer_sets)
    if np.any((t < lo) | (t >= lo + D)):
        where = "[rD, (r+1)D)" if answer_sets == "disjoint" else "[0, D)"
        raise ValueError(f"tables must satisfy a*(s, r) ∈ {where} for answer_sets={answer_sets!r}")
    return np.ascontiguousarray(t, dtype=np.int64)


def _noise_dtype(n_noise: int):
    return np.uint8 if n_noise <= 256 else np.int32


def draw_batch(S, R, n_noise, T, batch, rng, steps=None):
    """Subjects, relations [(steps,) batch] int64 and noise [(steps,) batch, T−3] (uint8 when n_noise <= 256,
    int32 otherwise; values in [0, n_noise)): one batch, or ``steps`` batches, of §5 sequences as counts.

    The positions are not drawn: the §8 model sees only token counts.
    """
    S, R, T = count("S", S), count("R", R), count("T", T, minimum=3)
    n_noise = count("n_noise", n_noise, minimum=0 if T == 3 else 1)
    batch = count("batch", batch)
    lead = (batch,) if steps is None else (count("steps", steps), batch)
    subj = rng.integers(0, S, lead)
    rel = rng.integers(0, R, lead)
    noise = rng.integers(0, max(n_noise, 1), lead + (T - 3,), dtype=_noise_dtype(n_noise))
    return subj, rel, noise


def batch_counts(subjects, relations, noise, S, R, n_noise) -> np.ndarray:
    """Token counts [B, vocab] (float64) of the sequences (subject, relation, noise tokens, EOS)."""
    subjects, relations, noise = np.asarray(subjects), np.asarray(relations), np.asarray(noise)
    V = vocab_size(S, R, n_noise)
    B = subjects.shape[0]
    if relations.shape != (B,) or noise.ndim != 2 or noise.shape[0] != B:
        raise ValueError("subjects, relations must be [B] and noise [B, T−3]")
    c = np.zeros((B, V))
    rows = np.arange(B)
    np.add.at(c, (rows, subjects), 1.0)
    np.add.at(c, (rows, S + relations), 1.0)
    np.add.at(c, (np.repeat(rows, noise.shape[1]), S + R + noise.ravel().astype(np.int64)), 1.0)
    c[:, V - 1] += 1.0
    return c


def token_counts(tokens, vocab) -> np.ndarray:
    """Token counts [B, vocab] (float64) of token sequences [B, T] (e.g. from the §5 generator)."""
    tokens = np.asarray(tokens)
    vocab = count("vocab", vocab)
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer) or tokens.min() < 0 or tokens.max() >= vocab:
        raise ValueError(f"tokens must be integers in [0, {vocab}) of shape [B, T]")
    c = np.zeros((tokens.shape[0], vocab))
    np.add.at(c, (np.repeat(np.arange(tokens.shape[0]), tokens.shape[1]), tokens.ravel()), 1.0)
    return c


# ----------------------------------------------------------------------------------------------------------------
# kernels

_FM = {"reassoc", "contract"}


# exp(x) for x <= 0 as 2^k·P(r), x = k ln2 + r, |r| <= ln2/2, with a degree-12 Taylor polynomial (relative
# error < 4e-16 against numpy.exp). Written branch-free on arrays so that LLVM vectorises it: the scalar libm
# exp is otherwise half the cost of a step. k is read from the low bits of x·log2(e) + 1.5·2^52 and turned into
# 2^k by integer bit arithmetic. Arguments below −708 (softmax weights under 1e-307) are clamped there.
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_SHIFT = 6755399441055744.0
_SHIFT_BITS = int(np.array([_SHIFT]).view(np.int64)[0])


@njit(cache=True, fastmath=_FM)
def _exp_nonpositive(x, out, tbuf):
    """out[j] = exp(x[j]) for x[j] <= 0 (tbuf: scratch of the same length)."""
    n = x.shape[0]
    for j in range(n):
        v = max(x[j], -708.0)
        t = v * _LOG2E + _SHIFT
        k = t - _SHIFT
        r = (v - k * _LN2_HI) - k * _LN2_LO
        out[j] = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (
            1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880 + r * (
                1.0 / 3628800 + r * (1.0 / 39916800 + r * (1.0 / 479001600))))))))))))
        tbuf[j] = t
    bits = tbuf.view(np.int64)
    for j in range(n):
        bits[j] = (bits[j] - _SHIFT_BITS + 1023) << 52
    for j in range(n):
        out[j] *= tbuf[j]


@njit(cache=True, fastmath=_FM)
def _softmax_error(z, y, G, tbuf):
    """G ← softmax(z) − e_y; returns the cross-entropy −log softmax(z)_y. z is shifted in place by its max."""
    A = z.shape[0]
    mx = z[0]
    for j in range(1, A):
        mx = max(mx, z[j])
    for j in range(A):
        z[j] -= mx
    _exp_nonpositive(z, G, tbuf)
    tot = 0.0
    for j in range(A):
        tot += G[j]
    inv = 1.0 / tot
    for j in range(A):
        G[j] *= inv
    G[y] -= 1.0
    return np.log(tot) - z[y]


@njit(cache=True, fastmath=_FM)
def gradients_kernel(a, V, counts, y, ga, gV):
    """Mean CE of logits_b = Σ_τ counts[b, τ] a_τ V[τ] and its gradients (ga [vocab], gV [vocab, A] written).

    Returns the loss. Dense counts [B, vocab]; the reference path for tests and the torch comparison.
    """
    B, vocab = counts.shape
    A = V.shape[1]
    W = np.empty((vocab, A))
    for t in range(vocab):
        for j in range(A):
            W[t, j] = a[t] * V[t, j]
    gW = np.zeros((vocab, A))
    z = np.empty(A)
    G = np.empty(A)
    tbuf = np.empty(A)
    loss = 0.0
    for b in range(B):
        z[:] = 0.0
        for t in range(vocab):
            c = counts[b, t]
            if c != 0.0:
                for j in range(A):
                    z[j] += c * W[t, j]
        loss += _softmax_error(z, y[b], G, tbuf)
        for t in range(vocab):
            c = counts[b, t]
            if c != 0.0:
                for j in range(A):
                    gW[t, j] += c * G[j]
    inv = 1.0 / B
    for t in range(vocab):
        s = 0.0
        for j in range(A):
            s += gW[t, j] * V[t, j]
        ga[t] = s * inv
        for j in range(A):
            gV[t, j] = a[t] * gW[t, j] * inv
    return loss * inv


@njit(cache=True, fastmath=_FM)
def _batch_grad(a, V, table, subj, rel, noise, S, R, W, gW, z, G, tbuf, cnt):
    """gW ← Σ_b c_bτ G_b (un-normalised) for a batch (subj [B], rel [B], noise [B, L]); returns the mean CE."""
    vocab, A = V.shape
    eos = vocab - 1
    base = S + R
    n_noise = cnt.shape[0]
    B, L = noise.shape
    for t in range(vocab):
        for j in range(A):
            W[t, j] = a[t] * V[t, j]
            gW[t, j] = 0.0
    loss = 0.0
    for b in range(B):
        s = subj[b]
        r = S + rel[b]
        for j in range(A):
            z[j] = W[s, j] + W[r, j] + W[eos, j]
        for i in range(L):
            cnt[noise[b, i]] += 1.0
        # dense over the noise vocabulary: a branch on the (random) zero counts costs more than the zeros
        for m in range(n_noise):
            c = cnt[m]
            for j in range(A):
                z[j] += c * W[base + m, j]
        loss += _softmax_error(z, table[subj[b], rel[b]], G, tbuf)
        for j in range(A):
            gW[s, j] += G[j]
            gW[r, j] += G[j]
            gW[eos, j] += G[j]
        for m in range(n_noise):
            c = cnt[m]
            for j in range(A):
                gW[base + m, j] += c * G[j]
            cnt[m] = 0.0
    return loss / B


@njit(cache=True, fastmath=_FM)
def _apply_sgd(a, V, gW, step):
    """a_τ −= step·gW_τ·v_τ, v_τ −= step·a_τ gW_τ (both from the pre-update values); step = lr/B."""
    vocab, A = V.shape
    for t in range(vocab):
        s = 0.0
        for j in range(A):
            s += gW[t, j] * V[t, j]
        at = a[t]
        a[t] = at - step * s
        for j in range(A):
            V[t, j] -= step * at * gW[t, j]


@njit(cache=True, parallel=True, fastmath=_FM)
def sgd_chunk_kernel(a, V, tables, subj, rel, noise, lr, S, R, n_noise, diverged, loss_sum):
    """subj.shape[1] SGD steps for every seed i (prange over seeds); a [n, vocab], V [n, vocab, A] in place.

    subj, rel [n, K, B], noise [n, K, B, L]; loss_sum[i] += each pre-update batch loss. A non-finite loss stops
    seed i before that step's update: diverged[i] = True, loss_sum[i] = NaN.
    """
    n = a.shape[0]
    vocab, A = V.shape[1], V.shape[2]
    K, B = subj.shape[1], subj.shape[2]
    for i in prange(n):
        if diverged[i]:
            continue
        W = np.empty((vocab, A))
        gW = np.empty((vocab, A))
        z = np.empty(A)
        G = np.empty(A)
        tbuf = np.empty(A)
        cnt = np.zeros(max(n_noise, 1))
        for k in range(K):
            loss = _batch_grad(a[i], V[i], tables[i], subj[i, k], rel[i, k], noise[i, k], S, R, W, gW, z, G, tbuf,
                               cnt)
            if not np.isfinite(loss):
                diverged[i] = True
                loss_sum[i] = np.nan
                break
            loss_sum[i] += loss
            _apply_sgd(a[i], V[i], gW, lr / B)


@njit(cache=True, fastmath=_FM)
def _lse_block(z, lo, hi):
    mx = z[lo]
    for j in range(lo + 1, hi):
        mx = max(mx, z[j])
    s = 0.0
    for j in range(lo, hi):
        s += np.exp(z[j] - mx)
    return mx + np.log(s)


@njit(cache=True, parallel=True, fastmath=_FM)
def eval_kernel(a, V, tables, subj, rel, noise, S, R, n_noise, D, block, out):
    """Test metrics per seed (prange): out[i] = (mean CE, variance of the CE, relation-only, subject-only, accuracy).

    subj, rel [n, B], noise [n, B, L]; block[r]: relation r's answers are [block[r]·D, block[r]·D + D).
    """
    n = a.shape[0]
    vocab, A = V.shape[1], V.shape[2]
    B, L = subj.shape[1], noise.shape[2]
    eos = vocab - 1
    base = S + R
    for i in prange(n):
        W = np.empty((vocab, A))
        for t in range(vocab):
            for j in range(A):
                W[t, j] = a[i, t] * V[i, t, j]
        z = np.empty(A)
        zs = np.empty(A // D)
        cnt = np.zeros(max(n_noise, 1))
        ce = 0.0
        ce2 = 0.0
        shift = 0.0
        rel_l = 0.0
        subj_l = 0.0
        acc = 0.0
        for b in range(B):
            s = subj[i, b]
            r = rel[i, b]
            y = tables[i, s, r]
            for j in range(A):
                z[j] = W[s, j] + W[S + r, j] + W[eos, j]
            for k in range(L):
                cnt[noise[i, b, k]] += 1.0
            for m in range(n_noise):
                c = cnt[m]
                if c != 0.0:
                    for j in range(A):
                        z[j] += c * W[base + m, j]
                    cnt[m] = 0.0
            lse = _lse_block(z, 0, A)
            l = lse - z[y]
            if b == 0:
                shift = l  # the variance from shifted sums: no cancellation when the CE barely varies
            ce += l - shift
            ce2 += (l - shift) * (l - shift)
            lo = block[r] * D
            rel_l += lse - _lse_block(z, lo, lo + D)
            # subject-only: the answers a ≡ a* (mod D), one per block
            off = y % D
            for k in range(A // D):
                zs[k] = z[k * D + off]
            subj_l += lse - _lse_block(zs, 0, A // D)
            best = 0
            for j in range(1, A):
                if z[j] > z[best]:
                    best = j
            acc += 1.0 if best == y else 0.0
        out[i, 0] = shift + ce / B
        out[i, 1] = max(ce2 / B - (ce / B) ** 2, 0.0)
        out[i, 2] = rel_l / B
        out[i, 3] = subj_l / B
        out[i, 4] = acc / B


# ----------------------------------------------------------------------------------------------------------------
# public API


def gradients(a, V, counts, y):
    """Mean cross-entropy and its closed-form gradients for sequences given by token counts (§8.4).

    a [vocab] (EOS row of A), V [vocab, A], counts [B, vocab] (non-negative), y [B] integers in [0, A).
    Returns (loss, ∂L/∂a [vocab], ∂L/∂V [vocab, A]) with logits_b = Σ_τ counts[b, τ] a_τ V[τ] (float64).
    """
    a, V, counts, y = _check_grad_inputs(a, V, counts, y)
    ga, gV = np.empty_like(a), np.empty_like(V)
    loss = gradients_kernel(a, V, counts, y, ga, gV)
    return float(loss), ga, gV


def _check_grad_inputs(a, V, counts, y):
    a = np.ascontiguousarray(a, dtype=float)
    V = np.ascontiguousarray(V, dtype=float)
    counts = np.ascontiguousarray(counts, dtype=float)
    y = np.asarray(y)
    if a.ndim != 1 or V.ndim != 2 or V.shape[0] != a.shape[0] or V.shape[1] == 0:
        raise ValueError(f"a must be [vocab] and V [vocab, A], got {a.shape} and {V.shape}")
    if counts.ndim != 2 or counts.shape[1] != a.shape[0] or counts.shape[0] == 0 or np.any(counts < 0):
        raise ValueError(f"counts must be non-negative [B, {a.shape[0]}], got shape {counts.shape}")
    if y.shape != (counts.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= V.shape[1]:
        raise ValueError(f"y must be integers in [0, {V.shape[1]}) of shape [{counts.shape[0]}]")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(V)) and np.all(np.isfinite(counts))):
        raise ValueError("a, V and counts must be finite")
    return a, V, counts, np.ascontiguousarray(y, dtype=np.int64)


@dataclass
class OneHotRun:
    """SGD trajectories of the §8 model, one row per seed.

    steps [K] (int): evaluation steps (0, eval_every, …, steps); at step t the parameters have had t updates.
    loss, loss_se, relation_loss, subject_loss, accuracy [n, K]: test-set metrics (loss_se: SE of the mean CE
    over the test sequences). train_loss [n, K]: mean pre-update minibatch CE of the updates since the previous
    evaluation (NaN at step 0). diverged [n]: a non-finite loss stopped the seed (its later metrics are NaN).
    a [n, vocab], V [n, vocab, A]: final parameters. tables [n, S, R]: the fact tables.
    """

    steps: np.ndarray
    loss: np.ndarray
    loss_se: np.ndarray
    relation_loss: np.ndarray
    subject_loss: np.ndarray
    accuracy: np.ndarray
    train_loss: np.ndarray
    diverged: np.ndarray
    a: np.ndarray
    V: np.ndarray
    tables: np.ndarray
    seeds: tuple
    S: int
    R: int
    D: int
    n_noise: int
    T: int
    answer_sets: str
    n_test: int


def _check_run(tables, D, n_noise, T, steps, batch, lr, a0, seeds, eval_every, n_test, answer_sets):
    if answer_sets not in ANSWER_SETS:
        raise ValueError(f"answer_sets must be one of {ANSWER_SETS}, got {answer_sets!r}")
    tab = check_tables(tables, D, answer_sets)
    T = count("T", T, minimum=3)
    n_noise = count("n_noise", n_noise, minimum=0 if T == 3 else 1)
    steps, batch = count("steps", steps, minimum=0), count("batch", batch)
    eval_every, n_test = count("eval_every", eval_every), count("n_test", n_test)
    lr, a0 = float(lr), float(a0)
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (np.isfinite(a0) and a0 != 0):
        raise ValueError(f"a0 must be a finite non-zero number, got {a0!r}")
    seeds = tuple(int(s) for s in np.atleast_1d(seeds))
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    if tab.shape[0] == 1:
        tab = np.repeat(tab, len(seeds), axis=0)
    elif tab.shape[0] != len(seeds):
        raise ValueError(f"tables must be [S, R] or one [S, R] table per seed ({len(seeds)}), got {tab.shape[0]}")
    return tab, D, n_noise, T, steps, batch, lr, a0, seeds, eval_every, n_test


def schedule(steps, eval_every) -> list[int]:
    """Chunk lengths between evaluations: eval_every steps each, the last one shorter if needed."""
    full, rest = divmod(steps, eval_every)
    return [eval_every] * full + ([rest] if rest else [])


def _stack_draws(rngs, S, R, n_noise, T, batch, steps=None):
    parts = [draw_batch(S, R, n_noise, T, batch, g, steps) for g in rngs]
    return tuple(np.ascontiguousarray(np.stack([p[k] for p in parts])) for k in range(3))


def sgd_train(tables, D, n_noise, T, *, steps, batch=1024, lr=0.1, a0=1e-5, seeds=(0,), eval_every=64,
              n_test=4096, answer_sets="disjoint") -> OneHotRun:
    """Plain SGD of the §8 model on fresh batches, one independent run per seed (numba, prange over seeds).

    tables: int [S, R] shared by all seeds or [n_seeds, S, R]; D answers per relation; n_noise noise tokens;
    T sequence length (>= 3); steps updates of ``batch`` sequences with step ``lr``; init A = V = a0·ones.
    Seed i draws, from ``default_rng(seeds[i])``, first its n_test test sequences, then each chunk of
    ``eval_every`` training batches (``schedule``), so a longer run extends a shorter one exactly.
    """
    tab, D, n_noise, T, steps, batch, lr, a0, seeds, eval_every, n_test = _check_run(
        tables, D, n_noise, T, steps, batch, lr, a0, seeds, eval_every, n_test, answer_sets)
    n, S, R = tab.shape
    vocab, A = vocab_size(S, R, n_noise), answer_count(R, D, answer_sets)
    block = np.arange(R, dtype=np.int64) if answer_sets == "disjoint" else np.zeros(R, dtype=np.int64)
    a = np.full((n, vocab), a0)
    V = np.full((n, vocab, A), a0)
    rngs = [np.random.default_rng(s) for s in seeds]
    test = _stack_draws(rngs, S, R, n_noise, T, n_test)
    chunks = schedule(steps, eval_every)
    K = len(chunks) + 1
    metrics = np.full((n, K, 5), np.nan)
    train_loss = np.full((n, K), np.nan)
    diverged = np.zeros(n, dtype=np.bool_)
    out = np.empty((n, 5))
    eval_kernel(a, V, tab, *test, S, R, n_noise, D, block, out)
    metrics[:, 0] = out
    for k, size in enumerate(chunks, start=1):
        subj, rel, noise = _stack_draws(rngs, S, R, n_noise, T, batch, size)
        loss_sum = np.zeros(n)
        sgd_chunk_kernel(a, V, tab, subj, rel, noise, lr, S, R, n_noise, diverged, loss_sum)
        eval_kernel(a, V, tab, *test, S, R, n_noise, D, block, out)
        live = ~diverged
        metrics[live, k] = out[live]
        train_loss[live, k] = loss_sum[live] / size
    return _result(metrics, train_loss, diverged, a, V, tab, seeds, chunks, S, R, D, n_noise, T, answer_sets, n_test)


def _result(metrics, train_loss, diverged, a, V, tab, seeds, chunks, S, R, D, n_noise, T, answer_sets, n_test):
    steps = np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)
    return OneHotRun(
        steps=steps, loss=metrics[..., 0], loss_se=np.sqrt(metrics[..., 1] / max(n_test - 1, 1)),
        relation_loss=metrics[..., 2], subject_loss=metrics[..., 3], accuracy=metrics[..., 4],
        train_loss=train_loss, diverged=diverged, a=a, V=V, tables=tab, seeds=seeds, S=S, R=R, D=D,
        n_noise=n_noise, T=T, answer_sets=answer_sets, n_test=n_test)

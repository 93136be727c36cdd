"""Plain float64 references of ``sim.memory.onehot`` with the same signatures (associative_memory.md §8).

Everything is written in dense matrix form on token counts: logits = (C ⊙ a) V for counts C [B, vocab],
G = softmax − onehot(y), ∂L/∂a = rowsum((Cᵀ G / B) ⊙ V), ∂L/∂V = a ⊙ (Cᵀ G / B). The draws are those of the fast
path (``onehot.draw_batch`` in the same order), so both paths see identical inputs.
"""

from __future__ import annotations

import numpy as np

from sim.memory import onehot as _fast


def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    return P / P.sum(axis=1, keepdims=True)


def gradients(a, V, counts, y):
    """Same as :func:`sim.memory.onehot.gradients`: (mean CE, ∂L/∂a [vocab], ∂L/∂V [vocab, A])."""
    a, V, counts, y = _fast._check_grad_inputs(a, V, counts, y)
    B = counts.shape[0]
    Z = (counts * a) @ V
    P = _softmax(Z)
    loss = float(np.mean(-np.log(P[np.arange(B), y])))
    G = P.copy()
    G[np.arange(B), y] -= 1.0
    gW = counts.T @ G / B
    return loss, np.sum(gW * V, axis=1), a[:, None] * gW


def evaluate(a, V, table, counts, subjects, relations, D, answer_sets="disjoint"):
    """(mean CE, variance of the CE, relation-only, subject-only, accuracy) of one seed on sequences given by
    counts (NaN entries when the logits are not finite, as in the kernel)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _evaluate(a, V, table, counts, subjects, relations, D, answer_sets)


def _evaluate(a, V, table, counts, subjects, relations, D, answer_sets):
    A = V.shape[1]
    y = table[subjects, relations]
    Z = (counts * a) @ V
    m = Z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]
    ce = lse - Z[np.arange(len(y)), y]
    block = relations if answer_sets == "disjoint" else np.zeros_like(relations)
    in_set = (np.arange(A)[None, :] // D) == block[:, None]
    same_mod = (np.arange(A)[None, :] % D) == (y % D)[:, None]

    def lse_masked(mask):
        Zm = np.where(mask, Z, -np.inf)
        mm = Zm.max(axis=1, keepdims=True)
        return (mm + np.log(np.exp(Zm - mm).sum(axis=1, keepdims=True)))[:, 0]

    rel = lse - lse_masked(in_set)
    subj = lse - lse_masked(same_mod)
    acc = np.argmax(Z, axis=1) == y
    return np.array([ce.mean(), ce.var(), rel.mean(), subj.mean(), acc.mean()])


def sgd_train(tables, D, n_noise, T, *, steps, batch=1024, lr=0.1, a0=1e-5, seeds=(0,), eval_every=64,
              n_test=4096, answer_sets="disjoint"):
    """Same as :func:`sim.memory.onehot.sgd_train`, one dense numpy step at a time."""
    tab, D, n_noise, T, steps, batch, lr, a0, seeds, eval_every, n_test = _fast._check_run(
        tables, D, n_noise, T, steps, batch, lr, a0, seeds, eval_every, n_test, answer_sets)
    n, S, R = tab.shape
    vocab, A = _fast.vocab_size(S, R, n_noise), _fast.answer_count(R, D, answer_sets)
    rngs = [np.random.default_rng(s) for s in seeds]
    chunks = _fast.schedule(steps, eval_every)
    K = len(chunks) + 1
    metrics = np.full((n, K, 5), np.nan)
    train_loss = np.full((n, K), np.nan)
    diverged = np.zeros(n, dtype=bool)
    a_all = np.full((n, vocab), a0)
    V_all = np.full((n, vocab, A), a0)
    tests = []
    for i in range(n):
        subj, rel, noise = _fast.draw_batch(S, R, n_noise, T, n_test, rngs[i])
        tests.append((_fast.batch_counts(subj, rel, noise, S, R, n_noise), subj, rel))
        metrics[i, 0] = evaluate(a_all[i], V_all[i], tab[i], *tests[i], D, answer_sets)
    for k, size in enumerate(chunks, start=1):
        for i in range(n):
            subj, rel, noise = _fast.draw_batch(S, R, n_noise, T, batch, rngs[i], size)
            if diverged[i]:
                continue
            total = 0.0
            for t in range(size):
                C = _fast.batch_counts(subj[t], rel[t], noise[t], S, R, n_noise)
                y = tab[i][subj[t], rel[t]]
                B = C.shape[0]
                with np.errstate(over="ignore", invalid="ignore"):
                    Z = (C * a_all[i]) @ V_all[i]
                    m = Z.max(axis=1, keepdims=True)
                    lse = m[:, 0] + np.log(np.exp(Z - m).sum(axis=1))
                    loss = float(np.mean(lse - Z[np.arange(B), y]))
                    P = _softmax(Z)
                if not np.isfinite(loss):
                    diverged[i] = True
                    break
                total += loss
                G = P
                G[np.arange(B), y] -= 1.0
                gW = C.T @ G / B
                ga = np.sum(gW * V_all[i], axis=1)
                gV = a_all[i][:, None] * gW
                a_all[i] -= lr * ga
                V_all[i] -= lr * gV
            if not diverged[i]:
                metrics[i, k] = evaluate(a_all[i], V_all[i], tab[i], *tests[i], D, answer_sets)
                train_loss[i, k] = total / size
    return _fast._result(metrics, train_loss, diverged, a_all, V_all, tab, seeds, chunks, S, R, D, n_noise, T,
                         answer_sets, n_test)

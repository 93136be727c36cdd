"""Benchmark of the memory simulations (associative_memory.md §8, §9) against their naive float64 references.

    python -m verify.bench.memory_onehot [--device auto|cpu|cuda]

Rows: the §8 one-hot model (``sim.memory.onehot``: SGD on fresh batches through token counts, and the closed-form
gradient of one batch) against ``sim.memory.naive_onehot`` (dense numpy on the count matrix), plus one SGD step of
the torch model through autograd on the faithful forward and on the count path (``verify.models.onehot_attention``);
the Cabannes memories (``sim.memory.schemes``: class-sum kernel) against ``sim.memory.naive_schemes`` (explicit
W_q = Σ q u eᵀ, then U W E). Each row prints fast seconds (best of 3 after compilation), baseline seconds (one run),
their ratio and the largest |difference| of the outputs (relative to the largest entry). ``prange`` runs over seeds
and trials: set NUMBA_NUM_THREADS=1 for single-core figures.
"""

from __future__ import annotations

import argparse

import numpy as np

import theory.memory as th
from sim.memory import naive_onehot, naive_schemes, onehot, schemes
from verify.bench._timing import side_by_side


def _rel(a, b):
    return np.nanmax(np.abs(np.asarray(a) - np.asarray(b))) / np.nanmax(np.abs(np.asarray(b)))


def _torch_rows(device: str):
    import torch

    from sim.memory.factual import eos_token, sample_sequences, vocab_size
    from verify.device import resolve_device
    from verify.models.onehot_attention import OneHotLinearAttention, token_counts

    dev = resolve_device(device)
    S, R, D, n_noise, T, B = 16, 4, 8, 20, 32, 1024
    table = th.structured_answer_table(S, R, D).astype(np.int64)
    tokens, _, _, answers = sample_sequences(table, D, T, n_noise, B, np.random.default_rng(0))
    vocab, eos = vocab_size(S, R, n_noise), eos_token(S, R, n_noise)
    tok = torch.from_numpy(tokens).to(dev)
    y = torch.from_numpy(answers).to(dev)
    counts = token_counts(tok, vocab)

    def step(path):
        def run():
            m = OneHotLinearAttention(vocab, R * D).to(dev)
            loss = m.loss(tok, y) if path == "faithful" else m.loss_counts(counts, eos, y)
            loss.backward()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            return m.V.grad.detach().cpu().numpy()
        return run

    return [side_by_side(f"§8 torch step, count path vs faithful forward (B={B}, {dev.type})", step("counts"),
                  step("faithful"), _rel)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    rows = []
    table = th.structured_answer_table(16, 4, 8).astype(np.int64)
    kw = dict(steps=64, batch=256, lr=0.1, a0=1e-3, seeds=[0, 1], eval_every=32, n_test=512)
    rows.append(side_by_side("§8 SGD S16 R4 D8, 2 seeds x 64 steps x batch 256 (end-to-end, draws included)",
                      lambda: onehot.sgd_train(table, 8, 20, 32, **kw).loss,
                      lambda: naive_onehot.sgd_train(table, 8, 20, 32, **kw).loss, _rel))
    big = th.structured_answer_table(8, 32, 8).astype(np.int64)
    rows.append(side_by_side("§8 SGD S8 R32 D8 (256 answers), 2 seeds x 16 steps x batch 256",
                      lambda: onehot.sgd_train(big, 8, 20, 32, **{**kw, "steps": 16, "eval_every": 16}).loss,
                      lambda: naive_onehot.sgd_train(big, 8, 20, 32, **{**kw, "steps": 16, "eval_every": 16}).loss,
                      _rel))
    rng = np.random.default_rng(0)
    subj, rel, noise = onehot.draw_batch(16, 4, 20, 32, 4096, rng)
    C = onehot.batch_counts(subj, rel, noise, 16, 4, 20)
    a, V = rng.standard_normal(41) * 0.1, rng.standard_normal((41, 32)) * 0.1
    y = table[subj, rel]
    rows.append(side_by_side("§8 closed-form gradient, one batch of 4096 (kernel only)",
                      lambda: onehot.gradients(a, V, C, y)[2], lambda: naive_onehot.gradients(a, V, C, y)[2], _rel))
    rows += _torch_rows(args.device)
    sch = [{"scheme": "threshold", "K_per_d": 0.125}, "frequency", "fill", "seen", {"scheme": "power", "rho": 0.5}]
    mc = dict(alpha=2.0, N=1000, M=5, trials=4, seed=0)
    rows.append(side_by_side("§9 schemes MC N=1000 M=5, d in {64, 256}, T in {inf, 1e3}, 5 schemes, 4 trials",
                      lambda: schemes.scheme_error_mc(sch, [64, 256], [None, 1000], **mc).per_trial,
                      lambda: naive_schemes.scheme_error_mc(sch, [64, 256], [None, 1000], **mc).per_trial, _rel))
    E = rng.standard_normal((8, 1000, 128)) / np.sqrt(128)
    U = rng.standard_normal((8, 5, 128))
    Q = rng.random((8, 6, 1000))
    f, p = np.arange(1000) % 5, th.zipf_probabilities(2.0, 1000)
    rows.append(side_by_side("§9 memory errors, 8 trials x 6 memories, N=1000 d=128 (kernel only)",
                      lambda: schemes.memory_errors(E, U, f, p, Q), lambda: naive_schemes.memory_errors(E, U, f, p, Q),
                      lambda x, z: np.max(np.abs(x - z))))

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'fast s':>9}  {'baseline s':>10}  {'ratio':>8}  {'max diff':>9}")
    for name, tf, tb, diff in rows:
        print(f"{name:<{width}}  {tf:9.4f}  {tb:10.4f}  {tb / tf:8.1f}  {diff:9.1e}")


if __name__ == "__main__":
    main()

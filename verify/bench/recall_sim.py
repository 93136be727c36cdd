"""Benchmark of the sim.recall recurrences against their naive float64 references, at T = 4096 and d = 64.

    python -m verify.bench.recall_sim

Prints one row per case: fast seconds (best of 3, after compilation), naive seconds (one run), their ratio and the
largest |output difference|. Single-sequence rows run on one thread (``prange`` runs over sequences only); the
batched row uses every numba thread (set NUMBA_NUM_THREADS=1 for a single-core figure). Chunkwise rows time the
vectorised numpy chunk forms (chunk 64) against the naive token recurrence of the same rule.

Gates are chosen where every rule stays bounded over the T tokens. Moneta runs without decay (α = 1): with α < 1
its stated map W = A/‖A‖_4² (degree −1 in A) amplifies round-off until two float64 implementations part after
a few hundred tokens, so a |diff| column would measure that instability rather than the kernel.
"""

from __future__ import annotations

import time

import numpy as np

import sim.recall as R
from sim.recall import naive
from verify.bench._timing import best_of

T, D = 4096, 64




def _inputs(B, seed=0):
    rng = np.random.default_rng(seed)
    lead = (B,) if B > 1 else ()
    q = rng.standard_normal(lead + (T, D))
    k = rng.standard_normal(lead + (T, D))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    v = rng.standard_normal(lead + (T, D)) / np.sqrt(D)
    gates = {
        "a": rng.uniform(0.9, 1.0, lead + (T,)),
        "b": rng.uniform(0.1, 1.0, lead + (T,)),
        "ch": rng.uniform(0.9, 1.0, lead + (T, D)),
    }
    return q, k, v, gates


def _row(name, fast, ref):
    fast()  # compile (or load the cache) outside the timing
    t_fast, out = best_of(fast)
    t0 = time.perf_counter()
    out_ref = ref()
    t_ref = time.perf_counter() - t0
    return name, t_fast, t_ref, float(np.max(np.abs(out - out_ref)))


def main():
    q, k, v, g = _inputs(1)
    a, b = g["a"], g["b"]
    cases = [
        ("linear attention", "linear_attention", ()),
        ("gated LA (scalar)", "gated_linear_attention", (a, b)),
        ("gated LA (per channel)", "gated_linear_attention_channel", (g["ch"],)),
        ("DeltaNet", "delta_rule", (b,)),
        ("Gated DeltaNet", "gated_delta_rule", (a, b)),
        ("Longhorn", "longhorn", (b,)),
        ("Titans (linear)", "titans", (0.01, 0.5, 0.1 * b)),
        ("Moneta (p=3, q=4, stated map)", "moneta", (1.0, 0.1 * b)),
        ("Yaad", "yaad", (a, 0.5 * b, 0.5)),
        ("Memora", "memora", (a, 0.5 * b)),
    ]
    rows = []
    for label, fn, args in cases:
        rows.append(_row(f"{label}, T={T} d={D}", lambda fn=fn, args=args: getattr(R, fn)(q, k, v, *args),
                         lambda fn=fn, args=args: getattr(naive, fn)(q, k, v, *args)))
    for solver, kw in (("exact", {}), ("cg", {"tol": 1e-10}), ("cg_damped", {})):
        rows.append(_row(f"Mesa {solver}, T={T} d={D}, lam=0.25",
                         lambda kw=kw, s=solver: R.mesa(q, k, v, a, b, 0.25, solver=s, **kw),
                         lambda kw=kw, s=solver: naive.mesa(q, k, v, a, b, 0.25, solver=s, **kw)))
    rows.append(_row(f"chunkwise Gated DeltaNet (numpy, C=64), T={T} d={D}",
                     lambda: R.chunkwise_gated_delta_rule(q, k, v, a, b, chunk=64),
                     lambda: naive.gated_delta_rule(q, k, v, a, b)))
    rows.append(_row(f"chunkwise Mesa cg (numpy, C=64), T={T} d={D}",
                     lambda: R.chunkwise_mesa(q, k, v, a, b, 0.25, chunk=64, solver="cg"),
                     lambda: naive.mesa(q, k, v, a, b, 0.25, solver="cg")))
    qb, kb, vb, gb = _inputs(8, seed=1)
    rows.append(_row(f"DeltaNet, batch of 8, T={T} d={D} (all threads)",
                     lambda: R.delta_rule(qb, kb, vb, gb["b"]), lambda: naive.delta_rule(qb, kb, vb, gb["b"])))

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'numba s':>9}  {'naive s':>9}  {'ratio':>8}  {'max |diff|':>10}")
    for name, tf, tn, diff in rows:
        print(f"{name:<{width}}  {tf:9.4f}  {tn:9.3f}  {tn / tf:8.1f}  {diff:10.2e}")


if __name__ == "__main__":
    main()

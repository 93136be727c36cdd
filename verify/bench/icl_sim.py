"""Benchmark of the sim.icl population flows against their naive float64 references.

    python -m verify.bench.icl_sim

Prints one row per case: numba seconds (best of 3, after compilation), naive seconds, their ratio and the largest
|loss difference| over the steps both ran. A single run occupies one thread (``prange`` runs over runs only), so
single-run rows are single-core figures; set NUMBA_NUM_THREADS=1 to make the multi-run row single-core too. Where
the naive reference is too slow for the full run it runs fewer steps and its time is extrapolated per step
(marked "extrap.").
"""

from __future__ import annotations

import time

import numpy as np

import sim.icl as icl
from verify.bench._timing import best_of

LAM4 = np.diag([0.4, 0.3, 0.2, 0.1])  # official-code default eigenvalues, D = 4
LAM8 = np.diag(np.arange(8, 0, -1) / 36.0)  # D = 8, eigenvalues d/36




def _case(name, fast_fn, naive_fn, steps, naive_steps):
    """fast_fn(steps) / naive_fn(steps) -> Trajectory recorded every step range they share."""
    fast_fn(min(steps, 11))  # compile (or load the cache) outside the timing
    t_fast, _ = best_of(lambda: fast_fn(steps))
    t0 = time.perf_counter()
    ref = naive_fn(naive_steps)
    t_naive = (time.perf_counter() - t0) * (steps - 1) / max(naive_steps - 1, 1)
    short = fast_fn(naive_steps)
    diff = float(np.nanmax(np.abs(short.loss - ref.loss)))
    note = "" if naive_steps == steps else f" (naive {naive_steps} steps, extrap.)"
    return name + note, t_fast, t_naive, diff


def main():
    rows = []

    v, K, Q = icl.init_attn_s(1, 9, 8, 8, 5e-3, seed=0)

    def s_run(mod, n):
        return mod.attn_s_flow(LAM8, 31, v, K, Q, n, eta=0.02, units="code", record_every=10)

    rows.append(_case("ATTN-S D=8 H=9 R=8, 50001 steps, 1 run, record_every=10",
                      lambda n: s_run(icl, n), lambda n: s_run(icl.naive, n), 50001, 2001))

    vm, Um = icl.init_attn_m(1, 8, 4, 1e-6, seed=0)

    def m_run(mod, n):
        return mod.attn_m_flow(LAM4, 31, vm, Um, n, eta=1e-3, units="code")

    rows.append(_case("ATTN-M Fig.1 D=4 N=31 H=8 eta=1e-3 code, 6001 steps, 1 run",
                      lambda n: m_run(icl, n), lambda n: m_run(icl.naive, n), 6001, 6001))

    v3, K3, Q3 = icl.init_attn_s(6, 5, 1, 4, 0.01, seed=0)

    def f3_run(mod, n):
        return mod.attn_s_flow(LAM4, 31, v3, K3, Q3, n, eta=0.02, units="code", record_alignment=True)

    rows.append(_case("ATTN-S Fig.3 D=4 H=5 R=1, 10001 steps, 6 runs, alignment every step",
                      lambda n: f3_run(icl, n), lambda n: f3_run(icl.naive, n), 10001, 1001))

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'numba s':>9}  {'naive s':>9}  {'ratio':>8}  {'max |diff|':>10}")
    for name, tf, tn, diff in rows:
        print(f"{name:<{width}}  {tf:9.3f}  {tn:9.2f}  {tn / tf:8.1f}  {diff:10.2e}")


if __name__ == "__main__":
    main()

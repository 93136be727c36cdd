"""Benchmark of the sim.memory Monte Carlo (associative_memory.md §2.2, A3) against the naive float64 references.

    python -m verify.bench.memory_sim [--quick]

Prints one row per case: numba seconds (best of ``--repeats``, after compilation), naive seconds (one run), their
ratio, and whether both paths gave the same answer (identical capacity and search path, identical per-draw
error counts). The naive path forms the full [N, M] score matrix E Wᵀ Uᵀ of every draw and takes its argmax
(the official code's ``E @ E.T @ U @ U.T`` accuracy); the numba path scores blocks of inputs, stops counting a
failing size once its errors exceed the budget, and runs draws in parallel (``prange``): set
NUMBA_NUM_THREADS=1 (and OMP_NUM_THREADS=1) for single-core figures.
"""

from __future__ import annotations

import argparse

import numpy as np

from sim.memory import capacity as C
from sim.memory import naive
from verify.bench._timing import side_by_side


def _capacity(mod, d, M, draws):
    return lambda: mod.hebbian_capacity(d, M, draws=draws, seed=0)


def _search_differs(a, b):
    """0 when both paths found the same capacity along the same search path, else 1."""
    return 0.0 if a.N == b.N and np.array_equal(a.sizes, b.sizes) and np.array_equal(a.success, b.success) else 1.0


def _counts_differ(a, b):
    """0 when the per-draw error counts are identical, else 1."""
    return 0.0 if np.array_equal(a, b) else 1.0


def _errors_case(mod, N, d, R):
    rng = np.random.default_rng(0)
    E = rng.standard_normal((R, N, d)) / np.sqrt(d)
    U = rng.standard_normal((R, N, d)) / np.sqrt(d)
    f = np.tile(np.arange(N, dtype=np.int64), (R, 1))

    def run():
        out = np.empty(R, np.int64)
        mod.hebbian_errors_kernel(E, U, f, -1, C._block(N), out)
        return out

    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cases only (seconds)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto", help="ignored (CPU benchmark); accepted for `capdyn bench`")
    args = ap.parse_args(argv)
    cases = [("Hebbian N_99, d=64, M=N, 20 draws", _capacity, (64, None, 20)),
             ("Hebbian N_99, d=128, M=32, 20 draws", _capacity, (128, 32, 20))]
    if not args.quick:
        cases += [("Hebbian N_99, d=128, M=N, 20 draws", _capacity, (128, None, 20)),
                  ("Hebbian N_99, d=256, M=N, 10 draws", _capacity, (256, None, 10))]
    rows = [side_by_side(name, fn(C, *a), fn(naive, *a), _search_differs, args.repeats) for name, fn, a in cases]
    N = 1500 if args.quick else 4000
    rows.append(side_by_side(f"exact errors, N=M={N}, d=128, 8 draws (kernel only)", _errors_case(C, N, 128, 8),
                             _errors_case(naive, N, 128, 8), _counts_differ, args.repeats))
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'numba s':>9}  {'naive s':>9}  {'ratio':>7}  same")
    for name, tf, tn, differs in rows:
        print(f"{name:<{width}}  {tf:9.3f}  {tn:9.3f}  {tn / tf:7.1f}  {'NO' if differs else 'yes'}")
    return 0 if not any(r[3] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

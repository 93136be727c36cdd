"""Benchmark of the sim.selective Monte Carlo (S1–S4) against the naive float64 references.

    python -m verify.bench.selective_sim

Prints one row per case: numba seconds (best of 3, after compilation), naive seconds (one run), their ratio and the
largest |difference| of the reported estimates (relative to the largest entry for the S4 kernel row).
"end-to-end" rows time the public functions, random draws included (identical draws for both paths, and they
dominate those rows); "kernel only" rows time one kernel call on pre-drawn inputs. ``prange`` runs over trials:
set NUMBA_NUM_THREADS=1 for single-core figures.
"""

from __future__ import annotations

import numpy as np

import sim.selective as sel
from sim.selective import kernels, naive
from verify.bench._timing import side_by_side


def _needle_kernel_case(kern, B=64, L=4095, d=64):
    rng = np.random.default_rng(0)
    U = rng.standard_normal((B, d))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    Z = rng.standard_normal((B, L, d))
    n_grid = np.array([16, 64, 256, 1024, 4096], dtype=np.int64)
    scale = 3.0 * (1.0 + np.array([0.0, 1 / 3])[None, :] * np.log(n_grid)[:, None])

    def run():
        mx, sm, cm = np.full((B, 5, 2), -np.inf), np.zeros((B, 5, 2)), np.full((B, 5), -np.inf)
        kern(U, Z, 0, scale, n_grid, mx, sm, cm)
        return mx + np.log(sm)

    return run


def _linear_memory_kernel_case(kern, phi, B=32, N=256, d=16, dv=16, Q=256):
    rng = np.random.default_rng(0)
    K, V, Qr = rng.standard_normal((B, N, d)), rng.standard_normal((B, N, dv)), rng.standard_normal((B, Q, d))
    g = np.ones((B, N))

    def run():
        num, den = np.empty((B, Q, dv)), np.empty((B, Q))
        kern(phi, K, V, g, Qr, num, den)
        return num

    return run


def main():
    rows = []
    ns = [16, 64, 256, 1024, 4096]
    rows.append(side_by_side("S1 dilution d=64 n<=4096 200 trials (end-to-end)",
                      lambda: sel.dilution_mc(ns).mass, lambda: naive.dilution_mc(ns).mass,
                      lambda a, b: np.max(np.abs(a - b))))
    rows.append(side_by_side("S1 kernel only, 64 trials x 4095 keys, d=64, 5 n x 2 s",
                      _needle_kernel_case(kernels.needle_kernel), _needle_kernel_case(naive.needle_kernel),
                      lambda a, b: np.max(np.abs(a - b))))
    big = [256, 4096, 65536]
    rows.append(side_by_side("S1 projection d=256 n<=65536 200 trials (end-to-end)",
                      lambda: sel.dilution_mc(big, d=256, sampler="projection").mass,
                      lambda: naive.dilution_mc(big, d=256, sampler="projection").mass,
                      lambda a, b: np.max(np.abs(a - b))))
    grid = ([64, 1024, 4096], [4.0, 8.0, 16.0])
    rows.append(side_by_side("S2 Hopfield d=16 N<=4096 x 3 beta 200 trials (end-to-end)",
                      lambda: sel.hopfield_mc(*grid).weight_median, lambda: naive.hopfield_mc(*grid).weight_median,
                      lambda a, b: np.max(np.abs(a - b))))
    sn2 = [0.0, 4.0, 16.0, 64.0, 256.0]
    rows.append(side_by_side("S3 value gating n=32 m=4 d=16 5 sigma_n2 2e4 trials (end-to-end)",
                      lambda: sel.value_gating_mc(sn2).risk, lambda: naive.value_gating_mc(sn2).risk,
                      lambda a, b: np.max(np.abs(a - b))))
    rows.append(side_by_side("S3 value gating 2e5 trials (end-to-end)",
                      lambda: sel.value_gating_mc(sn2, trials=200_000).risk,
                      lambda: naive.value_gating_mc(sn2, trials=200_000).risk,
                      lambda a, b: np.max(np.abs(a - b))))
    pooled = dict(n=1024, m=16, trials=1_000_000, sampler="pooled")
    rows.append(side_by_side("S3 pooled n=1024 m=16 1e6 trials (end-to-end)",
                      lambda: sel.value_gating_mc(sn2, **pooled).risk,
                      lambda: naive.value_gating_mc(sn2, **pooled).risk,
                      lambda a, b: np.max(np.abs(a - b))))
    rows.append(side_by_side("S4 write gating N=256 active 64/256 d=64 d_v=16 300 trials (end-to-end)",
                      lambda: sel.write_gating_mc(256, [64, 256]).snr,
                      lambda: naive.write_gating_mc(256, [64, 256]).snr,
                      lambda a, b: np.max(np.abs(a - b))))
    rows.append(side_by_side("S4 kernel only, square phi d=16 (D=256) N=Q=256 d_v=16, 32 trials",
                      _linear_memory_kernel_case(kernels.linear_memory_kernel, kernels.PHI_SQUARE),
                      _linear_memory_kernel_case(naive.linear_memory_kernel, kernels.PHI_SQUARE),
                      lambda a, b: np.max(np.abs(a - b)) / np.max(np.abs(b))))

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'numba s':>9}  {'naive s':>9}  {'ratio':>8}  {'max |diff|':>10}")
    for name, tf, tn, diff in rows:
        print(f"{name:<{width}}  {tf:9.3f}  {tn:9.3f}  {tn / tf:8.1f}  {diff:10.2e}")


if __name__ == "__main__":
    main()

"""Benchmarks: each prints a table of speed ratios against a baseline run side by side in the same process."""

from __future__ import annotations

import runpy
import sys

BENCHES = {
    "icl": ("verify.bench.icl_sim", "verify.bench.icl_train"),
    "memory": ("verify.bench.memory_sim", "verify.bench.memory_onehot"),
    "recall": ("verify.bench.recall_sim",),
    "selective": ("verify.bench.selective_sim",),
}


def run_bench(topic: str, device: str = "auto") -> int:
    for module in BENCHES[topic]:
        argv, sys.argv = sys.argv, [module, "--device", device]
        try:
            runpy.run_module(module, run_name="__main__")
        except SystemExit as stop:
            if stop.code not in (None, 0):
                return int(stop.code) if isinstance(stop.code, int) else 1
        finally:
            sys.argv = argv
    return 0

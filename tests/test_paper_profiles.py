"""The `paper` profiles plan the grids the specifications give (test_time_memory.md §10, associative_memory.md §12).

Only plans are built here (no run): a profile that silently shrank, or lost a mixer or a segment, fails.
"""

from __future__ import annotations

import math

import pytest

from theory.memory import transformer_param_count
from verify.claims import select
from verify.profiles import resolve


def paper(cid: str):
    claim = select([cid], "paper")[0]
    cfg = resolve(claim.config, claim.profiles, "paper", {}, claim.id)
    return cfg, claim.plan(cfg)


MIXERS = {"attention", "linear_attention", "gla", "deltanet", "gdn", "longhorn", "titans", "moneta", "yaad", "memora",
          "mesa"}


@pytest.mark.parametrize("cid", ["recall.ridge_random_keys", "recall.la_crosstalk", "recall.least_squares_error",
                                 "recall.delta_one_pass", "recall.argmax_accuracy"])
def test_x3_oracle_capacity_grid(cid):
    """X3: d_k ∈ {16, …, 256}; N from d_k/8 to 8·d_k; 200 draws; β ∈ {0.5, 1}."""
    _, plan = paper(cid)
    runs = [p for p in plan if p["kind"] == "capacity"]
    assert {p["d_k"] for p in runs} == {16, 32, 64, 128, 256}
    for d in (16, 32, 64, 128, 256):
        mine = [p for p in runs if p["d_k"] == d]
        assert min(min(p["N"]) for p in mine) <= d / 8 and max(max(p["N"]) for p in mine) >= 8 * d
        for beta in (0.5, 1.0):
            assert sum(p["draws"] for p in mine if p["beta"] == beta) >= 200


def test_x4_forgetting_grid():
    cfg, plan = paper("recall.forgetting_window")
    runs = [p for p in plan if p["kind"] == "forgetting"]
    assert {p["d_k"] for p in runs} == {32, 64, 128} and max(cfg.gammas) == 0.999 and cfg.T == 10_000
    for d in (32, 64, 128):
        assert sum(p["draws"] for p in runs if p["d_k"] == d) >= 50


def test_x6_x7_trained_mqar_grids():
    """X6 capacity panel: 11 mixers, d_k = 32, 1 head, N ∈ {4, …, 64}, L = 256, 4 lrs; X7: k up to 64."""
    cfg, plan = paper("recall.mqar_capacity_ordering")
    assert set(cfg.mixers) == MIXERS and cfg.d_k == 32 and cfg.seq_len == 256 and len(cfg.lrs) == 4
    assert cfg.pairs == [4, 8, 16, 32, 64] and len(plan) == len(MIXERS) * len(cfg.lrs) * cfg.seeds
    assert {p["mixer"] for p in plan} == MIXERS and all(p["heads"] == 1 for p in plan)
    budget, _ = paper("recall.mesa_cg_budget")
    assert budget.cg_steps == [1, 2, 5, 10, 30, 64] and min(budget.cg_tols) <= 1e-8 and max(budget.cg_tols) >= 1e-2
    fig2, plan2 = paper("recall.mqar_zoology_attention")
    assert set(fig2.mixers) == MIXERS and fig2.train_examples == 100_000 and len(fig2.lrs) == 4
    assert {tuple(s[:2]) for p in plan2 for s in p["train"]} == {(64, 4), (128, 8), (256, 16)}


def test_x8_precision_grid():
    cfg, plan = paper("recall.mesa_precision")
    assert sorted(cfg.T) == [4096, 16384] and set(cfg.train_precisions) == {"float16", "bfloat16", "float32"}
    assert sum(p["kind"] == "train" for p in plan) == 3


def test_memory_paper_grids():
    """associative_memory.md: memories up to d = 256 (Hebbian 1024), 5 seeds; the transformer sweep up to P ≈ 10⁵."""
    mem, _ = paper("memory.linear_capacity")
    assert max(mem.lin_dims) == 256 and mem.seeds == 5 and max(mem.heb_dims) == 1024 and max(mem.m2_dims) == 256
    assert max(d for d, _ in mem.mlp_cells) == 90 and max(m // d for d, m in mem.mlp_cells) == 8
    f2, plan = paper("memory.facts_vs_params")
    P = [transformer_param_count(p["H"], p["d_h"], p["d"], p["m"]) for p in plan]
    assert abs(math.log10(max(P)) - 5) < 0.1 and len({(p["alpha_att"], p["beta_mlp"]) for p in plan}) == 25

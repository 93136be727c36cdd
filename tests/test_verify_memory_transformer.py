"""The one-layer factual-recall transformer (verify.models.tf_one_layer), its trainer and sampler, the capacity
machinery of verify.experiments.memory.transformer, and the end-to-end smoke run of claims F0–F4."""

import math

import numpy as np
import pytest
import torch

import theory.memory as th
from sim.memory.factual import fact_table, sequence_invariants
from verify.claims import all_claims
from verify.experiments.memory import transformer as tf
from verify.models.tf_one_layer import FactBatches, TFOneLayer, accuracy, train_ensemble

from tests.topic_smoke import assert_figures, run_smoke, stored_verdicts

IDS = ["memory.tf_param_count", "memory.factual_generator", "memory.facts_vs_params", "memory.tradeoff_boundary",
       "memory.tradeoff_attention_floor", "memory.either_memory"]
ROWS = {"memory.tf_param_count": "F0", "memory.factual_generator": "F1", "memory.facts_vs_params": "F2",
        "memory.tradeoff_boundary": "F3", "memory.tradeoff_attention_floor": "F3b", "memory.either_memory": "F4"}


def _tokens(vocabs, B, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (B, T), generator=g) for v in vocabs])


# ---- model ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [0, 7])
def test_fast_forward_equals_faithful_forward(m):
    """Awkward sizes: three members with their own vocabularies, answers, heads and widths; T = 3, d_h = 1."""
    torch.manual_seed(0)
    model = TFOneLayer(11, 9, 5, 3, 1, m, [1, 2, 3], vocabs=[11, 4, 7], answers=[9, 2, 5], heads=[3, 1, 2],
                       widths=[m, m // 2, 1 if m else 0]).double()
    with torch.no_grad():
        for p in model.parameters():  # move padded entries too: the paths must agree on any weights
            p.add_(0.3 * torch.randn_like(p))
    tok = _tokens([4, 4, 4], 6, 3)
    fast, slow = model(tok), model.forward_faithful(tok)
    finite = torch.isfinite(slow)
    assert torch.equal(finite, torch.isfinite(fast))
    assert finite.sum() == 6 * (9 + 2 + 5)
    assert torch.allclose(fast[finite], slow[finite], rtol=1e-12, atol=1e-12)


def test_init_scales_follow_the_spec():
    model = TFOneLayer(300, 400, 64, 4, 16, 256, [0])
    stds = {k: float(getattr(model, k).detach().std()) for k in ("wte", "unembed", "Q", "O", "W1", "W2")}
    expect = {"wte": 1 / 8, "unembed": 1 / 8, "Q": 1 / 4, "O": 1 / 8, "W1": 1 / 8, "W2": 1 / 16}
    for k, v in expect.items():
        assert abs(stds[k] / v - 1) < 0.05, k  # ≥ 16k draws each: relative SE < 0.6%
    assert float(model.W1.detach().abs().max()) <= 2 / (0.87962566103423978 * 8) + 1e-6  # truncated at 2σ (Flax)
    assert float(model.b1.detach().abs().max()) == 0.0


def test_parameter_counts_match_theory():
    for H, d_h, d, m in [(4, 4, 16, 16), (5, 8, 32, 52), (2, 3, 7, 1)]:
        c = th.transformer_param_counts(H, d_h, d, m)
        model = TFOneLayer(20, 6, d, H, d_h, m, [0])
        assert sum(p.numel() for p in model.parameters()) == c.trainable
        frozen = TFOneLayer(20, 6, d, H, d_h, m, [0], train_vo=False)
        assert sum(p.numel() for p in frozen.parameters()) == c.trainable - 2 * H * d_h * d
    assert th.transformer_param_count(4, 4, 16, 16) == 1536 and th.transformer_param_count(5, 8, 32, 52) == 8448


def test_member_in_an_ensemble_equals_the_member_alone():
    """Same seed and sizes → same weights; same tokens → same loss and gradients; padded entries get exactly
    zero gradient (so Adam leaves them at zero)."""
    ens = TFOneLayer(13, 12, 6, 4, 3, 9, [5, 6, 7], vocabs=[13, 9, 5], answers=[12, 6, 4], heads=[4, 2, 3],
                     widths=[9, 4, 9])
    solo = TFOneLayer(9, 6, 6, 2, 3, 4, [6])
    assert torch.equal(ens.wte[1, :9], solo.wte[0]) and torch.equal(ens.Q[1, :2], solo.Q[0])
    assert torch.equal(ens.W2[1, :4], solo.W2[0])
    tok = _tokens([5, 9, 5], 32, 7, seed=3)
    ans = torch.stack([torch.randint(0, a, (32,)) for a in (12, 6, 4)])
    ens.loss(tok, ans).sum().backward()
    solo.loss(tok[1:2], ans[1:2]).sum().backward()
    for name in ("Q", "K", "V", "O"):
        g_e, g_s = getattr(ens, name).grad, getattr(solo, name).grad
        assert torch.allclose(g_e[1, :2], g_s[0], rtol=1e-5, atol=1e-7), name
        assert float(g_e[1, 2:].abs().max()) == 0.0, name
    assert torch.allclose(ens.W1.grad[1, :, :4], solo.W1.grad[0], rtol=1e-5, atol=1e-7)
    assert float(ens.W1.grad[1, :, 4:].abs().max()) == 0.0 and float(ens.W2.grad[1, 4:].abs().max()) == 0.0
    assert float(ens.b1.grad[1, 4:].abs().max()) == 0.0


def test_adam_matches_torch_optim_adam():
    """One member, no early stop: train_ensemble's per-member Adam equals torch.optim.Adam on the same batches."""
    tab = [fact_table(4, 3, 2, np.random.default_rng(0))]
    make = lambda: [FactBatches(tab, 2, 6, seed=s) for s in (1, 2, 3)]
    a = TFOneLayer(15, 6, 8, 2, 4, 5, [9])
    b = TFOneLayer(15, 6, 8, 2, 4, 5, [9])
    train_ensemble(a, *make(), steps=7, lr=3e-3, batch=16, eval_every=7, val_size=8, test_size=8, stop_acc=2.0)
    tr = make()[0]
    opt = torch.optim.Adam(b.parameters(), lr=3e-3, eps=1e-8)
    for _ in range(7):
        tokens, _, _, answers = tr.sample(16)
        opt.zero_grad()
        b.loss(tokens, answers).sum().backward()
        opt.step()
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-6), n


def test_frozen_value_output_stay_at_init_and_divergence_is_isolated():
    tabs = [fact_table(3, 3, 2, np.random.default_rng(i)) for i in range(2)]
    make = lambda: [FactBatches(tabs, 2, 5, seed=s) for s in (1, 2, 3)]
    model = TFOneLayer(13, 6, 8, 2, 4, 6, [1, 2], train_vo=False)
    V0, O0, W10 = model.V.clone(), model.O.clone(), model.W1.detach().clone()
    with torch.no_grad():
        model.W2[1, 0, 0] = float("nan")  # member 1 diverges at its first step
    res = train_ensemble(model, *make(), steps=20, lr=1e-2, batch=32, eval_every=10, val_size=64,
                         test_size=64, stop_acc=2.0)
    assert torch.equal(model.V, V0) and torch.equal(model.O, O0)
    assert res.diverged == [False, True] and res.stop_step == [20, 0]
    assert math.isnan(res.test_acc[1]) and 0.0 <= res.test_acc[0] <= 1.0
    assert torch.isfinite(model.W1[0]).all() and not torch.equal(model.W1[0], W10[0])
    assert torch.equal(model.W1[1], W10[1])  # a diverged member is frozen


def test_early_stop_freezes_a_member_that_reached_the_threshold():
    tabs = [fact_table(2, 2, 2, np.random.default_rng(0))]
    model = TFOneLayer(9, 4, 16, 4, 4, 16, [3])
    b = [FactBatches(tabs, 2, 5, seed=s) for s in (1, 2, 3)]
    res = train_ensemble(model, *b, steps=2000, lr=1e-2, batch=64, eval_every=25, val_size=256, test_size=1024)
    assert res.stop_step[0] < 2000 and res.best_val_acc[0] >= 0.995 and res.test_acc[0] >= 0.99
    assert abs(accuracy(model, b[2], 1024)[0] - res.test_acc[0]) < 0.02


def test_torch_sampler_obeys_the_generator_invariants():
    tabs = [fact_table(5, 3, 2, np.random.default_rng(0)), fact_table(9, 4, 3, np.random.default_rng(1))]
    for eos in (True, False):
        b = FactBatches(tabs, [2, 3], 4, [1, 7], eos=eos, seed=4)
        tok, s, r, a = b.sample(2000)
        for e, (D, n) in enumerate(((2, 1), (3, 7))):
            inv = sequence_invariants(tok[e].numpy(), s[e].numpy(), r[e].numpy(), a[e].numpy(), tabs[e], D, n,
                                      eos=eos)
            assert all(inv.values()), (eos, e, inv)
    with pytest.raises(ValueError, match="table"):
        FactBatches([np.array([[5]])], 2, 4)


@pytest.mark.gpu
def test_cuda_forward_and_sampler_match_the_cpu():
    model = TFOneLayer(11, 9, 8, 3, 2, 5, [1, 2], vocabs=[11, 7], answers=[9, 4])
    tok = _tokens([7, 7], 16, 6)
    cuda = TFOneLayer(11, 9, 8, 3, 2, 5, [1, 2], vocabs=[11, 7], answers=[9, 4]).cuda()
    out = cuda(tok.cuda()).cpu()
    ref = model(tok)
    fin = torch.isfinite(ref)
    assert torch.equal(fin, torch.isfinite(out)) and torch.allclose(out[fin], ref[fin], rtol=1e-4, atol=1e-5)
    tab = fact_table(5, 3, 2, np.random.default_rng(0))
    tok, s, r, a = FactBatches([tab], 2, 6, seed=1, device="cuda").sample(512)
    assert all(sequence_invariants(tok[0].cpu().numpy(), s[0].cpu().numpy(), r[0].cpu().numpy(),
                                   a[0].cpu().numpy(), tab, 2, 8).values())


# ---- capacity machinery -----------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [2, 3, 7, 40, 511])
def test_bisection_finds_a_monotone_threshold(threshold):
    succ, fail = set(), set()
    pending = [10, 20]
    for _ in range(40):
        for s in pending:
            (succ if s <= threshold else fail).add(s)
        nxt, state = tf._next_size(succ, fail, 2, 512)
        if nxt is None:
            break
        pending = [nxt]
    lo, hi = state["lo"], state["hi"]
    assert state["censored"] is None and lo <= threshold < hi and (hi - lo <= 1 or hi / lo <= 1.02)
    assert lo == threshold or threshold > 50  # exact below 50, where hi − lo ≤ 1 stops first


def test_bisection_reports_censoring_and_non_monotone_outcomes():
    assert tf._next_size(set(), {2}, 2, 512)[1]["censored"] == "below"
    assert tf._next_size({512}, set(), 2, 512)[1]["censored"] == "above"
    nxt, st = tf._next_size({10, 30}, {20, 40}, 2, 512)
    assert st["non_monotone"] and st["lo"] == 30 and st["hi"] == 40 and 30 < nxt < 40
    assert tf._next_size({100}, {101}, 2, 512)[0] is None
    assert tf._next_size({100}, {102}, 2, 512)[0] is None  # hi/lo ≤ 1.02


def test_task_sizes_follow_the_three_scalings():
    assert tf.task_sizes("linear", 12, 8) == (12, 12, 8)
    assert tf.task_sizes("square", 12, 8) == (12, 3, 8)
    assert tf.task_sizes("distinct", 12, 8) == (12, 12, 12)
    with pytest.raises(ValueError, match="scaling"):
        tf.task_sizes("cubic", 3, 8)


def test_logistic_fit_recovers_a_known_success_curve():
    rng = np.random.default_rng(0)
    f = np.exp(rng.uniform(np.log(50), np.log(400), 3000))
    p = 1 / (1 + np.exp(-6.0 * (np.log(150) - np.log(f))))
    trials = [(0, int(x), bool(u < q), False) for x, q, u in zip(f, p, rng.uniform(size=f.size))]
    fit = tf.logistic_f50(trials)
    assert abs(math.log(fit["f50"] / 150)) < 0.05 and abs(fit["k"] - 6.0) < 1.0
    sep = tf.logistic_f50([(0, 16, True, False), (0, 25, True, False), (0, 36, False, False)])
    assert 25 < sep["f50"] < 36  # separated data: inside the gap
    assert tf.logistic_f50([(0, 16, True, False)])["f50"] is None


def test_three_way_criterion():
    assert tf._criterion(1.0, 0.5, 1.5, (0.8, 1.2)) == "pass"
    assert tf._criterion(0.5, 0.4, 0.7, (0.8, 1.2)) == "fail"
    assert tf._criterion(0.7, 0.5, 0.9, (0.8, 1.2)) == "unresolved"
    assert tf._combine({"a": "pass", "b": "pass"}) == "reproduced"
    assert tf._combine({"a": "pass", "b": "fail", "c": "unresolved"}) == "not reproduced"
    assert tf._combine({"a": "pass", "b": "unresolved"}) == "inconclusive"
    assert tf._combine({}) == "inconclusive"


def test_boundary_fit_on_a_synthetic_linear_frontier():
    """Success iff y + x/2 ≥ 2300 on the authors' grid: the fitted line recovers the frontier within a grid cell."""
    Hs = [1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32]
    ms = [1, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128]
    frac = np.array([[float(32 * m + 256 * H / 2 >= 2300) for m in ms] for H in Hs])
    pts, below, above = tf._boundary(Hs, ms, frac, 32, 8)
    a, b, r2 = tf._line(pts)
    assert abs(b + 0.5) < 0.1 and abs(a - 2300) / 2300 < 0.1 and r2 > 0.95
    assert min(below) == 256 * 20 and not above  # attention-only from H = 20 (m = 1); every row has a boundary


def _facts_results(c_P, ds=(16, 32, 64), seeds=3, jitter=0.05):
    """Synthetic F2 run records for the (1, 1) mix: facts_99 = c_P·P (× seed jitter), linear scaling."""
    runs = []
    for d in ds:
        d_h, m = th.fact_sweep_shape(d, 1.0, 1.0, 8)
        P = th.transformer_param_counts(8, d_h, d, m)
        per_seed = []
        for i in range(seeds):
            size = max(2, int(math.sqrt(c_P * P.paper * (1 + jitter * (i - 1)))))
            per_seed.append({"seed": i, "lo": size, "hi": size + 1, "status": "resolved", "resolved": True,
                             "facts_99": size * size, "hi_facts": (size + 1) ** 2, "non_monotone": False})
        runs.append({"cells": [{"scaling": "linear", "alpha_att": 1.0, "beta_mlp": 1.0, "d": d, "H": 8, "d_h": d_h,
                                "m": m, "D": 8, "P_paper": P.paper, "P_trainable": P.trainable,
                                "P_storing": P.storing, "per_seed": per_seed, "trials": [], "rounds": 5, "grid": [],
                                "logistic": {"f50": None, "k": None, "n": 0}}]})
    return runs


@pytest.mark.parametrize("c_P,verdict", [(0.15, "reproduced"), (0.02, "not reproduced")])
def test_facts_judge_decides_at_the_paper_budget(c_P, verdict):
    cfg = tf.FactsConfig(mixes=[(1.0, 1.0)], d=[16, 32, 64], H=8, T=32, batch=1024, steps=16384, seeds=3)
    out = tf.facts_judge(cfg, _facts_results(c_P))
    assert out.verdict == verdict, out.reason
    pooled = out.measured["pooled"]["linear"]
    assert abs(pooled["c_P"] / c_P - 1) < 0.25 and pooled["c_P_ci"][0] <= pooled["c_P"] <= pooled["c_P_ci"][1]
    low_budget = tf.FactsConfig(mixes=[(1.0, 1.0)], d=[16, 32, 64], H=8, seeds=3)
    below = tf.facts_judge(low_budget, _facts_results(c_P))
    assert below.verdict == "inconclusive" and "budget" in below.reason


def _grid_results(cfg, stores):
    """Synthetic F3 run records: a cell stores iff ``stores(H, m)``."""
    runs = []
    for H in cfg.H:
        cells = [{"seed": i, "m": m, "x": cfg.d * cfg.d_h * H, "y": cfg.d * m, "success": stores(H, m),
                  "diverged": False, "test_acc": 1.0 if stores(H, m) else 0.5, "best_val_acc": 1.0,
                  "P_paper": 0, "by_lr": []} for i in range(cfg.seeds) for m in cfg.m]
        runs.append({"H": H, "d": cfg.d, "d_h": cfg.d_h, "S": cfg.S, "D": cfg.D, "cells": cells})
    return runs


def test_tradeoff_judges_decide_at_the_paper_configuration():
    c = all_claims()["memory.tradeoff_boundary"]
    from verify.profiles import resolve

    cfg = resolve(c.config, c.profiles, "paper", {}, c.id)
    paper_like = _grid_results(cfg, lambda H, m: H >= 6 and 32 * m + 128 * H >= 2300)
    out = tf.tradeoff_judge(cfg, paper_like)
    assert out.verdict == "reproduced", out.reason
    assert tf.attention_floor_judge(cfg, paper_like).verdict == "reproduced"
    mlp_only = _grid_results(cfg, lambda H, m: m >= 64)  # the MLP alone decides: no trade-off
    flat = tf.tradeoff_judge(cfg, mlp_only)
    assert flat.verdict == "not reproduced" and flat.measured["fit"]["x0"] > 1e6
    assert tf.attention_floor_judge(cfg, mlp_only).verdict == "not reproduced"


# ---- claims end to end -----------------------------------------------------------------------------------


def test_one_claim_per_spec_row():
    claims = all_claims()
    for cid, row in ROWS.items():
        c = claims[cid]
        assert c.source.startswith("associative_memory.md §") and c.source.endswith(f"claims row {row}")
        assert c.tolerance and (c.kind == "check") == (row in ("F0", "F1"))
    assert "paper" in claims["memory.facts_vs_params"].profiles


def test_paper_profile_is_the_paper_scale():
    from verify.profiles import resolve

    c = all_claims()["memory.facts_vs_params"]
    cfg = resolve(c.config, c.profiles, "paper", {}, c.id)
    assert (cfg.steps, cfg.batch, cfg.T, cfg.H, cfg.seeds) == (16384, 1024, 32, 8, 5)
    assert len(cfg.mixes) == 25 and cfg.d[0] == 8 and cfg.d[-1] == 181
    plan = c.plan(cfg)
    P = [th.transformer_param_count(p["H"], p["d_h"], p["d"], p["m"]) for p in plan]
    assert max(P) <= cfg.P_max and max(P) > 5e4 and all(p["d_h"] >= 1 for p in plan)
    assert all(p["scalings"] == ["linear", "square", "distinct"] for p in plan) and len(plan) == 180
    f3 = all_claims()["memory.tradeoff_boundary"]
    cfg3 = resolve(f3.config, f3.profiles, "paper", {}, f3.id)
    assert len(cfg3.H) == 13 and len(cfg3.m) == 13 and cfg3.S == 32 and cfg3.d == 32


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    yield from run_smoke(tmp_path_factory, *IDS)


def test_smoke_checks_pass_and_paper_claims_reach_an_honest_verdict(smoke):
    code, root = smoke
    stored = stored_verdicts(root)
    claims = all_claims()
    for cid in IDS:
        entry = stored[cid]
        if claims[cid].kind == "check":
            assert entry["verdict"] == "pass", (cid, entry["reason"])
        elif entry["verdict"] != "reproduced":
            assert entry["reason"], cid
    # the smoke budget cannot decide capacity claims: inconclusive, saying why
    for cid in ("memory.facts_vs_params", "memory.tradeoff_boundary", "memory.tradeoff_attention_floor"):
        assert stored[cid]["verdict"] == "inconclusive" and "budget" in stored[cid]["reason"], cid
    assert stored["memory.either_memory"]["verdict"] in ("reproduced", "not reproduced", "inconclusive")
    assert code == 1  # an inconclusive claim never counts as a pass
    f2 = stored["memory.facts_vs_params"]["measured"]
    curve = f2["curves"][0]
    assert len(curve["cells"]) == 2 and all(c["facts"] for c in curve["cells"])
    assert curve["slope_ci"][0] <= curve["slope"] <= curve["slope_ci"][1]
    assert curve["c_P_ci"][0] <= curve["c_P"] <= curve["c_P_ci"][1]


def test_smoke_figures_are_drawn_from_their_json(smoke):
    _, root = smoke
    claims = [c for c in all_claims().values() if c.id in IDS]
    assert {n for c in claims for n in c.figures} == {"memory_facts_vs_params", "memory_tradeoff_grid",
                                                     "memory_either_memory"}
    assert_figures(root, claims)

"""The SSA layer (verify.models.ssa) and the T1–T5 data (verify.tasks.selective): selective_attention.md §2.4, §5.

Equalities are checked in float64 at round-off (1e-12) and in float32 at the spec's 1e-6 (row C6), relative to
the output's scale; statistical checks use 5 SE of a binomial frequency.
"""

import math

import numpy as np
import pytest
import torch

import theory.selective as th
from verify.models import ssa
from verify.tasks import selective as tasks

F64 = torch.float64
TOL64 = 1e-12


def rel(a, b) -> float:
    a, b = a.detach().to(F64), b.detach().to(F64)
    return float((a - b).abs().max() / b.abs().max())


def randomize_gates(module, s=0.3, std=0.3, seed=0):
    """Non-trivial gates: w ~ N(0, std²/fan_in), b ~ N(0, std²), s set through its parametrization."""
    gen = torch.Generator().manual_seed(seed)
    gates = [m for m in module.modules() if isinstance(m, ssa.Temperatures)]
    with torch.no_grad():
        for name, p in [item for g in gates for item in g.named_parameters()]:
            if name.endswith("s_raw"):
                p.fill_(s)
            elif name.endswith("beta"):
                p.fill_(math.log(-math.log(s)))
            elif name.endswith("rho"):
                p.fill_(math.log(math.expm1(s)))
            else:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * std / math.sqrt(p.shape[-1]))
    return module


CONFIGS = [ssa.SSAConfig(preset=pr, s_param=sp, s_scope=sc, gate_input=gi, link=lk, s_init=0.1)
           for pr in ssa.PRESETS
           for sp, sc, gi, lk in (("dexp", "layer", "x", "tanh"), ("raw", "head", "head", "exp"),
                                  ("softplus", "layer", "head", "tanh"))]


def layer64(cfg, d_model=15, H=3, seed=0):
    return randomize_gates(ssa.SSAAttention(d_model, H, cfg=cfg, seed=seed), seed=seed).to(F64)


@pytest.fixture(scope="module")
def x64():
    return torch.randn(2, 13, 15, generator=torch.Generator().manual_seed(1), dtype=F64)


# --- pre-scaled fused path = naive row-scaled logits ------------------------------------------------------------

@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.preset}-{c.s_param}-{c.gate_input}-{c.link}")
def test_fused_equals_naive_and_cache_equals_full_float64(cfg, x64):
    layer = layer64(cfg)
    with torch.no_grad():
        full = layer(x64)
        assert rel(full, layer.forward_naive(x64)[0]) <= TOL64
        cache = layer.new_cache(2, 13)
        step = torch.cat([layer(x64[:, t:t + 1], cache) for t in range(13)], 1)
        assert cache.length == 13 and rel(step, full) <= TOL64
        cache = layer.new_cache(2, 20)  # spare slots must never be read
        chunked = torch.cat([layer(x64[:, :4], cache), layer(x64[:, 4:5], cache), layer(x64[:, 5:], cache)], 1)
        assert rel(chunked, full) <= TOL64


def test_fused_equals_naive_float32_at_spec_tolerance():
    x = torch.randn(3, 41, 24, generator=torch.Generator().manual_seed(2))
    for i, cfg in enumerate(CONFIGS):
        layer = randomize_gates(ssa.SSAAttention(24, 4, cfg=cfg, seed=i), seed=i)
        with torch.no_grad():
            assert rel(layer(x), layer.forward_naive(x)[0]) <= 1e-6, cfg


def test_official_chunk_length_rule_differs_only_with_a_position_part(x64):
    """§7.2: the official cache path takes n from the chunk (n = 1 for one token): log 1 = 0, no temperature."""
    for cfg in CONFIGS[::3]:
        layer = layer64(cfg)
        with torch.no_grad():
            full = layer(x64)
            cache = layer.new_cache(2, 13)
            chunk_n = torch.cat([layer(x64[:, t:t + 1], cache, positions=torch.zeros(1, dtype=torch.long))
                                 for t in range(13)], 1)
        if cfg.position:
            assert rel(chunk_n, full) > 1e-3, cfg.preset
        else:
            assert rel(chunk_n, full) <= TOL64, cfg.preset


def test_vanilla_preset_equals_torch_multihead_attention(x64):
    layer = ssa.SSAAttention(15, 3, seed=4).to(F64)
    mha = torch.nn.MultiheadAttention(15, 3, bias=False, batch_first=True).to(F64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([layer.W_q.weight, layer.W_k.weight, layer.W_v.weight]))
        mha.out_proj.weight.copy_(layer.W_o.weight)
        mask = torch.ones(13, 13, dtype=torch.bool).triu(1)
        assert rel(layer(x64), mha(x64, x64, x64, attn_mask=mask, need_weights=False)[0]) <= TOL64


def test_identity_at_init_and_official_s_semantics(x64):
    """Gates start at w = b = 0: `tok` and `value` equal vanilla exactly; s(β) = exp(−e^β) (§2.3); β = 10.5
    underflows s to 0, so `pos` is exactly vanilla."""
    base = ssa.SSAAttention(15, 3, seed=5).to(F64)
    with torch.no_grad():
        ref = base(x64)
        for preset in ("tok", "value", "pos+tok+value"):
            layer = ssa.SSAAttention(15, 3, cfg=ssa.SSAConfig(preset=preset, beta_init=10.5), seed=5).to(F64)
            assert torch.equal(layer(x64), ref), preset
        for beta in (2.0, 1.5):
            g = ssa.Temperatures(4, 2, 3, ssa.SSAConfig(preset="pos", beta_init=beta))
            assert abs(float(g.s()) / th.dexp_s(beta) - 1) <= 1e-6
        pos = ssa.SSAAttention(15, 3, cfg=ssa.SSAConfig(preset="pos", beta_init=2.0), seed=5).to(F64)
        assert 1e-6 < rel(pos(x64), ref) < 1e-2  # s = 6.18e-4: near but not exactly vanilla


def test_temperature_forms_and_ranges():
    cfg = ssa.SSAConfig(preset="pos+tok+value", s_param="raw", s_init=0.5)
    g = randomize_gates(ssa.Temperatures(6, 2, 4, cfg), s=0.5, std=5.0).to(F64)
    x = torch.randn(3, 9, 6, generator=torch.Generator().manual_seed(0), dtype=F64)
    v = torch.randn(3, 2, 9, 4, dtype=F64)
    n = torch.arange(1, 10)
    with torch.no_grad():
        tau_q, tau_v = g.query(x, v, n), g.value(x, v)
        z = torch.einsum("btf,hf->bht", x, g.w_q) + g.b_q.view(1, -1, 1)
    assert torch.allclose(tau_q, 1 + 0.5 * torch.log(n.to(F64)) + torch.tanh(z), rtol=0, atol=1e-14)
    assert bool((tau_v > 0).all() and (tau_v < 2).all()) and float(tau_v.min()) < 0.01  # can switch a value off
    softplus = ssa.Temperatures(6, 2, 4, ssa.SSAConfig(preset="pos", s_param="softplus", s_init=0.25))
    assert abs(float(softplus.s().detach()) - 0.25) <= 1e-7
    assert ssa.Temperatures(6, 2, 4, ssa.SSAConfig(preset="pos", s_scope="head")).s().shape == (2,)
    exp = ssa.Temperatures(6, 2, 4, ssa.SSAConfig(preset="tok", link="exp"))
    with torch.no_grad():
        exp.b_q.fill_(math.log(3.0))
    assert torch.allclose(exp.query(x.float(), v.float(), n), torch.full((3, 2, 9), 3.0))


def test_invalid_configs_and_inputs_raise():
    for kw in ({"preset": "pos+val"}, {"s_param": "sigmoid"}, {"link": "relu"}, {"s_scope": "block"},
               {"gate_input": "k"}, {"s_param": "softplus", "s_init": 0.0}, {"beta_init": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            ssa.SSAConfig(**kw)
    layer = ssa.SSAAttention(8, 2)
    with pytest.raises(ValueError, match="d_model"):
        layer(torch.zeros(1, 3, 7))
    with pytest.raises(ValueError, match="divisible"):
        ssa.SSAAttention(9, 2)
    cache = layer.new_cache(1, 4)
    layer(torch.zeros(1, 3, 8), cache)
    with pytest.raises(ValueError, match="overflow"):
        layer(torch.zeros(1, 2, 8), cache)
    gpt = ssa.SSAGPT(11, 8, 8, 1, 2)
    with pytest.raises(ValueError, match="context"):
        gpt(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="value temperature"):
        ssa.MarkovReadout(np.eye(4), 3, ssa.SSAConfig(preset="value"))
    with pytest.raises(ValueError, match="weight_decay"):
        ssa.param_groups(layer, lr=1e-3, gate_lr=1e-2, weight_decay=-1)


# --- models built on the layer -----------------------------------------------------------------------------------

def test_gpt_cached_decoding_equals_full_forward():
    cfg = ssa.SSAConfig(preset="pos+tok+value", s_param="raw", s_scope="head")
    gpt = randomize_gates(ssa.SSAGPT(17, 12, 12, 2, 3, cfg, seed=3), seed=3).to(F64)
    idx = torch.randint(17, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = gpt(idx)
        caches = gpt.new_caches(2)
        step = torch.cat([gpt(idx[:, :5], caches)] + [gpt(idx[:, t:t + 1], caches) for t in range(5, 12)], 1)
        naive, probs = gpt.forward_naive(idx)
    assert rel(step, full) <= TOL64 and rel(naive, full) <= TOL64
    assert len(probs) == 2 and torch.allclose(probs[0].sum(-1), torch.ones(2, 3, 12, dtype=F64))
    assert bool((probs[1].triu(1) == 0).all())  # causal


def test_needle_reader_and_markov_readout():
    reader = randomize_gates(ssa.NeedleReader(5, 4, 6, ssa.SSAConfig(preset="pos+tok+value", s_param="raw"),
                                              seed=1), seed=1).to(F64)
    b = tasks.needle_batch(3, 9, 5, 4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits, probs, z = reader.forward_naive(b.items.to(F64), b.query.to(F64))
        assert rel(reader(b.items.to(F64), b.query.to(F64)), logits) <= TOL64
    assert probs.shape == (3, 9) and torch.allclose(probs.sum(1), torch.ones(3, dtype=F64))
    E = np.stack([tasks.unit_embeddings(10, 4, s) for s in range(3)])
    pair = ssa.MarkovReadout(E, 5, ssa.SSAConfig(preset="pos+tok", s_param="raw", s_init=0.2), seeds=(0, 1, 2))
    lone = ssa.MarkovReadout(E[2], 5, ssa.SSAConfig(preset="pos+tok", s_param="raw", s_init=0.2), seeds=(2,))
    assert torch.equal(pair()[2], lone()[0])  # copies are independent problems
    van = ssa.MarkovReadout(E, 5, ssa.SSAConfig(), seeds=(0, 1, 2))
    pos = ssa.MarkovReadout(E, 5, ssa.SSAConfig(preset="pos", s_param="raw", s_init=0.2), seeds=(0, 1, 2))
    scale = 1 + 0.2 * math.log(10)  # n = K for every query: `pos` is vanilla with a global scale
    assert torch.allclose(pos(), torch.log_softmax(scale * van.pre_logits(), -1), atol=1e-6)


# --- parameter overhead (§2.5) -----------------------------------------------------------------------------------

def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("d,H,L", [(32, 4, 3), (24, 2, 5)])
def test_gate_parameters_match_the_overhead_arithmetic(d, H, L):
    def gpt(**kw):
        return ssa.SSAGPT(13, 16, d, L, H, ssa.SSAConfig(**kw))

    base = n_params(gpt())
    official = th.gate_parameter_count(d, H, L, "official")
    assert n_params(gpt(preset="pos")) - base == official
    assert n_params(gpt(preset="pos", s_scope="head")) - base == L * H
    assert n_params(gpt(preset="pos+tok+value")) - base == th.gate_parameter_count(d, H, L, "per_head_linear") \
        + official
    assert n_params(gpt(preset="pos+tok+value", gate_input="head")) - base == \
        th.gate_parameter_count(d, H, L, "per_head_shared") + official


def test_gpt2_small_gate_share_is_under_half_a_percent():
    """GPT-2 small (d = 768, H = 12, L = 12): per-head gates on x for q and v are 2L(dH + H) = 221,472 new
    parameters, 0.18% of 124.4M (§2.5)."""
    cfg = ssa.SSAConfig(preset="pos+tok+value")
    gates = sum(n_params(ssa.Temperatures(768, 12, 64, cfg)) for _ in range(12))
    assert gates == 221_472 + 12
    assert abs((gates - 12) / th.REFERENCE_MODELS["gpt2-small"]["params"]
               - th.parameter_overhead("per_head_linear", "gpt2-small")) < 1e-12
    assert (gates - 12) / 124.4e6 < 0.005


def test_param_groups_put_gates_alone_and_decay_only_wq_wk():
    model = ssa.NeedleReader(4, 3, 5, ssa.SSAConfig(preset="pos+tok"))
    groups = ssa.param_groups(model, lr=1e-3, gate_lr=1e-2, weight_decay=0.1, decay="qk")
    ids = [{id(p) for p in g["params"]} for g in groups]
    assert ids[0] == {id(model.W_q.weight), id(model.W_k.weight)} and groups[0]["weight_decay"] == 0.1
    assert ids[2] == {id(p) for p in model.gates.parameters()} and groups[2]["lr"] == 1e-2
    assert groups[2]["weight_decay"] == 0.0 and sum(map(len, ids)) == len(list(model.parameters()))


# --- data (§5) ---------------------------------------------------------------------------------------------------

def test_row_scaled_targets():
    t = tasks.row_scaled_targets(16, 4, 0)
    assert np.allclose(np.linalg.norm(t.E, axis=1), 1) and np.allclose(t.P.sum(1), 1)
    assert abs(np.max(np.abs(np.log(t.c))) - np.log(4)) < 1e-12 and t.c.min() >= 0.25 - 1e-12
    L = t.c[:, None] * (t.E @ t.M @ t.E.T)
    assert np.allclose(np.log(t.P) - np.log(t.P[:, :1]), L - L[:, :1])


def test_graphs():
    P = tasks.degree_graph([1, 1, 2, 2, 3, 3, 4, 4])
    assert np.array_equal((P > 0).sum(1), [1, 1, 2, 2, 3, 3, 4, 4]) and P[7, [0, 1, 2, 3]].tolist() == [0.25] * 4
    R = tasks.random_graph(32, [1, 2, 4, 8], 3)
    assert np.array_equal((R > 0).sum(1), tasks.cycled_degrees(32, [1, 2, 4, 8])) and np.all(np.diag(R) == 0)
    assert np.allclose(R.sum(1), 1)
    with pytest.raises(ValueError, match="degree"):
        tasks.cycled_degrees(4, [4])


def test_transition_sampler_matches_P_within_5_se():
    P = torch.tensor(np.stack([tasks.random_graph(12, [1, 3, 5], s) for s in range(2)]), dtype=torch.float32)
    i, j = tasks.sample_transitions(P, 60_000, torch.Generator().manual_seed(0))
    counts = torch.zeros(2, 12, 12)
    counts.index_put_((torch.arange(2).view(2, 1).expand_as(i), i, j), torch.ones(i.shape), accumulate=True)
    rows = counts.sum(-1, keepdim=True)
    freq = counts / rows
    se = torch.sqrt(P * (1 - P) / rows)
    assert bool((freq[P == 0] == 0).all())
    assert bool(((freq - P).abs() <= 5 * se + 1e-9).all())


def test_needle_batch_structure():
    b = tasks.needle_batch(5, 7, 3, 4, torch.Generator().manual_seed(0))
    rows = torch.arange(5)
    assert b.items.shape == (5, 7, 8) and b.query.shape == (5, 8)
    assert torch.equal(b.query[:, :3], b.items[rows, b.needle, :3]) and bool((b.query[:, -1] == 1).all())
    assert torch.equal(b.items[rows, b.needle, 3:7].argmax(1), b.answer)
    assert torch.allclose(b.items[..., :3].norm(dim=-1), torch.ones(5, 7))


def test_walk_recall_corpus():
    P = torch.tensor(tasks.random_graph(10, [1, 2, 3], 0), dtype=torch.float32)
    x, y = tasks.walk_recall_batch(P, 5, 6, 41, torch.Generator().manual_seed(0))
    seq = torch.cat([x, y[:, -1:]], 1)
    assert torch.equal(x[:, 1:], y[:, :-1]) and x.shape == (6, 41)
    keys, vals = seq[:, 0::2], seq[:, 1::2]
    assert bool((keys < 10).all() and (vals >= 10).all() and (vals < 15).all())
    assert bool((P[keys[:, :-1], keys[:, 1:]] > 0).all())  # keys walk along edges
    for b in range(6):  # one value per key within a sequence
        seen = {}
        for k, v in zip(keys[b].tolist(), vals[b].tolist()):
            assert seen.setdefault(k, v) == v


def test_accumulated_micro_batches_equal_one_batch():
    """§2.4 'standard accumulation': G micro-batches of loss/G then one step = one step on the whole batch."""
    from verify.experiments.selective.trained_common import _optimize

    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    out = []
    for micro in (1, 4):
        w = torch.nn.Parameter(torch.ones(3, dtype=F64))
        opt = torch.optim.SGD([w], lr=0.1)
        chunks = x.chunk(micro)
        _optimize(opt, lambda t, m: (chunks[m] @ w).square().mean(), 1, [], lambda t: None, micro=micro)
        out.append(w.detach())
    assert torch.allclose(out[0], out[1], rtol=0, atol=1e-14) and not torch.equal(out[0], torch.ones(3, dtype=F64))


@pytest.mark.gpu
def test_fused_bf16_on_cuda_matches_float64():
    x = torch.randn(2, 64, 48, generator=torch.Generator().manual_seed(0))
    for i, cfg in enumerate(CONFIGS):
        layer = randomize_gates(ssa.SSAAttention(48, 4, cfg=cfg, seed=i), seed=i).cuda().to(torch.bfloat16)
        xb = x.cuda().to(torch.bfloat16)
        with torch.no_grad():
            out = layer(xb)
            ref = layer.to(F64).forward_naive(xb.to(F64))[0]
        assert rel(out, ref) <= 1e-2, cfg

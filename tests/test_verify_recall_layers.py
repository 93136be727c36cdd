"""verify/ recall topic: torch update rules and trainable memory layers (test_time_memory.md §3, §3.3, §5.5).

Every torch rule equals its ``sim.recall`` recurrence in float64; every chunkwise form equals its recurrence;
every layer's mixer equals the sim rule on the layer's own features; layers are causal, train (finite gradients
for every parameter) and report the state sizes of §5.5.
"""

import math

import numpy as np
import pytest
import torch

import sim.recall as S
from verify.models import recall_layers as R
from verify.models.recall_base import MemoryLayer, ShortConv, l2norm

RTOL = 1e-10  # float64 round-off over ~10 tokens of O(1) arithmetic, with ample margin
LEAD, T, DK, DV = (2, 3), 13, 5, 4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spin-waiting on a shared, oversubscribed CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def rel(a, b):
    """max |a − b| / max |b| (float64)."""
    a, b = (np.asarray(x.detach().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float64) for x in (a, b))
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    d = {
        "q": unit(rng.standard_normal(LEAD + (T, DK))),
        "k": unit(rng.standard_normal(LEAD + (T, DK))),
        "v": rng.standard_normal(LEAD + (T, DV)),
        "gamma": rng.uniform(0.5, 1.0, LEAD + (T,)),
        "beta": rng.uniform(0.0, 1.0, LEAD + (T,)),
        "a": rng.uniform(0.5, 1.0, LEAD + (T, DK)),
        "beta_big": rng.uniform(0.0, 3.0, LEAD + (T,)),
        "alpha_small": rng.uniform(0.0, 0.2, LEAD + (T,)),
        "theta": rng.uniform(0.0, 0.5, LEAD + (T,)),
        "delta": rng.uniform(0.3, 2.0, LEAD + (T,)),
        "M0": rng.standard_normal(LEAD + (DV, DK)) * 0.3,
        "W0": rng.uniform(0.5, 1.5, LEAD + (DV, DK)),
    }
    d["t"] = {name: torch.tensor(x) for name, x in d.items()}
    return d


def _t(x):
    return torch.tensor(x)


# (sim rule, torch rule, arguments as functions of the data; decays in log space on the torch side)
RULES = {
    "linear_attention": (S.linear_attention, R.linear_attention, lambda d: ((), ())),
    "gla": (S.gated_linear_attention, R.gated_linear_attention,
            lambda d: ((d["gamma"], d["beta_big"]), (_t(np.log(d["gamma"])), _t(d["beta_big"])))),
    # RetNet: fixed γ per head (here per leading index), β = 1
    "retnet": (S.gated_linear_attention, R.gated_linear_attention,
               lambda d: ((np.array([[0.9], [0.97], [0.8]]),), (_t(np.log([[0.9], [0.97], [0.8]])),))),
    # Mamba2 / SSD: a_t = exp(−Δ_t e^{A_log}), write scaled by Δ_t
    "mamba2": (S.gated_linear_attention, R.gated_linear_attention,
               lambda d: ((np.exp(-1.5 * d["beta_big"]), d["beta_big"]),
                          (_t(-1.5 * d["beta_big"]), _t(d["beta_big"])))),
    "gla_channel": (S.gated_linear_attention_channel, R.gated_linear_attention_channel,
                    lambda d: ((d["a"],), (_t(np.log(d["a"])),))),
    "delta": (S.delta_rule, R.delta_rule, lambda d: ((d["beta"],), (_t(d["beta"]),))),
    "gdn": (S.gated_delta_rule, R.gated_delta_rule,
            lambda d: ((d["gamma"], d["beta"]), (_t(np.log(d["gamma"])), _t(d["beta"])))),
    "miras_delta": (S.miras_gated_delta_rule, R.miras_gated_delta_rule,
                    lambda d: ((d["gamma"], d["beta_big"] / 3), (_t(d["gamma"]), _t(d["beta_big"] / 3)))),
    "longhorn": (S.longhorn, R.longhorn, lambda d: ((d["beta_big"],), (_t(d["beta_big"]),))),
    "titans": (S.titans, R.titans,
               lambda d: ((d["alpha_small"], d["beta"], d["theta"]),
                          (_t(d["alpha_small"]), _t(d["beta"]), _t(d["theta"])))),
    "moneta": (S.moneta, R.moneta, lambda d: ((d["gamma"], d["beta"]), (_t(d["gamma"]), _t(d["beta"])))),
    "yaad": (S.yaad, R.yaad,
             lambda d: ((d["gamma"], d["beta"], d["delta"]), (_t(d["gamma"]), _t(d["beta"]), _t(d["delta"])))),
    "memora": (S.memora, R.memora,
               lambda d: ((d["gamma"], 3 * d["beta"]), (_t(d["gamma"]), _t(3 * d["beta"])))),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_equals_sim(name, data):
    """Outputs and final states of every §3 rule equal the numba reference (float64, awkward sizes)."""
    sim_rule, torch_rule, args = RULES[name]
    s_args, t_args = args(data)
    q, k, v = data["q"], data["k"], data["v"]
    tq, tk, tv = data["t"]["q"], data["t"]["k"], data["t"]["v"]
    o_ref, st_ref = sim_rule(q, k, v, *s_args, return_state=True)
    o, st = torch_rule(tq, tk, tv, *t_args, return_state=True)
    assert o.dtype == torch.float64 and o.shape == LEAD + (T, DV)
    assert rel(o, o_ref) < RTOL
    st_ref = st_ref if isinstance(st_ref, tuple) else (st_ref,)
    st = st if isinstance(st, tuple) else (st,)
    assert len(st) == len(st_ref)
    for a, b in zip(st, st_ref):
        assert rel(a, b) < RTOL


@pytest.mark.parametrize("name", ["gla", "delta", "gdn", "longhorn", "yaad", "memora"])
def test_rule_initial_state_and_single_token(name, data):
    """A given initial state and T = 1 follow the reference too."""
    sim_rule, torch_rule, args = RULES[name]
    s_args, t_args = args(data)
    M0 = data["W0"] if name == "memora" else data["M0"]
    for sl in (slice(None), slice(0, 1)):
        s_a = tuple(x[..., sl] for x in s_args)
        t_a = tuple(x[..., sl] for x in t_args)
        o_ref = sim_rule(data["q"][..., sl, :], data["k"][..., sl, :], data["v"][..., sl, :], *s_a,
                         initial_state=M0)
        o = torch_rule(data["t"]["q"][..., sl, :], data["t"]["k"][..., sl, :], data["t"]["v"][..., sl, :], *t_a,
                       initial_state=_t(M0))
        assert rel(o, o_ref) < RTOL


@pytest.mark.parametrize("option", [("moneta", {"retention_map": "mirror"}), ("moneta", {"p": 2.0, "q_norm": 3.0}),
                                    ("yaad", {"huber": "norm"}), ("memora", {"axis": "row", "c": 2.0}),
                                    ("memora", {"axis": "column"})])
def test_rule_options_equal_sim(option, data):
    """The non-default variants of §3.2 (mirror map, other p/q, norm-wise Huber, Memora slice axes)."""
    name, kw = option
    sim_rule, torch_rule, args = RULES[name]
    s_args, t_args = args(data)
    if kw.get("retention_map") == "mirror":  # the degree-1 map with p = 3 grows fast; small steps keep it bounded
        s_args = (s_args[0], 0.05 * s_args[1])
        t_args = (t_args[0], 0.05 * t_args[1])
    o_ref = sim_rule(data["q"], data["k"], data["v"], *s_args, **kw)
    o = torch_rule(data["t"]["q"], data["t"]["k"], data["t"]["v"], *t_args, **kw)
    assert np.all(np.isfinite(o_ref))
    assert rel(o, o_ref) < RTOL


def test_full_reset_gate(data):
    """log γ = −inf (γ = 0) resets the memory in the recurrences, as γ = 0 does in sim."""
    gamma = data["gamma"].copy()
    gamma[..., 6] = 0.0
    with np.errstate(divide="ignore"):
        lg = _t(np.log(gamma))
    t = data["t"]
    for s_rule, t_rule in ((S.gated_linear_attention, R.gated_linear_attention),
                           (S.gated_delta_rule, R.gated_delta_rule)):
        o_ref = s_rule(data["q"], data["k"], data["v"], gamma, data["beta"])
        assert rel(t_rule(t["q"], t["k"], t["v"], lg, t["beta"]), o_ref) < RTOL


def test_yaad_infinite_threshold_is_l2(data):
    """δ = inf: Yaad is the decayed ℓ2 rule, i.e. Miras-gated delta with the same gates."""
    t = data["t"]
    o = R.yaad(t["q"], t["k"], t["v"], t["gamma"], t["beta"], math.inf)
    o_ref = R.miras_gated_delta_rule(t["q"], t["k"], t["v"], t["gamma"], t["beta"])
    assert rel(o, o_ref) < RTOL


# ----------------------------------------------------------------------------------------------------------------
# chunkwise forms


CHUNKS = [1, 4, 5, T, 64]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_chunkwise_equals_recurrence(chunk, data):
    """Chunked LA/GLA (scalar and per channel) and UT-form DeltaNet/GDN equal their token loops, with an initial
    state, and the final states agree (§3.3)."""
    t = data["t"]
    q, k, v, M0 = t["q"], t["k"], t["v"], t["M0"]
    lg, la = torch.log(t["gamma"]), torch.log(t["a"])
    pairs = [
        (R.chunkwise_gated_linear_attention(q, k, v, lg, t["beta_big"], chunk=chunk, initial_state=M0,
                                            return_state=True),
         R.gated_linear_attention(q, k, v, lg, t["beta_big"], initial_state=M0, return_state=True)),
        (R.chunkwise_gated_linear_attention(q, k, v, chunk=chunk, return_state=True),
         R.linear_attention(q, k, v, return_state=True)),
        (R.chunkwise_gated_linear_attention_channel(q, k, v, la, chunk=chunk, initial_state=M0, return_state=True),
         R.gated_linear_attention_channel(q, k, v, la, initial_state=M0, return_state=True)),
        (R.chunkwise_delta_rule(q, k, v, t["beta"], chunk=chunk, initial_state=M0, return_state=True),
         R.delta_rule(q, k, v, t["beta"], initial_state=M0, return_state=True)),
        (R.chunkwise_gated_delta_rule(q, k, v, lg, t["beta"], chunk=chunk, initial_state=M0, return_state=True),
         R.gated_delta_rule(q, k, v, lg, t["beta"], initial_state=M0, return_state=True)),
    ]
    for (o_c, M_c), (o_r, M_r) in pairs:
        assert rel(o_c, o_r) < RTOL
        assert rel(M_c, M_r) < RTOL


def test_chunkwise_strong_decay_stays_finite():
    """Decays down to e^{-8} per token (cumulative e^{-128} in a chunk of 16): the pairwise exp(g_t − g_j) form
    stays finite in float32 and equals the float64 recurrence to float32 accuracy."""
    rng = np.random.default_rng(3)
    q = unit(rng.standard_normal((2, 40, 6)))
    k = unit(rng.standard_normal((2, 40, 6)))
    v = rng.standard_normal((2, 40, 3))
    la = -rng.uniform(0.0, 8.0, (2, 40, 6))
    lg = -rng.uniform(0.0, 8.0, (2, 40))
    beta = rng.uniform(0.0, 1.0, (2, 40))
    f32 = [torch.tensor(x, dtype=torch.float32) for x in (q, k, v, la, lg, beta)]
    f64 = [torch.tensor(x) for x in (q, k, v, la, lg, beta)]
    cases = [
        (R.chunkwise_gated_linear_attention_channel(*f32[:4], chunk=16),
         R.gated_linear_attention_channel(*f64[:4])),
        (R.chunkwise_gated_linear_attention(*f32[:3], f32[4], f32[5], chunk=16),
         R.gated_linear_attention(*f64[:3], f64[4], f64[5])),
        (R.chunkwise_gated_delta_rule(*f32[:3], f32[4], f32[5], chunk=16),
         R.gated_delta_rule(*f64[:3], f64[4], f64[5])),
    ]
    for o32, o64 in cases:
        assert torch.isfinite(o32).all()
        assert rel(o32, o64) < 1e-5


def test_longhorn_is_delta_with_rate(data):
    """Longhorn = delta rule with ε = β/(1 + β‖k‖²) (§3.1), also for non-unit keys."""
    t = data["t"]
    k = 1.7 * t["k"]
    eps = t["beta_big"] / (1.0 + t["beta_big"] * (k * k).sum(-1))
    o = R.longhorn(t["q"], k, t["v"], t["beta_big"])
    o_ref = S.longhorn(data["q"], 1.7 * data["k"], data["v"], data["beta_big"])
    assert rel(o, o_ref) < RTOL
    assert rel(R.chunkwise_delta_rule(t["q"], k, t["v"], eps, chunk=4), o_ref) < RTOL


# ----------------------------------------------------------------------------------------------------------------
# Titans MLP memory and softmax attention (no sim counterpart)


def test_titans_mlp_equals_autograd_reference():
    """The hand-written chain rule of ‖W1 gelu(W2 k) − v‖² inside the recurrence equals torch.autograd.grad at
    every token (float64)."""
    g = torch.Generator().manual_seed(0)
    B, n, dk, dv, dh = 2, 6, 3, 4, 5
    q = l2norm(torch.randn(B, n, dk, generator=g, dtype=torch.float64))
    k = l2norm(torch.randn(B, n, dk, generator=g, dtype=torch.float64))
    v = torch.randn(B, n, dv, generator=g, dtype=torch.float64)
    W1 = torch.randn(dv, dh, generator=g, dtype=torch.float64) / 2
    W2 = torch.randn(dh, dk, generator=g, dtype=torch.float64) / 2
    al = 0.2 * torch.rand(B, n, generator=g, dtype=torch.float64)
    et = torch.rand(B, n, generator=g, dtype=torch.float64)
    th = 0.3 * torch.rand(B, n, generator=g, dtype=torch.float64)
    o = R.titans_mlp(q, k, v, al, et, th, W1, W2)
    gelu = torch.nn.functional.gelu
    ref = torch.empty_like(o)
    for b in range(B):
        w1, w2 = W1.clone(), W2.clone()
        s1, s2 = torch.zeros_like(w1), torch.zeros_like(w2)
        for t in range(n):
            a, c = w1.clone().requires_grad_(), w2.clone().requires_grad_()
            g1, g2 = torch.autograd.grad(((a @ gelu(c @ k[b, t]) - v[b, t]) ** 2).sum(), (a, c))
            s1, s2 = et[b, t] * s1 - th[b, t] * g1, et[b, t] * s2 - th[b, t] * g2
            w1, w2 = (1 - al[b, t]) * w1 + s1, (1 - al[b, t]) * w2 + s2
            ref[b, t] = w1 @ gelu(w2 @ q[b, t])
    assert rel(o, ref) < RTOL


def test_softmax_attention_equals_explicit(data):
    t = data["t"]
    o = R.softmax_attention(t["q"], t["k"], t["v"])
    s = t["q"] @ t["k"].transpose(-1, -2) / math.sqrt(DK)
    s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), -math.inf)
    assert rel(o, torch.softmax(s, -1) @ t["v"]) < RTOL


# ----------------------------------------------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize("form", ["delta", "gdn"])
def test_gradcheck_chunkwise(form):
    """Finite-difference check of the UT-form backward (solve_triangular, masked log-space decays), chunk 2 of
    a 5-token sequence, w.r.t. q, k, v, β and the log decay."""
    g = torch.Generator().manual_seed(1)
    n, dk, dv = 5, 3, 2
    q = l2norm(torch.randn(n, dk, generator=g, dtype=torch.float64)).requires_grad_()
    k = l2norm(torch.randn(n, dk, generator=g, dtype=torch.float64)).requires_grad_()
    v = torch.randn(n, dv, generator=g, dtype=torch.float64).requires_grad_()
    beta = (0.2 + 0.6 * torch.rand(n, generator=g, dtype=torch.float64)).requires_grad_()
    lg = (-0.5 * torch.rand(n, generator=g, dtype=torch.float64)).requires_grad_()
    if form == "delta":
        assert torch.autograd.gradcheck(lambda *a: R.chunkwise_delta_rule(*a, chunk=2), (q, k, v, beta))
    else:
        assert torch.autograd.gradcheck(lambda *a: R.chunkwise_gated_delta_rule(*a, chunk=2), (q, k, v, lg, beta))


# ----------------------------------------------------------------------------------------------------------------
# layers


D_MODEL, HEADS, SEQ = 16, 2, 9


def _layer(name, dtype=torch.float32, seed=0, **kw):
    torch.manual_seed(seed)
    return R.LAYERS[name](D_MODEL, heads=HEADS, **kw).to(dtype)


def _x(dtype=torch.float32, seed=1, B=2, n=SEQ):
    return torch.randn(B, n, D_MODEL, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


def test_layers_registry():
    assert set(R.LAYERS) == {"attention", "linear_attention", "gla", "deltanet", "gdn", "longhorn", "titans",
                             "titans_mlp", "moneta", "yaad", "memora"}
    for cls in R.LAYERS.values():
        assert issubclass(cls, MemoryLayer)


@pytest.mark.parametrize("name", sorted(R.LAYERS))
def test_layer_trains_and_is_causal(name):
    """Forward [B, T, d_model] -> same shape; every parameter gets a finite, nonzero gradient; outputs before
    token 5 do not depend on tokens from 5 on."""
    layer = _layer(name)
    x = _x()
    y = layer(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    y.square().mean().backward()
    for pname, p in layer.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().max() > 0, pname
    x2 = x.clone()
    x2[:, 5:] += torch.randn(x2[:, 5:].shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        y2 = layer(x2)
    assert torch.equal(y2[:, :5], y.detach()[:, :5]) or rel(y2[:, :5], y.detach()[:, :5]) < 1e-6
    assert rel(y2[:, 5:], y.detach()[:, 5:]) > 1e-3


def _sim_mix(name, layer, f):
    """The sim.recall rule on the layer's own float64 features (gates mapped as each layer documents)."""
    n = {key: val.detach().numpy() for key, val in f.items()}
    q, k, v = n["q"], n["k"], n["v"]
    if name == "linear_attention":
        return S.linear_attention(q, k, v)
    if name == "gla":
        return S.gated_linear_attention_channel(q, k, v, np.exp(n["log_a"]))
    if name == "deltanet":
        return S.delta_rule(q, k, v, n["beta"])
    if name == "gdn":
        return S.gated_delta_rule(q, k, v, np.exp(n["log_gamma"]), n["beta"])
    if name == "longhorn":
        return S.longhorn(q, k, v, n["beta"])
    if name == "titans":
        return S.titans(q, k, v, -np.expm1(n["log_gamma"]), n["eta"], layer.theta_max * n["beta"])
    if name == "moneta":
        return S.moneta(q, k, v, np.exp(n["log_gamma"]), n["beta"], p=layer.p, q_norm=layer.q_norm)
    if name == "yaad":
        return S.yaad(q, k, v, np.exp(n["log_gamma"]), n["beta"], n["delta"])
    if name == "memora":
        return S.memora(q, k, v, np.exp(n["log_gamma"]), n["beta"], c=layer.c, axis=layer.axis)
    raise KeyError(name)


SIM_LAYERS = ["linear_attention", "gla", "deltanet", "gdn", "longhorn", "titans", "moneta", "yaad", "memora"]


@pytest.mark.parametrize("name", SIM_LAYERS)
def test_layer_mix_equals_sim(name):
    """In float64 the layer's mixer (chunkwise where it has one) equals the sim.recall recurrence on the same
    features, and the chunkwise and recurrent modes agree."""
    layer = _layer(name, torch.float64)
    with torch.no_grad():
        f = layer.features(_x(torch.float64, B=2, n=11))
        o = layer.mix(f)
        assert o.dtype == torch.float64 and o.shape == (2, HEADS, 11, layer.d_v)
        assert rel(o, _sim_mix(name, layer, f)) < RTOL
        if isinstance(layer, R._Chunkable):
            layer.mode, layer.chunk_size = "recurrent", 4
            o_rec = layer.mix(f)
            layer.mode = "chunk"
            assert rel(layer.mix(f), o_rec) < RTOL  # chunk 4 of 11 tokens: a short last chunk
            assert rel(o, o_rec) < RTOL


def test_layer_features_shapes_and_gates():
    layer = _layer("gdn", d_k=3)
    f = layer.features(_x())
    assert f["q"].shape == f["k"].shape == (2, HEADS, SEQ, 3)
    assert f["v"].shape == (2, HEADS, SEQ, D_MODEL // HEADS)
    assert f["beta"].shape == f["log_gamma"].shape == (2, HEADS, SEQ)
    nk = f["k"].norm(dim=-1)  # ‖x‖/sqrt(‖x‖² + 1e-6): just below 1
    assert (nk <= 1 + 1e-6).all() and nk.median() > 0.999
    assert ((f["beta"] > 0) & (f["beta"] < 1)).all() and (f["log_gamma"] < 0).all()
    assert "beta" not in _layer("linear_attention").features(_x())
    assert (_layer("longhorn").features(_x())["beta"] > 0).all()


def test_state_sizes():
    """§5.5: attention 2·d_model·L (KV cache); LA/GLA/DeltaNet/GDN/Longhorn/Yaad/Memora heads·d_k·d_v; Titans and
    Moneta twice that (momentum, accumulator); Titans-MLP twice its memory parameters."""
    L = 37
    dk = dv = D_MODEL // HEADS
    assert _layer("attention").state_size(L) == 2 * D_MODEL * L
    with pytest.raises(ValueError, match="seq_len"):
        _layer("attention").state_size()
    for name in ("linear_attention", "gla", "deltanet", "gdn", "longhorn", "yaad", "memora"):
        assert _layer(name).state_size() == HEADS * dk * dv
        assert _layer(name, d_k=3).state_size(L) == HEADS * 3 * dv
    for name in ("titans", "moneta"):
        assert _layer(name).state_size() == 2 * HEADS * dk * dv
    mlp = _layer("titans_mlp", d_k=4)
    assert mlp.state_size() == 2 * (mlp.W1_0.numel() + mlp.W2_0.numel()) == 2 * HEADS * (dv * 8 + 8 * 4)


def test_short_conv_and_l2norm():
    conv = ShortConv(3, 4)
    x = torch.randn(2, 10, 3)
    x2 = x.clone()
    x2[:, 6:] += 1.0
    assert torch.equal(conv(x)[:, :6], conv(x2)[:, :6])
    with torch.no_grad():
        conv.conv.weight.zero_()
        conv.conv.weight[:, 0, -1] = 1.0  # the last tap multiplies the current token
    assert torch.equal(conv(x), x)
    assert torch.allclose(l2norm(x).norm(dim=-1), torch.ones(()), atol=1e-5)


def test_conv_zero_and_double_precision():
    layer = _layer("deltanet", conv=0, output_norm=False)
    assert layer.q_conv is None and layer.o_norm is None
    layer = layer.double()
    assert layer(_x(torch.float64)).dtype == torch.float64


def test_bad_inputs_raise():
    t = torch.zeros(2, 3, 4)
    v = torch.zeros(2, 3, 5)
    with pytest.raises(ValueError, match="beta"):
        R.delta_rule(t, t, v, 1.5)
    with pytest.raises(ValueError, match="log_alpha"):
        R.gated_delta_rule(t, t, v, 0.1, 0.5)
    with pytest.raises(ValueError, match="k must"):
        R.delta_rule(t, torch.zeros(2, 3, 5), v, 0.5)
    with pytest.raises(ValueError, match="chunk"):
        R.chunkwise_delta_rule(t, t, v, 0.5, chunk=0)
    with pytest.raises(ValueError, match="retention_map"):
        R.moneta(t, t, v, 0.9, 0.1, retention_map="exact")
    with pytest.raises(ValueError, match="initial_state"):
        R.memora(t, t, v, 0.9, 0.1, initial_state=torch.zeros(5, 4))
    with pytest.raises(ValueError, match="d_model"):
        R.LAYERS["deltanet"](10, heads=3)
    with pytest.raises(ValueError, match="x must"):
        _layer("deltanet")(torch.zeros(2, 5, D_MODEL + 1))
    with pytest.raises(TypeError):
        MemoryLayer(8)


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(R.LAYERS))
def test_layer_cuda_matches_cpu(name):
    """The same layer on CUDA and CPU (float32): outputs and gradients agree to float32 accuracy."""
    layer = _layer(name)
    x = _x(n=64)
    y = layer(x)
    y.square().mean().backward()
    grads = {n: p.grad.clone() for n, p in layer.named_parameters()}
    layer.zero_grad()
    gpu = layer.to("cuda")
    yg = gpu(x.cuda())
    yg.square().mean().backward()
    assert rel(yg.cpu(), y) < 1e-4
    for n, p in gpu.named_parameters():
        assert rel(p.grad.cpu(), grads[n]) < 1e-3, n

"""Selective claims decided by the torch SSA layer and by full-batch training on exact targets
(selective_attention.md §5, §8 rows C6, C13, C14).

C6 is a check of the package's SSA layer (``verify.models.ssa``): the fused pre-scaled path equals the official
row-scaled logits, cached decoding equals the full forward. C13 (T1 row-scaled targets) and C14 (T2 exact degree
graph) are paper claims from models trained on their exact target distributions (no sampling noise), so a seed
fixes every number. Every gate form, initialization, optimizer and threshold that the spec leaves open is the
package's own choice (§2.4) and is stated in the claim's config or tolerance.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from verify.claims import Claim, Outcome, RunContext, check_verdict, paper_verdict, register
from verify.experiments.selective.common import SRC, _point_seed
from verify.experiments.selective.trained_common import F64, _cpu_threads, _grid, _optimize, _spearman
from verify.models import ssa
from verify.profiles import ClaimConfig
from verify.records import to_jsonable
from verify.tasks import selective as tasks


# --- C6: pre-scaling identity and cache path (check) ------------------------------------------------------------

class PrescaleConfig(ClaimConfig):
    """Random SSA layers (awkward sizes) with non-trivial gates: gate weights ~ N(0, gate_std²/fan_in), biases
    ~ N(0, gate_std²), s = ``s``."""

    d_model: int = 30
    n_heads: int = 3
    T: int = 37
    batch: int = 2
    gate_std: float = 0.25
    s: float = 0.3
    chunks: list[int] = [1, 5, 14, 17]
    gpt_layers: int = 2
    vocab: int = 29
    seed: int = 0


def _randomize_gates(module: torch.nn.Module, std: float, s: float, gen: torch.Generator) -> None:
    gates = [m for m in module.modules() if isinstance(m, ssa.Temperatures)]
    with torch.no_grad():
        for name, p in [item for g in gates for item in g.named_parameters()]:
            if name.endswith("s_raw"):
                p.fill_(s)
            elif name.endswith("beta"):
                p.fill_(math.log(-math.log(s)))
            elif name.endswith("rho"):
                p.fill_(math.log(math.expm1(s)))
            else:  # w·x then has std ``std`` for unit-variance inputs, so τ stays O(1)
                fan_in = p.shape[-1] if p.ndim > 1 else 1
                p.copy_(torch.randn(p.shape, generator=gen) * std / math.sqrt(fan_in))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a − b| / max |b| in float64: relative to the output's scale, so rescaling W_o changes nothing."""
    a, b = a.detach().to(F64), b.detach().to(F64)
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def prescale_plan(cfg: PrescaleConfig) -> list[dict]:
    return [cfg.model_dump()]


def prescale_run(p: dict, ctx: RunContext) -> dict:
    dev = torch.device(ctx.device)
    gen = torch.Generator().manual_seed(p["seed"])
    rows = []
    with _cpu_threads(dev):
        x64 = torch.randn(p["batch"], p["T"], p["d_model"], generator=gen, dtype=F64)
        for preset in ssa.PRESETS:
            for gate_input in ssa.GATE_INPUTS:
                for s_param, scope in (("dexp", "layer"), ("raw", "head"), ("softplus", "layer")):
                    cfg = ssa.SSAConfig(preset=preset, s_param=s_param, s_scope=scope, gate_input=gate_input,
                                        s_init=0.1, link="exp" if s_param == "softplus" else "tanh")
                    layer = ssa.SSAAttention(p["d_model"], p["n_heads"], cfg=cfg,
                                             seed=_point_seed(p["seed"], len(rows)))
                    _randomize_gates(layer, p["gate_std"], p["s"], gen)
                    rows.append(_layer_row(layer, x64, p, dev) | {"preset": preset, "gate_input": gate_input,
                                                                   "s_param": s_param, "link": cfg.link})
        extra = _model_checks(p, gen, x64, dev)
    return to_jsonable({"rows": rows, **extra})


def _layer_row(layer: ssa.SSAAttention, x64: torch.Tensor, p: dict, dev: torch.device) -> dict:
    with torch.no_grad():
        ref64 = layer.to(dev, F64).forward_naive(x64.to(dev))[0]
        q, k, _, tau = layer._project(x64.to(dev), torch.arange(x64.shape[1], device=dev))
        z = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1]) * (1.0 if tau is None else tau.unsqueeze(-1))
        max_logit = float(z.tril().abs().max())
        layer = layer.to(dev, torch.float32)
        x = x64.to(dev, torch.float32)
        fused, (naive, _) = layer(x), layer.forward_naive(x)
        T = x.shape[1]
        cache = layer.new_cache(x.shape[0], T)
        stepwise = torch.cat([layer(x[:, t:t + 1], cache) for t in range(T)], 1)
        cache, parts, start = layer.new_cache(x.shape[0], T), [], 0
        for c in p["chunks"] + [T]:
            end = min(T, start + c)
            if end > start:
                parts.append(layer(x[:, start:end], cache))
            start = end
        chunked = torch.cat(parts, 1)
        # the official cache path (§7.2): τ from the chunk length, i.e. n = 1 for one-token chunks
        cache = layer.new_cache(x.shape[0], T)
        official = torch.cat([layer(x[:, t:t + 1], cache, positions=torch.zeros(1, dtype=torch.long,
                                                                                  device=dev))
                              for t in range(T)], 1)
        bf = layer.to(torch.bfloat16)
        fused_bf16 = bf(x.to(torch.bfloat16))
        ref_bf16 = layer.to(F64).forward_naive(x.to(torch.bfloat16).to(F64))[0]
    return {"fused_vs_naive": _rel(fused, naive), "fused_vs_float64": _rel(fused, ref64),
            "stepwise_vs_full": _rel(stepwise, fused), "chunked_vs_full": _rel(chunked, fused),
            "official_cache_vs_full": _rel(official, fused), "bf16_vs_float64": _rel(fused_bf16, ref_bf16),
            "has_position": layer.gates.cfg.position, "max_logit": max_logit}


def _model_checks(p: dict, gen: torch.Generator, x64: torch.Tensor, dev: torch.device) -> dict:
    """Vanilla vs torch's MultiheadAttention; the GPT's cache; NeedleReader fused vs naive; T3's ``pos`` readout
    = (1 + s·log K)·vanilla logits with the same weights."""
    out = {}
    x = x64.to(dev, torch.float32)
    T = x.shape[1]
    van = ssa.SSAAttention(p["d_model"], p["n_heads"], seed=p["seed"]).to(dev)
    mha = torch.nn.MultiheadAttention(p["d_model"], p["n_heads"], bias=False, batch_first=True).to(dev)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([van.W_q.weight, van.W_k.weight, van.W_v.weight]))
        mha.out_proj.weight.copy_(van.W_o.weight)
        causal = torch.ones(T, T, dtype=torch.bool, device=dev).triu(1)
        out["vanilla_vs_torch_mha"] = _rel(van(x), mha(x, x, x, attn_mask=causal, need_weights=False)[0])

        cfg = ssa.SSAConfig(preset="pos+tok+value", s_param="raw", s_scope="head")
        gpt = ssa.SSAGPT(p["vocab"], T, p["d_model"], p["gpt_layers"], p["n_heads"], cfg, seed=p["seed"])
        _randomize_gates(gpt, p["gate_std"], p["s"], gen)
        gpt = gpt.to(dev)
        idx = torch.randint(p["vocab"], (x.shape[0], T), generator=gen).to(dev)
        full = gpt(idx)
        caches = gpt.new_caches(x.shape[0])
        out["gpt_stepwise_vs_full"] = _rel(torch.cat([gpt(idx[:, t:t + 1], caches) for t in range(T)], 1), full)
        out["gpt_fused_vs_naive"] = _rel(full, gpt.forward_naive(idx)[0])

        reader = ssa.NeedleReader(5, 4, 7, ssa.SSAConfig(preset="pos+tok+value", s_param="raw"), seed=p["seed"])
        _randomize_gates(reader, p["gate_std"], p["s"], gen)
        reader = reader.to(dev)
        g = torch.Generator(device=dev).manual_seed(p["seed"])
        b = tasks.needle_batch(3, 11, 5, 4, g)
        out["needle_fused_vs_naive"] = _rel(reader(b.items, b.query), reader.forward_naive(b.items, b.query)[0])

        E = np.stack([tasks.unit_embeddings(13, 6, p["seed"] + c) for c in range(2)])
        mv = ssa.MarkovReadout(E, 5, ssa.SSAConfig(), seeds=(p["seed"], p["seed"] + 1)).to(dev)
        mp = ssa.MarkovReadout(E, 5, ssa.SSAConfig(preset="pos", s_param="raw", s_init=p["s"]),
                               seeds=(p["seed"], p["seed"] + 1)).to(dev)
        scale = 1.0 + p["s"] * math.log(13)
        out["markov_pos_vs_scaled_vanilla"] = _rel(mp(), torch.log_softmax(scale * mv.pre_logits(), -1))
        # copies trained together = one by one: copy 1 of the pair equals a lone copy with the same seed and data
        lone = ssa.MarkovReadout(E[1], 5, ssa.SSAConfig(preset="pos", s_param="raw", s_init=p["s"]),
                                 seeds=(p["seed"] + 1,)).to(dev)
        out["markov_copy_vs_lone"] = _rel(mp()[1], lone()[0])
    return out


FP32_TOL, BF16_TOL, OFFICIAL_MIN = 1e-6, 1e-2, 1e-3


def prescale_judge(cfg: PrescaleConfig, results: list[dict]) -> Outcome:
    r = results[0]
    rows = r["rows"]
    fp32_keys = ("fused_vs_naive", "fused_vs_float64", "stepwise_vs_full", "chunked_vs_full")
    worst = {k: max(w[k] for w in rows) for k in fp32_keys + ("bf16_vs_float64",)}
    models = {k: r[k] for k in ("vanilla_vs_torch_mha", "gpt_stepwise_vs_full", "gpt_fused_vs_naive",
                                "needle_fused_vs_naive", "markov_pos_vs_scaled_vanilla", "markov_copy_vs_lone")}
    official = min(w["official_cache_vs_full"] for w in rows if w["has_position"])
    ok_fp32 = max(max(worst[k] for k in fp32_keys), max(models.values())) <= FP32_TOL
    ok_bf16 = worst["bf16_vs_float64"] <= BF16_TOL
    ok_official = official > OFFICIAL_MIN
    ok = ok_fp32 and ok_bf16 and ok_official
    bad = [f"{k} {v:.1e}" for k, v in {**worst, **models}.items()
           if v > (BF16_TOL if k.startswith("bf16") else FP32_TOL)]
    max_logit = max(w["max_logit"] for w in rows)
    return Outcome(
        verdict=check_verdict(ok),
        theory="(diag(τ_q)Q)Kᵀ = diag(τ_q)(QKᵀ) exactly; cached decoding with absolute positions = full forward",
        trained=f"{len(rows)} layer configs (6 presets × gate input × s form): fused vs naive "
                f"{worst['fused_vs_naive']:.1e}, cached vs full "
                f"{max(worst['stepwise_vs_full'], worst['chunked_vs_full']):.1e}, "
                f"bf16 {worst['bf16_vs_float64']:.1e}; vanilla vs torch MHA {models['vanilla_vs_torch_mha']:.1e}; "
                f"official chunk-length cache differs by ≥ {official:.2f}; logits |τ q·k/√d_h| ≤ {max_logit:.1f}",
        paper="fused attention on diag(τ_q)Q, diag(τ_v)V = naive row-scaled result; cached = full forward "
              "(1e-6 fp32, 1e-2 bf16)",
        reason="" if ok else ("; ".join(bad) + ("" if ok_official else
                                                f"; official cache rule differs by only {official:.1e}")),
        measured={"worst": worst, "models": models, "official_cache_min_diff": official,
                  "max_abs_logit": max_logit, "rows": rows})


register(Claim(
    id="selective.prescaled_attention", kind="check",
    title="SSA layer: pre-scaled fused attention = naive row-scaled logits; cached = full decoding",
    source=f"{SRC} §2.4, §7.2; claims row C6",
    tolerance="max |a − b| / max |b| ≤ 1e-6 in float32 for fused vs naive, fused vs float64 naive, "
              "token-by-token and chunked cached decoding vs the full forward (every preset, gate input x/head, "
              "s forms dexp/raw/softplus, tanh and exp links), vanilla vs torch.nn.MultiheadAttention, the GPT's "
              "cache and naive paths, the T4 reader, and T3 `pos` = (1 + s log K)·vanilla; ≤ 1e-2 in bfloat16 "
              "against float64 on the same rounded inputs; the official chunk-length cache rule must differ from "
              "the full forward by > 1e-3 wherever τ_pos is present (the check can tell them apart)",
    config=PrescaleConfig, plan=prescale_plan, run=prescale_run, judge=prescale_judge,
    profiles={"paper": {"d_model": 96, "n_heads": 6, "T": 129, "batch": 4, "chunks": [1, 7, 32, 50]}},
    uses_device=True))


# --- C13: T1 row-scaled targets ---------------------------------------------------------------------------------

T1_REF = {"K": 16, "d": 4, "vanilla_min": 0.03, "exp_max": 1e-4, "tanh_max": 2e-3, "tanh_step": 3000}
T1_MODELS = ("vanilla", "exp", "tanh")
T1_PAPER = ("vanilla KL ≥ 0.03 every seed; SSA(exp) ≤ 1e-4; tanh link ≤ 2e-3 at 3k steps (spec numerical check: "
            "vanilla 0.057/0.103/0.175, SSA(exp) ≤ 5e-9, tanh ≤ 1.4e-3)")


class RowScaledConfig(ClaimConfig):
    """T1 (§5): seed s draws target s (``row_scaled_targets``); W ~ N(0, W_std²), θ = 0; full-batch Adam."""

    K: list[int] = [16]
    d: list[int] = [4]
    models: list[Literal["vanilla", "exp", "tanh"]] = list(T1_MODELS)
    seeds: int = 3
    steps: int = 3000
    lr: float = 0.02
    W_std: float = 0.01
    init_seed: int = 0


def rowscaled_plan(cfg: RowScaledConfig) -> list[dict]:
    return [{"K": K, "d": d, "models": cfg.models, "seeds": cfg.seeds, "steps": cfg.steps, "lr": cfg.lr,
             "W_std": cfg.W_std, "init_seed": _point_seed(cfg.init_seed, K, d)} for K in cfg.K for d in cfg.d]


def rowscaled_run(p: dict, ctx: RunContext) -> dict:
    """Every model and seed of one (K, d) in one batch of M·S independent problems (rows m·S + s): Adam is
    elementwise and the parameters a model does not use get zero gradients, so this equals M·S separate runs.
    All models of a seed start from the same W."""
    dev = torch.device(ctx.device)
    S, K, d, models = p["seeds"], p["K"], p["d"], list(p["models"])
    M = len(models)
    targets = [tasks.row_scaled_targets(K, d, s) for s in range(S)]
    E = torch.tensor(np.stack([t.E for t in targets] * M), dtype=F64, device=dev)
    P = torch.tensor(np.stack([t.P for t in targets] * M), dtype=F64, device=dev)
    gen = torch.Generator().manual_seed(p["init_seed"])
    W = (p["W_std"] * torch.randn(S, d, d, generator=gen, dtype=F64)).repeat(M, 1, 1).to(dev).requires_grad_()
    theta = torch.zeros(M * S, d, 1, dtype=F64, device=dev, requires_grad=True)
    bias = torch.zeros(M * S, 1, 1, dtype=F64, device=dev, requires_grad=True)
    kind = torch.tensor([T1_MODELS.index(m) for m in models], device=dev).repeat_interleave(S).view(-1, 1, 1)

    def forward():
        z = E @ theta
        # §2.4 links: exp (no bias, as in the spec's T1 results) and tanh-additive with bias (τ_pos = 1 here)
        tau = torch.where(kind == 1, torch.exp(z), torch.where(kind == 2, 1.0 + torch.tanh(z + bias),
                                                               torch.ones_like(z)))
        log_s = torch.log_softmax(tau * (E @ W @ E.transpose(1, 2)), dim=-1)
        return tasks.excess_ce(P, log_s), log_s, tau[..., 0]

    rec = {"steps": [], "kl": [], "W_norm": []}

    def on_record(t):
        with torch.no_grad():
            kl = forward()[0]
        rec["steps"].append(t)
        rec["kl"].append(kl.view(M, S).cpu().numpy())
        rec["W_norm"].append(W.detach().flatten(1).norm(dim=1).view(M, S).cpu().numpy())

    with _cpu_threads(dev):
        opt = torch.optim.Adam([W, theta, bias], lr=p["lr"])
        out = _optimize(opt, lambda t, m: forward()[0].sum(), p["steps"], _grid(p["steps"], 120, [3000]),
                        on_record, progress=ctx.progress, desc="T1")
        with torch.no_grad():
            kl, log_s, tau = forward()
            l1 = (P - log_s.exp()).abs().sum(-1).mean(-1)
    runs = []
    for i, m in enumerate(models):
        curves = {"steps": rec["steps"], "kl": [x[i] for x in rec["kl"]], "W_norm": [x[i] for x in rec["W_norm"]]}
        sl = slice(i * S, (i + 1) * S)
        runs.append({"K": K, "d": d, "model": m, "seeds": S, "curves": curves, "kl": kl[sl], "l1": l1[sl],
                     "W_norm": rec["W_norm"][-1][i], "tau_min": tau[sl].min(1).values,
                     "tau_max": tau[sl].max(1).values})
    return to_jsonable({"runs": runs, "diverged": out["diverged"]})


def _at_step(r: dict, step: int):
    c = r["curves"]
    return np.asarray(c["kl"][c["steps"].index(step)]) if step in c["steps"] else None


def rowscaled_judge(cfg: RowScaledConfig, results: list[dict]) -> Outcome:
    diverged = any(r["diverged"] for r in results)
    results = [run for r in results for run in r["runs"]]
    ref = {r["model"]: r for r in results if (r["K"], r["d"]) == (T1_REF["K"], T1_REF["d"])}
    fig = {"runs": results, "ref": T1_REF}
    measured = {f"K={r['K']},d={r['d']},{r['model']}": {"kl_median": float(np.median(r["kl"])),
                                                        "kl_max": float(np.max(r["kl"])),
                                                        "W_norm_median": float(np.median(r["W_norm"]))}
                for r in results}
    if set(ref) != set(T1_MODELS) or diverged:
        return Outcome(verdict="inconclusive", reason="needs the three models at K = 16, d = 4 and finite runs",
                       paper=T1_PAPER,
                       measured=measured, figures={"selective_t1_curves": fig})
    tanh_kl = _at_step(ref["tanh"], T1_REF["tanh_step"])
    if tanh_kl is None:
        return Outcome(verdict="inconclusive", reason=f"the tanh run stops before step {T1_REF['tanh_step']}",
                       paper=T1_PAPER,
                       measured=measured, figures={"selective_t1_curves": fig})
    van, ex = np.asarray(ref["vanilla"]["kl"]), np.asarray(ref["exp"]["kl"])
    ok_v, ok_e, ok_t = bool(van.min() >= 0.03), bool(ex.max() <= 1e-4), bool(tanh_kl.max() <= 2e-3)
    ok = ok_v and ok_e and ok_t

    def fmt(a):
        return "/".join(f"{x:.3g}" for x in a)

    measured["reference"] = {"vanilla_kl": van, "exp_kl": ex, "tanh_kl_at_3000": tanh_kl,
                             "W_norm": {m: ref[m]["W_norm"] for m in T1_MODELS},
                             "tanh_tau_range": [min(ref["tanh"]["tau_min"]), max(ref["tanh"]["tau_max"])]}
    return Outcome(
        verdict=paper_verdict(ok),
        theory="vanilla rows are linear in e_i, so for K > d they cannot carry the row scales c_i; a query "
               "temperature can",
        trained=f"K=16, d=4, {ref['vanilla']['seeds']} seeds, {cfg.steps} Adam steps: vanilla KL {fmt(van)}; "
                f"SSA(exp) {fmt(ex)}; tanh at 3k {fmt(tanh_kl)}; ‖W‖_F vanilla {fmt(ref['vanilla']['W_norm'])}, "
                f"exp {fmt(ref['exp']['W_norm'])}, tanh {fmt(ref['tanh']['W_norm'])}",
        paper=T1_PAPER,
        reason="" if ok else "; ".join(x for x, good in ((f"vanilla min KL {van.min():.3g} < 0.03", ok_v),
                                                          (f"SSA(exp) max KL {ex.max():.3g} > 1e-4", ok_e),
                                                          (f"tanh max KL {tanh_kl.max():.3g} > 2e-3", ok_t))
                                       if not good),
        measured=measured, figures={"selective_t1_curves": fig})


register(Claim(
    id="selective.row_scaled_targets", kind="paper",
    title="T1: a query temperature fits row-scaled attention targets that vanilla attention cannot",
    source=f"{SRC} §5 T1; claims row C13",
    tolerance="at K = 16, d = 4, every seed: vanilla final mean-row KL ≥ 0.03, SSA (τ = exp(θ·e), no bias) final "
              "KL ≤ 1e-4, tanh-additive gate with bias KL ≤ 2e-3 at step 3000 (the spec's thresholds, as stated)",
    config=RowScaledConfig, plan=rowscaled_plan, run=rowscaled_run, judge=rowscaled_judge,
    figures=("selective_t1_curves",), uses_device=True,
    profiles={"paper": {"K": [8, 16, 32, 64], "d": [2, 4, 8], "seeds": 20, "steps": 20_000}}))


# --- C14: T2 exact degree graph ---------------------------------------------------------------------------------

T2_DEGREES = [1, 1, 2, 2, 3, 3, 4, 4]
T2_TABLE = {1000: {"vanilla_kl": 1.31e-2, "vanilla_W": 17.9, "ssa_kl": 8.0e-5, "ssa_W": 5.5},
            10000: {"vanilla_kl": 1.26e-3, "vanilla_W": 26.1, "ssa_kl": 4.5e-6, "ssa_W": 5.8},
            50000: {"vanilla_kl": 2.5e-4, "vanilla_W": 31.8, "ssa_kl": 6.7e-7, "ssa_W": 6.0}}
T2_FACTOR = 2.0
T2_PAPER = ("at 1k steps SSA KL ≤ 1e-3 vs vanilla ≥ 5e-3; SSA ‖W‖_F ≤ vanilla/2.5 at 1k/10k/50k (table: 1.31e-2/17.9 "
            "vs 8.0e-5/5.5 at 1k; 1.26e-3/26.1 vs 4.5e-6/5.8 at 10k; 2.5e-4/31.8 vs 6.7e-7/6.0 at 50k); "
            "Spearman(deg, τ) ≈ −0.6 with decay on W (K = 16)")


def _ratio_ok(measured: float, ref: float, factor: float) -> bool:
    return measured > 0 and ref / factor <= measured <= ref * factor


class DegreeGraphConfig(ClaimConfig):
    """T2 (§5): W = 0, θ = 0, full-batch GD on the mean-over-rows CE. Decay runs (SSA only): K = ``decay_K`` with
    degrees cycling through ``decay_degrees`` and L2 decay (λ/2)‖W‖²_F on W only (package choice of values)."""

    degrees: list[int] = T2_DEGREES
    checkpoints: list[int] = [1000, 10000]
    lr: float = 1.0
    decay_K: int = 16
    decay_degrees: list[int] = [1, 2, 4, 8]
    decays: list[float] = []


class _RowTemperatureLogits(torch.nn.Module):
    """T2 logits [B, K, K] of B independent problems: W_b (vanilla) or diag(exp θ_b)·W_b (SSA), W = 0 and θ = 0
    at init. A vanilla problem's θ never enters its logits, so it gets zero gradient and stays 0."""

    def __init__(self, K: int, ssa_rows: list[bool]):
        super().__init__()
        B = len(ssa_rows)
        self.W = torch.nn.Parameter(torch.zeros(B, K, K, dtype=F64))
        self.theta = torch.nn.Parameter(torch.zeros(B, K, dtype=F64))
        self.register_buffer("mask", torch.tensor(ssa_rows, dtype=F64).view(B, 1))

    def tau(self) -> torch.Tensor:
        return torch.exp(self.mask * self.theta)

    def forward(self):
        return self.tau()[..., None] * self.W


def degree_plan(cfg: DegreeGraphConfig) -> list[dict]:
    base = {"checkpoints": sorted(cfg.checkpoints), "steps": max(cfg.checkpoints), "lr": cfg.lr}
    runs = [{"models": ["vanilla", "ssa"], "degrees": cfg.degrees, "decays": [0.0, 0.0], **base}]
    if cfg.decays:
        deg = tasks.cycled_degrees(cfg.decay_K, cfg.decay_degrees).tolist()
        runs.append({"models": ["ssa"] * len(cfg.decays), "degrees": deg, "decays": cfg.decays, **base})
    return runs


def degree_run(p: dict, ctx: RunContext) -> dict:
    """The problems of one graph batched (independent under GD on the summed loss); records after t updates."""
    from verify.train import train

    dev = torch.device(ctx.device)
    P = torch.tensor(tasks.degree_graph(p["degrees"]), dtype=F64, device=dev)
    H = float(-(P * torch.log(P.clamp_min(1e-300))).sum(1).mean())
    model = _RowTemperatureLogits(P.shape[0], [m == "ssa" for m in p["models"]]).to(dev)
    lam = torch.tensor(p["decays"], dtype=F64, device=dev)

    def loss_fn(m):
        ce = -(P * torch.log_softmax(m(), dim=-1)).sum(-1).mean(-1)
        return (ce + 0.5 * lam * m.W.square().sum((1, 2))).sum()

    def stats(t, m):
        with torch.no_grad():
            return {"kl": tasks.excess_ce(P, torch.log_softmax(m(), -1)), "W_norm": m.W.flatten(1).norm(dim=1),
                    "tau": m.tau()}

    g = math.gcd(*p["checkpoints"])
    every = max(r for r in range(1, g + 1) if g % r == 0 and r <= max(1, p["steps"] // 400))
    with _cpu_threads(dev):
        res = train(model, loss_fn, p["steps"] + 1, p["lr"], record_every=every, callbacks=[stats],
                    progress=ctx.progress)
    steps = res.steps.tolist()
    kl, W_norm, tau = (np.asarray(res.records[k]) for k in ("kl", "W_norm", "tau"))
    deg = np.asarray(p["degrees"])
    runs = []
    for b, (m, lam_b) in enumerate(zip(p["models"], p["decays"])):
        at = {str(c): {"kl": kl[steps.index(c), b], "W_norm": W_norm[steps.index(c), b],
                       "tau": tau[steps.index(c), b]} for c in p["checkpoints"] if c in steps}
        runs.append({"model": m, "degrees": p["degrees"], "decay": lam_b, "entropy": H,
                     "curve": {"steps": steps, "kl": kl[:, b], "W_norm": W_norm[:, b]}, "checkpoints": at,
                     "tau_final": tau[-1, b],
                     "spearman_deg_tau": _spearman(deg, tau[-1, b]) if m == "ssa" else None})
    return to_jsonable({"runs": runs, "diverged": bool(res.diverged)})


def degree_judge(cfg: DegreeGraphConfig, results: list[dict]) -> Outcome:
    diverged = any(r["diverged"] for r in results)
    results = [run for r in results for run in r["runs"]]
    ref = {r["model"]: r for r in results if r["decay"] == 0 and r["degrees"] == T2_DEGREES}
    decay = [{"decay": r["decay"], "K": len(r["degrees"]), "degrees": r["degrees"],
              "spearman": r["spearman_deg_tau"], "tau_final": r["tau_final"]} for r in results if r["decay"] > 0]
    fig = {"runs": [r for r in results if r["decay"] == 0], "decay": decay,
           "table": {str(k): v for k, v in T2_TABLE.items()},
           "degrees": cfg.degrees}
    if set(ref) != {"vanilla", "ssa"} or diverged or \
            "1000" not in ref["ssa"]["checkpoints"]:
        return Outcome(verdict="inconclusive", paper=T2_PAPER, reason="needs finite vanilla and SSA runs on degrees "
                       "(1,1,2,2,3,3,4,4) with a 1000-step checkpoint", figures={"selective_t2_curves": fig})
    v, s = ref["vanilla"]["checkpoints"], ref["ssa"]["checkpoints"]
    rows, ok_table = [], True
    for c, tab in T2_TABLE.items():
        if str(c) not in v:
            continue
        vals = {"vanilla_kl": v[str(c)]["kl"], "vanilla_W": v[str(c)]["W_norm"], "ssa_kl": s[str(c)]["kl"],
                "ssa_W": s[str(c)]["W_norm"]}
        good = {k: _ratio_ok(vals[k], tab[k], T2_FACTOR) for k in tab}
        ok_table &= all(good.values())
        rows.append({"step": c, **vals, "norm_ratio": vals["vanilla_W"] / vals["ssa_W"], "within_factor_2": good})
    ok_kl = s["1000"]["kl"] <= 1e-3 and v["1000"]["kl"] >= 5e-3
    ok_norm = all(w["norm_ratio"] >= 2.5 for w in rows)
    ok = ok_kl and ok_norm and ok_table
    fmt = "; ".join(f"{w['step']}: vanilla KL {w['vanilla_kl']:.3g} ‖W‖ {w['vanilla_W']:.1f}, SSA KL "
                    f"{w['ssa_kl']:.2g} ‖W‖ {w['ssa_W']:.1f}" for w in rows)
    sp = ", ".join(f"λ={x['decay']:g}: {x['spearman']:.2f}" for x in decay if x["spearman"] is not None)
    reason = "" if ok else "; ".join(t for t, good in (
        (f"1k-step KL SSA {s['1000']['kl']:.2g} (≤ 1e-3) / vanilla {v['1000']['kl']:.2g} (≥ 5e-3)", ok_kl),
        ("norm ratio " + ", ".join(f"{w['norm_ratio']:.2f}" for w in rows) + " (≥ 2.5)", ok_norm),
        ("a value off the §5 table by more than a factor 2", ok_table)) if not good)
    return Outcome(
        verdict=paper_verdict(ok),
        theory="sparse rows need unbounded logits: vanilla grows ‖W‖ (≈ log t), SSA moves the scale into τ",
        trained=f"GD lr {cfg.lr:g}: {fmt}" + (f"; K=16 decay runs Spearman(deg, τ) {sp}" if sp else ""),
        paper=T2_PAPER,
        reason=reason, measured={"checkpoints": rows, "decay_runs": decay,
                                 "tau_1k_ssa": s["1000"]["tau"]},
        figures={"selective_t2_curves": fig})


register(Claim(
    id="selective.degree_graph", kind="paper",
    title="T2: on the exact degree graph SSA reaches low KL faster and with a 2.5× smaller ‖W‖",
    source=f"{SRC} §5 T2; claims row C14",
    tolerance="at 1000 GD steps SSA KL ≤ 1e-3 and vanilla KL ≥ 5e-3; vanilla ‖W‖_F / SSA ‖W‖_F ≥ 2.5 at every "
              "checkpoint among 1k/10k/50k; every KL and ‖W‖_F of the §5 T2 table at those checkpoints within a "
              "factor 2 (the row's tolerance); the K = 16 decay runs' Spearman(deg, τ) is reported, not judged "
              "(the spec did not record its decay value)",
    config=DegreeGraphConfig, plan=degree_plan, run=degree_run, judge=degree_judge,
    figures=("selective_t2_curves",), uses_device=True,
    profiles={"paper": {"checkpoints": [1000, 10000, 50000], "decays": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}}))

"""Recall claims on Mesa numerics (test_time_memory.md §9 rows 34, 35; experiment X8 of §10): low-precision Mesa
states, emulated by rounding H and G after every token, and the fla kernel test, run only where fla is importable on
a GPU."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from verify.claims import Claim, Outcome, RunContext, paper_verdict, register
from verify.profiles import ClaimConfig

from verify.experiments.recall.common import SRC, _g
from verify.experiments.recall.mqar import on_cpu_threads



class PrecisionConfig(ClaimConfig):
    """X8 (§10): Mesa states H, G stored in each precision (rounded after every token; ``native``: the update
    arithmetic itself in that precision), T tokens, d = d_k = d_v, unnormalised values v = scale·z, z ~ N(0, I),
    β = σ(N(0, 1)), keys and queries either isotropic unit vectors or the layer's own map L2(SiLU(z)); the solve
    is fp32 CG (tol, step cap) at ``n_eval`` tokens spread over the sequence, λ scalar per case.

    ``train_precisions`` (paper profile): also one short MQAR training run of the Mesa model per precision of its
    chunk-start states (the states a chunked kernel stores), on (L, N) = (``train_seq_len``, ``train_pairs``);
    a run that meets a non-finite loss counts as a failure of its precision."""

    T: list[int] = [4096]
    d: int = 64
    v_scales: list[float] = [1.0, 10.0, 100.0]
    gammas: list[float] = [0.99, 0.999]
    lams: list[float] = [0.25, 1.0]
    precisions: list[Literal["float16", "bfloat16", "float32"]] = ["float16", "bfloat16", "float32"]
    keys: list[Literal["isotropic", "silu"]] = ["isotropic", "silu"]
    native: bool = False
    n_eval: int = 128
    tol: float = 1e-5
    max_steps: int = 30
    seed: int = 0
    train_precisions: list[Literal["float16", "bfloat16", "float32"]] = []
    train_vocab: int = 8192
    train_seq_len: int = 256
    train_pairs: int = 16
    train_examples: int = 20_000
    train_epochs: int = 4
    train_d_model: int = 64
    train_lr: float = 1e-3
    train_batch: int = 256


PRECISION_PAPER = {"T": [4096, 16384], "native": True, "n_eval": 512,
                   "train_precisions": ["float16", "bfloat16", "float32"]}


def precision_plan(cfg: PrecisionConfig) -> list[dict]:
    runs = [{"kind": "precision", "T": T, "d": cfg.d, "v_scales": cfg.v_scales, "gammas": cfg.gammas,
             "lams": cfg.lams, "precisions": cfg.precisions, "keys": cfg.keys, "native": cfg.native,
             "n_eval": cfg.n_eval, "tol": cfg.tol, "max_steps": cfg.max_steps, "seed": cfg.seed} for T in cfg.T]
    if cfg.train_precisions:
        from verify.experiments.recall.mqar import TrainSettings, _train_params

        ts = TrainSettings(batch=cfg.train_batch, test_batch=cfg.train_batch, epochs=cfg.train_epochs,
                           seeds=1, mode="modern", mesa_max_steps=cfg.max_steps, mesa_tol=cfg.tol, mesa_chunk=64)
        seg = (cfg.train_seq_len, cfg.train_pairs)
        runs += [_train_params(ts, mixer="mesa", vocab=cfg.train_vocab, d_model=cfg.train_d_model, lr=cfg.train_lr,
                               seed=cfg.seed, train=[seg + (cfg.train_examples,)], test=[seg + (1000,)],
                               state_dtype=prec) for prec in cfg.train_precisions]
    return runs


def _precision_inputs(p: dict, dev):
    """Keys, queries (per key kind), values, gates [B, 1, T, ·] for the cases (key kind, v scale, γ); the same
    draws for every precision."""
    import torch

    T, d = p["T"], p["d"]
    gen = torch.Generator().manual_seed(p["seed"] * 1_000_003 + T)
    z_k = torch.randn(T, d, generator=gen, dtype=torch.float64)
    z_q = torch.randn(T, d, generator=gen, dtype=torch.float64)
    z_v = torch.randn(T, d, generator=gen, dtype=torch.float64)
    beta = torch.sigmoid(torch.randn(T, generator=gen, dtype=torch.float64))

    def unit(z, kind):
        z = torch.nn.functional.silu(z) if kind == "silu" else z
        return z / z.norm(dim=-1, keepdim=True)

    cases = [(kk, sc, g) for kk in p["keys"] for sc in p["v_scales"] for g in p["gammas"]]
    K = torch.stack([unit(z_k, kk) for kk, _, _ in cases])[:, None].to(dev)
    Q = torch.stack([unit(z_q, kk) for kk, _, _ in cases])[:, None].to(dev)
    V = torch.stack([sc * z_v for _, sc, _ in cases])[:, None].to(dev)
    LG = torch.stack([torch.full((T,), math.log(g), dtype=torch.float64) for _, _, g in cases])[:, None].to(dev)
    BE = beta.expand(len(cases), 1, T).to(dev)
    return cases, K, Q, V, LG, BE


def _precision_run(p: dict, ctx: RunContext) -> dict:
    """X8: per precision, the stored states at ``n_eval`` tokens; λ_min(H + λI), fp32 CG on the stored system
    (breakdowns, capped solves), outputs G q* (non-finite count, median error against the float64 exact read)."""
    import torch

    from verify.device import resolve_device
    from verify.models.mesa import cg, mesa_state_trace

    dev = resolve_device(ctx.device)
    d = p["d"]
    cases, K, Q, V, LG, BE = _precision_inputs(p, dev)
    at = np.unique(np.linspace(0, p["T"] - 1, p["n_eval"]).round().astype(int)).tolist()
    H_ref, G_ref = mesa_state_trace(K, V, LG, BE, at)
    Qa = Q[:, :, at]
    eye = torch.eye(d, dtype=torch.float64, device=dev)
    out = {"params": p, "cases": [], "at": at}
    for prec in p["precisions"]:
        H, G = mesa_state_trace(K, V, LG, BE, at, state_dtype=prec, native=p["native"])
        finite_state = torch.isfinite(H).flatten(-2).all(-1) & torch.isfinite(G).flatten(-2).all(-1)
        for lam in p["lams"]:
            A = H + lam * eye
            A_ref = H_ref + lam * eye
            Asym = torch.where(finite_state[..., None, None], 0.5 * (A + A.transpose(-1, -2)), eye)
            ev_min = torch.where(finite_state, torch.linalg.eigvalsh(Asym)[..., 0], torch.nan)
            A32 = A.float()
            x, info = cg(lambda P, A32=A32: (A32 @ P[..., None])[..., 0], Qa.float(),
                         torch.diagonal(A32, dim1=-2, dim2=-1), p["tol"], p["max_steps"], "zero")
            o = (G.float() @ x[..., None])[..., 0]
            o_ref = (G_ref @ torch.linalg.solve(A_ref, Qa[..., None]))[..., 0]
            finite_o = torch.isfinite(o).all(-1)
            err = (o.double() - o_ref).norm(dim=-1) / o_ref.norm(dim=-1).clamp_min(1e-300)
            for i, (kk, sc, g) in enumerate(cases):
                fo, ev = finite_o[i, 0], ev_min[i, 0]
                out["cases"].append({
                    "precision": prec, "keys": kk, "v_scale": sc, "gamma": g, "lam": lam, "T": p["T"],
                    "min_eig": float(ev[torch.isfinite(ev)].min()) if torch.isfinite(ev).any() else None,
                    "non_pd": int((ev <= 0).sum()), "nonfinite_state": int((~finite_state[i, 0]).sum()),
                    "breakdowns": int(info.breakdown[i, 0].sum()), "nonfinite_out": int((~fo).sum()),
                    "capped": int((info.steps[i, 0] >= p["max_steps"]).sum()),
                    "median_rel_err": float(err[i, 0][fo].median()) if fo.any() else None,
                    "max_abs_G": float(G_ref[i, 0].abs().max()), "min_eig_trace": ev.cpu().numpy()})
    return out


def _failure(c: dict) -> bool:
    return c["non_pd"] > 0 or c["breakdowns"] > 0 or c["nonfinite_out"] > 0 or c["nonfinite_state"] > 0


def precision_judge(cfg: PrecisionConfig, results: list[dict]) -> Outcome:
    trains = [r for r in results if "history" in r]
    results = [r for r in results if "cases" in r]
    rows = [c for r in results for c in r["cases"]]
    summary = {}
    for prec in cfg.precisions:
        sub = [c for c in rows if c["precision"] == prec]
        summary[prec] = {"cases": len(sub), "failing_cases": sum(_failure(c) for c in sub),
                         "non_pd_tokens": sum(c["non_pd"] for c in sub),
                         "breakdowns": sum(c["breakdowns"] for c in sub),
                         "nonfinite_out": sum(c["nonfinite_out"] for c in sub),
                         "nonfinite_state": sum(c["nonfinite_state"] for c in sub),
                         "worst_median_rel_err": max((c["median_rel_err"] for c in sub
                                                      if c["median_rel_err"] is not None), default=None)}
    fig = {"recall_mqar_precision": {"rows": [{k: v for k, v in c.items()} for c in rows],
                                     "at": results[0]["at"] if results else [], "d": cfg.d}}
    have = {"float16", "float32"} <= set(cfg.precisions)
    long_enough = max(cfg.T) >= 4096 and max(cfg.v_scales) >= 10
    if not (have and long_enough):
        return Outcome(verdict="inconclusive", measured=summary, figures=fig,
                       reason="needs fp16 and fp32, T ≥ 4096 and unnormalised v (scale ≥ 10)")
    for r in trains:  # a short training run with low-precision chunk states: divergence is a failure
        prec = r["params"]["layer"]["state_dtype"]
        v = summary.setdefault(prec, {"cases": 0, "failing_cases": 0, "non_pd_tokens": 0, "breakdowns": 0,
                                      "nonfinite_out": 0, "nonfinite_state": 0, "worst_median_rel_err": None})
        v["training"] = {"diverged": r["diverged"], "updates": r["n_updates"], "best_acc": r["best_acc"]}
        v["cases"] += 1
        v["failing_cases"] += int(r["diverged"])
    fp16_fails = summary["float16"]["failing_cases"] > 0
    fp32_clean = summary["float32"]["failing_cases"] == 0
    ok = fp16_fails and fp32_clean
    for prec, v in summary.items():
        eig = [c["min_eig"] for c in rows if c["precision"] == prec and c["min_eig"] is not None]
        v["min_eig"] = min(eig) if eig else None
    text = "; ".join(f"{k}: {v['failing_cases']}/{v['cases']} cases fail (non-PD tokens {v['non_pd_tokens']}, "
                     f"breakdowns {v['breakdowns']}, non-finite outputs {v['nonfinite_out']}), min λ_min(H+λI) "
                     f"{_g(v['min_eig'], 3)}, worst median read-out error {_g(v['worst_median_rel_err'])}"
                     for k, v in summary.items())
    how = ("native arithmetic" if cfg.native else "states rounded after every token") + ", fp32 CG, λ ∈ " \
        + "{" + ", ".join(f"{x:g}" for x in cfg.lams) + "}"
    return Outcome(verdict=paper_verdict(ok), sim=f"{how}: {text}",
                   paper="fp16 states can give non-PD H / CG breakdown / NaN; fp32 not [secondary]",
                   reason="" if ok else (f"no fp16 case failed on this grid ({how}): the stored H + λI stayed "
                                         "positive definite, G finite" if not fp16_fails else "an fp32 case failed"),
                   measured=summary, figures=fig)


# ================================================================================================================
# row 35 — the fla kernel test


class FlaConfig(ClaimConfig):
    """Row 35: fla's ``chunk_mesa_net`` against ``naive_mesa_net_exact`` (fp16 inputs, max_CG_iteration = D) on the
    fla test shapes [B, T, H, D]; the same recipe is also run through capdyn's own chunkwise Mesa (fp32 CG with
    exactly D steps, implicit backward) against its float64 exact solve, as context."""

    shapes: list[tuple[int, int, int, int]] = [(1, 63, 1, 64)]
    gate_range: tuple[float, float] = (0.8, 0.99)
    seed: int = 42


FLA_PAPER = {"shapes": [(1, 63, 1, 64), (2, 500, 4, 60), (2, 1024, 8, 128), (4, 2048, 8, 64)]}
FLA_RATIOS = {"o": 0.006, "dq": 0.008, "dk": 0.008, "dv": 0.008, "dbeta": 0.008, "dg": 0.008, "dlamb": 0.015}


def fla_plan(cfg: FlaConfig) -> list[dict]:
    return [{"kind": "fla", "shape": list(s), "gate_range": list(cfg.gate_range), "seed": cfg.seed}
            for s in cfg.shapes]


def _err_ratio(ref, x) -> float:
    """fla ``get_err_ratio``: RMS(ref − x)/RMS(ref)."""
    ref, x = ref.double(), x.double()
    return float((ref - x).square().mean().sqrt() / ref.square().mean().sqrt().clamp_min(1e-300))


def _fla_inputs(p, dev):
    import torch
    import torch.nn.functional as F

    B, T, H, D = p["shape"]
    gen = torch.Generator().manual_seed(p["seed"])
    lo, hi = p["gate_range"]
    half = torch.float16
    q = (torch.rand(B, T, H, D, generator=gen) / 10).to(half)
    k = F.normalize(torch.rand(B, T, H, D, generator=gen), p=2, dim=-1).to(half)
    v = (torch.rand(B, T, H, D, generator=gen) / 10).to(half)
    beta = torch.rand(B, T, H, generator=gen).to(half).sigmoid()
    g = (lo + (hi - lo) * torch.rand(B, T, H, generator=gen)).log()
    lam = torch.rand(H, D, generator=gen).to(half).sigmoid() * 0.75 + 0.25
    do = torch.rand(B, T, H, D, generator=gen)
    return [x.to(dev) for x in (q, k, v, beta, g, lam, do)]


def _fla_run(p: dict, ctx: RunContext) -> dict:
    import torch

    from verify.device import resolve_device
    from verify.models.mesa import mesa_chunkwise, mesa_recurrent

    dev = resolve_device(ctx.device)
    q, k, v, beta, g, lam, do = _fla_inputs(p, dev)
    D = p["shape"][3]
    names = ("dq", "dk", "dv", "dbeta", "dg", "dlamb")

    def grads(fn, dtype):
        """Outputs and input gradients of fn; dtype None keeps the fla test's dtypes (fp16, log-gate fp32)."""
        xs = [(x if dtype is None else x.to(dtype)).detach().requires_grad_() for x in (q, k, v, beta, g, lam)]
        o = fn(*xs)
        (o * do.to(o.dtype)).sum().backward()
        return o.detach(), [x.grad for x in xs]

    def ours(solver, qq, kk, vv, bb, gg, ll):  # fla layout [B, T, H, D] → capdyn [B, H, T, D]
        t = (lambda x: x.transpose(1, 2))
        if solver == "exact":
            return t(mesa_recurrent(t(qq), t(kk), t(vv), t(gg), t(bb), ll)[0])
        o, _ = mesa_chunkwise(t(qq), t(kk), t(vv), t(gg), t(bb), ll, chunk=64, solver=solver, tol=0.0,
                              max_steps=D)
        return t(o)

    out = {"params": p, "capdyn": {}, "fla": None, "fla_error": None}
    o_ref, g_ref = grads(lambda *a: ours("exact", *a), torch.float64)
    o_cg, g_cg = grads(lambda *a: ours("cg", *a), torch.float32)
    out["capdyn"] = {"o": _err_ratio(o_ref, o_cg), **{n: _err_ratio(a, b) for n, a, b in zip(names, g_ref, g_cg)}}
    try:
        from fla.ops.mesa_net import chunk_mesa_net, naive_mesa_net_exact
    except Exception as err:  # fla needs Triton and a GPU; without it the claim has nothing to run
        out["fla_error"] = f"fla not importable ({type(err).__name__}: {err})"
        return out
    if dev.type != "cuda":
        out["fla_error"] = "fla kernels need a CUDA device"
        return out

    def fla(*a, fn=chunk_mesa_net):
        qq, kk, vv, bb, gg, ll = a
        kw = {"max_CG_iteration": D} if fn is chunk_mesa_net else {}
        res = fn(q=qq, k=kk, v=vv, beta=bb, g=gg, lamb=ll, **kw)
        return res[0] if isinstance(res, tuple) else res

    o_tri, g_tri = grads(fla, None)
    o_nv, g_nv = grads(lambda *a: fla(*a, fn=naive_mesa_net_exact), None)
    out["fla"] = {"o": _err_ratio(o_nv, o_tri), **{n: _err_ratio(a, b) for n, a, b in zip(names, g_nv, g_tri)}}
    return out


def fla_judge(cfg: FlaConfig, results: list[dict]) -> Outcome:
    ours = {n: max(r["capdyn"][n] for r in results) for n in FLA_RATIOS} if results else {}
    ctx = "capdyn chunkwise Mesa (fp32 CG, D steps) vs fp64 exact, same recipe: " + ", ".join(
        f"{n} {_g(v)}" for n, v in ours.items())
    errors = [r["fla_error"] for r in results if r["fla"] is None]
    m = {"capdyn": ours, "ratios": FLA_RATIOS}
    if errors or not results:
        return Outcome(verdict="inconclusive", sim=ctx, paper="rel-RMSE o ≤ 0.006, grads ≤ 0.008 (dλ ≤ 0.015)",
                       reason=(errors[0] if errors else "no shapes") + "; the row tests fla's own kernel, so it "
                              "needs fla (Triton) on a GPU", measured=m)
    fla = {n: max(r["fla"][n] for r in results) for n in FLA_RATIOS}
    ok = all(fla[n] <= FLA_RATIOS[n] for n in FLA_RATIOS)
    m["fla"] = fla
    return Outcome(verdict=paper_verdict(ok), sim=ctx,
                   trained="fla chunk_mesa_net vs naive exact: " + ", ".join(f"{n} {_g(v)}" for n, v in fla.items()),
                   paper="rel-RMSE o ≤ 0.006, grads ≤ 0.008 (dλ ≤ 0.015)", measured=m,
                   reason="" if ok else "above the fla test ratio: " + ", ".join(
                       n for n in FLA_RATIOS if fla[n] > FLA_RATIOS[n]))




def precision_run(p: dict, ctx: RunContext) -> dict:
    """One X8 run: ``kind="precision"`` (every precision, key kind, value scale and γ at one T) or a short Mesa
    training run with low-precision chunk states (``kind="train"``)."""
    if p.get("kind") == "train":
        from verify.experiments.recall.mqar import train_run

        return train_run(p, ctx)
    return on_cpu_threads(_precision_run, p, ctx)


def fla_run(p: dict, ctx: RunContext) -> dict:
    """One row-35 run (one fla test shape)."""
    return on_cpu_threads(_fla_run, p, ctx)


register(Claim(
    id="recall.mesa_precision", kind="paper",
    title="fp16 Mesa states (T ≥ 4k, unnormalised v) can give a non-PD H, CG breakdown or NaN; fp32 states do not",
    source=f"{SRC} §4.2, §10 X8; claims row 34",
    tolerance="reproduced iff some fp16 case has a token with λ_min(H + λI) ≤ 0, a CG breakdown, a non-finite state "
              "or output, and no fp32 case has any (every case of the grid, every evaluated token); bf16 reported",
    config=PrecisionConfig, plan=precision_plan, run=precision_run, judge=precision_judge,
    profiles={"paper": PRECISION_PAPER}, figures=("recall_mqar_precision",), uses_device=True))

register(Claim(
    id="recall.fla_mesa_kernel", kind="paper",
    title="fla chunk_mesa_net matches naive_mesa_net_exact in fp16 with max_CG_iteration = D",
    source=f"{SRC} §7, §10; claims row 35",
    tolerance="fla test ratios RMS(ref − x)/RMS(ref): o ≤ 0.006, dq, dk, dv, dβ, dg ≤ 0.008, dλ ≤ 0.015, on every "
              "shape; needs fla on a GPU, otherwise inconclusive (capdyn's own chunkwise Mesa is measured on the "
              "same recipe as context)",
    config=FlaConfig, plan=fla_plan, run=fla_run, judge=fla_judge, profiles={"paper": FLA_PAPER},
    uses_device=True, gpu_scale=True))

"""Recall claims — X4: forgetting window (row 28)."""

from __future__ import annotations

import numpy as np

from verify.claims import Claim, Outcome, RunContext, paper_verdict, register
from verify.experiments.recall.certificates import (
    _formula_result,
    _formulas_ok,
    _with_certificate,
)
from verify.experiments.recall.common import (
    SRC,
    _a,
    _mean_se,
    recall_run,
)
from verify.profiles import ClaimConfig
from verify.records import to_jsonable


class X4Config(ClaimConfig):
    dims: list[int] = [64]
    gammas: list[float] = [0.9, 0.95, 0.98, 0.99]
    T: int = 2000
    draws: int = 5
    chunks: int = 1
    lam: float = 0.25
    seed: int = 0


X4_PAPER = {"dims": [32, 64, 128], "gammas": [0.9, 0.95, 0.98, 0.99, 0.995, 0.999], "T": 10_000, "draws": 10,
            "chunks": 5}
SPAN_FACTOR = 2.0


def _lag_bins(T: int) -> np.ndarray:
    """Bin edges over lags 0..T−1: one bin per lag up to 32, then ~24 per decade."""
    edges = np.unique(np.r_[np.arange(33), np.geomspace(32, T, max(2, int(24 * np.log10(T / 32)) + 1)).round()])
    return edges.astype(int)


def forgetting_run(p: dict, ctx: RunContext) -> dict:
    """X4 (sim.recall.forgetting_curves) for one d_k and seed: recalled pairs per draw and binned accuracy."""
    import sim.recall as R

    f = R.forgetting_curves(d_k=p["d_k"], gammas=p["gammas"], T=p["T"], draws=p["draws"], seed=p["seed"],
                            lam=p["lam"])
    edges = _lag_bins(p["T"])
    acc = f.acc.sum(axis=2)  # [rules, gammas, T], summed over draws (pooled later)
    binned = np.add.reduceat(acc, edges[:-1], axis=-1)
    return to_jsonable({"rules": list(f.rules), "gammas": f.gammas, "recalled": f.recalled, "window": f.window,
                        "span": f.theory_span, "edges": edges, "acc_sum_binned": binned, "draws": p["draws"],
                        "d_k": p["d_k"], "T": p["T"]})


def _judge_forgetting(cfg: X4Config, results: list[dict]) -> Outcome:
    s_ok, s_text = _formulas_ok(_formula_result(results), 28)
    runs = [r for r in results if "rules" in r]
    panels, ratios, fails = [], {}, []
    for d in cfg.dims:
        rs = [r for r in runs if r["d_k"] == d]
        rec = np.concatenate([_a(r["recalled"]) for r in rs], axis=-1)  # [rules, gammas, draws]
        mean, se = _mean_se(rec)
        span = _a(rs[0]["span"])
        draws = sum(r["draws"] for r in rs)
        acc = sum(_a(r["acc_sum_binned"]) for r in rs) / draws
        edges = _a(rs[0]["edges"])
        width = np.diff(edges)
        for i, rule in enumerate(rs[0]["rules"]):
            for j, g in enumerate(rs[0]["gammas"]):
                ratio = mean[i, j] / span[j]
                ratios[f"{rule} d={d} γ={g:g}"] = [float(mean[i, j]), float(se[i, j]), float(span[j]), float(ratio)]
                if not 1 / SPAN_FACTOR <= ratio <= SPAN_FACTOR:
                    fails.append(f"{rule} d={d} γ={g:g}: {mean[i, j]:.1f} recalled vs span {span[j]:.0f} "
                                 f"(×{ratio:.2f})")
        panels.append({"d_k": d, "T": rs[0]["T"], "rules": rs[0]["rules"], "gammas": rs[0]["gammas"], "span": span,
                       "window": _a(rs[0]["window"]), "lag_lo": edges[:-1], "lag_hi": edges[1:] - 1,
                       "acc": acc / width, "recalled_mean": mean, "recalled_se": se, "draws": draws,
                       "lam": cfg.lam})
    ok = not fails
    per_rule = {}
    for key, v in ratios.items():
        per_rule.setdefault(key.split(" ")[0], []).append(v[3])
    return Outcome(
        verdict=paper_verdict(ok, s_ok), theory=s_text + "; useful span ≈ min(d_k, 1/(1 − γ)) [heuristic]",
        sim="recalled/span: " + "; ".join(f"{r} {min(v):.2f}–{max(v):.2f}" for r, v in per_rule.items()),
        paper="a gated memory usefully holds ≈ min(d_k, 1/(1−γ)) recent pairs (qualitative, unverified)",
        reason=_with_certificate(s_ok, s_text, "; ".join(fails[:6])),
        measured={"recalled_vs_span": ratios, "factor": SPAN_FACTOR, "fails": fails},
        figures={"recall_forgetting": to_jsonable({"panels": panels})})


register(Claim(
    id="recall.forgetting_window", kind="paper",
    title="Gated memories recall ≈ min(d_k, 1/(1 − γ)) recent pairs",
    source=f"{SRC} §6.7, §10 X4; claims row 28",
    tolerance=f"useful span := pairs recalled by argmax over all T stream values (mean over draws); for gated LA, GDN "
              f"and Mesa (λ = lam) at every d_k and γ the ratio span/min(d_k, 1/(1−γ)) lies within a factor "
              f"{SPAN_FACTOR:g} (the meaning of ≈ for a qualitative heuristic)",
    config=X4Config,
    plan=lambda cfg: [{"kind": "formulas"}] + [
        {"kind": "forgetting", "d_k": d, "gammas": cfg.gammas, "T": cfg.T, "draws": cfg.draws,
         "seed": cfg.seed + s, "lam": cfg.lam} for d in cfg.dims for s in range(cfg.chunks)],
    run=recall_run, judge=_judge_forgetting, profiles={"paper": X4_PAPER}, figures=("recall_forgetting",)))

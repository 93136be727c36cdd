"""Softmax attention (icl_linear_attention.md §3.4, §7, Fig. 5; claims row 23): no theory, a qualitative claim.

Softmax weights sum to one, so the bilinear part of the prediction behaves like the 1/N-normalized linear model
(§3.4 small-score expansion): the learning rates are raised ≈ N× over the official linear runs."""

from __future__ import annotations

from verify.claims import Claim, Outcome, paper_verdict, register
from verify.experiments.icl.runs import run
from verify.profiles import ClaimConfig


class SoftmaxConfig(ClaimConfig):
    D: int = 4
    N: int = 31
    P: int = 1000
    seeds: int = 1
    m_H: int = 8
    m_init: float = 1e-6
    m_eta: float = 0.1
    m_steps: int = 2501
    s_H: int = 5
    s_init: float = 0.03
    s_eta: float = 0.3
    s_steps: int = 4001


def softmax_plan(cfg: SoftmaxConfig) -> list[dict]:
    base = {"kind": "trained", "D": cfg.D, "N": cfg.N, "P": cfg.P, "lam": "code-default", "sampler": "official",
            "record_every": 5}
    runs = [{"model": "softmax_attn_m", "H": cfg.m_H, "init": cfg.m_init, "eta": cfg.m_eta, "steps": cfg.m_steps,
             "seed": s, "lam_seed": s, **base} for s in range(cfg.seeds)]
    runs += [{"model": "softmax_attn_s", "H": cfg.s_H, "R": 1, "init": cfg.s_init, "eta": cfg.s_eta,
              "steps": cfg.s_steps, "seed": s, "lam_seed": s, **base} for s in range(cfg.seeds)]
    return runs


def softmax_judge(cfg: SoftmaxConfig, results: list[dict]) -> Outcome:
    m_runs, s_runs = results[: cfg.seeds], results[cfg.seeds:]
    m_drops = [r["n_drops"] for r in m_runs]
    s_drops = [r["n_drops"] for r in s_runs]
    ok = all(d == 1 for d in m_drops) and all(d >= 2 for d in s_drops)
    final = [round(r["loss_final"], 3) for r in results]
    return Outcome(
        verdict=paper_verdict(ok, conclusive=not any(r["diverged"] for r in results)),
        theory="(no theory) ATTN_M: one drop; ATTN_S: several",
        trained=f"drops: softmax ATTN_M {m_drops}, softmax ATTN_S {s_drops}; final losses {final}",
        paper="softmax ATTN_M shows one abrupt drop, softmax ATTN_S several (Fig. 5)",
        reason="" if ok else f"drop counts ATTN_M {m_drops}, ATTN_S {s_drops}",
        measured={"attn_m_drops": m_drops, "attn_s_drops": s_drops, "final": final},
        figures={"icl_fig5": {"attn_m": [r["curve"] for r in m_runs], "attn_s": [r["curve"] for r in s_runs]}})


register(Claim(
    id="icl.softmax_drops", kind="paper",
    title="Softmax ATTN_M learns in one abrupt drop, softmax ATTN_S in several (Fig. 5)",
    source="icl_linear_attention.md §7, Fig. 5; claims row 23",
    tolerance="drop count (as for ATTN_M's row 14): ATTN_M exactly 1 and ATTN_S at least 2 in every run",
    config=SoftmaxConfig, plan=softmax_plan, run=run, judge=softmax_judge,
    profiles={"paper": {"P": 5000, "seeds": 3, "m_steps": 6001, "s_init": 0.01, "s_steps": 10001}},
    figures=("icl_fig5",), uses_device=True))

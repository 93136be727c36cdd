"""Recall claim on MQAR data (test_time_memory.md §9 row 29; experiment X5 of §10): the generator's invariants
and its gap law, both RNG modes, both filler settings."""

from __future__ import annotations

import time
from typing import Literal

from verify.claims import Claim, Outcome, RunContext, check_verdict, register
from verify.profiles import ClaimConfig
from verify.records import to_jsonable

from verify.experiments.recall.common import SRC, _g
from verify.experiments.recall.mqar import FIG2_SEGMENTS

CHI2_FAMILY_LEVEL = 0.01  # row 29: χ² p > 0.01, family-wise (Bonferroni over the segments tested)



class X5Config(ClaimConfig):
    """X5 (§10): segments [L, N, examples] at vocab V, both RNG modes; both filler settings are built per segment
    (one seed: the settings differ only in the fillers)."""

    vocab_size: int = 8192
    segments: list[tuple[int, int, int]] = [(64, 4, 1000), (128, 8, 1000), (256, 16, 1000), (64, 16, 1000),
                                            (1024, 256, 1000)]
    modes: list[Literal["faithful", "modern"]] = ["faithful", "modern"]
    power_a: float = 0.01
    seed: int = 0


def _dedupe(rows):
    out = []
    for r in rows:
        if list(r) not in out:
            out.append(list(r))
    return out


X5_PAPER = {"segments": _dedupe(
    [(L, N, 100_000) for L, N in FIG2_SEGMENTS] + [(L, N, 3000) for L, N in FIG2_SEGMENTS]
    + [(64, 4, 100_000), (128, 8, 20_000), (256, 16, 20_000), (256, 32, 20_000), (256, 64, 20_000)]
    + [(64, 4, 1000), (64, 8, 1000), (64, 16, 1000), (128, 32, 1000), (256, 64, 1000), (512, 128, 1000),
       (1024, 256, 1000)])}


def x5_plan(cfg: X5Config) -> list[dict]:
    from verify.tasks.mqar import segment_seeds

    seeds, _ = segment_seeds(cfg.seed, len(cfg.segments), 0)
    return [{"kind": "x5", "vocab_size": cfg.vocab_size, "L": L, "N": N, "n": n, "mode": mode,
             "power_a": cfg.power_a, "seed": s} for (L, N, n), s in zip(cfg.segments, seeds) for mode in cfg.modes]


def _x5_build(p: dict) -> dict:
    from verify.tasks.mqar import SegmentSpec, build_segment, check_segment, gap_chi2

    out = {"params": p, "settings": {}}
    for rnq in (False, True):
        t0 = time.perf_counter()
        seg = build_segment(SegmentSpec(p["vocab_size"], p["n"], p["L"], p["N"], p["seed"], 1, rnq, p["power_a"],
                                        p["mode"]))
        wall = time.perf_counter() - t0
        out["settings"][str(rnq).lower()] = {"invariants": check_segment(seg), "gen_s": wall,
                                             "digest": seg.digest()}
    chi = gap_chi2(seg)
    out["chi2"] = {k: chi[k] for k in ("chi2", "dof", "p_value", "bins")}
    out["hist"] = {"observed": chi["observed"], "expected": chi["expected"], "all_gaps": chi["all_gaps"]}
    return out


def x5_judge(cfg: X5Config, results: list[dict]) -> Outcome:
    m = len(results)
    level = CHI2_FAMILY_LEVEL / max(m, 1)
    failed, pvals, panels = [], [], {}
    for r in results:
        pp = r["params"]
        for rnq, s in r["settings"].items():
            bad = [k for k, v in s["invariants"].items() if v is False]
            if bad:
                failed.append(f"(L={pp['L']}, N={pp['N']}, {pp['mode']}, random_non_queries={rnq}): {bad}")
        pvals.append(r["chi2"]["p_value"])
        key = f"{pp['L']},{pp['N']}"
        panel = panels.setdefault(key, {"L": pp["L"], "N": pp["N"], "n": pp["n"], "modes": {}})
        if pp["n"] >= panel["n"]:
            panel["n"] = pp["n"]
            panel["modes"][pp["mode"]] = {"observed": r["hist"]["observed"], "expected": r["hist"]["expected"],
                                          "all_gaps": r["hist"]["all_gaps"], "p_value": r["chi2"]["p_value"],
                                          "n": pp["n"]}
    p_min = min(pvals) if pvals else float("nan")
    ok = bool(results) and not failed and p_min > level
    gen = {f"{r['params']['L']},{r['params']['N']},{r['params']['n']},{r['params']['mode']}":
           r["settings"]["true"]["gen_s"] for r in results}
    m_out = {"violations": failed, "chi2_p_min": p_min, "chi2_level_each": level, "runs": m,
             "gen_s": gen, "digests": {k: r["settings"]["true"]["digest"] for k, r in zip(gen, results)}}
    return Outcome(
        verdict=check_verdict(ok), theory="first-drawn gap ~ p(g) ∝ (g+1)^{a−1}, a = 0.01 (exact)",
        sim=f"{m} segments × 2 filler settings: {len(failed)} invariant violations; min χ² p = {_g(p_min, 3)} "
            f"(each must exceed {level:.2g})",
        reason="" if ok else ("; ".join(failed[:3]) if failed else f"χ² p = {p_min:.3g} ≤ {level:.2g}"),
        measured=m_out, figures={"recall_mqar_gaps": {"panels": list(panels.values()), "level": level}})




def x5_run(p: dict, ctx: RunContext) -> dict:
    """One X5 run: a segment in one RNG mode, built with and without random fillers (numpy only)."""
    return to_jsonable(_x5_build(p))


register(Claim(
    id="recall.mqar_invariants", kind="check",
    title="MQAR generator invariants and the gap law p(g), both RNG modes, both filler settings",
    source=f"{SRC} §5.1, §10 X5; claims row 29",
    tolerance="every invariant exact on every example (N labels, label = paired value, key/value ranges, unique "
              "keys and values, each key queried once at an even offset, L = 4N fills every slot, zero fillers "
              "when random_non_queries=False, stored gaps = query offsets); χ² of the first-drawn gaps against "
              "p(g) (tail bins merged to ≥ 5 expected) with p > 0.01/m for each of the m segments (family-wise 0.01)",
    config=X5Config, plan=x5_plan, run=x5_run, judge=x5_judge, profiles={"paper": X5_PAPER},
    figures=("recall_mqar_gaps",)))

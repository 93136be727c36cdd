"""Selective claims decided by the Monte Carlo S1–S4 of ``sim.selective``: C4, C8, C9, C11."""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np

import theory.selective as th
from verify.claims import Claim, Outcome, RunContext, paper_verdict, register
from verify.profiles import ClaimConfig
from verify.records import to_jsonable

from verify.experiments.selective.common import K_SE, SRC, _ref_tol, _point_seed, _arr


# --- C4: S1 dilution Monte Carlo --------------------------------------------------------------------------------

S1_REF = {"n": [16, 64, 256, 1024, 4096], "vanilla": ["0.556", "0.230", "0.068", "0.018", "0.0046"],
          "ssa": ["0.942", "0.933", "0.920", "0.903", "0.882"], "d": 64, "Delta0": 3.0, "trials": 200}


class DilutionConfig(ClaimConfig):
    d: list[int] = [64]
    Delta0: list[float] = [3.0]
    n: list[int] = [16, 64, 256, 1024, 4096]
    trials: int = 200
    seed: int = 0
    sampler: Literal["vectors", "projection"] = "vectors"


def dilution_plan(cfg: DilutionConfig) -> list[dict]:
    return [{"d": d, "Delta0": g, "n": cfg.n, "trials": cfg.trials, "sampler": cfg.sampler,
             "seed": _point_seed(cfg.seed, d, round(1000 * g))} for g in cfg.Delta0 for d in cfg.d]


def dilution_run(p: dict, ctx: RunContext) -> dict:
    from sim.selective import dilution_mc

    r = dilution_mc(p["n"], Delta0=p["Delta0"], d=p["d"], trials=p["trials"], seed=p["seed"], sampler=p["sampler"])
    return to_jsonable({"d": r.d, "Delta0": r.Delta0, "trials": r.trials, "n": r.n, "s": r.s, "mass": r.mass,
                        "se": r.mass_se, "median": r.mass_median, "annealed": r.theory_annealed,
                        "fixed_gap": r.theory_fixed_gap})


def _dense_needle(r: dict) -> dict:
    n = np.unique(np.round(np.geomspace(2, max(r["n"]), 120)).astype(np.int64))
    out = {"n": n}
    for j, name in ((0, "vanilla"), (1, "ssa")):
        s = 0.0 if j == 0 else 1.0 / r["Delta0"]
        out[f"fixed_{name}"] = np.asarray(th.needle_mass(r["Delta0"], n, s))
        out[f"annealed_{name}"] = np.asarray(th.needle_mass_random_keys(r["Delta0"], n, r["d"], s))
    return out


def dilution_judge(cfg: DilutionConfig, results: list[dict]) -> Outcome:
    ref = next((r for r in results if r["d"] == S1_REF["d"] and abs(r["Delta0"] - S1_REF["Delta0"]) < 1e-12), None)
    runs = [dict(r, dense=_dense_needle(r)) for r in results]
    fig = {"runs": runs, "k_se": K_SE, "ref": S1_REF}
    if ref is None or not set(ref["n"]) & set(S1_REF["n"]):
        return Outcome(verdict="inconclusive", reason="the configuration has no reference point "
                       "(d = 64, Δ0 = 3, n among 16…4096)", figures={"selective_needle_mass": fig})
    mass, se, ann = _arr(ref["mass"]), _arr(ref["se"]), _arr(ref["annealed"])
    rows, ok_ref, ok_ann = [], True, True
    for j, name in ((0, "vanilla"), (1, "ssa")):
        for nn, text in zip(S1_REF["n"], S1_REF[name]):
            if nn not in ref["n"]:
                continue
            g = ref["n"].index(nn)
            tol = _ref_tol(se[g, j], ref["trials"], S1_REF["trials"], text)
            dev = abs(mass[g, j] - float(text))
            adev, atol = abs(ann[g, j] - mass[g, j]), 0.005 + K_SE * se[g, j]
            ok_ref &= dev <= tol
            ok_ann &= adev <= atol
            rows.append({"estimator": name, "n": nn, "mc": mass[g, j], "se": se[g, j], "ref": float(text),
                         "tol": tol, "annealed": ann[g, j], "annealed_dev": adev, "annealed_tol": atol})
    common = set(ref["n"]) & set(S1_REF["n"])
    g0, g1 = ref["n"].index(min(common)), ref["n"].index(max(common))
    fixed = _arr(ref["fixed_gap"])
    others = {f"d={r['d']},Delta0={r['Delta0']:g}": float(np.nanmax(np.abs(_arr(r["annealed"]) - _arr(r["mass"]))
                                                                        / _arr(r["se"])))
              for r in results if r is not ref}
    ok = ok_ref and ok_ann
    reason = ""
    if not ok:
        bad = [w for w in rows if abs(w["mc"] - w["ref"]) > w["tol"] or w["annealed_dev"] > w["annealed_tol"]]
        reason = "; ".join(f"{w['estimator']} n={w['n']}: MC {w['mc']:.4f} vs ref {w['ref']} (tol {w['tol']:.4f}), "
                           f"annealed {w['annealed']:.4f}" for w in bad)
    return Outcome(
        verdict=paper_verdict(ok),
        theory=f"fixed gap: vanilla {fixed[g0, 0]:.3f}→{fixed[g1, 0]:.4f}, "
               f"SSA {fixed[g0, 1]:.3f}→{fixed[g1, 1]:.3f}; "
               f"annealed: vanilla {ann[g0, 0]:.3f}→{ann[g1, 0]:.4f}, SSA {ann[g0, 1]:.3f}→{ann[g1, 1]:.3f}",
        sim=f"MC d=64, Δ0=3, {ref['trials']} trials: vanilla {mass[g0, 0]:.3f}→{mass[g1, 0]:.4f}, "
            f"SSA-pos {mass[g0, 1]:.3f}→{mass[g1, 1]:.3f}",
        paper="vanilla 0.556→0.0046, SSA-pos 0.942→0.882 (n 16→4096); annealed within 0.005 of MC",
        reason=reason, measured={"points": rows, "max_annealed_dev_over_se_elsewhere": others},
        figures={"selective_needle_mass": fig})


register(Claim(
    id="selective.dilution_mc", kind="paper",
    title="S1: the log-n query temperature keeps the needle mass while vanilla dilutes (random keys)",
    source=f"{SRC} §3.2, §4 S1; claims row C4",
    tolerance="at d = 64, Δ0 = 3: |MC − ref| ≤ 4·√(SE² + SE_ref²) + half a unit of the printed digit, "
              "SE_ref = SE·√(trials/200) (the reference is a 200-trial MC); |annealed − MC| ≤ 0.005 + 4·SE",
    config=DilutionConfig, plan=dilution_plan, run=dilution_run, judge=dilution_judge,
    figures=("selective_needle_mass",),
    profiles={"paper": {"d": [16, 64, 256], "Delta0": [1.0, 2.0, 3.0, 5.0],
                        "n": [16, 64, 256, 1024, 4096, 16384, 65536], "trials": 10_000, "sampler": "projection"}}))


# --- C8: value gating vs vanilla vs Bayes -----------------------------------------------------------------------

C8_ANALYTIC = {"bayes": "0.500", "hard": "1.000", "naive@4": "0.8906",
               "vanilla": {4.0: "0.5333", 16.0: "0.6111", 64.0: "0.7667"}}
C8_BETA = {0.0: "1.946", 4.0: "2.079", 16.0: "2.398", 64.0: "3.135", 256.0: "4.263"}
C8_MC = {"gated": "0.4995", "hard": "0.998", "trials": 20_000}
C8_POINT = {"n": 32, "m": 4, "sigma2": 4.0, "d": 16}


class ValueConfig(ClaimConfig):
    n: list[int] = [32]
    m: list[int] = [4]
    sigma2: float = 4.0
    sigma_n2: list[float] = [0.0, 4.0, 16.0, 64.0, 256.0]
    d: int = 16
    trials: int = 20_000
    seed: int = 0
    sampler: Literal["tokens", "pooled"] = "tokens"


def value_plan(cfg: ValueConfig) -> list[dict]:
    return [{"n": n, "m": m, "sigma2": cfg.sigma2, "sigma_n2": cfg.sigma_n2, "d": cfg.d, "trials": cfg.trials,
             "sampler": cfg.sampler, "seed": _point_seed(cfg.seed, n, m)} for n in cfg.n for m in cfg.m if m < n]


def value_run(p: dict, ctx: RunContext) -> dict:
    from sim.selective import value_gating_mc

    r = value_gating_mc(p["sigma_n2"], n=p["n"], m=p["m"], sigma2=p["sigma2"], d=p["d"], trials=p["trials"],
                        seed=p["seed"], sampler=p["sampler"])
    # the closed-form vanilla optimum is the minimum over β: scan β on a fine grid around β*
    scan = []
    for sn, bs in zip(r.sigma_n2, r.beta_star):
        betas = bs + np.linspace(-3, 3, 60_001)
        R = np.asarray(th.vanilla_value_risk(betas, p["n"], p["m"], p["sigma2"], sn))
        scan.append(float(R.min()))
    return to_jsonable({"n": p["n"], "m": p["m"], "sigma2": p["sigma2"], "d": p["d"], "trials": p["trials"],
                        "sigma_n2": r.sigma_n2, "estimators": list(r.estimators), "risk": r.risk,
                        "risk_se": r.risk_se, "theory": r.theory, "beta_star": r.beta_star, "tau_v": r.tau_v,
                        "gap": r.gap, "gap_se": r.gap_se, "gap_theory": r.gap_theory, "beta_scan_min": scan})


def _value_theory_curves(r: dict) -> dict:
    top = max(max(r["sigma_n2"]), 1.0)
    s = np.concatenate([[0.0], np.geomspace(0.05, top, 150)])
    t = th.value_gating_risks(r["n"], r["m"], r["sigma2"], s)
    return {"sigma_n2": s, "vanilla": t["vanilla_best"], "naive": t["naive_mean"],
            "hard": np.broadcast_to(t["hard_select"], s.shape), "gated": np.broadcast_to(t["bayes"], s.shape)}


def value_judge(cfg: ValueConfig, results: list[dict]) -> Outcome:
    runs = [dict(r, curves=_value_theory_curves(r)) for r in results]
    fig = {"runs": runs, "k_se": K_SE}
    mc_ok, gain_ok, scan_ok = True, True, True
    worst_z = 0.0
    for r in results:
        risk, se, theory = _arr(r["risk"]), _arr(r["risk_se"]), _arr(r["theory"])
        z = np.abs(risk - theory) / se
        worst_z = max(worst_z, float(np.nanmax(z)))
        mc_ok &= bool(np.all(np.abs(risk - theory) <= K_SE * se))
        # paired vanilla − gated gap: consistent with its closed form σ⁴σ_n²/(…) > 0 everywhere (1e-12 covers
        # σ_n² = 0, where both readouts coincide), and resolved above 4 SE at the reference point (below)
        gap, gap_se = _arr(r["gap"]), _arr(r["gap_se"])
        gain_ok &= bool(np.all(np.abs(gap - _arr(r["gap_theory"])) <= K_SE * gap_se + 1e-12))
        scan_ok &= bool(np.all(np.abs(_arr(r["beta_scan_min"]) - theory[:, 0]) <= 1e-6 * theory[:, 0]))
    ref = next((r for r in results if (r["n"], r["m"], r["sigma2"]) == (C8_POINT["n"], C8_POINT["m"],
                                                                          C8_POINT["sigma2"])), None)
    if ref is None:
        return Outcome(verdict="inconclusive",
                       reason="the configuration has no reference point n = 32, m = 4, σ² = 4",
                       figures={"selective_value_risk": fig})
    sn = list(ref["sigma_n2"])
    theory, risk, se = _arr(ref["theory"]), _arr(ref["risk"]), _arr(ref["risk_se"])
    devs = {}
    col = {"vanilla": 0, "naive": 1, "hard": 2, "gated": 3}
    for i, x in enumerate(sn):
        devs[f"bayes@{x:g}"] = abs(theory[i, 3] - float(C8_ANALYTIC["bayes"]))
        devs[f"hard@{x:g}"] = abs(theory[i, 2] - float(C8_ANALYTIC["hard"]))
        if x in C8_ANALYTIC["vanilla"]:
            devs[f"vanilla@{x:g}"] = abs(theory[i, 0] - float(C8_ANALYTIC["vanilla"][x]))
        if x == 4.0:
            devs["naive@4"] = abs(theory[i, 1] - float(C8_ANALYTIC["naive@4"]))
        if x in C8_BETA:
            devs[f"beta*@{x:g}"] = abs(ref["beta_star"][i] - float(C8_BETA[x]))
    analytic_ok = bool(devs) and max(devs.values()) <= 1e-3
    pos = np.asarray(sn) > 0
    gain_ok &= bool(np.all(_arr(ref["gap"])[pos] > K_SE * _arr(ref["gap_se"])[pos]))
    mc_ref = {}
    if ref["d"] == C8_POINT["d"]:
        i = 0
        for name in ("gated", "hard"):
            tol = _ref_tol(se[i, col[name]], ref["trials"], C8_MC["trials"], C8_MC[name])
            mc_ref[name] = {"mc": risk[i, col[name]], "ref": float(C8_MC[name]), "tol": tol,
                            "ok": bool(abs(risk[i, col[name]] - float(C8_MC[name])) <= tol)}
    ok = analytic_ok and mc_ok and gain_ok and scan_ok and all(v["ok"] for v in mc_ref.values())
    reason = "" if ok else (f"analytic devs {devs}" if not analytic_ok else "") + \
        ("" if mc_ok else f" MC off theory by {worst_z:.1f} SE") + ("" if gain_ok else " gated not below vanilla") + \
        ("" if scan_ok else " β scan below the closed-form optimum") + \
        ("" if all(v["ok"] for v in mc_ref.values()) else f" MC refs {mc_ref}")
    i4 = sn.index(4.0) if 4.0 in sn else 0
    return Outcome(
        verdict=paper_verdict(ok),
        theory=f"Bayes = gated {theory[i4, 3]:.4f}; vanilla at σ_n² = {sn[i4]:g}: {theory[i4, 0]:.4f}; hard "
               f"{theory[i4, 2]:.3f}; naive {theory[i4, 1]:.4f}",
        sim=f"MC ({ref['trials']} trials, d = {ref['d']}): gated {risk[i4, 3]:.4f}±{se[i4, 3]:.4f}, vanilla "
            f"{risk[i4, 0]:.4f}, hard {risk[i4, 2]:.3f}; max |z| {worst_z:.1f}",
        paper="Bayes = gated 0.500; vanilla 0.5333/0.6111/0.7667 (σ_n² = 4/16/64); hard 1.000; naive 0.8906",
        reason=reason.strip(),
        measured={"analytic_abs": devs, "max_abs_z": worst_z, "mc_refs": mc_ref,
                  "paired_gap": {f"{x:g}": [g, s] for x, g, s in zip(sn, ref["gap"], ref["gap_se"])}},
        figures={"selective_value_risk": fig})


register(Claim(
    id="selective.value_gating", kind="paper",
    title="S3: a value temperature reaches the Bayes risk, below the best vanilla attention",
    source=f"{SRC} §3.5, §4 S3; claims row C8",
    tolerance="analytic risks and β* within 1e-3 of the printed values; every MC risk within 4 SE of its closed "
              "form; paired vanilla − gated gap within 4 SE of its closed form everywhere and > 4 SE at every "
              "σ_n² > 0 of the reference point; min of R(β) on a β grid of step 1e-4 around β* equals the "
              "closed-form vanilla optimum within 1e-6 rel; §3.5 MC values (gated 0.4995, hard 0.998; 2×10⁴ "
              "trials) within 4·√(SE² + SE_ref²) + half a printed unit",
    config=ValueConfig, plan=value_plan, run=value_run, judge=value_judge, figures=("selective_value_risk",),
    profiles={"paper": {"n": [8, 32, 128, 1024], "m": [1, 4, 16],
                        "sigma_n2": [0.0, 1.0, 4.0, 16.0, 64.0, 256.0, 1024.0], "trials": 1_000_000,
                        "sampler": "pooled"}}))


# --- C9: S2 Hopfield needle weight -------------------------------------------------------------------------------

S2_REF = {"d": 16, "trials": 200, "N": [64, 1024, 4096], "beta": [4.0, 8.0, 16.0],
          "median": [["0.35", "0.89", "0.998"], ["0.032", "0.32", "0.956"], ["0.008", "0.105", "0.83"]]}


class HopfieldConfig(ClaimConfig):
    d: list[int] = [16]
    N: list[int] = [64, 1024, 4096]
    beta: list[float] = [4.0, 8.0, 16.0]
    trials: int = 200
    seed: int = 0
    sampler: Literal["vectors", "projection"] = "vectors"


def hopfield_plan(cfg: HopfieldConfig) -> list[dict]:
    return [{"d": d, "N": cfg.N, "beta": cfg.beta, "trials": cfg.trials, "sampler": cfg.sampler,
             "seed": _point_seed(cfg.seed, d)} for d in cfg.d]


def hopfield_run(p: dict, ctx: RunContext) -> dict:
    from sim.selective import hopfield_mc

    r = hopfield_mc(p["N"], p["beta"], d=p["d"], trials=p["trials"], seed=p["seed"], sampler=p["sampler"])
    return to_jsonable({"d": r.d, "trials": r.trials, "N": r.N, "beta": r.beta, "median": r.weight_median,
                        "median_se": r.weight_median_se, "mean": r.weight_mean, "annealed": r.theory_annealed,
                        "separation_median": r.separation_median})


def _beta_half(beta: np.ndarray, w: np.ndarray) -> float | None:
    """β at which the median weight first reaches 0.5, interpolated linearly in log β (None outside the grid)."""
    above = np.nonzero(w >= 0.5)[0]
    if above.size == 0 or above[0] == 0:
        return None
    i = above[0]
    t = (0.5 - w[i - 1]) / (w[i] - w[i - 1])
    return float(np.exp(np.log(beta[i - 1]) + t * (np.log(beta[i]) - np.log(beta[i - 1]))))


def _annealed_beta_half(N: int, d: int) -> float | None:
    """Smallest β with annealed weight ½: β − β²/(2d) = log(N − 1) (§3.6); None beyond capacity e^{d/2}."""
    disc = 1 - 2 * np.log(N - 1) / d
    return float(d * (1 - np.sqrt(disc))) if disc >= 0 else None


def hopfield_judge(cfg: HopfieldConfig, results: list[dict]) -> Outcome:
    fig = {"runs": results, "ref": S2_REF, "k_se": K_SE}
    growth_ok, halves = True, {}
    for r in results:
        med = _arr(r["median"])
        b = [_beta_half(np.asarray(r["beta"]), med[i]) for i in range(len(r["N"]))]
        defined = [x for x in b if x is not None]
        halves[str(r["d"])] = dict(zip(map(str, r["N"]), b))
        growth_ok &= bool(len(defined) < 2 or np.all(np.diff(defined) > 0))
    ref = next((r for r in results if r["d"] == S2_REF["d"]), None)
    if ref is None:
        return Outcome(verdict="inconclusive", reason="the configuration has no d = 16 run",
                       figures={"selective_hopfield": fig})
    med, se = _arr(ref["median"]), _arr(ref["median_se"])
    rows, ref_ok = [], True
    for a, N in enumerate(S2_REF["N"]):
        for b, beta in enumerate(S2_REF["beta"]):
            if N not in ref["N"] or beta not in ref["beta"]:
                continue
            i, j = ref["N"].index(N), ref["beta"].index(beta)
            text = S2_REF["median"][a][b]
            tol = _ref_tol(se[i, j], ref["trials"], S2_REF["trials"], text)
            rows.append({"N": N, "beta": beta, "mc": med[i, j], "se": se[i, j], "ref": float(text), "tol": tol})
            ref_ok &= abs(med[i, j] - float(text)) <= tol
    # along the reference grid the median weight falls with N at every β, beyond the combined 4 SE
    fall_ok = True
    ref_b = [ref["beta"].index(b) for b in S2_REF["beta"] if b in ref["beta"]]
    ref_n = [ref["N"].index(N) for N in S2_REF["N"] if N in ref["N"]]
    for j in ref_b:
        for i0, i1 in itertools.pairwise(ref_n):
            fall_ok &= med[i0, j] - med[i1, j] > K_SE * np.hypot(se[i0, j], se[i1, j])
    ok = bool(rows) and ref_ok and fall_ok and growth_ok
    bad = [w for w in rows if abs(w["mc"] - w["ref"]) > w["tol"]]
    reason = "" if ok else ("; ".join(f"N={w['N']}, β={w['beta']:g}: MC {w['mc']:.4f} vs {w['ref']} "
                                      f"(tol {w['tol']:.4f})" for w in bad)
                            or f"monotonicity: fall {fall_ok}, β½ growth {growth_ok}")
    h16 = halves[str(S2_REF["d"])]
    ann = {N: _annealed_beta_half(N, ref["d"]) for N in ref["N"]}
    return Outcome(
        verdict=paper_verdict(ok),
        theory="β for fixed error grows like log N; annealed β at weight ½ (d = 16): " + ", ".join(
            f"{N}: {b:.1f}" if b is not None else f"{N}: none (N > e^(d/2))" for N, b in ann.items()),
        sim="MC median weight (d = 16): " + "; ".join(
            f"N={ref['N'][i]}: " + "/".join(f"{med[i, j]:.3f}" for j in range(len(ref["beta"])))
            for i in range(len(ref["N"]))) + "; β at weight ½: " + ", ".join(
            f"{k}: {v:.1f}" for k, v in h16.items() if v is not None),
        paper="N=64: 0.35/0.89/0.998; N=1024: 0.032/0.32/0.956; N=4096: 0.008/0.105/0.83 (β = 4/8/16)",
        reason=reason, measured={"points": rows, "beta_half": halves}, figures={"selective_hopfield": fig})


register(Claim(
    id="selective.hopfield", kind="paper",
    title="S2: the inverse temperature needed for recall grows with the number of stored patterns",
    source=f"{SRC} §3.6, §4 S2; claims row C9",
    tolerance="median weights at d = 16: |MC − ref| ≤ 4·√(SE² + SE_ref²) + half a printed unit, SE_ref = "
              "SE·√(trials/200), SE from the order-statistic interval; on the reference grid the median falls with "
              "N by > 4 combined SE at every β; the β reaching median weight ½ increases with N for every d",
    config=HopfieldConfig, plan=hopfield_plan, run=hopfield_run, judge=hopfield_judge,
    figures=("selective_hopfield",),
    profiles={"paper": {"d": [16, 32, 64], "N": [64, 256, 1024, 4096, 16384, 65536],
                        "beta": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0], "trials": 2000, "sampler": "projection"}}))


# --- C11: value temperature as a write gate ----------------------------------------------------------------------

S4_REF = {"d": 64, "trials": 300, "points": {(64, 64): "1.02", (64, 16): "4.33", (256, 256): "0.250",
                                              (256, 64): "1.03"}}


class WriteGateConfig(ClaimConfig):
    d: list[int] = [64]
    N: list[int] = [64, 256]
    active_fraction: list[float] = [0.25, 1.0]
    d_v: int = 4
    trials: int = 300
    seed: int = 0


def write_plan(cfg: WriteGateConfig) -> list[dict]:
    plans = []
    for d in cfg.d:
        for N in cfg.N:
            if N > 4 * d:
                continue
            act = sorted({max(2, round(f * N)) for f in cfg.active_fraction if f <= 1})
            plans.append({"d": d, "N": N, "N_active": act, "d_v": cfg.d_v, "trials": cfg.trials,
                          "seed": _point_seed(cfg.seed, d, N)})
    return plans


def write_run(p: dict, ctx: RunContext) -> dict:
    from sim.selective import write_gating_mc

    r = write_gating_mc(p["N"], p["N_active"], d=p["d"], d_v=p["d_v"], trials=p["trials"], seed=p["seed"])
    return to_jsonable({"d": r.d, "N": r.N, "N_active": r.N_active, "trials": r.trials, "snr": r.snr,
                        "snr_se": r.snr_se, "theory": r.theory})


def write_judge(cfg: WriteGateConfig, results: list[dict]) -> Outcome:
    mc_ok, worst_z, refs, gains = True, 0.0, [], []
    for r in results:
        snr, se, theory = map(np.asarray, (r["snr"], r["snr_se"], r["theory"]))
        worst_z = max(worst_z, float(np.max(np.abs(snr - theory) / se)))
        mc_ok &= bool(np.all(np.abs(snr - theory) <= K_SE * se))
        act = list(r["N_active"])
        if r["d"] == S4_REF["d"]:
            for (N, Na), text in S4_REF["points"].items():
                if N == r["N"] and Na in act:
                    i = act.index(Na)
                    refs.append({"N": N, "N_active": Na, "mc": snr[i], "se": se[i], "ref": float(text),
                                 "theory": theory[i], "ok": bool(abs(snr[i] / float(text) - 1) <= 0.10)})
        quarter = max(2, round(r["N"] / 4))
        if quarter in act and r["N"] in act:
            i, j = act.index(quarter), act.index(r["N"])
            g = snr[i] / snr[j]
            g_se = g * np.hypot(se[i] / snr[i], se[j] / snr[j])
            gains.append({"d": r["d"], "N": r["N"], "gain": g, "se": g_se, "theory": theory[i] / theory[j],
                          "ok": bool(abs(g / 4 - 1) <= 0.10 + K_SE * g_se / 4)})
    fig = {"runs": results, "gains": gains, "refs": [{k: v for k, v in w.items() if k != "ok"} for w in refs],
           "k_se": K_SE}
    if not refs or not gains:
        return Outcome(verdict="inconclusive", reason="the configuration has no d = 64 reference points or no "
                       "N/4 vs N pair", figures={"selective_write_gating": fig})
    ok = mc_ok and all(w["ok"] for w in refs) and all(g["ok"] for g in gains)
    reason = "" if ok else (("" if mc_ok else f"MC off d/(N_a − 1) by {worst_z:.1f} SE; ")
                            + "; ".join(f"N={w['N']}/{w['N_active']}: {w['mc']:.3f} vs {w['ref']}"
                                        for w in refs if not w["ok"])
                            + "; ".join(f"gain N={g['N']}: {g['gain']:.2f}" for g in gains if not g["ok"]))
    return Outcome(
        verdict=paper_verdict(ok),
        theory="SNR = d/(N_active − 1): " + ", ".join(f"{w['N']}/{w['N_active']} {w['theory']:.3f}" for w in refs),
        sim="pooled MC SNR: " + ", ".join(f"{w['N']}/{w['N_active']} {w['mc']:.3f}" for w in refs)
            + "; gain at 75% gated " + ", ".join(f"{g['gain']:.2f}±{g['se']:.2f}" for g in gains)
            + f"; max |z| {worst_z:.1f}",
        paper="pooled SNR = d/(N_active − 1); 75% gated out gives ≈ 4× (64/64 1.02, 64/16 4.33, 256/256 0.250, "
              "256/64 1.03)",
        reason=reason, measured={"refs": refs, "gains": gains, "max_abs_z": worst_z},
        figures={"selective_write_gating": fig})


register(Claim(
    id="selective.write_gating", kind="paper",
    title="S4: write gating a linear memory raises the read-out SNR to d/(N_active − 1)",
    source=f"{SRC} §3.8, §4 S4; claims row C11",
    tolerance="pooled MC SNR within 4 SE (delta method) of d/(N_active − 1) at every point; the §4 values within "
              "±10% (the spec's tolerance: the reference run's d_v, hence its SE, is not stated); gain "
              "SNR(N/4)/SNR(N) within 10% of 4 (finite-N bound: (N − 1)/(N/4 − 1) = 4.2 at N = 64) + 4 SE",
    config=WriteGateConfig, plan=write_plan, run=write_run, judge=write_judge, figures=("selective_write_gating",),
    profiles={"paper": {"d": [32, 64, 128, 256], "N": [64, 128, 256, 512, 1024],
                        "active_fraction": [0.125, 0.25, 0.5, 1.0], "trials": 5000}}))

"""Claims of the ``selective`` topic (selective_attention.md §8 rows C1–C5, C7–C12): the closed forms of
``theory.selective`` and the Monte Carlo S1–S4 of ``sim.selective``, judged against the spec's reference values.

Kinds. Closed forms and semantics (C1, C2, C3, C5, C7, C10) are checks of capdyn's own correctness: a fail is a
bug. Rows that turn a statement of the paper into a number (C4 dilution, C8 value temperature, C9 Hopfield view of
the log-n temperature, C11 write gating, C12 parameter overhead) are paper claims. Every setting is the package's
own parametrization (§2.4): τ_pos(n) = 1 + s·log n multiplies a query row, logits are dot products with the
1/√d_h scale absorbed into the gap, risks are per coordinate.

Reference values that come from another Monte Carlo run (the spec's [numerical check] numbers) are compared with
the combined error of two independent estimates: |MC − ref| ≤ 4·√(SE² + SE_ref²) + half a unit of the last
printed digit, with SE_ref = SE·√(trials / trials_ref) (the same estimator at the reference's trial count).
Rows needing trained models (C13–C17) and the torch SSA layer (C6) are outside this module.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np
from scipy.special import expit

import theory.selective as th
from verify.claims import Claim, Outcome, RunContext, check_verdict, paper_verdict, register
from verify.profiles import ClaimConfig
from verify.records import to_jsonable

SRC = "selective_attention.md"
K_SE = 4.0


# --- shared helpers --------------------------------------------------------------------------------------------

def _half_unit(text: str) -> float:
    """Half a unit of the last printed digit of a number written as text ('0.0046' → 5e-5, '6.18e-4' → 5e-7)."""
    mant, _, exp = text.lower().partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 0.5 * 10.0 ** (-decimals) * 10.0 ** (int(exp) if exp else 0)


def _ref_tol(se: float, trials: int, ref_trials: int, text: str) -> float:
    """Tolerance of |MC − ref| for a reference printed as ``text`` from an independent ``ref_trials`` run."""
    return K_SE * se * np.sqrt(1.0 + trials / ref_trials) + _half_unit(text)


def _point_seed(seed: int, *keys: int) -> int:
    """A seed per grid point, so adding points to a sweep leaves the draws of the others unchanged."""
    return int(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]).generate_state(1)[0])


def _arr(x) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in x], float) \
        if x and isinstance(x[0], list) else np.array([np.nan if v is None else v for v in x], float)


def _mpf_close(f_np, f_mp, points, dps: int) -> float:
    """Largest relative difference between a float64 function and a ``dps``-digit mpmath evaluation."""
    import mpmath

    worst = 0.0
    with mpmath.workdps(dps):
        for args in points:
            exact = f_mp(*[mpmath.mpf(float(a)) for a in args])
            worst = max(worst, float(abs((mpmath.mpf(float(f_np(*args))) - exact) / exact)))
    return worst


# --- C1: needle mass closed form --------------------------------------------------------------------------------

C1_N = [16, 64, 1024, 16384]
C1_VANILLA = ["0.5725", "0.2417", "0.0193", "0.0012"]
C1_SSA = ["0.9554", "0.9533", "0.9526", "0.9526"]


class NeedleConfig(ClaimConfig):
    Delta0: list[float] = [0.5, 1.0, 2.0, 3.0, 5.0, 8.0]
    log2_n: list[int] = [1, 2, 4, 6, 8, 10, 12, 14]
    dps: int = 30


def needle_plan(cfg: NeedleConfig) -> list[dict]:
    return [cfg.model_dump()]


def needle_run(p: dict, ctx: RunContext) -> dict:
    import sympy as sp

    from theory.selective import derivations as D

    vanilla = np.asarray(th.needle_mass(3.0, np.array(C1_N), 0.0))
    ssa = np.asarray(th.needle_mass(3.0, np.array(C1_N), 1 / 3))
    mass = sp.lambdify((D.Delta, D.n, D.s), D.derive_needle_mass(), modules="mpmath")
    printed = sp.lambdify((D.Delta0, D.n, D.s), D.derive_ssa_needle_mass(), modules="mpmath")
    pts = [(g, 2.0 ** k, s) for g in p["Delta0"] for k in p["log2_n"] for s in (0.0, 1.0 / g)]

    def f_np(g, n, s):
        return th.needle_mass(g, int(n), s)

    return to_jsonable({"vanilla": vanilla, "ssa": ssa, "points": len(pts),
                        "rel_sympy": _mpf_close(f_np, mass, pts, p["dps"]),
                        "rel_printed_form": _mpf_close(f_np, printed, pts, p["dps"])})


def needle_judge(cfg: NeedleConfig, results: list[dict]) -> Outcome:
    r = results[0]
    dev = max(max(abs(v - float(t)) for v, t in zip(r[k], ref)) for k, ref in
              (("vanilla", C1_VANILLA), ("ssa", C1_SSA)))
    rel = max(r["rel_sympy"], r["rel_printed_form"])
    ok = dev <= 1e-4 and rel <= 1e-12

    def fmt(xs):
        return "/".join(f"{x:.4f}" for x in xs)

    return Outcome(
        verdict=check_verdict(ok),
        theory=f"Δ0 = 3, s = 1/3: vanilla {fmt(r['vanilla'])}; SSA {fmt(r['ssa'])}",
        sim=f"numpy vs 30-digit sympy on {r['points']} points: max rel {rel:.1e}",
        paper=f"vanilla {'/'.join(C1_VANILLA)}; SSA {'/'.join(C1_SSA)}",
        reason="" if ok else f"printed values off by {dev:.1e} (tol 1e-4) or sympy by {rel:.1e} (tol 1e-12)",
        measured={"max_abs_vs_printed": dev, "max_rel_vs_sympy": rel, "vanilla": r["vanilla"], "ssa": r["ssa"]})


register(Claim(
    id="selective.needle_mass", kind="check", title="Needle mass p(Δ, n) with and without τ = 1 + s log n",
    source=f"{SRC} §3.1–§3.2; claims row C1",
    tolerance="printed values (n = 16/64/1024/16384) within 1e-4; numpy = 30-digit mpmath evaluation of the sympy "
              "needle-mass and printed p_SSA forms within 1e-12 relative on the (Δ0, n, s ∈ {0, 1/Δ0}) grid",
    config=NeedleConfig, plan=needle_plan, run=needle_run, judge=needle_judge,
    profiles={"paper": {"Delta0": [float(x) for x in np.round(np.linspace(0.5, 8.0, 16), 4)],
                        "log2_n": list(range(1, 21))}}))


# --- C2: log-n invariance at s = 1/Δ0 ---------------------------------------------------------------------------

class InvarianceConfig(ClaimConfig):
    n_min: int = 64
    Delta0_min: float = 1.0
    log2_n_max: int = 20
    Delta0_max: float = 8.0
    points: int = 400


def invariance_plan(cfg: InvarianceConfig) -> list[dict]:
    return [cfg.model_dump()]


def invariance_run(p: dict, ctx: RunContext) -> dict:
    import sympy as sp

    from theory.selective import derivations as D

    n = np.unique(np.round(np.geomspace(p["n_min"], 2.0 ** p["log2_n_max"], p["points"])).astype(np.int64))
    g = np.linspace(p["Delta0_min"], p["Delta0_max"], p["points"])
    N, G = np.meshgrid(n, g, indexing="ij")
    err = np.asarray(th.invariance_error(N, G))
    # the same quantity by a second route: the needle-mass closed form minus its limit σ(Δ0)
    direct = np.asarray(th.needle_mass(G, N, 1.0 / G)) - expit(G)
    sym = sp.lambdify((D.n, D.Delta0), D.derive_invariance_error(), modules="numpy")(N.astype(float), G)
    limit_ok = sp.simplify(D.derive_invariant_limit() - sp.exp(D.Delta0) / (sp.exp(D.Delta0) + 1)) == 0
    # regimes of §3.2: s·Δ0 < 1 decays, s·Δ0 > 1 sharpens (p_SSA(n) monotone for n >= a/(a − 1) when a > 1)
    regimes = {}
    for a in (0.9, 1.1):
        p_ssa = np.asarray(th.needle_mass(G, N, a / G))  # [n, Δ0]
        step = np.diff(p_ssa, axis=0)
        regimes[str(a)] = {"max_up": float(step.max()), "max_down": float(-step.min()),
                           "end_minus_start": float((p_ssa[-1] - p_ssa[0]).min() if a > 1 else
                                                    (p_ssa[-1] - p_ssa[0]).max())}
    return to_jsonable({
        "sup": float(err.max()), "argmax_n": int(N.flat[err.argmax()]), "argmax_Delta0": float(G.flat[err.argmax()]),
        "corner": float(th.invariance_error(p["n_min"], p["Delta0_min"])), "min": float(err.min()),
        "routes_abs": float(np.max(np.abs(err - direct))),
        "sympy_rel": float(np.max(np.abs(sym - err) / err)),
        "monotone_n": bool(np.all(np.diff(err, axis=0) <= 0)),
        "monotone_Delta0": bool(np.all(np.diff(err, axis=1) <= 0)),
        "limit_is_sigmoid": bool(limit_ok), "regimes": regimes, "grid": [int(n.size), int(g.size)]})


def invariance_judge(cfg: InvarianceConfig, results: list[dict]) -> Outcome:
    r = results[0]
    reg = r["regimes"]
    regimes_ok = (reg["0.9"]["max_up"] <= 0 and reg["0.9"]["end_minus_start"] < 0
                  and reg["1.1"]["max_down"] <= 0 and reg["1.1"]["end_minus_start"] > 0)
    bound_ok = r["sup"] <= 0.0031 and r["sup"] <= r["corner"] * (1 + 1e-12) and r["min"] >= 0
    ok = (bound_ok and r["routes_abs"] <= 1e-15 and r["sympy_rel"] <= 1e-12 and r["monotone_n"]
          and r["monotone_Delta0"] and r["limit_is_sigmoid"] and regimes_ok)
    return Outcome(
        verdict=check_verdict(ok),
        theory=f"sup |p_SSA − σ(Δ0)| = {r['corner']:.5f} at the corner n = {cfg.n_min}, Δ0 = {cfg.Delta0_min:g}",
        sim=f"{r['grid'][0]}×{r['grid'][1]} grid to n = 2^{cfg.log2_n_max}: max {r['sup']:.5f}, "
            f"two routes agree to {r['routes_abs']:.0e}; sΔ0 = 0.9 decays, 1.1 sharpens",
        paper="|p_SSA − σ(Δ0)| ≤ 0.0031 for all n ≥ 64, Δ0 ≥ 1",
        reason="" if ok else f"bound/monotonicity/regimes violated: {r}",
        measured={k: r[k] for k in ("sup", "corner", "routes_abs", "sympy_rel", "monotone_n", "monotone_Delta0",
                                    "limit_is_sigmoid")} | {"regimes": reg})


register(Claim(
    id="selective.log_n_invariance", kind="check", title="Length invariance of p_SSA at s = 1/Δ0 (error ≤ 0.0031)",
    source=f"{SRC} §3.2; claims row C2",
    tolerance="exact up to float64 round-off: error ≥ 0, non-increasing in n and Δ0 on the grid, sup at the "
              "corner and ≤ 0.0031; the closed form equals needle_mass − σ(Δ0) within 1e-15 and the sympy form "
              "within 1e-12 relative; sympy limit is σ(Δ0); sΔ0 = 0.9 never rises, 1.1 never falls (n ≥ 64)",
    config=InvarianceConfig, plan=invariance_plan, run=invariance_run, judge=invariance_judge,
    profiles={"paper": {"points": 2000}}))


# --- C3: required gap ------------------------------------------------------------------------------------------

C3_N = [16, 64, 256, 1024, 4096]
C3_REF = {"0.5": ["2.708", "4.143", "5.541", "6.930", "8.318"], "0.9": ["4.905", "6.340", "7.738", "9.128", "10.515"]}


class GapConfig(ClaimConfig):
    log2_n_max: int = 16
    points: int = 200
    h: float = 1e-4


def gap_plan(cfg: GapConfig) -> list[dict]:
    return [cfg.model_dump()]


def gap_run(p: dict, ctx: RunContext) -> dict:
    import sympy as sp

    from theory.selective import derivations as D

    n = np.unique(np.round(np.geomspace(2, 2.0 ** p["log2_n_max"], p["points"])).astype(np.int64))
    out = {"n": n, "table": {}, "curves": {}}
    inv, fd, sym = 0.0, 0.0, 0.0
    gap_sym = sp.lambdify((D.n, D.p), D.derive_required_gap(), modules="numpy")
    slope = np.asarray(th.required_gap_slope(n))
    for pv in (0.5, 0.9):
        gap = np.asarray(th.required_gap(n, pv))
        out["curves"][str(pv)] = gap
        out["table"][str(pv)] = np.asarray(th.required_gap(np.array(C3_N), pv))
        inv = max(inv, float(np.max(np.abs(np.asarray(th.needle_mass(gap, n)) - pv))))
        sym = max(sym, float(np.max(np.abs(gap_sym(n.astype(float), pv) - gap) / np.maximum(np.abs(gap), 1.0))))
        # dΔ*/d log n by a central difference of log(p(n − 1)/(1 − p)) in log n, n treated as continuous
        x = np.log(n.astype(float))
        g_hi = np.log(pv / (1 - pv)) + np.log(np.exp(x + p["h"]) - 1)
        g_lo = np.log(pv / (1 - pv)) + np.log(np.exp(x - p["h"]) - 1)
        fd = max(fd, float(np.max(np.abs((g_hi - g_lo) / (2 * p["h"]) - slope))))
    slope_sym = sp.simplify(D.derive_required_gap_slope() - D.n / (D.n - 1)) == 0
    out.update({"slope": slope, "inverse_abs": inv, "sympy_rel": sym, "slope_fd_abs": fd,
                "slope_sym": bool(slope_sym), "slope_at_max": float(slope[-1])})
    return to_jsonable(out)


def gap_judge(cfg: GapConfig, results: list[dict]) -> Outcome:
    r = results[0]
    dev = max(abs(v - float(t)) for pv, ref in C3_REF.items() for v, t in zip(r["table"][pv], ref))
    n_max = r["n"][-1]
    slope_ok = r["slope_fd_abs"] <= 1e-6 and r["slope_sym"] and abs(r["slope_at_max"] - 1 - 1 / (n_max - 1)) <= 1e-12
    ok = dev <= 1e-3 and r["inverse_abs"] <= 1e-12 and r["sympy_rel"] <= 1e-12 and slope_ok
    fig = {"n": r["n"], "curves": r["curves"], "slope": r["slope"], "table_n": C3_N,
           "table": {pv: [float(t) for t in ref] for pv, ref in C3_REF.items()}}
    return Outcome(
        verdict=check_verdict(ok),
        theory="Δ*(n, 0.9) = " + ", ".join(f"{v:.3f}" for v in r["table"]["0.9"]) + f"; slope n/(n−1) = "
               f"{r['slope_at_max']:.6f} at n = {n_max}",
        sim=f"p(Δ*) − p ≤ {r['inverse_abs']:.0e}; finite-difference slope within {r['slope_fd_abs']:.0e}",
        paper="4.905, 6.340, 7.738, 9.128, 10.515; slope in log n → 1",
        reason="" if ok else f"printed values off by {dev:.1e} (tol 1e-3) or slope/inverse checks failed",
        measured={"max_abs_vs_printed": dev, "inverse_abs": r["inverse_abs"], "sympy_rel": r["sympy_rel"],
                  "slope_fd_abs": r["slope_fd_abs"], "slope_at_max": r["slope_at_max"]},
        figures={"selective_required_gap": fig})


register(Claim(
    id="selective.required_gap", kind="check", title="Required gap Δ*(n, p) and its slope in log n",
    source=f"{SRC} §3.1; claims row C3",
    tolerance="printed Δ*(n, 0.5) and Δ*(n, 0.9) within 1e-3; needle_mass(Δ*) = p within 1e-12; numpy = sympy "
              "within 1e-12 (relative; absolute where |Δ*| < 1); slope n/(n − 1) = sympy, = central difference "
              "(h = 1e-4) within 1e-6",
    config=GapConfig, plan=gap_plan, run=gap_run, judge=gap_judge, figures=("selective_required_gap",),
    profiles={"paper": {"log2_n_max": 20, "points": 1000}}))


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


# --- C5: official s(β) semantics ------------------------------------------------------------------------------

C5_PRINTED = {"s(2)": "6.18e-4", "s(1.5)": "1.131e-2", "tau_2(1024)": "1.00428", "tau_2(2048)": "1.00471",
              "tau_1.5(1024)": "1.07842", "tau_1.5(2048)": "1.0863", "ds(2)": "-4.6e-3", "ds(1.5)": "-5.1e-2"}
C5_COMMENTED = [0.01, 0.01, 0.01, 0.13, 0.22, 0.20, 0.25, 0.23, 0.20, 0.12, 0.10, 0.05]


class OfficialConfig(ClaimConfig):
    T: int = 2048
    seed: int = 0


def official_plan(cfg: OfficialConfig) -> list[dict]:
    return [cfg.model_dump()]


def official_run(p: dict, ctx: RunContext) -> dict:
    import sympy as sp
    import torch

    from theory.selective import derivations as D

    s_b, ds, _ = D.derive_dexp_s()
    dsf = sp.lambdify(D.beta, ds, modules="numpy")
    vals = {"s(2)": th.dexp_s(2.0), "s(1.5)": th.dexp_s(1.5),
            "tau_2(1024)": th.position_temperature(1024, th.dexp_s(2.0)),
            "tau_2(2048)": th.position_temperature(2048, th.dexp_s(2.0)),
            "tau_1.5(1024)": th.position_temperature(1024, th.dexp_s(1.5)),
            "tau_1.5(2048)": th.position_temperature(2048, th.dexp_s(1.5)), "ds(2)": dsf(2.0), "ds(1.5)": dsf(1.5)}
    ds_sym = sp.simplify(ds + s_b * sp.exp(D.beta)) == 0
    roundtrip = float(np.max(np.abs(np.asarray(th.dexp_s(th.dexp_beta(C5_COMMENTED))) / C5_COMMENTED - 1)))

    # The official forward in float32: row t (0-indexed) of the logits times 1 + s·log(t + 1), s = exp(−e^β),
    # then the causal mask and a softmax in the logit dtype.
    T = p["T"]
    g = torch.Generator().manual_seed(p["seed"])
    logits = torch.randn(T, T, generator=g)
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def official(beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        s = torch.exp(-torch.exp(torch.tensor(beta, dtype=torch.float32)))
        scale = 1 + s * torch.log(torch.arange(1, T + 1, dtype=torch.float32))
        return scale, torch.softmax((logits * scale[:, None]).masked_fill(~mask, float("-inf")), dim=-1)

    vanilla = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
    scale_off, att_off = official(10.5)
    scale_2, _ = official(2.0)
    return to_jsonable({
        "values": {k: float(v) for k, v in vals.items()}, "ds_sym": bool(ds_sym), "roundtrip_rel": roundtrip,
        "s_10_5": float(th.dexp_s(10.5)), "tau_10_5": float(th.position_temperature(1 << 20, th.dexp_s(10.5))),
        "torch_s_10_5_zero": bool(float(torch.exp(-torch.exp(torch.tensor(10.5)))) == 0.0),
        "torch_vanilla_exact": bool(torch.equal(scale_off, torch.ones(T)) and torch.equal(att_off, vanilla)),
        "torch_tau_2_1024": float(scale_2[1023]),
        "torch_vs_theory_rel": float(abs(float(scale_2[1023]) / th.position_temperature(1024, th.dexp_s(2.0)) - 1))})


def official_judge(cfg: OfficialConfig, results: list[dict]) -> Outcome:
    r = results[0]
    devs = {k: abs(r["values"][k] - float(t)) / _half_unit(t) for k, t in C5_PRINTED.items()}
    printed_ok = all(v <= 1 for v in devs.values())
    exact_ok = r["s_10_5"] == 0.0 and r["tau_10_5"] == 1.0 and r["torch_s_10_5_zero"] and r["torch_vanilla_exact"]
    ok = printed_ok and exact_ok and r["ds_sym"] and r["roundtrip_rel"] <= 1e-13 and r["torch_vs_theory_rel"] <= 1e-6
    v = r["values"]
    return Outcome(
        verdict=check_verdict(ok),
        theory=f"s(2) = {v['s(2)']:.4e}, s(1.5) = {v['s(1.5)']:.5e}; τ(1024) = {v['tau_2(1024)']:.6f} / "
               f"{v['tau_1.5(1024)']:.6f}",
        sim=f"torch float32 official row scaling: β = 10.5 bit-identical to vanilla: {r['torch_vanilla_exact']}; "
            f"τ(1024) = {r['torch_tau_2_1024']:.6f}",
        paper="s(2) = 6.18e-4, s(1.5) = 1.131e-2; τ(1024) = 1.00428 / 1.07842; β = 10.5 exactly vanilla",
        reason="" if ok else f"printed-digit deviations (in half-units) {devs}; exact checks {exact_ok}",
        measured={"half_units": devs, "roundtrip_rel": r["roundtrip_rel"],
                  "torch_vanilla_exact": r["torch_vanilla_exact"]})


register(Claim(
    id="selective.official_s_semantics", kind="check", title="Official s(β) = exp(−e^β) semantics and β = 10.5",
    source=f"{SRC} §2.3; claims row C5",
    tolerance="every printed value (s, τ(1024), τ(2048), ds/dβ) to half a unit of its last printed digit (the "
              "spec's 1e-5 rel at their printed precision); β = 10.5: s == 0 and float32 row-scaled causal softmax "
              "bit-identical to vanilla; s → β → s round trip within 1e-13 rel; float32 τ within 1e-6 rel",
    config=OfficialConfig, plan=official_plan, run=official_run, judge=official_judge))


# --- C7: two-query min-norm construction --------------------------------------------------------------------------

C7_PRINTED = {"vanilla_u": "134.76", "ssa_u": "1.0025", "gate_w_bias": "21.18", "gate_w_nobias": "21.24"}


class TwoQueryConfig(ClaimConfig):
    rho: list[float] = [0.0, 0.5, 0.9, 0.99, 0.999]
    Delta2: list[float] = [1.5, 20.0, 100.0]
    dim: int = 8
    seed: int = 0


def two_query_plan(cfg: TwoQueryConfig) -> list[dict]:
    return [cfg.model_dump()]


def _numeric_min_norms(D1: float, D2: float, rho: float, dim: int, rng) -> dict:
    """Least-norm solutions by pseudo-inverse for unit x_1, x_2 in R^dim with cosine ρ (no closed form used)."""
    a = rng.standard_normal(dim)
    a /= np.linalg.norm(a)
    b = rng.standard_normal(dim)
    b -= (b @ a) * a
    b /= np.linalg.norm(b)
    X = np.stack([a, rho * a + np.sqrt(1 - rho**2) * b])
    P = np.linalg.pinv(X)
    u_van = P @ np.array([D1, D2])
    u_ssa = P @ np.array([D1, D1])  # Δ̄ = Δ_1, τ_k = Δ_k/Δ̄
    c = np.log(np.array([D1, D2]) / D1)
    w_nob = P @ c
    # free bias: ‖P(c − b·1)‖² is quadratic in b, minimised at b* = (P1)·(Pc)/‖P1‖²
    P1 = P @ np.ones(2)
    w_b = P @ (c - (P1 @ (P @ c)) / (P1 @ P1))
    tau = np.array([D1, D2]) / D1
    attained = float(np.max(np.abs(tau * (X @ u_ssa) - np.array([D1, D2]))) + np.max(np.abs(X @ u_van - [D1, D2])))
    return {"vanilla_u": np.linalg.norm(u_van), "ssa_u": np.linalg.norm(u_ssa), "gate_w_bias": np.linalg.norm(w_b),
            "gate_w_nobias": np.linalg.norm(w_nob), "attained": attained}


def two_query_run(p: dict, ctx: RunContext) -> dict:
    rng = np.random.default_rng(p["seed"])
    ref = {k: float(v) for k, v in th.two_query_min_norm(1.0, 20.0, 0.99).items()}
    worst, attained, n = 0.0, 0.0, 0
    for rho in p["rho"]:
        for D2 in p["Delta2"]:
            closed = th.two_query_min_norm(1.0, D2, rho)
            num = _numeric_min_norms(1.0, D2, rho, p["dim"], rng)
            attained = max(attained, num.pop("attained"))
            for k, v in num.items():
                worst = max(worst, abs(v - float(closed[k])) / max(abs(v), 1e-300))
            n += 1
    return to_jsonable({"ref": ref, "numeric_rel": worst, "attained_abs": attained, "cases": n})


def two_query_judge(cfg: TwoQueryConfig, results: list[dict]) -> Outcome:
    r = results[0]
    devs = {k: abs(r["ref"][k] - float(t)) for k, t in C7_PRINTED.items()}
    ok = max(devs.values()) <= 1e-2 and r["numeric_rel"] <= 1e-9 and r["attained_abs"] <= 1e-9
    f = r["ref"]
    return Outcome(
        verdict=check_verdict(ok),
        theory=f"vanilla ‖u‖ {f['vanilla_u']:.2f}; SSA ‖u‖ {f['ssa_u']:.4f}, "
               f"gate ‖w‖ {f['gate_w_bias']:.2f} "
               f"(bias) / {f['gate_w_nobias']:.2f}",
        sim=f"pseudo-inverse least-norm solutions, {r['cases']} (ρ, Δ2) cases: max rel {r['numeric_rel']:.1e}",
        paper="vanilla 134.76; SSA ‖u‖ 1.0025; gate ‖w‖ 21.18 (with bias), 21.24 without",
        reason="" if ok else f"printed deviations {devs}, numeric rel {r['numeric_rel']:.1e}",
        measured={"abs_vs_printed": devs, "numeric_rel": r["numeric_rel"], "attained_abs": r["attained_abs"]})


register(Claim(
    id="selective.two_query_min_norm", kind="check", title="Two-query min norm: vanilla vs query temperature",
    source=f"{SRC} §3.4; claims row C7",
    tolerance="printed norms within 1e-2; closed forms = pseudo-inverse least-norm solutions (bias minimised "
              "exactly) within 1e-9 relative on the (ρ, Δ2/Δ1) grid; the constructions attain the gaps within 1e-9",
    config=TwoQueryConfig, plan=two_query_plan, run=two_query_run, judge=two_query_judge,
    profiles={"paper": {"rho": [float(x) for x in np.round(np.linspace(0.0, 0.999, 112), 6)],
                        "Delta2": [1.01, 1.5, 2.0, 5.0, 20.0, 100.0, 1000.0]}}))


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


# --- C10: query temperature is inert for homogeneous linear attention ---------------------------------------------

class InertConfig(ClaimConfig):
    tau: list[float] = [0.3, 3.7, 10.0]
    d: int = 8
    N: int = 64
    d_v: int = 4
    trials: int = 16
    seed: int = 0
    n_keys: int = 3
    dim: int = 2


def inert_plan(cfg: InertConfig) -> list[dict]:
    return [cfg.model_dump()]


def inert_run(p: dict, ctx: RunContext) -> dict:
    from sim.selective import temperature_invariance
    from theory.selective import derivations as D

    kw = {"n_keys": p["n_keys"], "dim": p["dim"]}
    symbolic = {
        "normalized_homogeneous_p": str(D.derive_query_temperature_inert(**kw)),
        "normalized_identity": str(D.derive_query_temperature_inert(**kw, feature="tensor", degree=1)),
        "normalized_square": str(D.derive_query_temperature_inert(**kw, feature="tensor", degree=2)),
        "unnormalized_homogeneous_p": str(D.derive_query_temperature_unnormalized(**kw)),
        "unnormalized_square": str(D.derive_query_temperature_unnormalized(**kw, feature="tensor", degree=2))}
    numeric = {}
    for phi in ("identity", "square", "taylor"):
        r = temperature_invariance(phi, tau=p["tau"], d=p["d"], N=p["N"], d_v=p["d_v"], trials=p["trials"],
                                   seed=p["seed"])
        numeric[phi] = {"normalized_change": r.normalized_change, "unnormalized_scale_error":
                        r.unnormalized_scale_error if r.degree is not None else None}
    return to_jsonable({"symbolic": symbolic, "numeric": numeric})


def inert_judge(cfg: InertConfig, results: list[dict]) -> Outcome:
    r = results[0]
    sym_ok = all(v == "0" for v in r["symbolic"].values())
    hom = max(max(max(r["numeric"][phi][k]) for k in ("normalized_change", "unnormalized_scale_error"))
              for phi in ("identity", "square"))
    moves = [t for t, x in zip(cfg.tau, r["numeric"]["taylor"]["normalized_change"]) if t != 1.0 and x <= 1e-2]
    taylor_min = min(x for t, x in zip(cfg.tau, r["numeric"]["taylor"]["normalized_change"]) if t != 1.0)
    ok = sym_ok and hom <= 1e-6 and not moves
    return Outcome(
        verdict=check_verdict(ok),
        theory="sympy: out(τq) − out(q) = 0 for any φ(τq) = τ^p φ(q); unnormalized scales by τ^p",
        sim=f"float64: homogeneous φ max rel change {hom:.1e}; Taylor 1 + x + x²/2 changes by ≥ {taylor_min:.2f}",
        paper="normalized readout invariant under q → τq; unnormalized scales by τ^p",
        reason="" if ok else f"symbolic {r['symbolic']}; homogeneous change {hom:.1e}; Taylor inert at τ = {moves}",
        measured={"symbolic": r["symbolic"], "homogeneous_max_rel": hom, "taylor_min_change": taylor_min})


register(Claim(
    id="selective.linear_attention_inert", kind="check",
    title="Query temperature is inert for homogeneous linear attention",
    source=f"{SRC} §3.7, §4 S4; claims row C10",
    tolerance="sympy differences simplify to exactly 0 (general degree p, identity, x⊗x); float64 normalized "
              "change and unnormalized τ^p-scaling error ≤ 1e-6 relative; the non-homogeneous Taylor map changes "
              "the normalized readout by > 1e-2 at every τ ≠ 1",
    config=InertConfig, plan=inert_plan, run=inert_run, judge=inert_judge,
    profiles={"paper": {"tau": [0.1, 0.3, 2.0, 3.7, 10.0, 100.0], "d": 16, "N": 1024, "trials": 128}}))


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


# --- C12: parameter overhead -------------------------------------------------------------------------------------

C12_COUNTS = {("full_projection", "gpt2-small"): ("7.09", 1e6), ("per_head_linear", "gpt2-small"): ("221", 1e3),
              ("per_head_shared", "gpt2-small"): ("18.7", 1e3)}
C12_SHARES = {("full_projection", "gpt2-small"): "5.7", ("full_projection", "pythia-160m"): "4.4",
              ("full_projection", "pythia-410m"): "6.2", ("per_head_linear", "gpt2-small"): "0.18",
              ("per_head_shared", "gpt2-small"): "0.015"}


class OverheadConfig(ClaimConfig):
    models: list[str] = ["gpt2-small", "pythia-160m", "pythia-410m"]


def overhead_plan(cfg: OverheadConfig) -> list[dict]:
    return [cfg.model_dump()]


def overhead_run(p: dict, ctx: RunContext) -> dict:
    import torch
    from torch import nn

    from theory.selective import derivations as D

    def numel(*mods: nn.Module) -> int:
        return sum(q.numel() for m in mods for q in m.parameters())

    sym = D.derive_gate_parameter_counts()
    out = {}
    for name in p["models"]:
        ref = th.REFERENCE_MODELS[name]
        d, H, L = ref["d"], ref["H"], ref["L"]
        meta = torch.device("meta")  # shapes only, nothing allocated
        modules = {"full_projection": L * numel(nn.Linear(d, d, device=meta)),
                   "per_head_linear": L * numel(nn.Linear(d, H, device=meta), nn.Linear(d, H, device=meta)),
                   "per_head_shared": L * H * numel(nn.Linear(d // H, 1, device=meta),
                                                    nn.Linear(d // H, 1, device=meta)),
                   "official": L * numel(_scalar_module())}
        out[name] = {c: {"count": th.gate_parameter_count(d, H, L, c), "torch": modules[c],
                         "sympy": int(sym[c].subs({D.d: d, D.H: H, D.L: L})),
                         "share": float(th.parameter_overhead(c, name))} for c in th.CONSTRUCTIONS}
    return to_jsonable(out)


def _scalar_module():
    """The official gate: one scalar β per attention module (§2.3)."""
    import torch
    from torch import nn

    m = nn.Module()
    m.beta = nn.Parameter(torch.zeros(()))
    return m


def overhead_judge(cfg: OverheadConfig, results: list[dict]) -> Outcome:
    r = results[0]
    agree = all(v["count"] == v["torch"] == v["sympy"] for m in r.values() for v in m.values())
    printed = {}
    for (c, m), (text, unit) in C12_COUNTS.items():
        if m in r:
            printed[f"{c}/{m} count"] = abs(r[m][c]["count"] / unit - float(text)) <= _half_unit(text)
    for (c, m), text in C12_SHARES.items():
        if m in r:
            printed[f"{c}/{m} share"] = abs(100 * r[m][c]["share"] - float(text)) <= _half_unit(text)
    small = {m: 100 * v["per_head_linear"]["share"] for m, v in r.items()}
    about5 = {m: 100 * v["full_projection"]["share"] for m, v in r.items()}
    paper_ok = all(x < 0.5 for x in small.values()) and all(abs(x - 5) <= 1.5 for x in about5.values())
    ok = agree and all(printed.values()) and paper_ok
    g = r.get("gpt2-small", next(iter(r.values())))
    return Outcome(
        verdict=paper_verdict(ok),
        theory=f"full d×d per layer {g['full_projection']['count']:,}; per-head linear "
               f"{g['per_head_linear']['count']:,}; shared {g['per_head_shared']['count']:,} (GPT-2 small)",
        sim="shares (%): full " + ", ".join(f"{m} {x:.2f}" for m, x in about5.items())
            + "; per-head linear " + ", ".join(f"{m} {x:.3f}" for m, x in small.items())
            + f"; counts = torch modules = sympy: {agree}",
        paper="“less than 0.5%” (arXiv) and “about 5%” (NeurIPS) new parameters; §2.5: 7.09M (5.7%), "
              "221k (0.18%), 18.7k (0.015%)",
        reason="" if ok else f"printed {printed}; per-head shares {small}; full shares {about5}; agree {agree}",
        measured={"counts": r, "printed_ok": printed, "per_head_linear_pct": small, "full_projection_pct": about5})


register(Claim(
    id="selective.parameter_overhead", kind="paper",
    title="Gate parameter overhead matches the abstracts' “< 0.5%” and “about 5%”",
    source=f"{SRC} §2.5; claims row C12",
    tolerance="counts exact three ways (formula = sympy = numel of torch modules); §2.5 counts and shares to "
              "their printed digits; per-head linear gate < 0.5% and full d×d projection within 5 ± 1.5 "
              "percentage points on every reference model",
    config=OverheadConfig, plan=overhead_plan, run=overhead_run, judge=overhead_judge))

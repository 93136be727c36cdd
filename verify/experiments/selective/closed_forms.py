"""Selective claims decided by closed forms and exact computation: C1, C2, C3, C5, C7, C10, C12."""

from __future__ import annotations


import numpy as np
from scipy.special import expit

import theory.selective as th
from verify.claims import Claim, Outcome, RunContext, check_verdict, paper_verdict, register
from verify.profiles import ClaimConfig
from verify.records import to_jsonable

from verify.experiments.selective.common import SRC, _half_unit, _mpf_close


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

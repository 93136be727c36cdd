"""Checks of capdyn's own correctness for the icl topic: theory = Monte Carlo, closed form = ODE, conservation,
fixed points, sympy limits, and torch fast paths = faithful forward (icl_linear_attention.md §11 rows 1, 6–11,
15, 18, 22). Every check ends ``pass`` or ``fail``; a fail is a bug."""

from __future__ import annotations

import itertools

import numpy as np

import theory.icl as th
from verify.claims import Claim, Outcome, RunContext, check_verdict, register
from verify.profiles import ClaimConfig

SRC = "icl_linear_attention.md"


# --- row 1: population moments vs Monte Carlo --------------------------------------------------------------------

class MomentsConfig(ClaimConfig):
    D: int = 4
    N: int = 31
    n_samples: int = 400_000
    seed: int = 0


def moments_plan(cfg: MomentsConfig) -> list[dict]:
    return [cfg.model_dump()]


def moments_run(p: dict, ctx: RunContext) -> dict:
    from sim.icl import mc_moments

    Lam = th.covariance("code-default", p["D"], p["seed"] + 1)
    M = np.random.default_rng(p["seed"] + 2).standard_normal((p["D"], p["D"]))
    mc = mc_moments(Lam, p["N"], p["n_samples"], p["seed"], M=M)
    mom = th.population_moments(Lam, p["N"])
    z_S2 = np.abs(mc.S2 - mom.S2) / mc.S2_se
    z_L = abs(mc.loss - th.loss(M, mom)) / mc.loss_se
    return {"z_S2_max": float(z_S2.max()), "z_loss": float(np.max(z_L)), "rel_S2_max":
            float(np.max(np.abs(mc.S2 - mom.S2)) / np.max(np.abs(mom.S2))), "loss_mc": float(np.ravel(mc.loss)[0]),
            "loss_th": float(th.loss(M, mom))}


def moments_judge(cfg: MomentsConfig, results: list[dict]) -> Outcome:
    r = results[0]
    ok = r["z_S2_max"] <= 4 and r["z_loss"] <= 4
    return Outcome(verdict=check_verdict(ok), theory=f"L(M) = {r['loss_th']:.5f}",
                   sim=f"MC L(M) = {r['loss_mc']:.5f}; max |z| E[Λ̂²] {r['z_S2_max']:.2f}, L {r['z_loss']:.2f}",
                   reason="" if ok else "a Monte-Carlo estimate is more than 4 SE from theory", measured=r)


register(Claim(
    id="icl.moments_monte_carlo", kind="check", title="E[Λ̂²] and L(M) agree with Monte Carlo",
    source=f"{SRC} §4; claims row 1", tolerance="every entry within 4 standard errors (rotated Λ, random M)",
    config=MomentsConfig, plan=moments_plan, run=moments_run, judge=moments_judge,
    profiles={"paper": {"n_samples": 2_000_000}}))


# --- rows 9 and 10: σ(t) for Λ = cI, t_1/2 and t_mid -------------------------------------------------------------

class WhiteConfig(ClaimConfig):
    D: int = 4
    N: int = 31
    H: int = 8
    w_init: float = 1e-3
    dt: float = 1e-3
    eta: float = 1e-3
    P: int = 1000
    train_steps: int = 3001


def white_plan(cfg: WhiteConfig) -> list[dict]:
    base = {k: getattr(cfg, k) for k in ("D", "N", "H", "w_init", "dt", "eta")}
    runs = [{"kind": "white", "c": c, **base} for c in (1.0, 0.25)]
    runs.append({"kind": "white_trained", "P": cfg.P, "steps": cfg.train_steps, "seed": 0, **base})
    return runs


def white_run(p: dict, ctx: RunContext) -> dict:
    if p["kind"] == "white_trained":
        return _white_trained(p, ctx)
    from sim import icl as sim

    D, N, c = p["D"], p["N"], p["c"]
    Lam = c * np.eye(D)
    t_end = 1.7 * th.t_half(D, N, p["w_init"], c)
    v, U = sim.aligned_attn_m(p["H"], D, p["w_init"])
    rk = sim.attn_m_flow(Lam, N, v, U, int(np.ceil(t_end / p["dt"])) + 1, dt=p["dt"], mode="rk4", record_M=True)
    sig = np.einsum("tdd->t", rk.M[0]) / D
    off = float(np.max(np.abs(rk.M[0] - sig[:, None, None] * np.eye(D))))
    theory = th.sigma_white(rk.t, D, N, p["w_init"], c)
    L_th = th.loss_white(rk.t, D, N, p["w_init"], c)
    gd = sim.attn_m_flow(Lam, N, v, U, int(np.ceil(t_end / (2 * p["eta"]))) + 1, eta=p["eta"], mode="gd",
                         record_M=True)
    sig_gd = np.einsum("tdd->t", gd.M[0]) / D
    kap = 1 + (1 + D) / N

    def crossing(t, y, level):
        i = int(np.argmax(y >= level)) if np.any(y >= level) else -1
        return float(np.interp(level, y[i - 1:i + 1], t[i - 1:i + 1])) if i > 0 else float("nan")

    s_inf = 1 / (c * kap)
    L_mid = 0.5 * (D * c + th.final_loss(np.full(D, c), N))
    idx = np.unique(np.linspace(0, len(rk.t) - 1, 600).round().astype(int))
    gidx = np.unique(np.linspace(0, len(gd.t) - 1, 600).round().astype(int))
    return {"c": c, "max_abs": float(np.max(np.abs(sig - theory))), "max_loss_abs": float(np.max(np.abs(rk.loss[0] - L_th))),
            "offdiag": off, "t_half_rk4": crossing(rk.t, sig, s_inf / 2), "t_mid_rk4": crossing(rk.t, -rk.loss[0], -L_mid),
            "t_half_gd": crossing(gd.t, sig_gd, s_inf / 2), "t_mid_gd": crossing(gd.t, -gd.loss[0], -L_mid),
            "t_half": th.t_half(D, N, p["w_init"], c), "t_mid": th.t_mid(D, N, p["w_init"], c),
            "curve": {"t": rk.t[idx], "rk4": sig[idx], "theory": theory[idx], "t_gd": gd.t[gidx], "gd": sig_gd[gidx]}}


def _white_trained(p: dict, ctx: RunContext) -> dict:
    """ATTN_M in official-code units on Λ = I/4 (code-white) from the aligned balanced init (§9 E2, package
    choice): σ̂(t) = mean diagonal of the effective matrix, t = 2ηN·step."""
    import torch

    from verify.experiments.icl.runs import full_batch_loss
    from verify.models.linear_attention import AttnM
    from verify.tasks.icl import sample_regression
    from verify.train import train

    D, N = p["D"], p["N"]
    dev = torch.device(ctx.device)
    Lam = th.covariance("code-white", D)
    data = sample_regression(p["P"], N, D, Lam, seed=p["seed"], sampler="official", device=dev)
    model = AttnM(D, p["H"], 1.0, normalize_by_N=False, seed=p["seed"]).to(dev)
    model.aligned_balanced_init(p["w_init"] / np.sqrt(N))
    res = train(model, full_batch_loss(model, data, N), p["steps"], p["eta"], record_every=5, threads=1,
                callbacks=[lambda s, m: {"sigma": torch.diagonal(m.effective_matrix(N)).mean()}])
    t = res.steps * th.time_per_step(p["eta"], N, "attn_m", units="code")
    return {"curve": {"t": t, "sigma": np.asarray(res.records["sigma"], float),
                      "theory": th.sigma_white(t, D, N, p["w_init"], 1.0 / D)}, "diverged": res.diverged}


def sigma_judge(cfg: WhiteConfig, results: list[dict]) -> Outcome:
    rk = results[:2]
    worst = max(max(r["max_abs"], r["max_loss_abs"], r["offdiag"]) for r in rk)
    ok = worst <= 1e-8
    tr = results[2]["curve"]
    dev = float(np.max(np.abs(np.asarray(tr["sigma"]) - np.asarray(tr["theory"]))) / max(tr["theory"]))
    fig = {"white": [r["curve"] for r in rk], "cs": [r["c"] for r in rk], "trained": tr,
           "w_init": cfg.w_init, "N": cfg.N, "D": cfg.D}
    return Outcome(verdict=check_verdict(ok), theory="σ(t) = e^{rt}/[cκ(e^{rt}−1) + √D/w²] (Eq. 10)",
                   sim=f"RK4 max |σ − σ_th| = {worst:.1e} (c = 1, 1/4)",
                   trained=f"finite P={cfg.P}, Λ=I/4: max |σ̂ − σ|/σ(∞) = {dev:.3f}",
                   reason="" if ok else f"RK4 deviates by {worst:.2e} > 1e-8",
                   measured={"rk4_max_abs": worst, "trained_rel": dev}, figures={"icl_sigma_white": fig})


register(Claim(
    id="icl.sigma_white", kind="check", title="σ(t) for Λ = cI from the aligned balanced init (Eq. 10)",
    source=f"{SRC} §5.4, Eq. 10; claims row 9",
    tolerance="RK4 gradient flow vs closed form: |Δσ|, |ΔL| and off-diagonal of M ≤ 1e-8 (float64)",
    config=WhiteConfig, plan=white_plan, run=white_run, judge=sigma_judge,
    profiles={"paper": {"P": 5000, "train_steps": 6001}}, figures=("icl_sigma_white",), uses_device=True))

PRINTED = {1.0: (3.5898, 3.3694), 0.25: (62.982, 59.456)}


def times_judge(cfg: WhiteConfig, results: list[dict]) -> Outcome:
    rels_rk, rels_gd, printed = [], [], []
    for r in results[:2]:
        for key in ("t_half", "t_mid"):
            rels_rk.append(abs(r[f"{key}_rk4"] - r[key]) / r[key])
            rels_gd.append(abs(r[f"{key}_gd"] - r[key]) / r[key])
        if cfg.D == 4 and cfg.N == 31 and cfg.w_init == 1e-3:
            for val, ref in zip((r["t_half"], r["t_mid"]), PRINTED[r["c"]]):
                printed.append(abs(val - ref) <= 0.5 * 10 ** (np.floor(np.log10(ref)) - 4))
    ok = max(rels_rk) <= 1e-6 and max(rels_gd) <= 0.01 and all(printed)
    c1, c4 = results[0], results[1]
    return Outcome(
        verdict=check_verdict(ok),
        theory=f"c=1: {c1['t_half']:.4f}/{c1['t_mid']:.4f}; c=1/4: {c4['t_half']:.3f}/{c4['t_mid']:.3f}",
        sim=f"RK4 max rel {max(rels_rk):.1e}; GD (Δt = 2η = {2 * cfg.eta:g}) max rel {max(rels_gd):.1e}",
        paper="3.5898 / 3.3694 (c=1), 62.982 / 59.456 (c=1/4)",
        reason="" if ok else "marker times disagree", measured={"rk4": rels_rk, "gd": rels_gd, "printed_ok": printed})


register(Claim(
    id="icl.white_time_markers", kind="check", title="t_1/2 and t_mid closed forms vs RK4 and GD",
    source=f"{SRC} §5.4; claims row 10",
    tolerance="RK4 crossing times within 1e-6 relative; GD with Δt/τ = 2η ≤ 0.002 within 1%; closed forms equal the "
              "printed values to their last digit",
    config=WhiteConfig, plan=white_plan, run=white_run, judge=times_judge,
    profiles={"paper": {"P": 5000, "train_steps": 6001}}, uses_device=True))


# --- row 11: conservation ---------------------------------------------------------------------------------------

class ConservationConfig(ClaimConfig):
    D: int = 4
    N: int = 31
    H: int = 3
    init: float = 0.3
    dt: float = 0.005
    t_end: float = 60.0
    seed: int = 0


def conservation_plan(cfg: ConservationConfig) -> list[dict]:
    return [{"model": m, "R": R, **cfg.model_dump()} for m, R in (("attn_m", 1), ("attn_s", 1), ("attn_s", 2))]


def conservation_run(p: dict, ctx: RunContext) -> dict:
    from sim import icl as sim

    Lam = th.covariance("code-default", p["D"], p["seed"] + 5)
    steps = int(round(p["t_end"] / p["dt"])) + 1
    if p["model"] == "attn_m":
        v, U = sim.init_attn_m(1, p["H"], p["D"], p["init"], p["seed"], units="paper", N=p["N"])
        tr = sim.attn_m_flow(Lam, p["N"], v, U, steps, dt=p["dt"], mode="rk4")
    else:
        v, K, Q = sim.init_attn_s(1, p["H"], p["R"], p["D"], p["init"], p["seed"], units="paper", N=p["N"])
        tr = sim.attn_s_flow(Lam, p["N"], v, K, Q, steps, dt=p["dt"], mode="rk4")
    drift = max(float(np.max(np.abs(q - q[:, :1]))) for q in tr.conserved.values())
    return {"drift": drift, "loss_drop": float(tr.loss[0, 0] - tr.loss[0, -1])}


def conservation_judge(cfg: ConservationConfig, results: list[dict]) -> Outcome:
    worst = max(r["drift"] for r in results)
    moved = min(r["loss_drop"] for r in results)
    ok = worst < 1e-9 and moved > 0.05
    return Outcome(verdict=check_verdict(ok), theory="v_i² − ‖U_i‖², v_i² − Σ‖k‖², ‖k‖² − ‖q‖² constant",
                   sim=f"max drift {worst:.1e} while the loss fell by ≥ {moved:.2f}",
                   reason="" if ok else f"drift {worst:.2e} (tol 1e-9) or no learning ({moved:.3f})",
                   measured={"drift": worst, "loss_drop": moved})


register(Claim(
    id="icl.conservation", kind="check", title="Conserved quantities of the ATTN_M and ATTN_S flows",
    source=f"{SRC} §5.2, §6.1; claims row 11",
    tolerance="RK4 (float64) drift < 1e-9 through a drop (the loss must fall by > 0.05) for ATTN_M, ATTN_S R=1, 2",
    config=ConservationConfig, plan=conservation_plan, run=conservation_run, judge=conservation_judge))


# --- row 15: the 2^D fixed points --------------------------------------------------------------------------------

class FixedPointConfig(ClaimConfig):
    dims: list[int] = [4, 8]
    ranks: list[int] = [1, 2]
    N: int = 31


def fixed_plan(cfg: FixedPointConfig) -> list[dict]:
    return [{"D": D, "R": R, "N": cfg.N} for D in cfg.dims for R in cfg.ranks]


def fixed_run(p: dict, ctx: RunContext) -> dict:
    from sim import icl as sim

    D, R, N = p["D"], p["R"], p["N"]
    Lam = th.covariance("code-default", D, 3)
    mom = th.population_moments(Lam, N)
    grad, dloss, step = 0.0, 0.0, 0.0
    for m in range(D + 1):
        for S in itertools.combinations(range(D), m):
            v, K, Q = th.fixed_point(list(S), Lam, N, D + 1, R)
            dv, dK, dQ = th.attn_s_rhs(v, K, Q, mom)
            grad = max(grad, float(max(np.abs(dv).max(), np.abs(dK).max(), np.abs(dQ).max())))
            dloss = max(dloss, abs(th.loss(th.attn_s_matrix(v, K, Q), mom) - th.fixed_point_loss(list(S), Lam, N)))
            tr = sim.attn_s_flow(Lam, N, v, K, Q, 3, eta=0.05)  # population GD must not move
            step = max(step, float(np.max(np.abs(tr.final["K"][0] - K))), float(np.max(np.abs(tr.final["v"][0] - v))))
    return {"grad": grad, "loss": dloss, "sim_step": step, "count": 2 ** D}


def fixed_judge(cfg: FixedPointConfig, results: list[dict]) -> Outcome:
    g = max(r["grad"] for r in results)
    dl = max(r["loss"] for r in results)
    st = max(r["sim_step"] for r in results)
    ok = g < 1e-12 and dl < 1e-12 and st < 1e-12
    return Outcome(verdict=check_verdict(ok), theory="M(S): zero gradient, loss tr Λ − Σ_{d∈S} λ_d/κ_d",
                   sim=f"{sum(r['count'] for r in results)} fixed points: max |grad| {g:.1e}, |ΔL| {dl:.1e}, "
                       f"GD moves {st:.1e}",
                   reason="" if ok else "a constructed fixed point is not stationary", measured={"grad": g, "loss": dl})


register(Claim(
    id="icl.fixed_points", kind="check", title="The 2^D fixed points M(S) are stationary with loss tr Λ − Σ λ/κ",
    source=f"{SRC} §6.2, Eqs. 16–18; claims row 15",
    tolerance="|gradient|, |loss − formula| and one population GD step < 1e-12 (float64), every S, D = 4 and 8, R = 1, 2",
    config=FixedPointConfig, plan=fixed_plan, run=fixed_run, judge=fixed_judge))


# --- row 18: implicit solution of Eq. 21 --------------------------------------------------------------------------

class ScalarOdeConfig(ClaimConfig):
    lam: float = 0.4
    N: int = 31
    trLam: float = 1.0
    v0: float = 1e-3


def scalar_plan(cfg: ScalarOdeConfig) -> list[dict]:
    return [cfg.model_dump()]


def scalar_run(p: dict, ctx: RunContext) -> dict:
    from scipy.integrate import solve_ivp

    lam, v0 = p["lam"], p["v0"]
    kap = 1 + (1 + p["trLam"] / lam) / p["N"]
    v_star = th.scalar_ode_fixed_point(lam, kap)
    t_half = float(th.scalar_ode_time(0.5 * v_star, v0, lam, kap))
    t = np.linspace(0, 1.05 * float(th.scalar_ode_time(0.99 * v_star, v0, lam, kap)), 400)
    sol = solve_ivp(lambda _, v: th.scalar_ode_rhs(v, lam, kap), (0, t[-1]), [v0], t_eval=t, method="DOP853",
                    rtol=1e-12, atol=1e-15)
    du = float(np.max(np.abs(sol.y[0] - th.scalar_ode_v(t, v0, lam, kap)))) / v_star
    return {"v_star": v_star, "t_half": t_half, "du": du}


def scalar_judge(cfg: ScalarOdeConfig, results: list[dict]) -> Outcome:
    r = results[0]
    printed = True
    if (cfg.lam, cfg.N, cfg.trLam, cfg.v0) == (0.4, 31, 1.0, 1e-3):
        printed = abs(r["v_star"] - 1.30967) <= 5e-6 and abs(r["t_half"] - 6241.08) <= 5e-3
    ok = r["du"] <= 1e-8 and printed
    return Outcome(verdict=check_verdict(ok), theory=f"v* = {r['v_star']:.5f}; u = 0.5 at t = {r['t_half']:.4f}",
                   sim=f"solve_ivp (DOP853, rtol 1e-12) max |Δu| = {r['du']:.1e}",
                   paper="v* = 1.30967, u = 0.5 at t/τ = 6241.08",
                   reason="" if ok else "implicit solution disagrees", measured=r)


register(Claim(
    id="icl.scalar_ode_implicit", kind="check", title="Implicit solution F(u) of Eq. 21 matches an ODE solver",
    source=f"{SRC} §6.4, Eq. 21; claims row 18",
    tolerance="max |Δu| ≤ 1e-8 against solve_ivp; printed v* and t(u=0.5) to their last digit",
    config=ScalarOdeConfig, plan=scalar_plan, run=scalar_run, judge=scalar_judge))


# --- row 22: large-N limits ---------------------------------------------------------------------------------------

class LimitsConfig(ClaimConfig):
    D: int = 4


def limits_plan(cfg: LimitsConfig) -> list[dict]:
    return [{"D": cfg.D}]


def limits_run(p: dict, ctx: RunContext) -> dict:
    import sympy as sp

    lim = th.derive_large_N_limits(p["D"])
    lams = [lim.Lam[d, d] for d in range(p["D"])]
    plateaus = all(sp.simplify(lim.plateau_losses[m] - sum(lams[m:])) == 0 for m in range(p["D"] + 1))
    gamma = sp.simplify(lim.optimal_matrix - lim.Lam.inv()) == sp.zeros(p["D"], p["D"])
    Lam2 = th.derive_optimal_matrix(2).Lam
    general = sp.simplify(lim.optimal_matrix_general * Lam2 - sp.eye(2)) == sp.zeros(2, 2)
    projector = sp.simplify(lim.pcr_projector - 1) == 0
    return {"plateaus": bool(plateaus), "gamma": bool(gamma and general), "projector": bool(projector),
            "plateau_exprs": [str(e) for e in lim.plateau_losses]}


def limits_judge(cfg: LimitsConfig, results: list[dict]) -> Outcome:
    r = results[0]
    ok = r["plateaus"] and r["gamma"] and r["projector"]
    return Outcome(verdict=check_verdict(ok), theory="L(M_m) → Σ_{d>m} λ_d; Γ* → Λ⁻¹; λ_dΓ*_dd → 1 (PCR)",
                   sim="sympy: " + "; ".join(r["plateau_exprs"][:3]) + " …",
                   reason="" if ok else f"limits differ: {r}", measured=r)


register(Claim(
    id="icl.large_n_limits", kind="check", title="Large-N limits of plateaus, Γ* and the PCR form (sympy)",
    source=f"{SRC} §5.5, §6.3, §6.5; claims row 22", tolerance="exact (sympy.limit, simplified difference 0)",
    config=LimitsConfig, plan=limits_plan, run=limits_run, judge=limits_judge))

"""ATTN_M claims: one abrupt drop from tr Λ to L*, the converged matrix Γ*, the escape time and its log-init
slope, and ICL vs in-weight learning (icl_linear_attention.md §5, §9 E1/E8/E9, §11 rows 4, 5, 12, 13, 14, 24)."""

from __future__ import annotations

import numpy as np

import theory.icl as th
from verify.claims import Claim, Outcome, paper_verdict, register
from verify.experiments.icl.analysis import fmt_list, mean_se
from verify.experiments.icl.runs import run
from verify.profiles import ClaimConfig

SRC = "icl_linear_attention.md"


class Fig1Config(ClaimConfig):
    """E1 (Fig. 1): ATTN_M (H heads) and MLP(z), official-code units, full batch."""

    D: int = 4
    N: int = 31
    H: int = 8
    init: float = 1e-6
    eta: float = 1e-3
    seeds: int = 3
    sim_steps: int = 20001
    P: int = 1000
    train_steps: int = 12001
    train_seeds: int = 1
    sampler: str = "official"


# The paper's Fig. 1 trains 6001 steps; the converged-matrix claim needs the runs converged, so 20001.
FIG1_PAPER = {"P": 5000, "train_steps": 20001, "train_seeds": 3, "seeds": 5}


def fig1_plan(cfg: Fig1Config) -> list[dict]:
    base = {"D": cfg.D, "N": cfg.N, "H": cfg.H, "init": cfg.init, "eta": cfg.eta, "lam": "code-default"}
    runs = [{"kind": "population", "model": "attn_m", "steps": cfg.sim_steps, "seed": s, **base}
            for s in range(cfg.seeds)]
    runs += [{"kind": "population", "model": "attn_m", "steps": cfg.sim_steps, "seed": 0,
              **{**base, "lam": "code-white"}}]
    for model in ("attn_m", "mlp"):
        runs += [{"kind": "trained", "model": model, "steps": cfg.train_steps, "P": cfg.P, "sampler": cfg.sampler,
                  "seed": s, "lam_seed": s, **base} for s in range(cfg.train_seeds)]
    return runs


def _split(cfg: Fig1Config, results: list[dict]):
    pop = results[: cfg.seeds]
    white = results[cfg.seeds]
    tr_m = results[cfg.seeds + 1: cfg.seeds + 1 + cfg.train_seeds]
    tr_mlp = results[cfg.seeds + 1 + cfg.train_seeds:]
    return pop, white, tr_m, tr_mlp


def _theory(cfg: Fig1Config):
    lam = th.default_eigvals(cfg.D)
    return lam, float(lam.sum()), th.final_loss(lam, cfg.N)


def _band(curves: list[dict], key: str = "loss") -> dict:
    steps = np.asarray(curves[0]["steps"])
    ys = np.array([np.interp(steps, c["steps"], c[key]) for c in curves])
    return {"steps": steps, "mean": ys.mean(0), "lo": ys.min(0), "hi": ys.max(0), "n": len(curves)}


# --- row 4: start and end losses, Fig. 1 ------------------------------------------------------------------------

POP_TOL, END_TOL = 1e-4, {1000: 0.02, 5000: 0.015}
CONVERGED = 1e-4  # loss decrease over the last 20% of a run below which it counts as converged


def _finite_tol(P: int) -> float:
    # The spec's tolerances at P = 5000 (0.015) and the smoke P = 1000 (0.02); other P scale as 1/√P from 5000.
    return END_TOL.get(P, 0.015 * np.sqrt(5000 / P))


def judge_endpoints(cfg: Fig1Config, results: list[dict]) -> Outcome:
    pop, white, tr_m, tr_mlp = _split(cfg, results)
    lam, trL, L_star = _theory(cfg)
    white_star = th.final_loss(np.full(cfg.D, 1.0 / cfg.D), cfg.N)
    start_err = max(abs(r["loss0"] - trL) for r in pop)
    end_err = max(abs(r["loss_final"] - L_star) for r in pop)
    white_err = abs(white["loss_final"] - white_star)
    tol_f = _finite_tol(cfg.P)
    trained = tr_m + tr_mlp
    finite_err = max(abs(r["loss_final"] - L_star) for r in trained)
    diverged = any(r["diverged"] for r in results)
    ok = start_err <= POP_TOL and end_err <= POP_TOL and white_err <= POP_TOL and finite_err <= tol_f
    drop_pred = th.attn_m_escape_steps_code(np.diag(lam), cfg.N, cfg.eta, np.sqrt(cfg.H) * cfg.init)
    fig = {"L0": trL, "L_star": L_star, "drop_pred": drop_pred,
           "population": _band([r["curve"] for r in pop]),
           "attn_m": _band([r["curve"] for r in tr_m]), "mlp": _band([r["curve"] for r in tr_mlp]),
           "config": cfg.model_dump()}
    reason = "" if ok else (f"max |start − trΛ| = {start_err:.2g}, |end − L*| = {end_err:.2g} (pop, tol {POP_TOL}); "
                            f"Λ=I/4 end error {white_err:.2g}; trained end error {finite_err:.3g} (tol {tol_f:.3g})")
    return Outcome(
        verdict=paper_verdict(ok, conclusive=not diverged),
        theory=f"{trL:g} → L* = {L_star:.6f}; Λ=I/4: {white_star:.6f}",
        sim=f"{np.mean([r['loss0'] for r in pop]):.6f} → {np.mean([r['loss_final'] for r in pop]):.6f}; "
            f"Λ=I/4: {white['loss_final']:.6f}",
        trained=f"ATTN_M {fmt_list([r['loss_final'] for r in tr_m])}; MLP {fmt_list([r['loss_final'] for r in tr_mlp])}",
        paper="1 → 0.135995 (dotted line of Fig. 1); Λ=I/4: 0.138889",
        reason=reason if not diverged else "a run diverged",
        measured={"start_err": start_err, "end_err": end_err, "white_err": white_err, "finite_err": finite_err,
                  "finite_tol": tol_f},
        figures={"icl_fig1": fig})


register(Claim(
    id="icl.attn_m_loss_endpoints", kind="paper",
    title="ATTN_M starts at tr Λ and converges to L* (Fig. 1)",
    source=f"{SRC} §5.3, §5.5, Fig. 1; claims row 4",
    tolerance=f"population |Δ| ≤ {POP_TOL} (start, end, Λ=I/4 end); trained final train loss within 0.02 (P=1000) / "
              "0.015 (P=5000) of L*",
    config=Fig1Config, plan=fig1_plan, run=run, judge=judge_endpoints, profiles={"paper": FIG1_PAPER},
    figures=("icl_fig1",), uses_device=True))


# --- row 5: converged matrix = Γ* --------------------------------------------------------------------------------

def judge_matrix(cfg: Fig1Config, results: list[dict]) -> Outcome:
    pop, _, tr_m, tr_mlp = _split(cfg, results)
    lam, _, _ = _theory(cfg)
    gamma = np.diag(th.optimal_matrix(np.diag(lam), cfg.N))
    pop_rel = max(float(np.max(np.abs(np.asarray(r["M_eig"]) - gamma) / gamma)) for r in pop)
    fin_rel = max(float(np.max(np.abs(np.asarray(r["M_eig"]) - gamma) / gamma)) for r in tr_m + tr_mlp)
    # Information beside the fixed 5% rule: the deviation in units of the finite-P sampling error of M̂.
    fin_z = max(float(np.max(np.abs(np.asarray(r["M_eig"]) - gamma) / np.asarray(r["M_eig_se"])))
                for r in tr_m + tr_mlp)
    ok = pop_rel <= 1e-3 and fin_rel <= 0.05
    diverged = any(r["diverged"] for r in results)
    still = [r["tail_drop"] for r in pop + tr_m + tr_mlp if r["tail_drop"] > CONVERGED]
    mean_pop = np.mean([r["M_eig"] for r in pop], axis=0)
    mean_tr = np.mean([r["M_eig"] for r in tr_m], axis=0)
    return Outcome(
        verdict=paper_verdict(ok, conclusive=not diverged and not still),
        theory="Γ*_dd = " + fmt_list(gamma, 7),
        sim="eig M = " + fmt_list(mean_pop, 7) + f" (max rel err {pop_rel:.1e})",
        trained="eig M = " + fmt_list(mean_tr, 4) + f" (max rel err {fin_rel:.3f}, {fin_z:.1f} SE)",
        paper="2.246377, 2.924528, 4.189189, 7.380952 (code units ÷ 31)",
        reason=(f"not converged: loss still fell by {max(still):.1e} over the last 20% of steps" if still else
                "" if ok else f"population max rel err {pop_rel:.2e} (tol 1e-3), trained {fin_rel:.3f} (tol 0.05); "
                f"the trained deviation is {fin_z:.1f} standard errors of the P={cfg.P} least-squares estimate"),
        measured={"pop_rel": pop_rel, "finite_rel": fin_rel, "finite_z": fin_z})


register(Claim(
    id="icl.attn_m_converged_matrix", kind="paper",
    title="Converged ATTN_M matrix equals Γ* = (Λ + (Λ + trΛ·I)/N)⁻¹ (Eq. 11)",
    source=f"{SRC} §5.5, Eq. 11; claims row 5",
    tolerance="eigenbasis diagonal of M vs Γ*_dd: population ≤ 1e-3 relative, trained ≤ 5% relative; "
              "inconclusive unless every run converged (loss fell < 1e-4 over its last 20% of steps)",
    config=Fig1Config, plan=fig1_plan, run=run, judge=judge_matrix, profiles={"paper": FIG1_PAPER},
    uses_device=True))


# --- row 12: escape time, random init -----------------------------------------------------------------------------

def judge_escape(cfg: Fig1Config, results: list[dict]) -> Outcome:
    pop, _, tr_m, tr_mlp = _split(cfg, results)
    lam, _, _ = _theory(cfg)
    pred = th.attn_m_escape_steps_code(np.diag(lam), cfg.N, cfg.eta, np.sqrt(cfg.H) * cfg.init)
    sim_m, sim_se = mean_se([r["drop_step"] for r in pop])
    tr = [r["drop_step"] for r in tr_m + tr_mlp]
    rel = [abs(x - pred) / pred for x in [sim_m] + tr]
    ok = all(np.isfinite(rel)) and max(rel) <= 0.25
    return Outcome(
        verdict=paper_verdict(ok, conclusive=not any(r["diverged"] for r in results)),
        theory=f"{pred:.0f} steps (w_init = √H·init)",
        sim=f"{sim_m:.0f} ± {sim_se:.0f} steps",
        trained=f"{fmt_list(tr)} steps",
        paper="drop ≈ step 950 (Fig. 1)",
        reason="" if ok else f"max relative deviation {max(rel):.2f} > 0.25",
        measured={"pred": pred, "sim": sim_m, "sim_se": sim_se, "trained": tr, "max_rel": max(rel)})


register(Claim(
    id="icl.attn_m_escape_time", kind="paper",
    title="ATTN_M escape time ≈ ln(1/(√N w_init))/(2ηN‖Λ²‖_F) steps (Fig. 1 config ≈ 948)",
    source=f"{SRC} §5.3; claims row 12",
    tolerance="population mean and each trained drop step (midpoint crossing) within ±25% of the formula",
    config=Fig1Config, plan=fig1_plan, run=run, judge=judge_escape, profiles={"paper": FIG1_PAPER},
    uses_device=True))


# --- row 14: exactly one drop ---------------------------------------------------------------------------------

class OneDropConfig(Fig1Config):
    heads: list[int] = [1, 2, 8]


def one_drop_plan(cfg: OneDropConfig) -> list[dict]:
    runs = fig1_plan(cfg)
    base = {"D": cfg.D, "N": cfg.N, "init": cfg.init, "eta": cfg.eta, "lam": "code-default"}
    runs += [{"kind": "population", "model": "attn_m", "steps": cfg.sim_steps, "seed": s, "H": H, **base}
             for H in cfg.heads for s in range(cfg.seeds)]
    return runs


def judge_one_drop(cfg: OneDropConfig, results: list[dict]) -> Outcome:
    n_fig1 = len(fig1_plan(cfg))
    pop, white, tr_m, tr_mlp = _split(cfg, results[:n_fig1])
    by_head = results[n_fig1:]
    counts_pop = [r["n_drops"] for r in pop + [white] + by_head]
    counts_tr = [r["n_drops"] for r in tr_m + tr_mlp]
    ok = all(c == 1 for c in counts_pop + counts_tr)
    return Outcome(
        verdict=paper_verdict(ok, conclusive=not any(r["diverged"] for r in results)),
        theory="one drop (two fixed points M_0, M_*)",
        sim=f"drops per run {sorted(set(counts_pop))} over H ∈ {cfg.heads} and {cfg.seeds} seeds",
        trained=f"drops per run {counts_tr}",
        paper="ATTN_M shows one abrupt drop (Fig. 1)",
        reason="" if ok else f"drop counts {counts_pop} (population), {counts_tr} (trained)",
        measured={"pop": counts_pop, "trained": counts_tr})


register(Claim(
    id="icl.attn_m_single_drop", kind="paper",
    title="ATTN_M has exactly one abrupt drop for any H ≥ 1 from small init",
    source=f"{SRC} §5.3, §9 E1; claims row 14",
    tolerance="drop count (flat stretches ±2% of the run changing < 0.5% L(0), separated by ≥ 2% L(0)) equals 1 "
              "in every run",
    config=OneDropConfig, plan=one_drop_plan, run=run, judge=judge_one_drop,
    profiles={"paper": FIG1_PAPER}, uses_device=True))


# --- row 13: escape vs init --------------------------------------------------------------------------------------

class EscapeInitConfig(ClaimConfig):
    D: int = 4
    N: int = 31
    H: int = 8
    eta: float = 1e-3
    inits: list[float] = [1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3]
    seeds: int = 3
    steps: int = 3001


def escape_init_plan(cfg: EscapeInitConfig) -> list[dict]:
    return [{"kind": "population", "model": "attn_m", "D": cfg.D, "N": cfg.N, "H": cfg.H, "eta": cfg.eta,
             "lam": "code-default", "init": i, "seed": s, "steps": cfg.steps}
            for i in cfg.inits for s in range(cfg.seeds)]


def judge_escape_init(cfg: EscapeInitConfig, results: list[dict]) -> Outcome:
    lam = th.default_eigvals(cfg.D)
    slope_pred = th.attn_m_escape_slope_code(np.diag(lam), cfg.N, cfg.eta)
    x = np.log(1.0 / np.repeat(cfg.inits, cfg.seeds))
    y = np.array([r["drop_step"] for r in results])
    finite = np.isfinite(y)
    conclusive = finite.all() and not any(r["diverged"] for r in results)
    A = np.vstack([x[finite], np.ones(finite.sum())]).T
    coef, res, *_ = np.linalg.lstsq(A, y[finite], rcond=None)
    dof = max(1, finite.sum() - 2)
    s2 = float(np.sum((y[finite] - A @ coef) ** 2)) / dof
    slope_se = float(np.sqrt(s2 * np.linalg.inv(A.T @ A)[0, 0]))
    rel = abs(coef[0] - slope_pred) / slope_pred
    ok = rel <= 0.03
    means = [mean_se(y[i * cfg.seeds:(i + 1) * cfg.seeds]) for i in range(len(cfg.inits))]
    pred_line = [th.attn_m_escape_steps_code(np.diag(lam), cfg.N, cfg.eta, np.sqrt(cfg.H) * i) for i in cfg.inits]
    fig = {"log_inv_init": np.log(1 / np.asarray(cfg.inits)), "mean": [m for m, _ in means],
           "se": [s for _, s in means], "fit": list(coef), "slope_pred": slope_pred, "pred": pred_line}
    return Outcome(
        verdict=paper_verdict(ok, conclusive=conclusive),
        theory=f"slope {slope_pred:.2f} steps per e-fold",
        sim=f"slope {coef[0]:.2f} ± {slope_se:.2f}",
        paper="slope 1/(2ηN‖Λ²‖_F) = 85.7 (observed 86.2)",
        reason="" if ok else f"fitted slope off by {100 * rel:.1f}% (> 3%)",
        measured={"slope": coef[0], "slope_se": slope_se, "pred": slope_pred, "rel": rel},
        figures={"icl_escape_attn_m": fig})


register(Claim(
    id="icl.attn_m_escape_vs_init", kind="paper",
    title="ATTN_M escape steps grow linearly in ln(1/init) with slope 1/(2ηN‖Λ²‖_F)",
    source=f"{SRC} §5.3, §9 E9; claims row 13",
    tolerance="least-squares slope of drop step vs ln(1/init) within 3% of the prediction",
    config=EscapeInitConfig, plan=escape_init_plan, run=run, judge=judge_escape_init,
    profiles={"paper": {"seeds": 5, "inits": [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3]}},
    figures=("icl_escape_attn_m",)))


# --- row 24: ICL vs IWL ---------------------------------------------------------------------------------------

class IwlConfig(ClaimConfig):
    D: int = 4
    N: int = 31
    H: int = 8
    cs: list[float] = [0.0, 0.4, 1.0]
    P: int = 1000
    P_test: int = 1000
    init: float = 1e-6
    eta: float = 1e-3
    steps: int = 3001
    seeds: int = 1


def iwl_plan(cfg: IwlConfig) -> list[dict]:
    return [{"kind": "icl_iwl", "D": cfg.D, "N": cfg.N, "H": cfg.H, "c": c, "P": cfg.P, "P_test": cfg.P_test,
             "init": cfg.init, "eta": cfg.eta, "steps": cfg.steps, "seed": s, "lam": "code-white"}
            for c in cfg.cs for s in range(cfg.seeds)]


def _iwl_pattern(c: float, r: dict) -> bool:
    """The qualitative pattern of E8 for one run (thresholds fixed in the claim's tolerance)."""
    if c == 1.0:
        return r["ic_final"] < 0.3 and 0.85 <= r["iw_final"] <= 1.25
    if c == 0.0:
        return r["iw_final"] < 0.25 and r["ic_final"] > 1.5
    transient = r["iw_min"] < 0.8 * r["iw0"] and r["iw_final"] > r["iw_min"] + 0.05
    return transient and r["ic_final"] < 0.5


def judge_iwl(cfg: IwlConfig, results: list[dict]) -> Outcome:
    rows = []
    ok = True
    for i, c in enumerate(cfg.cs):
        for r in results[i * cfg.seeds:(i + 1) * cfg.seeds]:
            ok &= _iwl_pattern(c, r)
            rows.append(f"c={c:g}: IW min {r['iw_min']:.2f}→{r['iw_final']:.2f}, IC {r['ic_final']:.2f}")
    fig = {"cs": cfg.cs, "runs": [r["curve"] for r in results[::cfg.seeds]]}
    return Outcome(
        verdict=paper_verdict(ok, conclusive=not any(r["diverged"] for r in results)),
        theory="c=1: ICL only; 0<c<1: transient IWL then ICL; c=0: IWL (IC test ≳ 2)",
        trained="; ".join(rows),
        paper="c=0.2: IW dips to ≈0.25 then returns ≈1.05; c=1 IC ≈0.14; c=0 IC > 2.3 (Fig. 14)",
        reason="" if ok else "the pattern differs: " + "; ".join(rows),
        measured={"runs": [{k: r[k] for k in ("iw_min", "iw_final", "ic_final", "ic_max", "train_final")}
                           for r in results]},
        figures={"icl_iwl": fig})


register(Claim(
    id="icl.icl_vs_iwl", kind="paper",
    title="ICL vs in-weight learning: transient IWL replaced by ICL when 0 < c < 1",
    source=f"{SRC} §2.3, §9 E8 (appendix Fig. 14); claims row 24",
    tolerance="c=1: IC final < 0.3 and IW final in [0.85, 1.25]; c=0: IW final < 0.25 and IC final > 1.5; "
              "0<c<1: IW min < 0.8·IW(0), IW final > IW min + 0.05, IC final < 0.5",
    config=IwlConfig, plan=iwl_plan, run=run, judge=judge_iwl,
    profiles={"paper": {"cs": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], "P": 5000, "P_test": 5000, "eta": 5e-4,
                        "steps": 5001}},
    figures=("icl_iwl",), uses_device=True))

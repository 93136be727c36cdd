"""Figures of the factual-recall transformer claims (associative_memory.md §6–§7, rows F2–F4), each drawn from its
JSON data only. Fitted lines carry their seed-bootstrap 95% band; the official hand-placed guide (facts =
0.15·P_paper) and hand-drawn boundary are drawn dashed grey, labelled as such, never as a law."""

from __future__ import annotations

import numpy as np

from verify.figures import drawer
from verify.plots._style import SIM, TRAIN, TRAIN2, arr, subplots

GUIDE = {"color": "0.45", "ls": "--", "lw": 1.0}


def _colors(n: int):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    return [cmap(v) for v in np.linspace(0.0, 0.9, max(n, 1))]


@drawer("memory_facts_vs_params")
def facts_vs_params(d: dict):
    curves = d["curves"]
    scalings = sorted({c["scaling"] for c in curves})
    fig, axes = subplots(2 * len(scalings), width=5.0, height=4.0)
    for j, scaling in enumerate(scalings):
        ax, ax2 = axes[2 * j], axes[2 * j + 1]
        group = [c for c in curves if c["scaling"] == scaling]
        Ps = []
        for c, color in zip(group, _colors(len(group))):
            label = f"(α_att, β_mlp) = ({c['alpha_att']:g}, {c['beta_mlp']:g})"
            for cell in c["cells"]:
                P = cell["P_paper"]
                Ps.append(P)
                f = [v for v in cell["all_facts"] if v and v > 0]
                ax.plot([P] * len(f), f, ".", color=color, alpha=0.35, ms=4)
                if cell.get("logistic_f50"):
                    ax.plot(P * 1.04, cell["logistic_f50"], "d", mfc="none", color=color, ms=5)
                if cell.get("median") is not None:
                    lo, hi = cell["ci"]
                    ax.errorbar(P, cell["median"], yerr=[[cell["median"] - lo], [hi - cell["median"]]], fmt="o",
                                color=color, ms=4, capsize=2)
                    ax2.errorbar(P, cell["median"] / P, yerr=[[(cell["median"] - lo) / P],
                                                               [(hi - cell["median"]) / P]],
                                 fmt="o", color=color, ms=4, capsize=2)
            if c.get("slope") is not None:
                Pg = arr(c["fit_P"])
                ax.plot(Pg, arr(c["fit_line"]), color=color, lw=1.3,
                        label=f"{label}: slope {c['slope']:.2f} [{c['slope_ci'][0]:.2f}, {c['slope_ci'][1]:.2f}]")
                ax.fill_between(Pg, arr(c["fit_lo"]), arr(c["fit_hi"]), color=color, alpha=0.18, lw=0)
                ax2.plot(Pg, arr(c["fit_line"]) / Pg, color=color, lw=1.3,
                         label=f"{label}: c_P {c['c_P']:.3f} [{c['c_P_ci'][0]:.3f}, {c['c_P_ci'][1]:.3f}]")
                ax2.fill_between(Pg, arr(c["fit_lo"]) / Pg, arr(c["fit_hi"]) / Pg, color=color, alpha=0.18, lw=0)
            else:
                ax.plot([], [], "o", color=color, label=f"{label}: < 2 resolved cells")
        g0, g1 = d["guide_P"]  # the official guide spans [8e2, 1e5]; drawn where the data are
        lo_P, hi_P = (min(Ps) / 1.5, max(Ps) * 1.5) if Ps else (g0, g1)
        Pg = np.geomspace(max(lo_P, g0) if max(lo_P, g0) < hi_P else lo_P, hi_P, 50)
        ax.plot([], [], "d", mfc="none", color="0.3", label="logistic success curve: facts at p = ½")
        ax.plot([], [], ".", color="0.3", label="per seed (bisection, acc ≥ 0.99); ● median, 95% CI")
        ax.plot(Pg, d["guide_c_P"] * Pg, **GUIDE, label=f"official guide facts = {d['guide_c_P']}·P (hand-placed)")
        ax2.axhline(d["guide_c_P"], **GUIDE, label="official guide 0.15 (hand-placed)")
        steps, batch, T = d["budget"]
        ax.set(xscale="log", yscale="log", xlabel="P_paper = 4Hd_h d + 2md", ylabel="facts stored (acc ≥ 0.99)",
               title=f"facts_99 vs parameters ({scaling}; {steps} steps × {batch}, T = {T})")
        ax2.set(xscale="log", yscale="log", xlabel="P_paper", ylabel="facts_99 / P_paper",
                title="facts per parameter (median over seeds, 95% CI)")
        ax.legend(fontsize=6, loc="upper left")
        ax2.legend(fontsize=6, loc="best")
        pooled = (d.get("pooled") or {}).get(scaling)
        if pooled:
            ax2.text(0.02, 0.02, f"pooled: slope {pooled['slope']:.2f} [{pooled['slope_ci'][0]:.2f}, "
                                 f"{pooled['slope_ci'][1]:.2f}], facts/P {pooled['c_P']:.3f} "
                                 f"[{pooled['c_P_ci'][0]:.3f}, {pooled['c_P_ci'][1]:.3f}]",
                     transform=ax2.transAxes, fontsize=7)
    return fig


def _edges(v: np.ndarray) -> np.ndarray:
    """Cell edges halfway between grid values (log scale), for a non-uniform pcolormesh."""
    lv = np.log(v)
    if v.size == 1:
        return np.exp(np.r_[lv - 0.5, lv + 0.5])
    mid = 0.5 * (lv[1:] + lv[:-1])
    return np.exp(np.r_[lv[0] - (mid[0] - lv[0]), mid, lv[-1] + (lv[-1] - mid[-1])])


@drawer("memory_tradeoff_grid")
def tradeoff_grid(d: dict):
    fig, axes = subplots(2, width=5.4, height=4.4)
    x, y = arr(d["x"]), arr(d["y"])
    xe, ye = _edges(x), _edges(y)
    for ax, key, title in ((axes[0], "accuracy", "final test accuracy (mean over seeds)"),
                           (axes[1], "success", "fraction of seeds with accuracy ≥ 0.99")):
        z = np.array([arr(row) for row in d[key]]).T  # [m, H]
        mesh = ax.pcolormesh(xe, ye, z, cmap="magma", vmin=0, vmax=1, shading="flat")
        fig.colorbar(mesh, ax=ax, fraction=0.046)
        pts = np.array(d["boundary"], float).reshape(-1, 2)
        if pts.size:
            ax.plot(pts[:, 0], pts[:, 1], "o", color=SIM, ms=5, mec="w", label="per-H boundary (success ½)")
        fit = d.get("fit")
        xs = np.geomspace(xe[0], xe[-1], 100)
        if fit:
            yl = fit["y0"] + fit["slope"] * xs
            keep = yl > 0
            ci = ""
            if fit.get("y0_ci"):
                ci = f", y0 CI [{fit['y0_ci'][0]:.0f}, {fit['y0_ci'][1]:.0f}]"
            ax.plot(xs[keep], yl[keep], color=SIM, lw=1.5,
                    label=f"fit y = {fit['y0']:.0f} {fit['slope']:+.2f}x (R² {fit['r2']:.2f}{ci})")
        if d.get("paper_config"):
            xb = np.linspace(1280, 4700, 50)
            ax.plot(xb, 2300 - xb / 2, color="r", ls="--", lw=1, label="official hand-drawn boundary")
            ax.plot([1280, 1280], [1660, 4300], color="r", ls="--", lw=1)
        else:
            s = d["S"] ** 2 / 1024
            yl = 2300 * s - xs / 2
            keep = yl > 0
            ax.plot(xs[keep], yl[keep], **GUIDE, label="official y + x/2 = 2300 scaled by SR/1024")
        ax.set(xscale="log", yscale="log", xlim=(xe[0], xe[-1]), ylim=(ye[0], ye[-1]),
               xlabel="attention parameters x = d·d_h·H", ylabel="MLP parameters y = d·m",
               title=f"{title}\nS = R = {d['S']}, D = {d['D']}, d = {d['d']}, d_h = {d['d_h']}, {d['seeds']} seed(s)")
        ax.legend(fontsize=6, loc="upper right")
    return fig


@drawer("memory_either_memory")
def either_memory(d: dict):
    arms = d["arms"]
    fig, axes = subplots(1, width=7.0, height=3.8)
    ax = axes[0]
    labels, k = [], 0
    for arm, color in (("attention", TRAIN), ("mlp", TRAIN2)):
        for r in arms.get(arm, []):
            accs = [s["test_acc"] for s in r["seeds"]]
            shown = [a if a is not None else 0.0 for a in accs]
            ax.bar(k, np.mean(shown), color=color, alpha=0.5, width=0.7,
                   label={"attention": "m = 1 (value memory)", "mlp": "V, O frozen (MLP memory)"}[arm]
                   if not any(lab.startswith(arm) for lab in labels) else None)
            ax.plot([k] * len(shown), shown, "k.", ms=5)
            for a in accs:
                if a is None:
                    ax.plot(k, 0.0, "rx", ms=7)
            labels.append(f"{arm}\nH{r['H']} d_h{r['d_h']} m{r['m']}\n{r['facts_per_storing']:.2f} facts/P_st")
            k += 1
    ax.axhline(d["acc_99"], color="k", ls=":", lw=1, label="0.99 (stored)")
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set(ylim=(0, 1.02), ylabel="final test accuracy (seeds as dots; × diverged)",
           title=f"Either memory suffices: S = R = {d['S']}, D = {d['D']}, d = {d['d']}")
    ax.legend(fontsize=7, loc="lower right")
    return fig

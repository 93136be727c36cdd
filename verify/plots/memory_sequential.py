"""Figures of the §8 sequential-learning claims (associative_memory.md §8), each drawn from its JSON data only.

Curves are test-set metrics of the one-hot linear-attention model: sim (numba closed-form SGD) seeds as thin
lines, torch-trained seeds dashed. Dotted black lines: theory levels; vertical lines: predicted stage times
(ln(1/a0) + c)/(η‖g‖), c = 1.8.
"""

from __future__ import annotations

import numpy as np

from verify.figures import drawer
from verify.plots._style import SIM, THEORY, TRAIN, TRAIN2, arr, subplots

COMPONENTS = (("loss", "total CE", "k"), ("relation_loss", "relation-only", TRAIN), ("subject_loss", "subject-only",
                                                                                    SIM))


def _rows(x) -> np.ndarray:
    return np.array([arr(r) for r in x]) if x and isinstance(x[0], list) else np.atleast_2d(arr(x))


def _draw_runs(ax, runs, key, color, label, lw=1.0):
    for r in runs:
        steps, vals = arr(r["steps"]), _rows(r[key])
        ls = "-" if r["engine"] == "sim" else "--"
        for i, v in enumerate(vals):
            ax.plot(steps, v, color=color, lw=lw, ls=ls, alpha=0.85,
                    label=f"{label} ({r['engine']}, {len(vals)} seed{'s' if len(vals) > 1 else ''})" if i == 0
                    else None)


def _marks(ax, pred: dict, ymax: float):
    for key, name in (("t_rel", "relation"), ("t_subj", "subject")):
        ax.axvline(pred[key], color="0.35", lw=0.9, ls="-.")
        ax.text(pred[key], ymax, f" predicted {name}\n t = {pred[key]:.0f}", fontsize=6, va="top", color="0.3")


@drawer("memory_sequential_curves")
def curves(d: dict):
    fig, (a1, a2) = subplots(2, width=5.6, height=3.8)
    runs = d["runs"]
    for lo, hi, name in d["paper_stages"]:
        for ax in (a1, a2):
            ax.axvspan(lo, hi, color={"Init": "0.93", "Hallucination": "#fde9d9", "Convergence": "#e6f2e6"}[name],
                       lw=0, zorder=0)
        a1.text(0.5 * (lo + hi), 0.15, name, ha="center", fontsize=6.5, color="0.35")
    for key, label, color in COMPONENTS:
        _draw_runs(a1, runs, key, color, label)
    a1.axhline(d["plateaus"]["initial"], **THEORY)
    a1.axhline(d["plateaus"]["relation"], **THEORY)
    a1.text(0, d["plateaus"]["initial"], "ln(RD)", fontsize=6, va="bottom")
    a1.text(0, d["plateaus"]["relation"], "ln D", fontsize=6, va="bottom")
    _marks(a1, d["predicted"], 3.9)
    a1.set(xlabel="SGD step", ylabel="test loss (nats)", ylim=(0, 4.0),
           title="S16 R4 D8 structured, a0 = 1e-5, η = 0.1, batch 1024\n(shaded: the paper's stages)")
    a1.legend(fontsize=6, loc="upper right")
    _draw_runs(a2, runs, "accuracy", TRAIN2, "accuracy")
    a2.axhline(1 / 8, **THEORY)
    a2.text(0, 1 / 8, "1/D", fontsize=6, va="bottom")
    _marks(a2, d["predicted"], 1.0)
    a2.set(xlabel="SGD step", ylabel="test accuracy", ylim=(0, 1.05), title="Accuracy (argmax over the RD answers)")
    a2.legend(fontsize=6, loc="center right")
    return fig


@drawer("memory_sequential_stage_times")
def stage_times(d: dict):
    fig, (a1, a2) = subplots(2, width=5.0, height=3.8)
    rows = [r for r in d["rows"] if r.get("t_rel") is not None and r.get("t_subj") is not None]
    cfgs = sorted({(r["S"], r["R"], r["D"], r["a0"], r["lr"]) for r in rows})
    colors = dict(zip(cfgs, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                             "#7f7f7f", "#bcbd22", "#17becf")))
    lim = [np.inf, 0]
    for r in rows:
        c = colors[(r["S"], r["R"], r["D"], r["a0"], r["lr"])]
        for k, m in (("rel", "o"), ("subj", "s")):
            a1.plot(r[f"pred_{k}"], r[f"t_{k}"], m, color=c, ms=5, mfc="none" if k == "rel" else c)
            lim = [min(lim[0], r[f"pred_{k}"], r[f"t_{k}"]), max(lim[1], r[f"pred_{k}"], r[f"t_{k}"])]
    if rows:
        x = np.geomspace(lim[0] * 0.8, lim[1] * 1.25, 10)
        a1.plot(x, x, **THEORY, label="measured = predicted")
        a1.fill_between(x, 0.8 * x, 1.2 * x, color="0.85", lw=0, label="±20%")
    for cfg, c in colors.items():
        a1.plot([], [], "s", color=c, label=f"S{cfg[0]} R{cfg[1]} D{cfg[2]} a0={cfg[3]:g} η={cfg[4]:g}")
    a1.plot([], [], "o", mfc="none", color="k", label="relation (open)")
    a1.set(xscale="log", yscale="log", xlabel=f"predicted steps, c = {d['c']:g}",
           ylabel=f"measured steps (component loss < 0.5; ±{d['resolution']})",
           title="Stage times: (ln(1/a0) + c)/(η‖g‖)")
    a1.legend(fontsize=5.5, loc="upper left")
    for r in rows:
        if "c_rel" in r:
            c = colors[(r["S"], r["R"], r["D"], r["a0"], r["lr"])]
            a2.plot(r["ratio_pred"], r["ratio"], "D", color=c, ms=5)
    if rows:
        rr = np.array([r["ratio_pred"] for r in rows])
        x = np.linspace(0.9 * rr.min(), 1.1 * rr.max(), 10)
        a2.plot(x, x, **THEORY, label="measured = (S/R)√((R−1)/(D−1))")
        a2.fill_between(x, 0.9 * x, 1.1 * x, color="0.85", lw=0, label="±10%")
    fit = d.get("fit")
    title = "t_subj/t_rel"
    if fit:
        title += f"\npooled c = η‖g‖t − ln(1/a0): {fit['c']:.2f} ± {fit['se']:.2f} (n = {fit['n']})"
    a2.set(xlabel="predicted ratio", ylabel="measured ratio", title=title)
    a2.legend(fontsize=6)
    return fig


@drawer("memory_sequential_reversal")
def reversal(d: dict):
    fig, (a1, a2) = subplots(2, width=5.4, height=3.8)
    for key, label, color in COMPONENTS:
        _draw_runs(a1, d["runs"], key, color, label)
    a1.axhline(d["plateaus"]["initial"], **THEORY)
    a1.axhline(d["plateaus"]["subject"], **THEORY)
    a1.text(0, d["plateaus"]["initial"], "ln(RD)", fontsize=6, va="bottom")
    a1.text(0, d["plateaus"]["subject"], "ln R", fontsize=6, va="bottom")
    _marks(a1, d["predicted"], 6.0)
    a1.set(xlabel="SGD step", ylabel="test loss (nats)", ylim=(0, 6.2),
           title=f"S8 R32 D8: ratio {d['predicted']['ratio']:.2f} < 1, subject first")
    a1.legend(fontsize=6, loc="lower left")
    _draw_runs(a2, d["runs"], "accuracy", TRAIN2, "accuracy")
    a2.axhline(1 / 32, **THEORY)
    a2.text(0, 1 / 32, "1/R", fontsize=6, va="bottom")
    a2.set(xlabel="SGD step", ylabel="test accuracy", ylim=(0, 1.05), title="Accuracy")
    a2.legend(fontsize=6)
    return fig


@drawer("memory_sequential_marginal")
def marginal(d: dict):
    fig, (ax,) = subplots(1, width=6.0, height=3.8)
    colors = {"random": TRAIN, "structured": SIM}
    for r in d["runs"]:
        steps, vals = arr(r["steps"]), _rows(r["loss"])
        keep = steps <= max(4 * d["step"], 1536)
        for i, v in enumerate(vals):
            ax.plot(steps[keep], v[keep], color=colors[r["table"]], lw=1.1,
                    label=f"{r['table']} S{r['S']} R{r['R']} D{r['D']}" if i == 0 else None)
        if r["table"] == "random":
            for h in r["marginal_entropy"]:
                ax.axhline(h, color=colors["random"], lw=0.7, ls=":")
    ax.plot([], [], color=colors["random"], lw=0.7, ls=":", label="H(answer marginal), random tables")
    ax.axhline(d["initial"]["structured"], **THEORY, label="ln(RD) = ln 32")
    ax.axvline(d["step"], color="0.4", lw=0.8, ls="-.")
    ax.errorbar([d["step"]], [d["ref"]], yerr=[0.1], fmt="x", color="k", capsize=3, label="§8.4: 2.50 ± 0.1")
    ax.set(xlabel="SGD step", ylabel="test loss (nats)", title="Marginal stage: noise/EOS tokens fit the answer "
                                                                "marginal first")
    ax.legend(fontsize=6.5)
    return fig


@drawer("memory_sequential_additivity")
def additivity(d: dict):
    fig, (a1, a2) = subplots(2, width=5.0, height=3.6)
    colors = {"random": SIM, "shared": TRAIN}
    names = {"random": "disjoint answer sets A_r (random table)", "shared": "one shared answer set, |A| = 8"}
    for r in d["runs"]:
        steps = arr(r["steps"])
        for key, ax in (("accuracy", a1), ("loss", a2)):
            for i, v in enumerate(_rows(r[key])):
                ax.plot(steps, v, color=colors[r["table"]], lw=1.1, label=names[r["table"]] if i == 0 else None)
    a1.axhspan(*d["ref_shared"], color=TRAIN, alpha=0.15, lw=0, label="§6.4: shared set stalls at 0.68–0.71")
    a1.axhline(d["bound"], **THEORY, label=f"claim bound {d['bound']}")
    a1.set(xlabel="SGD step", ylabel="test accuracy", ylim=(0, 1.05), title="Additive storage (S16 R4 D8)")
    a1.legend(fontsize=6)
    a2.set(xlabel="SGD step", ylabel="test loss (nats)", yscale="log", title="Test loss")
    a2.legend(fontsize=6)
    return fig

"""Figures of the Cabannes–Dohmatob–Bietti claims (associative_memory.md §9), each drawn from its JSON data only.

Error bars are ±2 SE over trials (Monte Carlo over embeddings and samples) or seeds (trained memories). Dotted
black lines are theory: the chance-corrected tail mass, the unseen mass and the scheme exponents.
"""

from __future__ import annotations

import numpy as np

from verify.figures import drawer
from verify.plots._style import THEORY, arr, subplots

COLORS = {"threshold": "#1f77b4", "frequency": "#ff7f0e", "fill": "#7f7f7f", "seen": "#2ca02c", "power": "#9467bd"}


def _grid(x) -> np.ndarray:
    if isinstance(x, list) and x and isinstance(x[0], list):
        return np.array([_grid(v) for v in x], float)
    return arr(x)


def _color(label: str) -> str:
    return COLORS.get(label.split()[0], "k")


def _inf_index(T):
    return T.index(None) if None in T else None


@drawer("memory_cabannes_error_d")
def error_d(d: dict):
    runs = d["runs"]
    fig, axes = subplots(len(runs), width=5.6, height=4.0)
    for ax, r in zip(axes, runs):
        t = _inf_index(r["T"])
        if t is None:
            continue
        dd = arr(r["d"])
        E, se = _grid(r["error"])[:, :, t], _grid(r["error_se"])[:, :, t]
        for j, label in enumerate(r["schemes"]):
            # at T = ∞ every token is seen, so "seen" and "fill" are the same memory: fill drawn dashed on top
            fill = label == "fill"
            ax.errorbar(dd, E[j], yerr=2 * se[j], fmt="o--" if fill else "o-", ms=3.5, lw=1, capsize=2,
                        color=_color(label), zorder=3 if fill else 2,
                        label="fill (= seen at T = ∞)" if fill else label)
        if r["alpha"] > 1:
            ax.plot(dd, arr(r["threshold_theory"]), **THEORY, label="(1 − 1/M)·tail mass beyond K = d/8")
            g = r["guides"]
            x = np.geomspace(dd.min(), dd.max(), 20)
            ax.plot(x, g["threshold"]["level"] * x ** g["threshold"]["exponent"], color=COLORS["threshold"], lw=0.7,
                    ls="--", label=f"official guide {g['threshold']['level']}·d^{g['threshold']['exponent']:g}")
            ax.plot(x, g["frequency"]["level"] * x ** g["frequency"]["exponent"], color=COLORS["frequency"], lw=0.7,
                    ls="--", label=f"official guide {g['frequency']['level']}·d^{g['frequency']['exponent']:g}")
        if d["fit_d_max"] < dd.max():
            ax.axvline(d["fit_d_max"], color="0.6", lw=0.7, ls="-.", label="slope fits: d left of this line")
        ax.set(xscale="log", yscale="log", xlabel="d", ylabel="error E = Σ p(x)1{f̂(x) ≠ f*(x)}",
               title=f"T = ∞ (q from p), α = {r['alpha']:g}, N = {r['N']}, M = {r['M']}, {r['trials']} trials")
        _ticks(ax, dd)
        ax.legend(fontsize=6, loc="lower left")
    return fig


def _ticks(ax, values) -> None:
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(list(values), [f"{v:g}" for v in values])


@drawer("memory_cabannes_error_T")
def error_T(d: dict):
    runs = d["runs"]
    fig, axes = subplots(len(runs) + 1, width=5.2, height=4.0)
    for ax, r in zip(axes, runs):
        fin = [i for i, t in enumerate(r["T"]) if t is not None]
        T = np.array([r["T"][i] for i in fin], float)
        E, se = _grid(r["error"]), _grid(r["error_se"])
        dd = arr(r["d"])
        shades = np.linspace(0.35, 1.0, len(dd))
        for j, label in enumerate(r["schemes"]):
            if not label.startswith(("threshold", "seen")):
                continue
            for k, a in enumerate(shades):
                ax.errorbar(T, E[j, k, fin], yerr=2 * se[j, k, fin], fmt="o-" if label.startswith("threshold")
                            else "s--", ms=3, lw=0.9, capsize=1.5, color=_color(label), alpha=float(a),
                            label=f"{label}, d = {int(dd[k])}" if k in (0, len(dd) - 1) else None)
        u = arr(r["unseen_theory"])[fin]
        ax.plot(T, (1 - 1 / r["M"]) * u, **THEORY, label="(1 − 1/M)·unseen mass (d = ∞)")
        ax.set(xscale="log", yscale="log", xlabel="T (samples)", ylabel="error",
               title=f"Error vs T, α = {r['alpha']:g}, N = {r['N']} (darker: larger d)")
        ax.legend(fontsize=5.5, loc="lower left")
    ax = axes[-1]
    mc = d["unseen_mc"]
    Tm = arr(mc["T"])
    ax.errorbar(Tm, arr(mc["mean"]), yerr=4 * arr(mc["se"]), fmt="o", color="#d62728", capsize=3,
                label=f"Monte Carlo ({mc['trials']} samples) ± 4 SE")
    x = np.geomspace(Tm.min() / 10, Tm.max() * 10, 40)
    # the exact curve is not stored densely: draw the asymptote through the closed-form points
    ax.plot(Tm, arr(mc["theory"]), "x", color="k", ms=7, label="Σ p(1 − p)^T")
    c = float(np.exp(np.mean(np.log(arr(mc["theory"])) + 0.5 * np.log(Tm))))
    ax.plot(x, c * x ** -0.5, **THEORY, label=f"∝ T^(−1/2) (fitted slope at N = 1e6: {d['slope']:.3f})")
    ax.set(xscale="log", yscale="log", xlabel="T", ylabel="unseen mass",
           title=f"Unseen mass, α = {mc['alpha']:g}, N = {mc['N']}")
    ax.legend(fontsize=6)
    return fig


@drawer("memory_cabannes_grid")
def grid(d: dict):
    runs = d["runs"]
    models = sorted({r["model"] for r in runs})
    fig, axes = subplots(len(models), width=5.2, height=4.0)
    styles = {("SGD", False): ("#1f77b4", "-"), ("SGD", True): ("#1f77b4", ":"), ("Adam", False): ("#d62728", "-"),
              ("Adam", True): ("#d62728", ":")}
    for ax, model in zip(axes, models):
        keys = sorted({(r["optimizer"], r["layernorm"], r["batch"], r["T"]) for r in runs if r["model"] == model})
        for opt, ln, batch, T in keys:
            sel = sorted((r for r in runs if r["model"] == model and (r["optimizer"], r["layernorm"], r["batch"],
                                                                         r["T"]) == (opt, ln, batch, T)),
                         key=lambda r: r["d"])
            lrs = sel[0]["lr"]
            i = lrs.index(1.0) if 1.0 in lrs else 0
            dd = np.array([r["d"] for r in sel], float)
            errs = [_grid(r["error"])[i] for r in sel]
            m = np.array([np.nanmean(e) for e in errs])
            s = np.array([np.nanstd(e, ddof=1) / np.sqrt(np.sum(np.isfinite(e))) for e in errs])
            color, ls = styles[(opt, ln)]
            ax.errorbar(dd, m, yerr=2 * s, color=color, ls=ls, marker="o" if batch <= 64 else "s", ms=3.5, lw=1,
                        capsize=2, alpha=1.0 if batch <= 64 else 0.6,
                        label=f"{opt}{'+LN' if ln else ''} B{batch} T{T} lr {lrs[i]:g}")
        present = {(r["optimizer"], r["layernorm"], r["batch"]) for r in runs if r["model"] == model}
        if model == "matrix":
            for opt, ln, batch, e10, e1000 in d["table"]:
                if (opt, ln, batch) not in present:
                    continue
                color, _ = styles[(opt, ln)]
                ax.plot([10, 1000], [e10, e1000], "x", color=color, ms=6, alpha=1.0 if batch <= 64 else 0.6)
            ax.plot([], [], "x", color="k", label="official stored means (T 10240, lr 1)")
        if model == "learnable":
            ax.axhline(d["bound"], **THEORY, label=f"claim bound {d['bound']}")
        ax.set(xscale="log", yscale="log", xlabel="d", ylabel="error after one pass",
               title=f"`{model}` (N = 100, M = 5, α = 2)")
        ax.legend(fontsize=5.5)
    return fig


@drawer("memory_cabannes_margin")
def margin(d: dict):
    fig, (a1, a2) = subplots(2, width=5.2, height=4.0)
    T = arr(d["samples"])
    sgd = _grid(d["sgd"])
    k = 2
    a1.errorbar(T, sgd.mean(1), yerr=k * sgd.std(1, ddof=1) / np.sqrt(sgd.shape[1]), fmt="o-", color="k", lw=1.4,
                capsize=2, label="SGD (matrix, W₀ = 0)")
    mem = _grid(d["memories"])
    colors = ["#d62728", "#ff7f0e", "#2ca02c", "#9467bd"]
    for v, name in enumerate(d["variants"]):
        a1.errorbar(T, mem[v].mean(1), yerr=k * mem[v].std(1, ddof=1) / np.sqrt(mem.shape[2]), fmt="s--", ms=3,
                    lw=1, capsize=2, color=colors[v % len(colors)], label=f"W_q, q = {name}")
    floor = (1 - 1 / d["M"]) * arr(d["unseen"])
    low = 0.5 * min(np.nanmin(sgd.mean(1)), np.nanmin(mem.mean(2)))
    if np.any(floor >= low):
        a1.plot(T[floor >= low], floor[floor >= low], **THEORY, label="(1 − 1/M)·unseen mass")
    a1.set_ylim(bottom=low)
    a1.set(xscale="log", yscale="log", xlabel="samples seen (steps × batch)", ylabel="error",
           title=f"Margin recursion vs SGD (γ = {d['gamma']:.2e})")
    a1.legend(fontsize=6)
    stats = d.get("stats", {})
    for v, name in enumerate(d["variants"]):
        if name not in stats:
            continue
        m, s = arr(stats[name]["mean_diff"]), arr(stats[name]["se"])
        a2.errorbar(T, m, yerr=d["k_se"] * s, fmt="o-", ms=3, lw=1, capsize=2, color=colors[v % len(colors)],
                    label=f"SGD − W_q({name}) ± {d['k_se']:g} SE")
    a2.axhspan(-d["floor"], d["floor"], color="0.85", lw=0, label=f"±{d['floor']}")
    a2.axhline(0, color="k", lw=0.6)
    a2.set(xscale="log", xlabel="samples seen", ylabel="paired error difference", title="Paired differences")
    a2.legend(fontsize=6)
    return fig

"""Figures of the ``recall`` topic, each drawn from its JSON data only (test_time_memory.md §1 figures, §10 X2–X4)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from verify.figures import drawer
from verify.plots._style import SIM, THEORY, TRAIN, TRAIN2, arr

METHOD_STYLE = {
    "la": {"color": "#1f77b4", "label": "LA"},
    "delta": {"color": "#d62728", "label": "delta (1 pass)"},
    "ls": {"color": "#2ca02c", "label": "LS (pinv)"},
}
RIDGE_COLORS = ("#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def _method_style(name: str, lams: list[str]) -> dict:
    if name in METHOD_STYLE:
        return dict(METHOD_STYLE[name], ls="-", marker="o")
    lam = name[name.index("=") + 1: -1]
    color = RIDGE_COLORS[lams.index(lam) % len(RIDGE_COLORS)]
    if name.startswith("ridge"):
        return {"color": color, "ls": "-", "marker": "s", "label": f"ridge λ={lam}"}
    return {"color": color, "ls": "none", "marker": "x", "label": f"Mesa-CG λ={lam}"}


def _lams(names) -> list[str]:
    return sorted({n[n.index("=") + 1: -1] for n in names if "=" in n}, key=float)


def _grid(n: int, ncols: int, w: float = 4.2, h: float = 3.4):
    ncols = min(n, ncols)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


@drawer("recall_capacity")
def capacity(d: dict):
    panels = d["panels"]
    n = len(panels)
    fig, axes = plt.subplots(3, n, figsize=(4.6 * n, 10.0), squeeze=False, sharex="col")
    for j, p in enumerate(panels):
        N = arr(p["N"])
        lams = _lams(p["methods"])
        ax_e, ax_s, ax_a = axes[:, j]
        tN = arr(p["theory_N"])
        for name, y in p["theory"].items():  # theory first, as lines; measurements on top, as markers only
            if name in ("la", "ls"):
                ax_e.plot(tN, arr(y), color="k", ls="--", lw=1.0, label="LA, LS closed forms" if name == "la" else None)
            else:
                lam = name[name.index("=") + 1: -1]
                ax_e.plot(tN, arr(y), color=RIDGE_COLORS[lams.index(lam) % len(RIDGE_COLORS)], ls="--", lw=1.0,
                          label=f"ridge, Marchenko–Pastur λ={lam}")
        for name, m in p["methods"].items():
            st = _method_style(name, lams)
            mk = {"color": st["color"], "marker": st["marker"], "ms": 6 if st["marker"] == "x" else 4, "capsize": 2,
                      "label": st["label"]}
            ax_e.errorbar(N, arr(m["E"]["mean"]), yerr=arr(m["E"]["se"]), ls="none", **mk)
            for ax, key in ((ax_s, "acc_stored"), (ax_a, "acc_all")):
                ax.errorbar(N, arr(m[key]["mean"]), yerr=arr(m[key]["se"]), ls=st["ls"], lw=1.0, **mk)
        for ax in (ax_e, ax_s, ax_a):
            ax.axvline(p["d_k"], color="0.7", lw=1.5, ls="-", zorder=0)
            ax.set_xscale("log", base=2)
        ax_e.set_yscale("symlog", linthresh=1e-2)
        top = max(np.nanmax(arr(m["E"]["mean"])) for m in p["methods"].values())
        ax_e.set_ylim(0, 1.6 * top)
        ax_e.set(title=f"d_k = d_v = {p['d_k']}, β = {p['beta']:g} ({p['draws']} draws, mean ± SE)",
                 ylabel="relative error E (symlog: linear below 0.01)")
        ax_s.set(ylabel="argmax accuracy, N stored candidates", ylim=(-0.02, 1.02))
        ax_a.set(ylabel=f"argmax accuracy, {p['n_candidates']} candidates", ylim=(-0.02, 1.02),
                 xlabel="stored pairs N (grey line: N = d_k)")
    axes[0, 0].legend(fontsize=6, ncol=2)
    fig.suptitle("X3 oracle capacity: error and argmax recall accuracy vs N\ndashed = theory: LA (N−1)/d_k, "
                 "LS max(0, 1−d_k/N), ridge Marchenko–Pastur limit", fontsize=9)
    return fig


VARIANT_STYLE = {
    "undamped/zero": {"color": SIM, "ls": "-", "label": "undamped, x₀ = 0"},
    "undamped/jacobi": {"color": TRAIN2, "ls": "--", "label": "undamped, Jacobi x₀"},
    "damped/zero": {"color": TRAIN, "ls": "-", "label": "damped (ε = 1e-5), x₀ = 0"},
    "damped/jacobi": {"color": "#ff7f0e", "ls": "--", "label": "damped, Jacobi x₀"},
}


@drawer("recall_cg_convergence")
def cg_convergence(d: dict):
    panels = d["panels"]
    fig, axes = _grid(len(panels), 3)
    for ax, p in zip(axes, panels):
        k = arr(p["steps"])
        for name, v in p["variants"].items():
            st = VARIANT_STYLE[name]
            ax.plot(k, arr(v["median"]), color=st["color"], ls=st["ls"], lw=1.4, label=st["label"])
            ax.fill_between(k, arr(v["q25"]), arr(v["q75"]), color=st["color"], alpha=0.15, lw=0)
        ax.plot(k, arr(p["chebyshev"]), color="0.45", ls=":", lw=1.0, label="Chebyshev 2ρᵏ (A-norm bound)")
        damped = p["variants"].get("damped/zero")
        if damped is not None and any(x is not None for x in damped["damped_theory"]):
            ax.plot(k, arr(damped["residual_median"]), color=TRAIN, ls=":", lw=0.9, label="damped residual ‖r‖/‖q‖")
            ax.plot(k, arr(damped["damped_theory"]), color="k", ls="-.", lw=0.8, label="stall estimate √(ε/2λ_min k)")
        ax.axhline(1e-8, color="0.7", lw=0.6)
        ax.set_yscale("log")
        ax.set_ylim(1e-17, 10)
        ax.set(xlabel="CG steps k", ylabel="‖x_k − x*‖/‖x*‖",
               title=f"{p['keys']} keys, d={p['d']}, T={p['T']}, γ={p['gamma']:g}, λ={p['lam']:g}\n"
                     f"κ = {p['kappa']:.3g} (bound {p['kappa_bound']:.3g})")
        ax.title.set_fontsize(8)
    axes[0].legend(fontsize=6)
    fig.suptitle("X2: CG relative error vs steps on the Mesa system H_T + λI (median and IQR over unit queries)",
                 fontsize=9)
    return fig


TOL_COLORS = (SIM, TRAIN2, TRAIN, "#9467bd", "#ff7f0e")


@drawer("recall_cg_steps")
def cg_steps(d: dict):
    panels = d["panels"]
    fig, axes = _grid(len(panels), 3)
    for ax, p in zip(axes, panels):
        for i, (tol, t) in enumerate(sorted(p["tols"].items(), key=lambda kv: -float(kv[0]))):
            h = arr(t["hist"])
            ax.stairs(h, np.arange(len(h) + 1) - 0.5, color=TOL_COLORS[i % len(TOL_COLORS)], lw=1.3,
                      label=f"tol {float(tol):g}: mean {t['mean']:.1f} (Jacobi {t['mean_jacobi']:.1f})")
        ax.set(xlabel="CG steps used (x₀ = 0)", ylabel="tokens",
               title=f"{p['keys']} keys, d={p['d']}, T={p['T']}, γ={p['gamma']:g}, λ={p['lam']:g}, "
                     f"max κ {p['kappa_max']:.3g}")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6)
    fig.suptitle("X2: steps used by tolerance-stopped CG at every token of the Mesa layer", fontsize=9)
    return fig


@drawer("recall_delta_passes")
def delta_passes(d: dict):
    fig, axes = plt.subplots(1, 1, figsize=(5.4, 3.8), squeeze=False)
    ax = axes[0, 0]
    x = arr(d["passes"])
    ax.fill_between(x, arr(d["q25"]), arr(d["q75"]), color=SIM, alpha=0.25, lw=0, label="quartiles")
    ax.plot(x, arr(d["median"]), color=SIM, lw=1.6, marker="o", ms=3, label=f"median ({d['draws']} draws)")
    ax.plot(x, arr(d["q90"]), color=SIM, lw=0.9, ls=":", label="90th percentile")
    spec = {int(k): v for k, v in d["spec"].items()}
    ax.plot(list(spec), list(spec.values()), "kx", ms=7, label="spec §6.5 (median)")
    ax.axhline(1e-3, color="0.6", ls="--", lw=0.8, label="claim: median ≤ 1e-3 at 30 passes")
    ax.set_yscale("log")
    ax.set(xlabel="cyclic passes over the pairs", ylabel="relative error E",
           title=f"Delta rule (β = 1) repeated passes, N = {d['N']}, d_k = {d['d_k']}")
    ax.legend(fontsize=7)
    return fig


GAMMA_CMAP = plt.get_cmap("viridis")


@drawer("recall_forgetting")
def forgetting(d: dict):
    panels = d["panels"]
    n_ax = max(len(p["rules"]) for p in panels) + 1
    ncols = 2
    nrows = int(np.ceil(n_ax / ncols))
    fig, axes = plt.subplots(nrows * len(panels), ncols, figsize=(5.2 * ncols, 3.7 * nrows * len(panels)),
                             squeeze=False)
    names = {"gated_linear_attention": "gated LA", "gated_delta_rule": "GDN", "mesa": "Mesa"}
    for b, p in enumerate(panels):
        row = axes[b * nrows:(b + 1) * nrows].ravel()
        for ax in row[len(p["rules"]) + 1:]:
            ax.set_visible(False)
        row = list(row[: len(p["rules"])]) + [row[len(p["rules"])]]
        gam = arr(p["gammas"])
        colors = [GAMMA_CMAP(i / max(1, len(gam) - 1) * 0.9) for i in range(len(gam))]
        lag = np.sqrt((arr(p["lag_lo"]) + 1) * (arr(p["lag_hi"]) + 1))
        acc = arr(p["acc"])
        span = arr(p["span"])
        for i, rule in enumerate(p["rules"]):
            ax = row[i]
            for j, g in enumerate(gam):
                ax.plot(lag, acc[i, j], color=colors[j], lw=1.2, label=f"γ = {g:g}")
                ax.axvline(span[j], color=colors[j], ls=":", lw=1.0)
            ax.set_xscale("log")
            ax.set(xlabel="lag + 1 (tokens since written; binned)", ylabel="argmax recall accuracy",
                   ylim=(-0.02, 1.02),
                   title=f"{names.get(rule, rule)}" + (f", λ = {p['lam']:g}" if rule == "mesa" else "")
                         + f", d_k = {p['d_k']}, T = {p['T']}")
            ax.title.set_fontsize(8)
        row[0].legend(fontsize=6, title="dotted: min(d_k, 1/(1−γ))", title_fontsize=6)
        ax = row[-1]
        w = arr(p["window"])
        for i, rule in enumerate(p["rules"]):
            ax.errorbar(w, arr(p["recalled_mean"])[i], yerr=arr(p["recalled_se"])[i], marker="o", ms=4, capsize=2,
                        label=names.get(rule, rule))
        xs = np.geomspace(w.min() * 0.8, w.max() * 1.25, 100)
        ys = np.minimum(p["d_k"], xs)
        ax.plot(xs, ys, **THEORY, label="min(d_k, 1/(1−γ))")
        ax.fill_between(xs, ys / 2, ys * 2, color="0.85", lw=0, label="factor-2 band")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set(xlabel="window 1/(1 − γ)", ylabel=f"pairs recalled (mean ± SE, {p['draws']} draws)",
               title=f"recalled vs heuristic span, d_k = {p['d_k']}")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6)
    fig.suptitle("X4 forgetting: recall of the pair written `lag` tokens before the end\n(argmax over all T stream "
                 "values, mean over draws)", fontsize=9)
    return fig

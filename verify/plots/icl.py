"""Figures of the ``icl`` topic, each drawn from its JSON data only (icl_linear_attention.md §9)."""

from __future__ import annotations

import numpy as np

from verify.figures import drawer
from verify.plots._style import SIM, THEORY, TRAIN, TRAIN2, arr, band, subplots


@drawer("icl_fig1")
def fig1(d: dict):
    fig, (ax,) = subplots()
    band(ax, d["population"], SIM, "population GD")
    band(ax, d["attn_m"], TRAIN, "trained ATTN_M")
    band(ax, d["mlp"], TRAIN2, "trained MLP(z)")
    ax.axhline(d["L0"], **THEORY)
    ax.axhline(d["L_star"], **THEORY, label=f"tr Λ, L* = {d['L_star']:.4f}")
    ax.axvline(d["drop_pred"], color="0.5", lw=0.8, ls="--", label=f"escape formula {d['drop_pred']:.0f}")
    ax.set(xlabel="GD step", ylabel="loss", title="Fig. 1: ATTN_M vs MLP(z)")
    ax.set_xlim(0, 6 * d["drop_pred"])
    ax.legend(fontsize=7)
    return fig


@drawer("icl_escape_attn_m")
def escape_attn_m(d: dict):
    fig, (ax,) = subplots()
    x = arr(d["log_inv_init"])
    ax.errorbar(x, d["mean"], yerr=d["se"], fmt="o", color=SIM, ms=4, label="population GD (mean ± SE)")
    xs = np.linspace(x.min(), x.max(), 50)
    ax.plot(xs, d["fit"][0] * xs + d["fit"][1], color=SIM, lw=1, label=f"fit: slope {d['fit'][0]:.1f}")
    ax.plot(x, d["pred"], **THEORY, label=f"theory: slope {d['slope_pred']:.1f}")
    ax.set(xlabel="ln(1/init)", ylabel="drop step", title="ATTN_M escape time vs init scale")
    ax.legend(fontsize=7)
    return fig


@drawer("icl_iwl")
def iwl(d: dict):
    n = len(d["cs"])
    fig, axes = subplots(n, width=3.4, sharey=True)
    for ax, c, run in zip(axes, d["cs"], d["runs"]):
        x = arr(run["steps"])
        ax.plot(x, arr(run["loss"]), color="k", lw=1.2, label="train (÷ initial)")
        ax.plot(x, arr(run["iw"]), color=TRAIN, lw=1.2, label="IW test")
        ax.plot(x, arr(run["ic"]), color=SIM, lw=1.2, label="IC test")
        ax.set(title=f"c = {c:g}", xlabel="GD step")
    axes[0].set_ylabel("loss")
    axes[0].legend(fontsize=7)
    fig.suptitle("ICL vs in-weight learning (ATTN_M, Λ = I/4)")
    return fig


def _levels(ax, levels) -> None:
    for i, L in enumerate(levels):
        ax.axhline(L, **THEORY, label="L(M_m)" if i == 0 else None)


def _curves(ax, runs, color, label, key="loss") -> None:
    for i, c in enumerate(runs or []):
        ax.plot(arr(c["steps"]), arr(c[key]), color=color, lw=1.0, alpha=0.8,
                label=f"{label} ({len(runs)} seeds)" if i == 0 else None)


@drawer("icl_fig3a")
def fig3a(d: dict):
    fig, (ax,) = subplots()
    _curves(ax, d["runs"], SIM, "population GD")
    _curves(ax, d.get("trained"), TRAIN, "trained")
    _levels(ax, d["levels"])
    ax.set(xlabel="GD step", ylabel="loss", title=d.get("title", "Fig. 3a"))
    ax.legend(fontsize=7)
    return fig


@drawer("icl_fig3b")
def fig3b(d: dict):
    fig, (ax1, ax2) = subplots(2)
    a, th_ = d["aligned"], d["aligned_theory"]
    ax1.plot(arr(a["t"]), arr(a["v"]), color=SIM, lw=2.5, alpha=0.6, label="RK4, aligned single head")
    ax1.plot(arr(th_["t"]), arr(th_["v"]), color="k", ls="--", lw=1, label="Eq. 21 implicit solution")
    ax1.set(xlabel="t/τ", ylabel="v (paper units)", title="Fig. 3b: active head vs Eq. 21")
    ax1.legend(fontsize=7)
    for name, color, key in (("population GD", SIM, "random"), ("trained", TRAIN, "trained")):
        run = d.get(key)
        if not run:
            continue
        v = np.abs(arr(run["v"]))
        for i in range(v.shape[1]):
            ax2.plot(arr(run["steps"]), v[:, i], color=color, lw=1, label=name if i == 0 else None)
    for i, vs in enumerate(d["v_star_code"]):
        ax2.axhline(vs, **THEORY, label="(λκ)^(-1/3)/N^(1/3)" if i == 0 else None)
    ax2.set(xlabel="GD step", ylabel="|v_i| (code units)", title="random init: per-head value weights")
    ax2.legend(fontsize=7)
    return fig


@drawer("icl_fig3c")
def fig3c(d: dict):
    runs = [(k, d[k]) for k in ("pop", "trained") if d.get(k)]
    fig, axes = subplots(len(runs))
    for ax, (name, al) in zip(axes, runs):
        k = arr(al["k"])  # [T, H, D]
        x = arr(al["steps"])
        T, H, D = k.shape
        for dd in range(D):
            best = k[:, :, dd].max(axis=1)
            ax.plot(x, best, lw=1.2, label=f"max_i |cos(k_i, e_{dd + 1})|")
        ax.set(xlabel="GD step", ylabel="|cos|", ylim=(0, 1.05),
               title=f"Fig. 3c ({'population GD' if name == 'pop' else 'trained'})")
        ax.legend(fontsize=6)
    return fig


def _rank_panels(d: dict):
    ranks = d["ranks"]
    fig, axes = subplots(len(ranks), width=3.6, sharey=True)
    for ax, R in zip(axes, ranks):
        _curves(ax, d["pop"].get(str(R)), SIM, "population")
        _curves(ax, d["trained"].get(str(R)), TRAIN, "trained")
        _levels(ax, d["levels"])
        ax.set(title=f"R = {R}", xlabel="GD step")
    axes[0].set_ylabel("loss")
    axes[0].legend(fontsize=6)
    fig.suptitle(f"{d['title']}: D = 8, H = 9, rank-R ATTN_S")
    return fig


drawer("icl_fig4")(_rank_panels)
drawer("icl_fig12")(_rank_panels)


@drawer("icl_escape_attn_s")
def escape_attn_s(d: dict):
    fig, (ax1, ax2) = subplots(2)
    inits = arr(d["inits"])
    ax1.errorbar(1 / inits, d["c0_mean"], yerr=d["c0_se"], fmt="o", color=SIM, ms=4,
                 label="population GD first drop (mean ± SE)")
    ax1.plot(1 / inits, d["c0_pred"], **THEORY, label="1/(2ηNλ₁²·init)")
    ax1.set(xlabel="1/init", ylabel="first-drop step", title="ATTN_S escape ∝ 1/init")
    ax1.legend(fontsize=7)
    lams = arr(d["lams"])
    ax2.loglog(lams, d["t_mark"], "o", color=SIM, label=f"RK4 aligned head (slope {d['fit'][0]:.3f})")
    ax2.loglog(lams, d["t_pred"], **THEORY, label="1/(λ²v₀)")
    ax2.set(xlabel="λ", ylabel="time to u = 0.5", title="escape ∝ λ⁻²")
    ax2.legend(fontsize=7)
    return fig


@drawer("icl_sigma_white")
def sigma_white(d: dict):
    n = len(d["white"]) + (1 if d.get("trained") else 0)
    fig, axes = subplots(n)
    for ax, c, w in zip(axes, d["cs"], d["white"]):
        ax.plot(arr(w["t"]), arr(w["rk4"]), color=SIM, lw=3, alpha=0.5, label="RK4 gradient flow")
        ax.plot(arr(w["t_gd"]), arr(w["gd"]), color=TRAIN2, lw=1, ls="-.", label="population GD (Δt = 2η)")
        ax.plot(arr(w["t"]), arr(w["theory"]), color="k", lw=1, ls="--", label="Eq. 10")
        ax.set(xlabel="t/τ", ylabel="σ(t)", title=f"Λ = {c:g}·I (paper units)")
        ax.legend(fontsize=7)
    if d.get("trained"):
        tr = d["trained"]
        ax = axes[-1]
        ax.plot(arr(tr["t"]), arr(tr["sigma"]), color=TRAIN, lw=1.5, label="trained ATTN_M (finite P)")
        ax.plot(arr(tr["t"]), arr(tr["theory"]), color="k", lw=1, ls="--", label="Eq. 10, c = 1/D")
        ax.set(xlabel="t/τ (= 2ηN·step)", ylabel="σ(t)", title="Λ = I/4 (official-code units)")
        ax.legend(fontsize=7)
    return fig


@drawer("icl_fig5")
def fig5(d: dict):
    fig, (a1, a2) = subplots(2)
    _curves(a1, d["attn_m"], TRAIN, "softmax ATTN_M")
    _curves(a2, d["attn_s"], TRAIN, "softmax ATTN_S")
    a1.set(xlabel="GD step", ylabel="loss", title="Fig. 5: softmax ATTN_M")
    a2.set(xlabel="GD step", title="softmax ATTN_S, R = 1")
    for ax in (a1, a2):
        ax.legend(fontsize=7)
    return fig

"""Figures of the trained ``selective`` experiments T1–T5 (selective_attention.md §0, §5), each drawn from its JSON
data only.

Parametrization (package choice, §2.4): τ_q = τ_pos + tanh(w·x + b) (or τ_pos·exp(w·x + b)), τ_pos = 1 + s·log n,
τ_v = 1 + tanh(w_v·x + b_v). Bands are min–max over seeds; error bars ±4 SE over test sequences.
"""

from __future__ import annotations

import numpy as np

from verify.figures import drawer
from verify.plots._style import arr, subplots

PRESET_COLORS = {"vanilla": "#7f7f7f", "pos": "#1f77b4", "tok": "#d62728", "pos+tok": "#2ca02c",
                 "pos+tok+value": "#9467bd", "value": "#ff7f0e"}
MODEL_COLORS = {"vanilla": "#7f7f7f", "exp": "#1f77b4", "tanh": "#d62728", "ssa": "#1f77b4"}
MODEL_LABELS = {"vanilla": "vanilla E W Eᵀ", "exp": "SSA τ = exp(θ·e)", "tanh": "SSA τ = 1 + tanh(θ·e + b)"}
FLOOR = 1e-18  # KL below round-off is drawn at this floor on log axes


def _grid_axes(n: int, ncols: int, width: float = 4.2, height: float = 3.4):
    import matplotlib.pyplot as plt

    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _caption(fig, text: str) -> None:
    """The package's own choices behind a figure, at the bottom left (§2.4: never presented as the paper's)."""
    fig.text(0.005, 0.005, "package choices (not the paper's): " + text, ha="left", va="bottom", fontsize=6,
             color="0.35")


def _ticks(ax, values) -> None:
    """x ticks exactly at the plotted grid values, labelled plainly (no minor ticks)."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(list(values), [f"{v:g}" for v in values])


def _seed_band(ax, steps, values, color, label):
    """Median line and min–max band of values [T, S] over seeds."""
    v = np.maximum(np.asarray(values, float), FLOOR)
    x = np.maximum(np.asarray(steps, float), 1.0)
    ax.plot(x, np.median(v, axis=1), color=color, lw=1.4, label=f"{label} (median of {v.shape[1]})")
    if v.shape[1] > 1:
        ax.fill_between(x, v.min(axis=1), v.max(axis=1), color=color, alpha=0.2, lw=0)


@drawer("selective_t1_curves")
def t1_curves(d: dict):
    ref = d["ref"]
    cells = sorted({(r["K"], r["d"]) for r in d["runs"]})
    many = len(cells) > 1
    fig, axes = subplots(3 if many else 2, width=5.0)
    main = [r for r in d["runs"] if (r["K"], r["d"]) == (ref["K"], ref["d"])] or \
        [r for r in d["runs"] if (r["K"], r["d"]) == cells[0]]
    K, dd = main[0]["K"], main[0]["d"]
    for r in main:
        c = r["curves"]
        _seed_band(axes[0], c["steps"], c["kl"], MODEL_COLORS[r["model"]], MODEL_LABELS[r["model"]])
        _seed_band(axes[1], c["steps"], c["W_norm"], MODEL_COLORS[r["model"]], MODEL_LABELS[r["model"]])
    axes[0].axhline(ref["vanilla_min"], color=MODEL_COLORS["vanilla"], ls=":", lw=0.9, label="vanilla ≥ 0.03 (C13)")
    axes[0].axhline(ref["exp_max"], color=MODEL_COLORS["exp"], ls=":", lw=0.9, label="exp ≤ 1e-4")
    axes[0].axhline(ref["tanh_max"], color=MODEL_COLORS["tanh"], ls=":", lw=0.9, label="tanh ≤ 2e-3 at 3k")
    axes[0].axvline(ref["tanh_step"], color="0.8", lw=0.8)
    axes[0].set(xscale="log", yscale="log", xlabel="Adam step", ylabel="mean-row KL(P ‖ S)",
                title=f"T1 row-scaled targets, K = {K}, d = {dd}")
    axes[0].legend(fontsize=6)
    axes[1].set(xscale="log", xlabel="Adam step", ylabel="‖W‖_F", title="Norm of W (same runs)")
    axes[1].legend(fontsize=6)
    if many:
        ax = axes[2]
        ds = sorted({c[1] for c in cells})
        marks = dict(zip(ds, "osD^v"))
        for r in d["runs"]:
            kl = np.maximum(arr(r["kl"]), FLOOR)
            med = np.median(kl)
            ax.errorbar(r["K"] * (1.04 ** ds.index(r["d"])), med, yerr=[[med - kl.min()], [kl.max() - med]],
                        fmt=marks[r["d"]], color=MODEL_COLORS[r["model"]], ms=4, capsize=2, lw=0.8)
        for m in ("vanilla", "exp", "tanh"):
            ax.plot([], [], "s", color=MODEL_COLORS[m], label=m)
        for x in ds:
            ax.plot([], [], marks[x], color="k", label=f"d = {x}")
        ax.set(xscale="log", yscale="log", xlabel="rows K", ylabel="final KL (median, min–max over seeds)",
               title="Final KL over the (K, d) grid")
        _ticks(ax, sorted({c[0] for c in cells}))
        ax.legend(fontsize=6, ncol=2)
    _caption(fig, "τ_i = exp(θ·e_i) (no bias) or 1 + tanh(θ·e_i + b); "
                  "P = rowsoftmax(diag(c) E M Eᵀ), M ~ N(0, 1); full-batch Adam")
    return fig


@drawer("selective_t2_curves")
def t2_curves(d: dict):
    has_decay = bool(d["decay"])
    fig, axes = subplots(3 if has_decay else 2, width=5.0)
    for r in d["runs"]:
        c = r["curve"]
        x = np.maximum(arr(c["steps"]), 1)
        lab = "vanilla logits W" if r["model"] == "vanilla" else "SSA diag(e^θ) W"
        axes[0].plot(x, np.maximum(arr(c["kl"]), FLOOR), color=MODEL_COLORS[r["model"]], lw=1.4, label=lab)
        axes[1].plot(x, arr(c["W_norm"]), color=MODEL_COLORS[r["model"]], lw=1.4, label=lab)
    steps = sorted(int(k) for k in d["table"])
    for ax, what in ((axes[0], "_kl"), (axes[1], "_W")):
        for m in ("vanilla", "ssa"):
            ax.plot(steps, [d["table"][str(s)][m + what] for s in steps], "x",
                    color="k", ms=6, label="§5 T2 table" if m == "vanilla" else None)
    axes[0].set(xscale="log", yscale="log", xlabel="GD step (lr 1)", ylabel="excess CE = mean-row KL",
                title=f"T2 degree graph, degrees {tuple(d['degrees'])}")
    axes[1].set(xscale="log", xlabel="GD step (lr 1)", ylabel="‖W‖_F", title="Vanilla grows ‖W‖; SSA moves it to τ")
    for ax in axes[:2]:
        ax.legend(fontsize=7)
    if has_decay:
        ax = axes[2]
        colors = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
        for i, r in enumerate(d["decay"]):
            tau = arr(r["tau_final"])
            deg = arr(r["degrees"])
            jitter = 1.0 + 0.03 * (i - len(d["decay"]) / 2)
            sp = r["spearman"]
            ax.plot(deg * jitter, tau, "o", ms=3.5, color=colors[i % len(colors)],
                    label=f"λ = {r['decay']:g}: Spearman {sp:.2f}" if sp is not None else f"λ = {r['decay']:g}")
        ax.set(xscale="log", yscale="log", xlabel="out-degree", ylabel="learned τ = e^θ (final)",
               title=f"K = {d['decay'][0]['K']}, L2 decay (λ/2)‖W‖² on W only")
        _ticks(ax, sorted({int(x) for r in d["decay"] for x in r["degrees"]}))
        ax.legend(fontsize=6)
    _caption(fig, "SSA logits diag(e^θ)·W from W = 0, θ = 0; full-batch GD on the mean-row CE")
    return fig


@drawer("selective_t3_markov")
def t3_markov(d: dict):
    fig, (a1, a2) = subplots(2, width=5.2)
    runs = d["runs"]
    wds = sorted({r["weight_decay"] for r in runs})
    presets = list(runs[0]["presets"])
    for wd, ls in zip(wds, ("-", "--", ":", "-.")):
        group = [r for r in runs if r["weight_decay"] == wd]
        for pr in presets:
            x = arr(group[0]["presets"][pr]["curve"]["steps"])
            ce = np.stack([arr(r["presets"][pr]["curve"]["excess_ce"]) for r in group], axis=1)
            a1.plot(np.maximum(x, 1), ce.mean(axis=1), color=PRESET_COLORS[pr], ls=ls, lw=1.3,
                    label=f"{pr}, decay {wd:g} (mean of {len(group)})")
    a1.set(xscale="log", yscale="log", xlabel="Adam step", ylabel="exact excess CE mean_i KL(P*_i ‖ A_i)",
           title=f"T3 Markov readout, K = {len(runs[0]['degrees_per_node'])}")
    a1.legend(fontsize=5.5)
    for wd, mk in zip(wds, "os^D"):
        for pr in [p for p in presets if "tok" in p]:
            deg = np.concatenate([arr(r["degrees_per_node"]) for r in runs if r["weight_decay"] == wd])
            tau = np.concatenate([arr(r["presets"][pr]["tau"]) for r in runs if r["weight_decay"] == wd])
            rho = np.nanmean([r["presets"][pr]["spearman_deg_tau"] for r in runs if r["weight_decay"] == wd])
            jitter = np.exp(0.08 * (wds.index(wd) - 0.5) + 0.04 * (pr == "pos+tok"))
            a2.plot(deg * jitter, tau, mk, ms=2.5, alpha=0.6, color=PRESET_COLORS[pr],
                    label=f"{pr}, decay {wd:g}: mean Spearman {rho:.2f}")
    a2.set(xscale="log", xlabel="out-degree", ylabel="τ_q(e_i)",
           title=f"τ vs degree (predicted: Spearman < {d['threshold']}\nonly with decay on W_q, W_k)")
    _ticks(a2, sorted({int(x) for r in runs for x in r["degrees_per_node"]}))
    a2.legend(fontsize=6)
    _caption(fig, "τ_q = 1 [+ s·log K] + tanh(w·e_i + b), s = exp(−e^β); "
                  "scale fixing = AdamW decay on W_q, W_k only")
    return fig


def _group(runs: list[dict]) -> dict:
    out: dict = {}
    for r in runs:
        out.setdefault((r["preset"], r["d_k"]), []).append(r)
    return out


@drawer("selective_t4_length")
def t4_length(d: dict):
    fig, axes = subplots(3, width=4.6)
    groups = _group(d["runs"])
    dks = sorted({k[1] for k in groups})
    styles = dict(zip(dks, ("-", "--", ":")))
    for (pr, dk), runs in groups.items():
        n = arr(runs[0]["test_n"])
        col = PRESET_COLORS[pr]
        lab = f"{pr}" + (f", d_k = {dk}" if len(dks) > 1 else "") + (f" ({len(runs)} seeds)" if len(runs) > 1 else "")
        for ax, key in zip(axes, ("mass", "ce", "acc")):
            m = np.mean([arr(r["test"][key]) for r in runs], axis=0)
            se = np.sqrt(np.mean([arr(r["test"][key + "_se"]) ** 2 for r in runs], axis=0) / len(runs))
            y = np.maximum(m, 1e-12) if key == "ce" else m
            ax.errorbar(n, y, yerr=4 * se, fmt="o" + styles[dk], color=col, ms=3.5, lw=1.2, capsize=2, label=lab)
        if pr in ("vanilla", "pos"):
            # annealed form of §3.2 with the measured train-length gap Δ̄0 and competitor-logit variance v:
            # p ≈ 1 / (1 + (n − 1)·exp(−τΔ̄0 + τ²v/2)), τ = 1 + s·log n
            g0 = float(np.mean([r["Delta0"] for r in runs]))
            v = float(np.mean([r["competitor_var"] for r in runs]))
            s = max(float(np.mean([r["s"] for r in runs])), 0.0)
            nd = np.geomspace(n.min(), n.max(), 80)
            tau = 1.0 + s * np.log(nd)
            axes[0].plot(nd, 1.0 / (1.0 + (nd - 1) * np.exp(-tau * g0 + 0.5 * tau ** 2 * v)), color=col, lw=0.8,
                         ls=":", label=f"annealed: Δ̄0 = {g0:.2f}, var {v:.2f}, s = {s:.3f}")
    for ax in axes:
        ax.axvline(d["n_train"], color="0.75", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("visible items n (grey: n_train)")
    axes[0].set(yscale="log", ylabel="needle attention mass", title="T4: needle mass vs test length")
    axes[1].set(yscale="log", ylabel="answer cross-entropy [nats]", title="Answer CE vs test length")
    axes[2].set(ylabel="accuracy", ylim=(-0.02, 1.02), title="Accuracy (argmax is τ-invariant)")
    axes[0].legend(fontsize=6)
    axes[1].legend(fontsize=6)
    _caption(fig, "τ_pos = 1 + s·log n, s = exp(−e^β); AdamW decay on W_q, W_k only; "
                  "one n ~ U[n_min, n_train] per batch")
    return fig


@drawer("selective_dilution")
def dilution(d: dict):
    runs = d["runs"]
    L = max(len(r["dilution"]) for r in runs)
    fig, axes = _grid_axes(L + 1, ncols=min(L + 1, 4), width=4.2, height=3.5)
    ax = axes[0]
    marks = ("o", "s", "^", "D")
    for i, r in enumerate(runs):
        if r["preset"] == "vanilla":
            continue
        s = arr(r["s"])
        depth = (np.arange(len(s)) + 0.5) / len(s)
        ax.plot(depth, s, marks[i % 4] + "-", ms=4, lw=1.2, label=f"{r['preset']}, s {r['s_param']}")
    off = arr(d["official"])
    ax.plot((np.arange(len(off)) + 0.5) / len(off), off, "x--", color="k", lw=0.8,
            label="official-code comment (12 layers)")
    ax.axhline(0, color="0.8", lw=0.6)
    ax.set(xlabel="relative depth (layer + ½)/L", ylabel="s per layer", title="T5: learned s profile")
    ax.legend(fontsize=6)
    positions = sorted({c["t"] for r in runs for layer in r["dilution"] for c in layer})
    cmap = dict(zip(positions, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")))
    styles = ("-", "--", ":", "-.")
    for li in range(L):
        ax = axes[li + 1]
        for i, r in enumerate(runs):
            if li >= len(r["dilution"]):
                continue
            for c in r["dilution"][li]:
                ax.plot(arr(c["rank"]), np.maximum(arr(c["prob"]), 1e-12), color=cmap[c["t"]],
                        ls=styles[i % 4], lw=1.1)
        ax.set(xscale="log", yscale="log", xlabel="rank within the row", ylabel="sorted attention probability",
               title=f"layer {li + 1}: sorted rows (mean over batch, heads)")
        for t in positions:
            ax.plot([], [], color=cmap[t], label=f"query position t = {t}")
        for i, r in enumerate(runs):
            ax.plot([], [], color="k", ls=styles[i % 4], label=f"{r['preset']} ({r['s_param']})"
                    if r["preset"] != "vanilla" else "vanilla")
        if li == 0:
            ax.legend(fontsize=5.5)
    _caption(fig, "one s per layer, τ_pos = 1 + s·log n, s raw (no squash) or exp(−e^β); "
                  "random-walk key/value corpus")
    return fig

"""Figures of the ``selective`` topic, each drawn from its JSON data only (selective_attention.md §0, §3, §4).

Parametrization (package choice, §2.4): τ_pos(n) = 1 + s·log n multiplies a query row; logits are dot products with
the 1/√d_h scale absorbed into the gap. Error bars are ±4 SE, the band the claims judge with.
"""

from __future__ import annotations

import numpy as np

from verify.figures import drawer
from verify.plots._style import SIM, THEORY, TRAIN, TRAIN2, arr, subplots

VANILLA, SSA = "#7f7f7f", SIM
ESTIMATOR_COLORS = {"vanilla": "#7f7f7f", "naive": TRAIN2, "hard": TRAIN, "gated": SIM}
ESTIMATOR_LABELS = {"vanilla": "vanilla at β*", "naive": "naive average", "hard": "hard selection",
                    "gated": "value-gated (τ_v = m/(m+σ²))"}


def _grid_axes(n: int, ncols: int = 4, width: float = 4.2, height: float = 3.4):
    import matplotlib.pyplot as plt

    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _ticks(ax, values, axis: str = "x") -> None:
    """Ticks exactly at the plotted grid values, labelled plainly."""
    from matplotlib.ticker import NullFormatter, NullLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())
    (ax.set_xticks if axis == "x" else ax.set_yticks)(list(values), [f"{v:g}" for v in values])


def _primary(d: dict) -> dict:
    ref = d.get("ref") or {}
    for r in d["runs"]:
        if r["d"] == ref.get("d") and abs(r["Delta0"] - ref.get("Delta0", np.nan)) < 1e-12:
            return r
    return d["runs"][0]


@drawer("selective_needle_mass")
def needle_mass(d: dict):
    r = _primary(d)
    k = d["k_se"]
    many = len(d["runs"]) > 1
    fig, axes = subplots(3 if many else 2, width=5.0)
    n, mass, se = arr(r["n"]), arr(r["mass"]), arr(r["se"])
    dense = r["dense"]
    nd = arr(dense["n"])
    is_ref = r["d"] == d["ref"]["d"] and abs(r["Delta0"] - d["ref"]["Delta0"]) < 1e-12
    ax = axes[0]
    for j, (name, color, label) in enumerate((("vanilla", VANILLA, "vanilla (s = 0)"),
                                              ("ssa", SSA, f"SSA-pos (s = 1/Δ0 = {1 / r['Delta0']:.3g})"))):
        ax.plot(nd, arr(dense[f"fixed_{name}"]), color=color, lw=1, ls="--")
        ax.plot(nd, arr(dense[f"annealed_{name}"]), color=color, lw=1, ls=":")
        ax.errorbar(n, mass[:, j], yerr=k * se[:, j], fmt="o", ms=4, color=color, capsize=2,
                    label=f"{label}: MC mean ± {k:g} SE")
        if is_ref:
            ax.plot(d["ref"]["n"], [float(x) for x in d["ref"][name]], "x", color="k", ms=6,
                    label="§4 reference" if j == 0 else None)
    ax.plot([], [], color="k", lw=1, ls="--", label="closed form, fixed gap (C1)")
    ax.plot([], [], color="k", lw=1, ls=":", label="annealed random-key form")
    ax.set(xscale="log", yscale="log", xlabel="visible keys n", ylabel="needle mass",
           title=f"Needle mass vs n (d = {r['d']}, Δ0 = {r['Delta0']:g}, {r['trials']} trials)")
    ax.legend(fontsize=6.5, loc="lower left")

    ax = axes[1]
    sig = 1 / (1 + np.exp(-r["Delta0"]))
    ax.plot(nd, arr(dense["fixed_ssa"]), color=SSA, lw=1, ls="--", label="fixed gap (orthogonal keys)")
    ax.plot(nd, arr(dense["annealed_ssa"]), color=SSA, lw=1, ls=":", label="annealed, random unit keys")
    ax.errorbar(n, mass[:, 1], yerr=k * se[:, 1], fmt="o", ms=4, color=SSA, capsize=2,
                label=f"MC mean ± {k:g} SE")
    if is_ref:
        ax.plot(d["ref"]["n"], [float(x) for x in d["ref"]["ssa"]], "x", color="k", ms=6, label="§4 reference")
    ax.axhline(sig, **THEORY, label=f"σ(Δ0) = {sig:.4f} (n → ∞, fixed gap)")
    ax.set(xscale="log", xlabel="visible keys n", ylabel="needle mass",
           title="SSA-pos, τ = 1 + log(n)/Δ0 (linear scale)")
    ax.legend(fontsize=6.5, loc="lower left")

    if many:
        ax = axes[2]
        gs = sorted({x["Delta0"] for x in d["runs"]})
        cmap = {g: c for g, c in zip(gs, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"))}
        ds = sorted({x["d"] for x in d["runs"]})
        marks = dict(zip(ds, "osD^v"))
        for x in d["runs"]:
            nn, m, e = arr(x["n"]), arr(x["mass"])[:, 1], arr(x["se"])[:, 1]
            ax.errorbar(nn, m, yerr=k * e, fmt=marks[x["d"]], ms=3, color=cmap[x["Delta0"]], capsize=1, lw=0.8)
            ax.plot(arr(x["dense"]["n"]), arr(x["dense"]["annealed_ssa"]), color=cmap[x["Delta0"]], lw=0.8, ls=":")
        for g in gs:
            ax.plot([], [], color=cmap[g], lw=2, label=f"Δ0 = {g:g}")
        for dd in ds:
            ax.plot([], [], marks[dd], color="k", ms=4, label=f"d = {dd}")
        ax.set(xscale="log", xlabel="visible keys n", ylabel="SSA-pos needle mass",
               title=f"SSA-pos (s = 1/Δ0) for every (d, Δ0)\nMC ± {k:g} SE (markers), annealed form (dotted)")
        ax.legend(fontsize=6, ncol=2)
    return fig


@drawer("selective_required_gap")
def required_gap(d: dict):
    fig, (a1, a2) = subplots(2, width=5.0)
    n = arr(d["n"])
    for pv, color in (("0.5", SIM), ("0.9", TRAIN)):
        a1.plot(n, arr(d["curves"][pv]), color=color, lw=1.4, label=f"Δ*(n, p = {pv}) = log(p(n−1)/(1−p))")
        a1.plot(d["table_n"], d["table"][pv], "x", color="k", ms=6, label="§3.1 table" if pv == "0.5" else None)
    a1.set(xscale="log", xlabel="visible keys n (log scale)", ylabel="required gap Δ* (logit units)",
           title="Gap needed for needle mass p")
    a1.legend(fontsize=7)
    a2.plot(n, arr(d["slope"]), color=SIM, lw=1.4, label="dΔ*/d log n = n/(n − 1)")
    a2.axhline(1.0, **THEORY, label="1 (one logit unit per e-fold of n)")
    a2.set(xscale="log", xlabel="visible keys n", ylabel="slope in log n", ylim=(0.95, 2.05),
           title="Slope of Δ* in log n → 1")
    a2.legend(fontsize=7)
    return fig


@drawer("selective_value_risk")
def value_risk(d: dict):
    runs = d["runs"]
    fig, axes = _grid_axes(len(runs), width=5.0 if len(runs) == 1 else 4.2,
                           height=3.8 if len(runs) == 1 else 3.4)
    k = d["k_se"]
    for ax, r in zip(axes, runs):
        c = r["curves"]
        s = arr(c["sigma_n2"])
        risk, se, x = arr(r["risk"]), arr(r["risk_se"]), arr(r["sigma_n2"])
        for j, name in enumerate(r["estimators"]):
            col = ESTIMATOR_COLORS[name]
            ax.plot(s, arr(c[name]), color=col, lw=1.2, ls="--" if name == "gated" else "-")
            ax.errorbar(x, risk[:, j], yerr=k * se[:, j], fmt="o", ms=3.5, color=col, capsize=2,
                        label=ESTIMATOR_LABELS[name])
        ax.plot([], [], color="k", lw=1.2, label="closed form (lines)")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_yscale("log")
        lo, hi = np.nanmin(risk), np.nanmax(risk)
        _ticks(ax, [v for v in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
                    if 0.8 * lo <= v <= 1.25 * hi], axis="y")
        ax.set(xlabel="irrelevant-value variance σ_n²", ylabel="risk per coordinate (log scale)",
               title=f"n = {r['n']}, m = {r['m']}, σ² = {r['sigma2']:g}")
        ax.legend(fontsize=6.5 if len(runs) == 1 else 5.5, loc="upper left")
    trials = sorted({r["trials"] for r in runs})
    dims = sorted({r["d"] for r in runs})
    fig.suptitle(f"Value gating vs vanilla attention: MC ± {k:g} SE (bars within the markers) on the closed forms\n"
                 f"({'/'.join(map(str, trials))} trials, d = {'/'.join(map(str, dims))}); "
                 "gated = Bayes = σ²/(m + σ²)", fontsize=8)
    return fig


@drawer("selective_hopfield")
def hopfield(d: dict):
    runs = d["runs"]
    ref = d["ref"]
    fig, axes = _grid_axes(len(runs) + 1, ncols=len(runs) + 1, width=4.6, height=3.9)
    im = None
    for ax, r in zip(axes, runs):
        med = arr(r["median"])
        im = ax.imshow(med, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(r["beta"])), [f"{b:g}" for b in r["beta"]])
        ax.set_yticks(range(len(r["N"])), [str(x) for x in r["N"]])
        ax.set(xlabel="inverse temperature β", ylabel="stored patterns N",
               title=f"median needle weight, d = {r['d']} ({r['trials']} trials)")
        small = med.size <= 30
        for i, N in enumerate(r["N"]):
            for j, b in enumerate(r["beta"]):
                txt = f"{med[i, j]:.3f}" if small else f"{med[i, j]:.2f}"
                if r["d"] == ref["d"] and N in ref["N"] and b in ref["beta"]:
                    txt += f"\n(§4: {ref['median'][ref['N'].index(N)][ref['beta'].index(b)]})"
                ax.text(j, i, txt, ha="center", va="center", fontsize=7 if small else 5,
                        color="w" if med[i, j] < 0.6 else "k")
    fig.colorbar(im, ax=axes[len(runs) - 1], fraction=0.046, pad=0.04)
    ax = axes[-1]
    r = next((x for x in runs if x["d"] == ref["d"]), runs[0])
    med, se, ann = arr(r["median"]), arr(r["median_se"]), arr(r["annealed"])
    b = arr(r["beta"])
    colors = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
    for i, N in enumerate(r["N"]):
        col = colors[i % len(colors)]
        ax.errorbar(b, med[i], yerr=d["k_se"] * se[i], fmt="o-", ms=3, lw=1, color=col, capsize=2, label=f"N = {N}")
        ax.plot(b, ann[i], color=col, lw=0.8, ls=":")
    ax.plot([], [], color="k", ls=":", lw=0.8, label="annealed form (qualitative)")
    ax.axhline(0.5, color="0.7", lw=0.6)
    ax.set(xscale="log", xlabel="inverse temperature β", ylabel="median needle weight", ylim=(-0.02, 1.02),
           title=f"d = {r['d']}: MC median ± {d['k_se']:g} SE")
    _ticks(ax, r["beta"])
    ax.legend(fontsize=6)
    return fig


@drawer("selective_write_gating")
def write_gating(d: dict):
    fig, (a1, a2) = subplots(2, width=5.0)
    k = d["k_se"]
    ds = sorted({r["d"] for r in d["runs"]})
    colors = dict(zip(ds, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")))
    marks = dict(zip(sorted({r["N"] for r in d["runs"]}), "osD^v<>"))
    for dd in ds:
        rs = [r for r in d["runs"] if r["d"] == dd]
        top = max(max(r["N_active"]) for r in rs)
        na = np.geomspace(2, top, 100)
        a1.plot(na, dd / (na - 1), color=colors[dd], lw=1, label=f"d/(N_active − 1), d = {dd}")
        for r in rs:
            a1.errorbar(arr(r["N_active"]), arr(r["snr"]), yerr=k * arr(r["snr_se"]), fmt=marks[r["N"]], ms=4,
                        color=colors[dd], capsize=2, lw=0.8)
    for N, mk in marks.items():
        a1.plot([], [], mk, color="k", ms=4, label=f"MC, N = {N} items (± {k:g} SE)")
    if d["refs"]:
        a1.plot([w["N_active"] for w in d["refs"]], [w["ref"] for w in d["refs"]], "x", color="k", ms=7,
                label="§4 reference (d = 64)")
    a1.set(xscale="log", yscale="log", xlabel="written items N_active", ylabel="pooled read-out SNR",
           title="Write-gated linear memory: SNR vs active items")
    a1.legend(fontsize=6)
    g = d["gains"]
    if g:
        Ns = np.array([x["N"] for x in g], float)
        xs = np.geomspace(Ns.min() * 0.8, Ns.max() * 1.25, 100)
        a2.fill_between(xs, 3.6, 4.4, color="0.9", label="4 ± 10%")
        a2.plot(xs, (xs - 1) / (xs / 4 - 1), **THEORY, label="theory (N − 1)/(N/4 − 1)")
        for dd in ds:
            gg = [x for x in g if x["d"] == dd]
            a2.errorbar([x["N"] for x in gg], [x["gain"] for x in gg], yerr=[k * x["se"] for x in gg], fmt="o",
                        ms=4, color=colors[dd], capsize=2, label=f"MC, d = {dd}")
        a2.set(xscale="log", xlabel="items N", ylabel="SNR(N/4 written) / SNR(all written)",
               title="Gating out 75% of items: ≈ 4× SNR")
        _ticks(a2, sorted({x["N"] for x in g}))
        a2.legend(fontsize=6.5, loc="lower left")
    return fig

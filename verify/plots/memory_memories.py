"""Figures of the associative-memory capacities (associative_memory.md §2–§3), each drawn from its JSON data only.

Markers are the per-seed N_99; error bars the median's bootstrap 95% interval; solid lines and bands the fitted
laws with their bootstrap intervals. The official code's hand-placed guides (κ = 0.77, 2.86; c = 0.83) appear
as thin grey dashes for comparison only.
"""

from __future__ import annotations

import numpy as np

from verify.figures import drawer
from verify.plots._style import SIM, TRAIN, TRAIN2, arr, subplots

GUIDE = dict(color="0.55", ls="--", lw=0.9)


def _plain(ax, axis="both", minor_labels=True):
    """Plain decimal tick labels on log axes (no 2×10^1); minor ticks labelled at 2·10^k and 5·10^k."""
    from matplotlib.ticker import FuncFormatter

    def minor(v, _):
        lead = v / 10 ** np.floor(np.log10(v)) if v > 0 else 0
        return f"{v:g}" if np.isclose(lead, 2) or np.isclose(lead, 5) else ""

    for a in ((ax.xaxis, ax.yaxis) if axis == "both" else ((ax.xaxis,) if axis == "x" else (ax.yaxis,))):
        a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        a.set_minor_formatter(FuncFormatter(minor if minor_labels else (lambda v, _: "")))


def _err(c: dict, key: str = "median", ci: str = "ci"):
    v = c[key]
    lo, hi = arr(c[ci])
    return v, [[max(v - lo, 0.0)], [max(hi - v, 0.0)]] if np.all(np.isfinite([lo, hi])) else None


def _seeds(ax, x, Ns, color):
    ax.plot(np.full(len(Ns), x), Ns, ".", color=color, alpha=0.45, ms=4)


def _lambert(area, kappa):
    """N with N ln N = κ·area (the fitted law's curve is stored; guides are recomputed here by Newton steps)."""
    a = np.asarray(area, float) * kappa
    n = np.maximum(a / np.log(np.maximum(a, 3.0)), 1.5)
    for _ in range(50):
        n = n - (n * np.log(n) - a) / (np.log(n) + 1.0)
    return n


@drawer("memory_capacity_d2")
def capacity_d2(d: dict):
    fig, (a1, a2) = subplots(2, width=5.4, height=4.0)
    fit, cur = d["fit"], d["curve"]
    for c in d["trained"]:
        if not c["N"]:
            continue
        _seeds(a1, c["d"] ** 2, c["N"], TRAIN)
        v, e = _err(c)
        a1.errorbar([c["d"] ** 2], [v], yerr=e, fmt="o", color=TRAIN, ms=5, capsize=2)
    a1.plot([], [], "o", color=TRAIN, label=f"trained, lr {d['lr']:g}: median ± 95% CI ({d['seeds']} seeds)")
    a1.plot(arr(cur["d2"]), arr(cur["N"]), color=TRAIN, lw=1.3,
            label=f"fit N ln N = κ d², κ = {fit['kappa']:.3f} [{fit['kappa_ci'][0]:.3f}, {fit['kappa_ci'][1]:.3f}]")
    if "N_lo" in cur:
        a1.fill_between(arr(cur["d2"]), arr(cur["N_lo"]), arr(cur["N_hi"]), color=TRAIN, alpha=0.15, lw=0)
    for c in d["hebbian"]:
        _seeds(a1, c["d"] ** 2, c["N"], SIM)
        v, e = _err(c)
        a1.errorbar([c["d"] ** 2], [v], yerr=e, fmt="s", color=SIM, ms=5, capsize=2)
    if d["hebbian"]:
        a1.plot([], [], "s", color=SIM, label=f"Hebbian: median ± 95% CI ({d['draws']} draws per seed)")
    if "hebbian_fit" in d:
        hf = d["hebbian_fit"]
        a1.plot(arr(d["hebbian_curve"]["d2"]), arr(d["hebbian_curve"]["N"]), color=SIM, lw=1.3,
                label=f"fit N = c d², c = {hf['c']:.4f} [{hf['ci'][0]:.4f}, {hf['ci'][1]:.4f}]")
    pl, ph = d["paper_linear"], d["paper_hebbian"]
    a1.plot(np.square(pl["d"]), pl["N"], "x", color="k", ms=6, label="spec §2.3 / §2.2 tables (one seed)")
    a1.plot(np.square(ph["d"]), ph["N"], "x", color="k", ms=6)
    d2 = arr(cur["d2"])
    a1.plot(d2, _lambert(d2, d["guide_kappa"]), **GUIDE, label=f"official guide κ = {d['guide_kappa']} (hand-placed)")
    a1.set(xscale="log", yscale="log", xlabel="d²", ylabel="N_99 (M = N)",
           title=f"Linear memories: capacity vs d² ({d['steps']} Adam steps)")
    _plain(a1)
    a1.legend(fontsize=6.2, loc="upper left")

    lo, hi = d["band"]
    a2.axhspan(lo, hi, color="0.9", label=f"A1 band [{lo}, {hi}]")
    ks = [c for c in d["trained"] if "kappa" in c]
    for c in ks:
        v, e = _err(c, "kappa", "kappa_ci")
        a2.errorbar([c["d"]], [v], yerr=e, fmt="o", color=TRAIN, ms=5, capsize=2)
        a2.plot(np.full(len(c["N"]), c["d"]), np.asarray(c["N"]) * np.log(c["N"]) / c["d"] ** 2, ".", color=TRAIN,
                alpha=0.45, ms=4)
    a2.plot([], [], "o", color=TRAIN, label="trained κ = N_99 ln N_99/d²: median ± 95% CI")
    a2.plot(pl["d"], pl["kappa"], "x", color="k", ms=6, label="spec §2.3 (one seed)")
    a2.axhline(fit["kappa"], color=TRAIN, lw=1.0, label=f"fitted κ (slope-1 law) = {fit['kappa']:.3f}")
    a2.axhline(d["guide_kappa"], **GUIDE, label="official guide 0.77")
    a2.set(xscale="log", xlabel="d", ylabel="κ", title="Capacity constant vs d")
    a2.set_xticks(sorted({c["d"] for c in d["trained"]} | set(pl["d"])))
    _plain(a2, "x", minor_labels=False)
    a2.legend(fontsize=6.5)
    return fig


def _shape_offset(c: dict) -> float:
    """Small horizontal log-offset by m/d, so cells of equal md (different shapes) do not overlap."""
    return (c["m"] / c["d"]) ** 0.06


@drawer("memory_capacity_md")
def capacity_md(d: dict):
    fig, (a1, a2) = subplots(2, width=5.4, height=4.0)
    styles = {"M_N": (TRAIN, "o", "M = N"), "M_fixed": (TRAIN2, "s", f"M = {d['M']}")}
    for key, (color, mk, label) in styles.items():
        if key not in d:
            continue
        block = d[key]
        for c in block["cells"]:
            if not c["N"]:
                continue
            _seeds(a1, c["area"], c["N"], color)
            v, e = _err(c)
            a1.errorbar([c["area"]], [v], yerr=e, fmt=mk, color=color, ms=5, capsize=2)
        fit, cur = block["fit"], block["curve"]
        name = "κ_MLP" if key == "M_N" else "c"
        law = "N ln N = κ_MLP md" if key == "M_N" else "N = c md"
        a1.plot([], [], mk, color=color, label=f"{label}: median ± 95% CI")
        if "N" in cur:
            a1.plot(arr(cur["md"]), arr(cur["N"]), color=color, lw=1.3,
                    label=f"fit {law}, {name} = {fit['const']:.2f} [{fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}]")
            if "N_lo" in cur:
                a1.fill_between(arr(cur["md"]), arr(cur["N_lo"]), arr(cur["N_hi"]), color=color, alpha=0.15, lw=0)
    p = d["paper"]
    md_p = [a * b for a, b in p["cells"]]
    a1.plot(md_p, p["N"], "x", color="k", ms=6, label="spec §3.2 table (one seed, 8192 steps)")
    a1.plot([x for x, n in zip(md_p, p["N32"]) if n], [n for n in p["N32"] if n], "+", color="k", ms=7)
    some = next((d[k]["curve"]["md"] for k in ("M_N", "M_fixed") if k in d), None)
    if some is not None:
        g = arr(some)
        a1.plot(g, _lambert(g, d["guide_kappa"]), **GUIDE, label="official guides (hand-placed)")
        a1.plot(g, d["guide_c"] * g, **GUIDE)
    a1.set(xscale="log", yscale="log", xlabel="m·d", ylabel="N_99",
           title=f"MLP memories: capacity vs md ({d['steps']} Adam steps, lr {d['lr']:g})")
    _plain(a1)
    a1.legend(fontsize=6.2, loc="upper left")

    if "M_N" in d:
        lo, hi = d["bands"]["M_N"]
        a2.axhspan(lo, hi, color=TRAIN, alpha=0.08, lw=0)
        for c in d["M_N"]["cells"]:
            if "kappa" in c:
                v, e = _err(c, "kappa", "kappa_ci")
                x = c["area"] * _shape_offset(c)
                a2.errorbar([x], [v], yerr=e, fmt="o", color=TRAIN, ms=5, capsize=2)
                a2.annotate(f"m/d={c['m'] / c['d']:g}", (x, v), xytext=(5, -2), textcoords="offset points",
                            fontsize=6, color=TRAIN)
        a2.plot([], [], "o", color=TRAIN, label=f"κ_MLP = N ln N/(md), M = N (band [{lo}, {hi}])")
        a2.axhline(d["guide_kappa"], **GUIDE)
    if "M_fixed" in d:
        lo, hi = d["bands"]["M_fixed"]
        a2.axhspan(lo, hi, color=TRAIN2, alpha=0.08, lw=0)
        for c in d["M_fixed"]["cells"]:
            if "c" in c:
                v, e = _err(c, "c", "c_ci")
                a2.errorbar([c["area"] * _shape_offset(c)], [v], yerr=e, fmt="s", color=TRAIN2, ms=5, capsize=2)
        a2.plot([], [], "s", color=TRAIN2, label=f"c = N/(md), M = {d['M']} (band [{lo}, {hi}])")
        a2.axhline(d["guide_c"], **GUIDE)
    a2.plot([], [], **GUIDE, label="official guides 2.86, 0.83")
    a2.set(xscale="log", xlabel="m·d", ylabel="capacity constant",
           title="Constants per cell (median ± 95% CI)")
    a2.set_xticks(sorted({c["area"] for k in ("M_N", "M_fixed") if k in d for c in d[k]["cells"]}))
    _plain(a2, "x", minor_labels=False)
    a2.legend(fontsize=6.5)
    return fig

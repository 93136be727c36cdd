"""Figures of the recall topic's MQAR claims (test_time_memory.md §9 rows 29–34, §10 X5–X8), each drawn from its
JSON data only."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from verify.figures import drawer
from verify.plots._style import SIM, THEORY, TRAIN, TRAIN2, arr

MIXER_STYLE = {
    "attention": ("#000000", "o", "attention"), "linear_attention": ("#1f77b4", "s", "LA"),
    "gla": ("#17becf", "v", "GLA"), "deltanet": ("#d62728", "^", "DeltaNet"), "gdn": ("#ff7f0e", "D", "GDN"),
    "longhorn": ("#8c564b", "P", "Longhorn"), "titans": ("#e377c2", "X", "Titans"),
    "titans_mlp": ("#e377c2", "x", "Titans-MLP"), "moneta": ("#7f7f7f", "<", "Moneta"),
    "yaad": ("#bcbd22", ">", "Yaad"), "memora": ("#9467bd", "h", "Memora"), "mesa": ("#2ca02c", "*", "Mesa"),
}


def _style(mixer):
    return MIXER_STYLE.get(mixer, ("0.4", "o", mixer))


def _grid(n: int, ncols: int, w: float = 4.4, h: float = 3.5):
    ncols = max(1, min(n, ncols))
    nrows = int(np.ceil(max(n, 1) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:max(n, 1)]


@drawer("recall_mqar_gaps")
def gaps(d: dict):
    panels = d["panels"]
    fig, axes = _grid(len(panels), 3)
    for ax, p in zip(axes, panels):
        for mode, color, mk in (("faithful", SIM, "o"), ("modern", TRAIN, "x")):
            m = p["modes"].get(mode)
            if m is None:
                continue
            obs = arr(m["observed"])
            g = np.arange(len(obs)) + 1
            ax.plot(g, obs, ls="none", marker=mk, ms=3, color=color,
                    label=f"{mode}: first-drawn gap (χ² p = {m['p_value']:.2g})")
            ax.plot(g, arr(m["all_gaps"]) / p["N"], ls="-", lw=0.8, color=color, alpha=0.5,
                    label=f"{mode}: all gaps / N")
        m = next(iter(p["modes"].values()))
        ax.plot(np.arange(len(m["expected"])) + 1, arr(m["expected"]), **THEORY, label="n·p(g), p ∝ (g+1)^(a−1)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set(xlabel="gap g + 1 (query offset / 2, + 1)", ylabel="examples",
               title=f"(L, N) = ({p['L']}, {p['N']}), {p['n']} examples")
        ax.title.set_fontsize(8)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"X5: MQAR query gaps vs the power law p(g), a = 0.01 (each χ² must exceed p = {d['level']:.2g})",
                 fontsize=9)
    return fig


@drawer("recall_mqar_training")
@drawer("recall_mqar_capacity_training")
def training(d: dict):
    curves = d["curves"]
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.8), squeeze=False)
    ax_l, ax_a = axes[0]
    for c in curves:
        color, mk, name = _style(c["mixer"])
        ep = np.arange(1, len(c["train_loss"]) + 1)
        lab = f"{name} d={c['d_model']} lr={c['lr']:.2g} s{c['seed']}"
        ax_l.plot(ep, arr(c["train_loss"]), color=color, lw=1.2, label=lab)
        ax_l.plot(ep, arr(c["test_loss"]), color=color, lw=0.9, ls="--")
        for j, (sl, acc) in enumerate(c["slices"].items()):
            ax_a.plot(ep, arr(acc), color=color, marker=mk, ms=3, lw=1.0, ls=("-", "--", ":", "-.")[j % 4],
                      label=f"{name} (L,N)=({sl})" if j < 4 else None)
    chance = 2.0 / d["vocab"]
    ax_a.axhline(5 * chance, color="0.6", ls=":", lw=0.9, label="5× chance (2/V)")
    ax_a.axhline(0.99, color="0.3", ls="--", lw=0.8, label="0.99 (solved)")
    ax_l.set(xlabel="epoch", ylabel="cross-entropy (solid train, dashed test)", yscale="log")
    ax_a.set(xlabel="epoch", ylabel="test accuracy (zoology metric)", ylim=(-0.02, 1.02))
    ax_l.legend(fontsize=6)
    ax_a.legend(fontsize=6, ncol=2)
    fig.suptitle("MQAR training curves — " + d["title"], fontsize=9)
    return fig


def _state_size_panels(d: dict, suptitle: str):
    pts = d["points"]
    slices = sorted({(p["L"], p["N"]) for p in pts}, key=lambda s: (s[1], s[0]))
    fig, axes = _grid(len(slices), 3)
    for ax, (L, N) in zip(axes, slices):
        sub = [p for p in pts if p["L"] == L and p["N"] == N]
        for mixer in sorted({p["mixer"] for p in sub}):
            color, mk, name = _style(mixer)
            mp = sorted((p for p in sub if p["mixer"] == mixer), key=lambda p: p["state_size"] or 0)
            x = arr([p["state_size"] for p in mp])
            ax.errorbar(x, arr([p["acc"] for p in mp]), yerr=arr([p["se"] for p in mp]), color=color, marker=mk,
                        ms=6, capsize=2, lw=1.0, label=name)
        ax.axhline(0.99, color="0.5", ls="--", lw=0.7)
        ax.set_xscale("log", base=2)
        ax.set(xlabel="state size (numbers, §5.5)", ylabel="test accuracy (best lr, mean ± SE)", ylim=(-0.02, 1.02),
               title=f"N = {N} pairs, L = {L}")
        ax.title.set_fontsize(8)
    axes[0].legend(fontsize=6)
    fig.suptitle(suptitle + "\n" + d["title"], fontsize=9)
    return fig


@drawer("recall_mqar_capacity")
def capacity(d: dict):
    return _state_size_panels(d, "X6 capacity: MQAR accuracy vs recurrent state size, one panel per N")


@drawer("recall_mqar_zoology")
def zoology(d: dict):
    return _state_size_panels(d, "X6: MQAR accuracy vs state size (Zoology Figure-2 style), one panel per slice")


@drawer("recall_mqar_cg_budget")
def cg_budget(d: dict):
    panels = d["panels"]
    fig, axes = plt.subplots(len(panels), 3, figsize=(13.5, 3.7 * len(panels)), squeeze=False)
    for row, p in zip(axes, panels):
        ax_a, ax_l, ax_h = row
        k = arr(p["k"])
        for init, color, ls in (("zero", SIM, "-"), ("jacobi", TRAIN2, "--")):
            rows = p["budget"].get(init)
            if not rows:
                continue
            ax_a.errorbar(k, arr([r["acc"] for r in rows]), yerr=arr([r["acc_diff_se"] for r in rows]), color=color,
                          ls=ls, marker="o", ms=4, capsize=2, label=f"x₀ {init}")
            ax_l.errorbar(k, arr([r["ce"] for r in rows]), yerr=arr([r["ce_diff_se"] for r in rows]), color=color,
                          ls=ls, marker="o", ms=4, capsize=2, label=f"x₀ {init}")
        for ax, key in ((ax_a, "acc"), (ax_l, "ce")):
            ax.axhline(p["exact"][key], color="k", ls=":", lw=1.0, label="exact solve")
            if p.get("train_max_steps"):
                ax.axvline(p["train_max_steps"], color="0.7", lw=1.0, label="training budget")
            ax.set_xscale("log")
            ax.set_xlabel("CG steps k at inference (tol 0)")
        ax_a.set(ylabel="test accuracy (error bar: paired SE vs exact)",
                 title=f"seed {p['seed']}, lr {p['lr']:.2g}, min λ {p['lam_min']:.3g}")
        ax_l.set(ylabel="test cross-entropy per label")
        ax_a.legend(fontsize=6)
        tols = p["tols"].get("zero", {})
        colors = (SIM, TRAIN2, TRAIN, "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
        for i, (tol, t) in enumerate(sorted(tols.items(), key=lambda kv: -float(kv[0]))):
            h = arr(t.get("steps_hist", [0]))
            ax_h.stairs(h / max(h.sum(), 1), np.arange(len(h) + 1) - 0.5, color=colors[i % len(colors)], lw=1.2,
                        label=f"tol {float(tol):g}: mean {t.get('steps_mean', float('nan')):.1f}, acc {t['acc']:.3f}, "
                              f"capped {t['capped_fraction']:.1%}")
        ax_h.set(xlabel="CG steps used per token solve (x₀ = 0)", ylabel="fraction of solves",
                 title="tolerance-stopped CG at inference")
        ax_h.legend(fontsize=6)
    fig.suptitle(f"X7: CG budget of trained Mesa models (V = {d['vocab']}, d_k = {d['d_k']}, L = {d['L']}, "
                 f"N ∈ {d['pairs']})", fontsize=9)
    return fig


PREC_STYLE = {"float16": (TRAIN, "o"), "bfloat16": ("#ff7f0e", "s"), "float32": (SIM, "^")}


@drawer("recall_mqar_precision")
def precision(d: dict):
    rows = d["rows"]
    kinds = sorted({(r["keys"], r["T"]) for r in rows})
    fig, axes = plt.subplots(len(kinds), 2, figsize=(11.0, 3.9 * len(kinds)), squeeze=False)
    at = arr(d["at"]) + 1
    for (ax_e, ax_o), (kk, T) in zip(axes, kinds):
        sub = [r for r in rows if r["keys"] == kk and r["T"] == T]
        lam = min(r["lam"] for r in sub)
        seen = set()
        for r in sub:  # H does not depend on v: one trace per (precision, γ)
            if r["lam"] != lam or (r["precision"], r["gamma"]) in seen:
                continue
            seen.add((r["precision"], r["gamma"]))
            color, _ = PREC_STYLE.get(r["precision"], ("0.4", "o"))
            trace = arr(r["min_eig_trace"])
            ax_e.plot(at[:len(trace)], trace, color=color, ls="-" if r["gamma"] >= 0.999 else "--", lw=1.2,
                      label=f"{r['precision']}, γ={r['gamma']:g}")
        ax_e.axhline(lam, color="0.5", lw=0.7, label="λ (exact lower bound)")
        ax_e.axhline(0.0, color="k", lw=0.8)
        ax_e.set_xscale("log")
        ax_e.set_yscale("symlog", linthresh=1e-3)
        ax_e.set(xlabel="token t", ylabel=f"λ_min(H_t + λI), λ = {lam:g}",
                 title=f"{kk} keys, T = {T}, d = {d['d']}: stored key state")
        ax_e.legend(fontsize=6)
        for prec in sorted({r["precision"] for r in sub}):
            color, mk = PREC_STYLE.get(prec, ("0.4", "o"))
            for g in sorted({r["gamma"] for r in sub}):
                pts = sorted((r for r in sub if r["precision"] == prec and r["gamma"] == g and r["lam"] == lam),
                             key=lambda r: r["v_scale"])
                err = [np.nan if r["median_rel_err"] is None else r["median_rel_err"] for r in pts]
                ax_o.plot([r["v_scale"] for r in pts], err, color=color, marker=mk, ms=5,
                          ls="-" if g >= 0.999 else "--", lw=1.0, label=f"{prec}, γ={g:g}")
                for r in pts:
                    bad = r["non_pd"] + r["breakdowns"] + r["nonfinite_out"] + r["nonfinite_state"]
                    if bad:
                        ax_o.annotate(f"✗{bad}", (r["v_scale"], 1.0), color=color, fontsize=7)
        ax_o.set_xscale("log")
        ax_o.set_yscale("log")
        ax_o.set(xlabel="value scale |v|", ylabel="median ‖o − o_exact‖/‖o_exact‖ (fp32 CG)",
                 title=f"read-out error, λ = {lam:g} (✗n: n failing tokens)")
        ax_o.legend(fontsize=6)
    fig.suptitle("X8: Mesa states H, G stored in fp16 / bf16 / fp32 (rounded after every token)", fontsize=9)
    return fig

"""Recall claims on trained MQAR models (test_time_memory.md §9 rows 30–33; experiments X6, X7 of §10).

Rows 30–33 (paper): trained Zoology-style models (``verify.models.zoology``) — attention on the tiny
configuration, the capacity ordering at a fixed d_k, the Zoology Figure-2 subset, and the inference CG budget of
trained Mesa models. The generator check (row 29) is in ``mqar_data``, the precision stress and the fla kernel test
(rows 34, 35) in ``mqar_precision``.

Every training run is one record (``kind="train"``): one model (mixer, width, lr, seed) trained on its segments
and evaluated per (L, N) slice; a Mesa run also carries the X7 evaluation of its trained model, so rows 31 and 33
share their runs. Accuracies are means over test examples ± SE; across seeds, the mean of the best-over-lr value
± SE over seeds. Verdicts that need the paper's scale say so (``inconclusive``) when a profile is below it.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from verify.claims import Claim, Outcome, RunContext, paper_verdict, register
from verify.profiles import ClaimConfig
from verify.records import to_jsonable

from verify.experiments.recall.common import SRC

CHANCE_FACTOR = 5.0  # X6 smoke bar: accuracy > 5 × chance, chance ≈ 2/V (§10 X6)
SOLVED = 0.99  # Zoology's "solved" threshold (early stop, rows 30, 32)
FIG2_SEGMENTS = [[64, 4], [128, 8], [256, 16]]
LOGSPACE_FIG2 = [1e-4, 10 ** -3.333, 10 ** -2.667, 1e-2]
LOGSPACE_ORIG = [1e-3, 10 ** -2.5, 1e-2, 10 ** -1.5]
ALL_MIXERS = ["attention", "linear_attention", "gla", "deltanet", "gdn", "longhorn", "titans", "moneta", "yaad",
              "memora", "mesa"]




def on_cpu_threads(fn, p: dict, ctx: RunContext, threads: int = 1) -> dict:
    """Run ``fn(p, ctx)`` and make its result JSON-able; on the CPU with ``threads`` torch threads (restored
    after). These runs are sequences of small tensor operations: extra threads only add synchronisation, many
    times over on a loaded machine."""
    if ctx.device != "cpu":
        return to_jsonable(fn(p, ctx))
    from verify.device import set_threads

    previous = set_threads(threads)
    try:
        return to_jsonable(fn(p, ctx))
    finally:
        set_threads(previous)


def train_run(p: dict, ctx: RunContext) -> dict:
    """One training run (``kind="train"``) of rows 30–33 (and the X7 evaluation of a Mesa model)."""
    return on_cpu_threads(_train_run, p, ctx, p.get("threads", 1))



class TrainSettings(ClaimConfig):
    """Training knobs shared by the trained-model claims (§5.3): AdamW, per-epoch cosine, early stop."""

    batch: int = 64
    test_batch: int = 500
    epochs: int = 3
    weight_decay: float = 0.1
    early_stop: float = SOLVED
    seeds: int = 1
    data_seed: int = 0
    mode: Literal["faithful", "modern"] = "faithful"
    random_non_queries: bool = False
    threads: int = 1
    mesa_max_steps: int = 8
    mesa_tol: float = 1e-4
    mesa_chunk: int = 16


def _layer_kwargs(cfg: TrainSettings, mixer: str) -> dict:
    if mixer == "mesa":
        return {"max_steps": cfg.mesa_max_steps, "tol": cfg.mesa_tol, "chunk": cfg.mesa_chunk}
    return {}


def _train_params(cfg: TrainSettings, *, mixer, vocab, d_model, lr, seed, train, test, cg_eval=None,
                  d_k=None, state_dtype=None) -> dict:
    from verify.tasks.mqar import segment_seeds

    tr_seeds, te_seeds = segment_seeds(cfg.data_seed, len(train), len(test))
    layer = _layer_kwargs(cfg, mixer)
    if state_dtype is not None:
        layer["state_dtype"] = state_dtype
    L_max = max(L for L, _, _ in list(train) + list(test))
    return {"kind": "train", "mixer": mixer, "vocab": vocab, "d_model": d_model, "heads": 1, "d_k": d_k,
            "n_layers": 2, "positions": L_max if mixer == "attention" else 0, "state_mixer": "identity",
            "train": [[L, N, n, s] for (L, N, n), s in zip(train, tr_seeds)],
            "test": [[L, N, n, s] for (L, N, n), s in zip(test, te_seeds)],
            "mode": cfg.mode, "rnq": cfg.random_non_queries, "batch": cfg.batch, "test_batch": cfg.test_batch,
            "lr": lr, "weight_decay": cfg.weight_decay, "epochs": cfg.epochs, "early_stop": cfg.early_stop,
            "seed": seed, "threads": cfg.threads, "layer": layer, "cg_eval": cg_eval}


def _segments(p, which):
    from verify.tasks.mqar import SegmentSpec, cached_segment

    return [cached_segment(SegmentSpec(p["vocab"], n, L, N, s, 1, p["rnq"], 0.01, p["mode"]))
            for L, N, n, s in p[which]]


def _scores(model, loader):
    """Per-example arrays over the whole test loader: acc, acc_value, ce (mean per label), segment index; and the
    CG steps of every token solve of every Mesa layer (concatenated)."""
    import torch

    from verify.models.zoology import example_scores

    acc, accv, ce, seg, steps = [], [], [], [], []
    model.eval()
    with torch.no_grad():
        for x, y, i in loader.epoch(0):
            s = example_scores(model, x, y)
            acc.append(s["acc"].cpu().numpy())
            accv.append(s["acc_value"].cpu().numpy())
            ce.append((s["ce"] / s["labels"].clamp_min(1)).cpu().numpy())
            seg.append(np.full(x.shape[0], i))
            for m in model.mixers:
                if getattr(m, "last_info", None) is not None:
                    steps.append(m.last_info.steps.flatten().cpu().numpy())
    cat = np.concatenate
    return {"acc": cat(acc), "acc_value": cat(accv), "ce": cat(ce), "seg": cat(seg),
            "steps": cat(steps) if steps else np.zeros(0, dtype=np.int64)}


def _summary(s, ref=None) -> dict:
    """Mean ± SE of acc and ce; with ``ref`` also the paired differences (this − ref) and their SE."""
    n = len(s["acc"])
    out = {}
    for k in ("acc", "ce"):
        out[k] = float(s[k].mean())
        out[f"{k}_se"] = float(s[k].std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
        if ref is not None:
            d = s[k] - ref[k]
            out[f"{k}_diff"] = float(d.mean())
            out[f"{k}_diff_se"] = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    if len(s["steps"]):
        out["steps_mean"] = float(s["steps"].mean())
        out["steps_hist"] = np.bincount(s["steps"]).tolist()
    return out


def _cg_eval(model, loader, spec: dict) -> dict:
    """X7: the trained Mesa model's test metrics at fixed CG budgets k (tol 0: exactly k steps) per init, and at
    tolerance stops (cap ``tol_cap``) with the first init, against the exact solve."""
    saved = {k: getattr(model.mixers[0], k) for k in ("solver", "tol", "max_steps", "init")}

    def set_all(**opts):
        for m in model.mixers:
            m.configure(**opts)

    set_all(solver="exact")
    ref = _scores(model, loader)
    out = {"exact": _summary(ref), "k": spec["k"], "budget": {}, "tols": {}}
    lam = [float(m.lam.detach().min()) for m in model.mixers]
    for init in spec["inits"]:
        rows = []
        for k in spec["k"]:
            set_all(solver="cg", tol=0.0, max_steps=k, init=init)
            rows.append(_summary(_scores(model, loader), ref))
        out["budget"][init] = rows
        tol_rows = {}
        for tol in spec["tols"] if init == spec["inits"][0] else ():
            set_all(solver="cg", tol=tol, max_steps=spec["tol_cap"], init=init)
            s = _scores(model, loader)
            row = _summary(s, ref)
            row["capped_fraction"] = float(np.mean(s["steps"] >= spec["tol_cap"]))
            tol_rows[str(tol)] = row
        out["tols"][init] = tol_rows
    set_all(**saved)
    out["lam_min"] = min(lam)
    return out


def _train_run(p: dict, ctx: RunContext) -> dict:
    import torch

    from verify.device import resolve_device
    from verify.models.zoology import ZoologyLM, train_mqar
    from verify.tasks.mqar import MQARLoader

    dev = resolve_device(ctx.device)
    tr, te = _segments(p, "train"), _segments(p, "test")
    model = ZoologyLM(p["mixer"], p["vocab"], p["d_model"], n_layers=p["n_layers"], heads=p["heads"],
                      d_k=p["d_k"], d_v=p["d_k"], max_position_embeddings=p["positions"],
                      state_mixer=p["state_mixer"], layer_kwargs=p["layer"], seed=p["seed"]).to(dev)
    train_loader = MQARLoader(tr, p["batch"], shuffle=True, seed=p["seed"], device=dev)
    test_loader = MQARLoader(te, p["test_batch"], shuffle=False, device=dev)
    res = train_mqar(model, train_loader, test_loader, p["epochs"], p["lr"], p["weight_decay"], p["early_stop"],
                     seed=p["seed"], progress=ctx.progress)
    out = {"params": p, "history": res.history, "best_acc": res.best_acc, "final": res.final,
           "epochs_run": res.epochs, "early_stopped": res.early_stopped, "diverged": res.diverged,
           "n_updates": res.n_updates, "train_wall_s": res.wall_s, "cg_train": res.cg,
           "state_size": {str(L): model.state_size(L) for L in sorted({s[0] for s in p["test"]})},
           "n_params": sum(q.numel() for q in model.parameters()), "device": str(dev),
           "data_digest": [s.digest() for s in tr + te]}
    if p.get("cg_eval") and p["mixer"] == "mesa" and not res.diverged:
        with torch.random.fork_rng(devices=[]):
            out["cg_eval"] = _cg_eval(model, test_loader, p["cg_eval"])
    return out


def _slices(r: dict) -> dict:
    """(L, N) → best-over-epochs is not used: the final epoch's per-slice test metrics of a run."""
    return {(s["L"], s["N"]): s for s in r["final"].get("segments", [])}


def _best_over_lr(runs: list[dict]) -> dict:
    """Per seed, the run with the highest final overall accuracy (Zoology plots the best lr)."""
    best: dict[int, dict] = {}
    for r in runs:
        s = r["params"]["seed"]
        if s not in best or r["final"].get("acc", -1) > best[s]["final"].get("acc", -1):
            best[s] = r
    return best


def _points(results: list[dict]) -> list[dict]:
    """Figure/judge points: per (mixer, d_model, L, N): accuracy (mean over seeds of the best-lr run) ± SE,
    state size, diverged flag."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        if r.get("kind", "train") != "train" or "params" not in r:
            continue
        pp = r["params"]
        groups.setdefault((pp["mixer"], pp["d_model"]), []).append(r)
    pts = []
    for (mixer, d), runs in sorted(groups.items()):
        best = _best_over_lr(runs)
        per = {}
        for r in best.values():
            for key, s in _slices(r).items():
                per.setdefault(key, []).append((s["acc"], s["acc_se"], s["acc_value"], r))
        for (L, N), vals in sorted(per.items()):
            acc = np.array([v[0] for v in vals])
            n = len(acc)
            se = float(acc.std(ddof=1) / math.sqrt(n)) if n > 1 else float(vals[0][1])
            pts.append({"mixer": mixer, "d_model": d, "L": L, "N": N, "acc": float(acc.mean()), "se": se,
                        "acc_value": float(np.mean([v[2] for v in vals])), "seeds": n,
                        "lr": [v[3]["params"]["lr"] for v in vals],
                        "state_size": vals[0][3]["state_size"].get(str(L)),
                        "diverged": any(r["diverged"] for r in runs),
                        "epochs": max(v[3]["epochs_run"] for v in vals)})
    return pts


def _curves(results: list[dict]) -> list[dict]:
    out = []
    for r in results:
        if "history" not in r:
            continue
        pp = r["params"]
        out.append({"mixer": pp["mixer"], "d_model": pp["d_model"], "lr": pp["lr"], "seed": pp["seed"],
                    "train_loss": [h["train_loss"] for h in r["history"]],
                    "test_loss": [h["loss"] for h in r["history"]],
                    "acc": [h["acc"] for h in r["history"]],
                    "slices": {f"{s['L']},{s['N']}": [h["segments"][i]["acc"] for h in r["history"]]
                               for i, s in enumerate(r["history"][0]["segments"])} if r["history"] else {}})
    return out


def _sanity(r: dict, vocab: int) -> tuple[bool, str]:
    """The X6 smoke bar for one run: finite losses, loss decreased, accuracy > 5 × chance (chance = 2/V)."""
    h = r["history"]
    if r["diverged"] or not h:
        return False, "diverged"
    decreased = h[-1]["train_loss"] < h[0]["train_loss"]
    bar = CHANCE_FACTOR * 2.0 / vocab
    text = f"loss {h[0]['train_loss']:.3g}→{h[-1]['train_loss']:.3g}, best acc {r['best_acc']:.3g} (bar {bar:.3g})"
    return decreased and r["best_acc"] > bar, text


# --- row 30: tiny MQAR, attention --------------------------------------------------------------------------------


class TinyConfig(TrainSettings):
    """Row 30: attention on V = 256, L = 64, N = 4, 10k/1k, 2 layers, d = 64 (smoke: fewer examples and epochs).
    ``paper_epochs``: the epoch budget under which a miss is a finding rather than an exhausted budget."""

    vocab_size: int = 256
    seq_len: int = 64
    pairs: int = 4
    train_examples: int = 1024
    test_examples: int = 500
    d_model: int = 64
    lrs: list[float] = [3e-3]


TINY_PAPER = {"train_examples": 10_000, "test_examples": 1000, "epochs": 64, "lrs": LOGSPACE_FIG2, "seeds": 3,
              "batch": 64, "test_batch": 1000}
TINY_PAPER_SCALE = {"train_examples": 10_000, "epochs": 64}


def tiny_plan(cfg: TinyConfig) -> list[dict]:
    seg = (cfg.seq_len, cfg.pairs)
    return [_train_params(cfg, mixer="attention", vocab=cfg.vocab_size, d_model=cfg.d_model, lr=lr, seed=s,
                          train=[seg + (cfg.train_examples,)], test=[seg + (cfg.test_examples,)])
            for s in range(cfg.seeds) for lr in cfg.lrs]


def tiny_judge(cfg: TinyConfig, results: list[dict]) -> Outcome:
    pts = _points(results)
    figs = {"recall_mqar_training": {"curves": _curves(results), "vocab": cfg.vocab_size,
                                     "title": f"row 30: attention, V={cfg.vocab_size}, (L, N) = ({cfg.seq_len}, "
                                              f"{cfg.pairs}), d={cfg.d_model}"}}
    if not pts:
        return Outcome(verdict="inconclusive", reason="no finished run", figures=figs)
    p = pts[0]
    full = cfg.train_examples >= TINY_PAPER_SCALE["train_examples"] and cfg.epochs >= TINY_PAPER_SCALE["epochs"]
    sane = [_sanity(r, cfg.vocab_size) for r in results]
    ok = p["acc"] >= SOLVED
    conclusive = not p["diverged"] and (ok or full)
    m = {"acc": p["acc"], "se": p["se"], "acc_value": p["acc_value"], "seeds": p["seeds"], "lr": p["lr"],
         "epochs_run": p["epochs"], "paper_scale": full, "sanity": [s[1] for s in sane],
         "sanity_ok": all(s[0] for s in sane)}
    reason = "" if ok else (
        f"test accuracy {p['acc']:.3f} < 0.99 after the full budget" if conclusive else
        f"accuracy {p['acc']:.3f} < 0.99 with {cfg.train_examples} examples × {cfg.epochs} epochs, below the row's "
        f"10k examples × {TINY_PAPER_SCALE['epochs']} epochs (paper profile); X6 smoke bar (finite, loss decreases, "
        f"> 5× chance): {'met' if m['sanity_ok'] else 'missed'}")
    return Outcome(verdict=paper_verdict(ok, conclusive),
                   trained=f"attention d={cfg.d_model}: acc {p['acc']:.3f} ± {p['se']:.3f} (value-half "
                           f"{p['acc_value']:.3f}), {p['epochs']} epochs, lr {p['lr']}",
                   paper="≥ 0.99 (official config; outcome [unverified])", reason=reason, measured=m, figures=figs)


# --- rows 31 and 33: capacity at fixed d_k, and the CG budget of trained Mesa models -----------------------------


class CapacityConfig(TrainSettings):
    """Row 31 (X6 capacity panel) and row 33 (X7): mixers at d_k = d_v = d_model = ``d_k`` (1 head), one model per
    mixer trained on all N segments at L = ``seq_len`` jointly and read per N. X7 evaluates each trained Mesa model
    at CG budgets ``cg_steps`` (zero and Jacobi init), tolerances ``cg_tols`` (cap ``cg_tol_cap``) and exactly."""

    vocab_size: int = 256
    seq_len: int = 64
    pairs: list[int] = [4, 8]
    train_examples: int = 1024
    test_examples: int = 250
    d_k: int = 32
    mixers: list[str] = ["linear_attention", "deltanet", "gdn", "mesa"]
    lrs: list[float] = [1e-2]
    cg_steps: list[int] = [1, 2, 5, 10, 30]
    cg_tols: list[float] = [1e-2, 1e-4, 1e-6]
    cg_inits: list[Literal["zero", "jacobi"]] = ["zero", "jacobi"]
    cg_tol_cap: int = 64


CAPACITY_PAPER = {"seq_len": 256, "pairs": [4, 8, 16, 32, 64], "train_examples": 20_000, "test_examples": 1000,
                  "vocab_size": 8192, "mixers": ALL_MIXERS, "lrs": LOGSPACE_ORIG, "epochs": 32, "batch": 256,
                  "test_batch": 32, "seeds": 3, "cg_steps": [1, 2, 5, 10, 30, 64], "mesa_max_steps": 30,
                  "mesa_tol": 1e-5, "mesa_chunk": 64, "cg_tols": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8],
                  "cg_tol_cap": 128}


def capacity_plan(cfg: CapacityConfig) -> list[dict]:
    segs = [(cfg.seq_len, N) for N in cfg.pairs]
    spec = {"k": cfg.cg_steps, "tols": cfg.cg_tols, "inits": cfg.cg_inits, "tol_cap": cfg.cg_tol_cap}
    return [_train_params(cfg, mixer=mx, vocab=cfg.vocab_size, d_model=cfg.d_k, d_k=cfg.d_k, lr=lr, seed=s,
                          train=[sg + (cfg.train_examples,) for sg in segs],
                          test=[sg + (cfg.test_examples,) for sg in segs], cg_eval=spec if mx == "mesa" else None)
            for mx in cfg.mixers for s in range(cfg.seeds) for lr in cfg.lrs]


FP32_FLOOR = 1e-4  # row 33: relative round-off of a float32 evaluation of the test loss (identical predictions)
ORDER_SLACK = 0.02  # row 31: finite-training slack on every accuracy comparison, besides 3 SE of the difference


def capacity_judge(cfg: CapacityConfig, results: list[dict]) -> Outcome:
    pts = _points(results)
    fig = {"points": pts, "vocab": cfg.vocab_size, "d_k": cfg.d_k,
           "title": f"row 31: fixed state d_k = d_v = {cfg.d_k}, 1 head, L = {cfg.seq_len}, V = {cfg.vocab_size}"}
    figs = {"recall_mqar_capacity": fig, "recall_mqar_capacity_training": {"curves": _curves(results),
                                                                  "vocab": cfg.vocab_size,
                                                                  "title": fig["title"]}}
    acc = {(p["mixer"], p["N"]): p for p in pts}
    need = ["linear_attention", "deltanet", "gdn", "mesa"]
    table = {f"{mx}@N={N}": [acc[(mx, N)]["acc"], acc[(mx, N)]["se"]] for mx in cfg.mixers for N in cfg.pairs
             if (mx, N) in acc}
    sane = {r["params"]["mixer"]: _sanity(r, cfg.vocab_size) for r in results}
    m = {"acc": table, "sanity": {k: v[1] for k, v in sane.items()}}
    if any(mx not in cfg.mixers for mx in need) or not all((mx, N) in acc for mx in need for N in cfg.pairs):
        return Outcome(verdict="inconclusive", reason=f"the grid lacks one of {need} at some N", measured=m,
                       figures=figs)

    def tol(a, b):
        return ORDER_SLACK + 3.0 * math.hypot(a["se"], b["se"])

    checks = []
    for N in cfg.pairs:
        la, dn, gdn, mesa = (acc[(mx, N)] for mx in need)
        checks.append((f"Mesa ≥ GDN at N={N}", mesa["acc"] >= gdn["acc"] - tol(mesa, gdn)))
        checks.append((f"GDN ≈ DeltaNet at N={N}", abs(gdn["acc"] - dn["acc"]) <= tol(gdn, dn)))
        checks.append((f"DeltaNet ≥ LA at N={N}", dn["acc"] >= la["acc"] - tol(dn, la)))
    Nmax = max(cfg.pairs)
    la, dn = acc[("linear_attention", Nmax)], acc[("deltanet", Nmax)]
    checks.append((f"DeltaNet > LA at N={Nmax}", dn["acc"] > la["acc"] + tol(dn, la)))

    def collapse(mx):  # smallest N with accuracy below ½
        return min([N for N in cfg.pairs if acc[(mx, N)]["acc"] < 0.5], default=math.inf)

    first = {mx: collapse(mx) for mx in need}
    checks.append(("LA collapses first", all(first["linear_attention"] <= first[mx] for mx in need)
                   and math.isfinite(first["linear_attention"])))
    failed = [name for name, ok in checks if not ok]
    learned = all(acc[(mx, min(cfg.pairs))]["acc"] >= 0.9 for mx in need)
    reach = Nmax >= cfg.d_k
    enough_seeds = cfg.seeds >= 2
    conclusive = learned and reach and enough_seeds and not any(acc[(mx, N)]["diverged"] for mx in need
                                                               for N in cfg.pairs)
    m.update(checks={n: bool(o) for n, o in checks}, collapse_N={k: (v if math.isfinite(v) else None)
                                                                  for k, v in first.items()})
    why = []
    if not learned:
        why.append("some mixer is below 0.9 at the smallest N (the ordering would reflect optimisation, not "
                   "capacity)")
    if not reach:
        why.append(f"max N = {Nmax} < d_k = {cfg.d_k}: LA cannot collapse on this grid (paper: N up to 64, L = 256)")
    if not enough_seeds:
        why.append("one seed (≥ 2 needed for an ordering)")
    reason = "; ".join(why) if not conclusive else ("" if not failed else "failed: " + ", ".join(failed))
    trained = "; ".join(f"N={N}: " + ", ".join(f"{mx.replace('linear_attention', 'LA')} "
                                               f"{acc[(mx, N)]['acc']:.2f}" for mx in need) for N in cfg.pairs)
    return Outcome(verdict=paper_verdict(not failed, conclusive), trained=trained,
                   paper="Mesa ≥ GDN ≈ DeltaNet > LA; LA collapses first as N/d_k grows [unverified]",
                   reason=reason, measured=m, figures=figs)


def cg_budget_judge(cfg: CapacityConfig, results: list[dict]) -> Outcome:
    runs = [r for r in results if r.get("params", {}).get("mixer") == "mesa" and "cg_eval" in r]
    best = _best_over_lr(runs)
    panels = []
    for r in best.values():
        ev = r["cg_eval"]
        panels.append({"seed": r["params"]["seed"], "lr": r["params"]["lr"], "k": ev["k"], "exact": ev["exact"],
                       "budget": ev["budget"], "tols": ev["tols"], "lam_min": ev["lam_min"],
                       "train_max_steps": r["params"]["layer"].get("max_steps")})
    fig = {"recall_mqar_cg_budget": {"panels": panels, "vocab": cfg.vocab_size, "d_k": cfg.d_k,
                                     "L": cfg.seq_len, "pairs": cfg.pairs}}
    if not panels:
        return Outcome(verdict="inconclusive", reason="no trained Mesa model (add 'mesa' to mixers)", figures=fig)
    bar = CHANCE_FACTOR * 2.0 / cfg.vocab_size
    failed, learned = [], True
    sat = {}
    for pnl in panels:
        learned &= pnl["exact"]["acc"] > bar
        rows = pnl["budget"]["zero"] if "zero" in pnl["budget"] else next(iter(pnl["budget"].values()))
        for a, b, ka, kb in zip(rows, rows[1:], pnl["k"], pnl["k"][1:]):
            # consecutive budgets, paired over test examples: accuracy may not fall, loss may not rise, by > 3 SE
            d_acc = b["acc_diff"] - a["acc_diff"]
            d_ce = b["ce_diff"] - a["ce_diff"]
            se_acc = math.hypot(a["acc_diff_se"], b["acc_diff_se"])
            se_ce = math.hypot(a["ce_diff_se"], b["ce_diff_se"])
            if d_acc < -3 * se_acc - 1e-12 or d_ce > 3 * se_ce + FP32_FLOOR * abs(pnl["exact"]["ce"]):
                failed.append(f"seed {pnl['seed']}: k={ka}→{kb} acc {d_acc:+.3g}, loss {d_ce:+.3g}")
        last = rows[-1]
        sat[pnl["seed"]] = {"k": pnl["k"][-1], "acc_gap": last["acc_diff"], "acc_gap_se": last["acc_diff_se"],
                            "ce_gap": last["ce_diff"], "ce_gap_se": last["ce_diff_se"]}
        if abs(last["acc_diff"]) > 3 * last["acc_diff_se"] + 1e-12 or \
                abs(last["ce_diff"]) > 3 * last["ce_diff_se"] + 0.01 * abs(pnl["exact"]["ce"]):
            failed.append(f"seed {pnl['seed']}: k={pnl['k'][-1]} differs from the exact solve")
    lam_ok = all(p["lam_min"] >= 0.25 for p in panels)
    kmax_ok = max(cfg.cg_steps) >= 10
    conclusive = learned and lam_ok and kmax_ok
    p0 = panels[0]
    rows0 = p0["budget"].get("zero", next(iter(p0["budget"].values())))
    m = {"acc_by_k": {str(k): r["acc"] for k, r in zip(p0["k"], rows0)},
         "ce_by_k": {str(k): r["ce"] for k, r in zip(p0["k"], rows0)}, "exact": p0["exact"],
         "saturation": sat, "violations": failed, "lam_min": min(p["lam_min"] for p in panels),
         "tol_steps_mean": {i: {t: v.get("steps_mean") for t, v in rows.items()} for i, rows in p0["tols"].items()}}
    reason = ("" if not failed else "; ".join(failed[:3])) if conclusive else (
        f"the trained Mesa model's exact-solve accuracy {p0['exact']['acc']:.3f} ≤ 5× chance ({bar:.3g})"
        if not learned else "λ < 0.25 or max k < 10")
    return Outcome(verdict=paper_verdict(not failed, conclusive),
                   trained="acc (zero init) by k: " + ", ".join(f"{k}: {r['acc']:.3f}" for k, r in
                                                                 zip(p0["k"], rows0))
                           + f"; exact {p0['exact']['acc']:.3f}; loss k=1 {rows0[0]['ce']:.3g} → "
                             f"k={p0['k'][-1]} {rows0[-1]['ce']:.3g} (exact {p0['exact']['ce']:.3g})",
                   paper="monotone in k, saturating by ~10–30 steps with λ ≥ 0.25 [unverified]",
                   reason=reason, measured=m, figures=fig)


# --- row 32: Zoology Figure-2 subset ----------------------------------------------------------------------------


class Fig2Config(TrainSettings):
    """Row 32 (X6 paper (a)): the Zoology Figure-2 grid, best accuracy over ``lrs`` per (mixer, d_model) and slice.
    Smoke: the row-30 run (same parameters, shared record) stands in, at its scale."""

    vocab_size: int = 256
    segments: list[tuple[int, int]] = [(64, 4)]
    train_examples: int = 1024
    test_examples: int = 500
    d_models: list[int] = [64]
    mixers: list[str] = ["attention"]
    lrs: list[float] = [3e-3]


FIG2_PAPER = {"vocab_size": 8192, "segments": FIG2_SEGMENTS, "train_examples": 100_000, "test_examples": 3000,
              "d_models": [64, 128, 256, 512], "mixers": ALL_MIXERS, "lrs": LOGSPACE_FIG2, "epochs": 64,
              "batch": 256, "test_batch": 256, "seeds": 1}


def fig2_plan(cfg: Fig2Config) -> list[dict]:
    return [_train_params(cfg, mixer=mx, vocab=cfg.vocab_size, d_model=d, lr=lr, seed=s,
                          train=[tuple(sg) + (cfg.train_examples,) for sg in cfg.segments],
                          test=[tuple(sg) + (cfg.test_examples,) for sg in cfg.segments])
            for mx in cfg.mixers for d in cfg.d_models for s in range(cfg.seeds) for lr in cfg.lrs]


def fig2_judge(cfg: Fig2Config, results: list[dict]) -> Outcome:
    pts = _points(results)
    fig = {"recall_mqar_zoology": {"points": pts, "vocab": cfg.vocab_size,
                                   "title": f"row 32: Zoology Figure-2 grid, V = {cfg.vocab_size}, "
                                            f"{cfg.train_examples} train examples per slice"}}
    att = {(p["L"], p["N"]): p for p in pts if p["mixer"] == "attention" and p["d_model"] == 64}
    need = [tuple(s) for s in FIG2_SEGMENTS]
    m = {"attention_d64": {f"{L},{N}": [att[(L, N)]["acc"], att[(L, N)]["se"]] for L, N in att}}
    scale_ok = cfg.vocab_size == 8192 and all(s in att for s in need) and cfg.train_examples >= 100_000 \
        and len(cfg.lrs) >= 4
    if not scale_ok:
        return Outcome(verdict="inconclusive", measured=m, figures=fig,
                       trained="; ".join(f"(L,N)=({L},{N}): {p['acc']:.3f}" for (L, N), p in att.items()),
                       paper="attention d = 64 ≥ 0.99 on (64,4), (128,8), (256,16) [unverified]",
                       reason=f"needs V = 8192, (L, N) ∈ {need}, 100k examples per slice and 4 learning rates "
                              f"(paper profile, GPU); this profile has V = {cfg.vocab_size}, slices "
                              f"{[tuple(s) for s in cfg.segments]}, {cfg.train_examples} examples, "
                              f"{len(cfg.lrs)} lr")
    ok = all(att[s]["acc"] >= SOLVED for s in need)
    div = any(att[s]["diverged"] for s in need)
    return Outcome(verdict=paper_verdict(ok, not div or ok),
                   trained="; ".join(f"({L},{N}): {att[(L, N)]['acc']:.3f}" for L, N in need),
                   paper="≥ 0.99 on each slice [unverified]", measured=m, figures=fig,
                   reason="" if ok else "attention d = 64 below 0.99 on " + ", ".join(
                       f"({L},{N})" for L, N in need if att[(L, N)]["acc"] < SOLVED))


# registrations

register(Claim(
    id="recall.mqar_tiny_attention", kind="paper",
    title="Attention solves tiny MQAR (V = 256, L = 64, N = 4, 10k/1k, 2 layers, d = 64): accuracy ≥ 0.99",
    source=f"{SRC} §5.2, §10 X6; claims row 30",
    tolerance="best-over-lr test accuracy (zoology metric, mean over seeds) ≥ 0.99; a miss is a finding only at the "
              "row's scale (10k examples, ≥ 64 epochs), otherwise inconclusive (budget); a diverged run is "
              "inconclusive",
    config=TinyConfig, plan=tiny_plan, run=train_run, judge=tiny_judge, profiles={"paper": TINY_PAPER},
    figures=("recall_mqar_training",), uses_device=True, gpu_scale=True))

register(Claim(
    id="recall.mqar_capacity_ordering", kind="paper",
    title="Fixed state d_k = d_v = 32, 1 head: Mesa ≥ GDN ≈ DeltaNet > LA on MQAR; LA collapses first as N/d_k grows",
    source=f"{SRC} §5.5, §10 X6; claims row 31",
    tolerance=f"per N, accuracies (best lr, mean over seeds ± SE): Mesa ≥ GDN − δ, |GDN − DeltaNet| ≤ δ, "
              f"DeltaNet ≥ LA − δ, and DeltaNet > LA + δ at the largest N, δ = {ORDER_SLACK} + 3·SE of the "
              "difference; LA's first N with accuracy < ½ is the smallest among the four (and exists); conclusive "
              "only with ≥ 2 seeds, max N ≥ d_k and every mixer ≥ 0.9 at the smallest N",
    config=CapacityConfig, plan=capacity_plan, run=train_run, judge=capacity_judge,
    profiles={"paper": CAPACITY_PAPER}, figures=("recall_mqar_capacity", "recall_mqar_capacity_training"),
    uses_device=True, gpu_scale=True))

register(Claim(
    id="recall.mqar_zoology_attention", kind="paper",
    title="Zoology Figure-2 subset: attention (d = 64) solves (64,4), (128,8), (256,16) at V = 8192",
    source=f"{SRC} §5.2, §10 X6; claims row 32",
    tolerance="best-over-4-lr accuracy ≥ 0.99 on each slice at V = 8192, 100k examples per slice (Figure-2 "
              "grid); any smaller profile is inconclusive",
    config=Fig2Config, plan=fig2_plan, run=train_run, judge=fig2_judge, profiles={"paper": FIG2_PAPER},
    figures=("recall_mqar_zoology",), uses_device=True, gpu_scale=True))

register(Claim(
    id="recall.mesa_cg_budget", kind="paper",
    title="Trained Mesa MQAR model: accuracy and loss are monotone in the CG budget k and saturate by ~10–30 steps",
    source=f"{SRC} §4.7, §10 X7; claims row 33",
    tolerance="zero init, k ∈ cg_steps (tol 0: exactly k steps), paired over test examples against the exact "
              "solve: between consecutive k accuracy falls by ≤ 3 SE and loss rises by ≤ 3 SE; at the largest k "
              "accuracy within 3 SE and loss within 3 SE + 1% of the exact solve (every loss comparison also allows "
              "1e-4 relative float32 round-off); conclusive when the model's "
              "exact-solve accuracy > 5× chance, λ ≥ 0.25 and max k ≥ 10",
    config=CapacityConfig, plan=capacity_plan, run=train_run, judge=cg_budget_judge,
    profiles={"paper": CAPACITY_PAPER}, figures=("recall_mqar_cg_budget",), uses_device=True))

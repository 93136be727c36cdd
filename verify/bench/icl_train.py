"""Benchmark of the exact fast paths of linear attention (icl_linear_attention.md §3.7) against the faithful
full-sequence forward, on one fixed dataset per case, training with ``verify.train.train``.

    python -m verify.bench.icl_train [--device auto|cpu|cuda] [--seconds 2] [--faithful-P 5000] [--threads T]

Each path runs full-batch GD steps (loss, backward, update) in official-code units:
- faithful: ``model(tokens)``, every score of every position [P, H, N+1, N+1];
- gram: ``model.predict_gram(S, xq, N)`` with S = XXᵀ computed once per dataset (setup column);
- moments: ``model.loss_moments(mom)``, the same loss as a quadratic form in the coefficients of ŷ, after one
  pass over the data (setup column); a step no longer depends on P.
At P = 80000 the faithful path does not fit in CPU memory: it runs on the first ``--faithful-P`` sequences and
its rate is scaled to the full P by P_used/P (its cost is linear in P); the table marks such rows "scaled".
On CUDA two more columns train the fast paths with ``cuda_graph=True`` (one captured step replayed; small
models are otherwise bound by kernel-launch overhead). Ratios are steps/s of a fast path over steps/s of the
faithful path at the full P. "paper run" is the time of the paper's step count with the fastest fast path.
"""

from __future__ import annotations

import argparse
import time

import torch

from theory.icl import covariance
from verify.device import resolve_device, set_threads
from verify.models.linear_attention import AttnM, AttnS
from verify.tasks import icl
from verify.train import mse, train

CASES = [
    # name, family, D, H, R, init, lr, P, paper steps
    ("Fig.1 ATTN_M D=4 N=31 H=8", "M", 4, 8, None, 1e-6, 1e-3, 5000, 6001),
    ("Fig.3 ATTN_S D=4 N=31 H=5 R=1", "S", 4, 5, 1, 0.01, 0.02, 80000, 10001),
    ("Fig.4 ATTN_S D=8 N=31 H=9 R=4", "S", 8, 9, 4, 5e-3, 0.02, 80000, 50001),
]
N = 31


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _steps_per_s(model_fn, loss_fn, lr, seconds, device, cuda_graph=False) -> float:
    """Steps/s of ``train`` on a fresh model: a warm-up, a short estimate, then about ``seconds``.

    With ``cuda_graph`` the one-off capture is excluded: the rate is the difference of two run lengths.
    """
    probe = 50 if cuda_graph else 3
    train(model_fn(), loss_fn, probe, lr, cuda_graph=cuda_graph)

    def timed(n):
        _sync(device)
        t0 = time.perf_counter()
        train(model_fn(), loss_fn, n, lr, cuda_graph=cuda_graph)
        _sync(device)
        return time.perf_counter() - t0

    t_probe = timed(probe)
    steps = max(probe + 1, int(seconds * probe / max(t_probe, 1e-6)))
    t_long = timed(steps)
    if cuda_graph:
        return (steps - probe) / max(t_long - t_probe, 1e-9)
    return steps / t_long


def run_case(case, device, seconds, faithful_P):
    name, family, D, H, R, init, lr, P, paper_steps = case
    Lam = covariance("code-default", D, seed=10)
    data = icl.sample_regression(P, N, D, Lam, seed=10, sampler="official", device=device)
    tokens, y = data["tokens"], data["y"]

    def model_fn():
        m = AttnM(D, H, init, False, seed=0) if family == "M" else AttnS(D, H, R, init, "paper", False, seed=0)
        return m.to(device)

    P_used = min(P, faithful_P)
    tok_sub, y_sub = tokens[:P_used], y[:P_used]
    faithful = _steps_per_s(model_fn, lambda m: mse(m(tok_sub), y_sub), lr, seconds, device)
    faithful_full = faithful * P_used / P

    _sync(device)
    t0 = time.perf_counter()
    S, xq = icl.context_gram(tokens), icl.query_token(tokens)
    _sync(device)
    setup_gram = time.perf_counter() - t0
    gram = _steps_per_s(model_fn, lambda m: mse(m.predict_gram(S, xq, N), y), lr, seconds, device)

    t0 = time.perf_counter()
    mom = model_fn().gram_moments(S, xq, y, N)
    _sync(device)
    setup_mom = time.perf_counter() - t0
    moments = _steps_per_s(model_fn, lambda m: m.loss_moments(mom), lr, seconds, device)
    gram_graph = mom_graph = None
    if device.type == "cuda":
        gram_graph = _steps_per_s(model_fn, lambda m: mse(m.predict_gram(S, xq, N), y), lr, seconds, device, True)
        mom_graph = _steps_per_s(model_fn, lambda m: m.loss_moments(mom), lr, seconds, device, True)
    return {
        "name": name, "P": P, "P_used": P_used, "faithful": faithful, "faithful_full": faithful_full,
        "gram": gram, "moments": moments, "setup_gram": setup_gram, "setup_mom": setup_mom,
        "paper_steps": paper_steps, "gram_graph": gram_graph, "mom_graph": mom_graph,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--seconds", type=float, default=2.0, help="target duration of each measurement")
    parser.add_argument("--faithful-P", type=int, default=None,
                        help="sequences used by the faithful path (default: 5000 on CPU, all on CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op CPU threads")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
        if args.threads is not None:
            set_threads(args.threads)
    except ValueError as exc:
        parser.error(str(exc))
    if not args.seconds > 0:
        parser.error("--seconds must be > 0")
    faithful_P = args.faithful_P or (10**9 if device.type == "cuda" else 5000)
    if faithful_P < 1:
        parser.error("--faithful-P must be >= 1")

    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"device: {device} ({label}); torch {torch.__version__}; official-code units, N = {N}")
    graphed = device.type == "cuda"
    header = (f"{'case':<30} {'P':>6} {'faithful P':>13} {'faithful st/s':>13} {'gram st/s':>10} "
              f"{'gram/faith':>10} {'mom st/s':>9} {'mom/faith':>9} ")
    if graphed:
        header += f"{'gram+graph':>10} {'ratio':>7} {'mom+graph':>10} {'ratio':>7} "
    header += f"{'setup s S|mom':>14} {'paper run':>20}"
    print(header)
    print("-" * len(header))
    for case in CASES:
        r = run_case(case, device, args.seconds, faithful_P)
        ff = r["faithful_full"]
        used = f"{r['P_used']}" + (" scaled" if r["P_used"] < r["P"] else "")
        line = (f"{r['name']:<30} {r['P']:>6} {used:>13} {ff:>13.2f} {r['gram']:>10.1f} {r['gram'] / ff:>10.1f} "
                f"{r['moments']:>9.1f} {r['moments'] / ff:>9.1f} ")
        best = max(r["gram"], r["moments"])
        if graphed:
            line += (f"{r['gram_graph']:>10.1f} {r['gram_graph'] / ff:>7.1f} {r['mom_graph']:>10.1f} "
                     f"{r['mom_graph'] / ff:>7.1f} ")
            best = max(best, r["gram_graph"], r["mom_graph"])
        setup = f"{r['setup_gram']:.2f}|{r['setup_mom']:.2f}"
        paper = f"{r['paper_steps']} st: {r['paper_steps'] / best:.1f} s"
        print(line + f"{setup:>14} {paper:>20}", flush=True)
    print("faithful st/s is at the full P; 'scaled' rows measured on the first 'faithful P' sequences and scaled "
          "by P_used/P.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

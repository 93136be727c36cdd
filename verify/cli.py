"""The ``capdyn`` command line (also ``python -m verify``).

Exit status: 0 every requested check passed and every paper claim reached a verdict; 1 a check failed or a claim
was inconclusive; 2 bad usage or input (one line on stderr, no traceback). ``capdyn status``: 0 every run of the
sweep is done, 1 some are not.
"""

from __future__ import annotations

import argparse
import sys

from verify.bench import BENCHES
from verify.executors import EXECUTORS
from verify.profiles import PROFILES, UsageError, parse_assignment

SLURM_FLAGS = ("partition", "time", "cpus_per_task", "gpus_per_task", "array_parallelism")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="capdyn", description="Capacity and learning dynamics of attention and associative "
                                           "memories: theory, simulation and training, side by side.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ls = sub.add_parser("list", help="claims by topic, with their last verdicts")
    ls.add_argument("--profile", default="smoke", choices=PROFILES)
    v = sub.add_parser("verify", help="run claims (default: all, smoke profile)")
    v.add_argument("targets", nargs="*", metavar="ID|TOPIC")
    v.add_argument("--profile", default="smoke", choices=PROFILES)
    v.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    v.add_argument("--seeds", type=int, default=None, help="number of seeds for claims that use seeds")
    v.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="local: worker processes; slurm: runs at a time per array (default 1 / 256)")
    v.add_argument("--executor", default=None, choices=EXECUTORS,
                   help="serial (default with --jobs 1), local process pool (default with --jobs > 1), or slurm "
                        "job arrays through submitit")
    v.add_argument("--max-retries", type=int, default=None, metavar="N",
                   help="local, slurm: resubmit a run whose worker died up to N times (default 2)")
    v.add_argument("--force", action="store_true", help="recompute runs that have records")
    v.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config setting (validated)")
    s = v.add_argument_group("slurm", "options of --executor slurm; they override the config file")
    s.add_argument("--slurm-config", default=None, metavar="FILE",
                   help="TOML file with a [slurm] table (default: $CAPDYN_SLURM_CONFIG)")
    s.add_argument("--partition", default=None)
    s.add_argument("--time", default=None, help="time limit per run: minutes or [D-]H:M:S")
    s.add_argument("--cpus-per-task", type=int, default=None, metavar="N", help="also the run's thread count")
    s.add_argument("--gpus-per-task", type=int, default=None, metavar="N")
    s.add_argument("--array-parallelism", type=int, default=None, metavar="N", help="runs at a time per job array")
    st = sub.add_parser("status", help="which runs of a sweep are done, running, pending, failed or missing")
    st.add_argument("targets", nargs="*", metavar="ID|TOPIC")
    st.add_argument("--profile", default="smoke", choices=PROFILES)
    st.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="device of trained runs; auto: whichever is furthest along")
    st.add_argument("--seeds", type=int, default=None, metavar="N")
    st.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    st.add_argument("--runs", action="store_true", help="one line per run, not only the failed ones")
    sub.add_parser("figures", help="redraw all figures from figures/*.json (no training)")
    sub.add_parser("report", help="rewrite figures/README.md")
    b = sub.add_parser("bench", help="benchmarks: speed ratios against baselines run side by side")
    b.add_argument("topic", choices=sorted(BENCHES))
    b.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    return p


def cmd_list(profile: str) -> int:
    from verify import figures
    from verify.claims import TOPICS, all_claims
    from verify.records import read_json

    stored = read_json(figures.profile_dir(profile) / "claims.json") or {}
    claims = all_claims()
    for topic in TOPICS:
        ids = [c for c in claims.values() if c.topic == topic]
        if not ids:
            continue
        print(f"{topic}:")
        for c in ids:
            last = stored.get(c.id, {}).get("verdict", "not run")
            print(f"  {c.id:<36} {c.kind:<6} [{last}]  {c.title}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return cmd_list(args.profile)
        if args.command == "verify":
            from verify.runner import verify

            sets = [parse_assignment(s) for s in args.sets]
            if args.seeds is not None and args.seeds < 1:
                raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
            slurm = {k: getattr(args, k) for k in SLURM_FLAGS if getattr(args, k) is not None}
            summary = verify(args.targets, profile=args.profile, device=args.device, seeds=args.seeds,
                             jobs=args.jobs, force=args.force, sets=sets, executor=args.executor,
                             max_retries=args.max_retries, slurm_config=args.slurm_config,
                             slurm_overrides=slurm)
            return summary.exit_code
        if args.command == "status":
            from verify.runner import status

            if args.seeds is not None and args.seeds < 1:
                raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
            return status(args.targets, profile=args.profile, device=args.device, seeds=args.seeds,
                          sets=[parse_assignment(s) for s in args.sets], runs=args.runs)
        if args.command == "figures":
            from verify.figures import redraw_all

            pngs = redraw_all()
            print(f"redrew {len(pngs)} figures")
            return 0
        if args.command == "report":
            from verify.report import write_report

            print(f"wrote {write_report()}")
            return 0
        if args.command == "bench":
            from verify.bench import run_bench

            return run_bench(args.topic, args.device)
    except UsageError as err:
        print(f"capdyn: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("capdyn: interrupted; finished runs are kept and a rerun resumes", file=sys.stderr)
        return 130
    return 2


def entry() -> None:
    sys.exit(main())

"""The ``capdyn`` command line (also ``python -m verify``).

Exit status: 0 every requested check passed and every paper claim reached a verdict; 1 a check failed or a claim
was inconclusive; 2 bad usage or input (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys

from verify.profiles import PROFILES, UsageError, parse_assignment


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
    v.add_argument("--jobs", type=int, default=1, help="parallel worker processes")
    v.add_argument("--executor", default=None, choices=("serial", "local"),
                   help="serial (default with --jobs 1) or local process pool (default with --jobs > 1)")
    v.add_argument("--force", action="store_true", help="recompute runs that have records")
    v.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config setting (validated)")
    sub.add_parser("figures", help="redraw all figures from figures/*.json (no training)")
    sub.add_parser("report", help="rewrite figures/README.md")
    b = sub.add_parser("bench", help="benchmarks: speed ratios against baselines run side by side")
    b.add_argument("topic", choices=("icl",))
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
            summary = verify(args.targets, profile=args.profile, device=args.device, seeds=args.seeds,
                             jobs=args.jobs, force=args.force, sets=sets, executor=args.executor)
            return summary.exit_code
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

"""Run a selection of claims: plan their runs, reuse finished records, compute the rest, judge, record, draw."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from verify import figures
from verify.claims import OK_VERDICTS, Claim, Outcome, check_outcome, select
from verify.executors import EXECUTORS, Task, run_local, run_serial
from verify.profiles import UsageError, resolve
from verify.records import atomic_write_json, cache_dir, load_record, read_json, run_key


@dataclass
class ClaimResult:
    claim: Claim
    outcome: Outcome
    config: dict
    wall_s: float
    runs: int
    cached: int


@dataclass
class Summary:
    results: list[ClaimResult] = field(default_factory=list)
    figure_errors: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.outcome.verdict] = out.get(r.outcome.verdict, 0) + 1
        return out

    @property
    def exit_code(self) -> int:
        ok = all(r.outcome.verdict in OK_VERDICTS for r in self.results) and not self.figure_errors
        return 0 if ok else 1


def resolve_device(name: str, needed: bool) -> str:
    if name not in ("auto", "cpu", "cuda"):
        raise UsageError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if not needed:
        return "cpu" if name == "auto" else name
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda requested but CUDA is not available")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _overrides(claims: list[Claim], sets: list[tuple[str, Any]], seeds: int | None) -> dict[str, Any]:
    fields = set().union(*(c.config.model_fields for c in claims)) if claims else set()
    overrides = dict(sets)
    for key in overrides:
        if key not in fields:
            raise UsageError(f"--set key {key!r} is not a setting of the selected claims")
    if seeds is not None:
        if "seeds" not in fields:
            raise UsageError("--seeds given but none of the selected claims uses seeds")
        overrides["seeds"] = seeds
    return overrides


def verify(patterns: list[str], *, profile: str = "smoke", device: str = "auto", seeds: int | None = None,
           jobs: int = 1, force: bool = False, sets: list[tuple[str, Any]] = (), executor: str | None = None,
           figures_root: Path | None = None, progress: bool | None = None,
           echo: Callable[[str], None] = print) -> Summary:
    if jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {jobs}")
    executor = executor or ("local" if jobs > 1 else "serial")
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    claims = select(list(patterns))
    overrides = _overrides(claims, list(sets), seeds)
    dev = resolve_device(device, any(c.uses_device for c in claims))
    root = cache_dir()
    if progress is None:
        progress = sys.stderr.isatty()

    plans: list[tuple[Claim, Any, list[str]]] = []
    tasks: dict[str, Task] = {}
    for claim in claims:
        cfg = resolve(claim.config, claim.profiles, profile, overrides, claim.id)
        keys = []
        for params in claim.plan(cfg):
            run_dev = dev if claim.uses_device else "any"
            key = run_key(claim.run_ref, params, run_dev)
            keys.append(key)
            tasks.setdefault(key, Task(key, claim.run_ref, params, dev, str(root)))
        plans.append((claim, cfg, keys))

    records: dict[str, dict] = {}
    if not force:
        for key in tasks:
            rec = load_record(key, root)
            if rec is not None:
                records[key] = rec
    missing = [t for k, t in tasks.items() if k not in records]
    errors: dict[str, str] = {}
    echo(f"capdyn verify: {len(claims)} claims, {len(tasks)} runs ({len(tasks) - len(missing)} cached), "
         f"profile {profile}, device {dev}, executor {executor}")
    stream = run_serial(missing, progress) if executor == "serial" else run_local(missing, jobs)
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    with tqdm(total=len(missing), desc="runs", unit="run", disable=not progress, leave=False) as bar:
        for task, rec, err in stream:
            if err is not None:
                errors[task.key] = f"{type(err).__name__}: {err}"
            else:
                records[task.key] = rec
            bar.update(1)

    summary = Summary()
    verdict_file = figures.profile_dir(profile, figures_root) / "claims.json"
    stored = read_json(verdict_file) or {}
    computed = {t.key for t in missing}
    for claim, cfg, keys in plans:
        outcome = _judge(claim, cfg, keys, records, errors)
        wall = sum(records[k]["wall_s"] for k in keys if k in records)
        cached = sum(1 for k in keys if k in records and k not in computed)
        result = ClaimResult(claim, outcome, cfg.model_dump(), wall, len(keys), cached)
        summary.results.append(result)
        for name, data in outcome.figures.items():
            try:
                figures.save(name, data, claim=claim.id, profile=profile, device=dev, root=figures_root)
            except Exception as err:  # the figure's JSON is kept; the failure is reported and counted
                summary.figure_errors.append(f"{name}: {type(err).__name__}: {err}")
        stored[claim.id] = _verdict_entry(result, profile, dev)
    atomic_write_json(verdict_file, stored)
    echo(format_table(summary.results))
    for line in summary.figure_errors:
        echo(f"figure error: {line}")
    counts = summary.counts()
    echo("summary: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
         + f" ({time.perf_counter() - t_start:.1f} s)")
    return summary


def _judge(claim: Claim, cfg, keys: list[str], records: dict, errors: dict) -> Outcome:
    failed = [errors[k] for k in keys if k in errors]
    bad = "fail" if claim.kind == "check" else "inconclusive"
    if failed:
        return Outcome(verdict=bad, reason=f"run error: {failed[0]}")
    try:
        return check_outcome(claim, claim.judge(cfg, [records[k]["metrics"] for k in keys]))
    except Exception as err:  # a judging error is reported as the claim's failure, with its message
        return Outcome(verdict=bad, reason=f"judge error: {type(err).__name__}: {err}")


def _verdict_entry(r: ClaimResult, profile: str, device: str) -> dict:
    o = r.outcome
    return {"kind": r.claim.kind, "title": r.claim.title, "source": r.claim.source,
            "tolerance": r.claim.tolerance, "verdict": o.verdict, "theory": o.theory, "sim": o.sim,
            "trained": o.trained, "paper": o.paper, "reason": o.reason, "measured": o.measured,
            "config": r.config, "profile": profile, "device": device, "figures": list(r.outcome.figures),
            "wall_s": r.wall_s}


def _cell(text: str, width: int = 34) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(results: list[ClaimResult]) -> str:
    head = ("claim", "theory", "sim", "trained", "verdict")
    rows = [head] + [(r.claim.id, _cell(r.outcome.theory), _cell(r.outcome.sim), _cell(r.outcome.trained),
                      r.outcome.verdict) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        if r.outcome.reason and r.outcome.verdict not in ("pass", "reproduced"):
            lines.append(f"  {r.claim.id} ({r.outcome.verdict}): {r.outcome.reason}")
    return "\n".join(lines)

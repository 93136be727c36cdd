"""Run a selection of claims: plan their runs, reuse finished records, compute the rest, judge, record, draw.

``status`` plans the same runs and reports, without computing anything, which are done, running, pending,
failed or missing, on whichever backend took them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from verify import figures
from verify.claims import OK_VERDICTS, Claim, Outcome, check_outcome, select, smoke_excluded
from verify.executors import RUN_STATES, Executor, Task, make_executor, run_state
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


def resolve_device(name: str, needed: bool, remote_gpus: int | None = None) -> str:
    """The device of the runs. ``remote_gpus``: GPUs per run on the cluster nodes that compute them (``slurm``);
    then ``auto`` means CUDA exactly when the runs get GPUs, and the local machine's CUDA is irrelevant."""
    if name not in ("auto", "cpu", "cuda"):
        raise UsageError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if not needed:
        return "cpu" if name == "auto" else name
    if remote_gpus is not None:
        if name == "cuda" and remote_gpus < 1:
            raise UsageError("--device cuda with --executor slurm needs --gpus-per-task >= 1")
        return name if name != "auto" else ("cuda" if remote_gpus else "cpu")
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


def _plan(claims: list[Claim], profile: str, overrides: dict, dev: str, root: Path):
    """Each claim's resolved config and run keys, and the distinct runs to compute (shared runs once)."""
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
    return plans, tasks


def verify(patterns: list[str], *, profile: str = "smoke", device: str = "auto", seeds: int | None = None,
           jobs: int | None = 1, force: bool = False, sets: list[tuple[str, Any]] = (), executor: str | None = None,
           max_retries: int | None = None, slurm_config: str | Path | None = None,
           slurm_overrides: dict | None = None, figures_root: Path | None = None, progress: bool | None = None,
           echo: Callable[[str], None] = print) -> Summary:
    """Run the claims named by ``patterns`` on ``executor`` (``serial``, ``local`` or ``slurm``; default serial,
    or local when ``jobs > 1``). ``jobs``: local workers, or Slurm array parallelism. ``max_retries``: how often
    a run whose worker died is retried (local, slurm). ``slurm_config``/``slurm_overrides``: a TOML file and
    flag values for :class:`verify.slurm.SlurmConfig`."""
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {jobs}")
    executor = executor or ("local" if (jobs or 1) > 1 else "serial")
    if progress is None:
        progress = sys.stderr.isatty()
    root = cache_dir()
    backend: Executor = make_executor(executor, jobs=jobs, progress=progress, max_retries=max_retries,
                                      slurm_config=slurm_config, slurm_overrides=slurm_overrides, cache_root=root)
    claims = select(list(patterns), profile)
    overrides = _overrides(claims, list(sets), seeds)
    remote_gpus = backend.config.gpus_per_task if executor == "slurm" else None
    dev = resolve_device(device, any(c.uses_device for c in claims), remote_gpus)
    plans, tasks = _plan(claims, profile, overrides, dev, root)

    records: dict[str, dict] = {}
    if not force:
        for key in tasks:
            rec = load_record(key, root)
            if rec is not None:
                records[key] = rec
    missing = [t for k, t in tasks.items() if k not in records]
    errors: dict[str, str] = {}
    echo(f"capdyn verify: {len(claims)} claims, {len(tasks)} runs ({len(tasks) - len(missing)} cached), "
         f"profile {profile}, device {dev}, executor {backend.describe()}")
    left_out = smoke_excluded(list(patterns)) if profile == "smoke" else []
    if left_out:
        echo(f"left out of smoke (GPU scale; run by id or with --profile paper): {', '.join(c.id for c in left_out)}")
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    with tqdm(total=len(missing), desc="runs", unit="run", disable=not progress, leave=False) as bar:
        for task, rec, err in backend.run(missing, echo):
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
        applied = {k: v for k, v in overrides.items() if k in claim.config.model_fields}
        cached = sum(1 for k in keys if k in records and k not in computed)
        result = ClaimResult(claim, outcome, cfg.model_dump(), wall, len(keys), cached)
        summary.results.append(result)
        for name, data in outcome.figures.items():
            try:
                figures.save(name, data, claim=claim.id, profile=profile, device=dev, root=figures_root,
                             overrides=applied)
            except Exception as err:  # the figure's JSON is kept; the failure is reported and counted
                summary.figure_errors.append(f"{name}: {type(err).__name__}: {err}")
        stored[claim.id] = _verdict_entry(result, profile, dev, applied)
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


def _verdict_entry(r: ClaimResult, profile: str, device: str, overrides: dict) -> dict:
    """The stored verdict of one claim. ``overrides``: the ``--set``/``--seeds`` values it ran with on top of the
    profile (empty: the profile's own scale), so a reduced run is never mistaken for the profile's."""
    o = r.outcome
    return {"kind": r.claim.kind, "title": r.claim.title, "source": r.claim.source,
            "tolerance": r.claim.tolerance, "verdict": o.verdict, "theory": o.theory, "sim": o.sim,
            "trained": o.trained, "paper": o.paper, "reason": o.reason, "measured": o.measured,
            "config": r.config, "profile": profile, "overrides": overrides, "device": device,
            "figures": list(r.outcome.figures),
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


_ORDER = {"done": 0, "running": 1, "pending": 2, "failed": 3, "missing": 4}


def status(patterns: list[str], *, profile: str = "smoke", device: str = "auto", seeds: int | None = None,
           sets: list[tuple[str, Any]] = (), runs: bool = False, echo: Callable[[str], None] = print) -> int:
    """Report the runs of a sweep (the claims ``patterns`` under ``profile``, ``seeds`` and ``sets``, exactly as
    ``verify`` plans them) as done, running, pending, failed or missing, on every backend. Slurm runs are looked
    up in the queue when ``squeue`` is available. Runs of claims that train on a device are matched under
    ``device``; ``auto`` takes whichever of cpu and cuda is furthest along. Returns 0 when every run is done,
    else 1."""
    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; choose auto, cpu or cuda")
    claims = select(list(patterns), profile)
    overrides = _overrides(claims, list(sets), seeds)
    root = cache_dir()
    devices = ("cpu", "cuda") if device == "auto" else (device,)
    rows: list[tuple[Claim, list[tuple[dict, list[str]]]]] = []
    for claim in claims:
        cfg = resolve(claim.config, claim.profiles, profile, overrides, claim.id)
        runs_of = [(params, [run_key(claim.run_ref, params, d) for d in (devices if claim.uses_device else ("any",))])
                   for params in claim.plan(cfg)]
        rows.append((claim, runs_of))
    from verify.executors import read_state

    job_ids = set()
    for _, runs_of in rows:
        for _, keys in runs_of:
            for key in keys:
                st = read_state(key, root)
                if st and st.get("backend") == "slurm" and st.get("status") in ("pending", "running"):
                    job_ids.add(str(st.get("job_id")))
    queue = None
    if job_ids:
        from verify.slurm import queue_states

        queue = queue_states(job_ids)
    seen: dict[str, tuple[str, dict]] = {}

    def furthest(keys: list[str]) -> str:
        for key in keys:
            if key not in seen:
                seen[key] = run_state(key, root, queue)
        return min(keys, key=lambda k: _ORDER[seen[k][0]])

    table, details, unique = [], [], {}
    for claim, runs_of in rows:
        counts = dict.fromkeys(RUN_STATES, 0)
        for params, keys in runs_of:
            key = furthest(keys)
            state, info = seen[key]
            counts[state] += 1
            unique[key] = state
            if runs or state == "failed":
                details.append((claim.id, key, state, info, params))
        table.append((claim.id, str(len(runs_of)), *(str(counts[s]) for s in RUN_STATES)))
    totals = {s: sum(1 for v in unique.values() if v == s) for s in RUN_STATES}
    table.append(("all (distinct runs)", str(len(unique)), *(str(totals[s]) for s in RUN_STATES)))
    head = ("claim", "runs", *RUN_STATES)
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    echo(f"capdyn status: {len(claims)} claims, {len(unique)} runs, profile {profile} (cache {root})")
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [head, *table]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    echo("\n".join(lines))
    for cid, key, state, info, params in details:
        echo(f"  {cid} [{key}] {state}: {_describe_state(state, info)}  {_cell(_params_text(params), 60)}")
        if state == "failed" and info.get("log_tail"):
            echo("    " + "\n    ".join(info["log_tail"].splitlines()))
    return 0 if totals["done"] == len(unique) else 1


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _describe_state(state: str, info: dict) -> str:
    backend = info.get("backend", "")
    if backend == "slurm":
        where = f"slurm job {info.get('job_id')}" + (f" ({info['queue_state']})" if info.get("queue_state") else "")
    elif backend:
        where = f"{backend} pid {info.get('pid')} on {info.get('host')}"
    else:
        where = "never started"
    text = f"{where}, attempt {int(info.get('attempt', 0)) + 1}" if backend else where
    if state == "failed":
        text += f": {info.get('reason', '')}"
        if info.get("log"):
            text += f"; log: {info['log']}"
    return text

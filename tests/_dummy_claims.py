"""A tiny claim used by the foundation tests: its runs count their own executions in files."""

from __future__ import annotations

import os
import time
from pathlib import Path

from verify.claims import Claim, Outcome, RunContext, check_verdict
from verify.profiles import ClaimConfig


class DummyConfig(ClaimConfig):
    seeds: int = 3
    scale: float = 1.0
    fail_seed: int = -1
    sleep: float = 0.0


def plan(cfg: DummyConfig) -> list[dict]:
    runs = [{"seed": s, "scale": cfg.scale, "fail_seed": cfg.fail_seed} for s in range(cfg.seeds)]
    if cfg.sleep:
        runs = [{**r, "sleep": cfg.sleep} for r in runs]
    return runs


def run(p: dict, ctx: RunContext) -> dict:
    log = Path(os.environ["CAPDYN_CACHE"]) / "executions.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write(f"{p['seed']}\n")
    time.sleep(p.get("sleep", 0.0))
    if p["seed"] == p["fail_seed"]:
        raise RuntimeError("deliberate failure")
    return {"value": p["scale"] * (p["seed"] + 1)}


def judge(cfg: DummyConfig, results: list[dict]) -> Outcome:
    total = sum(r["value"] for r in results)
    expected = cfg.scale * cfg.seeds * (cfg.seeds + 1) / 2
    return Outcome(verdict=check_verdict(abs(total - expected) < 1e-12), theory=f"{expected:g}",
                   sim=f"{total:g}", measured={"total": total},
                   figures={"dummy_sum": {"x": list(range(cfg.seeds)), "y": [r["value"] for r in results]}})


def make_claim(cid: str = "icl.dummy_sum") -> Claim:
    return Claim(id=cid, kind="check", title="dummy sum", source="tests", tolerance="exact",
                 config=DummyConfig, plan=plan, run=run, judge=judge, profiles={"paper": {"seeds": 5}},
                 figures=("dummy_sum",))

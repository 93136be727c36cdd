"""The claims registry.

A claim is one checkable statement with an id ``topic.name``. It plans independent runs from its config
(``plan``), computes each run (``run``, a module-level function so a process pool or another machine can call
it), and turns the finished runs into an :class:`Outcome` (``judge``) under a tolerance rule fixed in code.

Two kinds (DESIGN §5): a ``check`` of capdyn's own correctness ends ``pass`` or ``fail``; a ``paper`` claim
ends ``reproduced``, ``not reproduced`` or ``inconclusive``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from verify.profiles import ClaimConfig, UsageError

Kind = Literal["check", "paper"]
VERDICTS = {"check": ("pass", "fail"), "paper": ("reproduced", "not reproduced", "inconclusive")}
TOPICS = ("icl", "memory", "recall", "selective")
OK_VERDICTS = ("pass", "reproduced", "not reproduced")


@dataclass
class Outcome:
    """What a claim concluded. Values are short human-readable strings; ``measured`` holds the numbers."""

    verdict: str
    theory: str = ""
    sim: str = ""
    trained: str = ""
    paper: str = ""
    reason: str = ""
    measured: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Figure name -> the data it draws (each becomes figures/<name>.json and .png)."""


@dataclass(frozen=True)
class Claim:
    id: str
    kind: Kind
    title: str
    source: str
    tolerance: str
    config: type[ClaimConfig]
    plan: Callable[[Any], list[dict]]
    run: Callable[[dict, "RunContext"], dict]
    judge: Callable[[Any, list[dict]], Outcome]
    profiles: dict[str, dict] = field(default_factory=dict)
    figures: tuple[str, ...] = ()
    uses_device: bool = False
    """True when the runs train torch models: the device then enters the record key."""
    gpu_scale: bool = False
    """True when no CPU-sized run can decide the claim (its smallest honest scale is the paper's, on a GPU). The
    smoke profile then leaves it out of topic and all-claims selections; naming its id runs it in any profile."""

    @property
    def topic(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def run_ref(self) -> str:
        return f"{self.run.__module__}:{self.run.__qualname__}"


@dataclass(frozen=True)
class RunContext:
    device: str = "cpu"
    progress: bool = False


_REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    topic, _, name = claim.id.partition(".")
    if topic not in TOPICS or not name:
        raise ValueError(f"claim id must be '<topic>.<name>' with topic in {TOPICS}, got {claim.id!r}")
    if claim.id in _REGISTRY:
        raise ValueError(f"claim {claim.id!r} registered twice")
    if claim.kind not in VERDICTS:
        raise ValueError(f"claim kind must be 'check' or 'paper', got {claim.kind!r}")
    _REGISTRY[claim.id] = claim
    return claim


def all_claims() -> dict[str, Claim]:
    importlib.import_module("verify.experiments")
    return dict(_REGISTRY)


def select(patterns: list[str], profile: str | None = None) -> list[Claim]:
    """Claims named by id or topic, in registry order; no pattern means all. Unknown names are a usage error.

    Under the ``smoke`` profile a topic or the empty pattern leaves out ``gpu_scale`` claims (see
    :func:`smoke_excluded`); a claim named by its id is always selected."""
    claims = all_claims()
    if not patterns:
        return [c for c in claims.values() if not (profile == "smoke" and c.gpu_scale)]
    chosen: dict[str, Claim] = {}
    for p in patterns:
        if p in claims:
            chosen[p] = claims[p]
        elif p in TOPICS:
            hits = {k: c for k, c in claims.items() if c.topic == p and not (profile == "smoke" and c.gpu_scale)}
            if not hits:
                raise UsageError(f"topic {p!r} has no claims yet")
            chosen.update(hits)
        else:
            raise UsageError(f"unknown claim or topic {p!r}; run 'capdyn list' to see the claims")
    return [c for c in claims.values() if c.id in chosen]


def smoke_excluded(patterns: list[str]) -> list[Claim]:
    """The ``gpu_scale`` claims that ``patterns`` name through a topic or the empty pattern, left out of smoke."""
    claims = all_claims()
    topics = set(TOPICS) if not patterns else set(patterns) & set(TOPICS)
    return [c for c in claims.values() if c.gpu_scale and c.topic in topics and c.id not in patterns]


def resolve_run(ref: str) -> Callable[[dict, RunContext], dict]:
    module, _, name = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def check_outcome(claim: Claim, outcome: Outcome) -> Outcome:
    if outcome.verdict not in VERDICTS[claim.kind]:
        raise ValueError(f"{claim.id}: verdict {outcome.verdict!r} is not one of {VERDICTS[claim.kind]}")
    unknown = set(outcome.figures) - set(claim.figures)
    if unknown:
        raise ValueError(f"{claim.id}: figures {sorted(unknown)} are not declared by the claim")
    return outcome


def check_verdict(ok: bool) -> str:
    return "pass" if ok else "fail"


def paper_verdict(ok: bool, conclusive: bool = True) -> str:
    if not conclusive:
        return "inconclusive"
    return "reproduced" if ok else "not reproduced"

"""Shared end-to-end machinery for the per-topic claim tests: run a topic's smoke profile through the CLI in a
private cache and figures folder, then check the verdicts and figures it stored."""

import json

import pytest

from verify.cli import main


def run_smoke(tmp_path_factory, topic: str, *extra: str):
    """Generator for a module fixture: yields (exit code, root) of ``capdyn verify TOPIC *extra``."""
    root = tmp_path_factory.mktemp(topic)
    mp = pytest.MonkeyPatch()
    mp.setenv("CAPDYN_CACHE", str(root / "cache"))
    mp.setenv("CAPDYN_FIGURES", str(root / "figures"))
    code = main(["verify", topic, *extra])
    yield code, root
    mp.undo()


def stored_verdicts(root) -> dict:
    return json.loads((root / "figures" / "smoke" / "claims.json").read_text())


def assert_verdicts(stored: dict, claims) -> None:
    """Every check passed; every paper claim reached a verdict, with its reason when not reproduced."""
    for c in claims:
        entry = stored[c.id]
        if c.kind == "check":
            assert entry["verdict"] == "pass", (c.id, entry["reason"])
        else:
            assert entry["verdict"] in ("reproduced", "not reproduced"), (c.id, entry["reason"])
            if entry["verdict"] == "not reproduced":
                assert entry["reason"], c.id


def assert_figures(root, claims, min_bytes: int = 10_000) -> None:
    """Every figure a claim declares exists as a PNG beside the JSON it was drawn from."""
    for c in claims:
        for name in c.figures:
            png, js = root / "figures" / "smoke" / f"{name}.png", root / "figures" / "smoke" / f"{name}.json"
            payload = json.loads(js.read_text())
            assert png.stat().st_size > min_bytes and payload["figure"] == name and payload["claim"] == c.id, name

"""End to end: the smoke profile of the memory claims of associative_memory.md §8 (F5, S1–S5) and §9 (Z1–Z7)
reaches a verdict through the CLI, with its figures, in a private cache."""

import re

import pytest

from tests.topic_smoke import (
    assert_figures,
    assert_verdicts,
    run_smoke,
    stored_verdicts,
)
from verify.claims import all_claims
from verify.cli import main

ROWS = {"F5": "memory.additivity", "S1": "memory.hallucination_plateau", "S2": "memory.stage_times",
        "S3": "memory.stage_time_law", "S4": "memory.order_reversal", "S5": "memory.marginal_stage",
        "Z1": "memory.unseen_mass", "Z2": "memory.threshold_scheme", "Z3": "memory.frequency_scheme",
        "Z4": "memory.fill_scheme", "Z5": "memory.optimizer_grid", "Z6": "memory.one_step_gradient",
        "Z7": "memory.margin_recursion"}
CLAIMS = [all_claims()[i] for i in ROWS.values()]
IDS = [c.id for c in CLAIMS]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    yield from run_smoke(tmp_path_factory, IDS[0], *IDS[1:])


def test_one_claim_per_spec_row():
    for row, cid in ROWS.items():
        c = all_claims()[cid]
        assert re.search(r"claims row (\w+)$", c.source).group(1) == row
        assert c.source.startswith("associative_memory.md §") and c.tolerance
    kinds = {c.id: c.kind for c in CLAIMS}
    assert {k for k, v in kinds.items() if v == "check"} == {"memory.unseen_mass", "memory.one_step_gradient"}


def test_smoke_profile_exits_0_with_every_verdict_reached(smoke):
    code, root = smoke
    assert code == 0
    stored = stored_verdicts(root)
    assert set(IDS) <= set(stored)
    assert_verdicts(stored, CLAIMS)
    for c in CLAIMS:
        assert stored[c.id]["paper"] and (stored[c.id]["sim"] or stored[c.id]["trained"]), c.id


def test_every_declared_figure_is_drawn_from_its_json(smoke):
    _, root = smoke
    names = {n for c in CLAIMS for n in c.figures}
    assert names == {"memory_sequential_curves", "memory_sequential_stage_times", "memory_sequential_reversal",
                     "memory_sequential_marginal", "memory_sequential_additivity", "memory_cabannes_error_T",
                     "memory_cabannes_error_d", "memory_cabannes_grid", "memory_cabannes_margin"}
    assert_figures(root, CLAIMS)


def test_measured_values_are_the_spec_numbers(smoke):
    """The stored measurements carry the numbers the verdicts rest on."""
    _, root = smoke
    m = {cid: stored_verdicts(root)[cid]["measured"] for cid in IDS}
    for run in m["memory.stage_times"]["runs"]:  # §8.3: 1728 and 4608 (±15%), sim and torch alike
        assert abs(run["t_rel"] / 1728 - 1) <= 0.15 and abs(run["t_subj"] / 4608 - 1) <= 0.15
    assert 1.4 <= m["memory.stage_time_law"]["pooled_c"]["c"] <= 2.2
    for run in m["memory.hallucination_plateau"]["runs"]:
        assert abs(run["plateau"] - 2.0794) <= 0.03 and run["final"] < 0.02
    for run in m["memory.order_reversal"]["runs"]:
        assert run["t_subj"] is not None and run["t_rel"] is None and abs(run["final"] - 3.4657) <= 0.05
    assert m["memory.additivity"]["disjoint"] == [1.0, 1.0] and max(m["memory.additivity"]["shared"]) < 0.85
    assert [round(x, 4) for x in m["memory.unseen_mass"]["exact"]] == [0.0157, 0.0018]
    assert min(min(m["memory.one_step_gradient"][k]) for k in ("pop", "batch", "grad_random_W")) >= 0.999
    full = next(p for p in m["memory.fill_scheme"]["points"] if p["d"] == 1000)
    assert full["E"] <= 0.2
    assert -1.15 <= m["memory.threshold_scheme"]["slope"] <= -0.85
    assert -0.35 <= m["memory.frequency_scheme"]["slope"] <= -0.15


def test_rerun_uses_records_and_a_bad_setting_is_a_usage_error(smoke, monkeypatch, capsys):
    _, root = smoke
    monkeypatch.setenv("CAPDYN_CACHE", str(root / "cache"))
    monkeypatch.setenv("CAPDYN_FIGURES", str(root / "figures"))
    capsys.readouterr()
    assert main(["verify", "memory.stage_times", "memory.one_step_gradient"]) == 0
    head = re.search(r"(\d+) runs \((\d+) cached\)", capsys.readouterr().out)
    assert head and int(head.group(1)) == int(head.group(2)) == 3
    assert main(["verify", "memory.fill_scheme", "--set", "trials=1"]) == 2
    assert main(["verify", "memory.order_reversal", "--set", "stepz=3"]) == 2

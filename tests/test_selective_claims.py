"""End to end: every selective claim's smoke profile reaches its verdict through the CLI, with its figures."""

import re

import pytest

from verify.claims import all_claims
from verify.cli import main

from tests.topic_smoke import assert_figures, assert_verdicts, run_smoke, stored_verdicts

SELECTIVE = [c for c in all_claims().values() if c.topic == "selective"]
# §8 rows that theory and simulation decide; C6 needs the torch SSA layer, C13–C17 trained models
ROWS = {"C1", "C2", "C3", "C4", "C5", "C7", "C8", "C9", "C10", "C11", "C12"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    yield from run_smoke(tmp_path_factory, "selective")


def test_one_claim_per_spec_row():
    rows = [re.search(r"claims row (C\d+)$", c.source).group(1) for c in SELECTIVE]
    assert sorted(rows) == sorted(ROWS)
    for c in SELECTIVE:
        assert c.source.startswith("selective_attention.md §") and c.tolerance


def test_smoke_profile_exits_0(smoke):
    code, _ = smoke
    assert code == 0


def test_checks_pass_and_paper_claims_reach_a_verdict(smoke):
    _, root = smoke
    stored = stored_verdicts(root)
    assert set(stored) == {c.id for c in SELECTIVE}
    assert_verdicts(stored, SELECTIVE)
    for c in SELECTIVE:
        assert stored[c.id]["theory"] and stored[c.id]["sim"] and stored[c.id]["paper"], c.id


def test_every_declared_figure_is_drawn_from_its_json(smoke):
    _, root = smoke
    names = {n for c in SELECTIVE for n in c.figures}
    assert names == {"selective_needle_mass", "selective_required_gap", "selective_value_risk",
                     "selective_hopfield", "selective_write_gating"}
    assert_figures(root, SELECTIVE)


def test_measured_values_are_the_spec_references(smoke):
    """The stored measurements carry the numbers the verdicts rest on (C4 at n = 4096, C11 gain near 4)."""
    _, root = smoke
    stored = stored_verdicts(root)
    s1 = {(p["estimator"], p["n"]): p for p in stored["selective.dilution_mc"]["measured"]["points"]}
    assert abs(s1[("ssa", 4096)]["mc"] - 0.882) <= s1[("ssa", 4096)]["tol"]
    assert s1[("vanilla", 4096)]["mc"] < 0.01 and s1[("ssa", 4096)]["mc"] > 0.85
    gains = stored["selective.write_gating"]["measured"]["gains"]
    assert all(3.6 <= g["gain"] <= 4.6 for g in gains)


def test_rerun_uses_records_and_a_bad_setting_is_a_usage_error(smoke, monkeypatch, capsys):
    _, root = smoke
    monkeypatch.setenv("CAPDYN_CACHE", str(root / "cache"))
    monkeypatch.setenv("CAPDYN_FIGURES", str(root / "figures"))
    capsys.readouterr()
    assert main(["verify", "selective.needle_mass", "selective.hopfield"]) == 0
    head = re.search(r"(\d+) runs \((\d+) cached\)", capsys.readouterr().out)
    assert head and int(head.group(1)) == int(head.group(2)) == 2
    assert main(["verify", "selective.dilution_mc", "--set", "sampler=bogus"]) == 2

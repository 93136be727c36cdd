"""The selective topic's registry (one claim per §8 row C1–C17, the figures of the whole topic) and, end to end,
the smoke profile of the rows that theory and simulation decide (C1–C5, C7–C12) through the CLI, with their
figures. The trained rows (C6, C13–C17) run once, in ``test_selective_trained_claims.py``."""

import re

import pytest

from verify.claims import all_claims
from verify.cli import main

from tests.topic_smoke import assert_figures, assert_verdicts, run_smoke, stored_verdicts

SELECTIVE = [c for c in all_claims().values() if c.topic == "selective"]
TRAINED_ROWS = {"C6", "C13", "C14", "C15", "C16", "C17"}


def _row(claim) -> str:
    return re.search(r"claims row (C\d+)$", claim.source).group(1)


UNTRAINED = [c for c in SELECTIVE if _row(c) not in TRAINED_ROWS]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    ids = [c.id for c in UNTRAINED]
    yield from run_smoke(tmp_path_factory, ids[0], *ids[1:])


def test_one_claim_per_spec_row():
    assert sorted(_row(c) for c in SELECTIVE) == sorted(f"C{i}" for i in range(1, 18))
    for c in SELECTIVE:
        assert c.source.startswith("selective_attention.md §") and c.tolerance
    assert {c.id for c in SELECTIVE if _row(c) in TRAINED_ROWS} == {c.id for c in SELECTIVE if c.uses_device}
    # only C17 needs the paper's GPU scale: at CPU size the T5 model learns recall only on degenerate corpora
    assert [c.id for c in SELECTIVE if c.gpu_scale] == ["selective.layer_s_profile"]


def test_figures_of_the_topic():
    names = [n for c in SELECTIVE for n in c.figures]
    assert len(names) == len(set(names))
    assert set(names) == {"selective_needle_mass", "selective_required_gap", "selective_value_risk",
                          "selective_hopfield", "selective_write_gating", "selective_t1_curves",
                          "selective_t2_curves", "selective_t3_markov", "selective_t4_length", "selective_dilution"}


def test_smoke_profile_exits_0(smoke):
    code, _ = smoke
    assert code == 0


def test_checks_pass_and_paper_claims_reach_a_verdict(smoke):
    _, root = smoke
    stored = stored_verdicts(root)
    assert set(stored) == {c.id for c in UNTRAINED}
    assert_verdicts(stored, UNTRAINED)
    for c in UNTRAINED:
        assert stored[c.id]["theory"] and stored[c.id]["sim"] and stored[c.id]["paper"], c.id


def test_every_declared_figure_is_drawn_from_its_json(smoke):
    _, root = smoke
    names = {n for c in UNTRAINED for n in c.figures}
    assert names == {"selective_needle_mass", "selective_required_gap", "selective_value_risk",
                     "selective_hopfield", "selective_write_gating"}
    assert_figures(root, UNTRAINED)


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

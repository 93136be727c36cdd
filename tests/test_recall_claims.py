"""End to end: every recall claim's smoke profile reaches its verdict through the CLI, with its figures."""

import json
import re

import numpy as np
import pytest

from verify.claims import all_claims
from verify.cli import main

from tests.topic_smoke import assert_figures, assert_verdicts, run_smoke, stored_verdicts

# rows 1–28 (theory and simulation); rows 29–35 (MQAR, trained models) are run end to end in test_verify_mqar.py
RECALL = [c for c in all_claims().values() if c.topic == "recall" and int(c.source.rsplit("row", 1)[1]) <= 28]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    yield from run_smoke(tmp_path_factory, *(c.id for c in RECALL))


def test_every_spec_row_without_training_is_one_claim():
    rows = [int(c.source.rsplit("row", 1)[1]) for c in RECALL]
    assert sorted(rows) == list(range(1, 29))  # rows 29–35 need MQAR data or trained models (X5–X8)
    assert all(c.id.startswith("recall.") and c.kind in ("check", "paper") for c in RECALL)
    assert all(c.tolerance and "§" in c.source for c in RECALL)


def test_smoke_profile_exits_0(smoke):
    code, _ = smoke
    assert code == 0


def test_checks_pass_and_paper_claims_reach_a_verdict(smoke):
    _, root = smoke
    stored = stored_verdicts(root)
    assert {c.id for c in RECALL} <= set(stored)
    assert_verdicts(stored, RECALL)


def test_every_declared_figure_is_drawn_from_its_json(smoke):
    _, root = smoke
    names = [n for c in RECALL for n in c.figures]
    assert set(names) == {"recall_capacity", "recall_cg_convergence", "recall_cg_steps", "recall_delta_passes",
                          "recall_forgetting"}
    assert_figures(root, RECALL)


def test_capacity_figure_overlays_the_closed_forms(smoke):
    """The X3 figure's theory curves are the §6 closed forms, and the measured LA error sits on its curve."""
    _, root = smoke
    data = json.loads((root / "figures" / "smoke" / "recall_capacity.json").read_text())["data"]
    assert [p["d_k"] for p in data["panels"]] == [32, 64]
    for p in data["panels"]:
        N, d = np.array(p["theory_N"]), p["d_k"]
        np.testing.assert_allclose(p["theory"]["la"], (N - 1) / d, rtol=1e-12)
        np.testing.assert_allclose(p["theory"]["ls"], np.maximum(0, 1 - d / N), rtol=1e-12, atol=1e-15)
        la = p["methods"]["la"]["E"]
        z = (np.array(la["mean"]) - (np.array(p["N"]) - 1) / d) / np.array(la["se"])
        assert np.all(np.abs(z) <= 4)


def test_damped_cg_stays_above_the_undamped_error(smoke):
    """Every X2 panel: at 30 steps damped CG is at least 100× worse than undamped CG (the §4.2 floor)."""
    _, root = smoke
    data = json.loads((root / "figures" / "smoke" / "recall_cg_convergence.json").read_text())["data"]
    iso = [p for p in data["panels"] if p["keys"] == "isotropic"]
    assert len(iso) == 4
    for p in iso:
        i = p["steps"].index(30)
        assert p["variants"]["damped/zero"]["median"][i] > 100 * p["variants"]["undamped/zero"]["median"][i]


def test_rerun_uses_records_and_figures_redraw(smoke, monkeypatch, capsys):
    _, root = smoke
    monkeypatch.setenv("CAPDYN_CACHE", str(root / "cache"))
    monkeypatch.setenv("CAPDYN_FIGURES", str(root / "figures"))
    capsys.readouterr()
    assert main(["verify", "recall.delta_cyclic_passes", "recall.sympy_certificates"]) == 0
    head = re.search(r"(\d+) runs \((\d+) cached\)", capsys.readouterr().out)
    assert head and int(head.group(1)) == int(head.group(2)) == 2
    (root / "figures" / "smoke" / "recall_delta_passes.png").unlink()
    assert main(["figures"]) == 0
    assert (root / "figures" / "smoke" / "recall_delta_passes.png").exists()

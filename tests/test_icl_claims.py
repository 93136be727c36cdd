"""End to end: every icl claim's smoke profile reaches its verdict through the CLI, with its figures."""

import re

import pytest

from verify.claims import all_claims
from verify.cli import main

from tests.topic_smoke import assert_figures, assert_verdicts, run_smoke, stored_verdicts

ICL = [c for c in all_claims().values() if c.topic == "icl"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    yield from run_smoke(tmp_path_factory, "icl", "--jobs", "2")  # two worker processes, as on a 2-core CI machine


def test_every_spec_row_is_a_claim():
    rows = set()
    for c in ICL:
        rows.update(int(x) for x in c.source.split("row")[-1].replace("s", "").split(",") if x.strip().isdigit())
    assert rows == set(range(1, 25))


def test_smoke_profile_exits_0(smoke):
    code, _ = smoke
    assert code == 0


def test_checks_pass_and_paper_claims_reach_a_verdict(smoke):
    _, root = smoke
    stored = stored_verdicts(root)
    assert set(stored) == {c.id for c in ICL}
    assert_verdicts(stored, ICL)


def test_every_declared_figure_is_drawn_from_its_json(smoke):
    _, root = smoke
    assert_figures(root, ICL)


def test_rerun_uses_records_and_figures_redraw(smoke, monkeypatch, capsys):
    _, root = smoke
    monkeypatch.setenv("CAPDYN_CACHE", str(root / "cache"))
    monkeypatch.setenv("CAPDYN_FIGURES", str(root / "figures"))
    capsys.readouterr()
    assert main(["verify", "icl.attn_s_plateaus_d4", "icl.fixed_points"]) == 0
    head = re.search(r"(\d+) runs \((\d+) cached\)", capsys.readouterr().out)
    assert head and int(head.group(1)) == int(head.group(2)) == 8
    (root / "figures" / "smoke" / "icl_fig3a.png").unlink()
    assert main(["figures"]) == 0
    assert (root / "figures" / "smoke" / "icl_fig3a.png").exists()

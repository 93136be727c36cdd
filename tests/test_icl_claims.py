"""End to end: every icl claim's smoke profile reaches its verdict through the CLI, with its figures."""

import json
import re

import pytest

from verify.claims import all_claims
from verify.cli import main

ICL = [c for c in all_claims().values() if c.topic == "icl"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("icl")
    mp = pytest.MonkeyPatch()
    mp.setenv("CAPDYN_CACHE", str(root / "cache"))
    mp.setenv("CAPDYN_FIGURES", str(root / "figures"))
    code = main(["verify", "icl", "--jobs", "2"])  # two worker processes, as on a 2-core CI machine
    yield code, root
    mp.undo()


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
    stored = json.loads((root / "figures" / "smoke" / "claims.json").read_text())
    assert set(stored) == {c.id for c in ICL}
    for c in ICL:
        verdict = stored[c.id]["verdict"]
        if c.kind == "check":
            assert verdict == "pass", (c.id, stored[c.id]["reason"])
        else:
            assert verdict in ("reproduced", "not reproduced"), (c.id, stored[c.id]["reason"])
            if verdict == "not reproduced":
                assert stored[c.id]["reason"], c.id


def test_every_declared_figure_is_drawn_from_its_json(smoke):
    _, root = smoke
    for c in ICL:
        for name in c.figures:
            png, js = root / "figures" / "smoke" / f"{name}.png", root / "figures" / "smoke" / f"{name}.json"
            assert png.stat().st_size > 10_000 and json.loads(js.read_text())["figure"] == name


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

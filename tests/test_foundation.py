"""Claims registry, profiles, records, resume and the CLI's exit codes and error lines."""

import json
import subprocess
import sys

import pytest

from tests import _dummy_claims
from verify import claims as registry
from verify import figures
from verify.cli import main
from verify.profiles import UsageError, parse_assignment
from verify.records import atomic_write_json, load_record, read_json, record_path, run_key


@pytest.fixture
def dummy(isolated, monkeypatch):
    claim = _dummy_claims.make_claim()
    monkeypatch.setitem(registry._REGISTRY, claim.id, claim)

    @figures.drawer("dummy_sum")
    def _draw(data):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot(data["x"], data["y"])
        return fig

    return claim


def executions(tmp):
    log = tmp / "cache" / "executions.log"
    return log.read_text().split() if log.exists() else []


def test_parse_assignment_reads_json_then_text():
    assert parse_assignment("a=3") == ("a", 3)
    assert parse_assignment("a=1e-3") == ("a", 1e-3)
    assert parse_assignment("a=[1, 2]") == ("a", [1, 2])
    assert parse_assignment("a=paper-white") == ("a", "paper-white")
    with pytest.raises(UsageError):
        parse_assignment("novalue")


def test_verify_runs_judges_and_resumes(dummy, isolated):
    assert main(["verify", "icl.dummy_sum"]) == 0
    assert sorted(executions(isolated)) == ["0", "1", "2"]
    stored = read_json(isolated / "figures" / "smoke" / "claims.json")
    assert stored["icl.dummy_sum"]["verdict"] == "pass"
    assert (isolated / "figures" / "smoke" / "dummy_sum.png").stat().st_size > 0
    data = read_json(isolated / "figures" / "smoke" / "dummy_sum.json")
    assert data["data"]["y"] == [1.0, 2.0, 3.0]
    # Rerun: every record exists, nothing recomputes.
    assert main(["verify", "icl.dummy_sum"]) == 0
    assert len(executions(isolated)) == 3
    # --force recomputes; --set changes the key, so new runs.
    assert main(["verify", "icl.dummy_sum", "--force"]) == 0
    assert len(executions(isolated)) == 6
    assert main(["verify", "icl.dummy_sum", "--set", "scale=2.0"]) == 0
    assert len(executions(isolated)) == 9


def test_interrupted_sweep_resumes_without_corrupt_records(dummy, isolated):
    # Seed 1 fails mid-sweep: the others are recorded, the claim is a failed check (exit 1).
    assert main(["verify", "icl.dummy_sum", "--set", "fail_seed=1"]) == 1
    key0 = run_key(dummy.run_ref, {"seed": 0, "scale": 1.0, "fail_seed": 1}, "any")
    assert load_record(key0) is not None
    # A half-written record (as left by a crash outside the atomic writer) counts as missing.
    key2 = run_key(dummy.run_ref, {"seed": 2, "scale": 1.0, "fail_seed": 1}, "any")
    record_path(key2).write_text('{"key": "trunc')
    before = len(executions(isolated))
    assert main(["verify", "icl.dummy_sum", "--set", "fail_seed=1"]) == 1
    reran = executions(isolated)[before:]
    assert sorted(reran) == ["1", "2"]  # only the failed and the corrupt run
    assert load_record(key2)["metrics"]["value"] == 3.0


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_local_pool_gives_the_serial_numbers(dummy, isolated, monkeypatch):
    # The spawned workers import the dummy claim's run function by reference; they need tests/ importable.
    monkeypatch.setenv("PYTHONPATH", str(isolated.parent) + ":" + ":".join(sys.path))
    assert main(["verify", "icl.dummy_sum", "--jobs", "2"]) == 0
    pooled = read_json(isolated / "figures" / "smoke" / "claims.json")["icl.dummy_sum"]["measured"]
    assert main(["verify", "icl.dummy_sum", "--force"]) == 0
    serial = read_json(isolated / "figures" / "smoke" / "claims.json")["icl.dummy_sum"]["measured"]
    assert pooled == serial == {"total": 6.0}


def test_profile_overrides_apply(dummy, isolated):
    assert main(["verify", "icl.dummy_sum", "--profile", "paper"]) == 0
    assert read_json(isolated / "figures" / "claims.json")["icl.dummy_sum"]["config"]["seeds"] == 5
    assert main(["verify", "icl.dummy_sum", "--seeds", "2"]) == 0
    assert read_json(isolated / "figures" / "smoke" / "claims.json")["icl.dummy_sum"]["config"]["seeds"] == 2


def test_changed_settings_are_recorded_and_reported(dummy, isolated):
    """A run at a changed scale says so in its verdict, its figure JSON and the report; a plain run does not."""
    assert main(["verify", "icl.dummy_sum", "--profile", "paper", "--set", "scale=2.5", "--seeds", "4"]) == 0
    entry = read_json(isolated / "figures" / "claims.json")["icl.dummy_sum"]
    assert entry["overrides"] == {"scale": 2.5, "seeds": 4}
    assert read_json(isolated / "figures" / "dummy_sum.json")["overrides"] == {"scale": 2.5, "seeds": 4}
    assert main(["report"]) == 0
    assert "cpu; scale=2.5, seeds=4" in (isolated / "figures" / "README.md").read_text()
    assert main(["verify", "icl.dummy_sum", "--profile", "paper"]) == 0
    assert read_json(isolated / "figures" / "claims.json")["icl.dummy_sum"]["overrides"] == {}


@pytest.mark.parametrize("argv, message", [
    (["verify", "icl.no_such_claim"], "unknown claim or topic"),
    (["verify", "icl.dummy_sum", "--profile", "huge"], "invalid choice"),
    (["verify", "icl.dummy_sum", "--set", "nope=1"], "is not a setting"),
    (["verify", "icl.dummy_sum", "--set", "seeds=many"], "invalid value for 'seeds'"),
    (["verify", "icl.dummy_sum", "--jobs", "0"], "--jobs must be >= 1"),
    (["verify", "icl.dummy_sum", "--seeds", "0"], "--seeds must be >= 1"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_usage_exits_2_with_one_line(dummy, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("capdyn: error:") and message in err[0]


def test_console_entry_point_has_no_traceback(isolated):
    out = subprocess.run([sys.executable, "-m", "verify", "verify", "--profile", "nope"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1


def test_figures_redraw_and_report(dummy, isolated):
    assert main(["verify", "icl.dummy_sum"]) == 0
    png = isolated / "figures" / "smoke" / "dummy_sum.png"
    png.unlink()
    assert main(["figures"]) == 0
    assert png.exists()
    assert main(["report"]) == 0
    text = (isolated / "figures" / "README.md").read_text()
    assert "`icl.dummy_sum`" in text and "**pass**" in text and "smoke/dummy_sum.png" in text


KILL_SCRIPT = """
import sys
from tests import _dummy_claims
from verify import claims
c = _dummy_claims.make_claim()
claims._REGISTRY[c.id] = c
from verify.figures import drawer

@drawer("dummy_sum")
def _d(data):
    import matplotlib.pyplot as plt
    return plt.figure()

from verify.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_killed_sweep_resumes_and_no_record_is_corrupt(isolated):
    """SIGKILL a real sweep after its first record, rerun it: it completes, recomputes only what is missing."""
    import os
    import signal
    import time
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    argv = [sys.executable, "-c", KILL_SCRIPT, "verify", "icl.dummy_sum", "--set", "seeds=6", "--set", "sleep=0.4"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = isolated / "cache" / "runs"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(runs.rglob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = list(runs.rglob("*.json"))
    assert 2 <= len(kept) < 6  # killed mid-sweep
    assert all(json.loads(f.read_text())["metrics"]["value"] > 0 for f in kept)  # nothing half-written
    before = len(executions(isolated))
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert out.returncode == 0
    assert len(executions(isolated)) - before == 6 - len(kept)  # only the missing runs
    stored = read_json(isolated / "figures" / "smoke" / "claims.json")
    assert stored["icl.dummy_sum"]["measured"] == {"total": 21.0}
    assert not list(runs.rglob("*.tmp"))

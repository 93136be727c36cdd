"""``capdyn status``, the run states of every backend, the local pool's retries, the Slurm configuration and the
executor options' errors. None of these needs a Slurm cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import _dummy_claims
from verify import claims as registry
from verify import figures
from verify.cli import main
from verify.executors import LocalExecutor, RunFailed, Task, read_state, run_state, write_state
from verify.records import atomic_write_json, record_path
from verify.slurm import load_config, slurm_minutes

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "slurm.toml"


@pytest.fixture
def dummy(isolated, monkeypatch):
    claim = _dummy_claims.make_claim()
    monkeypatch.setitem(registry._REGISTRY, claim.id, claim)

    @figures.drawer("dummy_sum")
    def _draw(data):
        import matplotlib.pyplot as plt

        return plt.figure()

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return claim


def row(out: str, name: str = "icl.dummy_sum") -> list[int]:
    """runs, done, running, pending, failed, missing of one claim in the status table."""
    line = next(ln for ln in out.splitlines() if ln.startswith(name))
    return [int(x) for x in line.split()[-6:]]


def test_status_counts_missing_failed_and_done(dummy, capsys):
    assert main(["status", "icl.dummy_sum"]) == 1
    assert row(capsys.readouterr().out) == [3, 0, 0, 0, 0, 3]
    assert main(["verify", "icl.dummy_sum", "--set", "fail_seed=1"]) == 1
    capsys.readouterr()
    assert main(["status", "icl.dummy_sum", "--set", "fail_seed=1"]) == 1
    out = capsys.readouterr().out
    assert row(out) == [3, 2, 0, 0, 1, 0]
    assert "failed: serial pid" in out and "RuntimeError: deliberate failure" in out
    assert main(["verify", "icl.dummy_sum"]) == 0
    capsys.readouterr()
    assert main(["status", "icl.dummy_sum", "--runs"]) == 0
    out = capsys.readouterr().out
    assert row(out) == [3, 3, 0, 0, 0, 0] and row(out, "all (distinct runs)") == [3, 3, 0, 0, 0, 0]
    assert out.count("done: serial pid") == 3


def test_status_matches_the_sweep_exactly(dummy, capsys):
    """A different --seeds or --set is a different sweep: its runs are counted, not the ones of another."""
    assert main(["verify", "icl.dummy_sum", "--seeds", "2"]) == 0
    capsys.readouterr()
    assert main(["status", "icl.dummy_sum", "--seeds", "4"]) == 1
    assert row(capsys.readouterr().out) == [4, 2, 0, 0, 0, 2]  # seeds 0 and 1 are shared runs
    assert main(["status", "icl.dummy_sum", "--seeds", "2", "--set", "scale=2.0"]) == 1
    assert row(capsys.readouterr().out) == [2, 0, 0, 0, 0, 2]


def test_local_states_follow_their_processes(isolated):
    root = isolated / "cache"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_state("a" * 20, root, backend="local", status="running", attempt=0)  # this (live) process
    write_state("b" * 20, root, backend="local", status="running", attempt=0, pid=dead.pid)
    write_state("c" * 20, root, backend="local", status="pending", attempt=0, pid=dead.pid, host="elsewhere")
    assert run_state("a" * 20, root)[0] == "running"
    assert run_state("b" * 20, root)[0] == "missing"  # its worker died without a record
    assert run_state("c" * 20, root)[0] == "pending"  # another host: reported as recorded
    assert run_state("d" * 20, root) == ("missing", {})
    atomic_write_json(record_path("b" * 20, root), {"key": "b" * 20, "metrics": {}})
    assert run_state("b" * 20, root)[0] == "done"


@pytest.mark.parametrize("queue, expected", [
    ({"7_1": "RUNNING"}, "running"), ({"7_1": "COMPLETING"}, "running"), ({"7_1": "PENDING"}, "pending"),
    ({"7_1": "REQUEUED"}, "pending"), ({"7_1": "CANCELLED"}, "missing"), ({"7_1": "TIMEOUT"}, "missing"),
    ({}, "missing"), (None, "pending"),
])
def test_slurm_states_follow_the_queue(isolated, queue, expected):
    root = isolated / "cache"
    write_state("e" * 20, root, backend="slurm", status="pending", attempt=0, job_id="7_1")
    state, info = run_state("e" * 20, root, queue)
    assert state == expected
    if queue:
        assert info["queue_state"] == queue["7_1"]


def test_failed_state_keeps_reason_and_log(isolated):
    root = isolated / "cache"
    write_state("f" * 20, root, backend="slurm", status="failed", attempt=2, job_id="9_0", reason="ended TIMEOUT",
                log="/logs/9_0_0_log.err")
    state, info = run_state("f" * 20, root, {})
    assert state == "failed" and info["reason"] == "ended TIMEOUT" and info["log"] == "/logs/9_0_0_log.err"


def _dies_once(p: dict, ctx) -> dict:
    marker = Path(p["marker"])
    if not marker.exists():
        marker.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"value": 1.0}


@pytest.mark.parametrize("retries", [0, 1])
def test_local_pool_retries_a_worker_that_dies(isolated, monkeypatch, retries):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    root = isolated / "cache"
    task = Task("0" * 20, "tests.test_status:_dies_once", {"marker": str(isolated / "marker")}, "cpu", str(root))
    [(got, rec, err)] = list(LocalExecutor(jobs=1, max_retries=retries).run([task], echo=lambda _: None))
    assert got == task
    st = read_state(task.key, root)
    if retries:
        assert err is None and rec["metrics"] == {"value": 1.0} and st["attempt"] == 1
    else:
        assert rec is None and isinstance(err, RunFailed) and "worker process died" in str(err)
        assert st["status"] == "failed"


@pytest.mark.parametrize("text, minutes", [
    (90, 90), ("90", 90), ("1:30", 2), ("2:00:00", 120), ("1-0", 1440), ("1-2:30", 1590), ("0-0:1:1", 2),
])
def test_slurm_time_limits(text, minutes):
    assert slurm_minutes(text) == minutes


@pytest.mark.parametrize("text", ["soon", "0", "0:30", "1:2:3:4", True, -5])
def test_slurm_time_limits_reject_nonsense(text):
    with pytest.raises(ValueError, match="time"):
        slurm_minutes(text)


def test_slurm_config_file_then_flags(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[slurm]\npartition = "a"\ntime = "1:00:00"\ncpus_per_task = 2\nsetup = ["module load x"]\n')
    c = load_config(cfg, {"partition": "b", "gpus_per_task": 1})
    assert (c.partition, c.minutes, c.cpus_per_task, c.gpus_per_task, c.setup) == ("b", 60, 2, 1, ["module load x"])
    monkeypatch.setenv("CAPDYN_SLURM_CONFIG", str(cfg))
    assert load_config().partition == "a"
    monkeypatch.delenv("CAPDYN_SLURM_CONFIG")
    assert load_config().partition is None  # nothing site-specific by default


def test_example_config_is_valid_and_makes_the_expected_batch_script():
    pytest.importorskip("submitit")
    from verify.slurm import sbatch_script

    c = load_config(EXAMPLE)
    assert (c.partition, c.minutes, c.cpus_per_task, c.gpus_per_task, c.array_parallelism) == ("gpu", 120, 4, 1, 32)
    script = sbatch_script(c, runs=40, folder="/logs")
    for line in ("#SBATCH --array=0-39%32", "#SBATCH --partition=gpu", "#SBATCH --time=120",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --gpus-per-task=1", "#SBATCH --mem=32G",
                 "#SBATCH --mail-type=FAIL", "module load cuda", "export OMP_NUM_THREADS=4"):
        assert line in script, line


@pytest.mark.parametrize("body, message", [
    ("[slurm]\npartiton = 'a'\n", "unknown setting 'partiton'"),
    ("[slurm]\ncpus_per_task = 0\n", "invalid value for 'cpus_per_task'"),
    ("[slurm]\ntime = 'soon'\n", "invalid value for 'time'"),
    ("[slurm]\nmem = 'lots'\n", "invalid value for 'mem'"),
    ("[cluster]\npartition = 'a'\n", "settings go in a [slurm] table"),
    ("[slurm\n", "is not valid TOML"),
])
def test_bad_slurm_config_exits_2_with_one_line(dummy, tmp_path, capsys, body, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(body)
    assert main(["verify", "icl.dummy_sum", "--executor", "slurm", "--slurm-config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("capdyn: error:") and message in err[0]


@pytest.mark.parametrize("argv, message", [
    (["verify", "icl.dummy_sum", "--partition", "p"], "--partition applies only to --executor slurm"),
    (["verify", "icl.dummy_sum", "--executor", "local", "--slurm-config", "x.toml"], "applies only to --executor"),
    (["verify", "icl.dummy_sum", "--executor", "local", "--max-retries", "-1"], "--max-retries must be >= 0"),
    (["verify", "icl.dummy_sum", "--executor", "slurm", "--slurm-config", "/no/such.toml"], "cannot read Slurm"),
    (["verify", "icl.dummy_sum", "--executor", "slurm", "--time", "soon"], "invalid value for 'time'"),
    (["verify", "icl.dummy_sum", "--executor", "slurm", "--gpus-per-task", "-1"], "'gpus_per_task'"),
    (["verify", "icl.dummy_sum", "--executor", "cloud"], "invalid choice"),
    (["status", "icl.no_such_claim"], "unknown claim or topic"),
    (["status", "icl.dummy_sum", "--set", "nope=1"], "is not a setting"),
    (["status", "icl.dummy_sum", "--device", "tpu"], "invalid choice"),
])
def test_executor_and_status_misuse_exits_2_with_one_line(dummy, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("capdyn: error:") and message in err[0]


def test_slurm_executor_without_sbatch_is_a_usage_error(dummy, tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, squeue or srun here
    assert main(["verify", "icl.dummy_sum", "--executor", "slurm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'sbatch' is not on PATH" in err[0]

"""The executors against real faults: a real single-node Slurm cluster (slurmctld, slurmd, munged started by
``.ci/slurm/up``) running submitit job arrays, and a local process pool whose workers are SIGKILLed.

Tests marked ``cluster`` use the cluster that ``.ci/run`` started (``$CAPDYN_TEST_SLURM_DIR``) or start their own
for the session, and skip with the reason when the Slurm binaries or submitit are missing (they fail instead when
``$CAPDYN_REQUIRE_SLURM=1``). ``$CAPDYN_CLUSTER_TARGETS`` (claim ids or topics, space-separated) chooses the real
claims of the serial-vs-slurm smoke test, e.g. ``CAPDYN_CLUSTER_TARGETS=memory``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import _dummy_claims
from verify import claims as registry
from verify import figures
from verify.cli import main
from verify.executors import read_state, state_path
from verify.records import load_record, read_json

REPO = Path(__file__).resolve().parent.parent
TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "srun", "sinfo")
TARGETS = os.environ.get("CAPDYN_CLUSTER_TARGETS", "selective.needle_mass selective.parameter_overhead "
                         "selective.required_gap selective.log_n_invariance").split()
EFFECTIVE_KILLS = 10  # per backend: 20 trials in all whose kill cost a run its worker
MAX_TRIALS = 16


@dataclass(frozen=True)
class Cluster:
    dir: Path
    conf: Path
    partition: str


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """The running local Slurm cluster: the one ``.ci/run`` started, else one started here for the session."""
    def unavailable(reason: str):
        if os.environ.get("CAPDYN_REQUIRE_SLURM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)

    try:
        import submitit  # noqa: F401
    except ImportError:
        unavailable("submitit is not installed (pip install -e \".[cluster]\")")
    given = os.environ.get("CAPDYN_TEST_SLURM_DIR")
    if given:
        d = Path(given)
        yield Cluster(d, d / "slurm.conf", (d / "partition").read_text().strip())
        return
    missing = [t for t in TOOLS if _which(t) is None]
    if missing:
        unavailable(f"Slurm binaries not found: {', '.join(missing)} (apt-get install slurm-wlm munge)")
    d = tmp_path_factory.mktemp("slurm")
    out = subprocess.run([str(REPO / ".ci" / "slurm" / "up"), str(d)], check=False, capture_output=True, text=True,
                         timeout=180)
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines() or ["no output"]
        unavailable(f"could not start a local Slurm cluster (.ci/slurm/up exit {out.returncode}): {lines[0]}")
    try:
        yield Cluster(d, d / "slurm.conf", (d / "partition").read_text().strip())
    finally:
        subprocess.run([str(REPO / ".ci" / "slurm" / "down"), str(d)], check=False, timeout=60)


@pytest.fixture
def dummy(isolated, monkeypatch):
    claim = _dummy_claims.make_claim()
    monkeypatch.setitem(registry._REGISTRY, claim.id, claim)

    @figures.drawer("dummy_sum")
    def _draw(data):
        import matplotlib.pyplot as plt

        return plt.figure()

    # Spawned pool workers and Slurm jobs import the dummy claim's run function: tests/ must be importable.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return claim


@pytest.fixture
def slurm(cluster, isolated, monkeypatch):
    """The environment of a Slurm client of ``cluster``; returns a config file for it (fast polling)."""
    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cfg = isolated / "slurm.toml"
    cfg.write_text(f'[slurm]\npartition = "{cluster.partition}"\ntime = 30\npoll_s = 0.2\n')
    return cfg


def sweep(*extra: str, seeds: int = 3, sleep: float = 0.0, fail_seed: int = -1) -> list[str]:
    args = ["verify", "icl.dummy_sum", "--set", f"seeds={seeds}", "--set", f"fail_seed={fail_seed}"]
    if sleep:
        args += ["--set", f"sleep={sleep}"]
    return args + list(extra)


def planned_keys(claim, seeds: int, sleep: float = 0.0, fail_seed: int = -1) -> list[str]:
    from verify.records import run_key

    cfg = _dummy_claims.DummyConfig(seeds=seeds, sleep=sleep, fail_seed=fail_seed)
    return [run_key(claim.run_ref, p, "any") for p in _dummy_claims.plan(cfg)]


def executions(cache: Path) -> list[str]:
    log = cache / "executions.log"
    return log.read_text().split() if log.exists() else []


def all_states(cache: Path) -> list[dict]:
    return [s for s in (read_json(p) for p in (cache / "state").rglob("*.json")) if isinstance(s, dict)]


def assert_complete(cache: Path, keys: list[str], baseline: dict[str, dict]) -> None:
    """Every run has an intact record whose numbers are the uninterrupted run's; nothing is half-written."""
    for key in keys:
        rec = load_record(key, cache)
        assert rec is not None, key
        assert rec["metrics"] == baseline[key]
    assert not list((cache / "runs").rglob("*.tmp"))


def without_timings(x):
    """Metrics without their wall-clock timings (keys containing "wall"), which no two runs share."""
    if isinstance(x, dict):
        return {k: without_timings(v) for k, v in x.items() if "wall" not in k}
    if isinstance(x, list):
        return [without_timings(v) for v in x]
    return x


def uninterrupted(monkeypatch, cache: Path, args: list[str], keys: list[str]) -> dict[str, dict]:
    monkeypatch.setenv("CAPDYN_CACHE", str(cache))
    assert main(args + ["--executor", "serial"]) == 0
    return {k: load_record(k, cache)["metrics"] for k in keys}


def queue(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=False, capture_output=True, text=True, timeout=60)


# --- Slurm ------------------------------------------------------------------------------------------------------


@pytest.mark.cluster
def test_smoke_claims_on_slurm_equal_serial(slurm, isolated):
    """Real claims through submitit job arrays give the serial backend's records (all but wall-clock timings),
    verdicts and numbers, with the same thread count (1) in both."""
    env = {k: v for k, v in os.environ.items() if k not in ("CAPDYN_CACHE", "CAPDYN_FIGURES")}
    env.update({var: "1" for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "NUMBA_NUM_THREADS")})
    out = {}
    for name, extra in (("serial", ["--executor", "serial"]),
                        ("slurm", ["--executor", "slurm", "--slurm-config", str(slurm), "--cpus-per-task", "1"])):
        root = isolated / name
        run = subprocess.run([sys.executable, "-m", "verify", "verify", *TARGETS, "--device", "cpu", *extra],
                             env={**env, "CAPDYN_CACHE": str(root / "cache"), "CAPDYN_FIGURES": str(root / "fig")},
                             check=False, capture_output=True, text=True, timeout=900)
        assert "Traceback" not in run.stderr, run.stderr[-2000:]
        out[name] = run
    assert out["slurm"].returncode == out["serial"].returncode, out["slurm"].stdout[-3000:]
    assert "submitted" in out["slurm"].stdout

    def verdicts(name):
        stored = read_json(isolated / name / "fig" / "smoke" / "claims.json")
        return {cid: without_timings({f: e[f] for f in ("verdict", "measured", "theory", "sim", "trained", "paper",
                                                         "config")})
                for cid, e in stored.items()}

    def records(name):
        recs = [read_json(p) for p in (isolated / name / "cache" / "runs").rglob("*.json")]
        return {(r["run"], json.dumps(r["params"], sort_keys=True)): (r["status"], r["device"],
                                                                       without_timings(r["metrics"]))
                for r in recs}

    assert verdicts("slurm") == verdicts("serial")
    assert records("slurm") == records("serial") and len(records("serial")) >= 1
    states = all_states(isolated / "slurm" / "cache")
    assert len(states) == len(records("serial")) and all(s["backend"] == "slurm" and s["job_id"] for s in states)
    scripts = list((isolated / "slurm" / "cache" / "slurm").glob("*_submission.sh"))
    assert len(scripts) == 1  # one submission: an array of all the runs (a single run is a plain job)
    assert len(states) == 1 or "#SBATCH --array=0-" in scripts[0].read_text()


@pytest.mark.cluster
def test_sweep_mixes_backends_and_resumes_across_them(slurm, dummy, isolated, capsys):
    cache = isolated / "cache"
    assert main(sweep(seeds=3)) == 0  # serial
    assert main(sweep("--executor", "slurm", "--slurm-config", str(slurm), seeds=5)) == 0
    assert sorted(executions(cache)) == ["0", "1", "2", "3", "4"]  # slurm computed only seeds 3 and 4
    keys = planned_keys(dummy, 5)
    assert [read_state(k, cache)["backend"] for k in keys] == ["serial"] * 3 + ["slurm"] * 2
    assert "submitted 2 run(s)" in capsys.readouterr().out
    # Nothing missing: a rerun submits nothing; then the local pool has nothing to do either.
    assert main(sweep("--executor", "slurm", "--slurm-config", str(slurm), seeds=5)) == 0
    assert main(sweep("--executor", "local", "--jobs", "2", seeds=5)) == 0
    assert len(executions(cache)) == 5 and "submitted" not in capsys.readouterr().out
    assert read_json(isolated / "figures" / "smoke" / "claims.json")["icl.dummy_sum"]["measured"] == {"total": 15.0}
    assert main(["status", "icl.dummy_sum", "--set", "seeds=5", "--set", "fail_seed=-1"]) == 0
    # --force: the jobs' new records are awaited, not mistaken for the old ones.
    assert main(sweep("--executor", "slurm", "--slurm-config", str(slurm), "--force", seeds=5)) == 0
    assert sorted(executions(cache)) == sorted(["0", "1", "2", "3", "4"] * 2)
    assert [read_state(k, cache)["backend"] for k in keys] == ["slurm"] * 5


@pytest.mark.cluster
def test_failing_run_is_reported_with_its_log_not_retried(slurm, dummy, isolated, capsys):
    cache = isolated / "cache"
    assert main(sweep("--executor", "slurm", "--slurm-config", str(slurm), fail_seed=1)) == 1
    out = capsys.readouterr().out
    assert "RuntimeError: deliberate failure" in out and "log: " in out
    assert sorted(executions(cache)) == ["0", "1", "2"]  # an error is not retried: it would raise again
    st = read_state(planned_keys(dummy, 3, fail_seed=1)[1], cache)
    assert st["status"] == "failed" and "deliberate failure" in Path(st["log"]).read_text()
    assert main(["status", "icl.dummy_sum", "--set", "fail_seed=1"]) == 1
    out = capsys.readouterr().out
    assert "failed: slurm job" in out and st["log"] in out and "raise RuntimeError" in out


def _coordinate(argv: list[str]) -> None:
    sys.exit(main(argv))


@pytest.mark.cluster
def test_rerun_after_the_coordinator_is_killed_waits_for_its_jobs(slurm, dummy, isolated, capsys):
    """SIGKILL `capdyn verify` after it submitted: the jobs run on; the rerun adopts them instead of resubmitting."""
    import multiprocessing

    cache = isolated / "cache"
    args = sweep("--executor", "slurm", "--slurm-config", str(slurm), sleep=2.0)
    keys = planned_keys(dummy, 3, sleep=2.0)
    # A forked coordinator shares this process's registry and source hash, so both plan the same run keys.
    proc = multiprocessing.get_context("fork").Process(target=_coordinate, args=(args,))
    proc.start()
    deadline = time.time() + 60
    while time.time() < deadline and not all(state_path(k, cache).exists() for k in keys):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    submitted = {k: read_state(k, cache)["job_id"] for k in keys}
    assert main(["status", "icl.dummy_sum", "--set", "sleep=2.0"]) == 1
    table = capsys.readouterr().out.splitlines()
    row = next(line.split() for line in table if line.startswith("icl.dummy_sum"))
    assert int(row[3]) + int(row[4]) == 3  # running + pending, straight from the queue
    assert main(args) == 0
    assert "3 run(s) still queued or running" in capsys.readouterr().out
    assert sorted(executions(cache)) == ["0", "1", "2"]  # each run computed once
    assert {k: read_state(k, cache)["job_id"] for k in keys} == submitted


@pytest.mark.cluster
@pytest.mark.slow  # about a minute; under a loaded CPU the job can leave the queue before its interrupted result is read
def test_time_limit_signal_resubmits_the_run(slurm, dummy, isolated):
    """submitit's time-limit signal (USR2, sent by Slurm before the limit) ends the run early; it is resubmitted
    and completes; with no retries left it is reported failed for its time limit."""
    cache = isolated / "cache"
    keys = planned_keys(dummy, 2, sleep=2.0)
    report: dict = {}

    def signal_first_run() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and not executions(cache):  # the run has started: submitit's handler is set
            time.sleep(0.05)
        jobs = {s["key"]: s["job_id"] for s in all_states(cache)}
        victim = keys[int(executions(cache)[0])]
        report.update(victim=victim, rc=queue("scancel", "--signal=USR2", jobs[victim]).returncode)

    for retries, code in ((1, 0), (0, 1)):
        for p in (cache / "runs").rglob("*.json") if cache.exists() else ():
            p.unlink()
        (cache / "executions.log").unlink(missing_ok=True)
        killer = threading.Thread(target=signal_first_run)
        killer.start()
        # Under 10 minutes submitit reads USR2 as the time limit (longer jobs: as pre-emption, and requeues).
        args = sweep("--executor", "slurm", "--slurm-config", str(slurm), "--time", "5",
                     "--max-retries", str(retries), seeds=2, sleep=2.0)
        assert main(args) == code
        killer.join()
        st = read_state(report["victim"], cache)
        assert report["rc"] == 0
        if retries:
            assert st["attempt"] == 1 and load_record(report["victim"], cache) is not None
        else:
            assert st["status"] == "failed" and "reached its time limit" in st["reason"]
            assert "timed-out" in Path(st["log"]).read_text()


# --- kills at random points: scancel on the cluster, SIGKILL in the local pool ---------------------------------


def _slurm_running(cache: Path) -> dict[str, str]:
    """Array tasks of this sweep that squeue shows RUNNING and that have no record yet: job id -> run key."""
    jobs = {s["job_id"]: s["key"] for s in all_states(cache) if s.get("backend") == "slurm" and s.get("job_id")}
    if not jobs:
        return {}
    arrays = sorted({j.split("_")[0] for j in jobs})
    out = queue("squeue", "--noheader", "--array", "--format=%i|%T", "--jobs=" + ",".join(arrays))
    running = [ln.split("|")[0] for ln in out.stdout.split() if ln.endswith("|RUNNING")]
    return {j: jobs[j] for j in running if j in jobs and load_record(jobs[j], cache) is None}


def _scancel(victim: str, rng: random.Random) -> bool:
    """scancel the victim's array task or, three times in ten, its whole array."""
    return queue("scancel", victim.split("_")[0] if rng.random() < 0.3 else victim).returncode == 0


def _local_running(cache: Path) -> dict[int, str]:
    """Pool workers running a run of this sweep that has no record yet: worker PID -> run key."""
    return {s["pid"]: s["key"] for s in all_states(cache) if s.get("backend") == "local"
            and s.get("status") == "running" and s.get("pid") != os.getpid() and load_record(s["key"], cache) is None}


def _sigkill(victim: int, rng: random.Random) -> bool:
    try:
        os.kill(victim, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def _killer(running, kill, cache: Path, rng: random.Random, report: dict, stop: threading.Event) -> None:
    """Once a run of this sweep is running, wait a random moment (0 to 0.3 s: during start-up, the run or its
    record), then kill a worker that is still running one."""
    while not stop.is_set():
        if running(cache):
            time.sleep(rng.uniform(0.0, 0.3))
            now = running(cache)
            if now:
                victim = rng.choice(sorted(now))
                report["victim"] = now[victim]
                report["killed"] = kill(victim, rng)
                return
        time.sleep(0.02)


def fault_trials(monkeypatch, isolated, claim, rng, seeds, backend, running, kill, expected_total) -> int:
    """Sweeps killed at a random point, each rerun to completion. Every trial must end complete, with intact records
    equal to an uninterrupted run's, the rerun computing exactly what was missing. Trials go on until
    ``EFFECTIVE_KILLS`` kills cost a run its worker (a kill that lands after the run finished does not count)."""
    args = sweep(seeds=seeds, sleep=0.6)
    keys = planned_keys(claim, seeds, sleep=0.6)
    baseline = uninterrupted(monkeypatch, isolated / "baseline", args, keys)
    effective = trial = 0
    while effective < EFFECTIVE_KILLS and trial < MAX_TRIALS:
        cache = isolated / f"trial{trial}"
        monkeypatch.setenv("CAPDYN_CACHE", str(cache))
        retries = trial % 3
        report: dict = {}
        stop = threading.Event()
        killer = threading.Thread(target=_killer, args=(running, kill, cache, rng, report, stop))
        killer.start()
        try:
            first = main(args + backend + ["--max-retries", str(retries)])
        finally:
            stop.set()
            killer.join()
        if report.get("killed"):
            st = read_state(report["victim"], cache)
            effective += st["status"] == "failed" or st["attempt"] >= 1  # resubmitted, or failed for good
        assert first == 0 or (first == 1 and retries == 0)  # one kill never exhausts a retry
        before = len(executions(cache))
        missing = sum(load_record(k, cache) is None for k in keys)
        assert main(args + backend) == 0
        assert len(executions(cache)) - before == missing
        assert_complete(cache, keys, baseline)
        stored = read_json(isolated / "figures" / "smoke" / "claims.json")["icl.dummy_sum"]
        assert stored["verdict"] == "pass" and stored["measured"] == {"total": expected_total}
        trial += 1
    return effective


@pytest.mark.cluster
def test_scancel_at_random_points_loses_no_record(slurm, dummy, isolated, monkeypatch):
    backend = ["--executor", "slurm", "--slurm-config", str(slurm)]
    effective = fault_trials(monkeypatch, isolated, dummy, random.Random(20260), 2, backend, _slurm_running,
                             _scancel, 3.0)
    assert effective >= EFFECTIVE_KILLS


def test_sigkill_of_local_workers_at_random_points_loses_no_record(dummy, isolated, monkeypatch):
    backend = ["--executor", "local", "--jobs", "2"]
    effective = fault_trials(monkeypatch, isolated, dummy, random.Random(6), 3, backend, _local_running,
                             _sigkill, 6.0)
    assert effective >= EFFECTIVE_KILLS


# --- the example configuration ----------------------------------------------------------------------------------


@pytest.mark.cluster
def test_example_config_runs_a_sweep_with_the_site_settings_replaced(slurm, cluster, dummy, isolated):
    """examples/slurm.toml, with only its site-specific values replaced for the local cluster, runs a sweep."""
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    data = tomllib.loads((REPO / "examples" / "slurm.toml").read_text())["slurm"]
    site = {"partition": cluster.partition, "gpus_per_task": 0, "cpus_per_task": 1, "mem": "100M",
            "setup": [], "log_dir": str(isolated / "logs"), "poll_s": 0.2}
    assert set(site) - {"poll_s"} <= set(data)
    data.update(site)
    lines = ["[slurm]"] + [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
    lines += ["[slurm.sbatch]"] + [f'{k} = {json.dumps(v)}' for k, v in data["sbatch"].items()]
    cfg = isolated / "site.toml"
    cfg.write_text("\n".join(lines) + "\n")
    assert main(sweep("--executor", "slurm", "--slurm-config", str(cfg))) == 0
    script = next((isolated / "logs").glob("*_submission.sh")).read_text()
    assert "#SBATCH --mail-type=FAIL" in script and "#SBATCH --time=120" in script

"""The ``slurm`` executor: the runs of a sweep as Slurm job arrays, through submitit (``pip install -e ".[cluster]"``).

One array task per run. Each task computes its run with :func:`verify.executors.execute` on a compute node and
writes the record, atomically, into the same record cache as the other backends, so the cache must lie on a file
system the nodes share. The coordinator (``capdyn verify`` on the login node) submits the runs without a record,
then polls the records and ``squeue``:

- a record appears: the run is done;
- the task raised: the run failed (not resubmitted: it would raise again); the reason and the task's log are
  reported;
- the task left the queue without a record (scancel, node failure, pre-emption that cancels, out of memory, time
  limit): the run is resubmitted, up to ``max_retries`` times, then reported failed with its log.

Pre-emption that requeues (``PreemptMode=REQUEUE``, or submitit's own requeue on its signal) keeps the task in the
queue, so it is simply waited for. If the coordinator itself stops (Ctrl-C, logout), the submitted jobs keep
running; the state files (:mod:`verify.executors`) remember their job ids, and rerunning the same command waits for
those still queued instead of submitting them again.

Everything cluster-specific is configuration (:class:`SlurmConfig`): a TOML file with a ``[slurm]`` table
(``--slurm-config FILE`` or ``$CAPDYN_SLURM_CONFIG``), overridden by command-line flags.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from verify.executors import (
    THREAD_VARS,
    Executor,
    Result,
    RunFailed,
    Task,
    execute,
    read_state,
    set_threads,
    write_state,
)
from verify.profiles import UsageError
from verify.records import load_record, record_path

CONFIG_ENV = "CAPDYN_SLURM_CONFIG"
ACTIVE = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD",
                    "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "SPECIAL_EXIT",
                    "POWER_UP_NODE"})
"""Queue states of a job that may still write its record."""
RUNNING = frozenset({"RUNNING", "CONFIGURING", "COMPLETING", "SIGNALING", "STAGE_OUT"})
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")


def slurm_minutes(value: str | int) -> int:
    """Minutes of a Slurm time limit: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M`` or ``D-H:M:S`` (rounded up)."""
    if isinstance(value, bool):
        raise ValueError(f"time must be minutes or a Slurm time such as '2:00:00', got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"time must be >= 1 minute, got {value}")
        return value
    m = _TIME.fullmatch(str(value).strip())
    if m is None:
        raise ValueError(f"time must be minutes or a Slurm time such as '2:00:00' or '1-12:00:00', got {value!r}")
    days, a, b, c = m.groups()
    if days is not None:
        seconds = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif b is None:
        seconds = int(a) * 60
    elif c is None:
        seconds = int(a) * 60 + int(b)
    else:
        seconds = int(a) * 3600 + int(b) * 60 + int(c)
    if seconds < 60:
        raise ValueError(f"time must be >= 1 minute, got {value!r}")
    return -(-seconds // 60)


class SlurmConfig(BaseModel):
    """Slurm settings of a sweep (the ``[slurm]`` table of a config file; flags override it). Unknown keys are an
    error. Nothing here has a site-specific default: without ``partition`` the cluster's default partition is used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = None
    time: str = "60"
    """Time limit per run: minutes, or a Slurm time (``H:M:S``, ``D-H:M:S``)."""
    cpus_per_task: int = Field(1, ge=1)
    """CPUs per run; also the run's numba/torch/BLAS thread count."""
    gpus_per_task: int = Field(0, ge=0)
    mem: str | None = Field(None, pattern=r"^\d+[KMGT]?B?$")
    """Memory per node, in sbatch's syntax (``16G``); unset: the partition's default."""
    array_parallelism: int = Field(256, ge=1)
    """At most this many runs of one array at a time (``--array=0-N%P``); ``--jobs N`` sets it too."""
    max_array_size: int = Field(1000, ge=1)
    """Larger sweeps are split into arrays of this size (the cluster's MaxArraySize, 1001 by default)."""
    max_retries: int = Field(2, ge=0)
    """How often a run whose job ended without a record is resubmitted before it is reported failed."""
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: list[str] = []
    """Shell lines run in each job before capdyn, e.g. ``module load ...`` or ``source venv/bin/activate``."""
    python: str | None = None
    """Command that starts Python on the nodes; default: this interpreter."""
    log_dir: str | None = None
    """Folder for submitit's pickles and the jobs' logs, on a shared file system; ``~`` and ``$VARS`` are expanded.
    Default: ``slurm/`` in the record cache."""
    poll_s: float = Field(5.0, gt=0)
    """Seconds between two looks at the records and the queue."""
    job_name: str = "capdyn"
    signal_delay_s: int = Field(90, ge=0)
    """Seconds before the time limit at which submitit signals the job (it then reports the run timed out)."""
    use_srun: bool = True
    """Start the run through ``srun`` inside the batch script (submitit's default)."""
    sbatch: dict[str, str | int | bool] = {}
    """Further sbatch options by long name, e.g. ``{"mail-type" = "END", "gres" = "gpu:a100:1"}``."""

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, v: Any) -> str:
        slurm_minutes(v)
        return str(v)

    @property
    def minutes(self) -> int:
        return slurm_minutes(self.time)


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the cluster extra installs tomli
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as err:
        raise UsageError(f"cannot read Slurm config {str(path)!r}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"Slurm config {str(path)!r} is not valid TOML: {err}") from None


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> SlurmConfig:
    """The Slurm settings: the ``[slurm]`` table of ``path`` (default ``$CAPDYN_SLURM_CONFIG``, else none), then
    ``overrides`` (the command-line flags). A missing file, an unknown key or a bad value is a UsageError."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or None
    values: dict = {}
    where = "Slurm options"
    if path is not None:
        where = f"Slurm config {str(path)!r}"
        data = _read_toml(Path(path))
        unknown = sorted(set(data) - {"slurm"})
        if unknown:
            raise UsageError(f"{where}: unknown table or key {unknown[0]!r}; settings go in a [slurm] table")
        values = dict(data.get("slurm", {}))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return SlurmConfig(**values)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "config"
        if first["type"] == "extra_forbidden":
            raise UsageError(f"{where}: unknown setting {loc!r}; see verify.slurm.SlurmConfig") from None
        msg = first["msg"].removeprefix("Value error, ")
        raise UsageError(f"{where}: invalid value for {loc!r}: {msg}") from None


def available() -> str | None:
    """None when this machine can submit Slurm jobs through submitit, else the reason it cannot."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        return "--executor slurm needs submitit: pip install -e \".[cluster]\""
    for tool in ("sbatch", "squeue", "srun"):
        if shutil.which(tool) is None:
            return f"--executor slurm: {tool!r} is not on PATH; run capdyn where Slurm jobs can be submitted"
    return None


def queue_states(job_ids: Iterable[str]) -> dict[str, str] | None:
    """Queue state (``PENDING``, ``RUNNING``, ``CANCELLED``, ...) of the array tasks and jobs of ``job_ids``
    (``"123_4"`` or ``"123"``), from ``squeue``. A job the controller has forgotten is absent. None when squeue
    could not answer (not installed, controller unreachable): then nothing may be concluded."""
    arrays = sorted({str(j).split("_", 1)[0] for j in job_ids})
    if not arrays:
        return {}
    if shutil.which("squeue") is None:
        return None
    states: dict[str, str] = {}
    for i in range(0, len(arrays), 200):
        cmd = ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T",
               "--jobs=" + ",".join(arrays[i:i + 200])]
        try:
            out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode != 0:
            if "Invalid job id" in out.stderr:
                continue  # every job of this batch has left the controller's memory
            return None
        for line in out.stdout.splitlines():
            jid, _, state = line.strip().partition("|")
            if jid:
                states[jid] = state.split()[0] if state.strip() else ""
    return states


def read_result(path: Path) -> tuple[str, Any] | None:
    """submitit's result of a finished task: ``("success", value)`` or ``("error", traceback)``; None if absent."""
    try:
        with open(path, "rb") as fh:
            out = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError):
        return None
    return out if isinstance(out, tuple) and len(out) == 2 else None


def log_tail(path: str | Path | None, lines: int = 8) -> str:
    """The last ``lines`` lines of a job's log ("" when it cannot be read)."""
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def run_job(task: Task, threads: int) -> dict:
    """What one array task runs on its compute node: the run, with ``threads`` threads, writing its record."""
    set_threads(threads, load_torch=False)
    from submitit.core.utils import UncompletedJobError

    try:
        execute(task)
    except UncompletedJobError as err:  # submitit's time-limit signal, raised inside the run
        return {"status": "interrupted", "reason": str(err)}
    return {"status": "done"}


def sbatch_parameters(c: SlurmConfig) -> dict:
    """submitit's parameters for the array jobs of ``c`` (the ``#SBATCH`` lines and each job's set-up lines)."""
    exports = " ".join(f"{v}={c.cpus_per_task}" for v in THREAD_VARS)
    params: dict = {"job_name": c.job_name, "time": c.minutes, "cpus_per_task": c.cpus_per_task,
                    "nodes": 1, "ntasks_per_node": 1, "array_parallelism": c.array_parallelism,
                    "signal_delay_s": c.signal_delay_s, "use_srun": c.use_srun, "wckey": None,
                    "setup": [f"export {exports}", *c.setup]}
    for name in ("partition", "account", "qos", "constraint", "mem"):
        if getattr(c, name) is not None:
            params[name] = getattr(c, name)
    if c.gpus_per_task:
        params["gpus_per_task"] = c.gpus_per_task
    if c.sbatch:
        params["additional_parameters"] = dict(c.sbatch)
    return params


def _signature(path: Path) -> tuple | None:
    """Identity of the file at ``path`` (inode, mtime, size), or None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@dataclass
class _Flight:
    task: Task
    attempt: int
    job_id: str
    result: Path
    log: str
    stale: tuple | None = None
    """The record this run had before its job was submitted (``--force``): not the job's result."""
    dead_polls: int = 0

    def record(self, root: Path) -> dict | None:
        """The run's record once its job has written it."""
        sig = _signature(record_path(self.task.key, root))
        return None if sig is None or sig == self.stale else load_record(self.task.key, root)


class SlurmExecutor(Executor):
    name = "slurm"

    def __init__(self, config: SlurmConfig, cache_root: Path | None = None):
        reason = available()
        if reason:
            raise UsageError(reason)
        self.config = config
        if config.log_dir:
            folder = Path(os.path.expandvars(os.path.expanduser(config.log_dir)))
        else:
            from verify.records import cache_dir

            folder = Path(cache_root or cache_dir()) / "slurm"
        self.folder = folder.absolute()

    def describe(self) -> str:
        c = self.config
        parts = [f"partition {c.partition}" if c.partition else "default partition", f"{c.cpus_per_task} CPU",
                 f"{c.gpus_per_task} GPU per run", f"time {c.time}", f"at most {c.array_parallelism} at once"]
        return f"slurm ({', '.join(parts)})"

    def _executor(self):
        import submitit

        self.folder.mkdir(parents=True, exist_ok=True)
        ex = submitit.SlurmExecutor(folder=self.folder, max_num_timeout=0, python=self.config.python)
        try:
            ex.update_parameters(**sbatch_parameters(self.config))
        except ValueError as err:
            raise UsageError(f"Slurm options: {str(err).splitlines()[0]}") from None
        return ex

    def _submit(self, queue: list[tuple[Task, int]], inflight: dict[str, _Flight], root: Path,
                echo: Callable[[str], None]) -> None:
        from submitit.core.utils import FailedJobError

        ex = self._executor()
        size = self.config.max_array_size
        for i in range(0, len(queue), size):
            chunk = queue[i:i + size]
            # Records these runs already have (--force recomputes them) are not what the new jobs write.
            stale = {t.key: _signature(record_path(t.key, root)) for t, _ in chunk}
            sink = io.StringIO()
            try:
                with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
                    jobs = ex.map_array(run_job, [t for t, _ in chunk], [self.config.cpus_per_task] * len(chunk))
            except (FailedJobError, subprocess.SubprocessError, OSError) as err:
                lines = [ln for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
                raise UsageError(f"sbatch refused the job array: {lines[-1].strip()}") from None
            for (task, attempt), job in zip(chunk, jobs):
                flight = _Flight(task, attempt, str(job.job_id), Path(job.paths.result_pickle),
                                 str(job.paths.stderr), stale[task.key])
                # Job ids restart with a new cluster: a result left in the folder under this id is not this job's.
                flight.result.unlink(missing_ok=True)
                write_state(task.key, root, backend="slurm", status="pending", attempt=attempt,
                            job_id=flight.job_id, log=flight.log, stdout=str(job.paths.stdout),
                            result=str(flight.result), partition=self.config.partition)
                inflight[task.key] = flight
            array_id = str(jobs[0].job_id).split("_", 1)[0]
            echo(f"slurm: submitted {len(chunk)} run(s) as job {array_id} (logs in {self.folder})")

    def _adopt(self, tasks: list[Task], root: Path, echo: Callable[[str], None]) -> dict[str, _Flight]:
        """Runs that an earlier coordinator submitted and whose jobs are still in the queue."""
        prior = {}
        for t in tasks:
            st = read_state(t.key, root)
            if (st and st.get("backend") == "slurm" and st.get("status") in ("pending", "running")
                    and st.get("job_id") and st.get("result")):
                prior[t.key] = (t, st)
        if not prior:
            return {}
        queue = queue_states(st["job_id"] for _, st in prior.values()) or {}
        adopted = {key: _Flight(t, int(st.get("attempt", 0)), str(st["job_id"]), Path(st["result"]),
                                str(st.get("log", "")))
                   for key, (t, st) in prior.items() if queue.get(str(st["job_id"])) in ACTIVE}
        if adopted:
            echo(f"slurm: {len(adopted)} run(s) still queued or running from an earlier submission; waiting for them")
        return adopted

    def run(self, tasks: list[Task], echo: Callable[[str], None] = print) -> Iterator[Result]:
        if not tasks:
            return
        root = Path(tasks[0].cache_root)
        cfg = self.config
        inflight = self._adopt(tasks, root, echo)
        queue = [(t, 0) for t in tasks if t.key not in inflight]
        unanswered = 0
        try:
            while queue or inflight:
                if queue:
                    self._submit(queue, inflight, root, echo)
                    queue = []
                time.sleep(cfg.poll_s)
                states = queue_states(f.job_id for f in inflight.values())
                unanswered = 0 if states is not None else unanswered + 1
                if unanswered == 10:
                    echo("slurm: squeue has not answered 10 times in a row; waiting for records only")
                for key, f in list(inflight.items()):
                    rec = f.record(root)
                    if rec is not None:
                        del inflight[key]
                        yield f.task, rec, None
                        continue
                    outcome = read_result(f.result)
                    if outcome is not None and outcome[0] == "error":
                        if states is not None and states.get(f.job_id) in ACTIVE:
                            continue  # the job is still writing the traceback to its log
                        del inflight[key]
                        lines = [ln for ln in str(outcome[1]).strip().splitlines() if ln.strip()]
                        reason = lines[-1].strip() if lines else "the run raised"
                        write_state(key, root, backend="slurm", status="failed", attempt=f.attempt,
                                    job_id=f.job_id, reason=reason, log=f.log, log_tail=log_tail(f.log))
                        yield f.task, None, RunFailed(f"Slurm job {f.job_id}: {reason}; log: {f.log}")
                        continue
                    lost = None
                    if outcome is not None and isinstance(outcome[1], dict) and \
                            outcome[1].get("status") == "interrupted":
                        lost = f"reached its time limit ({cfg.time})"
                    elif states is not None and states.get(f.job_id) not in ACTIVE:
                        # Twice in a row, so that a record written just before the job left the queue is seen.
                        f.dead_polls += 1
                        if f.dead_polls >= 2:
                            ended = states.get(f.job_id)
                            lost = f"{'ended ' + ended if ended else 'left the queue'} without a record"
                    else:
                        f.dead_polls = 0
                    if lost is None:
                        continue
                    del inflight[key]
                    if f.attempt < cfg.max_retries:
                        queue.append((f.task, f.attempt + 1))
                    else:
                        reason = f"{lost} ({f.attempt + 1} attempts, max_retries {cfg.max_retries})"
                        write_state(key, root, backend="slurm", status="failed", attempt=f.attempt,
                                    job_id=f.job_id, reason=reason, log=f.log, log_tail=log_tail(f.log))
                        yield f.task, None, RunFailed(f"Slurm job {f.job_id}: {reason}; log: {f.log}")
                if queue:
                    echo(f"slurm: resubmitting {len(queue)} run(s) whose jobs ended without a record")
        except (KeyboardInterrupt, GeneratorExit):
            if inflight:
                echo(f"slurm: {len(inflight)} submitted run(s) keep running; rerun the same command to collect them")
            raise


def sbatch_script(config: SlurmConfig, runs: int = 2, folder: str | Path = "slurm-logs") -> str:
    """The batch script submitit submits for an array of ``runs`` runs under ``config`` (to inspect a config)."""
    from submitit.slurm.slurm import _make_sbatch_string

    python = config.python or shlex.quote(sys.executable)
    command = f"{python} -u -m submitit.core._submit {shlex.quote(str(folder))}"
    return _make_sbatch_string(command=command, folder=str(folder), map_count=runs, **sbatch_parameters(config))

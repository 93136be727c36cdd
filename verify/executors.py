"""Executors run the independent runs of a sweep, one backend each, into one record cache.

- ``serial``: in this process, one run after another;
- ``local``: a pool of ``--jobs N`` spawned worker processes on this machine;
- ``slurm``: job arrays on a Slurm cluster through submitit (:mod:`verify.slurm`, the ``cluster`` extra).

Every backend computes a run with :func:`execute`, which writes the run's record atomically when the run has
finished and only then, into the same cache. A sweep can therefore mix backends and resume across them: a rerun
computes only the runs without a record. A worker that dies (SIGKILL, scancel, pre-emption, time limit) is
retried up to ``max_retries`` times; after that its run is reported failed with the reason and its log, and the
next rerun tries it again.

Besides the record, each run has a small advisory *state* file, ``<cache>/state/<kk>/<key>.json``, that says
which backend last took it and what became of it (``pending``, ``running``, ``failed``), with host and PID or
Slurm job id, attempt, log and reason. ``capdyn status`` reads it (:func:`run_state`); nothing depends on it for
correctness, so it is written without fsync, still atomically.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from verify.claims import RunContext, resolve_run
from verify.profiles import UsageError
from verify.records import atomic_write_json, load_record, make_record, read_json, record_path

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
EXECUTORS = ("serial", "local", "slurm")
RUN_STATES = ("done", "running", "pending", "failed", "missing")
"""What ``capdyn status`` says of a run: ``done`` (its record exists), ``running``, ``pending`` (queued on its
backend), ``failed`` (retries exhausted or the run raised; a rerun tries again), ``missing`` (never started, or
its worker is gone without a record)."""
DEFAULT_MAX_RETRIES = 2

Result = tuple["Task", "dict | None", "BaseException | None"]


@dataclass(frozen=True)
class Task:
    key: str
    run: str  # "module:function"
    params: dict
    device: str
    cache_root: str


class RunFailed(RuntimeError):
    """A run that ended without a record: killed, pre-empted, timed out or raised; the message names its log."""


def execute(task: Task, progress: bool = False) -> dict:
    """Compute one run and write its record; returns the record."""
    fn = resolve_run(task.run)
    t0 = time.perf_counter()
    metrics = fn(dict(task.params), RunContext(device=task.device, progress=progress))
    rec = make_record(task.key, task.run, task.params, task.device, metrics, time.perf_counter() - t0)
    atomic_write_json(record_path(task.key, Path(task.cache_root)), rec)
    return rec


# --- run state ------------------------------------------------------------------------------------------------


def state_path(key: str, root: Path) -> Path:
    return Path(root) / "state" / key[:2] / f"{key}.json"


def write_state(key: str, root: Path, **fields) -> None:
    """Replace the state of run ``key`` (atomically: a reader sees the old or the new state, never a mix)."""
    path = state_path(key, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"key": key, "host": socket.gethostname(), "pid": os.getpid(), "updated": time.time(), **fields}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(body, fh, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_state(key: str, root: Path) -> dict | None:
    st = read_json(state_path(key, root))
    return st if isinstance(st, dict) and st.get("key") == key else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_state(key: str, root: Path, queue: dict[str, str] | None = None) -> tuple[str, dict]:
    """The state of one run (one of :data:`RUN_STATES`) and the state file's fields behind it.

    ``queue`` maps Slurm job ids to their queue state (:func:`verify.slurm.queue_states`); without it a Slurm
    run's recorded state is reported as it stands. A local run whose process has died is ``missing``; one on
    another host is reported as recorded.
    """
    if load_record(key, root) is not None:
        st = read_state(key, root) or {}
        return "done", st
    st = read_state(key, root)
    if st is None:
        return "missing", {}
    status = st.get("status")
    if status == "failed":
        return "failed", st
    if status not in ("pending", "running"):
        return "missing", st
    if st.get("backend") == "slurm":
        if queue is None:
            return status, st
        from verify.slurm import ACTIVE, RUNNING

        q = queue.get(str(st.get("job_id")))
        if q in RUNNING:
            return "running", dict(st, queue_state=q)
        if q in ACTIVE:
            return "pending", dict(st, queue_state=q)
        return "missing", dict(st, queue_state=q or "gone")
    if st.get("host") == socket.gethostname() and not _pid_alive(int(st.get("pid", 0))):
        return "missing", st
    return status, st


# --- serial and local backends --------------------------------------------------------------------------------


def threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def set_threads(threads: int, load_torch: bool = True) -> None:
    """Limit numba/torch/BLAS threads of this process (before numba or torch is imported where possible).
    ``load_torch=False`` leaves torch unimported (it reads ``OMP_NUM_THREADS`` when a run imports it)."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    if not load_torch and "torch" not in sys.modules:
        return
    try:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    except (ImportError, RuntimeError):
        pass


def _init_worker(threads: int) -> None:
    # Set before numba or torch is imported in this worker, so N workers do not oversubscribe the cores; torch
    # is left to the runs that need it (it reads OMP_NUM_THREADS when imported).
    set_threads(threads, load_torch=False)


def _worker_execute(task: Task, backend: str, attempt: int) -> dict:
    write_state(task.key, Path(task.cache_root), backend=backend, status="running", attempt=attempt,
                started=time.time())
    return execute(task)


def _fail(task: Task, backend: str, attempt: int, reason: str, log: str | None = None) -> None:
    write_state(task.key, Path(task.cache_root), backend=backend, status="failed", attempt=attempt,
                reason=reason, log=log)


class Executor(ABC):
    """A backend: :meth:`run` computes the given tasks and yields ``(task, record, None)`` for each finished run
    and ``(task, None, error)`` for each run that ended without a record, in completion order."""

    name = ""

    @abstractmethod
    def run(self, tasks: list[Task], echo: Callable[[str], None] = print) -> Iterator[Result]:
        """Compute ``tasks``; ``echo`` receives one-line notices (retries, adopted jobs)."""

    def describe(self) -> str:
        return self.name


class SerialExecutor(Executor):
    name = "serial"

    def __init__(self, progress: bool = False):
        self.progress = progress

    def run(self, tasks: list[Task], echo: Callable[[str], None] = print) -> Iterator[Result]:
        for task in tasks:
            write_state(task.key, Path(task.cache_root), backend="serial", status="pending", attempt=0)
        for task in tasks:
            try:
                write_state(task.key, Path(task.cache_root), backend="serial", status="running", attempt=0,
                            started=time.time())
                yield task, execute(task, self.progress), None
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as err:  # a failing run is reported with its claim, not fatal to the sweep
                _fail(task, "serial", 0, f"{type(err).__name__}: {err}")
                yield task, None, err


class LocalExecutor(Executor):
    """A pool of ``jobs`` spawned processes, each limited to ``cores / jobs`` threads.

    At most ``jobs`` runs are handed to the pool at a time, so when a worker dies (the pool breaks) exactly the
    runs in flight are lost: they are retried in a fresh pool, each up to ``max_retries`` times, then reported
    failed. A run that raises is reported at once, as in ``serial``.
    """

    name = "local"

    def __init__(self, jobs: int, max_retries: int = DEFAULT_MAX_RETRIES):
        if jobs < 1:
            raise UsageError(f"--jobs must be >= 1, got {jobs}")
        if max_retries < 0:
            raise UsageError(f"--max-retries must be >= 0, got {max_retries}")
        self.jobs = jobs
        self.max_retries = max_retries

    def describe(self) -> str:
        return f"local ({self.jobs} workers)"

    def run(self, tasks: list[Task], echo: Callable[[str], None] = print) -> Iterator[Result]:
        for task in tasks:
            write_state(task.key, Path(task.cache_root), backend="local", status="pending", attempt=0)
        queue = deque((t, 0) for t in tasks)
        ctx = get_context("spawn")
        while queue:
            retry: list[tuple[Task, int]] = []
            with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=_init_worker,
                                     initargs=(threads_per_worker(self.jobs),)) as pool:
                inflight: dict = {}
                broken = False
                try:
                    while queue or inflight:
                        while queue and not broken and len(inflight) < self.jobs:
                            task, attempt = queue.popleft()
                            inflight[pool.submit(_worker_execute, task, "local", attempt)] = (task, attempt)
                        if not inflight:
                            break
                        done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                        for fut in done:
                            task, attempt = inflight.pop(fut)
                            err = fut.exception()
                            if err is None:
                                yield task, fut.result(), None
                            elif isinstance(err, BrokenProcessPool):
                                broken = True
                                if attempt < self.max_retries:
                                    retry.append((task, attempt + 1))
                                else:
                                    reason = (f"its worker process died ({attempt + 1} attempts, "
                                              f"--max-retries {self.max_retries})")
                                    _fail(task, "local", attempt, reason)
                                    yield task, None, RunFailed(reason)
                            else:
                                _fail(task, "local", attempt, f"{type(err).__name__}: {err}")
                                yield task, None, err
                except BaseException:
                    for fut in inflight:
                        fut.cancel()
                    raise
            if retry:
                echo(f"local: a worker died; retrying {len(retry)} run(s) in a fresh pool")
                for task, attempt in retry:
                    write_state(task.key, Path(task.cache_root), backend="local", status="pending",
                                attempt=attempt)
            queue.extendleft(reversed(retry))


def make_executor(name: str, *, jobs: int | None = None, progress: bool = False, max_retries: int | None = None,
                  slurm_config: str | Path | None = None, slurm_overrides: dict | None = None,
                  cache_root: Path | None = None) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`), configured; bad settings are a UsageError."""
    if name not in EXECUTORS:
        raise UsageError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    if name != "slurm" and (slurm_config is not None or slurm_overrides):
        flags = ", ".join(sorted(f"--{k.replace('_', '-')}" for k in (slurm_overrides or {})))
        raise UsageError(f"{flags or '--slurm-config'} applies only to --executor slurm")
    if max_retries is not None and max_retries < 0:
        raise UsageError(f"--max-retries must be >= 0, got {max_retries}")
    if name == "serial":
        return SerialExecutor(progress)
    if name == "local":
        return LocalExecutor(jobs or 1, DEFAULT_MAX_RETRIES if max_retries is None else max_retries)
    from verify.slurm import SlurmExecutor, load_config

    overrides = dict(slurm_overrides or {})
    if max_retries is not None:
        overrides["max_retries"] = max_retries
    if jobs is not None and "array_parallelism" not in overrides:
        overrides["array_parallelism"] = jobs
    return SlurmExecutor(load_config(slurm_config, overrides), cache_root=cache_root)


def run_serial(tasks: list[Task], progress: bool) -> Iterator[Result]:
    return SerialExecutor(progress).run(tasks)


def run_local(tasks: list[Task], jobs: int) -> Iterator[Result]:
    return LocalExecutor(jobs).run(tasks)

"""Executors run the independent runs of a sweep: ``serial`` in this process, ``local`` in a process pool.

Each run writes its own record (atomically) as soon as it finishes, so an interrupted sweep loses at most the
runs in flight, and a rerun computes only what is missing.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Iterator

from verify.claims import RunContext, resolve_run
from verify.records import atomic_write_json, make_record, record_path

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


@dataclass(frozen=True)
class Task:
    key: str
    run: str  # "module:function"
    params: dict
    device: str
    cache_root: str


def execute(task: Task, progress: bool = False) -> dict:
    """Compute one run and write its record; returns the record."""
    fn = resolve_run(task.run)
    t0 = time.perf_counter()
    metrics = fn(dict(task.params), RunContext(device=task.device, progress=progress))
    rec = make_record(task.key, task.run, task.params, task.device, metrics, time.perf_counter() - t0)
    from pathlib import Path

    atomic_write_json(record_path(task.key, Path(task.cache_root)), rec)
    return rec


def threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def _init_worker(threads: int) -> None:
    # Set before numba or torch is imported in this worker, so N workers do not oversubscribe the cores.
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    except (ImportError, RuntimeError):
        pass


def run_serial(tasks: list[Task], progress: bool) -> Iterator[tuple[Task, dict | None, BaseException | None]]:
    for task in tasks:
        try:
            yield task, execute(task, progress), None
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:  # a failing run is reported with its claim, not fatal to the sweep
            yield task, None, err


def run_local(tasks: list[Task], jobs: int) -> Iterator[tuple[Task, dict | None, BaseException | None]]:
    ctx = get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads_per_worker(jobs),)) as pool:
        futures = {pool.submit(execute, t): t for t in tasks}
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    err = fut.exception()
                    yield futures[fut], (None if err else fut.result()), err
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


EXECUTORS = ("serial", "local")

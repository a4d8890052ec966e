"""The ``processes`` executor: local worker processes, one run per worker at a time.

On a small CPU, two single-threaded trainings side by side do more work per second than one
training on both cores (small convolutions do not scale across threads); on a machine with several
GPUs each worker's training takes one GPU (its training slot, :mod:`greenkd_lib.engine.slots`). Workers
are spawned once per process and reused by every grid.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.process
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ...config.run import RunConfig
from ..configs import run_label
from .bar import GridBar
from .base import check_workers, default_workers, describe_error, Executor, Failure, Grid, GridReport

__all__ = ["ProcessExecutor", "spawn_problem", "check_spawnable"]

_POOLS: dict[tuple[int, int], ProcessPoolExecutor] = {}
_WORKER_DIED = ("a worker process died (killed, or out of memory), which stops every run the pool was "
                "training; it resumes from its last checkpoint when the grid runs again")


def spawn_problem() -> str | None:
    """Why spawned workers could not start in this process (None: they can).

    A spawned worker first re-runs the parent's main script by its path, as ``multiprocessing.spawn``
    does. A script read from standard input (``python - <<EOF``) has the path ``<stdin>``, which no
    worker can open: every worker dies at start, which would read as "killed, or out of memory".
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(getattr(main, "__spec__", None), "name", None) is not None:
        return None  # run as a module (python -m ...): workers import it by name
    path = getattr(main, "__file__", None)
    if path is None:
        return None  # an interactive session or python -c: workers leave __main__ alone
    if not os.path.isabs(path) and multiprocessing.process.ORIGINAL_DIR is not None:
        path = os.path.join(multiprocessing.process.ORIGINAL_DIR, path)
    if os.path.isfile(path):
        return None
    where = "a script read from standard input (python - <<EOF)" if path.endswith("<stdin>") else \
        f"a main script that is no longer at {path}"
    return (f"worker processes cannot start from {where}: each spawned worker re-runs the main script "
            f"from its file, and there is no file {getattr(main, '__file__')!r}")


def check_spawnable() -> None:
    """``RuntimeError`` naming the problem and the fix when spawned workers could not start."""
    problem = spawn_problem()
    if problem is not None:
        raise RuntimeError(f"the processes executor cannot train here: {problem}. Save the script to a file and "
                           "run it from a file (python my_script.py), or use executor='serial'")


class ProcessExecutor(Executor):
    """``workers`` local processes (None: one per GPU, or 2 on a CPU with at least 2 cores)."""

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = None if workers is None else check_workers(workers)
        check_spawnable()  # refused before any run starts, not reported as workers that died

    def _train(self, ordered: list[list[RunConfig]], grid: Grid, report: GridReport) -> None:
        workers = self.workers or default_workers(grid.device)
        for stage in ordered:
            runnable = []
            for cfg in stage:
                blocked = self._blocked(cfg, grid, report)
                if blocked is None:
                    runnable.append(cfg)
                else:
                    report.failed.append(blocked)
            if workers == 1 or len(runnable) == 1:  # no worker to start: train here, with its own bar
                from .serial import SerialExecutor

                SerialExecutor()._train([runnable], grid, report)
            elif runnable:
                self._in_workers(runnable, workers, grid, report)

    def _in_workers(self, queue: list[RunConfig], workers: int, grid: Grid, report: GridReport) -> None:
        bar = GridBar(grid, queue, f"{workers} processes")
        pool = _pool(workers)
        running: dict[Future, RunConfig] = {}
        queue = list(queue)
        try:
            while queue or running:
                while queue and len(running) < workers:
                    cfg = queue.pop(0)
                    running[pool.submit(_train_one, cfg, str(grid.store.root), grid.data_root, grid.device)] = cfg
                bar.show(running.values())
                done, _ = wait(running, timeout=2.0, return_when=FIRST_COMPLETED)
                for future in done:
                    cfg = running.pop(future)
                    try:
                        future.result()
                    except BrokenProcessPool:
                        report.failed.append(Failure(run_label(cfg), grid.hash(cfg), _WORKER_DIED))
                    except Exception as err:  # noqa: BLE001 - reported; the other runs go on
                        report.failed.append(Failure(run_label(cfg), grid.hash(cfg), describe_error(err)))
                    else:
                        report.trained.append(run_label(cfg))
                    bar.finished(cfg)
                if _pool_broken(pool):  # every run it held failed above; the queue goes on in a new pool
                    _terminate(pool)
                    pool = _pool(workers)
        except BaseException:  # Ctrl-C or a kernel interrupt: stop the workers; their runs resume later
            _terminate(pool)
            raise
        finally:
            bar.close()


def _pool_broken(pool: ProcessPoolExecutor) -> bool:
    return bool(getattr(pool, "_broken", False))


def _siblings() -> list:
    import psutil

    me = os.getpid()
    return [p for p in psutil.Process(os.getppid()).children() if p.pid != me]


def _init_worker(threads: int) -> None:
    import signal

    import torch

    from ...carbon import set_sibling_processes

    # Ctrl-C (a kernel interrupt or shutdown signals the whole process group) is the parent's to
    # handle: it terminates the workers, whose runs resume from their last checkpoint.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    # The other workers of this pool are greenkd's own choice, not a disturbance (carbon/attribution.py).
    set_sibling_processes(_siblings)


def _pool(workers: int) -> ProcessPoolExecutor:
    threads = max(1, (os.cpu_count() or 1) // workers)
    key = (workers, threads)
    if key not in _POOLS:
        check_spawnable()
        # spawn, not fork: a forked child of a process that already ran torch ops can deadlock.
        _POOLS[key] = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                          initializer=_init_worker, initargs=(threads,))
    return _POOLS[key]


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool``'s workers now (their current runs resume from their last checkpoint)."""
    for key, known in list(_POOLS.items()):
        if known is pool:
            del _POOLS[key]
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def _shutdown() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


def _train_one(cfg: RunConfig, store_root: str, data_root: str | None, device: str | None) -> str:
    from ...runs import RunStore
    from ..train import get_or_run

    get_or_run(cfg, store=RunStore(store_root), data_root=data_root, device=device, progress=False)
    return run_label(cfg)

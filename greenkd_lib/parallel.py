"""Train several independent runs at once in worker processes (one run per worker at a time).

On a small CPU, two single-threaded trainings side by side do more work per second than one
training on both cores (small convolutions do not scale across threads); on one GPU a single
worker keeps the device busy. Teachers are trained before their students; the run store's lock
still guarantees that a run asked for twice is trained once.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterable

import torch

from .config import RunConfig
from .runs import RunStore
from .train import short_label

__all__ = ["default_workers", "check_workers", "train_all"]

_POOLS: dict[tuple[int, int], ProcessPoolExecutor] = {}


def default_workers(device: str | torch.device | None = None) -> int:
    """2 on a CPU with at least 2 cores (measured faster than one 2-thread training); else 1."""
    from .devices import pick_device

    if pick_device(device).type != "cpu":
        return 1
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def check_workers(workers: object) -> int:
    """``workers`` as an int >= 1, or a clear error."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1 (trainings run at once), got {workers!r}; "
                         "use 1 to train one run after another")
    return workers


def _siblings() -> list:
    import psutil

    me = os.getpid()
    return [p for p in psutil.Process(os.getppid()).children() if p.pid != me]


def _init_worker(threads: int) -> None:
    import signal

    from .carbon import set_sibling_processes

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
    from .train import get_or_run

    get_or_run(cfg, store=RunStore(store_root), data_root=data_root, device=device, progress=False)
    return cfg.label


def _missing(configs: Iterable[RunConfig], store: RunStore) -> list[RunConfig]:
    runs = {}
    for cfg in configs:
        run = store.run(cfg.to_dict())
        runs[run.hash] = (run, cfg)
    return [cfg for run, cfg in runs.values() if run.result() is None]


def train_all(configs: Iterable[RunConfig], store: RunStore, *, workers: int, data_root: str | Path | None = None,
              device: str | torch.device | None = None, progress: bool = True) -> int:
    """Train every run of ``configs`` the store lacks, ``workers`` at a time; return how many were trained.

    Teachers come first (a student needs its teacher's weights); a single one trains in this
    process. With ``workers=1`` or a single missing run nothing is started here: the caller trains
    in its own process.
    """
    configs = list(configs)
    workers = check_workers(workers)
    missing = _missing(configs, store)
    if workers == 1 or len(missing) <= 1:
        return 0
    teachers = _missing([c.teacher for c in missing if c.teacher is not None], store)
    trained = train_all(teachers, store, workers=workers, data_root=data_root, device=device, progress=progress)
    if len(teachers) == 1:  # in this process, before its students (a training slot sets its threads)
        from .train import get_or_run

        get_or_run(teachers[0], store=store, data_root=data_root, device=device, progress=progress)
        trained += 1
    missing = _missing(missing, store)
    if len(missing) <= 1:
        return trained
    bar = _bar(len(missing), workers, progress)
    pool = _pool(workers)
    root = str(store.root)
    data = None if data_root is None else str(data_root)
    dev = None if device is None else str(device)
    running: dict[Future, str] = {}
    queue = list(missing)
    try:
        while queue or running:
            while queue and len(running) < workers:
                cfg = queue.pop(0)
                running[pool.submit(_train_one, cfg, root, data, dev)] = cfg.label
            bar.set_postfix_str("; ".join(short_label(label, 28) for label in running.values()), refresh=True)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                future.result()  # a failed training raises here, with its own message
                trained += 1
                bar.update(1)
    except KeyboardInterrupt:
        _terminate(pool)
        raise
    except BrokenProcessPool as exc:
        _terminate(pool)  # a new pool next time
        raise RuntimeError("a training worker process died (killed, or out of memory); the runs it had "
                           "resume from their last checkpoint when asked for again; use Lab(workers=1) "
                           "to train in this process and see its error") from exc
    except BaseException:
        for future in running:
            future.cancel()
        raise
    finally:
        bar.close()
    return trained


def _bar(total: int, workers: int, enabled: bool):
    """The grid's progress bar (one step per finished run; a no-op bar when not ``enabled``)."""
    from tqdm.auto import tqdm

    # tqdm.auto: a widget in a notebook, text in a terminal; the postfix names the running runs.
    return tqdm(total=total, desc=f"{total} runs, {workers} at a time", unit="run", mininterval=2.0, leave=True,
                disable=not enabled)

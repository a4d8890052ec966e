"""How ``greenkd reproduce`` runs its notebooks: ``jobs`` side by side, and the timing part of those
that time something with nothing beside it.

A notebook whose metadata gives ``greenkd.runs_alone`` (the reason: it times latency) runs like any
other until its first code cell tagged ``quiet`` (from its first cell if none is): there it gives its
seat up and waits until every other notebook of the batch has finished or waits too. The waiting
notebooks then run the rest of their cells one at a time, in the batch's order, with the machine to
themselves. So their trainings, quantizing and compiling share the machine with the rest of the
batch, and only their timing does not.

Kernels side by side compute with the cores shared out among them (``OMP_NUM_THREADS``): a kernel's
own work (gradients, Grad-CAM, compiling) spin-waits when oversubscribed, measured 10x slower at a
load of 3. The kernel of a notebook that runs alone keeps the caller's setting, so that it times on
every core, as in JupyterLab. Trainings are unaffected: each sets its slot's thread count (slots.py).
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Protocol, Sequence, TypeVar

__all__ = ["QUIET_TAG", "ENGINE", "BatchAborted", "Seats", "run_batch", "kernel_threads", "kernel_manager_class",
           "register_engine"]

QUIET_TAG = "quiet"
ENGINE = "greenkd-batch"

R = TypeVar("R")


class BatchAborted(RuntimeError):
    """The batch stopped (Ctrl-C, or an error outside the notebooks) while this notebook waited."""


class _Job(Protocol):
    index: int
    alone: str | None


class Seats:
    """``jobs`` notebooks at once, started in ``order``; a notebook's quiet part runs once every other
    notebook has finished or waits for its own, one quiet part at a time, in ``order``."""

    def __init__(self, order: Sequence[int], jobs: int) -> None:
        self._order = list(order)
        self._rank = {index: rank for rank, index in enumerate(self._order)}
        self._queue = list(self._order)  # not started yet
        self._jobs = jobs
        self._seated: set[int] = set()
        self._waiting: set[int] = set()
        self._quiet: int | None = None
        self._aborted = False
        self._cond = threading.Condition()

    def take(self, index: int) -> None:
        """Block until it is ``index``'s turn to start and a seat is free; then hold that seat."""
        with self._cond:
            self._wait(lambda: self._queue[0] == index and len(self._seated) < self._jobs and self._quiet is None)
            self._queue.pop(0)
            self._seated.add(index)
            self._cond.notify_all()  # the next in the queue may start too

    def hush(self, index: int) -> None:
        """Give the seat up; block until nothing else runs and ``index`` is the first waiting; then
        hold the machine alone until :meth:`leave`."""
        with self._cond:
            self._seated.discard(index)
            self._waiting.add(index)
            self._cond.notify_all()
            self._wait(lambda: not self._queue and not self._seated and self._quiet is None
                       and index == min(self._waiting, key=self._rank.__getitem__))
            self._waiting.discard(index)
            self._quiet = index

    def leave(self, index: int) -> None:
        """``index`` finished (or failed): its seat, or the machine, is free."""
        with self._cond:
            self._seated.discard(index)
            self._waiting.discard(index)
            if self._quiet == index:
                self._quiet = None
            self._cond.notify_all()

    def abort(self) -> None:
        """Wake every waiting notebook with :class:`BatchAborted`; none starts after this."""
        with self._cond:
            self._aborted = True
            self._cond.notify_all()

    def _wait(self, ready: Callable[[], bool]) -> None:
        while True:
            if self._aborted:
                raise BatchAborted("the batch stopped before this notebook's turn")
            if ready():
                return
            self._cond.wait()


def run_batch(plan: Sequence[_Job], jobs: int, run_one: Callable[[Any, Callable[[], None] | None], R]) -> list[R]:
    """``run_one(job, hush)`` for every job of ``plan``, ``jobs`` at a time; the results in the plan's order.

    ``hush`` is None for a job without ``alone``; otherwise ``run_one`` calls it where the job's
    quiet part begins (the batch engine does, at the cell tagged ``quiet``). Jobs that run alone
    start after the others (the runs they read are trained by then, or being trained)."""
    seats = Seats([job.index for job in sorted(plan, key=lambda job: job.alone is not None)], jobs)

    def one(job) -> R:
        try:
            seats.take(job.index)
            return run_one(job, (lambda: seats.hush(job.index)) if job.alone else None)
        finally:
            seats.leave(job.index)

    # Threads suffice: each notebook runs in its own kernel process; most of them wait for a seat.
    with ThreadPoolExecutor(max_workers=max(1, len(plan)), thread_name_prefix="greenkd-nb") as pool:
        futures = {job.index: pool.submit(one, job) for job in plan}
        try:
            done = {index: future.result() for index, future in futures.items()}
        except BaseException:
            seats.abort()
            raise
    return [done[job.index] for job in plan]


def kernel_threads(jobs: int, alone: bool) -> int | None:
    """The thread count of a notebook's kernel: the cores shared out among ``jobs`` kernels side by
    side; None (the caller's setting) for one alone or for a batch of one at a time."""
    if alone or jobs <= 1:
        return None
    return max(1, (os.cpu_count() or 1) // jobs)


@functools.cache
def kernel_manager_class(threads: int | None, env: tuple[tuple[str, str], ...] = ()):
    """A Jupyter kernel manager whose kernels compute on ``threads`` threads (None: as the caller's
    environment says) and get ``env``'s variables too; given per kernel, so that kernels started at the
    same time by several threads of this process never see each other's setting.

    Its shutdown sends no interrupt first. jupyter_client's does (SIGINT, then the shutdown request):
    a kernel that is still finishing its last message when the SIGINT comes logged
    ``[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.`` to the batch's terminal after a
    notebook that succeeded. The batch shuts a kernel down only once its cells are done (a failed cell
    stops the rest), so there is nothing to interrupt; a kernel still busy gets the shutdown request,
    then SIGTERM and SIGKILL as before."""
    from jupyter_client import AsyncKernelManager

    overrides = dict(env)
    if threads is not None:
        overrides.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})

    class _BatchKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            if overrides:
                kw["env"] = {**kw.get("env", os.environ), **overrides}
            await super().start_kernel(**kw)

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # set by the shutdown before it interrupts
                return
            await super()._async_interrupt_kernel()

    return _BatchKernelManager


@functools.cache
def register_engine() -> str:
    """Register the batch's papermill engine (nbclient's, calling ``before_quiet`` at the quiet
    part's first cell), once; its name, for ``papermill.execute_notebook(engine_name=...)``."""
    from papermill.engines import NBClientEngine, papermill_engines

    class _BatchEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, before_quiet=None, **kwargs):
            if before_quiet is not None:
                _call_before_quiet_part(nb_man, before_quiet)
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(ENGINE, _BatchEngine)
    return ENGINE


def _call_before_quiet_part(nb_man, before_quiet: Callable[[], None]) -> None:
    """Make ``nb_man`` call ``before_quiet()`` before the first code cell tagged ``quiet`` (the first
    cell if none is) starts; the wait is not counted in that cell's recorded time."""
    cells = nb_man.nb.cells
    tagged = [i for i, cell in enumerate(cells)
              if cell.cell_type == "code" and QUIET_TAG in cell.get("metadata", {}).get("tags", [])]
    first = tagged[0] if tagged else 0
    start = nb_man.cell_start

    def cell_start(cell, cell_index=None, **kwargs):
        if cell_index == first:
            before_quiet()
        return start(cell, cell_index, **kwargs)

    nb_man.cell_start = cell_start

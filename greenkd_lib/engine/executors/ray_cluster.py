"""The ``ray`` executor: each run is a Ray task, on a local Ray (the default) or an existing cluster.

Ray schedules: every task asks for the resources of one training (one GPU where the runs train on
GPUs, else the CPU threads of one training slot), and a student's task takes its teacher's task as
an argument, so Ray starts it once the teacher is stored. Runs the store already holds are not
submitted. On a cluster the run store must be one folder every node sees (a shared file system
with working file locks): each task reads its teacher from there and writes its run there, and
the run's lock keeps two tasks from training the same run at once.

Ray is an optional extra: ``pip install -e ".[ray]"``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ...config.run import RunConfig
from ..configs import run_label
from .bar import GridBar
from .base import describe_error, Executor, Failure, Grid, GridReport

__all__ = ["RayExecutor", "ray_module"]

_TASK: Any = None


def ray_module():
    """``import ray``, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError('executor="ray" needs Ray: install the extra with `pip install -e ".[ray]"` '
                          '(or `pip install "ray>=2.9,<3"`), or use executor="processes" on one machine') from None
    return ray


class RayExecutor(Executor):
    """Runs as Ray tasks. ``address`` None: the Ray this process already joined, else the cluster that
    ``$RAY_ADDRESS`` names, else a local Ray on this machine's cores (started on first use); or a
    cluster's address ("auto", "ray://head:10001").
    ``retries``: times Ray resubmits a run whose worker or node died (its checkpoint resumes it)."""

    name = "ray"

    def __init__(self, address: str | None = None, retries: int = 1) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(f"ray_address must be a Ray address such as 'auto' or 'ray://head:10001', or None "
                             f"for a local Ray, got {address!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a whole number >= 0 (resubmissions of a run whose worker died), "
                             f"got {retries!r}")
        self.address = address
        self.retries = retries

    def connect(self):
        """Ray, joined to this executor's cluster (a local one started when there is no address)."""
        ray = ray_module()
        if not ray.is_initialized():
            options = dict(log_to_driver=False, logging_level=logging.WARNING, include_dashboard=False)
            if self.address is None and not os.environ.get("RAY_ADDRESS"):
                ray.init(num_cpus=os.cpu_count() or 1, **options)
            elif self.address is None:  # ray.init joins the cluster that $RAY_ADDRESS names
                ray.init(**options)
            else:
                ray.init(address=self.address, **options)
        return ray

    def _train(self, ordered: list[list[RunConfig]], grid: Grid, report: GridReport) -> None:
        ray = self.connect()
        task = _task(ray)
        resources = _resources(grid.device)
        submitted: dict[str, Any] = {}
        pending: dict[Any, RunConfig] = {}
        for stage in ordered:
            for cfg in stage:
                teacher = grid.hash(cfg.teacher) if cfg.teacher is not None else None
                # The teacher's task as an argument: Ray starts this task once the teacher is stored.
                after = [submitted[teacher]] if teacher in submitted else []
                ref = task.options(name=f"train {run_label(cfg)}", max_retries=self.retries, **resources).remote(
                    cfg, str(grid.store.root), grid.data_root, grid.device, *after)
                submitted[grid.hash(cfg)] = ref
                pending[ref] = cfg
        bar = GridBar(grid, pending.values(), "ray")
        try:
            while pending:
                bar.show(pending.values())
                done, _ = ray.wait(list(pending), num_returns=1, timeout=2.0)
                for ref in done:
                    cfg = pending.pop(ref)
                    failure = self._outcome(ray, ref, cfg, grid, report)
                    if failure is None:
                        report.trained.append(run_label(cfg))
                    else:
                        report.failed.append(failure)
                    bar.finished(cfg)
        except BaseException:  # Ctrl-C or a kernel interrupt: stop the tasks; their runs resume later
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            bar.close()

    def _outcome(self, ray, ref, cfg: RunConfig, grid: Grid, report: GridReport) -> Failure | None:
        try:
            ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            blocked = self._blocked(cfg, grid, report)
            return blocked or Failure(run_label(cfg), grid.hash(cfg), describe_error(getattr(err, "cause", None) or err))
        except ray.exceptions.RayError as err:  # its worker or node died (after the retries), or it was cancelled
            return Failure(run_label(cfg), grid.hash(cfg), f"{describe_error(err)} (the run resumes from its last "
                                                      "checkpoint when the grid runs again)")
        return None


def _resources(device: str | None) -> dict[str, float]:
    """One training's resources: a GPU where runs train on GPUs, else one training slot's CPU threads."""
    from ...devices import pick_device
    from ..slots import training_threads

    if pick_device(device).type == "cuda":
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_cpus": training_threads(device)}


def _task(ray):
    global _TASK
    if _TASK is None:
        _TASK = ray.remote(_train_run)
    return _TASK


def _train_run(cfg: RunConfig, store_root: str, data_root: str | None, device: str | None, *teachers: str) -> str:
    """A Ray task: train one run into the store (``teachers``: the finished teacher tasks it waited for)."""
    from .processes import _train_one

    return _train_one(cfg, store_root, data_root, device)

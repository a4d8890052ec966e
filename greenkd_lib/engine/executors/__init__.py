"""How a grid's runs are trained: ``serial``, ``processes`` or ``ray``, chosen by name.

Every run is named by its config and kept by the run store, so the runs of a grid (a tau grid,
several seeds) are independent once their teacher exists. An executor trains those the store
lacks, teachers first, and returns a :class:`GridReport`; a failed run is reported with its reason
while the others finish, and a re-run trains only what is still missing.

``Lab(executor=...)`` and the notebooks' ``executor`` parameter take a name (``"serial"``,
``"processes"``, ``"ray"``), an :class:`Executor`, or None: ``processes`` where this machine runs
trainings side by side (a CPU with at least 2 cores, several GPUs) and worker processes can start
(not from a script read from standard input), else ``serial``.
"""

from __future__ import annotations

import torch

from .base import Executor, Failure, GridError, GridReport, check_workers, default_workers, missing_runs
from .processes import ProcessExecutor, spawn_problem
from .ray_cluster import RayExecutor, ray_module
from .serial import SerialExecutor

__all__ = ["EXECUTORS", "Executor", "SerialExecutor", "ProcessExecutor", "RayExecutor", "GridReport", "GridError",
           "Failure", "make_executor", "default_workers", "check_workers", "missing_runs", "ray_module"]

EXECUTORS: dict[str, type[Executor]] = {cls.name: cls for cls in (SerialExecutor, ProcessExecutor, RayExecutor)}


def make_executor(executor: str | Executor | None = None, *, workers: int | None = None,
                  ray_address: str | None = None, device: str | torch.device | None = None) -> Executor:
    """The executor named by ``executor`` (see the module's docstring), checked before any run starts.

    ``workers``: processes of the ``processes`` executor (None: one per GPU, or 2 on a CPU with at
    least 2 cores); with no executor named, ``workers=1`` means ``serial``. ``ray_address``: the
    cluster of the ``ray`` executor (None: a local Ray).
    """
    if workers is not None:
        check_workers(workers)
    if isinstance(executor, Executor):
        if workers is not None or ray_address is not None:
            raise ValueError("give workers and ray_address to the executor you pass, not beside it")
        return executor
    if executor is None:
        # No worker can start from a script read from standard input: train one run at a time there.
        parallel = (workers or default_workers(device)) > 1 and (workers is not None or spawn_problem() is None)
        executor = "processes" if parallel else "serial"
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; use one of {', '.join(map(repr, EXECUTORS))} "
                         "(or None: processes where this machine trains runs side by side, else serial)")
    if ray_address is not None and executor != "ray":
        raise ValueError(f"ray_address={ray_address!r} is for executor='ray', not {executor!r}")
    if executor == "serial":
        if workers not in (None, 1):
            raise ValueError(f"the serial executor trains one run at a time; workers={workers} needs "
                             "executor='processes'")
        return SerialExecutor()
    if executor == "processes":
        return ProcessExecutor(workers)
    if workers is not None:
        raise ValueError("Ray runs as many trainings at once as the cluster's resources allow; "
                         "leave workers unset with executor='ray'")
    ray_module()  # not installed: the error says how, before any run starts
    return RayExecutor(ray_address)

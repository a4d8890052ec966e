"""Training a run once and reading it back: :func:`get_or_run`, :func:`train` and :func:`load_model`.

A run trains in the loop of its task (:func:`~greenkd_lib.engine.loops.loop_for`: classification,
data-free or detection), each built on one shared set-up and the epochs' books (checkpoint and
resume, carbon, FLOPs, progress bar, the NaN check) of :mod:`greenkd_lib.engine.epochs`; the method
says what one step trains. Every epoch is checkpointed through the run store, so an interrupted run
resumes where it stopped and repeats exactly the numbers an uninterrupted run would give (CPU, same seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from .. import models, paths
from ..config.run import RunConfig
from ..devices import pick_device
from ..runs import Run, RunStore
from ..runs.recovery import verify_trained_run
from .configs import check_config, run_label
from .emissions import get_or_run_logged
from .inputs import precision_context
from .loops import load_classifier, load_detector, loop_for
from .slots import slot_device, training_slot

__all__ = ["get_or_run", "train", "load_model"]


def load_model(cfg: RunConfig, store: RunStore, weights: str = "best", device: str | torch.device = "cpu",
               num_classes: int | None = None, image_size: int | None = None) -> torch.nn.Module:
    """The trained model of a finished run (``weights``: "best" = best validation epoch, or "final"),
    in eval mode: a detector's (``num_classes``/``image_size`` are then its own), else a classifier's
    (damaged weights re-derived or the run reopened: :func:`~.loops.classification.load_classifier`)."""
    if models.is_detector(cfg.model):
        return load_detector(cfg, store, weights, device)
    return load_classifier(cfg, store, weights, device, num_classes, image_size)


def get_or_run(cfg: RunConfig, *, store: RunStore | None = None, data_root: str | Path | None = None,
               device: str | torch.device | None = None, progress: bool = True,
               lock_timeout: float | None = None, num_workers: int | None = None) -> dict[str, Any]:
    """The result of ``cfg``: read from the store when finished (its files verified), else trained (or
    resumed) now. ``lock_timeout``: seconds to wait for another process training it (None: for ever).
    ``num_workers``: data loader processes (see :func:`train`)."""
    # A config its method cannot take, a device this machine lacks, or a precision it cannot compute
    # in fails here, before the store makes the run's directory.
    check_config(cfg)
    precision_context(cfg.precision, pick_device(device))
    store = store or RunStore(paths.runs_root())
    if cfg.teacher is not None:
        get_or_run(cfg.teacher, store=store, data_root=data_root, device=device, progress=progress,
                   lock_timeout=lock_timeout, num_workers=num_workers)

    if cfg.shared_grid is not None:  # trained with its grid's other students, on one teacher pass
        from .shared_grid import get_or_run_grid

        return get_or_run_grid(cfg, store=store, data_root=data_root, device=device, progress=progress,
                               lock_timeout=lock_timeout, num_workers=num_workers)

    def train_fn(run: Run) -> Mapping[str, Any]:
        # One of the machine's training slots, at the machine's per-training thread count (slots.py).
        with training_slot(device, what=run_label(cfg)) as slot:
            return train(cfg, run, store=store, data_root=data_root, device=slot_device(device, slot),
                         progress=progress, num_workers=num_workers)

    # A run trained by this call also appends its row to the store's codecarbon emissions.csv (emissions.py).
    return get_or_run_logged(store, cfg.to_dict(), train_fn, country=cfg.carbon.country,
                             verify=verify_trained_run, timeout=lock_timeout)


def train(cfg: RunConfig, run: Run, *, store: RunStore, data_root: str | Path | None = None,
          device: str | torch.device | None = None, progress: bool = True,
          num_workers: int | None = None) -> dict[str, Any]:
    """Train (or resume) the run named by ``cfg`` in its task's loop; return its result (the store writes it).

    ``num_workers``: processes that decode image folders and feed a split that cannot be held on the
    device (None: the ``num_workers`` of the profile named in ``cfg``, 0 for a custom one).
    """
    if cfg.shared_grid is not None:
        raise ValueError(f"{run_label(cfg)} is a member of a shared grid: it trains with its grid, through get_or_run "
                         "(greenkd_lib.engine.shared_grid.get_or_run_grid)")
    return loop_for(cfg).train(run, store=store, data_root=data_root, device=device, progress=progress,
                               num_workers=num_workers)

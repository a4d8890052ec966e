"""The epochs of a training, for every loop (classification, data-free, detection): losses kept on the
device, the carbon meter and energy tally, each epoch's cost and history row, checkpoints and resuming.

A loop trains its batches its own way; what it measures at each batch and epoch end is measured here
once, and written to the run's record (:mod:`.record`), so that every run store entry (history,
checkpoint, footprint, FLOPs) has the same meaning.
"""

from __future__ import annotations

import random
import shutil
import warnings
from typing import Any, Mapping

import numpy as np
import torch

from ..carbon import CarbonMeter, Footprint, training_flops
from ..config.run import RunConfig
from ..methods import DistillationMethod
from ..methods.kd import sum_terms
from ..runs import Run
from ..runs.integrity import misfit, safe_torch_load, torch_bytes
from ..runs.recovery import best_weights_usable
from .configs import run_label
from .record import RunRecord, tau_columns
from .tally import EnergyTally, lost_since

__all__ = ["TrainingDivergedError", "SYNC_EVERY", "EpochLosses", "MeteredEpochs", "resume_state", "checkpoint_epoch",
           "tau_columns", "progress_bar", "short_label"]

# How many batches run between host syncs (loss finiteness check, progress bar): on a GPU a
# sync every batch would stall the queue.
SYNC_EVERY = 20


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class EpochLosses:
    """An epoch's summed loss and named terms, kept on the device: reading them back (a host sync) every
    batch would stall a GPU's queue, so :meth:`check_finite` runs every ``SYNC_EVERY`` batches."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.losses: list[torch.Tensor] = []
        self.terms: dict[str, list[torch.Tensor]] = {}
        self.seen = 0

    def __len__(self) -> int:
        return len(self.losses)

    def add(self, terms: Mapping[str, torch.Tensor], like: torch.Tensor) -> None:
        """One batch's (detached) terms; ``like``: its inputs (batch size and device)."""
        n = len(like)
        self.losses.append(sum_terms(dict(terms), like=like) * n)
        for name, value in terms.items():
            self.terms.setdefault(name, []).append(value * n)
        self.seen += n

    def check_finite(self) -> None:
        """Raise ``TrainingDivergedError`` naming the first batch whose loss is NaN or infinite."""
        _check_finite(self.losses, self.epoch)

    def totals(self) -> tuple[float, dict[str, float], int]:
        """The summed loss, each term's sum (over samples), and the samples seen."""
        self.check_finite()
        total = float(torch.stack(self.losses).sum()) if self.losses else 0.0
        return total, {name: float(torch.stack(v).sum()) for name, v in self.terms.items()}, self.seen


class MeteredEpochs:
    """A training's carbon meter, energy tally and progress bar, and the end of each of its epochs.

    ``with MeteredEpochs(...) as epochs:`` starts the meter (and stops it, and closes the bar, however
    the loop ends); :meth:`end` measures, counts and checkpoints an epoch; :meth:`finish` stores the
    final weights once every epoch is done.  ``meter``: another meter to read (a shared grid's student: its
    share of the grid's meter, which the grid starts and stops).
    """

    def __init__(self, cfg: RunConfig, run: Run, record: RunRecord, lost: Footprint | None, *,
                 steps_per_epoch: int, progress: bool, student_flops: int, flops_per_sample: int,
                 eval_samples_per_epoch: int, meter: CarbonMeter | None = None) -> None:
        self.run, self.record = run, record
        self.prior = record.footprint  # what earlier parts of an interrupted run cost
        self.student_flops, self.flops_per_sample = student_flops, flops_per_sample
        self.eval_samples_per_epoch = eval_samples_per_epoch
        self.carried = lost if lost is not None else Footprint.zero(cfg.carbon.carbon_intensity)
        # A shared grid's student (loops/lockstep.py) is charged its share of the grid's meter instead.
        self.meter = meter if meter is not None else CarbonMeter(country_iso_code=cfg.carbon.country,
                                                                 carbon_intensity=cfg.carbon.carbon_intensity)
        self.bar = progress_bar(cfg, steps_per_epoch, record.epoch, enabled=progress)
        self.tally: EnergyTally | None = None

    def __enter__(self) -> "MeteredEpochs":
        self.meter.start()
        self.tally = EnergyTally(self.run.dir, self.meter, self.record.epoch, carried=self.carried)
        return self

    def __exit__(self, *exc: object) -> None:
        self.meter.stop()
        self.bar.close()

    def tick(self) -> None:
        """After every batch: the energy tally's note of work a killed process would lose."""
        self.tally.tick()

    def end(self, epoch: int, totals: tuple[float, Mapping[str, float], int], *, val: float, test: float,
            lr: float, taus: list[float], model, optimizer, scheduler, method: DistillationMethod,
            extra_flops: int = 0, extra_columns: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Measure, count and checkpoint epoch ``epoch`` (0-based); its history row.

        ``totals``: :meth:`EpochLosses.totals` of the epoch; ``extra_flops``: cumulative work outside
        the student's passes (a synthesizer's generator and teacher passes); ``extra_columns``: a
        method's own history columns.
        """
        reading = self.meter.read()
        footprint = self.prior + reading
        samples_seen, eval_samples = self.record.count(totals[2], self.eval_samples_per_epoch)
        # The evaluated model is the student: one forward per evaluated sample.
        flops = training_flops(self.student_flops, samples_seen, eval_samples=eval_samples,
                               train_per_sample=self.flops_per_sample) + extra_flops
        row = self.record.row(epoch, totals, val=val, test=test, lr=lr, taus=taus, footprint=footprint, flops=flops,
                              extra_columns=extra_columns)
        checkpoint_epoch(self.run, self.record, row, footprint, model, optimizer, scheduler, method)
        self.tally.checkpointed(epoch + 1, reading)
        return row

    def finish(self, model) -> None:
        """Every epoch done: store the final weights and drop the energy tally's note."""
        self.run.save_weights(model.state_dict(), "final")
        self.tally.remove()


def resume_state(cfg: RunConfig, run: Run, model, optimizer, scheduler, method: DistillationMethod
                 ) -> tuple[RunRecord, Footprint | None]:
    """A run's record at its last usable checkpoint, with ``model``, ``optimizer``, ``scheduler``,
    ``method`` and the global RNGs loaded from it (a fresh record if none), and the footprint of work
    a killed process did after that checkpoint (added to the record's footprint; None if none)."""
    record = _resumed(cfg, run, model, optimizer, scheduler, method) or RunRecord.fresh(cfg)
    # What a killed process spent after the checkpoint resumed from: done again now, so counted too.
    lost = lost_since(run.dir, record.epoch)
    if lost is not None and not lost.is_empty:
        record.add_lost(lost)
    return record, lost


# What loading another run's checkpoint raises: tensors, keys or parameter groups that do not match.
_MISFITS = (RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError)


def _resumed(cfg: RunConfig, run: Run, model, optimizer, scheduler, method: DistillationMethod) -> RunRecord | None:
    """The record of the newest checkpoint that loads, everything loaded from it (None: start from scratch).

    A checkpoint that passed its checksum but does not fit this run (another run's file) is moved
    aside with a warning and the one before it is tried; when none fits, the run starts over.
    """
    ckpt = run.load_checkpoint()  # also removes temporary files of writes killed mid-way
    if ckpt is None:
        return None
    # A failed load leaves the model half-overwritten: keep what starting from scratch needs.
    fresh = torch_bytes(_checkpoint(model, optimizer, scheduler, method, {}))
    while ckpt is not None:
        try:
            _load(ckpt, model, optimizer, scheduler, method)
            record = RunRecord.restored(ckpt["state"])
        except _MISFITS as exc:
            ckpt = _set_aside_misfit(cfg, run, exc)
            continue
        if best_weights_usable(run, ckpt["state"], ckpt):
            run.write_history(record.history)  # the checkpoint's history is the one that counts
            return record
        shutil.rmtree(run.checkpoint_dir, ignore_errors=True)  # restart: old epochs must not look newest
        break
    else:
        warnings.warn(f"run {run.hash} ({run_label(cfg)}): no checkpoint fits its model: training it from the start "
                      "(the checkpoints that did not fit are kept aside as *.corrupt)", stacklevel=4)
    _load(safe_torch_load(fresh, run.checkpoint_dir), model, optimizer, scheduler, method)
    return None


def _set_aside_misfit(cfg: RunConfig, run: Run, exc: BaseException) -> dict | None:
    """Move aside the newest checkpoint, which did not load (``exc``); the next newest, or None."""
    path = run.checkpoints()[-1][1]  # the one just loaded: newer unusable ones were moved aside already
    moved = run.move_aside(path)
    older = run.load_checkpoint()
    warnings.warn(f"run {run.hash} ({run_label(cfg)}): checkpoint {path} passed its checksum but does not fit this "
                  f"run ({misfit(exc)}): another run's file? Moved it aside to {moved.name}; "
                  + (f"resuming from an older checkpoint (epoch {older['epoch']})" if older is not None
                     else "no older checkpoint is left"), stacklevel=5)
    return older


def _load(ckpt: Mapping[str, Any], model, optimizer, scheduler, method: DistillationMethod) -> None:
    """Load a checkpoint's model, optimizer, schedule, method and global RNGs."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    # Checkpoints from before methods were plug-ins hold the policy alone.
    method.load_state_dict(ckpt["method"] if "method" in ckpt else {"policy": ckpt["policy"]})
    _restore_rng(ckpt)


def checkpoint_epoch(run: Run, record: RunRecord, row: dict[str, Any], footprint: Footprint, model, optimizer,
                     scheduler, method: DistillationMethod) -> None:
    """End an epoch: add its history ``row``, keep the best-validation weights, checkpoint everything."""
    if record.add_epoch(row, footprint):
        run.save_weights(model.state_dict(), "best")
    run.save_checkpoint(_checkpoint(model, optimizer, scheduler, method, record.saved()), row["epoch"])
    run.write_history(record.history)


def _checkpoint(model, optimizer, scheduler, method: DistillationMethod, saved: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "method": method.state_dict(),  # its policy, heads, memory bank, peer network, RNG...
        **_rng_states(),
        "state": saved,
    }


def _rng_states() -> dict[str, Any]:
    """The global RNGs' states as tensors and plain values, which ``torch.load(weights_only=True)`` takes."""
    numpy_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    return {
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": {**numpy_state, "state": {**numpy_state["state"],
                                                "key": torch.from_numpy(numpy_state["state"]["key"].copy())}},
        "python_rng": [version, list(internal), gauss],
    }


def _restore_rng(ckpt: Mapping[str, Any]) -> None:
    """Set the global RNGs from :func:`_rng_states`."""
    torch.set_rng_state(ckpt["torch_rng"])
    numpy_state = ckpt["numpy_rng"]
    np.random.set_state({**numpy_state, "state": {**numpy_state["state"],
                                                   "key": numpy_state["state"]["key"].numpy()}})
    version, internal, gauss = ckpt["python_rng"]
    random.setstate((version, tuple(internal), gauss))


def _check_finite(losses: list[torch.Tensor], epoch: int) -> None:
    if not losses:
        return
    finite = torch.isfinite(torch.stack(losses))
    if not bool(finite.all()):
        batch = int((~finite).nonzero()[0])
        raise TrainingDivergedError(
            f"loss is not finite at epoch {epoch + 1}, batch {batch + 1}: lower the learning rate, "
            "check the inputs for NaNs, or check the temperature range"
        )


def progress_bar(cfg: RunConfig, steps_per_epoch: int, start_epoch: int, enabled: bool):
    """The run's progress bar over all its batches (a no-op bar when not ``enabled``)."""
    from tqdm.auto import tqdm

    # tqdm.auto: a widget in a notebook (no stderr block of bar text), plain text in a terminal or a
    # log. A short desc leaves the bar its width; mininterval keeps a log short.
    return tqdm(total=cfg.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch,
                desc=short_label(run_label(cfg)), unit="batch", mininterval=2.0, leave=True, disable=not enabled)


def short_label(label: str, width: int = 40) -> str:
    """``label`` cut to ``width`` characters with an ellipsis: a progress bar's description."""
    return label if len(label) <= width else label[:width - 1].rstrip() + "…"

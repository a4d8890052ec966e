"""What every training loop shares: seeding, device, precision, the optimizer and its schedule, the
method's :class:`~greenkd_lib.methods.Setup`, resume, the metered epochs, one epoch of steps
(:func:`train_epoch`) and the run's record (:mod:`..record`).

A task's loop (classification, data-free, detection) is a :class:`Loop` subclass that overrides the
hooks: where its data, student, teacher and batches come from, how it scores an epoch, and what it
adds to the result. :meth:`Loop.train` calls them in one fixed order, the order of every draw from
the global RNGs, so that a run's numbers depend on its config alone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping

import numpy as np
import torch

from ...config.profiles import checked
from ...config.run import RunConfig
from ...devices import pick_device
from ...methods import DistillationMethod, Setup
from ...runs import Run, RunStore
from ...runs.recovery import check_train_result
from ..configs import run_label
from ..epochs import EpochLosses, MeteredEpochs, resume_state, SYNC_EVERY
from ..inputs import num_workers_for, precision_context

__all__ = ["Loop", "Teacher", "seed_everything", "optimizer_factory", "train_epoch", "finished_run"]

Batches = Callable[[torch.Generator], Iterable[tuple[Any, Any, Any]]]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global RNGs, as a run does before building its model."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _lr_factor(cfg: RunConfig, steps_per_epoch: int):
    """Linear warm-up over ``warmup_epochs`` (per batch), then x gamma at each milestone epoch."""
    warmup_steps = max(1, int(round(cfg.warmup_epochs * steps_per_epoch))) if cfg.warmup_epochs > 0 else 0

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        epoch = step // steps_per_epoch
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)

    return factor


def optimizer_factory(cfg: RunConfig, steps_per_epoch: int):
    """SGD (or AdamW, ``cfg.optimizer``) with the run's recipe and its warm-up/step schedule, for any
    set of parameters."""

    def make(params) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        if cfg.optimizer == "adamw":  # momentum is beta1
            optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.momentum, 0.999),
                                          weight_decay=cfg.weight_decay, foreach=True)
        else:
            optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                                        nesterov=False, foreach=True)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(cfg, steps_per_epoch))

    return make


def train_epoch(cfg: RunConfig, epoch: int, model, method: DistillationMethod, optimizer, scheduler,
                batches: Batches, steps_per_epoch: int, bar, tick: Callable[[], None] | None = None
                ) -> tuple[float, dict[str, float], int]:
    """One epoch of ``method``'s steps: the summed loss, each named term's sum, and the samples seen.

    ``batches(generator)``: the epoch's ``(x, y, index)`` batches on the device, in an order drawn from
    ``generator``. ``tick()``, if given, is called after every batch (the energy tally)."""
    model.train()
    method.new_epoch()
    # The order depends only on (seed, epoch), so a resumed run sees the same batches. On the device
    # path the augmentations are drawn from it too, after the order.
    generator = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    losses = EpochLosses(epoch)
    shown = 0
    for step, (x, y, index) in enumerate(batches(generator)):
        losses.add({name: value.detach() for name, value in method.train_step(x, y, index, optimizer).items()}, x)
        scheduler.step()
        if tick is not None:
            tick()
        if (step + 1) % SYNC_EVERY == 0 or step + 1 == steps_per_epoch:
            losses.check_finite()
            bar.update(len(losses) - shown)
            shown = len(losses)
    return losses.totals()  # raises TrainingDivergedError on a NaN or infinite loss


def finished_run(cfg: RunConfig, store: RunStore) -> tuple[Run, dict[str, Any]]:
    """The stored run of ``cfg`` and its checked result; ``FileNotFoundError`` if it has not finished."""
    run = store.run(cfg.to_dict())
    result = run.result()
    if result is None:
        raise FileNotFoundError(f"run {run.hash} ({run_label(cfg)}) has not finished; train it first with get_or_run")
    check_train_result(run, result)
    return run, result


@dataclass
class Teacher:
    """A run's pre-trained teacher as its loop hands it on: ``frozen`` (inference only; what
    ``Setup.teacher`` gets), its forward FLOPs per image (None: the loop counts them later), the
    width of its features (methods that ask for them) and the eager ``module`` (data-free synthesis)."""

    frozen: torch.nn.Module
    flops: int | None = None
    feature_dim: int | None = None
    module: torch.nn.Module | None = None


class Loop:
    """The training of one run; a task's loop overrides the hooks below (see the module docstring)."""

    score_format: ClassVar[str] = "val {:.1f}%"  # the validation score on the progress bar

    def __init__(self, cfg: RunConfig, method_cls: type[DistillationMethod]) -> None:
        self.cfg, self.method_cls = cfg, method_cls

    # -- hooks ------------------------------------------------------------------------------------
    def load_data(self, data_root: str | Path | None):
        """The run's data bundle: the one split every evaluation of the run sees too."""
        raise NotImplementedError

    def build_student(self, bundle, dev: torch.device) -> torch.nn.Module:
        raise NotImplementedError

    def load_teacher(self, store: RunStore, bundle, dev: torch.device) -> Teacher:
        """``cfg.teacher``'s trained model (only called for a run with a teacher)."""
        raise NotImplementedError

    def steps_per_epoch(self, bundle) -> int:
        steps = math.ceil(len(bundle.train) / self.cfg.batch_size)
        return min(steps, self.cfg.max_batches) if self.cfg.max_batches else steps

    def setup_fields(self, bundle, teacher: Teacher | None) -> dict[str, Any]:
        """``Setup``'s task-specific fields (data-free: the eager teacher, normalisation, augmentation)."""
        return {}

    def inputs(self, bundle, dev: torch.device, workers: int, method: DistillationMethod):
        """Where the run's batches come from: an object with ``train(generator, batch_size, steps)``."""
        raise NotImplementedError

    def count_flops(self, model: torch.nn.Module, teacher: Teacher | None, bundle) -> tuple[int, int]:
        """The student's and the teacher's forward FLOPs per image (0 without a teacher)."""
        raise NotImplementedError

    def batches(self, inputs, method: DistillationMethod, steps: int) -> Batches:
        """An epoch's training batches, given the order's generator."""
        return lambda generator: inputs.train(generator, self.cfg.batch_size, steps)

    def eval_samples_per_epoch(self, bundle) -> int:
        return len(bundle.val) + len(bundle.test)

    def evaluate(self, model: torch.nn.Module, inputs, dev: torch.device) -> tuple[float, float]:
        """The epoch's (validation, test) scores, in percent."""
        raise NotImplementedError

    def epoch_extras(self, method: DistillationMethod) -> tuple[int, Mapping[str, Any] | None]:
        """Cumulative FLOPs outside the student's passes, and the method's own history columns."""
        return 0, None

    def result_fields(self, bundle, method: DistillationMethod) -> dict[str, Any]:
        """The loop's own fields of the result (``RunRecord.result``'s keyword arguments)."""
        return {}

    def test_at_end(self, run: Run, model: torch.nn.Module, inputs, dev: torch.device) -> tuple[float, float] | None:
        """A loop that never reads the test split during training (:meth:`evaluate` gives NaN for it)
        scores it here, once: (test score of the best-validation weights, of the final weights).
        None: the test scores are the epochs' own."""
        return None

    def finished(self, run: Run, method: DistillationMethod) -> None:
        """After the result is built: store what the loop keeps beside the weights."""

    # -- the loop ---------------------------------------------------------------------------------
    def train(self, run: Run, *, store: RunStore, data_root: str | Path | None = None,
              device: str | torch.device | None = None, progress: bool = True,
              num_workers: int | None = None) -> dict[str, Any]:
        """Train (or resume) the run; return its result (the store writes it)."""
        cfg = self.cfg
        dev = pick_device(device)
        amp = precision_context(cfg.precision, dev)  # an unsupported precision fails before any data is read
        workers = num_workers_for(cfg) if num_workers is None else int(checked("num_workers", num_workers))
        bundle = self.load_data(data_root)
        # From here on every step draws from the global RNGs in this order; resume restores them.
        seed_everything(cfg.seed)
        model = self.build_student(bundle, dev)
        teacher = self.load_teacher(store, bundle, dev) if cfg.teacher else None
        steps_per_epoch = self.steps_per_epoch(bundle)
        make_optimizer = optimizer_factory(cfg, steps_per_epoch)
        method = self.method_cls(cfg, Setup(
            student=model, teacher=teacher.frozen if teacher else None,
            teacher_feature_dim=teacher.feature_dim if teacher else None, num_classes=bundle.num_classes,
            image_size=bundle.image_size, train_size=len(bundle.train), device=dev, make_optimizer=make_optimizer,
            **self.setup_fields(bundle, teacher)))
        optimizer, scheduler = make_optimizer([*model.parameters(), *method.trainable()])
        inputs = self.inputs(bundle, dev, workers, method)
        student_flops, teacher_flops = self.count_flops(model, teacher, bundle)
        flops_per_sample = method.train_flops_per_sample(student_flops, teacher_flops)
        batches = self.batches(inputs, method, steps_per_epoch)

        record, lost = resume_state(cfg, run, model, optimizer, scheduler, method)
        with MeteredEpochs(cfg, run, record, lost, steps_per_epoch=steps_per_epoch, progress=progress,
                           student_flops=student_flops, flops_per_sample=flops_per_sample,
                           eval_samples_per_epoch=self.eval_samples_per_epoch(bundle)) as epochs:
            for epoch in range(record.epoch, cfg.epochs):
                with amp():
                    totals = train_epoch(cfg, epoch, model, method, optimizer, scheduler, batches, steps_per_epoch,
                                         epochs.bar, tick=epochs.tick)
                    val, test = self.evaluate(model, inputs, dev)
                lr, taus = optimizer.param_groups[0]["lr"], method.taus
                extra_flops, extra_columns = self.epoch_extras(method)
                row = epochs.end(epoch, totals, val=val, test=test, lr=lr, taus=taus, model=model,
                                 optimizer=optimizer, scheduler=scheduler, method=method,
                                 extra_flops=extra_flops, extra_columns=extra_columns)
                epochs.bar.set_postfix_str(f"loss {row['train_loss']:.3f}, " + self.score_format.format(val),
                                           refresh=False)
        epochs.finish(model)
        with amp():
            tested = self.test_at_end(run, model, inputs, dev)
        if tested is not None:
            record.tested_at_end(*tested)
        result = record.result(cfg, bundle, model, dev, student_flops=student_flops, teacher_flops=teacher_flops,
                               flops_per_sample=flops_per_sample, **self.result_fields(bundle, method))
        self.finished(run, method)
        return result

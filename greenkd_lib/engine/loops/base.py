"""What every training loop shares: seeding, device, precision, the optimizer and its schedule, the
method's :class:`~greenkd_lib.methods.Setup`, resume, the metered epochs, one epoch of steps
(:func:`train_epoch`) and the run's record (:mod:`..record`).

A task's loop (classification, data-free, detection) is a :class:`Loop` subclass that overrides the
hooks: where its data, student, teacher and batches come from, how it scores an epoch, and what it
adds to the result. :meth:`Loop.train` calls them in one fixed order, the order of every draw from
the global RNGs, so that a run's numbers depend on its config alone. Its parts (:meth:`Loop.prepare`,
:class:`EpochSteps`, :meth:`Loop.end_epoch`, :meth:`Loop.conclude`) also drive the students of a shared
grid in lockstep (:mod:`.lockstep`).
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
from ..record import RunRecord
from ..inputs import num_workers_for, precision_context

__all__ = ["Loop", "Teacher", "Prepared", "seed_everything", "global_rng_state", "set_global_rng_state",
           "optimizer_factory", "epoch_generator", "EpochSteps", "train_epoch", "finished_run"]

Batches = Callable[[torch.Generator], Iterable[tuple[Any, Any, Any]]]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global RNGs, as a run does before building its model."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def global_rng_state(dev: torch.device) -> tuple:
    """The global RNGs' states: torch's, NumPy's, Python's and, on CUDA, the device's."""
    cuda = torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None
    return torch.get_rng_state(), np.random.get_state(), random.getstate(), cuda


def set_global_rng_state(state: tuple, dev: torch.device) -> None:
    """Set the global RNGs from :func:`global_rng_state`."""
    torch_state, numpy_state, python_state, cuda_state = state
    torch.set_rng_state(torch_state)
    np.random.set_state(numpy_state)
    random.setstate(python_state)
    if cuda_state is not None:
        torch.cuda.set_rng_state(cuda_state, dev)


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


def epoch_generator(cfg: RunConfig, epoch: int) -> torch.Generator:
    """The generator of epoch ``epoch``'s batch order (and, on the device path, its augmentations)."""
    # The order depends only on (seed, epoch), so a resumed run sees the same batches, and so does
    # every student of a shared grid (lockstep.py).
    return torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)


class EpochSteps:
    """One epoch of one model's steps, a batch at a time: :func:`train_epoch` feeds it an epoch's
    batches; a shared grid (:mod:`.lockstep`) feeds the same batches to one per student.

    ``tick()``, if given, is called after every batch (the energy tally)."""

    def __init__(self, epoch: int, model, method: DistillationMethod, optimizer, scheduler, steps_per_epoch: int,
                 bar, tick: Callable[[], None] | None = None) -> None:
        model.train()
        method.new_epoch()
        self.method, self.optimizer, self.scheduler, self.steps_per_epoch = method, optimizer, scheduler, steps_per_epoch
        self.bar, self.tick = bar, tick
        self.losses = EpochLosses(epoch)
        self.shown = 0

    def step(self, x, y, index) -> None:
        """One optimisation step of the method on the batch."""
        terms = self.method.train_step(x, y, index, self.optimizer)
        self.losses.add({name: value.detach() for name, value in terms.items()}, x)
        self.scheduler.step()
        if self.tick is not None:
            self.tick()
        done = len(self.losses)
        if done % SYNC_EVERY == 0 or done == self.steps_per_epoch:
            self.losses.check_finite()
            self.bar.update(done - self.shown)
            self.shown = done

    def totals(self) -> tuple[float, dict[str, float], int]:
        """The summed loss, each named term's sum, and the samples seen; raises
        ``TrainingDivergedError`` on a NaN or infinite loss."""
        return self.losses.totals()


def train_epoch(cfg: RunConfig, epoch: int, model, method: DistillationMethod, optimizer, scheduler,
                batches: Batches, steps_per_epoch: int, bar, tick: Callable[[], None] | None = None
                ) -> tuple[float, dict[str, float], int]:
    """One epoch of ``method``'s steps: the summed loss, each named term's sum, and the samples seen.

    ``batches(generator)``: the epoch's ``(x, y, index)`` batches on the device, in an order drawn from
    ``generator`` (:func:`epoch_generator`). ``tick()``, if given, is called after every batch (the energy tally)."""
    steps = EpochSteps(epoch, model, method, optimizer, scheduler, steps_per_epoch, bar, tick)
    for x, y, index in batches(epoch_generator(cfg, epoch)):
        steps.step(x, y, index)
    return steps.totals()


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


@dataclass
class Prepared:
    """A run set up to train (:meth:`Loop.prepare`): its model, method, optimizer and schedule loaded from
    its last checkpoint (or fresh), where its batches come from, its FLOPs per image and its record."""

    run: Run
    bundle: Any
    dev: torch.device
    model: torch.nn.Module
    teacher: Teacher | None
    method: DistillationMethod
    optimizer: torch.optim.Optimizer
    scheduler: Any
    inputs: Any
    steps_per_epoch: int
    student_flops: int
    teacher_flops: int
    flops_per_sample: int
    batches: Batches
    record: RunRecord
    lost: Any  # the Footprint of work a killed process did after the checkpoint resumed from, or None
    rng_after_inputs: tuple  # the global RNGs' state once its inputs were built (global_rng_state)


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
    def prepare(self, run: Run, *, store: RunStore, bundle, dev: torch.device, workers: int,
                shared_inputs: "Prepared | None" = None,
                teacher_forward: Callable[[torch.nn.Module], torch.nn.Module] | None = None) -> Prepared:
        """Set the run up to train: seed, build, load its teacher, resume from its last checkpoint.

        ``shared_inputs``: another run's set-up whose batches this run shares (a shared grid's: same seed,
        models and data, so the same draws up to there; its random state after building them is taken
        over, as if this run had built them). ``teacher_forward``: wraps the frozen teacher that the
        method calls (a shared grid's one forward per batch). Every draw from the global RNGs happens
        here in one fixed order.
        """
        cfg = self.cfg
        seed_everything(cfg.seed)
        model = self.build_student(bundle, dev)
        teacher = self.load_teacher(store, bundle, dev) if cfg.teacher else None
        frozen = teacher.frozen if teacher else None
        if frozen is not None and teacher_forward is not None:
            frozen = teacher_forward(frozen)
        steps_per_epoch = self.steps_per_epoch(bundle)
        make_optimizer = optimizer_factory(cfg, steps_per_epoch)
        method = self.method_cls(cfg, Setup(
            student=model, teacher=frozen,
            teacher_feature_dim=teacher.feature_dim if teacher else None, num_classes=bundle.num_classes,
            image_size=bundle.image_size, train_size=len(bundle.train), device=dev, make_optimizer=make_optimizer,
            **self.setup_fields(bundle, teacher)))
        optimizer, scheduler = make_optimizer([*model.parameters(), *method.trainable()])
        if shared_inputs is None:
            inputs = self.inputs(bundle, dev, workers, method)  # a DataLoader that decodes draws a seed
            after_inputs = global_rng_state(dev)
        else:
            inputs, after_inputs = shared_inputs.inputs, shared_inputs.rng_after_inputs
            set_global_rng_state(after_inputs, dev)
        student_flops, teacher_flops = self.count_flops(model, teacher, bundle)
        flops_per_sample = method.train_flops_per_sample(student_flops, teacher_flops)
        batches = self.batches(inputs, method, steps_per_epoch)
        record, lost = resume_state(cfg, run, model, optimizer, scheduler, method)
        return Prepared(run, bundle, dev, model, teacher, method, optimizer, scheduler, inputs, steps_per_epoch,
                        student_flops, teacher_flops, flops_per_sample, batches, record, lost, after_inputs)

    def end_epoch(self, p: Prepared, epochs: MeteredEpochs, epoch: int, totals, val: float, test: float
                  ) -> dict[str, Any]:
        """Measure, count and checkpoint a trained and scored epoch (:meth:`MeteredEpochs.end`); its history row."""
        lr, taus = p.optimizer.param_groups[0]["lr"], p.method.taus
        extra_flops, extra_columns = self.epoch_extras(p.method)
        row = epochs.end(epoch, totals, val=val, test=test, lr=lr, taus=taus, model=p.model, optimizer=p.optimizer,
                         scheduler=p.scheduler, method=p.method, extra_flops=extra_flops, extra_columns=extra_columns)
        epochs.bar.set_postfix_str(f"loss {row['train_loss']:.3f}, " + self.score_format.format(val), refresh=False)
        return row

    def conclude(self, p: Prepared, amp) -> dict[str, Any]:
        """Every epoch done: the loop's end-of-training test, then the run's result."""
        with amp():
            tested = self.test_at_end(p.run, p.model, p.inputs, p.dev)
        if tested is not None:
            p.record.tested_at_end(*tested)
        result = p.record.result(self.cfg, p.bundle, p.model, p.dev, student_flops=p.student_flops,
                                 teacher_flops=p.teacher_flops, flops_per_sample=p.flops_per_sample,
                                 **self.result_fields(p.bundle, p.method))
        self.finished(p.run, p.method)
        return result

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
        p = self.prepare(run, store=store, bundle=bundle, dev=dev, workers=workers)
        with MeteredEpochs(cfg, run, p.record, p.lost, steps_per_epoch=p.steps_per_epoch, progress=progress,
                           student_flops=p.student_flops, flops_per_sample=p.flops_per_sample,
                           eval_samples_per_epoch=self.eval_samples_per_epoch(bundle)) as epochs:
            for epoch in range(p.record.epoch, cfg.epochs):
                with amp():
                    totals = train_epoch(cfg, epoch, p.model, p.method, p.optimizer, p.scheduler, p.batches,
                                         p.steps_per_epoch, epochs.bar, tick=epochs.tick)
                    val, test = self.evaluate(p.model, p.inputs, dev)
                self.end_epoch(p, epochs, epoch, totals, val, test)
        epochs.finish(p.model)
        return self.conclude(p, amp)

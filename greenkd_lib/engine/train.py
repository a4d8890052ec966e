"""One training loop for every registered distillation method (``greenkd_lib.methods``).

The loop keeps what methods share: data, device and schedule, with the epochs' books (checkpoint
and resume, carbon, FLOPs, progress bar, the NaN check) kept by :mod:`greenkd_lib.engine.epochs`; the
method says what one step trains. Every epoch is checkpointed through the run store, so an interrupted run resumes where it stopped and repeats exactly the
numbers an uninterrupted run would give (CPU, same seed).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .. import data as data_mod, models, paths
from ..carbon import to_gflops_millions
from ..config.profiles import checked
from ..config.run import RunConfig
from ..devices import pick_device
from ..methods import DistillationMethod, get_method, Setup
from ..runs import CheckpointCorruptError, Run, RunIntegrityError, RunStore
from ..runs.recovery import check_train_result, verify_trained_run
from .configs import run_label
from .epochs import (checkpoint_epoch, EpochLosses, MeteredEpochs, progress_bar, resume_state, short_label,
                     SYNC_EVERY, tau_columns, TrainingDivergedError)
from .evaluate import predict
from .inputs import Inputs, num_workers_for, precision_context
from .slots import slot_device, training_slot

__all__ = ["TrainingDivergedError", "train", "get_or_run", "load_model", "seed_everything", "optimizer_factory",
           "train_epoch", "progress_bar", "short_label", "SYNTHETIC_ARTIFACT", "resume_state", "tau_columns",
           "checkpoint_epoch"]

SYNTHETIC_ARTIFACT = "synthetic"  # a data-free run's last synthetic images: Run.load_artifact(SYNTHETIC_ARTIFACT)

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


def load_model(cfg: RunConfig, store: RunStore, weights: str = "best", device: str | torch.device = "cpu",
               num_classes: int | None = None, image_size: int | None = None) -> torch.nn.Module:
    """The trained model of a finished run (``weights``: "best" = best validation epoch, or "final").

    Damaged weights are re-derived from the run's checkpoints where they can be; otherwise the run is
    reopened (see :mod:`greenkd_lib.runs.recovery`) and this raises, saying to train it again.
    """
    if models.is_detector(cfg.model):
        from .train_detection import load_detector

        return load_detector(cfg, store, weights, device)
    run = store.run(cfg.to_dict())
    result = run.result()
    if result is None:
        raise FileNotFoundError(f"run {run.hash} ({run_label(cfg)}) has not finished; train it first with get_or_run")
    check_train_result(run, result)
    try:
        state = run.load_weights(weights)
    except (CheckpointCorruptError, FileNotFoundError) as exc:
        if weights not in ("best", "final"):
            raise
        with run.lock():
            if not verify_trained_run(run, result, repair=True, unusable={weights: str(exc)}):
                raise RunIntegrityError(f"{exc}; run {run.hash} ({run_label(cfg)}) was reopened: train it again with "
                                        "get_or_run") from None
        state = run.load_weights(weights)
    info = result["model"]
    model = models.build(cfg.model, num_classes or info["num_classes"], image_size or info["image_size"])
    model.load_state_dict(state)
    return model.to(device).eval()


def get_or_run(cfg: RunConfig, *, store: RunStore | None = None, data_root: str | Path | None = None,
               device: str | torch.device | None = None, progress: bool = True,
               lock_timeout: float | None = None, num_workers: int | None = None) -> dict[str, Any]:
    """The result of ``cfg``: read from the store when finished (its files verified), else trained (or
    resumed) now. ``lock_timeout``: seconds to wait for another process training it (None: for ever).
    ``num_workers``: data loader processes (see :func:`train`)."""
    # A device this machine lacks, or a precision it cannot compute in, fails here, before the store
    # makes the run's directory.
    precision_context(cfg.precision, pick_device(device))
    store = store or RunStore(paths.runs_root())
    if cfg.teacher is not None:
        get_or_run(cfg.teacher, store=store, data_root=data_root, device=device, progress=progress,
                   lock_timeout=lock_timeout, num_workers=num_workers)

    def train_fn(run: Run) -> Mapping[str, Any]:
        # One of the machine's training slots, at the machine's per-training thread count (slots.py).
        with training_slot(device, what=run_label(cfg)) as slot:
            return train(cfg, run, store=store, data_root=data_root, device=slot_device(device, slot),
                         progress=progress, num_workers=num_workers)

    return store.get_or_run(cfg.to_dict(), train_fn, verify=verify_trained_run, timeout=lock_timeout)


# A worker trains a whole tau grid from one teacher: freeze it once per process, not once per run.
_FROZEN: dict[tuple, tuple[torch.nn.Module, int]] = {}


def _teacher(cfg: RunConfig, store: RunStore, dev: torch.device, bundle,
             with_features: bool) -> tuple[torch.nn.Module, int, int | None, torch.nn.Module]:
    """The teacher of ``cfg`` frozen for inference, its forward FLOPs per image, (``with_features``:
    the frozen teacher returns logits and penultimate features) the features' width, and the eager
    teacher (eval, no weight gradients) that data-free synthesis differentiates through."""
    # Loaded on every run, cached or not: building the architecture draws from the global RNG, and a
    # run's random stream (dropout) must not depend on what its worker trained before.
    teacher = load_model(cfg.teacher, store, "best", dev, bundle.num_classes, bundle.image_size)
    teacher.requires_grad_(False)
    dim = models.feature_dim(teacher) if with_features else None
    run = store.run(cfg.teacher.to_dict())
    weights = run.weights_dir / "best.pt"
    stamp = weights.stat().st_mtime_ns if weights.exists() else None  # a re-trained teacher is a new key
    key = (str(store.root.resolve()), run.hash, stamp, str(dev), bundle.num_classes, bundle.image_size, with_features)
    if key not in _FROZEN:
        flops = models.forward_flops(teacher, bundle.image_size)  # counted on the eager model
        teacher = teacher.to(memory_format=torch.channels_last)
        frozen = models.frozen_for_inference(models.WithFeatures(teacher) if with_features else teacher,
                                             bundle.image_size)
        _FROZEN.clear()  # one at a time: a ResNet18 is 45 MB
        _FROZEN[key] = (frozen, flops)
    return (*_FROZEN[key], dim, teacher.eval())


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


def train(cfg: RunConfig, run: Run, *, store: RunStore, data_root: str | Path | None = None,
          device: str | torch.device | None = None, progress: bool = True,
          num_workers: int | None = None) -> dict[str, Any]:
    """Train (or resume) the run named by ``cfg``; return its result (the store writes it).

    ``num_workers``: processes that decode image folders and feed a split that cannot be held on the
    device (None: the ``num_workers`` of the profile named in ``cfg``, 0 for a custom one).
    A detector's run trains in :func:`greenkd_lib.engine.train_detection.train_detector`.
    """
    if models.is_detector(cfg.model):
        from .train_detection import train_detector

        return train_detector(cfg, run, store=store, data_root=data_root, device=device, progress=progress,
                              num_workers=num_workers)
    dev = pick_device(device)
    amp = precision_context(cfg.precision, dev)  # an unsupported precision fails before any data is read
    workers = num_workers_for(cfg) if num_workers is None else int(checked("num_workers", num_workers))
    bundle = data_mod.load_for(cfg, data_root)  # the one split every evaluation of the run sees too
    method_cls = get_method(cfg.method)
    seed_everything(cfg.seed)
    # channels_last: oneDNN's and cuDNN's fast convolution layout (1.11x per KD step here: benchmarks/kd_step.py).
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = models.build(cfg.model, bundle.num_classes, bundle.image_size).to(dev, memory_format=layout)
    teacher, teacher_flops, teacher_dim, teacher_module = (
        _teacher(cfg, store, dev, bundle, method_cls.teacher_features) if cfg.teacher else (None, 0, None, None))
    data_free = method_cls.data_free  # synthesises its own inputs: never reads a training image

    if data_free:
        steps_per_epoch = method_cls.steps_per_epoch(cfg)
        teacher_module = teacher_module.to(memory_format=layout).requires_grad_(False)
    else:
        steps_per_epoch = math.ceil(len(bundle.train) / cfg.batch_size)
        if cfg.max_batches:
            steps_per_epoch = min(steps_per_epoch, cfg.max_batches)
    make_optimizer = optimizer_factory(cfg, steps_per_epoch)
    method = method_cls(cfg, Setup(student=model, teacher=teacher, teacher_feature_dim=teacher_dim,
                                   num_classes=bundle.num_classes,
                                   image_size=bundle.image_size, train_size=len(bundle.train), device=dev,
                                   make_optimizer=make_optimizer,
                                   **(dict(teacher_module=teacher_module, mean=tuple(bundle.mean),
                                           std=tuple(bundle.std), augment=_train_augment(bundle))
                                      if data_free else {})))
    optimizer, scheduler = make_optimizer([*model.parameters(), *method.trainable()])
    inputs = Inputs(bundle, dev, workers, method.needs_indices, layout)

    student_flops = models.forward_flops(model, bundle.image_size)
    flops_per_sample = method.train_flops_per_sample(student_flops, teacher_flops)
    # A data-free run evaluates the test split alone (DataFreeMethod's docstring: its "val" is test).
    eval_samples_per_epoch = len(bundle.test) if data_free else len(bundle.val) + len(bundle.test)

    state, lost = resume_state(cfg, run, model, optimizer, scheduler, method)
    with MeteredEpochs(cfg, run, state, lost, steps_per_epoch=steps_per_epoch, progress=progress,
                       student_flops=student_flops, flops_per_sample=flops_per_sample,
                       eval_samples_per_epoch=eval_samples_per_epoch) as epochs:
        for epoch in range(state["epoch"], cfg.epochs):
            with amp():
                totals = train_epoch(cfg, epoch, model, method, optimizer, scheduler, inputs, dev, steps_per_epoch,
                                     epochs.bar, tick=epochs.tick)
                test_acc = predict(model, inputs.eval("test", cfg.eval_batch_size), dev).accuracy
                val_acc = test_acc if data_free else predict(model, inputs.eval("val", cfg.eval_batch_size),
                                                             dev).accuracy
            row = epochs.end(epoch, totals, val=val_acc, test=test_acc, lr=optimizer.param_groups[0]["lr"],
                             taus=method.taus, model=model, optimizer=optimizer, scheduler=scheduler, method=method,
                             # a synthesizer's generator and teacher passes, and its gen_* and syn_* columns
                             extra_flops=method.synthesis_flops if data_free else 0,
                             extra_columns=method.epoch_log() if data_free else None)
            epochs.bar.set_postfix_str(f"loss {row['train_loss']:.3f}, val {val_acc:.1f}%", refresh=False)
    epochs.finish(model)
    # The footprint is the one at the last checkpoint, so that a resumed run is the sum of its parts.
    result = _result(cfg, bundle, model, state, student_flops, teacher_flops, flops_per_sample, dev)
    if data_free:
        result["flops"]["synthesis"] = int(method.synthesis_flops)
        if method.preview() is not None:  # what the synthesizer drew last, for a notebook's image grid
            run.save_artifact({"images": method.preview()}, SYNTHETIC_ARTIFACT)
    return result


def _train_augment(bundle):
    """The training split's batch augmentation (data.augment.BatchAugment), or None (digits: none)."""
    form = getattr(bundle.train, "form", None)
    return getattr(form, "augment", None)


def train_epoch(cfg: RunConfig, epoch: int, model, method: DistillationMethod, optimizer, scheduler,
                inputs: Inputs, dev, steps_per_epoch: int, bar, tick=None) -> tuple[float, dict[str, float], int]:
    """One epoch of ``method``'s steps: the summed loss, each named term's sum, and the samples seen.

    ``tick()``, if given, is called after every batch (the energy tally)."""
    model.train()
    method.new_epoch()
    # The shuffle order depends only on (seed, epoch), so a resumed run sees the same batches.
    # On the device path the augmentations are drawn from it too, after the order.
    generator = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    losses = EpochLosses(epoch)
    shown = 0
    # A data-free method supplies its own (synthetic) batches; the training split is never read.
    batches = (method.batches(generator, steps_per_epoch) if method.data_free
               else inputs.train(generator, cfg.batch_size, steps_per_epoch))
    for step, (x, y, index) in enumerate(batches):
        losses.add({name: value.detach() for name, value in method.train_step(x, y, index, optimizer).items()}, x)
        scheduler.step()
        if tick is not None:
            tick()
        if (step + 1) % SYNC_EVERY == 0 or step + 1 == steps_per_epoch:
            losses.check_finite()
            bar.update(len(losses) - shown)
            shown = len(losses)
    return losses.totals()


def _result(cfg: RunConfig, bundle, model, state: dict[str, Any], student_flops: int, teacher_flops: int,
            flops_per_sample: int, dev: torch.device) -> dict[str, Any]:
    history = state["history"]
    footprint = state["footprint"]
    best_test = max(history, key=lambda r: r["test_acc"]) if history else None
    total_flops = history[-1]["flops"] if history else 0
    train_s = footprint.duration_s
    return {
        "label": run_label(cfg),
        "metrics": {
            "test_acc": state["test_at_best_val"],  # test accuracy at the best-validation epoch
            "best_val_acc": state["best_val_acc"],
            "best_epoch": state["best_epoch"],
            "best_test_acc": best_test["test_acc"] if best_test else float("nan"),  # the paper's convention
            "best_test_epoch": best_test["epoch"] if best_test else 0,
            "final_test_acc": history[-1]["test_acc"] if history else float("nan"),
            "final_val_acc": history[-1]["val_acc"] if history else float("nan"),
            "images_per_s": state["samples_seen"] / train_s if train_s > 0 else float("nan"),
        },
        # Included in footprint: the energy of epochs killed part-way and trained again (None if none).
        "lost_partial_epochs": state.get("lost_partial_epochs"),
        "footprint": footprint.to_dict(),
        "method": cfg.method,
        "flops": {"total": int(total_flops), "pflops": total_flops / 1e15,
                  "gflops_millions": to_gflops_millions(total_flops),
                  "student_forward": int(student_flops), "teacher_forward": int(teacher_flops),
                  "train_per_sample": int(flops_per_sample),
                  "samples_seen": state["samples_seen"], "eval_samples": state["eval_samples"]},
        "epochs": state["epoch"],
        "model": {"name": cfg.model, "num_classes": bundle.num_classes, "image_size": bundle.image_size,
                  "parameters": models.count_parameters(model)},
        "data": bundle.summary(),
        "device": str(dev),
        "precision": cfg.precision,
        "channels_last": cfg.channels_last,
        "torch_threads": torch.get_num_threads(),
    }

"""The training loop of a detection run (Table 4's VOC rows): the classification loop's contract on SSD.

``greenkd_lib.engine.train.train`` hands a run here when its model is a detector. What the run store, the
tables and the resume logic read is the same as for classification: one checkpoint per epoch
(weights, optimizer, schedule, method state, RNGs), energy through the carbon meter, FLOPs counted
per pass, the best epoch chosen on the validation split. The score is mAP at IoU 0.5 in percent,
stored under the classification keys (``val_acc``/``test_acc``) so every reader works unchanged;
``result["metric"]`` says it is mAP.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from .. import paths
from ..config.profiles import checked
from ..config.run import RunConfig
from ..data.detection.bundle import collate, DetectionBundle, load_detection
from ..devices import pick_device
from ..methods import detection_method, Setup
from ..models.detection import archs
from ..models.detection.ssd import detector_flops
from ..runs import Run, RunStore
from ..runs.recovery import check_train_result
from .configs import run_label
from .epochs import EpochLosses, MeteredEpochs, resume_state, SYNC_EVERY
from .inputs import num_workers_for, precision_context
from .mean_ap import mean_average_precision

__all__ = ["METRIC", "VOC_YEARS", "train_detector", "load_detector", "data_for"]

METRIC = "mAP@0.5"


# VOC runs train on the paper's VOC07+12 trainval (PAPER.md); test is VOC2007 test.
VOC_YEARS = ("2007", "2012")


def data_for(cfg: RunConfig, root: str | Path | None = None) -> DetectionBundle:
    """The detection bundle a run of ``cfg`` trains and is evaluated on (split seed fixed at 0)."""
    return load_detection(cfg.dataset, paths.data_root(root), image_size=cfg.image_size, subset=cfg.subset,
                          seed=0, val_fraction=cfg.val_fraction, years=VOC_YEARS)


def load_detector(cfg: RunConfig, store: RunStore, weights: str = "best",
                  device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained detector of a finished run (eval mode)."""
    run = store.run(cfg.to_dict())
    result = run.result()
    if result is None:
        raise FileNotFoundError(f"run {run.hash} ({run_label(cfg)}) has not finished; train it first with get_or_run")
    check_train_result(run, result)
    norm = result["data"]
    model = archs.build(cfg.model, result["model"]["num_classes"], result["model"]["image_size"],
                        norm["mean"], norm["std"])
    model.load_state_dict(run.load_weights(weights))
    return model.to(device).eval()


class _Indexed(Dataset):
    """(index, image, target): the index is the image's memory slot for contrastive methods."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        return (i, *self.dataset[i])


def _with_index(batch):
    images, targets = collate([item[1:] for item in batch])
    return images, targets, torch.tensor([item[0] for item in batch])


def _train_batches(cfg: RunConfig, train: Dataset, epoch: int, steps: int, workers: int
                   ) -> Iterator[tuple[torch.Tensor, list[dict], torch.Tensor]]:
    # The order depends only on (seed, epoch): a resumed run sees the same batches. Augmentation draws
    # from the global RNG, which the checkpoint restores.
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))
    batches = [order[i:i + cfg.batch_size].tolist() for i in range(0, len(order), cfg.batch_size)][:steps]
    yield from DataLoader(_Indexed(train), batch_sampler=batches, collate_fn=_with_index, num_workers=workers)


def _eval_batches(dataset: Dataset, batch_size: int, workers: int):
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=workers)


def train_detector(cfg: RunConfig, run: Run, *, store: RunStore, data_root: str | Path | None = None,
                   device: str | torch.device | None = None, progress: bool = True,
                   num_workers: int | None = None) -> dict[str, Any]:
    """Train (or resume) the detection run named by ``cfg``; return its result (the store writes it)."""
    from .train import _result, optimizer_factory, seed_everything

    dev = pick_device(device)
    amp = precision_context(cfg.precision, dev)
    workers = num_workers_for(cfg) if num_workers is None else int(checked("num_workers", num_workers))
    bundle = data_for(cfg, data_root)
    method_cls = detection_method(cfg.method)
    seed_everything(cfg.seed)
    model = archs.build(cfg.model, bundle.num_classes, bundle.image_size, bundle.mean, bundle.std).to(dev)
    teacher = load_detector(cfg.teacher, store, "best", dev).requires_grad_(False) if cfg.teacher else None
    steps_per_epoch = math.ceil(len(bundle.train) / cfg.batch_size)
    if cfg.max_batches:
        steps_per_epoch = min(steps_per_epoch, cfg.max_batches)
    make_optimizer = optimizer_factory(cfg, steps_per_epoch)
    method = method_cls(cfg, Setup(student=model, teacher=teacher, teacher_feature_dim=None,
                                   num_classes=bundle.num_classes, image_size=bundle.image_size,
                                   train_size=len(bundle.train), device=dev, make_optimizer=make_optimizer,
                                   mean=tuple(bundle.mean), std=tuple(bundle.std)))
    optimizer, scheduler = make_optimizer([*model.parameters(), *method.trainable()])
    student_flops = detector_flops(model, bundle.image_size)
    teacher_flops = detector_flops(teacher, bundle.image_size) if teacher is not None else 0
    flops_per_sample = method.train_flops_per_sample(student_flops, teacher_flops)
    eval_samples_per_epoch = len(bundle.val) + len(bundle.test)

    state, lost = resume_state(cfg, run, model, optimizer, scheduler, method)
    with MeteredEpochs(cfg, run, state, lost, steps_per_epoch=steps_per_epoch, progress=progress,
                       student_flops=student_flops, flops_per_sample=flops_per_sample,
                       eval_samples_per_epoch=eval_samples_per_epoch) as epochs:
        for epoch in range(state["epoch"], cfg.epochs):
            with amp():
                model.train()
                method.new_epoch()
                losses = EpochLosses(epoch)
                for step, (images, targets, index) in enumerate(
                        _train_batches(cfg, bundle.train, epoch, steps_per_epoch, workers)):
                    images = images.to(dev)
                    targets = [{k: v.to(dev) if torch.is_tensor(v) else v for k, v in t.items()} for t in targets]
                    losses.add({k: v.detach() for k, v in method.train_step(images, targets, index, optimizer).items()},
                               images)
                    scheduler.step()
                    epochs.tick()
                    if (step + 1) % SYNC_EVERY == 0:
                        losses.check_finite()
                    epochs.bar.update(1)
                totals = losses.totals()  # raises TrainingDivergedError on a NaN or infinite loss
                val_map = mean_average_precision(model, _eval_batches(bundle.val, cfg.eval_batch_size, workers),
                                                 dev)["map50"]
                test_map = mean_average_precision(model, _eval_batches(bundle.test, cfg.eval_batch_size, workers),
                                                  dev)["map50"]
            row = epochs.end(epoch, totals, val=val_map, test=test_map, lr=optimizer.param_groups[0]["lr"],
                             taus=method.taus, model=model, optimizer=optimizer, scheduler=scheduler, method=method)
            epochs.bar.set_postfix_str(f"loss {row['train_loss']:.3f}, val mAP {val_map:.1f}", refresh=False)
    epochs.finish(model)
    result = _result(cfg, bundle, model, state, student_flops, teacher_flops, flops_per_sample, dev)
    result.update(task="detection", metric=METRIC)
    result["data"] = {**result["data"], "mean": list(bundle.mean), "std": list(bundle.std)}  # load_detector's
    result["model"]["arch"] = archs.describe(cfg.model)
    return result

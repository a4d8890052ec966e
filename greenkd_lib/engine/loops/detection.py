"""The detection loop (Table 4's VOC rows): the classification loop's contract on SSD detectors.

What the run store, the tables and the resume logic read is the same as for classification: one
checkpoint per epoch, energy through the carbon meter, FLOPs counted per pass, the best epoch chosen
on the validation split. The score is VOC's own mAP at IoU 0.5 in percent (``engine.voc_eval``:
the devkit's matching with difficult objects, VOC2007's 11-point average), stored under the
classification keys (``val_acc``/``test_acc``) so every reader works unchanged;
``result["metric"]`` says which mAP. VOC2010's all-point average of the same detections is a
history column per split and ``metrics["test_map_all_point"]`` at the best epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from ... import paths
from ...config.run import RunConfig
from ...data.detection.bundle import collate, DetectionBundle, load_detection
from ...models.detection import archs
from ...models.detection.pretrained import load_vgg16_backbone
from ...models.detection.ssd import detector_flops
from ...runs import RunStore
from ...runs.recovery import load_weights_into
from ..configs import run_label
from ..voc_eval import detector_map
from .base import finished_run, Loop, Teacher

__all__ = ["DetectionLoop", "DetectionInputs", "METRIC", "ALL_POINT", "VOC_YEARS", "data_for", "load_detector"]

METRIC = "mAP@0.5 (VOC07 11-point)"
ALL_POINT = "map_all_point"  # VOC2010's all-point mAP: history columns val_/test_<this>

# VOC runs train on the paper's VOC07+12 trainval (PAPER.md); test is VOC2007 test.
VOC_YEARS = ("2007", "2012")


def data_for(cfg: RunConfig, root: str | Path | None = None) -> DetectionBundle:
    """The detection bundle a run of ``cfg`` trains and is evaluated on (split seed fixed at 0)."""
    return load_detection(cfg.dataset, paths.data_root(root), image_size=cfg.image_size, subset=cfg.subset,
                          seed=0, val_fraction=cfg.val_fraction, years=VOC_YEARS)


def load_detector(cfg: RunConfig, store: RunStore, weights: str = "best",
                  device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained detector of a finished run (eval mode)."""
    run, result = finished_run(cfg, store)
    norm = result["data"]
    model = archs.build(cfg.model, result["model"]["num_classes"], result["model"]["image_size"],
                        norm["mean"], norm["std"])
    load_weights_into(model, run, weights, result, run_label(cfg))  # damaged or another model's: named, repaired
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


class DetectionInputs:
    """A detection bundle's batches: images and box targets through DataLoaders (``workers`` processes)."""

    def __init__(self, bundle: DetectionBundle, dev: torch.device, workers: int) -> None:
        self.bundle, self.dev, self.workers = bundle, dev, workers

    def train(self, generator: torch.Generator, batch_size: int, steps: int
              ) -> Iterator[tuple[torch.Tensor, list[dict], torch.Tensor]]:
        """``(images, targets, index)`` batches of one epoch on the device, in an order drawn from
        ``generator``. Augmentation draws from the global RNG, which the checkpoint restores."""
        train = self.bundle.train
        order = torch.randperm(len(train), generator=generator)
        batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)][:steps]
        loader = DataLoader(_Indexed(train), batch_sampler=batches, collate_fn=_with_index, num_workers=self.workers)
        for images, targets, index in loader:
            yield (images.to(self.dev), [{k: v.to(self.dev) if torch.is_tensor(v) else v for k, v in t.items()}
                                         for t in targets], index)

    def eval(self, split: str, batch_size: int) -> DataLoader:
        return DataLoader(getattr(self.bundle, split), batch_size=batch_size, shuffle=False, collate_fn=collate,
                          num_workers=self.workers)


class DetectionLoop(Loop):
    """An SSD detector (``models.is_detector``) with a ``methods.detection_method`` method."""

    score_format = "val mAP {:.1f}"

    def load_data(self, data_root: str | Path | None) -> DetectionBundle:
        return data_for(self.cfg, data_root)

    def build_student(self, bundle: DetectionBundle, dev: torch.device) -> torch.nn.Module:
        model = archs.build(self.cfg.model, bundle.num_classes, bundle.image_size, bundle.mean, bundle.std)
        self._backbone, self._norm = "random", (tuple(bundle.mean), tuple(bundle.std))
        if self.cfg.backbone_weights:
            self._backbone, mean, std = load_vgg16_backbone(model, self.cfg.backbone_weights)
            if mean is not None:  # the weights' own normalisation (the SSD recipe's 0-255 pixels)
                model.transform.image_mean, model.transform.image_std = list(mean), list(std)
                self._norm = (mean, std)
        return model.to(dev)

    def load_teacher(self, store: RunStore, bundle: DetectionBundle, dev: torch.device) -> Teacher:
        return Teacher(frozen=load_detector(self.cfg.teacher, store, "best", dev).requires_grad_(False))

    def setup_fields(self, bundle: DetectionBundle, teacher: Teacher | None) -> dict[str, Any]:
        return dict(mean=tuple(bundle.mean), std=tuple(bundle.std))

    def inputs(self, bundle: DetectionBundle, dev: torch.device, workers: int, method) -> DetectionInputs:
        return DetectionInputs(bundle, dev, workers)

    def count_flops(self, model: torch.nn.Module, teacher: Teacher | None, bundle) -> tuple[int, int]:
        student = detector_flops(model, bundle.image_size)
        return student, detector_flops(teacher.frozen, bundle.image_size) if teacher else 0

    def evaluate(self, model: torch.nn.Module, inputs: DetectionInputs, dev: torch.device) -> tuple[float, float]:
        size = self.cfg.eval_batch_size
        val = detector_map(model, inputs.eval("val", size), dev)
        test = detector_map(model, inputs.eval("test", size), dev)
        self._all_point = {f"val_{ALL_POINT}": val["map50_voc10"], f"test_{ALL_POINT}": test["map50_voc10"]}
        return val["map50_voc07"], test["map50_voc07"]

    def epoch_extras(self, method) -> tuple[int, dict[str, float]]:
        return 0, self._all_point

    def result_fields(self, bundle: DetectionBundle, method) -> dict[str, Any]:
        # The normalisation the model was built with: load_detector rebuilds it from the result.
        return dict(task="detection", metric=METRIC, normalization=self._norm, backbone=self._backbone,
                    arch=archs.describe(self.cfg.model), metrics_at_best={f"test_{ALL_POINT}": "test_map_all_point"})

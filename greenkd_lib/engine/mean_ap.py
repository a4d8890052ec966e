"""COCO-style mAP at IoU 0.5 by torchmetrics' MeanAveragePrecision (COCO-eval backend), and the
eval-mode detections every detection score is computed from (:func:`detections`).

Not VOC's protocol, which the runs are scored by (``engine.voc_eval``): kept as a cross-check.

VOC's ``difficult`` objects are passed as COCO's ``iscrowd``, whose IoU is over the detection's own
area: a small box inside a difficult object is ignored here, but a false positive in VOC's devkit.
The average is COCO's 101-point interpolation.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

__all__ = ["mean_average_precision", "detections"]


def _metric(class_metrics: bool):
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(iou_type="bbox", iou_thresholds=[0.5], backend="pycocotools",
                                  class_metrics=class_metrics)
    # COCO-eval keeps each image's 100 best-scoring detections (its per-class AP needs that cap): far
    # more than the objects of a VOC image or a digit scene, so the warning about SSD's 200 is noise.
    metric.warn_on_many_detections = False
    return metric


@torch.no_grad()
def detections(model: nn.Module, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """The eval-mode detections (boxes in the input's pixels, scores, labels) of a batch of images."""
    model.eval()
    return model(list(images))


@torch.no_grad()
def mean_average_precision(model: nn.Module, batches: Iterable[tuple[torch.Tensor, list[dict]]],
                           device: torch.device, class_metrics: bool = False) -> dict[str, Any]:
    """mAP@0.5 in percent of ``model`` over ``batches`` of (images, targets); with ``class_metrics``
    also the AP of each class (``per_class``: label -> percent, -1 where a class has no object)."""
    metric = _metric(class_metrics)
    for images, targets in batches:
        found = detections(model, images.to(device))
        metric.update([{k: v.cpu() for k, v in d.items()} for d in found],
                      [{"boxes": t["boxes"], "labels": t["labels"],
                        "iscrowd": t.get("difficult", torch.zeros(len(t["labels"]), dtype=torch.bool)).long()}
                       for t in targets])
    scores = metric.compute()
    out = {"map50": float(scores["map_50"]) * 100}
    if class_metrics:
        out["per_class"] = {int(c): float(ap) * 100 if ap >= 0 else -1.0
                            for c, ap in zip(scores["classes"].tolist(), scores["map_per_class"].tolist())}
    return out

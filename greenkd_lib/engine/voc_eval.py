"""PASCAL VOC's own detection metric (the devkit's ``VOCevaldet``), read from its protocol, not copied.

Per class, the detections of every image are sorted by score and matched greedily: a detection
whose best-overlapping object of its class (IoU over 0.5, as the devkit's ``ov > minoverlap``) is
``difficult`` is ignored, neither a true nor a false positive; one whose best object is normal and
not yet found is a true positive; anything else (a second detection of a found object, a box that
overlaps nothing enough) is a false positive. Difficult objects are not counted in recall.

Two averages of the precision-recall curve: VOC2007's 11-point interpolation (the paper's VOC
numbers, Chen et al.'s protocol) and VOC2010's all-point area. Unlike passing ``difficult`` as COCO's
``iscrowd`` (whose IoU is over the detection's area alone), a small box lying inside a difficult
object is a false positive here, as in the devkit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .mean_ap import detections

__all__ = ["VOC_IOU", "average_precision", "voc_map", "detector_map"]

VOC_IOU = 0.5  # the devkit's minoverlap


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x1, y1, x2, y2) box with each row of ``boxes``, in continuous pixel coordinates."""
    x1, y1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x2, y2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, np.finfo(np.float64).eps)


def average_precision(recall: np.ndarray, precision: np.ndarray, eleven_point: bool = True) -> float:
    """The area under a precision-recall curve: VOC2007's mean of the best precision at recall
    >= 0, 0.1, ..., 1 (``eleven_point``), else VOC2010's all-point area of the interpolated curve."""
    if eleven_point:
        return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0
                              for t in np.linspace(0, 1, 11)]))
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision made monotone from the right
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _class_curve(dets: list[tuple[int, float, np.ndarray]], objects: Mapping[int, tuple[np.ndarray, np.ndarray]]
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """(recall, precision) of one class; None where it has no normal object (its AP is undefined)."""
    positives = sum(int((~difficult).sum()) for _, difficult in objects.values())
    if positives == 0:
        return None
    found = {image: np.zeros(len(boxes), dtype=bool) for image, (boxes, _) in objects.items()}
    tp, fp = [], []
    for image, _, box in sorted(dets, key=lambda d: -d[1]):  # stable: ties keep the input order
        boxes, difficult = objects.get(image, (np.zeros((0, 4)), np.zeros(0, dtype=bool)))
        overlaps = _iou(box, boxes) if len(boxes) else np.zeros(0)
        best = int(overlaps.argmax()) if len(overlaps) else -1
        if best >= 0 and overlaps[best] > VOC_IOU:
            if difficult[best]:
                continue  # neither a true nor a false positive
            if not found[image][best]:
                found[image][best] = True
                tp.append(1), fp.append(0)
                continue
        tp.append(0), fp.append(1)
    tp_sum, fp_sum = np.cumsum(tp, dtype=np.float64), np.cumsum(fp, dtype=np.float64)
    recall = tp_sum / positives
    precision = tp_sum / np.maximum(tp_sum + fp_sum, np.finfo(np.float64).eps)
    return recall, precision


def voc_map(detections: Sequence[Mapping[str, torch.Tensor]], targets: Sequence[Mapping[str, torch.Tensor]],
            classes: Iterable[int] | None = None) -> dict[str, object]:
    """VOC mAP at IoU 0.5, in percent, of per-image ``detections`` (``boxes``, ``scores``, ``labels``)
    against ``targets`` (``boxes``, ``labels``, optional ``difficult``), as torchmetrics takes them.

    Returns ``map50_voc07`` (11-point), ``map50_voc10`` (all-point) and ``per_class`` (label ->
    11-point AP). A class with no normal object in ``targets`` is left out of the mean.
    """
    if len(detections) != len(targets):
        raise ValueError(f"{len(detections)} images of detections but {len(targets)} of targets: give one each")
    dets: dict[int, list[tuple[int, float, np.ndarray]]] = {}
    objects: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for image, (found, target) in enumerate(zip(detections, targets)):
        boxes = target["boxes"].detach().cpu().double().numpy().reshape(-1, 4)
        labels = target["labels"].detach().cpu().numpy()
        difficult = target.get("difficult")
        difficult = (np.zeros(len(labels), dtype=bool) if difficult is None
                     else difficult.detach().cpu().numpy().astype(bool))
        for label in np.unique(labels):
            mask = labels == label
            objects.setdefault(int(label), {})[image] = (boxes[mask], difficult[mask])
        for box, score, label in zip(found["boxes"].detach().cpu().double().numpy().reshape(-1, 4),
                                     found["scores"].detach().cpu().tolist(), found["labels"].detach().cpu().tolist()):
            dets.setdefault(int(label), []).append((image, float(score), box))
    wanted = sorted(set(objects) if classes is None else {int(c) for c in classes})
    voc07, voc10 = {}, {}
    for label in wanted:
        curve = _class_curve(dets.get(label, []), objects.get(label, {}))
        if curve is not None:
            voc07[label] = average_precision(*curve, eleven_point=True) * 100
            voc10[label] = average_precision(*curve, eleven_point=False) * 100
    mean = (lambda aps: float(np.mean(list(aps.values()))) if aps else float("nan"))
    return {"map50_voc07": mean(voc07), "map50_voc10": mean(voc10), "per_class": voc07}


@torch.no_grad()
def detector_map(model: nn.Module, batches: Iterable[tuple[torch.Tensor, list[dict]]],
                 device: torch.device) -> dict[str, object]:
    """:func:`voc_map` of ``model``'s eval-mode detections over ``batches`` of (images, targets)."""
    found, truth = [], []
    for images, targets in batches:
        found += [{k: v.cpu() for k, v in d.items()} for d in detections(model, images.to(device))]
        truth += targets
    return voc_map(found, truth)

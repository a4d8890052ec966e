"""VOC mAP through torchmetrics: perfect boxes score 100, none 0, a missed difficult object is not counted."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from greenkd_lib.engine.mean_ap import mean_average_precision


class _Oracle(nn.Module):
    """Answers each image with the boxes it is given (a fixed list per call)."""

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)

    def forward(self, images):
        return [self.answers.pop(0) for _ in images]


def _target(boxes, labels, difficult=None):
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    labels = torch.tensor(labels, dtype=torch.int64)
    difficult = torch.zeros(len(labels), dtype=torch.bool) if difficult is None else torch.tensor(difficult)
    return {"boxes": boxes, "labels": labels, "difficult": difficult}


def _found(boxes, labels, scores):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels),
            "scores": torch.tensor(scores, dtype=torch.float32)}


def _map(answers, targets, **kw):
    images = torch.zeros(len(targets), 3, 32, 32)
    return mean_average_precision(_Oracle(answers), [(images, targets)], torch.device("cpu"), **kw)


def test_perfect_boxes_score_100_and_no_boxes_score_0():
    targets = [_target([[2, 2, 12, 12], [15, 15, 30, 30]], [1, 2]), _target([[5, 5, 20, 25]], [1])]
    perfect = [_found(t["boxes"].tolist(), t["labels"].tolist(), [0.9] * len(t["labels"])) for t in targets]
    assert _map(perfect, targets)["map50"] == pytest.approx(100.0)
    assert _map([_found([], [], [])] * 2, targets)["map50"] == pytest.approx(0.0)


def test_iou_below_one_half_is_a_miss_and_per_class_ap_is_reported():
    targets = [_target([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 2])]
    # Class 1 found with IoU 0.64; class 2 shifted to IoU 1/3: a false positive and a miss.
    found = [_found([[1, 1, 10, 10], [25, 20, 35, 30]], [1, 2], [0.9, 0.8])]
    result = _map(found, targets, class_metrics=True)
    assert result["per_class"] == {1: pytest.approx(100.0), 2: pytest.approx(0.0)}
    assert result["map50"] == pytest.approx(50.0)


def test_a_missed_difficult_object_is_not_a_false_negative():
    targets = [_target([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 1], difficult=[False, True])]
    found = [_found([[0, 0, 10, 10]], [1], [0.9])]
    assert _map(found, targets)["map50"] == pytest.approx(100.0)
    counted = [_target([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 1])]
    assert _map([_found([[0, 0, 10, 10]], [1], [0.9])], counted)["map50"] == pytest.approx(50.0, abs=1.0)

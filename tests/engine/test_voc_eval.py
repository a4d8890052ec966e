"""VOC's own mAP (the devkit's protocol): hand-worked cases, difficult objects, and torchmetrics where they agree."""

import numpy as np
import pytest
import torch
from torchmetrics.detection import MeanAveragePrecision

from greenkd_lib.engine.voc_eval import average_precision, voc_map


def _t(boxes, labels, difficult=None):
    out = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels)}
    if difficult is not None:
        out["difficult"] = torch.tensor(difficult)
    return out


def _d(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "scores": torch.tensor(scores),
            "labels": torch.tensor(labels)}


# One normal object, one large difficult one.
TARGET = _t([[10, 10, 30, 30], [40, 40, 90, 90]], [1, 1], [False, True])


def test_a_small_box_inside_a_difficult_object_is_a_false_positive():
    # The correct detection (0.9) and a small box inside the difficult object (0.95): VOC counts the
    # small box as a false positive ranked first, so precision is 1/2 at every recall: AP 50.
    found = _d([[10, 10, 30, 30], [50, 50, 60, 60]], [0.9, 0.95], [1, 1])
    scores = voc_map([found], [TARGET])
    assert scores["map50_voc07"] == pytest.approx(50.0) and scores["map50_voc10"] == pytest.approx(50.0)
    # COCO-eval with difficult passed as iscrowd ignores it (IoU over the detection's own area): 100.
    coco = MeanAveragePrecision(iou_type="bbox", iou_thresholds=[0.5], backend="pycocotools")
    coco.update([found], [{"boxes": TARGET["boxes"], "labels": TARGET["labels"], "iscrowd": torch.tensor([0, 1])}])
    assert float(coco.compute()["map_50"]) == pytest.approx(1.0)


def test_a_detection_of_the_difficult_object_itself_is_ignored():
    found = _d([[10, 10, 30, 30], [41, 41, 90, 90]], [0.9, 0.95], [1, 1])
    assert voc_map([found], [TARGET])["map50_voc07"] == pytest.approx(100.0)


def test_a_second_detection_of_a_found_object_and_a_stray_box_are_false_positives():
    target = _t([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0])
    # ranked: hit (tp), the same object again (fp), a box on nothing (fp), the second object (tp)
    found = _d([[0, 0, 10, 10], [0, 0, 10, 9], [50, 50, 60, 60], [20, 20, 30, 30]], [0.9, 0.8, 0.7, 0.6], [0] * 4)
    scores = voc_map([found], [target])
    # precision 1, 1/2, 1/3, 1/2 at recall 1/2, 1/2, 1/2, 1: 11-point = (6 * 1 + 5 * 1/2) / 11
    assert scores["map50_voc07"] == pytest.approx((6 + 2.5) / 11 * 100)
    assert scores["map50_voc10"] == pytest.approx((0.5 * 1 + 0.5 * 0.5) * 100)


def test_a_class_without_normal_objects_is_left_out_and_a_wrong_label_is_a_false_positive():
    targets = [_t([[0, 0, 10, 10]], [0]), _t([[0, 0, 10, 10]], [2], [True])]
    found = [_d([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [0, 1]), _d([], [], [])]
    scores = voc_map(found, targets)
    assert scores["per_class"] == {0: pytest.approx(100.0)}  # class 2 has only a difficult object, 1 none
    assert voc_map(found, targets, classes=[0, 1, 2])["per_class"] == {0: pytest.approx(100.0)}


def test_images_of_detections_and_targets_must_pair_up():
    with pytest.raises(ValueError, match="2 images of detections but 1 of targets"):
        voc_map([_d([], [], []), _d([], [], [])], [TARGET])


def test_eleven_point_and_all_point_averages():
    recall, precision = np.array([0.2, 0.4, 0.4, 0.8]), np.array([1.0, 1.0, 0.5, 0.6])
    assert average_precision(recall, precision) == pytest.approx((5 * 1.0 + 4 * 0.6) / 11)
    assert average_precision(recall, precision, eleven_point=False) == pytest.approx(0.4 * 1.0 + 0.4 * 0.6)


def test_without_difficult_objects_the_all_point_ap_agrees_with_torchmetrics():
    rng = np.random.default_rng(0)
    detections, targets = [], []
    for _ in range(60):
        n = int(rng.integers(1, 4))
        xy = rng.uniform(0, 80, size=(n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(10, 30, size=(n, 2))], axis=1)
        labels = rng.integers(0, 3, size=n)
        found, scores, found_labels = [], [], []
        for box, label in zip(boxes, labels):
            if rng.random() < 0.8:  # found, a little off
                found.append(box + rng.normal(0, 2, size=4)), scores.append(rng.uniform(0.3, 1)), found_labels.append(label)
        for _ in range(int(rng.integers(0, 3))):  # strays
            xy = rng.uniform(0, 80, size=2)
            found.append(np.concatenate([xy, xy + 15])), scores.append(rng.uniform(0, 0.8))
            found_labels.append(int(rng.integers(0, 3)))
        targets.append(_t(boxes.tolist(), labels.tolist()))
        detections.append(_d(np.array(found).reshape(-1, 4).tolist(), scores, found_labels))
    coco = MeanAveragePrecision(iou_type="bbox", iou_thresholds=[0.5], backend="pycocotools")
    coco.update(detections, targets)
    ours = voc_map(detections, targets)
    assert 20 < ours["map50_voc10"] < 95  # a curve worth comparing
    assert ours["map50_voc10"] == pytest.approx(float(coco.compute()["map_50"]) * 100, abs=0.5)
    assert ours["map50_voc07"] == pytest.approx(ours["map50_voc10"], abs=5)

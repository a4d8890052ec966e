"""Detection models: one anchor layout for teacher and student, SSD's forward in parts, FLOPs."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torchvision.models.detection.ssd import SSD300_VGG16_Weights

from greenkd_lib.models import count_parameters
from greenkd_lib.models.detection.backbones import SSDVGGExtractor
from greenkd_lib.models.detection.ssd import (anchor_generator, build_detector, detect, detector_flops, DETECTORS,
                                              feature_grids, forward_parts, match_anchors, PAPER_IMAGE_SIZE,
                                              pooled_dim, pooled_features, QUICK_IMAGE_SIZE, QUICK_WIDTHS,
                                              ssd_losses)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CLASSES = 11  # ten digits and the background


@functools.lru_cache(maxsize=None)
def _quick(name: str) -> nn.Module:
    torch.manual_seed(0)
    return build_detector(name, CLASSES, QUICK_IMAGE_SIZE, QUICK_WIDTHS[name])


@functools.lru_cache(maxsize=None)
def _paper(name: str) -> nn.Module:
    torch.manual_seed(0)
    return build_detector(name, 21, PAPER_IMAGE_SIZE)


def scene_batch(n: int = 4, size: int = 64, seed: int = 0, empty: tuple[int, ...] = (1,)) -> tuple[torch.Tensor, list]:
    """Random images with 1-3 bright rectangles of 14-30 px each; the images in ``empty`` have none."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=g) * 0.3
    targets = []
    for i in range(n):
        count = 0 if i in empty else int(torch.randint(1, 4, (1,), generator=g))
        boxes = []
        for _ in range(count):
            w, h = (int(v) for v in torch.randint(14, 31, (2,), generator=g))
            x, y = int(torch.randint(0, size - w, (1,), generator=g)), int(torch.randint(0, size - h, (1,), generator=g))
            images[i, :, y:y + h, x:x + w] = 0.9
            boxes.append([x, y, x + w, y + h])
        targets.append({"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                        "labels": torch.randint(1, CLASSES, (count,), generator=g),
                        "difficult": torch.zeros(count, dtype=torch.bool)})  # extra keys are ignored
    return images, targets


def test_feature_grids_of_the_paper_and_quick_sizes():
    assert feature_grids(300) == [38, 19, 10, 5, 3, 1]  # torchvision's ssd300_vgg16 maps
    assert feature_grids(64) == [8, 4, 2, 1]
    assert feature_grids(512) == [64, 32, 16, 8, 4, 2, 1]  # SSD512's
    for bad in (48, 100, 31, 64.0, True):
        with pytest.raises(ValueError, match="300|multiple of 32"):
            feature_grids(bad)


def test_paper_anchor_settings_are_torchvisions():
    gen = anchor_generator(300)
    assert gen.aspect_ratios == [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
    assert gen.scales == [0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05]
    assert gen.steps == [8, 16, 32, 64, 100, 300]
    assert len(anchor_generator(64).aspect_ratios) == len(feature_grids(64))


def test_paper_teacher_is_torchvisions_ssd300_and_builds_offline(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("build_detector tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    torch.manual_seed(0)
    model = build_detector("ssd_vgg16", 91, 300)  # COCO's classes: torchvision's documented count
    assert count_parameters(model) == SSD300_VGG16_Weights.COCO_V1.meta["num_params"]
    assert (model.arch_name, model.num_classes, model.image_size, model.width) == ("ssd_vgg16", 91, 300, 1.0)
    # The generic (any width) VGG extractor at width 1 has the very same layers.
    generic = SSDVGGExtractor(1.0, feature_grids(300))
    assert repr(generic).split("\n", 1)[1] == repr(model.backbone).split("\n", 1)[1]
    assert count_parameters(generic) == count_parameters(model.backbone)


def test_the_paper_pair_shares_grids_and_anchors_at_300():
    images = torch.rand(1, 3, 300, 300)
    with torch.no_grad():
        teacher, student = (forward_parts(_paper(name).eval(), images) for name in DETECTORS)
    for parts in (teacher, student):
        assert [f.shape[-1] for f in parts.features] == feature_grids(300)
    assert teacher.cls_logits.shape == student.cls_logits.shape == (1, 8732, 21)  # SSD300's 8732 boxes
    assert torch.equal(teacher.anchors[0], student.anchors[0])


def test_the_quick_pair_shares_grids_and_anchors_and_the_teacher_is_bigger():
    images, _ = scene_batch(2)
    teacher, student = (_quick(name) for name in DETECTORS)
    with torch.no_grad():
        t, s = forward_parts(teacher.eval(), images), forward_parts(student.eval(), images)
    assert [f.shape[-2:] for f in t.features] == [f.shape[-2:] for f in s.features] == [(g, g) for g in [8, 4, 2, 1]]
    assert t.cls_logits.shape == s.cls_logits.shape and t.cls_logits.shape[0] == 2
    assert all(torch.equal(a, b) for a, b in zip(t.anchors, s.anchors))
    assert s.anchors[0].shape == (s.cls_logits.shape[1], 4)
    assert detector_flops(teacher) > 5 * detector_flops(student) > 0
    assert count_parameters(teacher) > 2 * count_parameters(student)


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="ssd_resnet", num_classes=11, image_size=64), "ssd_vgg16, ssdlite_mobilenetv2"),
    (dict(name="ssd_vgg16", num_classes=1, image_size=64), "background"),
    (dict(name="ssd_vgg16", num_classes=11, image_size=48), "multiple of 32"),
    (dict(name="ssdlite_mobilenetv2", num_classes=11, image_size=64, width=0.0), r"\[0.05, 2.0\]"),
    (dict(name="ssdlite_mobilenetv2", num_classes=11, image_size=64, width=3), r"\[0.05, 2.0\]"),
])
def test_bad_arguments_say_what_is_valid(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_detector(**kwargs)


@pytest.mark.parametrize("name", DETECTORS)
def test_forward_parts_and_ssd_losses_reproduce_the_models_losses(name):
    model = _quick(name).train()
    images, targets = scene_batch(4)
    torch.manual_seed(1)
    expected = model(list(images), targets)
    torch.manual_seed(1)
    parts = forward_parts(model, images, targets)
    matched = match_anchors(model, parts.anchors, parts.targets)
    losses = ssd_losses(model, parts.targets, parts, matched)
    assert set(losses) == {"bbox_regression", "classification"}
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value)
    assert (matched[1] == -1).all()  # the image without objects matches nothing
    assert all((m >= 0).any() for i, m in enumerate(matched) if i != 1)
    assert parts.bbox_regression.shape == (*parts.cls_logits.shape[:2], 4)


def test_forward_parts_rejects_boxes_without_area():
    images, targets = scene_batch(2, empty=())
    targets[0]["boxes"][0, 2] = targets[0]["boxes"][0, 0]
    with pytest.raises(ValueError, match="without area"):
        forward_parts(_quick("ssdlite_mobilenetv2"), images, targets)


@pytest.mark.parametrize("name", DETECTORS)
def test_detect_gives_boxes_inside_the_image(name):
    model = _quick(name).train()
    images, _ = scene_batch(3)
    detections = detect(model, images)
    assert model.training  # the mode is restored
    assert len(detections) == 3
    for d in detections:
        assert set(d) == {"boxes", "scores", "labels"} and len(d["boxes"]) > 0  # fresh: every score is ~1/11
        assert (d["boxes"] >= 0).all() and (d["boxes"] <= 64).all()
        assert (d["boxes"][:, 2:] >= d["boxes"][:, :2]).all()
        assert ((d["labels"] >= 1) & (d["labels"] < CLASSES)).all()


def test_detector_flops_are_cached_and_leave_the_mode():
    model = _quick("ssdlite_mobilenetv2").train()
    flops = detector_flops(model)
    assert isinstance(flops, int) and flops > 1e6 and model.training
    assert detector_flops(model, 64) == flops


@pytest.mark.parametrize("name", DETECTORS)
def test_pooled_features_have_pooled_dim_columns(name):
    model = _quick(name).eval()
    with torch.no_grad():
        parts = forward_parts(model, scene_batch(2)[0])
    pooled = pooled_features(parts)
    assert pooled.shape == (2, pooled_dim(model)) and torch.isfinite(pooled).all()


def test_a_few_sgd_steps_lower_the_quick_students_ssd_loss():
    torch.manual_seed(0)
    model = build_detector("ssdlite_mobilenetv2", CLASSES, 64, QUICK_WIDTHS["ssdlite_mobilenetv2"]).train()
    images, targets = scene_batch(8, empty=())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)

    def loss() -> torch.Tensor:
        parts = forward_parts(model, images, targets)
        losses = ssd_losses(model, parts.targets, parts, match_anchors(model, parts.anchors, parts.targets))
        return losses["bbox_regression"] + losses["classification"]

    first = loss()
    for _ in range(8):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < 0.8 * first.item()

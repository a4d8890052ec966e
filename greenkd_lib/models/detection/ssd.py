"""Table 4's detectors: a VGG16 SSD teacher and a MobileNetV2 SSDLite student on ONE anchor layout.

Both are torchvision ``SSD`` models (``model(images, targets)`` gives torchvision's losses in train
mode, detections in eval mode). Every detector of one image size has the same feature grids
(``feature_grids``) and default boxes (``anchor_generator``), so anchor ``a`` of the teacher and
anchor ``a`` of the student are the same box and their class logits can be compared one to one.
``forward_parts`` runs ``SSD.forward`` up to the loss and hands its pieces to distillation losses.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn, Tensor
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD, ssd300_vgg16, SSDHead
from torchvision.models.detection.ssdlite import SSDLiteHead
from torchvision.ops import box_iou

from .backbones import (mobilenet_grids, next_grid, SSDLITE_NORM, SSDLiteMobileNetV2Extractor, SSDVGGExtractor,
                        vgg_grids)

__all__ = ["DETECTORS", "PAPER_IMAGE_SIZE", "QUICK_IMAGE_SIZE", "QUICK_WIDTHS", "WIDTH_RANGE", "build_detector",
           "anchor_generator", "feature_grids", "DetectorPass", "forward_parts", "match_anchors", "ssd_losses",
           "detect", "detector_flops", "pooled_features", "pooled_dim"]

DETECTORS: tuple[str, ...] = ("ssd_vgg16", "ssdlite_mobilenetv2")
PAPER_IMAGE_SIZE = 300
QUICK_IMAGE_SIZE = 64
# Widths of the quick pair at 64x64, batch 32, one CPU thread: a teacher training step ~190 ms, a
# student KD step (teacher forward included) ~235 ms, a student step alone ~175 ms. The teacher has
# 10x the student's FLOPs (110M vs 11M per image) and 2.4x its parameters (1.07M vs 0.44M).
# A narrower student is not faster: MobileNetV2 rounds its early layers up to 8-16 channels.
QUICK_WIDTHS: dict[str, float] = {"ssd_vgg16": 0.1875, "ssdlite_mobilenetv2": 0.35}
WIDTH_RANGE: tuple[float, float] = (0.05, 2.0)

# Default boxes of the small layouts: smallest scale 0.25 of the side. On the digit scenes (14-30 px
# glyphs on 64 px) 90 % of the objects then have a default box at IoU >= 0.5, against 70 % with
# torchvision's default 0.15.
_SMALL_MIN_RATIO, _SMALL_MAX_RATIO = 0.25, 0.9
_FLOPS_CACHE: dict[tuple, int] = {}


def _check_image_size(image_size: object) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size < 32:
        raise ValueError(f"image_size must be an integer >= 32 (300 for the paper, or a multiple of 32 "
                         f"such as 64), got {image_size!r}")
    return int(image_size)


def feature_grids(image_size: int) -> list[int]:
    """Sides of the square feature maps of every detector at ``image_size``, largest first.

    The first map is at stride 8 (VGG16's conv4_3), the second at stride 16 (fc7), then each map is
    the previous one halved (rounded up) down to 1x1, with SSD300's 3 -> 1 last step:
    300 gives [38, 19, 10, 5, 3, 1] (torchvision's ssd300_vgg16), 64 gives [8, 4, 2, 1].
    Sizes where VGG16's and MobileNetV2's stride-8/16/32 maps differ (e.g. 48) raise.
    """
    size = _check_image_size(image_size)
    grids = list(vgg_grids(size))
    while grids[-1] > 1:
        grids.append(next_grid(grids[-1]))
    if len(grids) < 3 or tuple(grids[:3]) != mobilenet_grids(size):
        raise ValueError(f"image_size {size} has no anchor layout both detectors can produce: VGG16 gives "
                         f"stride-8/16/32 grids {grids[:3]}, MobileNetV2 {list(mobilenet_grids(size))}; "
                         f"use 300 (the paper's) or a multiple of 32 (e.g. 64)")
    return grids


def anchor_generator(image_size: int) -> DefaultBoxGenerator:
    """The default boxes every detector at ``image_size`` uses (a new module, same settings each call).

    300: torchvision's ssd300_vgg16 boxes. Other sizes: SSD's scale rule from 0.25 to 0.9 of the
    side over the maps of ``feature_grids`` (suited to the digit scenes' 14-30 px objects at 64),
    aspect ratios 2 on the first and the last two maps and 2 and 3 in between (as SSD300).
    """
    grids = feature_grids(image_size)
    if image_size == PAPER_IMAGE_SIZE:
        return DefaultBoxGenerator([[2], [2, 3], [2, 3], [2, 3], [2], [2]],
                                   scales=[0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05], steps=[8, 16, 32, 64, 100, 300])
    ratios = [[2]] + [[2, 3]] * (len(grids) - 3) + [[2], [2]]
    return DefaultBoxGenerator(ratios, min_ratio=_SMALL_MIN_RATIO, max_ratio=_SMALL_MAX_RATIO)


def _check_args(name: object, num_classes: object, width: object) -> tuple[str, int, float]:
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes counts the background and must be an integer >= 2, got {num_classes!r}")
    low, high = WIDTH_RANGE
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not low <= width <= high:
        raise ValueError(f"width must be a number in [{low}, {high}] (1 = the paper's channel counts), got {width!r}")
    return str(name), int(num_classes), float(width)


def _check_grids(model: SSD, grids: list[int]) -> None:
    """One dummy forward of the backbone: its maps must have the layout's sides."""
    size = model.image_size
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            features = model.backbone(torch.zeros(1, 3, size, size))
    finally:
        model.train(was_training)
    shapes = [tuple(f.shape[-2:]) for f in features.values()]
    if shapes != [(g, g) for g in grids]:
        raise ValueError(f"{model.arch_name} at image_size {size}, width {model.width} gives feature maps "
                         f"{shapes}, but the anchor layout needs grids {grids}; choose another image_size or width")


def build_detector(name: str, num_classes: int, image_size: int, width: float = 1.0, *,
                   mean: Sequence[float] = (0.485, 0.456, 0.406),
                   std: Sequence[float] = (0.229, 0.224, 0.225), batch_norm: bool = False) -> SSD:
    """A freshly initialised ``name`` detector for ``image_size`` squares (``num_classes`` with background).

    ``ssd_vgg16`` at 300 and width 1 is torchvision's ``ssd300_vgg16`` (the paper's teacher, no
    weights); otherwise the same structure with channels times ``width`` (:class:`SSDVGGExtractor`).
    ``ssdlite_mobilenetv2`` is MobileNetV2 at ``width_mult=width`` with SSDLite extras and head,
    tapped at strides 8, 16 and 32 (:class:`SSDLiteMobileNetV2Extractor`). Both use
    ``anchor_generator(image_size)`` and torchvision SSD's postprocessing defaults (same for both,
    so mAP differences come from the networks); ``mean``/``std`` normalise [0, 1] images.
    ``batch_norm``: the VGG backbone's convolutions are VGG16-BN's (not at the paper's 300 and width 1).
    The model carries ``.arch_name``, ``.num_classes``, ``.image_size`` and ``.width``; its
    weights are channels-last (same results, faster on CPU).
    """
    name, num_classes, width = _check_args(name, num_classes, width)
    grids = feature_grids(image_size)
    image_size = int(image_size)
    anchors = anchor_generator(image_size)
    normalise = dict(image_mean=list(mean), image_std=list(std))
    paper_teacher = name == "ssd_vgg16" and image_size == PAPER_IMAGE_SIZE and width == 1.0 and not batch_norm
    if paper_teacher:
        model = ssd300_vgg16(weights=None, weights_backbone=None, num_classes=num_classes, **normalise)
        model.anchor_generator = anchors  # the same settings as torchvision's, from the one shared function
    else:
        if name == "ssd_vgg16":
            backbone = SSDVGGExtractor(width, grids, batch_norm)
            head = SSDHead(backbone.out_channels, anchors.num_anchors_per_location(), num_classes)
        else:
            backbone = SSDLiteMobileNetV2Extractor(width, grids)
            head = SSDLiteHead(backbone.out_channels, anchors.num_anchors_per_location(), num_classes, SSDLITE_NORM)
        model = SSD(backbone, anchors, (image_size, image_size), num_classes, head=head, **normalise)
    model.arch_name, model.num_classes, model.image_size, model.width = name, num_classes, image_size, width
    if not paper_teacher:  # torchvision's own layout is known (and tested); a 300x300 VGG forward is slow
        _check_grids(model, grids)
    # oneDNN's NHWC kernels: CPU training steps ~25 % faster (depthwise convs and batch norm above all).
    return model.to(memory_format=torch.channels_last)


@dataclass
class DetectorPass:
    """What ``SSD.forward`` computes before its loss: inputs after ``model.transform`` and head outputs.

    ``cls_logits`` is (B, A, C) and ``bbox_regression`` (B, A, 4) over the A default boxes in
    ``anchors`` (one (A, 4) xyxy tensor per image, in the transformed image's pixels).
    """

    images: ImageList
    targets: list[dict[str, Tensor]] | None
    features: list[Tensor]
    cls_logits: Tensor
    bbox_regression: Tensor
    anchors: list[Tensor]


def _as_list(images: Tensor | Sequence[Tensor]) -> list[Tensor]:
    if isinstance(images, Tensor):
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be a (B, 3, H, W) batch in [0, 1], got shape {tuple(images.shape)}")
        return list(images.unbind(0))
    return list(images)


def forward_parts(model: SSD, images: Tensor, targets: list[dict[str, Tensor]] | None = None) -> DetectorPass:
    """``SSD.forward`` up to the loss: transform, backbone, head and default boxes, in the model's mode.

    ``images`` (B, 3, H, W) in [0, 1]; ``targets`` per image {"boxes": float xyxy pixels,
    "labels": int64, 1-based}, other keys ignored. Use under ``torch.no_grad()`` for a teacher.
    """
    images = _as_list(images)
    if targets is not None:
        if len(targets) != len(images):
            raise ValueError(f"{len(targets)} targets for {len(images)} images; give one dict per image")
        for i, target in enumerate(targets):
            boxes = target.get("boxes")
            if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[-1] != 4:
                raise ValueError(f"targets[{i}]['boxes'] must be a float tensor of shape (N, 4), got "
                                 f"{getattr(boxes, 'shape', type(boxes).__name__)}")
    image_list, targets = model.transform(images, targets)
    for i, target in enumerate(targets or []):
        bad = target["boxes"][:, 2:] <= target["boxes"][:, :2]
        if bad.any():
            box = target["boxes"][bad.any(dim=1)][0].tolist()
            raise ValueError(f"targets[{i}] has a box without area {box}; boxes must be x1 < x2, y1 < y2")
    features = model.backbone(image_list.tensors)
    features = [features] if isinstance(features, Tensor) else list(features.values())
    head = model.head(features)
    anchors = model.anchor_generator(image_list, features)
    return DetectorPass(image_list, targets, features, head["cls_logits"], head["bbox_regression"], anchors)


def match_anchors(model: SSD, anchors: list[Tensor], targets: list[dict[str, Tensor]]) -> list[Tensor]:
    """Per image, the matched object index of every anchor (negative: background), as ``SSD.forward``.

    ``targets`` are the transformed ones (``DetectorPass.targets``); an image without objects
    matches nothing (all -1).
    """
    matched = []
    for anchors_per_image, target in zip(anchors, targets):
        if target["boxes"].numel() == 0:
            matched.append(torch.full((anchors_per_image.size(0),), -1, dtype=torch.int64,
                                      device=anchors_per_image.device))
            continue
        matched.append(model.proposal_matcher(box_iou(target["boxes"], anchors_per_image)))
    return matched


def ssd_losses(model: SSD, targets: list[dict[str, Tensor]] | None, pass_: DetectorPass,
               matched_idxs: list[Tensor]) -> dict[str, Tensor]:
    """torchvision's SSD loss ``{"bbox_regression", "classification"}`` of ``pass_`` (``model.compute_loss``).

    ``targets``: the transformed targets (``pass_.targets``; None uses those).
    """
    targets = pass_.targets if targets is None else targets
    if targets is None:
        raise ValueError("no targets: run forward_parts(model, images, targets) with the image's targets")
    head = {"bbox_regression": pass_.bbox_regression, "cls_logits": pass_.cls_logits}
    return model.compute_loss(targets, head, pass_.anchors, matched_idxs)


def detect(model: SSD, images: Tensor) -> list[dict[str, Tensor]]:
    """Eval-mode detections per image: "boxes" (xyxy, the input image's pixels), "scores", "labels"."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(_as_list(images))
    finally:
        model.train(was_training)


def detector_flops(model: SSD, image_size: int | None = None) -> int:
    """FLOPs of one image through transform, backbone and head (postprocessing and NMS not counted).

    Counted as ``models.measure.forward_flops`` (FlopCounterMode: convolutions and matrix
    products, multiply-add = 2). ``image_size`` is the input side (default ``model.image_size``);
    the transform resizes every input to the model's size. Cached per architecture, width, sizes
    and classes.
    """
    size = getattr(model, "image_size", None) if image_size is None else _check_image_size(image_size)
    if size is None:
        raise ValueError("the model has no .image_size attribute; pass image_size=... or build it with build_detector")
    key = tuple(getattr(model, a, None) for a in ("arch_name", "width", "image_size", "num_classes")) + (size,)
    if key not in _FLOPS_CACHE or key[0] is None:
        first = next(model.parameters())
        was_training = model.training
        model.eval()
        try:
            counter = FlopCounterMode(display=False)
            with torch.no_grad(), counter:
                forward_parts(model, torch.zeros(1, 3, size, size, device=first.device, dtype=first.dtype))
        finally:
            model.train(was_training)
        _FLOPS_CACHE[key] = int(counter.get_total_flops())
    return _FLOPS_CACHE[key]


def pooled_features(pass_: DetectorPass) -> Tensor:
    """(B, D): every feature map globally average-pooled and concatenated, largest map first.

    All maps rather than the deepest: a detector's evidence is spread over scales, and the
    small objects live on the stride-8 map that a deepest-map pool would leave out.
    """
    return torch.cat([f.mean(dim=(2, 3)) for f in pass_.features], dim=1)


def pooled_dim(model: SSD) -> int:
    """D of :func:`pooled_features` for ``model``: the channels of all its feature maps."""
    total = 0
    for entry in model.head.classification_head.module_list:
        total += next(m for m in entry.modules() if isinstance(m, nn.Conv2d)).in_channels
    return total

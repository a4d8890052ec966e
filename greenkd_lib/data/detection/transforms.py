"""Detection transforms on ``torchvision.transforms.v2``: boxes move with the image by construction.

A transform is called as ``transform(image, target)`` with a ``tv_tensors.Image`` (uint8) and a
target dict whose ``boxes`` are ``tv_tensors.BoundingBoxes`` (what :class:`.voc.VOCBoxes` passes);
``labels`` and ``difficult`` ride along and are dropped together with any box the pipeline drops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = ["ZOOM_OUT_FILL", "train_transform", "eval_transform", "labels_and_difficult"]

ZOOM_OUT_FILL = (123, 117, 104)
"""The canvas colour of SSD's zoom-out: ImageNet's mean in 0..255, as torchvision's SSD reference recipe."""


def labels_and_difficult(inputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``SanitizeBoundingBoxes``' labels_getter: the tensors to filter along with the boxes.

    A module-level function rather than a lambda, so that DataLoader workers can pickle it.
    """
    target = inputs[1]
    return target["labels"], target["difficult"]


def train_transform(image_size: int, flip: bool, *, ssd_crops: bool = False) -> Callable[..., Any]:
    """Training augmentation, then a resize to ``image_size`` x ``image_size`` and float32 in [0, 1].

    Photometric distortion (brightness, contrast, saturation, hue, channel order: SSD's), a
    horizontal flip if ``flip`` (leave it off for digits, which are not mirror-symmetric) and, if
    ``ssd_crops``, SSD's zoom-out (up to 4x) and minimum-IoU random crop: the recipe of the SSD
    paper and of torchvision's SSD reference, which the paper's VOC detectors follow. Boxes that a
    crop or the resize leaves smaller than a pixel are dropped with their labels and flags.
    """
    _check_size(image_size)
    steps: list[Callable] = [v2.RandomPhotometricDistort()]
    if ssd_crops:
        # Masks (used by tests to follow the pixels of an object) are padded with 0, images with the mean.
        steps += [v2.RandomZoomOut(fill={tv_tensors.Image: ZOOM_OUT_FILL, "others": 0}), v2.RandomIoUCrop()]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    steps += [v2.Resize((image_size, image_size), antialias=True), v2.ToDtype(torch.float32, scale=True),
              v2.SanitizeBoundingBoxes(labels_getter=labels_and_difficult)]
    return v2.Compose(steps)


def eval_transform(image_size: int) -> Callable[..., Any]:
    """Resize to ``image_size`` x ``image_size`` and float32 in [0, 1]; every ground-truth box is kept."""
    _check_size(image_size)
    return v2.Compose([v2.Resize((image_size, image_size), antialias=True), v2.ToDtype(torch.float32, scale=True)])


def _check_size(image_size: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8 (the side of the square input), got {image_size!r}")

"""MobileNetV2, CIFAR form, on torchvision's MobileNetV2 class."""

from __future__ import annotations

from torch import nn
from torchvision.models import MobileNetV2

# torchvision's default setting (t, c, n, s) with the first stride-2 stage (c=24) set to stride 1.
_CIFAR_SETTING = [
    [1, 16, 1, 1],
    [6, 24, 2, 1],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]


def mobilenetv2(num_classes: int) -> nn.Module:
    """MobileNetV2 (width 1.0, last channel 1280) for small images: 2.35M parameters at 100 classes.

    Differs from torchvision's ``mobilenet_v2``: the first convolution has stride 1 and the first
    stride-2 inverted-residual stage (24 channels) has stride 1, so the total stride is 8 (4x4
    final map at 32x32) instead of 32.
    """
    model = MobileNetV2(num_classes=num_classes, inverted_residual_setting=_CIFAR_SETTING)
    model.features[0][0].stride = (1, 1)
    return model


def gradcam_candidates(model: nn.Module) -> list[nn.Module]:
    """The feature blocks, deepest (the final 1x1 conv to 1280 channels) first."""
    return list(reversed(model.features))

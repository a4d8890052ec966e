"""ShuffleNetV2 x1.0, CIFAR form, on torchvision's ShuffleNetV2 class."""

from __future__ import annotations

from torch import nn
from torchvision.models import shufflenet_v2_x1_0


def shufflenetv2(num_classes: int) -> nn.Module:
    """ShuffleNetV2 x1.0 (stage widths 116/232/464, conv5 1024) for small images: 1.36M parameters
    at 100 classes.

    Differs from torchvision's ``shufflenet_v2_x1_0``: the first 3x3 convolution has stride 1 and
    the max-pool is removed, so the total stride is 8 (4x4 final map at 32x32) instead of 32.
    """
    model = shufflenet_v2_x1_0(weights=None, num_classes=num_classes)
    model.conv1[0].stride = (1, 1)
    model.maxpool = nn.Identity()
    return model


def gradcam_candidates(model: nn.Module) -> list[nn.Module]:
    """conv5, then the shuffle stages, deepest first."""
    return [model.conv5, model.stage4, model.stage3, model.stage2]

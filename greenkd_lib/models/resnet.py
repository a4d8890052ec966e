"""ResNet18, CIFAR form, on torchvision's ResNet class."""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet18 as _tv_resnet18


def resnet18(num_classes: int) -> nn.Module:
    """ResNet18 for small images: 11.2M parameters at 100 classes (11.17M at 10).

    Differs from torchvision's ``resnet18``: the stem is a 3x3 stride-1 convolution (not 7x7
    stride 2) and the max-pool is removed, so the total stride is 8 (4x4 final map at 32x32)
    instead of 32 (a 1x1 map, which makes every Grad-CAM map constant).
    """
    model = _tv_resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    # torchvision's own init for its convolutions, so the new stem matches the rest.
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


def gradcam_candidates(model: nn.Module) -> list[nn.Module]:
    """Residual stages' last blocks, deepest first."""
    return [model.layer4[-1], model.layer3[-1], model.layer2[-1], model.layer1[-1]]

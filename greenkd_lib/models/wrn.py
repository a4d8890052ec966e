"""Wide ResNets (Zagoruyko & Komodakis 2016), the CIFAR form used by RepDistiller and CMI.

Hand-written: torchvision has no CIFAR Wide ResNet (its wide_resnet50_2 is the ImageNet bottleneck form).
"""

from __future__ import annotations

import torch
from torch import nn


class _Block(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-conv3x3, 1x1 conv shortcut on shape change."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None if c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.relu(self.bn1(x))
        # With a projection the shortcut also starts from the activated input (the original WRN code).
        shortcut = x if self.shortcut is None else self.shortcut(o)
        o = self.conv2(self.relu(self.bn2(self.conv1(o))))
        return o + shortcut


class WideResNet(nn.Module):
    """WRN-depth-k: a 3x3 16-channel stem, three stages of (depth-4)/6 blocks at 16k/32k/64k channels
    (strides 1, 2, 2), a final BN-ReLU, global average pooling and one linear layer."""

    def __init__(self, depth: int, widen_factor: int, num_classes: int) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n+4 (e.g. 16, 28, 40), got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        stages = []
        for i, stride in enumerate((1, 2, 2)):
            stages.append(nn.Sequential(*(_Block(widths[i] if j == 0 else widths[i + 1], widths[i + 1],
                                                 stride if j == 0 else 1) for j in range(n))))
        self.block1, self.block2, self.block3 = stages
        self.bn = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(self.relu(self.bn(x))), 1))


def wrn_40_2(num_classes: int) -> nn.Module:
    """WRN-40-2 (6 blocks per stage, widths 32/64/128): 2.2M parameters at 10 classes (2.26M at 100).
    The CMI data-free KD teacher."""
    return WideResNet(40, 2, num_classes)


def wrn_16_1(num_classes: int) -> nn.Module:
    """WRN-16-1 (2 blocks per stage, widths 16/32/64): 0.18M parameters at 10 classes.
    The CMI data-free KD student."""
    return WideResNet(16, 1, num_classes)


def gradcam_candidates(model: nn.Module) -> list[nn.Module]:
    """The final ReLU (block3 after its BN), then the earlier stages, deepest first."""
    return [model.relu, model.block2, model.block1]

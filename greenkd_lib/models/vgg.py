"""VGG16 with batch norm, CIFAR form: torchvision's vgg16_bn convolutional layers."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers


class CifarVGG(nn.Module):
    """torchvision VGG features, global average pooling and one linear classifier."""

    def __init__(self, features: nn.Sequential, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(512, num_classes)
        # torchvision's VGG init, so the layers start as in the library's model.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def vgg16(num_classes: int) -> nn.Module:
    """VGG16-BN for small images: 14.8M parameters at 100 classes (13 conv layers, 512 wide).

    Differs from torchvision's ``vgg16_bn``: the fifth max-pool is dropped (total stride 16, a
    2x2 final map at 32x32, as in the common CIFAR VGG), and the 7x7 pooling plus the three
    4096-wide linear layers are replaced by global average pooling and one linear layer.
    Needs images of at least 16x16 (four 2x2 max-pools).
    """
    features = make_layers(cfgs["D"], batch_norm=True)
    return CifarVGG(features[:-1], num_classes)


def gradcam_candidates(model: nn.Module) -> list[nn.Module]:
    """The ReLU closing each convolutional stage (before each pool, and the last one), deepest first."""
    layers = list(model.features)
    ends = [layer for layer, nxt in zip(layers, layers[1:] + [None])
            if isinstance(layer, nn.ReLU) and not isinstance(nxt, nn.Conv2d)]
    return list(reversed(ends))

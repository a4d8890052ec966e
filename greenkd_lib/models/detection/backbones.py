"""SSD feature extractors of any width whose maps land on a given anchor layout's grids.

Both reuse torchvision's extractors' forward passes (``SSDFeatureExtractorVGG``,
``SSDLiteFeatureExtractorMobileNet``) and build only what differs: channel counts scaled by a
width multiplier, and extra layers chosen per grid so that every map has the layout's size.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn
from torchvision.models import MobileNetV2
from torchvision.models._utils import _make_divisible
from torchvision.models.detection.ssd import _xavier_init, SSDFeatureExtractorVGG
from torchvision.models.detection.ssdlite import _extra_block, _normal_init, SSDLiteFeatureExtractorMobileNet
from torchvision.models.vgg import cfgs, make_layers
from torchvision.ops.misc import Conv2dNormActivation

__all__ = ["next_grid", "vgg_grids", "mobilenet_grids", "SSDVGGExtractor", "SSDLiteMobileNetV2Extractor",
           "SSDLITE_NORM"]

# torchvision's SSDLite batch norm (ssdlite320_mobilenet_v3_large).
SSDLITE_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)


def next_grid(grid: int) -> int:
    """The grid after ``grid`` in an SSD layout: halved (rounded up), but 3 -> 1 as SSD300's last map."""
    return 1 if grid == 3 else math.ceil(grid / 2)


def _extra_conv(grid: int) -> dict:
    """Kernel-3 conv geometry taking a ``grid`` map to ``next_grid(grid)``.

    As SSD300's extras: stride 2, padding 1 (halving) above 5x5; unpadded stride 1 from 5x5 and 3x3
    (conv10_2, conv11_2: 5 -> 3 -> 1).
    """
    return dict(stride=1, padding=0) if grid in (3, 5) else dict(stride=2, padding=1)


def vgg_grids(image_size: int) -> tuple[int, int]:
    """Side of VGG16's stride-8 (conv4_3) and stride-16 (fc7) maps: 2x2 max-pools, pool3 with ceil_mode."""
    side = image_size // 2 // 2
    side = math.ceil(side / 2)
    return side, side // 2


def mobilenet_grids(image_size: int) -> tuple[int, int, int]:
    """Side of MobileNetV2's stride-8, 16 and 32 maps (each stride-2 conv: kernel 3, padding 1, rounds up)."""
    sides, side = [], image_size
    for stride_two in range(5):
        side = math.ceil(side / 2)
        if stride_two >= 2:
            sides.append(side)
    return tuple(sides)


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class SSDVGGExtractor(SSDFeatureExtractorVGG):
    """torchvision's SSD VGG16 extractor with every channel count times ``width`` and the extras
    following ``grids`` (conv4_3 with its L2Norm, fc6/fc7 as convs, then one extra per further map).

    At ``width=1`` and the 300 layout it has torchvision's ``ssd300_vgg16`` backbone's layers.
    fc6's dilation is 6 on SSD300's 19x19 fc7 map and shrinks with smaller maps
    (``(grid - 1) // 3``, at least 1), so its outer taps still land on the map.
    """

    def __init__(self, width: float, grids: list[int], batch_norm: bool = False) -> None:
        nn.Module.__init__(self)  # the parent's __init__ hard-codes SSD300's channels
        c = partial(_scaled, width=width)
        # batch_norm: VGG16-BN's convolutions (torchvision's vgg16_bn), for training from scratch in a few epochs.
        backbone = make_layers([v if v == "M" else c(v) for v in cfgs["D"]], batch_norm=batch_norm)
        # torchvision's VGG init (vgg16(weights=None) before the SSD surgery).
        for m in backbone.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        pools = [i for i, layer in enumerate(backbone) if isinstance(layer, nn.MaxPool2d)]
        backbone[pools[2]].ceil_mode = True  # as torchvision: 75 -> 38 at 300
        conv4 = c(512)
        self.scale_weight = nn.Parameter(torch.ones(conv4) * 20)
        self.features = nn.Sequential(*backbone[:pools[3]])  # until conv4_3

        fc7_grid = grids[1]
        dilation = min(6, max(1, (fc7_grid - 1) // 3))
        fc = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=False),  # modified pool5
            nn.Conv2d(conv4, c(1024), kernel_size=3, padding=dilation, dilation=dilation),  # fc6, atrous
            nn.ReLU(inplace=True),
            nn.Conv2d(c(1024), c(1024), kernel_size=1),  # fc7
            nn.ReLU(inplace=True),
        )
        _xavier_init(fc)
        extra = nn.ModuleList()
        in_channels = c(1024)
        for k, grid in enumerate(grids[1:-1]):
            # SSD300: conv8_2 is 256 -> 512 wide, the later ones 128 -> 256.
            mid, out = (c(256), c(512)) if k == 0 else (c(128), c(256))
            extra.append(nn.Sequential(
                nn.Conv2d(in_channels, mid, kernel_size=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(mid, out, kernel_size=3, **_extra_conv(grid)),
                nn.ReLU(inplace=True),
            ))
            in_channels = out
        _xavier_init(extra)
        extra.insert(0, nn.Sequential(*backbone[pools[3]:-1], fc))  # pool4, conv5_x, fc6, fc7
        self.extra = extra
        self.out_channels = [conv4, c(1024)] + [block[2].out_channels for block in extra[1:]]


class SSDLiteMobileNetV2Extractor(SSDLiteFeatureExtractorMobileNet):
    """MobileNetV2 (torchvision's, ``width_mult=width``) tapped as SSDLite at strides 8, 16 and 32,
    then SSDLite extra blocks (depthwise-separable) down ``grids``.

    SSDLite taps the expansion output of the last stride-2 block (stride 16) and the final map
    (stride 32); to match SSD300's stride-8 conv4_3 map we also tap the expansion output of the
    stride-16 stage's first block (stride 8), in the same style. Extras have torchvision's SSDLite
    widths (512, 256, 256, 128, then 128) times ``width``, at least 16. At width 1 the backbone is
    torchvision's MobileNetV2; narrower, its last conv narrows too (1280 x width).
    """

    def __init__(self, width: float, grids: list[int], norm_layer=SSDLITE_NORM) -> None:
        nn.Module.__init__(self)  # the parent's __init__ taps one stride fewer
        backbone = MobileNetV2(width_mult=width, norm_layer=norm_layer).features
        if width < 1:
            # torchvision keeps the last 1x1 conv at 1280 channels below width 1 (for its ImageNet
            # classifier); here it scales like every other layer, as SSDLite's reduced tail for a
            # backbone without pretrained weights. At width 0.35 and 64 px the 1280-wide tail and its
            # head blocks were 40 % of the parameters and 15 % of a training step.
            last = backbone[-1]
            backbone[-1] = Conv2dNormActivation(last[0].in_channels, _make_divisible(1280 * width, 8), kernel_size=1,
                                                norm_layer=norm_layer, activation_layer=nn.ReLU6)
        _normal_init(backbone)  # torchvision's SSDLite init for a backbone without pretrained weights
        c16, c32 = [i for i, block in enumerate(backbone) if getattr(block, "_is_cn", False)][-2:]
        for i in (c16, c32):
            if backbone[i].use_res_connect:  # splitting a block with a shortcut would drop the shortcut
                raise ValueError(f"MobileNetV2 block {i} has a residual connection and cannot be split")
        self.features = nn.Sequential(
            nn.Sequential(*backbone[:c16], backbone[c16].conv[0]),  # stride 8: expansion of the first stride-16 block
            nn.Sequential(backbone[c16].conv[1:], *backbone[c16 + 1:c32], backbone[c32].conv[0]),  # stride 16
            nn.Sequential(backbone[c32].conv[1:], *backbone[c32 + 1:]),  # stride 32: the last 1x1 conv's output
        )
        depths = [512, 256, 256, 128]
        extra = nn.ModuleList()
        in_channels = backbone[-1].out_channels
        for k, grid in enumerate(grids[2:-1]):
            out = max(16, int(depths[min(k, len(depths) - 1)] * width))
            block = _extra_block(in_channels, out, norm_layer)
            depthwise = block[1][0]
            geometry = _extra_conv(grid)
            depthwise.stride = (geometry["stride"],) * 2
            depthwise.padding = (geometry["padding"],) * 2
            extra.append(block)
            in_channels = out
        _normal_init(extra)
        self.extra = extra
        self.out_channels = ([backbone[c16].conv[0].out_channels, backbone[c32].conv[0].out_channels,
                              backbone[-1].out_channels] + [block[2].out_channels for block in extra])

"""ImageNet weights for the paper's VGG16 detector backbone, as SSD's recipe starts from them.

The user provides them (nothing is downloaded): a path to a torchvision ``vgg16`` state dict, or
the name of a torchvision weights enum (``"VGG16_Weights.IMAGENET1K_FEATURES"``, the SSD recipe's,
or ``"VGG16_Weights.IMAGENET1K_V1"``) whose file is already in torch's hub cache. An enum whose file
is not there leaves the backbone at random weights, and :func:`load_vgg16_backbone` says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG16_Weights

__all__ = ["load_vgg16_backbone", "weights_file"]

# Where torchvision's VGG16 ``features`` split in the SSD backbone: conv1_1 .. conv4_3 (indices 0-22)
# are ``backbone.features``, pool4 .. conv5_3 (23-29) open ``backbone.extra[0]``; 30 is pool5, replaced.
_POOL4, _POOL5 = 23, 30
# torchvision's ssd300_vgg16 trains 4 of VGG16's 5 stages when the backbone is pre-trained: conv1_x stays.
_FROZEN_LAYERS = 4


def weights_file(source: str) -> tuple[Path | None, tuple[float, ...] | None, tuple[float, ...] | None]:
    """The file behind ``source`` (None: an enum not in the cache) and the normalisation it expects."""
    if source.startswith("VGG16_Weights."):
        try:
            weights = VGG16_Weights[source.removeprefix("VGG16_Weights.")]
        except KeyError:
            names = ", ".join(f"'VGG16_Weights.{w.name}'" for w in VGG16_Weights)
            raise ValueError(f"unknown weights {source!r}; torchvision has {names}, or give a file's path") from None
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
        mean, std = weights.transforms().mean, weights.transforms().std
        if weights is VGG16_Weights.IMAGENET1K_FEATURES:  # the SSD recipe's: 0-255 pixels minus the mean
            mean, std = (0.48235, 0.45882, 0.40784), (1 / 255, 1 / 255, 1 / 255)
        return (cached if cached.is_file() else None), tuple(mean), tuple(std)
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"backbone_weights={source!r}: no such file; give the path of a torchvision vgg16 "
                                f"state dict or a weights enum name such as 'VGG16_Weights.IMAGENET1K_FEATURES'")
    return path, None, None  # a state dict of torchvision's vgg16: its ImageNet normalisation, the data's own


def load_vgg16_backbone(model: nn.Module, source: str) -> tuple[str, tuple[float, ...] | None, tuple[float, ...] | None]:
    """Load ``source``'s VGG16 convolutions into the paper detector ``model``'s backbone and freeze
    conv1_x as torchvision does; returns what was loaded (for the result and the tables) and the
    normalisation the weights expect (None: keep the data's)."""
    path, mean, std = weights_file(source)
    if path is None:
        return f"random (the file of {source} is not in torch's cache {torch.hub.get_dir()})", None, None
    state = torch.load(path, map_location="cpu", weights_only=True)
    mapped = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] != "features" or len(parts) != 3:
            continue  # the classifier's layers: SSD replaces them
        index = int(parts[1])
        if index < _POOL4:
            mapped[f"backbone.features.{index}.{parts[2]}"] = value
        elif index < _POOL5:
            mapped[f"backbone.extra.0.{index - _POOL4}.{parts[2]}"] = value
    own = model.state_dict()
    wrong = [k for k, v in mapped.items() if k not in own or own[k].shape != v.shape]
    if len(mapped) != 26 or wrong:  # 13 convolutions, weight and bias
        raise ValueError(f"{path} is not a torchvision vgg16 state dict for this detector ({len(mapped)} of 26 "
                         f"convolution tensors found{', mismatched: ' + ', '.join(wrong[:3]) if wrong else ''}); "
                         f"give the state dict of torchvision.models.vgg16 or a VGG16_Weights name")
    model.load_state_dict(mapped, strict=False)
    stage_starts = [0] + [i for i, layer in enumerate(model.backbone.features) if isinstance(layer, nn.MaxPool2d)]
    for layer in model.backbone.features[:stage_starts[5 - _FROZEN_LAYERS]]:
        layer.requires_grad_(False)
    return f"ImageNet VGG16 ({source})", mean, std

"""The paper's architectures in their CIFAR form, and helpers to measure and explain them.

``build(name, num_classes, image_size)`` returns a freshly initialised model (no pretrained
weights) carrying ``.arch_name``, ``.num_classes`` and ``.image_size``. All models end in
global average pooling, so any image size at or above the architecture's minimum works; 64x64
(Tiny ImageNet) uses the same stride-1 stems, as the authors' code does.
"""

from __future__ import annotations

import difflib
import numbers
from typing import Callable

import torch
from torch import nn

from . import mobilenetv2 as _mobilenetv2
from . import resnet as _resnet
from . import shufflenetv2 as _shufflenetv2
from . import vgg as _vgg
from . import wrn as _wrn
from .features import PenultimateFeatures, WithFeatures, feature_dim
from .inference import frozen_for_inference
from .measure import count_parameters, forward_flops, latency_ms, model_size_bytes

__all__ = ["MODELS", "UnknownModelError", "build", "canonical_name", "gradcam_layer", "count_parameters", "forward_flops",
           "model_size_bytes", "latency_ms", "MIN_IMAGE_SIZE", "DETECTORS",
           "DETECTOR_MIN_IMAGE_SIZE", "is_detector", "frozen_for_inference", "PenultimateFeatures",
           "WithFeatures", "feature_dim"]

# name -> (builder(num_classes), Grad-CAM candidate blocks deepest first, smallest image size)
_REGISTRY: dict[str, tuple[Callable[[int], nn.Module], Callable[[nn.Module], list[nn.Module]], int]] = {
    "resnet18": (_resnet.resnet18, _resnet.gradcam_candidates, 8),
    "mobilenetv2": (_mobilenetv2.mobilenetv2, _mobilenetv2.gradcam_candidates, 8),
    "shufflenetv2": (_shufflenetv2.shufflenetv2, _shufflenetv2.gradcam_candidates, 8),
    "vgg16": (_vgg.vgg16, _vgg.gradcam_candidates, 16),  # four 2x2 max-pools
    "wrn_40_2": (_wrn.wrn_40_2, _wrn.gradcam_candidates, 8),
    "wrn_16_1": (_wrn.wrn_16_1, _wrn.gradcam_candidates, 8),
}

MODELS: tuple[str, ...] = tuple(_REGISTRY)
# Smallest image side each model accepts (below it a map shrinks to nothing or no block is >= 2x2).
MIN_IMAGE_SIZE: dict[str, int] = {name: entry[2] for name, entry in _REGISTRY.items()}

# Detectors (Table 4's VOC rows), built by greenkd_lib.models.detection.archs, not by build(): the names a
# run config may hold and the smallest image side each accepts (its six SSD grids need 32 pixels).
# "_narrow": the quick profile's narrower versions of the paper's pair, not the paper's models.
DETECTORS: tuple[str, ...] = ("ssd_vgg16", "ssdlite_mobilenetv2", "ssd_vgg16_narrow", "ssdlite_mobilenetv2_narrow")
DETECTOR_MIN_IMAGE_SIZE: dict[str, int] = {name: 32 for name in DETECTORS}


class UnknownModelError(ValueError):
    """A model name that is not in ``MODELS``."""

    def __init__(self, name: object) -> None:
        self.name = name
        hint = difflib.get_close_matches(str(name).lower(), MODELS + DETECTORS, n=1)
        super().__init__(f"unknown model {name!r}; choose one of: {', '.join(MODELS)} "
                         f"(detectors: {', '.join(DETECTORS)})"
                         + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def canonical_name(name: object) -> str:
    """The registered spelling of ``name`` ("ResNet18" -> "resnet18"); unknown names raise."""
    # "ResNet18" and "wrn-40-2" are unambiguous spellings of registered names.
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    if key not in _REGISTRY and key not in DETECTOR_MIN_IMAGE_SIZE:
        raise UnknownModelError(name)
    return key


def is_detector(name: str) -> bool:
    """Whether ``name`` (a registered spelling) is a detector rather than a classifier."""
    return canonical_name(name) in DETECTOR_MIN_IMAGE_SIZE


def build(name: str, num_classes: int, image_size: int = 32) -> nn.Module:
    """A new ``name`` model with ``num_classes`` outputs, for ``image_size`` x ``image_size`` RGB input."""
    arch = canonical_name(name)
    if arch in DETECTOR_MIN_IMAGE_SIZE:
        raise ValueError(f"{arch} is a detector: build it with greenkd_lib.models.detection.archs.build(name, num_classes, "
                         "image_size, mean, std)")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    minimum = MIN_IMAGE_SIZE[arch]
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size < minimum:
        raise ValueError(f"{arch} needs image_size to be an integer >= {minimum}, got {image_size!r}; "
                         f"resize the images (e.g. torchvision.transforms.Resize({minimum}))")
    num_classes, image_size = int(num_classes), int(image_size)  # numpy ints from data set metadata
    model = _REGISTRY[arch][0](num_classes)
    model.arch_name = arch
    model.num_classes = num_classes
    model.image_size = image_size
    return model


def gradcam_layer(model: nn.Module) -> nn.Module:
    """The block Grad-CAM should hook: the deepest one whose output map is at least 2x2 at
    ``model.image_size`` (a 1x1 map makes every CAM constant).

    Found by one probing forward pass (eval mode, no grad) over the architecture's candidate blocks.
    """
    arch = getattr(model, "arch_name", None)
    size = getattr(model, "image_size", None)
    if arch is None or size is None:
        raise ValueError("the model has no .arch_name/.image_size attributes; build it with "
                         "greenkd_lib.models.build")
    candidates = _REGISTRY[canonical_name(arch)][1](model)
    shapes: dict[int, torch.Size] = {}

    def record(index: int) -> Callable:
        def hook(module: nn.Module, args: object, output: torch.Tensor) -> None:
            shapes[index] = output.shape
        return hook

    handles = [block.register_forward_hook(record(i)) for i, block in enumerate(candidates)]
    first = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size, device=first.device, dtype=first.dtype))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    for i, block in enumerate(candidates):
        if i in shapes and len(shapes[i]) == 4 and min(shapes[i][-2:]) >= 2:
            return block
    raise ValueError(f"no block of {arch} keeps a map of at least 2x2 at image_size={size}; "
                     "use larger images")

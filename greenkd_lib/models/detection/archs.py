"""The detector names a run config holds, and how each is built (the paper's pair and the quick one)."""

from __future__ import annotations

from typing import Sequence

from torchvision.models.detection.ssd import SSD

from .. import canonical_name, DETECTORS

__all__ = ["build", "width_of", "describe"]

_NARROW = "_narrow"


def width_of(arch: str) -> float:
    """The channel width multiplier behind ``arch``: 1 for the paper's detectors, the quick pair's otherwise."""
    from .ssd import QUICK_WIDTHS

    arch = canonical_name(arch)
    return QUICK_WIDTHS[arch.removesuffix(_NARROW)] if arch.endswith(_NARROW) else 1.0


def build(arch: str, num_classes: int, image_size: int, mean: Sequence[float], std: Sequence[float]) -> SSD:
    """A fresh ``arch`` detector (background included in ``num_classes``) for ``image_size`` squares."""
    from .ssd import build_detector

    arch = canonical_name(arch)
    if arch not in DETECTORS:
        raise ValueError(f"{arch} is a classifier, not a detector; choose one of {', '.join(DETECTORS)}")
    # The narrow VGG teacher has VGG16-BN's convolutions: without batch norm it diverged or stalled
    # when trained from scratch on digit scenes in a few epochs (measured).
    model = build_detector(arch.removesuffix(_NARROW), num_classes, image_size, width_of(arch),
                           mean=tuple(mean), std=tuple(std), batch_norm=arch == "ssd_vgg16" + _NARROW)
    model.arch_name = arch
    return model


def describe(arch: str) -> str:
    """What ``arch`` is, for table captions: the paper's model, or a narrower version of it."""
    arch = canonical_name(arch)
    if arch.endswith(_NARROW):
        bn = " with batch norm" if arch == "ssd_vgg16" + _NARROW else ""
        return f"{arch.removesuffix(_NARROW)}{bn} at width {width_of(arch):g} (not the paper's model)"
    return arch

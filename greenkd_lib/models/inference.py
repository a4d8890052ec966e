"""A frozen copy of a trained model for forward passes only (the KD teacher)."""

from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

__all__ = ["frozen_for_inference"]

logger = logging.getLogger(__name__)


def frozen_for_inference(model: nn.Module, image_size: int, batch_size: int = 8) -> nn.Module:
    """``model`` in eval mode, on a CPU traced and frozen by TorchScript (same outputs up to float rounding).

    Freezing folds BatchNorm into the convolutions and pre-packs the weights for oneDNN once, instead
    of on every call: a frozen ResNet18 teacher's forward took 0.58x the time on a 2-core CPU at
    12x12 (measured, benchmarks/README.md). Elsewhere, or if tracing fails, the eager model is
    returned: this is a speed-up, never a requirement.
    """
    model = model.eval()
    model.requires_grad_(False)
    device = next(model.parameters()).device
    if device.type != "cpu":
        return model
    example = torch.zeros(batch_size, 3, image_size, image_size).contiguous(memory_format=torch.channels_last)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notices: the eager model is the fallback
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example)))
            frozen(example)  # the first calls run the optimisation passes
            frozen(example[:1])
    except Exception as exc:  # noqa: BLE001 - any failure keeps the eager model
        logger.warning("could not freeze %s for inference (%s); using the eager model", type(model).__name__, exc)
        return model
    return frozen

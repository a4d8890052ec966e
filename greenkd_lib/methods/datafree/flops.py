"""FLOPs of synthesis, in the units of ``greenkd_lib.carbon.flops`` (a multiply-add = 2 FLOPs).

Convention beside ``BACKWARD_FACTOR`` (2: a backward through a network whose weights train costs
twice its forward): a backward through a frozen network for the gradient of its input only costs
one forward (``INPUT_BACKWARD_FACTOR``; a convolution's backward computes the input gradient alone).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["INPUT_BACKWARD_FACTOR", "counted", "train_flops_per_sample"]

INPUT_BACKWARD_FACTOR = 1
"""Backward FLOPs per forward FLOP of a frozen network that only passes gradients to its input."""


def counted(fn: Callable[[], object]) -> int:
    """The FLOPs ``FlopCounterMode`` counts while ``fn()`` runs (forward and backward ops alike)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def train_flops_per_sample(model: nn.Module, inputs: torch.Tensor) -> int:
    """Forward plus backward FLOPs per sample of ``model`` training on ``inputs`` (counted, then divided by the batch).

    Counted rather than assumed 3x forward: a first layer whose input needs no gradient (a generator's
    Linear on z) skips its input gradient.
    """
    copy = deepcopy(model).train()  # a copy: the count must not move BN running statistics or leave gradients
    return counted(lambda: copy(inputs).float().sum().backward()) // len(inputs)

"""Forward hooks on a teacher's BatchNorm layers, attached only while a synthesizer runs."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BNStatistics", "bn_layers"]


def bn_layers(model: nn.Module) -> list[nn.BatchNorm2d]:
    """The ``nn.BatchNorm2d`` layers of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


class BNStatistics:
    """DeepInversion's BN-statistics distance, summed over every ``BatchNorm2d`` of ``model``.

    At each forward, for each layer: ``||running_var - var||_2 + ||running_mean - mean||_2`` with the
    batch's per-channel mean and biased variance of the layer's input (L2 norms, not squared).
    Use as a context manager: the hooks exist only inside it, so the student step's forwards pay nothing.
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = bn_layers(model)
        self._handles: list = []
        self._terms: list[torch.Tensor] = []

    def __enter__(self) -> "BNStatistics":
        self._handles = [layer.register_forward_hook(self._record) for layer in self.layers]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self._terms = [], []

    def _record(self, module: nn.BatchNorm2d, args: tuple, output: torch.Tensor) -> None:
        x = args[0].float()  # statistics in fp32 even under bf16 autocast
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        self._terms.append(torch.linalg.vector_norm(module.running_var - var)
                           + torch.linalg.vector_norm(module.running_mean - mean))

    def take(self) -> torch.Tensor:
        """The distance of the last forward (a 0-d tensor with its graph; 0 without BN layers), then forgets it."""
        terms, self._terms = self._terms, []
        if not terms:
            return torch.zeros(())
        return torch.stack(terms).sum()

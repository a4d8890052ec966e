"""Forward hooks on a teacher's BatchNorm layers, attached only while a synthesizer runs."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BNStatistics", "InstanceMeans", "bn_layers"]


def bn_layers(model: nn.Module) -> list[nn.BatchNorm2d]:
    """The ``nn.BatchNorm2d`` layers of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


class _BNInputHooks:
    """Forward hooks on every ``BatchNorm2d`` of ``model`` that record something of the layer's input.

    A context manager: the hooks exist only inside it, so the student step's forwards pay nothing.
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = bn_layers(model)
        self._handles: list = []
        self._records: list[torch.Tensor] = []

    def __enter__(self):
        self._handles = [layer.register_forward_hook(self._hook) for layer in self.layers]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self._records = [], []

    def _hook(self, module: nn.BatchNorm2d, args: tuple, output: torch.Tensor) -> None:
        self._records.append(self._record(module, args[0].float()))  # fp32 even under bf16 autocast

    def _record(self, module: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _take(self) -> list[torch.Tensor]:
        records, self._records = self._records, []
        return records


class BNStatistics(_BNInputHooks):
    """DeepInversion's BN-statistics distance, summed over every ``BatchNorm2d`` of ``model``.

    At each forward, for each layer: ``||running_var - var||_2 + ||running_mean - mean||_2`` with the
    batch's per-channel mean and biased variance of the layer's input (L2 norms, not squared).
    """

    def _record(self, module: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        return torch.linalg.vector_norm(module.running_var - var) + torch.linalg.vector_norm(module.running_mean - mean)

    def take(self) -> torch.Tensor:
        """The distance of the last forward (a 0-d tensor with its graph; 0 without BN layers), then forgets it."""
        terms = self._take()
        return torch.stack(terms).sum() if terms else torch.zeros(())


class InstanceMeans(_BNInputHooks):
    """Per-sample spatial means of every ``BatchNorm2d`` input of ``model``, concatenated: (N, sum of
    channels); CMI's ``InstanceMeanHook`` over all BN layers, the features of its contrastive term."""

    @property
    def dim(self) -> int:
        """Width of the concatenated features (a BN layer's input has ``num_features`` channels)."""
        return sum(layer.num_features for layer in self.layers)

    def _record(self, module: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))

    def take(self) -> torch.Tensor:
        """The features of the last forward (with their graph), then forgets them."""
        return torch.cat(self._take(), dim=1)

"""Penultimate features of the existing models, read with a forward hook (no rewritten models)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PenultimateFeatures", "WithFeatures", "feature_dim"]


def _head(model: nn.Module) -> tuple[nn.Module, int]:
    """The classifier head (its input is the penultimate features) and that input's width."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier whose input could serve as features")
    # torchvision's MobileNetV2 and our VGG wrap Dropout + Linear in .classifier: hook the wrapper,
    # so the features are the pooled map before dropout, as for the models whose head is one .fc.
    for name in ("classifier", "fc"):
        head = getattr(model, name, None)
        if isinstance(head, nn.Module) and any(m is linears[-1] for m in head.modules()):
            return head, linears[-1].in_features
    return linears[-1], linears[-1].in_features


class PenultimateFeatures:
    """Records, at every forward of ``model``, the flattened input of its classifier head.

    ``features.dim`` is its width; :meth:`take` returns the last batch's features (with their
    autograd graph) and forgets them. Call :meth:`remove` to detach the hook.
    """

    def __init__(self, model: nn.Module) -> None:
        self.layer, self.dim = _head(model)
        self._value: torch.Tensor | None = None
        self._handle = self.layer.register_forward_pre_hook(self._record)

    def _record(self, module: nn.Module, args: tuple) -> None:
        self._value = torch.flatten(args[0], 1)

    def take(self) -> torch.Tensor:
        if self._value is None:
            raise RuntimeError("no features recorded: run a forward pass of the model first")
        value, self._value = self._value, None
        return value

    def remove(self) -> None:
        self._handle.remove()


def feature_dim(model: nn.Module) -> int:
    """The width of ``model``'s penultimate features (the input of its classifier head)."""
    return _head(model)[1]


class WithFeatures(nn.Module):
    """``model`` whose forward returns ``(logits, penultimate features)``.

    The features still come from the forward hook; since they are computed inside the forward,
    tracing records them as an output, so a teacher of a feature-based method (CMC) can be frozen
    for inference like any other teacher.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._features = PenultimateFeatures(model)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x)
        return logits, self._features.take()

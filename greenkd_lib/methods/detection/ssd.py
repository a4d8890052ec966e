"""A detector trained alone: SSD's own loss (Table 4's teacher, and a student from scratch)."""

from __future__ import annotations

import torch

from ...models.detection.ssd import forward_parts, match_anchors, ssd_losses
from ..base import DistillationMethod

__all__ = ["SSDTraining", "ssd_terms"]


def ssd_terms(model, images: torch.Tensor, targets: list[dict]):
    """The forward pass of ``model`` with its matched anchors and SSD's two loss terms."""
    parts = forward_parts(model, images, targets)
    matched = match_anchors(model, parts.anchors, parts.targets)
    losses = ssd_losses(model, parts.targets, parts, matched)
    return parts, matched, {"bbox": losses["bbox_regression"], "cls": losses["classification"]}


class SSDTraining(DistillationMethod):
    """SSD's smooth-L1 box regression plus its classification loss with hard negative mining."""

    name = "ce"
    paper_name = "SSD loss"

    def loss_terms(self, x: torch.Tensor, y: list[dict], index: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return ssd_terms(self.student, x, y)[2]

"""Cross-entropy alone: a teacher, or a student trained from scratch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DistillationMethod

__all__ = ["CrossEntropy"]


class CrossEntropy(DistillationMethod):
    """``CE(model(x), y)``; no teacher, no temperature."""

    name = "ce"
    paper_name = "CE"

    def loss_terms(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return {"ce": F.cross_entropy(self.student(x), y)}

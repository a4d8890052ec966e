"""Hinton knowledge distillation (Table 4 "HKD"): CE plus the softened teacher-student KL at tau."""

from __future__ import annotations

import torch

from .base import DistillationMethod
from .kd import kd_terms

__all__ = ["HintonKD"]


class HintonKD(DistillationMethod):
    """``(1 - alpha) * CE + alpha * tau^2 * KL`` with the run's ``alpha``, reduction and tau policy."""

    name = "kd"
    paper_name = "HKD"
    needs_teacher = True
    uses_temperature = True
    uses_alpha = True

    def loss_terms(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None) -> dict[str, torch.Tensor]:
        logits = self.student(x)
        tau = self.temperature(len(x))
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        return kd_terms(logits, teacher_logits, y, tau, alpha=self.cfg.alpha, reduction=self.cfg.kd_reduction)

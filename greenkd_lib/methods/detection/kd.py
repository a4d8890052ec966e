"""Hinton KD for detection: SSD's loss plus tau^2 KL on the class logits of the anchors it trains.

After Chen et al. 2017 (the detection KD the paper follows), reduced to its classification part:
the student's softened class distribution is pulled towards the frozen teacher's at tau on the
anchors SSD's classification loss uses (the positives and the hard negatives), anchor by anchor.
That needs one anchor layout for both detectors (``detection.models.anchor_generator``: same
input size, grids and default boxes). The KD term is weighted by the run's alpha and added to SSD's
whole loss (Chen et al. mix hard and soft classification; we keep SSD's loss as it is).
"""

from __future__ import annotations

import torch

from ...models.detection.ssd import forward_parts
from ..base import DistillationMethod
from .losses import kd_anchor_mask, matched_anchor_kd
from .ssd import ssd_terms

__all__ = ["AnchorKD", "anchor_kd_term"]


def anchor_kd_term(method: DistillationMethod, parts, matched, teacher_logits: torch.Tensor,
                   tau: float | torch.Tensor) -> torch.Tensor:
    """tau^2 KL towards ``teacher_logits`` on the anchors SSD's loss picks for ``parts`` (the student's)."""
    mask = kd_anchor_mask(parts.cls_logits, parts.targets, matched)
    return matched_anchor_kd(parts.cls_logits, teacher_logits, mask, tau, method.cfg.kd_reduction)


class AnchorKD(DistillationMethod):
    """``SSD loss + alpha * tau^2 KL(teacher || student)`` on matched anchors and hard negatives."""

    name = "kd"
    paper_name = "HKD"
    needs_teacher = True
    uses_temperature = True
    uses_alpha = True

    def loss_terms(self, x: torch.Tensor, y: list[dict], index: torch.Tensor | None) -> dict[str, torch.Tensor]:
        parts, matched, terms = ssd_terms(self.student, x, y)
        with torch.no_grad():
            teacher_logits = forward_parts(self.teacher, x).cls_logits
        tau = self.temperature(len(x))
        terms["kd"] = self.cfg.alpha * anchor_kd_term(self, parts, matched, teacher_logits, tau)
        return terms

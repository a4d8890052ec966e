"""Hinton KD on a detector's anchors: the ones SSD's classification loss trains, teacher vs student.

Teacher and student share one anchor layout (``detection.models.anchor_generator``), so anchor
``a`` is the same default box in both and their class logits compare row by row.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor

from ..kd import REDUCTIONS, soft_kl

__all__ = ["kd_anchor_mask", "matched_anchor_kd"]


def kd_anchor_mask(cls_logits: Tensor, targets: list[dict[str, Tensor]], matched_idxs: list[Tensor],
                   neg_to_pos_ratio: float = 3.0) -> Tensor:
    """(B, A) bool: the anchors SSD's classification loss uses, the positives and the hard negatives.

    Chosen as torchvision's ``SSD.compute_loss`` chooses them: positives are anchors matched to an
    object with a label > 0; per image the ``neg_to_pos_ratio * num_pos`` other anchors with the
    largest cross-entropy towards background are the hard negatives (none in an image without
    objects). Pass the student's ``cls_logits``: then KD acts on exactly the anchors the student's
    own SSD loss trains in this step. Computed without gradient. ``targets`` and ``matched_idxs``
    as for ``detection.models.ssd_losses`` (the transformed targets, ``match_anchors``'s output).
    """
    if cls_logits.dim() != 3:
        raise ValueError(f"cls_logits must be (B, A, C), got shape {tuple(cls_logits.shape)}")
    if not len(targets) == len(matched_idxs) == cls_logits.shape[0]:
        raise ValueError(f"{len(targets)} targets and {len(matched_idxs)} matches for a batch of "
                         f"{cls_logits.shape[0]}; give one of each per image")
    with torch.no_grad():
        cls_targets = []
        for target, matched in zip(targets, matched_idxs):
            labels = torch.zeros(matched.shape, dtype=target["labels"].dtype, device=target["labels"].device)
            foreground = torch.where(matched >= 0)[0]
            labels[foreground] = target["labels"][matched[foreground]]
            cls_targets.append(labels)
        cls_targets = torch.stack(cls_targets)
        num_classes = cls_logits.size(-1)
        cls_loss = F.cross_entropy(cls_logits.reshape(-1, num_classes), cls_targets.view(-1),
                                   reduction="none").view(cls_targets.size())
        # torchvision's hard negative mining, step by step (same sort, so the same ties are broken).
        positive = cls_targets > 0
        num_negative = neg_to_pos_ratio * positive.sum(1, keepdim=True)
        negative_loss = cls_loss.clone()
        negative_loss[positive] = -float("inf")
        _, idx = negative_loss.sort(1, descending=True)
        hard_negative = idx.sort(1)[1] < num_negative
        return positive | hard_negative


def _rows_tau(tau: float | Tensor, mask: Tensor) -> float | Tensor:
    """tau for the selected anchors, validated: a number or 0-d tensor as is, a per-image (B,) tensor
    repeated over each image's selected anchors."""
    if isinstance(tau, Tensor):
        batch = mask.shape[0]
        if tau.dim() != 0 and tau.shape != (batch,):
            raise ValueError(f"tau must be a number or a tensor of shape ({batch},) (one per image), "
                             f"got shape {tuple(tau.shape)}")
        if not bool(torch.all(torch.isfinite(tau) & (tau > 0))):
            raise ValueError("tau must be finite and > 0 for every image")
        return tau if tau.dim() == 0 else tau.to(mask.device)[:, None].expand(mask.shape)[mask]
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a finite number > 0 or a per-image tensor, got {tau!r}")
    return float(tau)


def matched_anchor_kd(student_logits: Tensor, teacher_logits: Tensor, mask: Tensor, tau: float | Tensor,
                      reduction: str = "mean") -> Tensor:
    """``tau^2 * KL(softmax(teacher/tau) || softmax(student/tau))`` over the anchors in ``mask``.

    Logits (B, A, C), ``mask`` (B, A) bool (e.g. :func:`kd_anchor_mask`); the teacher is detached.
    ``tau``: a number, or a (B,) tensor (one per image, e.g. a stochastic policy) that softens and
    weights (by its square) every selected anchor of its image. ``reduction``: "mean" averages over
    the selected anchors of the whole batch and the classes (``nn.KLDivLoss()``'s default, the
    authors' loss), "batchmean" sums over classes and averages over the selected anchors. No
    selected anchor gives 0 (with a graph, no NaN).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if student_logits.dim() != 3 or teacher_logits.shape != student_logits.shape:
        raise ValueError(f"student and teacher logits must both be (B, A, C) of one shape (one anchor layout), "
                         f"got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    if mask.dtype != torch.bool or mask.shape != student_logits.shape[:2]:
        raise ValueError(f"mask must be a bool tensor of shape {tuple(student_logits.shape[:2])} (B, A), "
                         f"got {mask.dtype} of shape {tuple(mask.shape)}")
    rows_tau = _rows_tau(tau, mask)
    student = student_logits[mask]
    if student.shape[0] == 0:
        return student.sum() * 0.0  # keeps the graph to the student's logits
    return soft_kl(student, teacher_logits[mask], rows_tau, reduction)

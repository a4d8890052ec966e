"""Hinton knowledge-distillation loss with a scalar or per-sample temperature."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

__all__ = ["kd_loss", "REDUCTIONS"]

REDUCTIONS: tuple[str, ...] = ("batchmean", "mean")


def _check_tau(tau: float | torch.Tensor, batch: int, like: torch.Tensor) -> torch.Tensor:
    """tau as a (B, 1) tensor (per-sample) or a 0-d tensor, validated."""
    if isinstance(tau, torch.Tensor):
        if tau.dim() == 0:
            t = tau.to(like)
        elif tau.shape == (batch,):
            t = tau.to(like).unsqueeze(1)
        else:
            raise ValueError(f"tau must be a number or a tensor of shape ({batch},) (one per sample), "
                             f"got shape {tuple(tau.shape)}")
        if not bool(torch.all(torch.isfinite(t) & (t > 0))):
            raise ValueError("tau must be finite and > 0 for every sample")
        return t
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a finite number > 0 or a per-sample tensor, got {tau!r}")
    return torch.tensor(float(tau), dtype=like.dtype, device=like.device)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
            tau: float | torch.Tensor, alpha: float = 0.95, reduction: str = "batchmean") -> torch.Tensor:
    """``(1 - alpha) * CE(student, targets) + alpha * tau^2 * KL(softmax(t/tau) || softmax(s/tau))``.

    ``reduction="batchmean"`` sums the KL over classes and averages over the batch (Hinton;
    torchdistill, mdistiller); ``"mean"`` also averages over classes (the authors'
    ``nn.KLDivLoss()`` default), i.e. divides the KD term by the number of classes. ``tau`` is a
    number or a ``(B,)`` tensor, in which case each sample is softened by, and its KL weighted
    with the square of, its own tau. The cross-entropy is a batch mean; ``targets`` are class
    indices ``(B,)`` or class probabilities ``(B, C)``. The teacher logits are detached.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (the KD weight) must be a number in [0, 1], got {alpha!r}")
    if student_logits.dim() != 2:
        raise ValueError(f"student_logits must be (batch, classes), got shape {tuple(student_logits.shape)}")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits shape {tuple(teacher_logits.shape)} differs from student_logits "
                         f"shape {tuple(student_logits.shape)}; both models need the same classes")
    batch, classes = student_logits.shape
    if targets.shape not in ((batch,), (batch, classes)):
        raise ValueError(f"targets must be class indices of shape ({batch},) or probabilities of shape "
                         f"({batch}, {classes}), got shape {tuple(targets.shape)}")
    # Softmax of low-precision logits at small tau loses too much; compute at least in float32.
    dtype = torch.promote_types(student_logits.dtype, torch.float32)
    s = student_logits.to(dtype)
    t = _check_tau(tau, batch, s)

    if targets.is_floating_point():
        targets = targets.to(dtype)
    loss = s.new_zeros(())
    if alpha < 1:
        loss = loss + (1 - alpha) * F.cross_entropy(s, targets)
    if alpha > 0:
        log_p_s = F.log_softmax(s / t, dim=1)
        log_p_t = F.log_softmax(teacher_logits.detach().to(dtype) / t, dim=1)
        # log_target keeps exp(log p_t) * (log p_t - log p_s) finite where p_t underflows to 0.
        kl = F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(dim=1)
        kd = (kl * t.reshape(-1) ** 2).mean()
        if reduction == "mean":
            kd = kd / classes
        loss = loss + alpha * kd
    return loss

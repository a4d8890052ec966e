"""Hinton knowledge-distillation loss with a scalar or per-sample temperature."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from ..config.profiles import KD_REDUCTIONS

__all__ = ["kd_loss", "kd_terms", "soft_kl", "sum_terms", "REDUCTIONS"]

REDUCTIONS: tuple[str, ...] = KD_REDUCTIONS  # the config checks a run's reduction against the same list


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


def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if student_logits.dim() != 2:
        raise ValueError(f"student_logits must be (batch, classes), got shape {tuple(student_logits.shape)}")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits shape {tuple(teacher_logits.shape)} differs from student_logits "
                         f"shape {tuple(student_logits.shape)}; both models need the same classes")


def _soft_kl(s: torch.Tensor, teacher_logits: torch.Tensor, t: torch.Tensor, reduction: str) -> torch.Tensor:
    """tau^2 KL(softmax(teacher/tau) || softmax(s/tau)) with ``s`` and ``t`` already checked and cast."""
    log_p_s = F.log_softmax(s / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach().to(s.dtype) / t, dim=1)
    # log_target keeps exp(log p_t) * (log p_t - log p_s) finite where p_t underflows to 0.
    kl = F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(dim=1)
    kd = (kl * t.reshape(-1) ** 2).mean()
    return kd / s.shape[1] if reduction == "mean" else kd


def soft_kl(student_logits: torch.Tensor, target_logits: torch.Tensor, tau: float | torch.Tensor,
            reduction: str = "batchmean") -> torch.Tensor:
    """``tau^2 * KL(softmax(target/tau) || softmax(student/tau))``, the target detached.

    The distillation term of Hinton KD and of mutual learning (where the target is the peer).
    ``reduction`` and ``tau`` as in :func:`kd_loss`.
    """
    _check_logits(student_logits, target_logits, reduction)
    s = student_logits.to(torch.promote_types(student_logits.dtype, torch.float32))
    return _soft_kl(s, target_logits, _check_tau(tau, s.shape[0], s), reduction)


def kd_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
             tau: float | torch.Tensor, alpha: float = 0.95, reduction: str = "batchmean") -> dict[str, torch.Tensor]:
    """The two weighted terms of :func:`kd_loss`: ``{"ce": (1 - alpha) * CE, "kd": alpha * tau^2 * KL}``.

    A term whose weight is 0 is left out.
    """
    _check_logits(student_logits, teacher_logits, reduction)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (the KD weight) must be a number in [0, 1], got {alpha!r}")
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
    terms: dict[str, torch.Tensor] = {}
    if alpha < 1:
        terms["ce"] = (1 - alpha) * F.cross_entropy(s, targets)
    if alpha > 0:
        terms["kd"] = alpha * _soft_kl(s, teacher_logits, t, reduction)
    return terms


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
    return sum_terms(kd_terms(student_logits, teacher_logits, targets, tau, alpha, reduction),
                     like=student_logits)


def sum_terms(terms: dict[str, torch.Tensor], like: torch.Tensor | None = None) -> torch.Tensor:
    """The loss a method's named terms add up to (0 for no terms, on ``like``'s device)."""
    total = None
    for value in terms.values():
        total = value if total is None else total + value
    if total is None:
        if like is None:
            raise ValueError("no loss terms to add up")
        return like.new_zeros((), dtype=torch.promote_types(like.dtype, torch.float32))
    return total

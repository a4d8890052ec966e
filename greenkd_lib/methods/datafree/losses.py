"""The synthesizers' loss terms on teacher (and student) outputs and on images (CMI's criterions, our code)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["onehot", "balance", "activation", "adversarial_kl", "jsdiv", "total_variation"]


def onehot(teacher_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the teacher's logits to their own argmax: low when the teacher is confident."""
    return F.cross_entropy(teacher_logits, teacher_logits.argmax(dim=1))


def balance(teacher_logits: torch.Tensor) -> torch.Tensor:
    """``sum(p log p)`` of the batch-mean prediction ``p`` (DAFL's information entropy, negated: minimised)."""
    p = F.softmax(teacher_logits.float(), dim=1).mean(dim=0)
    return (p * torch.log(p)).sum()


def activation(features: torch.Tensor) -> torch.Tensor:
    """``-mean |features|``: DAFL's reward for strong penultimate activations."""
    return -features.abs().mean()


def adversarial_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """``T^2 KL(softmax(t/T) || softmax(s/T))``, batch mean, gradient through BOTH logits.

    The target is not detached, as in CMI's ``kldiv``: the generator is pushed through the teacher
    too. A synthesizer minimises its negative (the student-teacher disagreement is maximised).
    """
    log_s = F.log_softmax(student_logits.float() / T, dim=1)
    log_t = F.log_softmax(teacher_logits.float() / T, dim=1)
    return F.kl_div(log_s, log_t, reduction="batchmean", log_target=True) * T * T


def jsdiv(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 3.0) -> torch.Tensor:
    """Jensen-Shannon divergence of the softened predictions (each clamped to [0.01, 0.99]), batch mean, no T^2."""
    p = F.softmax(student_logits.float() / T, dim=1)
    q = F.softmax(teacher_logits.float() / T, dim=1)
    m = (0.5 * (p + q)).clamp(0.01, 0.99)  # the mixture of the unclamped predictions, then clamped
    log_p, log_q = p.clamp(0.01, 0.99).log(), q.clamp(0.01, 0.99).log()
    # KL(M || P) as F.kl_div(input=log P, target=M), as CMI writes it.
    return 0.5 * (F.kl_div(log_p, m, reduction="batchmean") + F.kl_div(log_q, m, reduction="batchmean"))


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """L1 total variation: mean |difference| of neighbouring pixels right, down and along both diagonals, summed."""
    right = x[:, :, :, :-1] - x[:, :, :, 1:]
    down = x[:, :, :-1, :] - x[:, :, 1:, :]
    diag = x[:, :, 1:, :-1] - x[:, :, :-1, 1:]
    anti = x[:, :, :-1, :-1] - x[:, :, 1:, 1:]
    return sum(d.abs().mean() for d in (right, down, diag, anti))

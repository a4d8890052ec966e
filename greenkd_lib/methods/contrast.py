"""The contrastive parts of CMC/CRD distillation: embedding heads, a memory bank per side, the NCE loss.

After Tian et al.'s contrastive representation distillation (RepDistiller's ``crd`` package): each
side's penultimate features go through a linear head to an L2-normalised embedding; a sample's
student embedding is scored against the *teacher's* memory entry of the same sample (the positive)
and of K other samples (negatives), and the other way round; the scores exp(<v, m> / T) are
normalised by a constant Z fixed at the first batch; NCE tells the positive from the negatives.
Negatives come from samples of other classes (RepDistiller's default ``--mode exact``) or from any
other sample (``relax``), :data:`NCE_MODES`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Embedding", "ContrastMemory", "nce_loss", "NCE_EPS", "NCE_MODES"]

NCE_EPS = 1e-7
NCE_MODES = ("exact", "relax")  # negatives from other classes only, or from every other sample


class Embedding(nn.Module):
    """A linear map of features to ``dim`` dimensions, L2-normalised."""

    def __init__(self, in_features: int, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(torch.flatten(features, 1)), dim=1)


class ContrastMemory(nn.Module):
    """One memory slot per training sample and side, updated with momentum after every batch."""

    def __init__(self, dim: int, n_data: int, k: int, temperature: float, momentum: float,
                 generator: torch.Generator) -> None:
        super().__init__()
        if not 1 <= k <= n_data - 1:
            raise ValueError(f"{k} negatives per sample need at least {k + 1} training samples, the data has "
                             f"{n_data}: lower nce_k to at most {n_data - 1}")
        self.n_data, self.k, self.temperature, self.momentum = n_data, k, temperature, momentum
        bound = 1.0 / math.sqrt(dim / 3)  # RepDistiller's initial spread
        for side in ("student", "teacher"):
            init = torch.rand(n_data, dim, generator=generator) * 2 * bound - bound
            self.register_buffer(f"memory_{side}", init)
            self.register_buffer(f"z_{side}", torch.tensor(-1.0))  # < 0: not yet fixed

    def negatives(self, index: torch.Tensor, generator: torch.Generator,
                  labels: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, k)`` indices of other samples, uniformly at random: with ``labels`` (every training
        sample's class, by index) only samples of another class than the anchor's, with replacement
        (RepDistiller's exact mode); without, any sample but the anchor itself (relax mode)."""
        index = index.detach().cpu().long()
        if labels is None:
            draw = torch.randint(0, self.n_data - 1, (len(index), self.k), generator=generator)
            return draw + (draw >= index[:, None]).long()  # skip the sample's own slot
        labels = labels.detach().cpu().long()
        if len(labels) != self.n_data:
            raise ValueError(f"labels must give the class of each of the {self.n_data} memory slots, got {len(labels)}")
        anchors = labels[index]
        out = torch.empty(len(index), self.k, dtype=torch.long)
        for c in anchors.unique().tolist():  # classes in ascending order: a fixed order of draws
            others = torch.nonzero(labels != c).squeeze(1)
            if len(others) == 0:
                raise ValueError(f"every training sample is of class {c}: there is no negative of another class; "
                                 f"use method_params={{'nce_mode': 'relax'}}")
            rows = anchors == c
            out[rows] = others[torch.randint(0, len(others), (int(rows.sum()), self.k), generator=generator)]
        return out

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, index: torch.Tensor,
                negatives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``(B, 1 + k)`` (positive first) of the student embedding against the teacher's memory,
        and of the teacher embedding against the student's memory; then the memories move."""
        if index.max() >= self.n_data or index.min() < 0:
            raise ValueError(f"sample indices must lie in [0, {self.n_data}), got {int(index.min())}..{int(index.max())}")
        slots = torch.cat([index[:, None], negatives.to(index.device)], dim=1)
        scores_student = self._scores(student, self.memory_teacher[slots].detach(), "z_student")
        scores_teacher = self._scores(teacher, self.memory_student[slots].detach(), "z_teacher")
        with torch.no_grad():
            self._update("memory_student", student, index)
            self._update("memory_teacher", teacher, index)
        return scores_student, scores_teacher

    def _scores(self, embedding: torch.Tensor, memory: torch.Tensor, z_name: str) -> torch.Tensor:
        scores = torch.exp(torch.bmm(memory, embedding[:, :, None]).squeeze(2) / self.temperature)
        z = getattr(self, z_name)
        if z < 0:  # Z estimates the partition function once, from the first batch (as RepDistiller)
            z.fill_(float(scores.mean().detach()) * self.n_data)
        return scores / z

    def _update(self, name: str, embedding: torch.Tensor, index: torch.Tensor) -> None:
        memory = getattr(self, name)
        moved = memory[index] * self.momentum + embedding.detach() * (1 - self.momentum)
        memory.index_copy_(0, index, F.normalize(moved, dim=1))


def nce_loss(scores: torch.Tensor, n_data: int, eps: float = NCE_EPS) -> torch.Tensor:
    """Noise-contrastive estimation over ``(B, 1 + k)`` normalised scores, positive in column 0.

    With uniform noise P_n = 1 / n_data: ``-mean_b [log(s+ / (s+ + k P_n)) + sum_neg log(k P_n / (s- + k P_n))]``.
    """
    if scores.dim() != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (batch, 1 + negatives), got shape {tuple(scores.shape)}")
    k = scores.shape[1] - 1
    noise = k / n_data
    positive, negative = scores[:, 0], scores[:, 1:]
    log_d1 = torch.log(positive / (positive + noise + eps))
    log_d0 = torch.log(noise / (negative + noise + eps))
    return -(log_d1.sum() + log_d0.sum()) / scores.shape[0]

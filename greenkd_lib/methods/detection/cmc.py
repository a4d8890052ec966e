"""Contrastive distillation for detection (Table 4 VOC "CMC"): the classification method's CRD term
on the detectors' pooled backbone features, beside SSD's loss and the anchor KD term.

As for classification (``distill.methods.cmc``): 128-d embeddings of each side's pooled features, a
memory bank slot per training image and side, NCE over K negatives at the fixed contrastive
temperature; the stochastic tau replaces only the KD temperature. ``ce_weight`` weighs SSD's loss.
An image holds objects of several classes, so "another class" (``nce_mode='exact'``) is not
defined: negatives are other images (``'relax'``), and a config asking for exact is refused.
"""

from __future__ import annotations

import torch
from torch import nn

from ...models.detection.ssd import forward_parts, pooled_dim, pooled_features
from ..base import DistillationMethod, Setup
from ..cmc import ContrastiveKD
from ..contrast import ContrastMemory, Embedding, nce_loss
from .kd import anchor_kd_term
from .ssd import ssd_terms

__all__ = ["DetectionContrastiveKD"]


class DetectionContrastiveKD(ContrastiveKD):
    """``ce_weight * SSD loss + kd_weight * tau^2 KL (anchors) + crd_weight * (NCE_s + NCE_t)``.

    Parameters, trainable heads and checkpointed state (heads, memory, RNG) are the classification
    method's; the features are the detectors' pooled feature maps."""

    def __init__(self, cfg, setup: Setup) -> None:
        DistillationMethod.__init__(self, cfg, setup)  # the parent's hooks a classifier's penultimate layer
        p = self.params
        if p["nce_k"] > setup.train_size - 1:
            raise ValueError(f"cmc draws nce_k={p['nce_k']} negatives per image from the other training images, "
                             f"but {cfg.dataset} has {setup.train_size}: pass method_params={{'nce_k': n}} "
                             f"with n <= {setup.train_size - 1}")
        if p["nce_mode"] != "relax":
            raise ValueError(f"a detection cmc run draws its negatives from other images (an image holds several "
                             f"classes): pass method_params={{'nce_mode': 'relax'}}, not {p['nce_mode']!r}")
        self.generator = torch.Generator().manual_seed(cfg.seed)  # memory init and negatives
        self.dims = {"student": pooled_dim(self.student), "teacher": pooled_dim(self.teacher)}
        self.heads = nn.ModuleDict({side: Embedding(dim, p["feat_dim"]) for side, dim in self.dims.items()}
                                   ).to(self.device)
        self.memory = ContrastMemory(p["feat_dim"], setup.train_size, p["nce_k"], p["nce_t"], p["nce_m"],
                                     self.generator).to(self.device)

    def loss_terms(self, x: torch.Tensor, y: list[dict], index: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if index is None:
            raise ValueError("cmc needs each image's index in the training set (its memory slot)")
        p = self.params
        parts, matched, ssd = ssd_terms(self.student, x, y)
        with torch.no_grad():
            teacher = forward_parts(self.teacher, x)
        tau = self.temperature(len(x))
        negatives = self.memory.negatives(index, self.generator)
        scores_s, scores_t = self.memory(self.heads["student"](pooled_features(parts)),
                                         self.heads["teacher"](pooled_features(teacher)),
                                         index.to(self.device), negatives)
        n = self.memory.n_data
        return {
            "bbox": p["ce_weight"] * ssd["bbox"], "cls": p["ce_weight"] * ssd["cls"],
            "kd": p["kd_weight"] * anchor_kd_term(self, parts, matched, teacher.cls_logits, tau),
            "crd": p["crd_weight"] * (nce_loss(scores_s, n) + nce_loss(scores_t, n)),
        }

    def train_flops_per_sample(self, student_forward: int, teacher_forward: int) -> int:
        p = self.params
        heads = 2 * p["feat_dim"] * (self.dims["student"] + self.dims["teacher"])
        contrast = 2 * (2 * (1 + p["nce_k"]) * p["feat_dim"]) * 2
        return DistillationMethod.train_flops_per_sample(self, student_forward, teacher_forward) + 3 * heads + contrast

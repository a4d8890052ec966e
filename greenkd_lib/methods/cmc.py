"""Contrastive distillation (Table 4 "CMC"): CE, the KD term at tau, and a contrastive (CRD) term.

The paper cites CMC; we follow RepDistiller's CRD, its use as a distillation loss: 128-d
embeddings of both models' penultimate features, a memory bank per side with momentum 0.5, NCE
with K negatives at the contrastive temperature 0.07, both directions; the negatives of a sample
come from other classes (``nce_mode='exact'``, RepDistiller's default) or from any other sample
(``'relax'``). The stochastic tau replaces
only the KD temperature; the contrastive temperature stays fixed. The KD term's KL is
``'batchmean'`` (summed over classes, averaged over the batch), as RepDistiller's ``DistillKL``
computes it, whatever the profile's reduction: the authors' ``'mean'`` is theirs for HKD only, and
would shrink this term by 1/C.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..models.features import PenultimateFeatures
from .base import DistillationMethod, Setup
from .contrast import ContrastMemory, Embedding, NCE_MODES, nce_loss
from .kd import soft_kl

__all__ = ["ContrastiveKD"]


class ContrastiveKD(DistillationMethod):
    """``ce_weight * CE + kd_weight * tau^2 KL + crd_weight * (NCE_student + NCE_teacher)``."""

    name = "cmc"
    paper_name = "CMC"
    needs_teacher = True
    uses_temperature = True
    needs_indices = True
    teacher_features = True  # the teacher returns (logits, penultimate features)
    kd_reduction = "batchmean"  # RepDistiller's DistillKL: sum over classes / batch size
    # RepDistiller's CRD+KD recipe (-r 1 -a 1 -b 0.8, K 16384); profiles lower nce_k for small data.
    defaults = {"feat_dim": 128, "nce_k": 16384, "nce_t": 0.07, "nce_m": 0.5, "nce_mode": "exact",
                "ce_weight": 1.0, "kd_weight": 1.0, "crd_weight": 0.8}

    @classmethod
    def check_params(cls, params: dict) -> None:
        for key in ("feat_dim", "nce_k"):
            value = params[key]
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"cmc's {key} must be a whole number >= 1, got {value!r}")
        if not 0 < params["nce_t"]:
            raise ValueError(f"cmc's nce_t (contrastive temperature) must be > 0, got {params['nce_t']!r}")
        if not 0 <= params["nce_m"] < 1:
            raise ValueError(f"cmc's nce_m (memory momentum) must lie in [0, 1), got {params['nce_m']!r}")
        if params["nce_mode"] not in NCE_MODES:
            raise ValueError(f"cmc's nce_mode must be one of {', '.join(map(repr, NCE_MODES))} (negatives from other "
                             f"classes, or from any other sample), got {params['nce_mode']!r}")

    def __init__(self, cfg, setup: Setup) -> None:
        super().__init__(cfg, setup)
        p = self.params
        if p["nce_k"] > setup.train_size - 1:
            raise ValueError(f"cmc draws nce_k={p['nce_k']} negatives per sample from the other training samples, "
                             f"but {cfg.dataset} has {setup.train_size}: pass method_params={{'nce_k': n}} "
                             f"with n <= {setup.train_size - 1}")
        self.student_features = PenultimateFeatures(self.student)
        self.teacher_dim = setup.teacher_feature_dim
        self.generator = torch.Generator().manual_seed(cfg.seed)  # memory init and negatives
        self.heads = nn.ModuleDict({
            "student": Embedding(self.student_features.dim, p["feat_dim"]),
            "teacher": Embedding(self.teacher_dim, p["feat_dim"]),
        }).to(self.device)
        self.memory = ContrastMemory(p["feat_dim"], setup.train_size, p["nce_k"], p["nce_t"], p["nce_m"],
                                     self.generator).to(self.device)
        self.negative_labels = None
        if p["nce_mode"] == "exact":
            if setup.train_labels is None:
                raise ValueError("cmc's nce_mode='exact' draws negatives from other classes, but this loop gives no "
                                 "training labels; use method_params={'nce_mode': 'relax'}")
            self.negative_labels = setup.train_labels.cpu()

    def trainable(self) -> list[nn.Parameter]:
        return list(self.heads.parameters())

    def loss_terms(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if index is None:
            raise ValueError("cmc needs each sample's index in the training set (its memory slot); "
                             "the training loop passes it when the method sets needs_indices")
        p = self.params
        logits = self.student(x)
        student_features = self.student_features.take()
        tau = self.temperature(len(x))
        with torch.no_grad():
            teacher_logits, teacher_features = self.teacher(x)
        negatives = self.memory.negatives(index, self.generator, self.negative_labels)
        scores_s, scores_t = self.memory(self.heads["student"](student_features),
                                         self.heads["teacher"](teacher_features), index.to(self.device), negatives)
        n = self.memory.n_data
        return {
            "ce": p["ce_weight"] * F.cross_entropy(logits, y),
            "kd": p["kd_weight"] * soft_kl(logits, teacher_logits, tau, self.cfg.kd_reduction),
            "crd": p["crd_weight"] * (nce_loss(scores_s, n) + nce_loss(scores_t, n)),
        }

    def train_flops_per_sample(self, student_forward: int, teacher_forward: int) -> int:
        p = self.params
        heads = 2 * p["feat_dim"] * (self.student_features.dim + self.teacher_dim)  # multiply-adds x 2
        # Scores against 1 + K memory slots per side, forward and backward (to the embedding only).
        contrast = 2 * (2 * (1 + p["nce_k"]) * p["feat_dim"]) * 2
        return super().train_flops_per_sample(student_forward, teacher_forward) + 3 * heads + contrast

    def state_dict(self) -> dict:
        return {**super().state_dict(), "heads": self.heads.state_dict(), "memory": self.memory.state_dict(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.heads.load_state_dict(state["heads"])
        self.memory.load_state_dict(state["memory"])
        self.generator.set_state(state["generator"])

"""Deep mutual learning (Table 4 "DML"): the student and a peer learn together from scratch.

Each network minimises its cross-entropy plus ``kl_weight * tau^2 * KL`` towards the other's
softened, detached predictions at tau (one tau per batch for both directions under the stochastic
policy). There is no pre-trained teacher: the peer (the teacher architecture, as the paper pairs
them) trains beside the student with its own optimizer and the run's schedule. Both networks step
on the same batch at once (Zhang et al. update them in turn; with detached targets the two
updates differ only by one step of staleness). The reported accuracy is the student's; the cost
is both networks'. The KL is ``'batchmean'``, as Zhang et al. define it (summed over classes,
averaged over the batch), whatever the profile's reduction: the authors' ``'mean'`` would make the
mutual term 1/C of theirs.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .. import models
from ..carbon.flops import BACKWARD_FACTOR
from .base import DistillationMethod, Setup
from .kd import soft_kl, sum_terms

__all__ = ["MutualLearning"]


class MutualLearning(DistillationMethod):
    """CE + tau^2 KL towards the peer, for the student and (its own optimizer) for the peer."""

    name = "dml"
    paper_name = "DML"
    uses_temperature = True
    kd_reduction = "batchmean"  # Zhang et al.'s KL: sum over classes, mean over the batch
    defaults = {"peer": "resnet18", "kl_weight": 1.0}

    @classmethod
    def check_params(cls, params: dict) -> None:
        params["peer"] = models.canonical_name(params["peer"])  # an unknown architecture lists the known ones
        w = params["kl_weight"]
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or w < 0:
            raise ValueError(f"dml's kl_weight must be a number >= 0, got {w!r}")

    @classmethod
    def label(cls, cfg) -> str:
        tau = super().label(cfg).split(f"{cls.paper_name} ", 1)[1]
        return f"{cfg.method_params['peer']}<->{cfg.model} {cls.paper_name} {tau}"

    def __init__(self, cfg, setup: Setup) -> None:
        super().__init__(cfg, setup)
        self.peer = models.build(self.params["peer"], setup.num_classes, setup.image_size).to(
            self.device, memory_format=torch.channels_last)
        self.peer_forward = models.forward_flops(self.peer, setup.image_size)
        self.peer_optimizer, self.peer_scheduler = setup.make_optimizer(self.peer.parameters())

    def new_epoch(self) -> None:
        super().new_epoch()
        self.peer.train()

    def train_step(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None,
                   optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        logits, peer_logits = self.student(x), self.peer(x)
        tau = self.temperature(len(x))
        w, reduction = self.params["kl_weight"], self.cfg.kd_reduction
        terms = {
            "ce": F.cross_entropy(logits, y),
            "kl": w * soft_kl(logits, peer_logits, tau, reduction),
            "peer_ce": F.cross_entropy(peer_logits, y),
            "peer_kl": w * soft_kl(peer_logits, logits, tau, reduction),
        }
        return self.step_both(terms, optimizer)

    def step_both(self, terms: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """One optimisation step of the student and of the peer on the sum of ``terms``; returns them."""
        optimizer.zero_grad(set_to_none=True)
        self.peer_optimizer.zero_grad(set_to_none=True)
        sum_terms(terms).backward()  # the targets are detached: each network gets only its own terms' gradient
        optimizer.step()
        self.peer_optimizer.step()
        self.peer_scheduler.step()
        return terms

    def train_flops_per_sample(self, student_forward: int, teacher_forward: int) -> int:
        return (1 + BACKWARD_FACTOR) * (student_forward + self.peer_forward)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "peer": self.peer.state_dict(),
                "peer_optimizer": self.peer_optimizer.state_dict(), "peer_scheduler": self.peer_scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.peer.load_state_dict(state["peer"])
        self.peer_optimizer.load_state_dict(state["peer_optimizer"])
        self.peer_scheduler.load_state_dict(state["peer_scheduler"])

"""Deep mutual learning for detection (Table 4 VOC "DML"): the student and a peer detector learn together.

As for classification (``distill.methods.dml``): no pre-trained teacher; each network minimises its
own SSD loss plus ``kl_weight * tau^2 KL`` towards the other's softened, detached class logits, on
the anchors its own SSD loss trains (the pair shares one anchor layout). The peer is the teacher's
architecture, with its own optimizer and the run's schedule. The score is the student's; the cost
is both networks'.
"""

from __future__ import annotations

import torch

from ...distill.kd import sum_terms
from ...distill.methods import DistillationMethod, Setup
from .. import archs
from ..models import detector_flops
from . import register_detection
from .kd import anchor_kd_term
from .ssd import ssd_terms

__all__ = ["DetectionMutualLearning"]


@register_detection
class DetectionMutualLearning(DistillationMethod):
    """Own SSD loss + tau^2 KL towards the other, for the student and (its own optimizer) for the peer."""

    name = "dml"
    paper_name = "DML"
    uses_temperature = True
    defaults = {"peer": "resnet18", "kl_weight": 1.0}

    def __init__(self, cfg, setup: Setup) -> None:
        super().__init__(cfg, setup)
        if archs.canonical_name(self.params["peer"]) not in archs.DETECTORS:
            raise ValueError(f"a detection DML run needs a detector as its peer, got {self.params['peer']!r}; "
                             f"choose one of {', '.join(archs.DETECTORS)} (Lab.detection() passes the teacher's)")
        self.peer = archs.build(self.params["peer"], setup.num_classes, setup.image_size, setup.mean,
                                setup.std).to(self.device)
        self.peer_forward = detector_flops(self.peer, setup.image_size)
        self.peer_optimizer, self.peer_scheduler = setup.make_optimizer(self.peer.parameters())

    def new_epoch(self) -> None:
        super().new_epoch()
        self.peer.train()

    def train_step(self, x: torch.Tensor, y: list[dict], index: torch.Tensor | None,
                   optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        mine, matched, terms = ssd_terms(self.student, x, y)
        peer, peer_matched, peer_terms = ssd_terms(self.peer, x, y)
        tau = self.temperature(len(x))
        w = self.params["kl_weight"]
        terms["kl"] = w * anchor_kd_term(self, mine, matched, peer.cls_logits.detach(), tau)
        terms.update({f"peer_{k}": v for k, v in peer_terms.items()})
        terms["peer_kl"] = w * anchor_kd_term(self, peer, peer_matched, mine.cls_logits.detach(), tau)
        optimizer.zero_grad(set_to_none=True)
        self.peer_optimizer.zero_grad(set_to_none=True)
        sum_terms(terms).backward()  # the targets are detached: each network gets only its own terms' gradient
        optimizer.step()
        self.peer_optimizer.step()
        self.peer_scheduler.step()
        return terms

    def train_flops_per_sample(self, student_forward: int, teacher_forward: int) -> int:
        from ...carbon.flops import BACKWARD_FACTOR

        return (1 + BACKWARD_FACTOR) * (student_forward + self.peer_forward)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "peer": self.peer.state_dict(),
                "peer_optimizer": self.peer_optimizer.state_dict(), "peer_scheduler": self.peer_scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.peer.load_state_dict(state["peer"])
        self.peer_optimizer.load_state_dict(state["peer_optimizer"])
        self.peer_scheduler.load_state_dict(state["peer_scheduler"])

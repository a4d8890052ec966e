"""Deep mutual learning for detection (Table 4 VOC "DML"): the student and a peer detector learn together.

As for classification (``distill.methods.dml``): no pre-trained teacher; each network minimises its
own SSD loss plus ``kl_weight * tau^2 KL`` towards the other's softened, detached class logits, on
the anchors its own SSD loss trains (the pair shares one anchor layout). The peer is the teacher's
architecture, with its own optimizer and the run's schedule. The score is the student's; the cost
is both networks'.
"""

from __future__ import annotations

import torch

from ...models.detection import archs
from ...models.detection.ssd import detector_flops
from ..base import DistillationMethod, Setup
from ..dml import MutualLearning
from .kd import anchor_kd_term
from .ssd import ssd_terms

__all__ = ["DetectionMutualLearning"]


class DetectionMutualLearning(MutualLearning):
    """Own SSD loss + tau^2 KL towards the other, for the student and (its own optimizer) for the peer.

    The peer's checkpointed state, its FLOPs and its train mode are the classification method's."""

    def __init__(self, cfg, setup: Setup) -> None:
        DistillationMethod.__init__(self, cfg, setup)  # the parent's would build a classifier as the peer
        if archs.canonical_name(self.params["peer"]) not in archs.DETECTORS:
            raise ValueError(f"a detection DML run needs a detector as its peer, got {self.params['peer']!r}; "
                             f"choose one of {', '.join(archs.DETECTORS)} (Lab.detection() passes the teacher's)")
        self.peer = archs.build(self.params["peer"], setup.num_classes, setup.image_size, setup.mean,
                                setup.std).to(self.device)
        self.peer_forward = detector_flops(self.peer, setup.image_size)
        self.peer_optimizer, self.peer_scheduler = setup.make_optimizer(self.peer.parameters())

    def train_step(self, x: torch.Tensor, y: list[dict], index: torch.Tensor | None,
                   optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        mine, matched, terms = ssd_terms(self.student, x, y)
        peer, peer_matched, peer_terms = ssd_terms(self.peer, x, y)
        tau = self.temperature(len(x))
        w = self.params["kl_weight"]
        terms["kl"] = w * anchor_kd_term(self, mine, matched, peer.cls_logits.detach(), tau)
        terms.update({f"peer_{k}": v for k, v in peer_terms.items()})
        terms["peer_kl"] = w * anchor_kd_term(self, peer, peer_matched, mine.cls_logits.detach(), tau)
        return self.step_both(terms, optimizer)

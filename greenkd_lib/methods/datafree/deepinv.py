"""DeepInversion as CMI runs it (``DeepInvSyntheiszer``): optimised pixels, no generator, a pool of images.

Each synthesis draws a fresh batch of pixels, N(0, 1) in the normalised space, and sorted random
target classes, and runs ``g_steps`` steps of a fresh Adam on the pixels. Per step: one jitter (a roll
of the whole batch by at most ``size // 8`` pixels) and, where the data set flips, one flip for the
whole batch; then ``bn * BN distance + oh * CE(teacher, targets) + adv * (-JS(student, teacher) at
adv_T) + tv * total variation + l2 * ||pixels||_2``; after the step the pixels are clamped to the
valid range ([0, 1] before normalisation). The final pixels join a uint8 pool (CMI's PNG
quantisation); every student batch is the next batch of a shuffled pass over the whole pool, with the
training split's augmentation (none on digits), then normalised.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ... import models
from ..base import Setup
from .base import DataFreeMethod
from .flops import INPUT_BACKWARD_FACTOR
from .hooks import BNStatistics
from .losses import jsdiv, total_variation
from .pool import ImagePool
from .views import jitter_shift, random_flip, roll_jitter

__all__ = ["DeepInversion", "TERMS"]

TERMS: tuple[str, ...] = ("bn", "oh", "adv", "tv", "l2")  # the pixels' loss terms, by weight name


class DeepInversion(DataFreeMethod):
    """Pixels optimised against the teacher's BN statistics (+ one-hot, adversarial JS, TV), pooled for the student."""

    name = "deepinv"
    paper_name = "DeepInv"
    needs_bn = True
    # scripts/deepinv/deepinv_cifar10_wrn402_wrn161.sh with datafree_kd.py's hard-coded tv 0.001 and l2 0:
    # 1000 pixel steps at lr 0.1 per synthesis, one synthesis per 400-step epoch; adv_T the JS term's own T.
    defaults: ClassVar[dict[str, Any]] = {
        **DataFreeMethod.defaults, "kd_steps": 400, "g_steps": 1000, "lr_g": 0.1,
        "bn": 10.0, "oh": 1.0, "adv": 1.0, "tv": 0.001, "l2": 0.0, "adv_T": 3.0}
    whole_params: ClassVar[tuple[str, ...]] = (*DataFreeMethod.whole_params, "g_steps")
    weight_params: ClassVar[tuple[str, ...]] = TERMS
    positive_params: ClassVar[tuple[str, ...]] = ("lr_g", "adv_T")


    def __init__(self, cfg, setup: Setup) -> None:
        super().__init__(cfg, setup)
        p = self.params
        self.image_size = setup.image_size
        self.augment = setup.augment
        # One flip draw per step for the whole batch, and only where the training split flips (never digits).
        self.flip = setup.augment is not None and bool(getattr(setup.augment, "flip", False))
        self.pool = ImagePool(setup.mean or (0.0, 0.0, 0.0), setup.std or (1.0, 1.0, 1.0))
        self.log_terms = tuple(t for t in TERMS if p[t] > 0)
        self._forward = {"teacher": models.forward_flops(self.teacher_module, setup.image_size),
                         "student": models.forward_flops(self.student, setup.image_size)}

    def step_flops(self) -> int:
        """FLOPs of one pixel step: teacher (and, for adv, student) forward and input backward on the batch.

        The total variation, L2 norm, BN statistics and Adam's update are elementwise and not counted,
        as normalisation is not counted anywhere (``models.forward_flops``).
        """
        f = self._forward
        frozen = f["teacher"] + (f["student"] if self.params["adv"] > 0 else 0)
        return self.params["synthesis_batch_size"] * (1 + INPUT_BACKWARD_FACTOR) * frozen

    def _valid_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel bounds of a normalised pixel: the images of [0, 1] under the normalisation."""
        return self.normalize(torch.zeros_like(self.mean)), self.normalize(torch.ones_like(self.mean))

    def _view(self, x: torch.Tensor) -> torch.Tensor:
        """DeepInversion's jitter (one roll for the batch) and, if the data set flips, one flip for the batch."""
        x = roll_jitter(x, jitter_shift(self.image_size), self.rng)
        return random_flip(x, self.rng, per_sample=False) if self.flip else x

    def synthesize(self) -> None:
        p = self.params
        n, classes = p["synthesis_batch_size"], self.setup.num_classes
        # Pixels first, then targets: the order of the draws is part of the resumable state.
        pixels = torch.randn(n, 3, self.image_size, self.image_size, generator=self.rng).to(self.device)
        pixels = pixels.contiguous(memory_format=self.layout).requires_grad_(True)
        targets = torch.randint(0, classes, (n,), generator=self.rng).sort().values.to(self.device)
        optimizer = torch.optim.Adam([pixels], lr=p["lr_g"], betas=(0.5, 0.99))  # fresh per synthesis, as CMI
        low, high = self._valid_range()
        self.student.eval()
        self.teacher_module.eval()
        trainable = [q.requires_grad for q in self.student.parameters()]
        self.student.requires_grad_(False)  # a pixel step computes input gradients only
        try:
            with BNStatistics(self.teacher_module) as bn_hook:
                for _ in range(p["g_steps"]):
                    view = self._view(pixels)
                    teacher_logits = self.teacher_module(view)
                    bn_distance = bn_hook.take()
                    student_logits = self.student(view) if p["adv"] > 0 else None
                    terms = self.terms(pixels, targets, teacher_logits, student_logits, bn_distance)
                    optimizer.zero_grad(set_to_none=True)
                    sum(terms.values()).backward()
                    optimizer.step()
                    with torch.no_grad():
                        pixels.copy_(torch.maximum(torch.minimum(pixels, high), low))
                    self.synthesis_flops += self.step_flops()
                    self.log_step(terms, bn_distance, teacher_logits, student_logits)
        finally:
            for q, flag in zip(self.student.parameters(), trainable):
                q.requires_grad_(flag)
        # CMI tracks a "best" (lowest-loss) batch, but its best_inputs aliases the pixels that are then
        # clipped in place, so its pool receives the final pixels: we keep the final pixels too.
        final = pixels.detach()
        self.pool.add(final)
        self.keep_preview(final * self.std + self.mean)

    def terms(self, pixels: torch.Tensor, targets: torch.Tensor, teacher_logits: torch.Tensor,
              student_logits: torch.Tensor | None, bn_distance: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted terms with weight > 0; TV and L2 on the un-jittered pixels, as CMI."""
        p = self.params
        terms: dict[str, torch.Tensor] = {}
        if p["bn"] > 0:
            terms["bn"] = p["bn"] * bn_distance
        if p["oh"] > 0:
            terms["oh"] = p["oh"] * F.cross_entropy(teacher_logits.float(), targets)
        if p["adv"] > 0:
            terms["adv"] = -p["adv"] * jsdiv(student_logits, teacher_logits, p["adv_T"])
        if p["tv"] > 0:
            terms["tv"] = p["tv"] * total_variation(pixels)
        if p["l2"] > 0:
            terms["l2"] = p["l2"] * torch.linalg.vector_norm(pixels.float())
        return terms

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """The next batch of the pool's shuffled pass, augmented as the training split (if at all), normalised."""
        images = self.pool.next_batch(n, self.rng)
        if self.augment is not None:
            images = self.augment(images, self.rng)
        return self.pool.to_float(images).to(self.device)

    def epoch_log(self) -> dict[str, float | int]:
        return {**super().epoch_log(), "pool_images": len(self.pool)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pool": self.pool.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pool.load_state_dict(state["pool"])

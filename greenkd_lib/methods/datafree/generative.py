"""The generator-based synthesizer shared by DAFL, ZSKT and DFQ (CMI's ``GenerativeSynthesizer``).

Per generator step: z ~ N(0, I) -> x = normalise(G(z)) -> teacher (and, for the adversarial term,
student) logits -> ``bn * BN distance + oh * one-hot + adv * (-KL(t || s) at adv_T) + balance *
sum(p log p) + act * (-mean |teacher features|)`` -> one step of the generator's persistent Adam. The
student is in eval mode and frozen during the step (only input gradients). Sampling runs the
generator in eval mode (its BN on running statistics) on a fresh z for every student batch: no pool.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ... import models
from ...models.features import PenultimateFeatures
from .base import DataFreeMethod
from .flops import counted, INPUT_BACKWARD_FACTOR, train_flops_per_sample
from .generators import check_generator_size, LargeGenerator
from .hooks import BNStatistics
from .losses import activation, adversarial_kl, balance, onehot

__all__ = ["GenerativeMethod", "TERMS"]

TERMS: tuple[str, ...] = ("bn", "oh", "adv", "balance", "act")  # the generator's loss terms, by weight name


class GenerativeMethod(DataFreeMethod):
    """A persistent ``LargeGenerator`` trained by the weighted terms; subclasses set the weights (defaults)."""

    # CMI's generator recipe (datafree_kd.py): latent nz, width ngf, Adam(lr_g, betas (0.5, 0.999)),
    # g_steps generator steps per round; adv_T the adversarial term's own temperature.
    defaults: ClassVar[dict[str, Any]] = {
        **DataFreeMethod.defaults, "nz": 256, "ngf": 64, "lr_g": 1e-3, "g_steps": 1,
        "bn": 0.0, "oh": 0.0, "adv": 0.0, "balance": 0.0, "act": 0.0, "adv_T": 1.0}
    whole_params: ClassVar[tuple[str, ...]] = (*DataFreeMethod.whole_params, "nz", "ngf", "g_steps")
    weight_params: ClassVar[tuple[str, ...]] = TERMS
    positive_params: ClassVar[tuple[str, ...]] = ("lr_g", "adv_T")


    def __init__(self, cfg, setup) -> None:
        super().__init__(cfg, setup)
        p = self.params
        check_generator_size(setup.image_size, self.name)
        # The generator's initial weights depend on the seed alone, not on what drew from the global RNG before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            generator = LargeGenerator(p["nz"], p["ngf"], setup.image_size)
        self.generator = generator.to(self.device, memory_format=self.layout)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=p["lr_g"], betas=(0.5, 0.999))
        self.log_terms = tuple(t for t in TERMS if p[t] > 0)
        self.features = PenultimateFeatures(self.teacher_module) if p["act"] > 0 else None
        self._flops_per_image = self._count_flops(setup.image_size)

    def _count_flops(self, image_size: int) -> dict[str, int]:
        z = torch.zeros(2, self.params["nz"], device=self.device)
        with torch.no_grad():
            forward = counted(lambda: self.generator.eval()(z)) // 2
        self.generator.train()
        return {"generator_forward": forward,
                "generator_train": train_flops_per_sample(self.generator, z),
                "teacher": models.forward_flops(self.teacher_module, image_size),
                "student": models.forward_flops(self.student, image_size)}

    def sample_flops_per_image(self) -> int:
        return self._flops_per_image["generator_forward"]

    def step_flops(self) -> int:
        """FLOPs of one generator step: generator forward and backward, teacher (and student) forward and input backward."""
        f = self._flops_per_image
        frozen = f["teacher"] + (f["student"] if self.params["adv"] > 0 else 0)
        return self.params["synthesis_batch_size"] * (f["generator_train"] + (1 + INPUT_BACKWARD_FACTOR) * frozen)

    def latent(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.params["nz"], generator=self.rng).to(self.device)

    def synthesize(self) -> None:
        p = self.params
        self.student.eval()
        self.teacher_module.eval()
        self.generator.train()
        trainable = [q.requires_grad for q in self.student.parameters()]
        self.student.requires_grad_(False)  # the generator's step computes input gradients only
        try:
            with BNStatistics(self.teacher_module) as bn_hook:
                for _ in range(p["g_steps"]):
                    images = self.generator(self.latent(p["synthesis_batch_size"]))
                    x = self.normalize(images).contiguous(memory_format=self.layout)
                    teacher_logits = self.teacher_module(x)
                    bn_distance = bn_hook.take()
                    student_logits = self.student(x) if p["adv"] > 0 else None
                    terms = self.terms(teacher_logits, student_logits, bn_distance)
                    self.g_optimizer.zero_grad(set_to_none=True)
                    sum(terms.values()).backward()
                    self.g_optimizer.step()
                    self.synthesis_flops += self.step_flops()
                    self.log_step(terms, bn_distance, teacher_logits, student_logits)
        finally:
            for q, flag in zip(self.student.parameters(), trainable):
                q.requires_grad_(flag)
            if self.features is not None:
                self.features._value = None  # the features' graph must not outlive the step
        self.keep_preview(images)

    def terms(self, teacher_logits: torch.Tensor, student_logits: torch.Tensor | None,
              bn_distance: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted terms with weight > 0 (the teacher's logits not detached anywhere)."""
        p = self.params
        terms: dict[str, torch.Tensor] = {}
        if p["bn"] > 0:
            terms["bn"] = p["bn"] * bn_distance
        if p["oh"] > 0:
            terms["oh"] = p["oh"] * onehot(teacher_logits)
        if p["adv"] > 0:
            terms["adv"] = -p["adv"] * adversarial_kl(student_logits, teacher_logits, p["adv_T"])
        if p["balance"] > 0:
            terms["balance"] = p["balance"] * balance(teacher_logits)
        if p["act"] > 0:
            terms["act"] = p["act"] * activation(self.features.take())
        return terms

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        self.generator.eval()  # as CMI: BN on the generator's running statistics
        return self.normalize(self.generator(self.latent(n)))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "generator": self.generator.state_dict(),
                "g_optimizer": self.g_optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.generator.load_state_dict(state["generator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])

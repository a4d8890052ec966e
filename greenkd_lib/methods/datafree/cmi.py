"""CMI (Fang et al. 2021, contrastive model inversion) as zju-vipa/CMI's ``CMISynthesizer`` runs it.

Each round re-initialises a small ``Generator`` and a latent batch ``z`` and optimises both with one
fresh Adam for ``g_steps`` iterations towards sorted random target classes. Per iteration the
teacher sees a global view (padded crop) and a local view (resized crop) of the generated images:
``bn * BN distance + oh * CE(teacher, targets) + adv * masked adversarial KL + cr * contrastive``,
where the contrastive term asks a persistent MLP head on the teacher's per-sample BN-input means to
match each local view to its own global view among the batch and negatives from a memory bank of
earlier rounds. The lowest-loss iteration's images go to a pool the student trains on (uint8, as
CMI's PNGs), its features to the bank.

Cost: one iteration is measured with ``FlopCounterMode`` (generator forward/backward, the teacher's
two forwards and input backward, the student's forward and input backward, the head); its count
depends only on the number of bank negatives, so it is measured once per number and reused. As
everywhere in greenkd, the counter counts matrix products and convolutions: view resampling, BN
statistics, element-wise ops and Adam updates are not counted.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .base import check_whole, DataFreeMethod
from .generators import check_generator_size, Generator, reset_generator
from .hooks import BNStatistics, InstanceMeans
from .pool import ImagePool, MemoryBank
from .views import global_view, local_view

__all__ = ["CMI", "masked_adversarial_kl", "contrastive_loss", "TERMS"]

TERMS: tuple[str, ...] = ("bn", "oh", "adv", "cr")  # the generator's loss terms, by weight name


def masked_adversarial_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """``-mean(mask * T^2 KL_i(softmax(t/T) || softmax(s/T)))``, mask = student and teacher agree on the class.

    CMI's adversarial term: only samples the student still gets right push the generator towards
    disagreement; the target is not detached (gradient through both logits), as in CMI's ``kldiv``.
    """
    log_s = F.log_softmax(student_logits.float() / T, dim=1)
    log_t = F.log_softmax(teacher_logits.float() / T, dim=1)
    kl = F.kl_div(log_s, log_t, reduction="none", log_target=True).sum(dim=1) * T * T
    mask = (student_logits.argmax(dim=1) == teacher_logits.argmax(dim=1)).to(kl.dtype)
    return -(kl * mask).mean()


def contrastive_loss(local: torch.Tensor, global_: torch.Tensor, temperature: float, n_batch: int) -> torch.Tensor:
    """CE of ``local @ global.T / temperature`` to the diagonal; rows ``[:n_batch]`` and the rest averaged apart.

    ``local``/``global_`` are projected, L2-normalised rows: the batch first, then the bank's
    negatives. CMI averages the batch rows and the cached rows separately and adds the two means
    (one mean while there are no cached rows).
    """
    logits = local @ global_.T / temperature
    ce = F.cross_entropy(logits, torch.arange(len(logits), device=logits.device), reduction="none")
    if len(ce) == n_batch:
        return ce.mean()
    return ce[:n_batch].mean() + ce[n_batch:].mean()


class CMI(DataFreeMethod):
    """Generator and latent re-initialised per round; BN, one-hot, masked adversarial and contrastive terms; a pool."""

    name = "cmi"
    paper_name = "CMI"
    needs_bn = True
    # scripts/cmi/scratch_cmi_cifar10_wrn402_wrn161.sh and datafree_kd.py: one synthesis of 200
    # iterations per 400 student steps (= ep_steps), bn 1, oh 1, adv 0.5, cr 0.8 at cr_T 0.1, bank of
    # 40960 rows, 4096 negatives, head to 256 dims. head_hidden None: as wide as the features (CMI).
    defaults: ClassVar[dict[str, Any]] = {
        **DataFreeMethod.defaults, "ep_steps": 400, "kd_steps": 400, "synthesis_batch_size": 256,
        "g_steps": 200, "nz": 256, "ngf": 64, "lr_g": 1e-3, "bn": 1.0, "oh": 1.0, "adv": 0.5, "adv_T": 1.0,
        "cr": 0.8, "cr_T": 0.1, "bank_size": 40960, "n_neg": 4096, "head_dim": 256, "head_hidden": None}
    whole_params: ClassVar[tuple[str, ...]] = (*DataFreeMethod.whole_params, "g_steps", "nz", "ngf", "bank_size",
                                               "head_dim")
    weight_params: ClassVar[tuple[str, ...]] = TERMS
    positive_params: ClassVar[tuple[str, ...]] = ("lr_g", "adv_T", "cr_T")

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        super().check_params(params)
        if not any(params[key] > 0 for key in TERMS):
            raise ValueError(f"cmi needs a loss term: one of {', '.join(TERMS)} must be > 0")
        check_whole("n_neg", cls.name, params["n_neg"], low=0)
        if params["head_hidden"] is not None:
            check_whole("head_hidden", cls.name, params["head_hidden"])
        if params["n_neg"] > params["bank_size"]:
            raise ValueError(f"cmi's n_neg ({params['n_neg']}) must be <= bank_size ({params['bank_size']}): "
                             "negatives are drawn from the bank")
        if params["synthesis_batch_size"] > params["bank_size"]:
            raise ValueError(f"cmi's bank_size ({params['bank_size']}) must hold one synthesis batch "
                             f"(synthesis_batch_size {params['synthesis_batch_size']})")

    def __init__(self, cfg, setup) -> None:
        super().__init__(cfg, setup)
        p = self.params
        check_generator_size(setup.image_size, self.name)
        self.num_classes = setup.num_classes
        # Flip a view only where the training split flips its images (never on digits).
        self.allow_flip = bool(setup.augment is not None and getattr(setup.augment, "flip", False))
        self.augment = setup.augment
        dim = InstanceMeans(self.teacher_module).dim
        hidden = p["head_hidden"] or dim
        # Initial weights depend on the seed alone, not on what drew from the global RNG before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            generator = Generator(p["nz"], p["ngf"], setup.image_size)
            head = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, p["head_dim"]))
        # Re-initialised every round from self.rng (reset_generator), so its weights are no state.
        self.generator = generator.to(self.device, memory_format=self.layout)
        self.head = head.to(self.device)
        self.head_optimizer = torch.optim.Adam(self.head.parameters(), lr=p["lr_g"])  # persistent, as CMI's
        self.bank = MemoryBank(p["bank_size"], 2 * dim)  # rows [local, global] features
        self.pool = ImagePool(tuple(self.mean.flatten().tolist()), tuple(self.std.flatten().tolist()))
        self.log_terms = tuple(t for t in TERMS if p[t] > 0)
        self.targets: torch.Tensor | None = None
        # FLOPs of one iteration, measured once per number of bank negatives (the only thing that changes it).
        self._iteration_flops: dict[int, int] = {}

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """The head's L2-normalised projection of instance-mean features."""
        return F.normalize(self.head(features), dim=1)

    def synthesize(self) -> None:
        p = self.params
        n = p["synthesis_batch_size"]
        self.student.eval()
        self.teacher_module.eval()
        reset_generator(self.generator, self.rng)
        self.generator.train()
        z = torch.randn(n, p["nz"], generator=self.rng).to(self.device).requires_grad_()
        targets = torch.randint(0, self.num_classes, (n,), generator=self.rng).sort().values.to(self.device)
        self.targets = targets.cpu()  # the last round's classes, for inspection (not state)
        optimizer = torch.optim.Adam([*self.generator.parameters(), z], lr=p["lr_g"], betas=(0.5, 0.999))
        # How many negatives is fixed for the round (the bank changes at its end); which rows is drawn per iteration.
        cached = min(p["n_neg"], len(self.bank))
        trainable = [q.requires_grad for q in self.student.parameters()]
        self.student.requires_grad_(False)  # input gradients only
        best_loss, best_images, best_features = math.inf, None, None
        try:
            with BNStatistics(self.teacher_module) as bn_hook, InstanceMeans(self.teacher_module) as means:
                for _ in range(p["g_steps"]):
                    if cached not in self._iteration_flops:  # measure the first iteration of this size
                        counter = FlopCounterMode(display=False)
                        with counter:
                            out = self._iteration(z, targets, optimizer, cached, bn_hook, means)
                        self._iteration_flops[cached] = int(counter.get_total_flops())
                    else:
                        out = self._iteration(z, targets, optimizer, cached, bn_hook, means)
                    self.synthesis_flops += self._iteration_flops[cached]
                    loss, images, features = out
                    if best_images is None or loss < best_loss:  # the first even if every loss is NaN
                        best_loss, best_images, best_features = loss, images, features
        finally:
            for q, flag in zip(self.student.parameters(), trainable):
                q.requires_grad_(flag)
        self.pool.add(self.normalize(best_images))
        self.bank.add(best_features)
        self.keep_preview(best_images)

    def _iteration(self, z: torch.Tensor, targets: torch.Tensor, optimizer: torch.optim.Optimizer, cached: int,
                   bn_hook: BNStatistics, means: InstanceMeans) -> tuple[float, torch.Tensor, torch.Tensor]:
        """One generator/latent/head step; returns its total loss, images in [0, 1] and [local, global] features."""
        p = self.params
        images = self.generator(z)
        # Views crop the [0, 1] images (zero fill = black), then normalise, as CMI's kornia pipeline.
        x_global = self.normalize(global_view(images, self.rng, self.allow_flip)).contiguous(memory_format=self.layout)
        teacher_logits = self.teacher_module(x_global)
        bn_distance = bn_hook.take()
        global_f = means.take()
        terms: dict[str, torch.Tensor] = {}
        student_logits = None
        if p["bn"] > 0:
            terms["bn"] = p["bn"] * bn_distance
        if p["oh"] > 0:
            terms["oh"] = p["oh"] * F.cross_entropy(teacher_logits, targets)
        if p["adv"] > 0:
            student_logits = self.student(x_global)
            terms["adv"] = p["adv"] * masked_adversarial_kl(student_logits, teacher_logits, p["adv_T"])
        local_f = global_f  # without the contrastive term the bank stores the global features twice
        if p["cr"] > 0:
            x_local = self.normalize(local_view(images, self.rng, self.allow_flip)).contiguous(
                memory_format=self.layout)
            self.teacher_module(x_local)  # only for its features; its logits and BN distance are not used
            bn_hook.take()
            local_f = means.take()
            local_rows, global_rows = local_f, global_f.detach()
            if cached:
                negatives = self.bank.sample(cached, self.rng).to(self.device)
                local_rows = torch.cat([local_rows, negatives[:, : local_f.shape[1]]])
                global_rows = torch.cat([global_rows, negatives[:, local_f.shape[1]:]])
            # CMI detaches the global projections: no graph for them saves their backward.
            with torch.no_grad():
                global_proj = self.project(global_rows)
            terms["cr"] = p["cr"] * contrastive_loss(self.project(local_rows), global_proj, p["cr_T"], len(z))
        loss = sum(terms.values())
        optimizer.zero_grad(set_to_none=True)
        self.head_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        self.head_optimizer.step()
        self.log_step(terms, bn_distance, teacher_logits, student_logits)
        features = torch.cat([local_f, global_f], dim=1).detach()
        return float(loss.detach()), images.detach(), features

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """The next batch of the pool's shuffled pass (smaller at a pass' end), augmented as the training split."""
        images = self.pool.next_batch(n, self.rng)
        if self.augment is not None:
            images = self.augment(images, self.rng)
        return self.pool.to_float(images).to(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "head": self.head.state_dict(),
                "head_optimizer": self.head_optimizer.state_dict(), "bank": self.bank.state_dict(),
                "pool": self.pool.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.head.load_state_dict(state["head"])
        self.head_optimizer.load_state_dict(state["head_optimizer"])
        self.bank.load_state_dict(state["bank"])
        self.pool.load_state_dict(state["pool"])

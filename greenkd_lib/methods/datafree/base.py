"""The base class of a data-free distillation method: it synthesises the student's inputs itself.

The training loop asks a data-free method for its batches (:meth:`DataFreeMethod.batches`), so the
student never sees a training image; a round of synthesis (generator or pixel steps on the teacher)
runs every ``kd_steps`` student steps, as in CMI's ``datafree_kd.py``. The student step is CMI's:
``tau^2 KL(softmax(t/tau) || softmax(s/tau))`` with batch-mean reduction and no cross-entropy; the
run's temperature policy (a fixed tau of the grid, or the stochastic tau) applies to this step only.

Real images: no training image is read. Each epoch is scored on the validation split (which no arm
trains on), where the best epoch and the tuned tau are chosen; the test split is read once, after
training (``engine.loops.datafree``). CMI reports its best test epoch ("Best"): selecting on test
would flatter the tuned arm, which picks the best of several runs.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar, Iterator, TYPE_CHECKING

import torch
from torch import nn

from ..base import DistillationMethod, Setup
from ..kd import soft_kl
from .hooks import bn_layers

if TYPE_CHECKING:
    from ...config.run import RunConfig

__all__ = ["DataFreeMethod", "PREVIEW_IMAGES", "check_whole", "check_weight"]

PREVIEW_IMAGES = 64  # images of the last synthesis kept for a notebook's grid


def check_whole(name: str, method: str, value: object, low: int = 1) -> None:
    """``method``'s parameter ``name`` is a whole number >= ``low``, or a ValueError naming both."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{method}'s {name} must be a whole number >= {low}, got {value!r}")


def check_weight(name: str, method: str, value: object, positive: bool = False) -> None:
    """``method``'s parameter ``name`` is a finite number >= 0 (> 0 if ``positive``), or a ValueError."""
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
    if bad or value < 0 or (positive and value == 0):
        raise ValueError(f"{method}'s {name} must be a finite number {'>' if positive else '>='} 0, got {value!r}")


class DataFreeMethod(DistillationMethod):
    """A method whose student learns the teacher's outputs on synthetic inputs only (see the module)."""

    data_free: ClassVar[bool] = True
    needs_teacher = True
    uses_temperature = True
    needs_bn: ClassVar[bool] = False  # synthesis matches the teacher's BatchNorm running statistics
    # CMI's kldiv, whatever the profile says; the run config records it (config.method_config).
    kd_reduction: ClassVar[str] = "batchmean"
    # Parameters every data-free method takes (subclasses add theirs): student steps per epoch
    # ("ep_steps", rounded down to whole rounds), student steps per round of synthesis, images per synthesis batch.
    defaults: ClassVar[dict[str, Any]] = {"ep_steps": 400, "kd_steps": 5, "synthesis_batch_size": 256}
    whole_params: ClassVar[tuple[str, ...]] = ("ep_steps", "kd_steps", "synthesis_batch_size")
    weight_params: ClassVar[tuple[str, ...]] = ()  # loss weights: finite numbers >= 0
    positive_params: ClassVar[tuple[str, ...]] = ()  # learning rates and temperatures: finite numbers > 0

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        for key in cls.whole_params:
            check_whole(key, cls.name, params[key])
        for key in cls.weight_params:
            check_weight(key, cls.name, params[key])
        for key in cls.positive_params:
            check_weight(key, cls.name, params[key], positive=True)
        if params["ep_steps"] < params["kd_steps"]:
            raise ValueError(f"{cls.name}'s ep_steps ({params['ep_steps']}) must be >= kd_steps "
                             f"({params['kd_steps']}): an epoch is whole rounds of kd_steps student steps")

    @classmethod
    def steps_per_epoch(cls, cfg: "RunConfig") -> int:
        """Student steps per epoch: whole rounds of ``kd_steps`` within ``ep_steps``, capped by ``max_batches``."""
        p = cfg.method_params
        steps = (p["ep_steps"] // p["kd_steps"]) * p["kd_steps"]
        return min(steps, cfg.max_batches) if cfg.max_batches else steps

    def __init__(self, cfg: "RunConfig", setup: Setup) -> None:
        super().__init__(cfg, setup)
        # The eager teacher: synthesis needs its BN layers (hooks) and autograd to the input.
        self.teacher_module: nn.Module = setup.teacher_module if setup.teacher_module is not None else setup.teacher
        if self.needs_bn and not bn_layers(self.teacher_module):
            arch = cfg.teacher.model if cfg.teacher is not None else type(self.teacher_module).__name__
            raise ValueError(f"{self.name} matches the teacher's BatchNorm statistics, but {arch} has no "
                             "BatchNorm2d layer: choose a teacher with BatchNorm or a method without it (dafl, zskt)")
        self.layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.rng = torch.Generator().manual_seed(cfg.seed)  # every draw of synthesis and sampling, saved with the state
        shape = (1, 3, 1, 1)
        self.mean = torch.tensor(setup.mean or (0.0, 0.0, 0.0), device=self.device).view(shape)
        self.std = torch.tensor(setup.std or (1.0, 1.0, 1.0), device=self.device).view(shape)
        self.synthesis_flops = 0  # cumulative over the run
        self.preview_images: torch.Tensor | None = None
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._steps = 0

    # -- what a synthesizer defines ------------------------------------------------------------------
    log_terms: tuple[str, ...] = ()  # the weighted generator terms it logs as gen_<term>

    def synthesize(self) -> None:
        """One round of synthesis (generator or pixel steps); adds its FLOPs to ``synthesis_flops``."""
        raise NotImplementedError

    def sample(self, n: int) -> torch.Tensor:
        """``n`` normalised synthetic images for a student step."""
        raise NotImplementedError

    def sample_flops_per_image(self) -> int:
        """FLOPs of producing one sampled image (a generator's forward; 0 for a pool)."""
        return 0

    # -- the loop's interface ------------------------------------------------------------------------
    def batches(self, generator: torch.Generator, steps: int) -> Iterator[tuple[torch.Tensor, None, None]]:
        """The epoch's ``(x, None, None)`` batches: a round of synthesis before every ``kd_steps`` student steps.

        ``generator`` (the loop's shuffle) is not used: every draw comes from the method's own RNG.
        """
        kd_steps = self.params["kd_steps"]
        for step in range(steps):
            if step % kd_steps == 0:
                self.synthesize()
                self.student.train()  # synthesis evaluates it
            yield self.sample(self.cfg.batch_size).contiguous(memory_format=self.layout), None, None

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None, index: torch.Tensor | None,
                   optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        tau = self.temperature(len(x))  # the only place the run's temperature policy applies
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        terms = {"kd": soft_kl(self.student(x), teacher_logits, tau, self.cfg.kd_reduction)}
        optimizer.zero_grad(set_to_none=True)
        terms["kd"].backward()
        optimizer.step()
        return terms

    def train_flops_per_sample(self, student_forward: int, teacher_forward: int) -> int:
        return super().train_flops_per_sample(student_forward, teacher_forward) + self.sample_flops_per_image()

    # -- images ---------------------------------------------------------------------------------------
    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> the teacher's input space (the data set's normalisation)."""
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)

    def keep_preview(self, images: torch.Tensor) -> None:
        """Keep up to ``PREVIEW_IMAGES`` of a synthesis' images in [0, 1] as uint8 (CPU)."""
        self.preview_images = (images[:PREVIEW_IMAGES].detach().float().clamp(0, 1) * 255).round().to(
            torch.uint8).cpu().contiguous()

    def preview(self) -> torch.Tensor | None:
        """The last synthesis' images, uint8 (N, 3, H, W), or None before any synthesis."""
        return self.preview_images

    # -- the history ----------------------------------------------------------------------------------
    def new_epoch(self) -> None:
        super().new_epoch()
        self._sums, self._counts, self._steps = {}, {}, 0

    def log_step(self, terms: dict[str, torch.Tensor], bn_distance: torch.Tensor, teacher_logits: torch.Tensor,
                 student_logits: torch.Tensor | None = None) -> None:
        """Record one synthesis step: its weighted terms, the BN distance, the teacher's confidence, the agreement."""
        with torch.no_grad():
            values = {f"gen_{k}": v for k, v in terms.items()}
            values["gen_loss"] = sum(terms.values(), torch.zeros(()))
            values["syn_bn"] = bn_distance
            values["syn_teacher_conf"] = teacher_logits.float().softmax(dim=1).amax(dim=1).mean()
            if student_logits is not None:
                values["syn_agree"] = (student_logits.argmax(1) == teacher_logits.argmax(1)).float().mean()
        self._steps += 1
        for key, value in values.items():
            self._sums[key] = self._sums.get(key, 0.0) + float(value.detach())
            self._counts[key] = self._counts.get(key, 0) + 1

    def epoch_log(self) -> dict[str, float | int]:
        """The epoch's extra history columns (never ``loss_*``: those add up to the student's loss)."""
        keys = [*(f"gen_{t}" for t in self.log_terms), "gen_loss", "syn_bn", "syn_teacher_conf", "syn_agree"]
        row: dict[str, float | int] = {k: (self._sums[k] / self._counts[k] if self._counts.get(k) else float("nan"))
                                       for k in keys}
        return {**row, "syn_steps": self._steps, "synthesis_flops": int(self.synthesis_flops)}

    # -- state ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng": self.rng.get_state(), "synthesis_flops": int(self.synthesis_flops),
                "preview": self.preview_images}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rng.set_state(state["rng"])
        self.synthesis_flops = int(state["synthesis_flops"])
        self.preview_images = state["preview"]

"""The full configuration of one training run: what names it in the run store."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .models import canonical_name
from .profiles import Profile

__all__ = ["RunConfig", "CarbonSettings", "teacher_config", "student_config"]

METHODS = ("ce", "kd")


@dataclass(frozen=True)
class CarbonSettings:
    """Where the CO2 of a run is charged: a country (codecarbon's offline data) or a forced intensity."""

    country: str | None = None
    carbon_intensity: float | None = None  # g CO2 / kWh


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's numbers. Paths and the device are not part of it."""

    model: str
    dataset: str
    method: str  # "ce" (teacher, or student from scratch) or "kd"
    seed: int
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    warmup_epochs: float
    milestones: tuple[int, ...]
    gamma: float
    image_size: int | None = None
    subset: int | None = None
    val_fraction: float = 0.1
    max_batches: int | None = None
    eval_batch_size: int = 256
    teacher: "RunConfig | None" = None
    temperature: dict[str, Any] | None = None  # TemperaturePolicy.config()
    alpha: float = 0.95
    kd_reduction: str = "batchmean"
    carbon: CarbonSettings = field(default_factory=CarbonSettings)
    profile: str = "custom"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method == "kd" and (self.teacher is None or self.temperature is None):
            raise ValueError("a KD run needs a teacher config and a temperature policy config")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1 (got {self.epochs}, {self.batch_size})")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; the run store hashes it."""
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        d = dict(d)
        if d.get("teacher") is not None:
            d["teacher"] = cls.from_dict(d["teacher"])
        d["carbon"] = CarbonSettings(**(d.get("carbon") or {}))
        d["milestones"] = tuple(d.get("milestones", ()))
        return cls(**d)

    @property
    def label(self) -> str:
        """A short human-readable name, e.g. ``resnet18->mobilenetv2 KD tau=4 seed 0``."""
        if self.method == "ce":
            return f"{self.model} CE seed {self.seed}"
        from .distill import policy_from_config

        policy = policy_from_config(self.temperature).label()
        return f"{self.teacher.model}->{self.model} KD {policy} seed {self.seed}"


def _common(profile: Profile, dataset: str, seed: int, carbon: CarbonSettings, batch_size: int | None) -> dict:
    return dict(
        dataset=dataset,
        seed=int(seed),
        epochs=profile.epochs,
        batch_size=int(batch_size or profile.batch_size),
        lr=profile.lr,
        momentum=profile.momentum,
        weight_decay=profile.weight_decay,
        warmup_epochs=profile.warmup_epochs,
        milestones=tuple(profile.milestones),
        gamma=profile.gamma,
        image_size=profile.image_size,
        subset=profile.subset,
        val_fraction=profile.val_fraction,
        max_batches=profile.max_batches,
        eval_batch_size=profile.eval_batch_size,
        carbon=carbon,
        profile=profile.name,
    )


def teacher_config(profile: Profile, model: str, dataset: str, seed: int,
                   carbon: CarbonSettings = CarbonSettings()) -> RunConfig:
    """A model trained with cross-entropy alone (a teacher, or a student from scratch)."""
    return RunConfig(model=canonical_name(model), method="ce", **_common(profile, dataset, seed, carbon, None))


def student_config(profile: Profile, model: str, teacher: RunConfig, temperature: dict[str, Any],
                   seed: int, carbon: CarbonSettings = CarbonSettings(),
                   batch_size: int | None = None) -> RunConfig:
    """A KD student of ``teacher`` with the given temperature policy config."""
    return RunConfig(
        model=canonical_name(model),  # one spelling, one hash: "MobileNetV2" reuses "mobilenetv2"'s run
        method="kd",
        teacher=teacher,
        temperature=temperature,
        alpha=profile.alpha,
        kd_reduction=profile.kd_reduction,
        **_common(profile, teacher.dataset, seed, carbon, batch_size),
    )

"""The full configuration of one training run: what names it in the run store."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from .models import canonical_name
from .profiles import RUN_RULES, Profile, TrainingKnobs, check_fields, check_image_size, checked

__all__ = ["RunConfig", "CarbonSettings", "teacher_config", "student_config", "method_config"]

@dataclass(frozen=True)
class CarbonSettings:
    """Where the CO2 of a run is charged: a country (codecarbon's offline data) or a forced intensity."""

    country: str | None = None
    carbon_intensity: float | None = None  # g CO2 / kWh

    def __post_init__(self) -> None:
        # The full country check (codecarbon's data) is Lab's: a stored config is only read here.
        if self.country is not None and not (isinstance(self.country, str) and len(self.country.strip()) == 3
                                             and self.country.strip().isalpha()):
            raise ValueError(f"country must be a 3-letter ISO 3166 code, got {self.country!r}; "
                             "e.g. country='FRA', or carbon_intensity=<g CO2/kWh> instead")
        if self.carbon_intensity is not None:
            c = self.carbon_intensity
            if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c < 0:
                raise ValueError(f"carbon_intensity must be a finite number of g CO2/kWh >= 0, got {c!r}; "
                                 "e.g. carbon_intensity=294.21 (the paper's), or country='FRA' instead")
        if self.country is not None and self.carbon_intensity is not None:
            raise ValueError(f"give country or carbon_intensity, not both; got country={self.country!r} and "
                             f"carbon_intensity={self.carbon_intensity!r}")


@dataclass(frozen=True, kw_only=True)
class RunConfig(TrainingKnobs):
    """Everything that determines a run's numbers. Paths and the device are not part of it.

    ``method`` is a registered distillation method (``greenkd_lib.distill.methods``: "ce" for a
    teacher or a student from scratch, "kd", "cmc", "dml"); ``method_params`` its own parameters,
    complete (the method's defaults filled in), or None for a method that takes none.
    """

    model: str
    dataset: str
    method: str
    seed: int
    teacher: "RunConfig | None" = None
    temperature: dict[str, Any] | None = None  # TemperaturePolicy.config()
    alpha: float = 0.95
    kd_reduction: str = "batchmean"
    method_params: dict[str, Any] | None = None
    precision: str = "fp32"  # "bf16": autocast (Profile.precision)
    channels_last: bool = True
    carbon: CarbonSettings = field(default_factory=CarbonSettings)
    profile: str = "custom"

    def __post_init__(self) -> None:
        from .distill.methods import get_method

        self.validate()
        check_fields(self, RUN_RULES)  # the training knobs are validate()'s
        check_image_size(self.image_size, [self.model])
        get_method(self.method).check_config(self)  # an unknown name lists the registered ones

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; the run store hashes it."""
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        if self.teacher is not None:
            d["teacher"] = self.teacher.to_dict()
        if d["method_params"] is None:
            del d["method_params"]  # CE and KD runs stored before methods took parameters keep their hashes
        for name, default in _STORED_IF_NOT.items():  # likewise runs stored before these knobs existed
            if d[name] == default:
                del d[name]
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
        from .distill.methods import get_method

        return get_method(self.method).label(self)


# Fields that a run's dict (and so its hash) holds only where they differ from these values.
_STORED_IF_NOT: dict[str, Any] = {"precision": "fp32", "channels_last": True, "optimizer": "sgd"}


def _common(profile: Profile, dataset: str, seed: int, carbon: CarbonSettings, batch_size: int | None) -> dict:
    knobs = profile.training_knobs()
    knobs.update(precision=profile.precision, channels_last=profile.channels_last)
    if batch_size is not None:
        knobs["batch_size"] = int(checked("batch_size", batch_size))  # 2.5 must not become 2
    return dict(knobs, dataset=dataset, seed=int(checked("seed", seed)), carbon=carbon,
                profile=profile.name)


def teacher_config(profile: Profile, model: str, dataset: str, seed: int,
                   carbon: CarbonSettings = CarbonSettings()) -> RunConfig:
    """A model trained with cross-entropy alone (a teacher, or a student from scratch)."""
    return method_config(profile, "ce", model, dataset, seed, carbon=carbon)


def student_config(profile: Profile, model: str, teacher: RunConfig, temperature: dict[str, Any],
                   seed: int, carbon: CarbonSettings = CarbonSettings(),
                   batch_size: int | None = None) -> RunConfig:
    """A Hinton KD student of ``teacher`` with the given temperature policy config."""
    return method_config(profile, "kd", model, teacher.dataset, seed, teacher=teacher, temperature=temperature,
                         carbon=carbon, batch_size=batch_size)


def method_config(profile: Profile, method: str, model: str, dataset: str, seed: int, *,
                  teacher: RunConfig | None = None, temperature: dict[str, Any] | None = None,
                  params: dict[str, Any] | None = None, carbon: CarbonSettings = CarbonSettings(),
                  batch_size: int | None = None) -> RunConfig:
    """A run of the registered ``method`` training ``model``.

    Its parameters are the method's defaults, then the profile's ``method_params[method]``, then
    ``params``; a name the method does not take raises ``ValueError`` listing those it takes.
    """
    from .distill.methods import get_method

    spec = get_method(method)
    if teacher is not None and teacher.dataset != dataset:
        raise ValueError(f"the teacher was trained on {teacher.dataset!r}, the student on {dataset!r}; use one data set")
    merged = {**profile.method_params.get(spec.name, {}), **(params or {})}
    return RunConfig(
        model=canonical_name(model),  # one spelling, one hash: "MobileNetV2" reuses "mobilenetv2"'s run
        method=spec.name,
        teacher=teacher,
        temperature=temperature,
        # Methods without them keep the dataclass defaults, as every stored teacher's hash has them.
        **(dict(alpha=profile.alpha) if spec.uses_alpha else {}),
        # A method with its own fixed reduction (the data-free ones: CMI's) records that one.
        **(dict(kd_reduction=spec.kd_reduction or profile.kd_reduction) if spec.uses_temperature else {}),
        method_params=spec.resolve_params(merged),
        **_common(profile, dataset, seed, carbon, batch_size),
    )

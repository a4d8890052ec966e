"""Run configs built for a method: its parameters filled in from the profile, its check applied,
and a run's human-readable label (``resnet18->mobilenetv2 HKD tau=4 seed 0``)."""

from __future__ import annotations

from typing import Any

from ..config.profiles import checked, Profile
from ..config.run import CarbonSettings, RunConfig
from ..methods import get_method
from ..models import canonical_name

__all__ = ["teacher_config", "student_config", "method_config", "check_config", "run_label"]


def check_config(cfg: RunConfig) -> RunConfig:
    """``cfg``, if its method takes it (teacher, temperature, complete parameters); else ``ValueError``.

    An unknown method name raises :class:`~greenkd_lib.methods.UnknownMethodError` listing the known ones.
    """
    get_method(cfg.method).check_config(cfg)
    if cfg.teacher is not None:
        check_config(cfg.teacher)
    return cfg


def run_label(cfg: RunConfig) -> str:
    """A short human-readable name of a run, e.g. ``resnet18->mobilenetv2 HKD tau=4 seed 0``."""
    return get_method(cfg.method).label(cfg)


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
    spec = get_method(method)
    if teacher is not None and teacher.dataset != dataset:
        raise ValueError(f"the teacher was trained on {teacher.dataset!r}, the student on {dataset!r}; use one data set")
    merged = {**profile.method_params.get(spec.name, {}), **(params or {})}
    return check_config(RunConfig(
        model=canonical_name(model),  # one spelling, one hash: "MobileNetV2" reuses "mobilenetv2"'s run
        method=spec.name,
        teacher=teacher,
        temperature=temperature,
        # Methods without them keep the dataclass defaults, as every stored teacher's hash has them.
        **(dict(alpha=profile.alpha) if spec.uses_alpha else {}),
        # A method with its own fixed reduction (the data-free ones: CMI's) records that one.
        **(dict(kd_reduction=spec.kd_reduction or profile.kd_reduction) if spec.uses_temperature else {}),
        method_params=spec.resolve_params(merged),
        # Only the paper's VGG16 detector has ImageNet weights to start from.
        **(dict(backbone_weights=profile.backbone_weights)
           if profile.backbone_weights and canonical_name(model) == "ssd_vgg16" else {}),
        **_common(profile, dataset, seed, carbon, batch_size),
    ))

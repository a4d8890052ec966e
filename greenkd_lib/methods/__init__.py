"""The methods wing: how a student learns. Distillation methods (one module each around
:class:`DistillationMethod`), the KD loss and temperature policies, the data-free synthesizers
(:mod:`.datafree`), their detection counterparts (:mod:`.detection`) and the int8 quantizer
(:mod:`.quantize`).

It may import the ground (``data``, ``models``, ``carbon``, ``config``, ``paths``, ``devices``), never
``engine``, ``paper`` or ``batch``. The tables below are the whole list of built-in methods, in the
paper's order: a new method is one module, one line here, and its tests.
"""

from __future__ import annotations

import difflib

from .base import DistillationMethod, Setup
from .ce import CrossEntropy
from .cmc import ContrastiveKD
from .datafree import CMI, DAFL, DFQ, ZSKT, DataFreeMethod, DeepInversion
from .detection import AnchorKD, DetectionContrastiveKD, DetectionMutualLearning, SSDTraining
from .dml import MutualLearning
from .gradients import GRADIENT_COLUMNS, equivalent_tau, gradient_sizes, policy_average, policy_weights
from .hinton import HintonKD
from .kd import REDUCTIONS, kd_loss
from .temperature import (DISTRIBUTIONS, PERS, TUNED_GRID, FixedTemperature, StochasticTemperature,
                          TemperaturePolicy, policy_from_config)

__all__ = ["METHODS", "DETECTION_METHODS", "DistillationMethod", "DataFreeMethod", "Setup", "UnknownMethodError",
           "get_method", "method_names", "register", "detection_method", "detection_method_names",
           "kd_loss", "REDUCTIONS", "TemperaturePolicy", "FixedTemperature", "StochasticTemperature",
           "policy_from_config", "TUNED_GRID", "PERS", "DISTRIBUTIONS", "gradient_sizes", "policy_weights",
           "policy_average", "equivalent_tau", "GRADIENT_COLUMNS"]

# Configs name a method by its key ("ce": a teacher or a student from scratch; "kd": Table 4's HKD, ...).
METHODS: dict[str, type[DistillationMethod]] = {cls.name: cls for cls in (
    CrossEntropy, HintonKD, ContrastiveKD, MutualLearning,  # Table 4
    DAFL, ZSKT, DFQ, DeepInversion, CMI,  # Table 6: data-free
)}
# The same methods on SSD detectors (Table 4's VOC rows), under the same keys.
DETECTION_METHODS: dict[str, type[DistillationMethod]] = {cls.name: cls for cls in (
    SSDTraining, AnchorKD, DetectionContrastiveKD, DetectionMutualLearning,
)}


class UnknownMethodError(ValueError):
    """A method name that is not in :data:`METHODS`."""


def register(cls: type[DistillationMethod]) -> type[DistillationMethod]:
    """Add a method of your own to :data:`METHODS` (usable as a class decorator)."""
    for attr in ("name", "paper_name"):
        if not isinstance(getattr(cls, attr, None), str):
            raise TypeError(f"{cls.__name__} needs a class attribute {attr!r} (a str) to be registered")
    if cls.name in METHODS and METHODS[cls.name] is not cls:
        raise ValueError(f"a method named {cls.name!r} is already registered ({METHODS[cls.name].__name__})")
    METHODS[cls.name] = cls
    return cls


def method_names() -> tuple[str, ...]:
    """The method names, in the table's order."""
    return tuple(METHODS)


def get_method(name: str) -> type[DistillationMethod]:
    """The method class named ``name`` (the paper's spelling, e.g. "HKD", works too)."""
    if isinstance(name, str):
        if name in METHODS:
            return METHODS[name]
        for cls in METHODS.values():
            if name.strip().lower() in (cls.name, cls.paper_name.lower()):
                return cls
    hint = difflib.get_close_matches(str(name).lower(), list(METHODS), n=1)
    raise UnknownMethodError(f"unknown distillation method {name!r}; registered: {', '.join(METHODS)}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def detection_method_names() -> tuple[str, ...]:
    """The methods that have a detection counterpart."""
    return tuple(DETECTION_METHODS)


def detection_method(name: str) -> type[DistillationMethod]:
    """The detection counterpart of method ``name`` (its paper name works too)."""
    spec = get_method(name)  # an unknown name lists the registered ones
    if spec.name not in DETECTION_METHODS:
        hint = difflib.get_close_matches(spec.name, list(DETECTION_METHODS), n=1)
        raise ValueError(f"method {spec.name!r} has no detection version; detection runs take "
                         f"{', '.join(DETECTION_METHODS)}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return DETECTION_METHODS[spec.name]

"""Distillation methods for detection: the registered methods (``greenkd_lib.distill.methods``) on SSD.

A run config names its method as for classification ("ce", "kd", "cmc", "dml"): the method's
classification class checks the config and its parameters; the detection loop
(:mod:`greenkd_lib.detection.train`) trains it with the detection counterpart registered here under
the same name. Each counterpart subclasses the classification base class
(:class:`~greenkd_lib.distill.methods.DistillationMethod`), so temperature policies, tau logging and
resumable state work the same way; its ``loss_terms`` take a batch's images and target dicts.
"""

from __future__ import annotations

import difflib

from ...distill.methods import DistillationMethod, get_method

__all__ = ["register_detection", "detection_method", "detection_method_names"]

_DETECTION: dict[str, type[DistillationMethod]] = {}


def register_detection(cls: type[DistillationMethod]) -> type[DistillationMethod]:
    """Class decorator: ``cls`` trains registered method ``cls.name`` on detectors."""
    spec = get_method(cls.name)  # the counterpart of a registered method, not a new name
    for attr in ("needs_teacher", "uses_temperature", "uses_alpha", "defaults"):
        if getattr(cls, attr) != getattr(spec, attr):
            raise TypeError(f"{cls.__name__}.{attr} must equal {spec.__name__}.{attr}: one config, two tasks")
    _DETECTION[cls.name] = cls
    return cls


def detection_method_names() -> tuple[str, ...]:
    """The registered methods that have a detection counterpart."""
    return tuple(_DETECTION)


def detection_method(name: str) -> type[DistillationMethod]:
    """The detection counterpart of registered method ``name`` (its paper name works too)."""
    spec = get_method(name)  # an unknown name lists the registered ones
    if spec.name not in _DETECTION:
        hint = difflib.get_close_matches(spec.name, list(_DETECTION), n=1)
        raise ValueError(f"method {spec.name!r} has no detection version; detection runs take "
                         f"{', '.join(_DETECTION)}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return _DETECTION[spec.name]


from . import cmc, dml, kd, ssd  # noqa: E402,F401  (each module registers its method)

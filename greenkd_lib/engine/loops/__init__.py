"""A training loop per task, chosen by the run's model and method (:func:`loop_for`).

:mod:`.base` holds what they share (seeding, optimizer, method set-up, resume, metered epochs, the
epoch of steps); :mod:`.classification`, :mod:`.datafree` and :mod:`.detection` say where a task's
data, models and batches come from and how it is scored; :mod:`.lockstep` trains the students of a
shared tau grid together from the same parts (:mod:`greenkd_lib.engine.shared_grid`).
"""

from __future__ import annotations

from ... import models
from ...config.run import RunConfig
from ...methods import detection_method, get_method
from .base import Loop, optimizer_factory, seed_everything, Teacher, train_epoch
from .classification import ClassificationLoop, load_classifier
from .datafree import DataFreeLoop, SYNTHETIC_ARTIFACT
from .detection import DetectionLoop, load_detector

__all__ = ["loop_for", "Loop", "ClassificationLoop", "DataFreeLoop", "DetectionLoop", "Teacher", "seed_everything",
           "optimizer_factory", "train_epoch", "SYNTHETIC_ARTIFACT", "load_classifier", "load_detector"]


def loop_for(cfg: RunConfig) -> Loop:
    """The loop that trains ``cfg``: detection for a detector (its method from
    ``methods.detection_method``), data-free for a method class with ``data_free``, else classification."""
    if models.is_detector(cfg.model):
        return DetectionLoop(cfg, detection_method(cfg.method))
    method_cls = get_method(cfg.method)
    return (DataFreeLoop if method_cls.data_free else ClassificationLoop)(cfg, method_cls)

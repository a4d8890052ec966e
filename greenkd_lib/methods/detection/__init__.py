"""Distillation methods for detection: the methods of :data:`greenkd_lib.methods.METHODS` on SSD.

A run config names its method as for classification ("ce", "kd", "cmc", "dml"): the method's
classification class checks the config and its parameters; the detection loop trains it with the
counterpart listed under the same name in :data:`greenkd_lib.methods.DETECTION_METHODS`. Each
counterpart subclasses the classification base class, so temperature policies, tau logging and
resumable state work the same way; its ``loss_terms`` take a batch's images and target dicts.
"""

from .cmc import DetectionContrastiveKD
from .dml import DetectionMutualLearning
from .kd import AnchorKD
from .ssd import SSDTraining

__all__ = ["SSDTraining", "AnchorKD", "DetectionContrastiveKD", "DetectionMutualLearning"]

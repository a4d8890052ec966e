"""The classification loop: a classifier student (and frozen teacher) trained on a data set's
training split and scored by accuracy on its validation and test splits; and the trained
classifier of a finished run read back (:func:`load_classifier`)."""

from __future__ import annotations

from pathlib import Path

import torch

from ... import data as data_mod, models
from ...config.run import RunConfig
from ...runs import RunStore
from ...runs.recovery import load_weights_into
from ..configs import run_label
from ..evaluate import predict
from ..inputs import Inputs
from .base import finished_run, Loop, Teacher

__all__ = ["ClassificationLoop", "load_classifier"]


class ClassificationLoop(Loop):
    """A classifier trained on real images (``methods.get_method``'s methods but the data-free ones)."""

    @property
    def layout(self) -> torch.memory_format:
        # channels_last: oneDNN's and cuDNN's fast convolution layout (1.11x per KD step here:
        # benchmarks/kd_step.py).
        return torch.channels_last if self.cfg.channels_last else torch.contiguous_format

    def load_data(self, data_root: str | Path | None):
        return data_mod.load_for(self.cfg, data_root)

    def build_student(self, bundle, dev: torch.device) -> torch.nn.Module:
        return models.build(self.cfg.model, bundle.num_classes, bundle.image_size).to(dev, memory_format=self.layout)

    def load_teacher(self, store: RunStore, bundle, dev: torch.device) -> Teacher:
        return frozen_teacher(self.cfg, store, dev, bundle, self.method_cls.teacher_features)

    def setup_fields(self, bundle, teacher: Teacher | None) -> dict:
        return dict(train_labels=torch.as_tensor(bundle.train.targets))  # CRD's exact-mode negatives

    def inputs(self, bundle, dev: torch.device, workers: int, method) -> Inputs:
        return Inputs(bundle, dev, workers, method.needs_indices, self.layout)

    def count_flops(self, model: torch.nn.Module, teacher: Teacher | None, bundle) -> tuple[int, int]:
        return models.forward_flops(model, bundle.image_size), teacher.flops if teacher else 0

    def evaluate(self, model: torch.nn.Module, inputs: Inputs, dev: torch.device) -> tuple[float, float]:
        test = predict(model, inputs.eval("test", self.cfg.eval_batch_size), dev).accuracy
        val = predict(model, inputs.eval("val", self.cfg.eval_batch_size), dev).accuracy
        return val, test


# A worker trains a whole tau grid from one teacher: freeze it once per process, not once per run.
_FROZEN: dict[tuple, tuple[torch.nn.Module, int]] = {}


def frozen_teacher(cfg: RunConfig, store: RunStore, dev: torch.device, bundle, with_features: bool) -> Teacher:
    """The teacher of ``cfg`` frozen for inference, its forward FLOPs per image, (``with_features``:
    the frozen teacher returns logits and penultimate features) the features' width, and the eager
    teacher (eval, no weight gradients) that data-free synthesis differentiates through."""
    # Loaded on every run, cached or not: building the architecture draws from the global RNG, and a
    # run's random stream (dropout) must not depend on what its worker trained before.
    teacher = load_classifier(cfg.teacher, store, "best", dev, bundle.num_classes, bundle.image_size)
    teacher.requires_grad_(False)
    dim = models.feature_dim(teacher) if with_features else None
    run = store.run(cfg.teacher.to_dict())
    weights = run.weights_dir / "best.pt"
    stamp = weights.stat().st_mtime_ns if weights.exists() else None  # a re-trained teacher is a new key
    key = (str(store.root.resolve()), run.hash, stamp, str(dev), bundle.num_classes, bundle.image_size, with_features)
    if key not in _FROZEN:
        flops = models.forward_flops(teacher, bundle.image_size)  # counted on the eager model
        teacher = teacher.to(memory_format=torch.channels_last)
        frozen = models.frozen_for_inference(models.WithFeatures(teacher) if with_features else teacher,
                                             bundle.image_size)
        _FROZEN.clear()  # one at a time: a ResNet18 is 45 MB
        _FROZEN[key] = (frozen, flops)
    frozen, flops = _FROZEN[key]
    return Teacher(frozen=frozen, flops=flops, feature_dim=dim, module=teacher.eval())


def load_classifier(cfg: RunConfig, store: RunStore, weights: str = "best", device: str | torch.device = "cpu",
                    num_classes: int | None = None, image_size: int | None = None) -> torch.nn.Module:
    """The trained classifier of a finished run (``weights``: "best" = best validation epoch, or "final").

    Damaged weights, or another model's, are re-derived from the run's checkpoints where they can be;
    otherwise the run is reopened (see :func:`greenkd_lib.runs.recovery.load_weights_into`) and this
    raises, saying to train it again.
    """
    run, result = finished_run(cfg, store)
    info = result["model"]
    model = models.build(cfg.model, num_classes or info["num_classes"], image_size or info["image_size"])
    # Weights that do not fit a model of the run's own shape are damage; of another shape, the caller's.
    own_shape = num_classes in (None, info["num_classes"]) and image_size in (None, info["image_size"])
    load_weights_into(model, run, weights, result, run_label(cfg), repair=own_shape)
    return model.to(device).eval()

"""The data-free loop (Table 6): a classifier student trained on the batches its method synthesises
from the teacher; the training split is never read. Every epoch is scored on the validation split
(held out from the classification runs' training, and never seen by a data-free student): the best
epoch and a tuned tau are chosen there. The test split is read once, after the last epoch, for the
best-validation and the final weights (:meth:`DataFreeLoop.test_at_end`). The synthesis (generator
and teacher passes) is counted in the FLOPs, logged per epoch and kept as the run's last synthetic
images (:data:`SYNTHETIC_ARTIFACT`)."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from ...runs import Run
from ..evaluate import predict
from ..inputs import Inputs
from .base import Batches, Teacher
from .classification import ClassificationLoop

__all__ = ["DataFreeLoop", "SYNTHETIC_ARTIFACT", "train_augment"]

SYNTHETIC_ARTIFACT = "synthetic"  # a data-free run's last synthetic images: Run.load_artifact(SYNTHETIC_ARTIFACT)


def train_augment(bundle):
    """The training split's batch augmentation (data.augment.BatchAugment), or None (digits: none)."""
    form = getattr(bundle.train, "form", None)
    return getattr(form, "augment", None)


class DataFreeLoop(ClassificationLoop):
    """A method class with ``data_free``: :class:`ClassificationLoop` with synthetic batches."""

    def steps_per_epoch(self, bundle) -> int:
        return self.method_cls.steps_per_epoch(self.cfg)

    def setup_fields(self, bundle, teacher: Teacher | None) -> dict[str, Any]:
        # Synthesis differentiates through the eager teacher (the frozen one has no autograd).
        module = teacher.module.to(memory_format=self.layout).requires_grad_(False)
        return dict(teacher_module=module, mean=tuple(bundle.mean), std=tuple(bundle.std),
                    augment=train_augment(bundle))

    def batches(self, inputs: Inputs, method, steps: int) -> Batches:
        return lambda generator: method.batches(generator, steps)

    def eval_samples_per_epoch(self, bundle) -> int:
        return len(bundle.val)

    def evaluate(self, model: torch.nn.Module, inputs: Inputs, dev: torch.device) -> tuple[float, float]:
        # NaN: no epoch reads the test split (selection, here or in a tuned grid, sees validation only)
        return predict(model, inputs.eval("val", self.cfg.eval_batch_size), dev).accuracy, float("nan")

    def test_at_end(self, run: Run, model: torch.nn.Module, inputs: Inputs, dev: torch.device) -> tuple[float, float]:
        size = self.cfg.eval_batch_size
        final = predict(model, inputs.eval("test", size), dev).accuracy
        model.load_state_dict(run.load_weights("best"))
        return predict(model, inputs.eval("test", size), dev).accuracy, final

    def epoch_extras(self, method) -> tuple[int, Mapping[str, Any] | None]:
        # the synthesizer's generator and teacher passes, and its gen_* and syn_* columns
        return method.synthesis_flops, method.epoch_log()

    def result_fields(self, bundle, method) -> dict[str, Any]:
        return {"synthesis_flops": int(method.synthesis_flops)}

    def finished(self, run: Run, method) -> None:
        if method.preview() is not None:  # what the synthesizer drew last, for a notebook's image grid
            run.save_artifact({"images": method.preview()}, SYNTHETIC_ARTIFACT)

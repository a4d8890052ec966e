"""FLOPs of a whole training procedure, in the units of the paper's Table 4.

Convention: a backward pass costs twice its forward pass (gradients with respect to activations
and to weights, each about one forward), so one training step of the student costs 3x its forward.
The teacher of knowledge distillation only runs forward, once per training sample. Per-forward
counts come from a counter such as ``torch.utils.flop_counter.FlopCounterMode``, which counts a
multiply-add as 2 FLOPs.
"""

from __future__ import annotations

import math
import operator

__all__ = ["BACKWARD_FACTOR", "PAPER_FLOP_UNIT", "training_flops", "to_gflops_millions"]

BACKWARD_FACTOR = 2
"""Backward FLOPs per forward FLOP."""

PAPER_FLOP_UNIT = 1e15
"""Table 4's "GFLOPs (M)": millions of GFLOPs, i.e. 10^15 FLOPs."""


def _count(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    try:
        n = operator.index(value)  # ints and numpy integers; not floats, which would hide a rounding
    except TypeError:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r} "
                         f"({type(value).__name__}); round it with int() if that is intended") from None
    if n < 0:
        raise ValueError(f"{name} must be >= 0, got {n}")
    return n


def training_flops(student_forward: int, train_samples: int, teacher_forward: int = 0,
                   eval_samples: int = 0, eval_forward: int | None = None,
                   train_per_sample: int | None = None) -> int:
    """FLOPs of a whole training procedure.

    student_forward: FLOPs of one student forward pass on one sample.
    train_samples: training samples processed over all epochs (epochs x samples per epoch).
    teacher_forward: FLOPs of one teacher forward on one sample (0 without distillation).
    eval_samples: samples evaluated over the whole procedure (e.g. epochs x validation size).
    eval_forward: FLOPs of the evaluated model's forward per sample; defaults to student_forward.
    train_per_sample: training FLOPs per sample when a distillation method declares its own (DML
    trains two networks, CMC adds heads); replaces ``(1 + BACKWARD_FACTOR) * student + teacher``.

    Returns ``(1 + BACKWARD_FACTOR) * student_forward * train_samples
    + teacher_forward * train_samples + eval_forward * eval_samples``.
    """
    student = _count("student_forward", student_forward)
    samples = _count("train_samples", train_samples)
    teacher = _count("teacher_forward", teacher_forward)
    n_eval = _count("eval_samples", eval_samples)
    per_eval = student if eval_forward is None else _count("eval_forward", eval_forward)
    per_train = ((1 + BACKWARD_FACTOR) * student + teacher if train_per_sample is None
                 else _count("train_per_sample", train_per_sample))
    return per_train * samples + per_eval * n_eval


def to_gflops_millions(flops: float) -> float:
    """FLOPs in the paper's "GFLOPs (M)" (10^15 FLOPs): 6.42 for a 6.42e15-FLOP procedure."""
    if isinstance(flops, bool) or not isinstance(flops, (int, float)) and not hasattr(flops, "__float__"):
        raise ValueError(f"flops must be a number, got {flops!r}")
    value = float(flops)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"flops must be a finite number >= 0, got {flops!r}")
    return value / PAPER_FLOP_UNIT

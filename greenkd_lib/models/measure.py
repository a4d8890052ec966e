"""Model cost: parameters, forward FLOPs, serialized size."""

from __future__ import annotations

import io
import numbers

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_parameters", "forward_flops", "model_size_bytes", "latency_ms"]

_FLOPS_CACHE: dict[tuple, int] = {}


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared ones counted once); ``trainable_only`` keeps those with requires_grad."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _image_size(model: nn.Module, image_size: int | None) -> int:
    if image_size is None:
        image_size = getattr(model, "image_size", None)
        if image_size is None:
            raise ValueError("the model has no .image_size attribute; pass image_size=... "
                             "or build the model with greenkd_lib.models.build")
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    return int(image_size)


def forward_flops(model: nn.Module, image_size: int | None = None) -> int:
    """FLOPs of one forward pass on one 3 x image_size x image_size image (eval mode, no grad).

    Counted by ``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix products,
    a multiply-add being 2 FLOPs; normalisation, activations and pooling are not counted.
    ``image_size`` defaults to ``model.image_size``. Cached per architecture, classes, image size
    and parameter count for models made by ``build``.
    """
    size = _image_size(model, image_size)
    arch = getattr(model, "arch_name", None)
    key = None
    if arch is not None:
        key = (type(model).__qualname__, arch, getattr(model, "num_classes", None), size, count_parameters(model))
        if key in _FLOPS_CACHE:
            return _FLOPS_CACHE[key]
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(1, 3, size, size, device=device, dtype=dtype))
    finally:
        model.train(was_training)
    flops = int(counter.get_total_flops())
    if key is not None:
        _FLOPS_CACHE[key] = flops
    return flops


def model_size_bytes(model: nn.Module) -> int:
    """Bytes of the model's state_dict serialized with ``torch.save`` (what a checkpoint costs on disk)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def latency_ms(model: nn.Module, image_size: int | None = None, batch_size: int = 1,
               device: str | torch.device = "cpu", min_run_time: float = 0.5) -> float:
    """Median wall time in ms of one forward pass on a ``batch_size`` batch (eval mode, no grad).

    Timed with ``torch.utils.benchmark.Timer`` (warm-up, CUDA synchronisation and repeats
    included), on random inputs: latency does not depend on the pixel values.
    """
    import logging

    # torch.utils.benchmark imports cpp_extension, which warns about CUDA_HOME on CPU-only hosts.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils import benchmark

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    size = _image_size(model, image_size)
    was_training = model.training
    model = model.to(device).eval()
    x = torch.randn(batch_size, 3, size, size, device=device)
    try:
        with torch.no_grad():
            timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x},
                                    num_threads=torch.get_num_threads())
            return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3
    finally:
        model.train(was_training)

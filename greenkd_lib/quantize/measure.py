"""What a deployed model is: its size on disk, its CPU latency, its accuracy when it runs itself."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from torch import nn

from .pt2e import lower

__all__ = ["EVAL_BATCH", "program_bytes", "size_mb", "accuracy", "latency_ms"]

EVAL_BATCH = 64  # one compiled shape for accuracy and the larger latency batch


def program_bytes(model: nn.Module, image_size: int) -> bytes:
    """``model`` (float or converted int8) as a ``torch.export`` program file's bytes, what one would deploy."""
    import io

    program = torch.export.export(model, (torch.zeros(2, 3, image_size, image_size),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def size_mb(path: str | Path) -> float:
    """A saved model's size on disk in MB (10^6 bytes)."""
    return Path(path).stat().st_size / 1e6


def _padded_batches(images: torch.Tensor, batch: int):
    # One shape for the compiled model: the last batch is padded and its padding dropped.
    for start in range(0, len(images), batch):
        x = images[start:start + batch]
        n = len(x)
        if n < batch:
            x = torch.cat([x, x.new_zeros((batch - n, *x.shape[1:]))])
        yield x, n


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, compiled: bool = True,
             batch: int = EVAL_BATCH, key: str | None = None) -> float:
    """Top-1 accuracy (%) of ``model`` run on ``images`` (N x 3 x H x W, normalised): lowered by
    torch.compile first (int8 kernels for a converted model) unless ``compiled=False``."""
    first = next(_padded_batches(images, batch))[0]
    run = lower(model, first, key) if compiled else model
    correct, start = 0, 0
    with torch.no_grad():
        for x, n in _padded_batches(images, batch):
            correct += int((run(x)[:n].argmax(1) == labels[start:start + n]).sum())
            start += n
    return 100.0 * correct / max(len(labels), 1)


def latency_ms(model: nn.Module, image_size: int, batch: int, repeats: int = 30, warmup: int = 5,
               compiled: bool = True, key: str | None = None) -> float:
    """Median wall time (ms) of one forward pass on a batch of ``batch`` images, after warm-up passes,
    lowered by torch.compile first unless ``compiled=False`` (``key``: see :func:`~.pt2e.lower`)."""
    x = torch.randn(batch, 3, image_size, image_size)
    run = lower(model, x, key) if compiled else model
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            run(x)
        for _ in range(repeats):
            start = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)

"""What a deployed model is: its size on disk, its CPU latency, its accuracy when it runs itself."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from torch import nn

from .pt2e import lower

__all__ = ["EVAL_BATCH", "program_bytes", "size_mb", "predictions", "accuracy", "latency_ms"]

EVAL_BATCH = 64  # one compiled shape for accuracy and the larger latency batch


# Debugging metadata the serialised graph carries per node; a deployed program needs none of it, and
# in an int8 MobileNetV2 it is a fifth of the file (the provenance of every quantize node).
_DEBUG_META = ("stack_trace", "from_node", "source_fn_stack", "torch_fn", "seq_nr")


def program_bytes(model: nn.Module, image_size: int) -> bytes:
    """``model`` (float or converted int8) as a ``torch.export`` program file's bytes, what one would
    deploy: its weights, quantization parameters and graph, without the graph's debugging metadata."""
    import io

    program = torch.export.export(model, (torch.zeros(2, 3, image_size, image_size),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},))
    for node in program.graph.nodes:
        for key in _DEBUG_META:
            node.meta.pop(key, None)
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


def predictions(model: nn.Module, images: torch.Tensor, compiled: bool = True, batch: int = EVAL_BATCH,
                key: str | None = None) -> torch.Tensor:
    """The predicted class of every image (N x 3 x H x W, normalised) by ``model`` run itself: lowered by
    torch.compile first (int8 kernels for a converted model) unless ``compiled=False``."""
    first = next(_padded_batches(images, batch))[0]
    run = lower(model, first, key) if compiled else model
    with torch.no_grad():
        return torch.cat([run(x)[:n].argmax(1) for x, n in _padded_batches(images, batch)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, compiled: bool = True,
             batch: int = EVAL_BATCH, key: str | None = None) -> float:
    """Top-1 accuracy (%) of ``model`` on ``images`` (see :func:`predictions`)."""
    predicted = predictions(model, images, compiled, batch, key)
    return 100.0 * float((predicted == labels).float().mean()) if len(labels) else 0.0


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

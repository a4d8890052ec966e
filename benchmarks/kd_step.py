"""Where the quick profile's speed comes from: one KD step (frozen ResNet18 -> MobileNetV2) on the CPU.

    .venv/bin/python benchmarks/kd_step.py            # every case, images per second, with ratios

Cases, each timed on the same random batch (batch 32, median of 3 blocks of 15 steps after warm-up):
image size 16 (the old quick profile) and 12 (today's), default memory layout against
channels_last, the eager teacher against the frozen one (models.frozen_for_inference), and
one training on both cores against two single-threaded trainings side by side (what
``Lab(executor="processes", workers=2)`` does). A last case, not adopted by the library, pads the
input of the student's depthwise convolutions whose output map is at most 2x2 explicitly: oneDNN's
backward pass of a 3x3 depthwise convolution on a 2x2 map with implicit padding is several times
slower than on the zero-padded 4x4 map (the same arithmetic). Measured, not asserted: nothing here runs in ``make test``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from greenkd_lib import models
from greenkd_lib.methods import kd_loss


class _PaddedDepthwise(torch.nn.Conv2d):
    """A convolution that zero-pads its input itself and convolves without padding (same result)."""

    def _conv_forward(self, input, weight, bias):
        ph, pw = self.padding
        return F.conv2d(F.pad(input, (pw, pw, ph, ph)), weight, bias, self.stride, 0, self.dilation, self.groups)


def _pad_small_depthwise(model: torch.nn.Module, size: int) -> int:
    """Turn the depthwise convolutions of ``model`` whose output is at most 2x2 into _PaddedDepthwise."""
    shapes = {}
    hooks = [m.register_forward_hook(lambda mod, i, out: shapes.__setitem__(mod, out.shape[-2:]))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1 and m.padding != (0, 0)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    model.train()
    for hook in hooks:
        hook.remove()
    small = [m for m, shape in shapes.items() if max(shape) <= 2]
    for m in small:
        m.__class__ = _PaddedDepthwise
    return len(small)


def _images_per_s(size: int, channels_last: bool, frozen: bool, threads: int, batch: int = 32, steps: int = 15,
                  blocks: int = 3, pad_small: bool = False) -> float:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    teacher = models.build("resnet18", 10, size).eval().to(memory_format=layout).requires_grad_(False)
    if frozen:
        teacher = models.frozen_for_inference(teacher, size)
    student = models.build("mobilenetv2", 10, size).train()
    if pad_small:
        _pad_small_depthwise(student, size)
    student = student.to(memory_format=layout)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,))
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        with torch.no_grad():
            t = teacher(x)
        loss = kd_loss(student(x), t, y, 4.0, alpha=0.95, reduction="mean")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    rates = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def _worker(args: tuple, queue) -> None:
    queue.put(_images_per_s(*args))


def _two_processes(size: int, channels_last: bool, frozen: bool) -> float:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=((size, channels_last, frozen, 1), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    rates = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    cases = [
        ("16x16, default layout, eager teacher, 1 process x 2 threads", lambda: _images_per_s(16, False, False, 2)),
        ("16x16, channels_last", lambda: _images_per_s(16, True, False, 2)),
        ("12x12, channels_last", lambda: _images_per_s(12, True, False, 2)),
        ("12x12, channels_last, frozen teacher", lambda: _images_per_s(12, True, True, 2)),
        ("12x12, channels_last, frozen teacher, 2 processes x 1 thread", lambda: _two_processes(12, True, True)),
        ("12x12, channels_last, frozen teacher, 1 process x 1 thread", lambda: _images_per_s(12, True, True, 1)),
        ("the same, depthwise convolutions on 2x2 maps padded explicitly (not adopted)",
         lambda: _images_per_s(12, True, True, 1, pad_small=True)),
    ]
    base = None
    print("| case | images/s | vs first |\n|---|---|---|")
    for name, run in cases:
        rate = run()
        base = base or rate
        print(f"| {name} | {rate:.0f} | {rate / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

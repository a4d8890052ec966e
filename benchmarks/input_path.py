"""Input-path throughput: the library's epochs against bare loops, on CUDA and CPU, in one run.

On synthetic CIFAR-10 in the official pickle format (tests/helpers/datagen.py; 50,000 training images by
default), paper profile (batch 128, ResNet18 teacher, MobileNetV2 student, stochastic tau), it
prints images/s of:

  library teacher epoch    train.train_epoch, CE, the device input path (greenkd_lib.data.device)
  library KD epoch         the same for Hinton KD from a frozen ResNet18
  bare, 0 workers          the plainest loop over the library's per-sample Dataset (PIL + torchvision)
  bare, N workers          the same with a DataLoader of N processes
  bare, data on device     uint8 images on the device, crop + flip + rotation there (written here,
                           not the library's code), for CE and for KD

and the ratios library / bare-on-device against the targets (>= 0.80 on a GPU, >= 0.95 on CPU).
CUDA rows are "unmeasured" where there is no GPU. Each row is one epoch after a short warm-up.

    python benchmarks/input_path.py                       # CUDA (if any) at full size, CPU on --cpu-images
    python benchmarks/input_path.py --devices cpu --cpu-images 1024 --workers 2

Needs torch, torchvision, numpy and pillow. Packages of the project that only its other parts use
(codecarbon, psutil, filelock, pandas, scikit-learn, tqdm) are replaced by inert stand-ins where
they are not installed: the timed code never calls them (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import math
import os
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # the checkout: greenkd_lib and tests.helpers

# Imported by the library's modules but never called on the timed path.
_OPTIONAL = ("codecarbon", "psutil", "filelock", "pandas", "sklearn", "tqdm")


class _Inert(types.ModuleType):
    """A stand-in module: any attribute is a class that can be subclassed but not used."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def refuse(*args, **kwargs):
            raise RuntimeError(f"{self.__name__}.{name} is a benchmark stand-in: install {self.__name__.split('.')[0]}")

        return type(name, (Exception,), {"__init__": refuse})


class _InertFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.names:
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Inert(spec.name)

    def exec_module(self, module) -> None:
        module.__path__ = []


def _stand_in_for_missing() -> list[str]:
    missing = [n for n in _OPTIONAL if importlib.util.find_spec(n) is None]
    if missing:
        sys.meta_path.insert(0, _InertFinder(set(missing)))
    return missing


STOOD_IN = _stand_in_for_missing()

from tests.helpers import datagen  # noqa: E402  (numpy and pillow only)
from greenkd_lib import models  # noqa: E402
from greenkd_lib.engine import inputs as inputs_mod  # noqa: E402
from greenkd_lib.engine import train as train_mod  # noqa: E402
from greenkd_lib.engine.loops import train_epoch  # noqa: E402
from greenkd_lib.engine.configs import student_config, teacher_config  # noqa: E402
from greenkd_lib.data import cifar  # noqa: E402
from greenkd_lib.data.bundle import TransformSubset  # noqa: E402
from greenkd_lib.methods import StochasticTemperature  # noqa: E402
from greenkd_lib.methods import Setup, get_method  # noqa: E402
from greenkd_lib.config.profiles import get_profile  # noqa: E402

TARGET = {"cuda": 0.80, "cpu": 0.95}


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class _Views:
    """A bundle's shape for inputs.Inputs: the training view, empty val/test (not timed here)."""

    def __init__(self, train: TransformSubset) -> None:
        self.train = train
        self.val = self.test = TransformSubset(train.base, [], train.transform, train.form)


def _views(root: Path, n: int) -> TransformSubset:
    base = cifar.CheckedCIFAR10(root, train=True, download=False)
    train_tf, _ = cifar.transforms(32, augment=True)
    train_form, _ = cifar.forms(32, augment=True)
    return TransformSubset(base, range(min(n, len(base))), train_tf, train_form)


# ------------------------------------------------------------------ the library's epochs
def library_epoch(cfg, dev: torch.device, view: TransformSubset, teacher, steps: int | None,
                  workers: int) -> Callable[[], int]:
    """A closure timing one call of loops.train_epoch (setup, with the split's copy to the device, outside)."""
    layout = torch.channels_last
    student = models.build(cfg.model, 10, 32).to(dev, memory_format=layout)
    n_steps = math.ceil(len(view) / cfg.batch_size) if steps is None else steps
    make_optimizer = train_mod.optimizer_factory(cfg, n_steps)
    method = get_method(cfg.method)(cfg, Setup(student=student, teacher=teacher, teacher_feature_dim=None,
                                               num_classes=10, image_size=32, train_size=len(view), device=dev,
                                               make_optimizer=make_optimizer))
    optimizer, scheduler = make_optimizer([*student.parameters(), *method.trainable()])
    inputs = inputs_mod.Inputs(_Views(view), dev, workers, method.needs_indices, layout)
    amp = inputs_mod.precision_context(cfg.precision, dev)
    epoch = [0]
    no_bar = train_mod.progress_bar(cfg, n_steps, 0, enabled=False)

    def run(limit: int | None = None) -> int:
        with amp():
            steps = limit or n_steps
            _, _, seen = train_epoch(cfg, epoch[0], student, method, optimizer, scheduler,
                                     lambda g: inputs.train(g, cfg.batch_size, steps), steps, no_bar)
        epoch[0] += 1
        _sync(dev)
        return seen

    return run


# ------------------------------------------------------------------ bare loops
def _step(model, teacher, x, y, optimizer, tau: float, alpha: float) -> None:
    logits = model(x)
    if teacher is None:
        loss = F.cross_entropy(logits, y)
    else:
        with torch.no_grad():
            t_logits = teacher(x)
        with warnings.catch_warnings():  # 'mean' (the paper profile's reduction) warns on every call
            warnings.simplefilter("ignore")
            kl = F.kl_div(F.log_softmax(logits / tau, 1), F.softmax(t_logits / tau, 1), reduction="mean")
        loss = (1 - alpha) * F.cross_entropy(logits, y) + alpha * tau * tau * kl
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def bare_loader_epoch(cfg, dev, view, teacher, workers: int, steps: int | None) -> Callable[[], int]:
    """The plainest loop over the per-sample Dataset through a DataLoader of ``workers`` processes."""
    from torch.utils.data import DataLoader

    model = models.build(cfg.model, 10, 32).to(dev, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    tau_policy = StochasticTemperature(2, 20, seed=0)

    def run(limit: int | None = None) -> int:
        loader = DataLoader(view, batch_size=cfg.batch_size, shuffle=True, num_workers=workers,
                            pin_memory=dev.type == "cuda")
        seen = 0
        for step, (x, y) in enumerate(loader):
            if step >= (limit or steps or math.inf):
                break
            x = x.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)
            _step(model, teacher, x, y.to(dev, non_blocking=True), optimizer, float(tau_policy.sample(len(x))),
                  cfg.alpha)
            seen += len(x)
        _sync(dev)
        return seen

    return run


def bare_device_epoch(cfg, dev, view, teacher, steps: int | None) -> Callable[[], int]:
    """uint8 pixels on the device; crop (padding 4), flip and rotation (±15°) drawn and applied there."""
    model = models.build(cfg.model, 10, 32).to(dev, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    data = view.base.data[view.indices]
    pixels = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous().to(dev)
    labels = torch.as_tensor(view.targets, device=dev)
    mean = torch.tensor(cifar.MEAN, device=dev).view(1, 3, 1, 1) * 255
    std = torch.tensor(cifar.STD, device=dev).view(1, 3, 1, 1) * 255
    tau_policy = StochasticTemperature(2, 20, seed=0)
    autocast = (torch.autocast(dev.type, dtype=torch.bfloat16) if cfg.precision == "bf16"
                else torch.autocast(dev.type, enabled=False))
    n, b = len(labels), cfg.batch_size
    ar = torch.arange(32, device=dev)

    def run(limit: int | None = None) -> int:
        order = torch.randperm(n, device=dev)
        count = min(limit or steps or math.inf, math.ceil(n / b))
        seen = 0
        with autocast:
            for s in range(count):
                idx = order[s * b:(s + 1) * b]
                k = len(idx)
                x = F.pad(pixels[idx], (4, 4, 4, 4))
                top = torch.randint(0, 9, (k, 1), device=dev) + ar
                left = torch.randint(0, 9, (k, 1), device=dev) + ar
                x = x[torch.arange(k, device=dev).view(k, 1, 1, 1), torch.arange(3, device=dev).view(1, 3, 1, 1),
                      top.view(k, 1, 32, 1), left.view(k, 1, 1, 32)]
                x = torch.where(torch.rand(k, 1, 1, 1, device=dev) < 0.5, x.flip(-1), x)
                angle = torch.deg2rad((torch.rand(k, device=dev) * 2 - 1) * 15)
                cos, sin, zero = angle.cos(), angle.sin(), torch.zeros(k, device=dev)
                theta = torch.stack([cos, -sin, zero, sin, cos, zero], 1).view(k, 2, 3)
                grid = F.affine_grid(theta, [k, 3, 32, 32], align_corners=False)
                x = F.grid_sample(x.float(), grid, mode="nearest", align_corners=False)
                x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
                _step(model, teacher, x, labels[idx], optimizer, float(tau_policy.sample(k)), cfg.alpha)
                seen += k
        _sync(dev)
        return seen

    return run


# ------------------------------------------------------------------ driver
def timed(run: Callable[..., int], warm: int) -> float:
    run(warm)  # allocator, cuDNN's algorithm choice, workers' first start
    start = time.perf_counter()
    seen = run()
    return seen / (time.perf_counter() - start)


def measure(dev: torch.device, view: TransformSubset, workers: int, precision: str,
            steps: int | None) -> dict[str, float]:
    profile = get_profile("paper", precision=precision)
    t_cfg = teacher_config(profile, "resnet18", "cifar10", seed=0)
    s_cfg = student_config(profile, "mobilenetv2", t_cfg, StochasticTemperature(2, 20, seed=0).config(), seed=0)
    torch.manual_seed(0)
    teacher = models.build("resnet18", 10, 32).to(dev, memory_format=torch.channels_last).eval().requires_grad_(False)
    frozen = models.frozen_for_inference(teacher, 32)  # as train._teacher freezes it
    warm = 3
    rows: dict[str, float] = {}
    print(f"  [{dev.type} {precision}] library teacher epoch ...", flush=True)
    rows["library teacher epoch"] = timed(library_epoch(t_cfg, dev, view, None, steps, workers), warm)
    print(f"  [{dev.type} {precision}] library KD epoch ...", flush=True)
    rows["library KD epoch"] = timed(library_epoch(s_cfg, dev, view, frozen, steps, workers), warm)
    if precision == "fp32":
        print(f"  [{dev.type}] bare loops over the per-sample Dataset ...", flush=True)
        rows["bare teacher, DataLoader 0 workers"] = timed(bare_loader_epoch(t_cfg, dev, view, None, 0, steps), warm)
        rows[f"bare teacher, DataLoader {workers} workers"] = timed(
            bare_loader_epoch(t_cfg, dev, view, None, workers, steps), warm)
    print(f"  [{dev.type} {precision}] bare loops on device data ...", flush=True)
    rows["bare teacher, data on device"] = timed(bare_device_epoch(t_cfg, dev, view, None, steps), warm)
    rows["bare KD, data on device"] = timed(bare_device_epoch(s_cfg, dev, view, frozen, steps), warm)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="cuda,cpu", help="comma-separated; cuda rows are unmeasured without a GPU")
    parser.add_argument("--images", type=int, default=50_000, help="training images written and used on CUDA")
    parser.add_argument("--cpu-images", type=int, default=1_024, help="images per CPU epoch (CPU is ~100x slower)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="the N of the N-workers row")
    parser.add_argument("--precisions", default="fp32,bf16", help="on CUDA; CPU runs fp32 only")
    parser.add_argument("--data", type=Path, default=None, help="reuse/write the synthetic CIFAR-10 here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
        needed = max(args.images if d == "cuda" and torch.cuda.is_available() else args.cpu_images for d in devices)
        if not (root / "cifar-10-batches-py" / "batches.meta").is_file():
            datagen.write_cifar10(root, train_per_class=math.ceil(needed / 10), test_per_class=1)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, synthetic official-format "
              f"CIFAR-10, paper profile (batch 128, resnet18 -> mobilenetv2)"
              + (f"; stand-ins for {', '.join(STOOD_IN)}" if STOOD_IN else ""), flush=True)
        table: list[tuple[str, str, str, str, float | None]] = []  # device, precision, row, images, img/s
        ratios: list[tuple[str, str, str, float | None]] = []
        for name in devices:
            if name == "cuda" and not torch.cuda.is_available():
                for row in ("library teacher epoch", "library KD epoch", "bare teacher, DataLoader 0 workers",
                            f"bare teacher, DataLoader {args.workers} workers", "bare teacher, data on device",
                            "bare KD, data on device"):
                    table.append(("cuda", "-", row, "-", None))
                ratios += [("cuda", "-", "teacher", None), ("cuda", "-", "KD", None)]
                continue
            dev = torch.device(name)
            n = args.images if dev.type == "cuda" else args.cpu_images
            view = _views(root, n)
            label = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
            precisions = [p.strip() for p in args.precisions.split(",")] if dev.type == "cuda" else ["fp32"]
            for precision in precisions:
                rows = measure(dev, view, args.workers, precision, None)
                table += [(label, precision, row, str(len(view)), v) for row, v in rows.items()]
                ratios.append((label, precision, "teacher",
                               rows["library teacher epoch"] / rows["bare teacher, data on device"]))
                ratios.append((label, precision, "KD", rows["library KD epoch"] / rows["bare KD, data on device"]))

    print(f"\n{'device':<28} {'precision':<9} {'row':<38} {'images':>7} {'img/s':>10}")
    for device, precision, row, images, v in table:
        print(f"{device:<28} {precision:<9} {row:<38} {images:>7} {('unmeasured' if v is None else f'{v:,.1f}'):>10}")
    print(f"\n{'device':<28} {'precision':<9} {'library / bare on device':<25} {'ratio':>7} {'target':>7}  verdict")
    for device, precision, case, r in ratios:
        target = TARGET["cuda" if device == "cuda" or not device.startswith("cpu") else "cpu"]
        verdict = "unmeasured" if r is None else ("PASS" if r >= target else "FAIL")
        print(f"{device:<28} {precision:<9} {case:<25} {('-' if r is None else f'{r:.3f}'):>7} {target:>7.2f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

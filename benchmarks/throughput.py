"""Training throughput of greenkd's loop against a bare PyTorch loop, and the cost of its extras.

Measures, on the same model, batch and data (the embedded digits):
  1. the training step loop, images/s: greenkd's epoch loop vs a bare loop doing the same work,
     for teacher training (cross-entropy) and for a KD step (frozen teacher, stochastic tau);
  2. the progress bar: the same library loop with and without tqdm;
  3. the carbon tracker: a whole ``train()`` run (evaluation and checkpoints included) with
     codecarbon's tracker and with a no-op meter.
Each variant is timed ``--repeats`` times, interleaved, and the median is reported.

    .venv/bin/python benchmarks/throughput.py            # defaults: resnet18 -> mobilenetv2, 32x32, batch 64
    .venv/bin/python benchmarks/throughput.py --device cuda --image-size 32 --batch 128
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from greenkd_lib import data, models
from greenkd_lib.engine import epochs as epochs_mod, inputs as inputs_mod, train as train_mod
from greenkd_lib.engine.loops import train_epoch
from greenkd_lib.devices import pick_device
from greenkd_lib.carbon import Footprint
from greenkd_lib.config.run import CarbonSettings
from greenkd_lib.engine.configs import student_config, teacher_config
from greenkd_lib.methods import StochasticTemperature
from greenkd_lib.methods import Setup, get_method
from greenkd_lib.config.profiles import get_profile
from greenkd_lib.runs import RunStore


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def bare_epoch(model, teacher, train_set, cfg, epoch, dev, policy, steps: int) -> int:
    """The reference: the plainest loop that does the same arithmetic."""
    model.train()
    generator = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=generator,
                        pin_memory=dev.type == "cuda")
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    seen = 0
    for step, (x, y) in enumerate(loader):
        if step >= steps:
            break
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        logits = model(x)
        if teacher is None:
            loss = F.cross_entropy(logits, y)
        else:
            tau = float(policy.sample(len(x)))
            with torch.no_grad():
                t_logits = teacher(x)
            kl = F.kl_div(F.log_softmax(logits / tau, 1), F.softmax(t_logits / tau, 1), reduction="batchmean")
            loss = (1 - cfg.alpha) * F.cross_entropy(logits, y) + cfg.alpha * tau * tau * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(x)
    _sync(dev)
    return seen


def library_epoch(model, teacher, bundle, cfg, epoch, dev, steps: int, progress: bool) -> int:
    """loops.train_epoch with the run's method (its temperature policy from ``cfg``) and input path."""
    make_optimizer = train_mod.optimizer_factory(cfg, steps)
    method = get_method(cfg.method)(cfg, Setup(student=model, teacher=teacher, teacher_feature_dim=None,
                                               num_classes=bundle.num_classes, image_size=bundle.image_size,
                                               train_size=len(bundle.train), device=dev,
                                               make_optimizer=make_optimizer))
    optimizer, scheduler = make_optimizer([*model.parameters(), *method.trainable()])
    inputs = inputs_mod.Inputs(bundle, dev, 0, method.needs_indices, torch.channels_last)
    bar = train_mod.progress_bar(cfg, steps, 0, enabled=progress)
    try:
        _, _, seen = train_epoch(cfg, epoch, model, method, optimizer, scheduler,
                                 lambda g: inputs.train(g, cfg.batch_size, steps), steps, bar)
    finally:
        bar.close()
    _sync(dev)
    return seen


def timed(fn) -> float:
    """images/s of one call of ``fn`` (which returns the images it trained on)."""
    start = time.perf_counter()
    seen = fn()
    return seen / (time.perf_counter() - start)


class _NullMeter:
    """A meter that measures nothing: the baseline for the tracker's overhead."""

    def __init__(self, *args, **kwargs) -> None:
        self._start = 0.0

    def start(self) -> None:
        self._start = time.perf_counter()

    def read(self) -> Footprint:
        return Footprint(None, None, time.perf_counter() - self._start, "unavailable", "benchmark baseline")

    def stop(self) -> Footprint:
        return self.read()


def whole_run_seconds(cfg, store: RunStore, dev, tracker: bool) -> float:
    run = store.run(cfg.to_dict())
    for path in run.dir.glob("**/*"):  # start from scratch every time
        if path.is_file():
            path.unlink()
    original = epochs_mod.CarbonMeter
    if not tracker:
        epochs_mod.CarbonMeter = _NullMeter
    try:
        start = time.perf_counter()
        train_mod.train(cfg, run, store=store, device=dev, progress=False)
        _sync(dev)
        return time.perf_counter() - start
    finally:
        epochs_mod.CarbonMeter = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", default="resnet18")
    parser.add_argument("--student", default="mobilenetv2")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=16, help="training steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    dev = pick_device(args.device)
    profile = get_profile("quick", image_size=args.image_size, batch_size=args.batch, epochs=1, seeds=(0,))
    bundle = data.load("digits", image_size=args.image_size)
    carbon = CarbonSettings(carbon_intensity=294.21)
    t_cfg = teacher_config(profile, args.teacher, "digits", 0, carbon)
    policy_cfg = StochasticTemperature(2, 20, seed=0).config()
    s_cfg = student_config(profile, args.student, t_cfg, policy_cfg, 0, carbon, None)
    steps = min(args.steps, len(bundle.train) // args.batch)

    def fresh(name):
        torch.manual_seed(0)
        return models.build(name, bundle.num_classes, bundle.image_size).to(dev)

    teacher = fresh(args.teacher).eval().requires_grad_(False)
    print(f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads; digits at "
          f"{args.image_size}px, batch {args.batch}, {steps} steps per timing, median of {args.repeats}\n", flush=True)

    results: dict[str, dict[str, list[float]]] = {}
    cases = {"teacher CE": (t_cfg, args.teacher, None), "KD step": (s_cfg, args.student, teacher)}
    for case, (cfg, name, tch) in cases.items():
        variants = {
            "bare": lambda: bare_epoch(fresh(name), tch, bundle.train, cfg, 0, dev,
                                       StochasticTemperature(2, 20, seed=0), steps),
            "library": lambda: library_epoch(fresh(name), tch, bundle, cfg, 0, dev, steps, progress=False),
            "library+bar": lambda: library_epoch(fresh(name), tch, bundle, cfg, 0, dev, steps, progress=True),
        }
        for fn in variants.values():  # warm-up: allocator, kernels, data in cache
            fn()
        results[case] = {v: [] for v in variants}
        for _ in range(args.repeats):
            for v, fn in variants.items():
                results[case][v].append(timed(fn))

    print(f"{'case':<12} {'bare img/s':>11} {'library img/s':>14} {'library/bare':>13} {'bar overhead':>13}")
    for case, r in results.items():
        bare, lib, bar = (statistics.median(r[k]) for k in ("bare", "library", "library+bar"))
        print(f"{case:<12} {bare:>11.1f} {lib:>14.1f} {lib / bare:>13.3f} {lib / bar - 1:>12.1%}")

    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs")
        cfg = t_cfg
        whole_run_seconds(cfg, store, dev, tracker=True)  # warm-up, codecarbon's first start included
        with_tracker, without = [], []
        for _ in range(max(2, args.repeats // 2)):
            with_tracker.append(whole_run_seconds(cfg, store, dev, tracker=True))
            without.append(whole_run_seconds(cfg, store, dev, tracker=False))
    on, off = statistics.median(with_tracker), statistics.median(without)
    print(f"\nwhole teacher run (1 epoch of {len(bundle.train)} images, evaluation and checkpoint included):")
    print(f"  with codecarbon {on:.2f} s, without {off:.2f} s: tracker overhead {on / off - 1:+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

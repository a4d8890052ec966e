"""Quantized models as derived runs of the run store: named by their parent run and settings, cached,
their cost measured like a training's, QAT checkpointed every epoch and resumable.

A derived run's directory holds ``model.pt2`` (the int8 model as a ``torch.export`` program, with a
sha256 sidecar) and ``result.json``: test accuracy of the int8 model itself, size, cost (the
calibration or the QAT fine-tuning; its parent's cost is the parent's), and how it was measured.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from .. import data as data_mod
from ..carbon import CarbonMeter, Footprint
from ..carbon.flops import training_flops
from ..config.run import RunConfig
from ..data.bundle import TransformSubset
from ..methods.quantize import measure, pt2e
from ..models import forward_flops
from ..runs import Run, RunStore
from ..runs.integrity import read_verified, write_verified
from .configs import run_label
from .emissions import get_or_run_logged
from .loops import seed_everything
from .slots import training_slot
from .train import get_or_run, load_model

__all__ = ["SCHEMES", "QuantizeSettings", "settings_for", "quantized_config", "quantize", "load_program",
           "MODEL_FILE", "split_tensors", "export_float", "check_scheme", "converted_model"]

SCHEMES = ("ptq", "qat")
MODEL_FILE = "model.pt2"


@dataclasses.dataclass(frozen=True)
class QuantizeSettings:
    """How a float run becomes int8. PTQ: ``calibration_images`` training images through the observers.
    QAT: ``qat_epochs`` of fine-tuning with fake quantization at ``qat_lr`` (SGD, momentum 0.9),
    observers frozen after ``freeze_observers_after`` epochs; ``max_batches`` caps an epoch (tests)."""

    calibration_images: int = 512
    qat_epochs: int = 3
    freeze_observers_after: int = 2
    qat_lr: float = 1e-3
    batch_size: int = 128
    max_batches: int | None = None

    def check(self) -> "QuantizeSettings":
        for name in ("calibration_images", "qat_epochs", "freeze_observers_after", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"quantization setting {name} must be a whole number >= 1, got {value!r}")
        if self.max_batches is not None and (not isinstance(self.max_batches, int) or self.max_batches < 1):
            raise ValueError(f"quantization setting max_batches must be None or >= 1, got {self.max_batches!r}")
        if not (isinstance(self.qat_lr, (int, float)) and math.isfinite(self.qat_lr) and self.qat_lr > 0):
            raise ValueError(f"quantization setting qat_lr must be a finite number > 0, got {self.qat_lr!r}")
        return self

    def for_scheme(self, scheme: str) -> dict[str, Any]:
        """The settings that name a derived run of ``scheme`` (those it does not use stay out of its hash)."""
        if scheme == "ptq":
            return {"calibration_images": self.calibration_images}
        return {k: getattr(self, k) for k in ("qat_epochs", "freeze_observers_after", "qat_lr", "batch_size",
                                              "max_batches")}


def settings_for(profile_name: str, **overrides: Any) -> QuantizeSettings:
    """A profile's quantization settings: ``paper`` a few hundred calibration images and a short QAT
    (about a tenth of the training's lr); ``quick`` the same at digits' scale; ``smoke`` tiny."""
    base = {"paper": QuantizeSettings(512, 10, 6, 1e-3, 128),
            "quick": QuantizeSettings(256, 2, 1, 2.5e-3, 32),
            "smoke": QuantizeSettings(32, 2, 1, 2.5e-3, 16, max_batches=2)}.get(profile_name, QuantizeSettings())
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None}).check()


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown quantization scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return scheme


def quantized_config(parent: RunConfig, scheme: str, settings: QuantizeSettings) -> dict[str, Any]:
    """The config that names the derived run: its parent's whole config, the scheme and its settings."""
    return {"kind": "quantized", "scheme": check_scheme(scheme), "quantizer": "torchao-pt2e-x86-inductor",
            "parent": parent.to_dict(), "settings": settings.check().for_scheme(scheme),
            "label": f"{scheme.upper()} int8 of {run_label(parent)}"}


def split_tensors(bundle, split: str, limit: int | None = None, unaugmented: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``limit`` images (normalised, N x 3 x H x W) and labels of a split, in order; a
    training split's through its own transform (fresh augmentation draws from the global RNG), or
    with ``unaugmented`` through the evaluation transform (PTQ's calibration)."""
    dataset = getattr(bundle, split)
    if unaugmented and isinstance(dataset, TransformSubset):
        dataset = TransformSubset(dataset.base, dataset.indices, bundle.val.transform, bundle.val.form)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    items = [dataset[i] for i in range(n)]
    return torch.stack([x for x, _ in items]), torch.as_tensor([int(y) for _, y in items])


def quantize(parent: RunConfig, scheme: str, *, store: RunStore, settings: QuantizeSettings,
             data_root: str | Path | None = None, allow_float_layers: bool = False) -> dict[str, Any]:
    """The result of the int8 model of ``parent`` by ``scheme``: read from the store, else made now
    (the parent trained first if it has not finished)."""
    config = quantized_config(parent, scheme, settings)
    get_or_run(parent, store=store, data_root=data_root, progress=False)  # trains it if missing

    def make(run: Run) -> Mapping[str, Any]:
        with training_slot("cpu", what=config["label"]):
            return _make(run, parent, scheme, settings, store, data_root, allow_float_layers)

    # Metered like a training: its row in the store's emissions.csv too (its parent's is the parent's).
    result = get_or_run_logged(store, config, make, country=parent.carbon.country, verify=_has_model)
    return {**result, "hash": store.run(config).hash}


def _has_model(run: Run, result: Mapping, repair: bool) -> bool:
    path = run.dir / MODEL_FILE
    if path.exists():
        return True
    if repair:  # its model is gone: make it again
        run.result_path.unlink(missing_ok=True)
    return False


def _make(run: Run, parent: RunConfig, scheme: str, settings: QuantizeSettings, store: RunStore,
          data_root, allow_float_layers: bool) -> dict[str, Any]:
    bundle = data_mod.load_for(parent, data_root)
    model = load_model(parent, store, "best", "cpu", bundle.num_classes, bundle.image_size)
    size = bundle.image_size
    per_image = forward_flops(model, size)
    seed_everything(parent.seed)
    ckpt = run.load_checkpoint() if scheme == "qat" else None
    prior = Footprint.from_dict(ckpt["footprint"]) if ckpt else Footprint.zero(parent.carbon.carbon_intensity)
    meter = CarbonMeter(country_iso_code=parent.carbon.country, carbon_intensity=parent.carbon.carbon_intensity)
    meter.start()
    try:
        if scheme == "ptq":
            prepared = pt2e.prepare_ptq(model, size)
            # The images a deployed model sees: no crop, flip or rotation skewing the observers' ranges.
            images, _ = split_tensors(bundle, "train", settings.calibration_images, unaugmented=True)
            seen = pt2e.calibrate(prepared, images.split(settings.batch_size))
            flops, history = per_image * seen, []
        else:
            prepared, seen, history = _qat(run, model, bundle, settings, ckpt, meter, prior)
            flops = training_flops(per_image, seen)
        converted = pt2e.convert(prepared, allow_float_layers)
    finally:
        footprint = prior + meter.stop()
    path = write_verified(run.dir / MODEL_FILE, measure.program_bytes(converted, size))
    _CONVERTED[run.hash] = converted
    images, labels = split_tensors(bundle, "test")
    available, how = pt2e.int8_backend()
    predicted = measure.predictions(converted, images, compiled=available)
    with torch.no_grad():
        float_predicted = model.eval()(images).argmax(1)
    return {
        "metrics": {"test_acc": 100.0 * float((predicted == labels).float().mean()),
                    # how many test predictions the int8 model shares with its float parent (%)
                    "agreement_with_float": 100.0 * float((predicted == float_predicted).float().mean()),
                    "accuracy_of": "the int8 model, lowered by torch.compile" if available
                    else f"the converted model's reference ops (q/dq in float): {how}"},
        "footprint": footprint.to_dict(),
        "flops": {"total": int(flops), "pflops": flops / 1e15, "samples_seen": int(seen)},
        "epochs": settings.qat_epochs if scheme == "qat" else 0,
        "history": history,
        "model": {"file": MODEL_FILE, "size_mb": measure.size_mb(path), "name": parent.model,
                  "image_size": size, "num_classes": bundle.num_classes},
        "float_layers": pt2e.float_layers(converted),
        "backend": how,
    }


def _qat(run: Run, model, bundle, settings: QuantizeSettings, ckpt, meter: CarbonMeter, prior: Footprint):
    """Fine-tune with fake quantization; a checkpoint per epoch (prepared model, optimizer, history)."""
    from torchao.quantization.pt2e import disable_observer

    prepared = pt2e.prepare_qat(model, bundle.image_size)
    optimizer = torch.optim.SGD(prepared.parameters(), lr=settings.qat_lr, momentum=0.9, weight_decay=5e-4)
    start, seen, history = 0, 0, []
    if ckpt:
        prepared.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start, seen, history = ckpt["epoch"], ckpt["samples_seen"], list(ckpt["history"])
        torch.set_rng_state(ckpt["rng"])  # dropout draws continue where the interrupted run left them
    # An augmented split is read again every epoch (fresh crops, flips and angles, as training draws
    # them); after the checkpoint's RNG state, so a resumed run draws the same images.
    augmented = getattr(getattr(bundle.train, "form", None), "augment", None) is not None
    images, labels = (None, None) if augmented else split_tensors(bundle, "train")
    order = torch.Generator().manual_seed(run.config["parent"]["seed"])
    for epoch in range(settings.qat_epochs):
        perm = torch.randperm(len(bundle.train), generator=order)  # drawn every epoch: a resumed run draws the same
        if epoch < start:
            continue
        if augmented:
            images, labels = split_tensors(bundle, "train")
        if epoch >= settings.freeze_observers_after:
            prepared.apply(disable_observer)  # scales and zero points fixed from here on
        total, count = 0.0, 0
        for b, index in enumerate(perm.split(settings.batch_size)):
            if settings.max_batches and b >= settings.max_batches:
                break
            loss = F.cross_entropy(prepared(images[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * len(index), count + len(index)
        seen += count
        footprint = prior + meter.read()
        history.append({"epoch": epoch + 1, "train_loss": total / max(count, 1), "observers": epoch <
                        settings.freeze_observers_after, "wall_s": footprint.duration_s,
                        "energy_kwh": footprint.energy_kwh, "co2_g": footprint.co2_g})
        run.save_checkpoint({"model": prepared.state_dict(), "optimizer": optimizer.state_dict(),
                             "epoch": epoch + 1, "samples_seen": seen, "history": history,
                             "footprint": footprint.to_dict(), "rng": torch.get_rng_state()}, epoch + 1)
    return prepared, seen, history


def export_float(parent: RunConfig, *, store: RunStore, data_root: str | Path | None = None) -> dict[str, Any]:
    """The float model of ``parent`` (best weights) saved as a ``torch.export`` program, like the int8
    ones, so that every size compares files of one format; a derived run (kind "exported"), cached."""
    config = {"kind": "exported", "format": "torch.export", "parent": parent.to_dict(),
              "label": f"fp32 program of {run_label(parent)}"}
    get_or_run(parent, store=store, data_root=data_root, progress=False)

    def make(run: Run) -> Mapping[str, Any]:
        bundle = data_mod.load_for(parent, data_root)
        model = load_model(parent, store, "best", "cpu", bundle.num_classes, bundle.image_size)
        path = write_verified(run.dir / MODEL_FILE, measure.program_bytes(model, bundle.image_size))
        return {"model": {"file": MODEL_FILE, "size_mb": measure.size_mb(path), "name": parent.model,
                          "image_size": bundle.image_size, "num_classes": bundle.num_classes}}

    return {**store.get_or_run(config, make, verify=_has_model), "hash": store.run(config).hash}


_CONVERTED: dict[str, torch.fx.GraphModule] = {}


def converted_model(store: RunStore, run_hash: str, data_root: str | Path | None = None) -> torch.fx.GraphModule:
    """The int8 model of a derived run, in memory as ``convert_pt2e`` made it (the form Inductor lowers
    to int8 kernels): kept from when this process made it, else rebuilt from the parent's weights (PTQ:
    the same calibration images; QAT: the last checkpoint's fake-quantized weights)."""
    if run_hash in _CONVERTED:
        return _CONVERTED[run_hash]
    run = store.run_by_hash(run_hash)
    config, result = run.config, run.result()
    if config.get("kind") != "quantized" or result is None:
        raise ValueError(f"run {run_hash} is not a finished quantized run (kind {config.get('kind')!r})")
    parent = RunConfig.from_dict(config["parent"])
    settings = dataclasses.replace(QuantizeSettings(), **config["settings"])
    bundle = data_mod.load_for(parent, data_root)
    model = load_model(parent, store, "best", "cpu", bundle.num_classes, bundle.image_size)
    if config["scheme"] == "ptq":
        prepared = pt2e.prepare_ptq(model, bundle.image_size)
        images, _ = split_tensors(bundle, "train", settings.calibration_images, unaugmented=True)
        pt2e.calibrate(prepared, images.split(settings.batch_size))
    else:
        prepared = pt2e.prepare_qat(model, bundle.image_size)
        prepared.load_state_dict(run.load_checkpoint()["model"])
    _CONVERTED[run_hash] = pt2e.convert(prepared, allow_float_layers=bool(result.get("float_layers")))
    return _CONVERTED[run_hash]


def load_program(store: RunStore, run_hash: str) -> torch.nn.Module:
    """The model of a derived run (int8 or exported float), as saved, checksum verified: any batch size."""
    import io

    run = store.run_by_hash(run_hash)  # (importing pt2e registered the quantized_decomposed ops it names)
    program = torch.export.load(io.BytesIO(read_verified(run.dir / MODEL_FILE)))
    return program.module()

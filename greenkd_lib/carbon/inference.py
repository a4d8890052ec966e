"""Time, energy and CO2 of one inference pass over a data loader."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any, TYPE_CHECKING

from .meter import CarbonMeter

if TYPE_CHECKING:
    import pandas as pd
    import torch

__all__ = ["measure_inference", "repeated_inference"]


def _inputs(batch: Any, device: "torch.device") -> "torch.Tensor":
    import torch

    x = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            "measure_inference expects batches that are an input tensor or an (inputs, targets, ...) "
            f"tuple/list whose first item is a tensor; got {type(batch).__name__}"
            + (f" starting with {type(x).__name__}" if x is not batch else "")
        )
    return x.to(device, non_blocking=True)


def _sync(device: "torch.device") -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)  # queued kernels belong to the measured pass


def measure_inference(model: "torch.nn.Module", loader: Iterable, device: "str | torch.device" = "cpu", *,
                      country_iso_code: str | None = None, carbon_intensity: float | None = None,
                      warmup_batches: int = 1) -> dict[str, Any]:
    """Run ``model`` once over ``loader`` in eval mode without gradients and measure it.

    The first ``warmup_batches`` batches are first run once unmeasured (allocator, cuDNN autotuning,
    lazy initialisation); then the whole loader is run under a :class:`CarbonMeter`. The model is
    moved to ``device`` and its train/eval mode is restored afterwards.

    Returns ``{"time_s", "images", "energy_kwh", "co2_g", "mode", "detail", "machine_load",
    "other_load", "disturbed"}`` (the last three as in :class:`Footprint`); energy and CO2 are None
    when codecarbon could not measure (``mode == "unavailable"``, ``detail`` says why).
    """
    import torch

    if isinstance(warmup_batches, bool) or not isinstance(warmup_batches, int) or warmup_batches < 0:
        raise ValueError(f"warmup_batches must be an integer >= 0, got {warmup_batches!r}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = torch.device(device)
    # Validate before any work: a bad country or intensity should fail fast, not after warm-up.
    meter = CarbonMeter(country_iso_code=country_iso_code, carbon_intensity=carbon_intensity)
    if warmup_batches and iter(loader) is loader:
        raise ValueError("loader is a one-shot iterator, so warm-up batches would be missing from the measured "
                         "pass; pass a re-iterable loader (a DataLoader or a list) or warmup_batches=0")
    was_training = model.training
    model.to(device).eval()
    images = 0
    try:
        with torch.inference_mode():
            for batch in itertools.islice(loader, warmup_batches):
                model(_inputs(batch, device))
            _sync(device)
            meter.start()
            try:
                t0 = time.perf_counter()
                for batch in loader:
                    x = _inputs(batch, device)
                    model(x)
                    images += int(x.shape[0]) if x.dim() > 0 else 1
                _sync(device)
                elapsed = time.perf_counter() - t0
            finally:
                footprint = meter.stop()  # also on errors: its background threads must not outlive the pass
    finally:
        model.train(was_training)
    if images == 0:
        raise ValueError("the loader yielded no batches: nothing to measure")
    return {
        "time_s": elapsed,
        "images": images,
        "energy_kwh": footprint.energy_kwh,
        "co2_g": footprint.co2_g,
        "mode": footprint.mode,
        "detail": footprint.detail,
        "machine_load": footprint.machine_load,
        "other_load": footprint.other_load,
        "disturbed": footprint.disturbed,
    }


def repeated_inference(measure: Callable[[str], dict[str, Any]], models: "pd.DataFrame",
                       repeats: int = 3, reference: str = "teacher") -> "pd.DataFrame":
    """The median of ``repeats`` inference passes of each model, and its time and CO2 over the reference's.

    ``measure(hash)`` makes one pass of a trained model (e.g. ``Lab.inference``); ``models`` has
    one row per model: ``method`` (its arm), ``model`` and ``hash``. A pass over a small test set
    lasts a fraction of a second and is noisy: the median pass is kept (each column's median).
    Columns: method, model, images, time_s, energy_kwh, co2_g, mode, time_vs_<reference>,
    co2_vs_<reference>.
    """
    import pandas as pd

    from .ratios import relative_to

    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    passes = pd.DataFrame([{"method": r["method"], "model": r["model"], "repeat": i, **measure(r["hash"])}
                           for _, r in models.iterrows() for i in range(repeats)])
    table = (passes.groupby(["method", "model"], sort=False)
             .agg(images=("images", "first"), time_s=("time_s", "median"), energy_kwh=("energy_kwh", "median"),
                  co2_g=("co2_g", "median"), mode=("mode", "first")).reset_index())
    table[f"time_vs_{reference}"] = relative_to(table, "time_s", reference)
    table[f"co2_vs_{reference}"] = relative_to(table, "co2_g", reference)
    return table

"""Table 3: every architecture's parameters, FLOPs at several image sizes, size on disk and latency."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import FuncFormatter

from ..data import published
from ..models import build, canonical_name, MIN_IMAGE_SIZE, MODELS
from ..models.measure import count_parameters, forward_flops, latency_ms, model_size_bytes

__all__ = ["ROLES", "architecture_names", "table_sizes", "measure_architectures", "latency_column", "beside_paper",
           "architectures_figure", "caption", "figure_title", "figure_caption"]

# What each architecture does in the paper (PAPER.md); VGG16 there is the SSD300 detector's backbone.
ROLES: dict[str, str] = {
    "resnet18": "teacher (classification)",
    "mobilenetv2": "student 1",
    "shufflenetv2": "student 2",
    "vgg16": "detection teacher (paper: SSD300-VGG16; here the classifier)",
    "wrn_40_2": "data-free KD teacher (Table 6, inferred)",
    "wrn_16_1": "data-free KD student (Table 6, inferred)",
}


def architecture_names(architectures: str | Iterable[str] | None) -> list[str]:
    """The registered names of ``architectures`` (a name, a list, or None for every one of ``MODELS``)."""
    if isinstance(architectures, str):
        architectures = [architectures]  # papermill -p architectures resnet18 passes a plain string
    names = [canonical_name(a) for a in (MODELS if architectures is None else architectures)]
    if not names:
        raise ValueError("architectures is empty; give at least one, e.g. ['resnet18'], or None for all")
    return names


def table_sizes(architectures: Iterable[str], image_size: int | None,
                latency_image_size: int | None = None) -> tuple[list[int], int]:
    """The image sizes to count FLOPs at (32 and 64, the paper's, plus the profile's ``image_size``) and the
    one to time latency at: ``latency_image_size``, else the profile's (32 if None) raised to the smallest
    size every architecture accepts."""
    latency = latency_image_size or max([image_size or 32] + [MIN_IMAGE_SIZE[a] for a in architectures])
    return sorted({32, 64, latency} | ({image_size} if image_size else set())), latency


def latency_column(latency_size: int, device: torch.device, batch_size: int) -> str:
    """The name of the latency column of :func:`measure_architectures` (it says where it was timed)."""
    return f"latency ms/image @{latency_size} ({device.type}, batch {batch_size})"


def measure_architectures(architectures: Iterable[str], num_classes: int, sizes: Iterable[int], latency_size: int,
                          batch_size: int, device: torch.device) -> pd.DataFrame:
    """One row per architecture, freshly built: ``model``, ``role in the paper``, ``params (M)``, ``size on disk
    (MB)``, ``MFLOPs/image @<size>`` per size (NaN below its minimum) and the latency per image (median of
    repeated timed batches, :func:`latency_ms`) at ``latency_size`` on ``device``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"latency_batch_size must be a positive integer, got {batch_size!r}")
    rows: list[dict[str, Any]] = []
    for arch in architectures:
        model = build(arch, num_classes, latency_size)
        row = {"model": arch, "role in the paper": ROLES.get(arch, ""),
               "params (M)": count_parameters(model) / 1e6, "size on disk (MB)": model_size_bytes(model) / 1e6}
        for size in sizes:
            fits = size >= MIN_IMAGE_SIZE[arch]  # VGG16's four max-pools need 16x16
            row[f"MFLOPs/image @{size}"] = forward_flops(model, size) / 1e6 if fits else float("nan")
        batch_ms = latency_ms(model, latency_size, batch_size=batch_size, device=device)
        row[latency_column(latency_size, device, batch_size)] = batch_ms / batch_size
        rows.append(row)
    return pd.DataFrame(rows)


def beside_paper(measured: pd.DataFrame, teacher: str, num_classes: int, latency_size: int) -> pd.DataFrame:
    """Table 3: ``measured`` with the paper's one published cell (ResNet18's parameters, Fig 1 caption) and, when
    ``teacher`` is a row, how many times fewer parameters and FLOPs, and how much faster, each model is."""
    paper_params = published.headline_value("teacher_parameters", "any")  # millions, Fig 1 caption (ResNet18)

    def paper_cell(row: pd.Series) -> str:
        if row["model"] != "resnet18" or paper_params is None:
            return published.NOT_PUBLISHED
        if num_classes != 100:  # the paper counts for CIFAR-100
            return f"{paper_params:g} for 100 classes (this table: {num_classes})"
        return published.compare(row["params (M)"], paper_params)

    table = measured.copy()
    table.insert(3, "params (M): ours (paper, Fig 1 caption)", table.apply(paper_cell, axis=1))
    latency = next(c for c in table.columns if c.startswith("latency"))
    if teacher in set(table["model"]):
        ref = table.set_index("model").loc[teacher]
        flops = f"MFLOPs/image @{latency_size}"
        table[f"{teacher} params / params"] = ref["params (M)"] / table["params (M)"]
        table[f"{teacher} FLOPs / FLOPs"] = ref[flops] / table[flops]
        table[f"{teacher} latency / latency"] = ref[latency] / table[latency]
    return table


# -- figure: parameters, FLOPs per image and latency of each architecture, as horizontal bars ----------


def architectures_figure(measured: pd.DataFrame, sizes: Sequence[int], teacher: str, students: Sequence[str],
                         num_classes: int, latency_label: str) -> plt.Figure:
    """Three panels sharing one row per model (fewest parameters at the bottom): parameters, forward MFLOPs per
    image at each of ``sizes`` (log) and latency per image (log);
    ``teacher`` red, ``students`` green, the rest grey."""
    order = measured.sort_values("params (M)")
    latency = next(c for c in order.columns if c.startswith("latency"))
    # The title says "red: teacher, green: students": roles of architectures, not arms of an experiment.
    colors = ["tab:red" if m == teacher else "tab:green" if m in students else "tab:gray" for m in order["model"]]
    fig, axes = plt.subplots(1, 3, figsize=(14, 0.5 * len(order) + 2.2), sharey=True)
    axes[0].barh(order["model"], order["params (M)"], color=colors)
    axes[0].set_xlabel(f"parameters (millions, {num_classes} classes)")
    height, y = 0.8 / len(sizes), np.arange(len(order))
    for k, size in enumerate(sizes):
        axes[1].barh(y + (k - (len(sizes) - 1) / 2) * height, order[f"MFLOPs/image @{size}"], height=height,
                     label=f"{size}x{size}")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("forward MFLOPs per image (log)")
    axes[1].legend(title="image size", fontsize=8, loc="lower right")
    axes[2].barh(order["model"], order[latency], color=colors)
    axes[2].set_xscale("log")
    # Under a decade of range matplotlib labels every minor tick, and they overlap: keep 1-2-5 only.
    axes[2].xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}".lstrip("0.")[:1] in "125" else ""))
    axes[2].set_xlabel(f"ms per image (log; {latency_label})")
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


def caption(num_classes: int, device: torch.device, title: str) -> str:
    """Table 3's caption (:func:`beside_paper`): the classes, the device of the latency, the lab's title."""
    return (f"Table 3: the architectures for {num_classes} classes: parameters, forward FLOPs per image, size on "
            f"disk and latency on {device.type} (models built for {title}; paper values: only ResNet18's "
            f"parameters are published, the rest {published.NOT_PUBLISHED})")


def figure_title(title: str) -> str:
    """The title of :func:`architectures_figure`."""
    return f"Table 3: the architectures (red: teacher, green: students; built for {title})"


def figure_caption(num_classes: int, device: torch.device, title: str) -> str:
    """The caption of :func:`architectures_figure`."""
    return (f"Parameters, forward FLOPs per image and latency of each architecture ({num_classes} classes; "
            f"latency on {device.type}; {title})")

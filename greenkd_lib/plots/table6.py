"""Table 6's figures: accuracy and CO2 per synthesizer (tuned tau against ours), and what each one drew."""

from __future__ import annotations

import math

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import MaxNLocator
from torchvision.utils import make_grid

from ..display import arm_name, arm_style, short_name

__all__ = ["accuracy_and_co2", "synthetic_grids", "accuracy_by_epoch"]

_ARM = {"tuned": "kd-tuned", "ours": "ours"}


def accuracy_and_co2(measured: pd.DataFrame, grid_size: int, teacher_acc: float | None = None) -> plt.Figure:
    """Left: test accuracy (mean ± std over seeds) of tuned tau and ours per synthesizer, the teacher as a
    line; right: training CO2 of each (tuned: its ``grid_size`` trainings), labelled ours / tuned."""
    names = list(dict.fromkeys(measured["synthesizer"]))
    x, w = np.arange(len(names)), 0.38
    fig, (ax_acc, ax_co2) = plt.subplots(1, 2, figsize=(12, 4.2))
    rows = {arm: measured[measured["method"] == arm].set_index("synthesizer").reindex(names) for arm in _ARM}
    for dx, arm in ((-w / 2, "tuned"), (w / 2, "ours")):
        style, label = arm_style(_ARM[arm]), (arm_name("kd-tuned") if arm == "tuned" else short_name("ours"))
        ax_acc.bar(x + dx, rows[arm]["score_mean"], w, yerr=rows[arm]["score_std"].fillna(0), capsize=3,
                   color=style["color"], label=label)
        ax_co2.bar(x + dx, rows[arm]["co2_g"], w, color=style["color"],
                   label=f"{label} ({grid_size} trainings)" if arm == "tuned" else f"{label} (1 training)")
    if teacher_acc is not None:
        ax_acc.axhline(teacher_acc, color=arm_style("teacher")["color"], ls=":", label=short_name("teacher"))
    ax_acc.set_ylim(0, 105)
    for xi, (ours, tuned) in enumerate(zip(rows["ours"]["co2_g"], rows["tuned"]["co2_g"])):
        ax_co2.annotate(f"{ours / tuned:.2f}x", (xi + w / 2, ours), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=8)
    for ax, ylabel, title in ((ax_acc, "test accuracy (%)", "accuracy of the student (mean ± std over seeds)"),
                              (ax_co2, "training CO2 (g)", "training CO2, ours labelled ours / tuned")):
        ax.set_xticks(x, names)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    return fig


def synthetic_grids(images: Mapping[str, torch.Tensor], per_method: int = 32, columns: int = 8) -> plt.Figure:
    """One panel per synthesizer: the first ``per_method`` images of its last synthesis (uint8, N x 3 x H x W)."""
    n = len(images)
    rows = max(math.ceil(min(per_method, max((len(b) for b in images.values()), default=1)) / columns), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2 * rows / columns + 0.9), squeeze=False)
    for ax, (name, batch) in zip(axes[0], images.items()):
        grid = make_grid(batch[:per_method].float() / 255, nrow=columns, padding=1, pad_value=1.0)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    return fig


def accuracy_by_epoch(histories: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """Left: the student's test accuracy per epoch; right: the teacher's mean confidence on the synthetic
    batches (``syn_teacher_conf``), one line per synthesizer (its stochastic-tau run)."""
    fig, (ax_acc, ax_conf) = plt.subplots(1, 2, figsize=(12, 3.8))
    for name, h in histories.items():
        ax_acc.plot(h["epoch"], h["test_acc"], marker="o", label=name)
        ax_conf.plot(h["epoch"], 100 * h["syn_teacher_conf"], marker="o", label=name)
    for ax, ylabel in ((ax_acc, "student test accuracy (%)"), (ax_conf, "teacher confidence on synthetic images (%)")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig

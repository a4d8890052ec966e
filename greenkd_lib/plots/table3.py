"""Table 3's figure: parameters, FLOPs per image and latency of each architecture, as horizontal bars."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

__all__ = ["architectures_figure"]


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

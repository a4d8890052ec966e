"""Table 8's figure: per compressed model, accuracy beside its size, latency and the CO2 of producing it."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..display import arm_style

__all__ = ["compression_figure", "row_color"]

_PANELS = (("accuracy", "test accuracy (%)"), ("size_mb", "model file (MB)"),
           ("latency_ms", "CPU latency, batch 1 (ms)"), ("co2_g", "CO2 to produce (g)"))


def row_color(method: str) -> str:
    """The arms' colours: teacher dark grey, student from scratch light grey, KD tuned red, ours green."""
    if method.startswith("teacher"):
        return arm_style("teacher")["color"]
    if method.startswith("KD tuned"):
        return arm_style("kd-tuned")["color"]
    if method.startswith("Ours"):
        return arm_style("ours")["color"]
    return arm_style("scratch")["color"]


def compression_figure(table: pd.DataFrame) -> plt.Figure:
    """One horizontal bar per row of Table 8 in each of four panels (accuracy, size, latency, CO2); int8
    rows hatched; a latency that could not be measured is written as such."""
    fig, axes = plt.subplots(1, len(_PANELS), figsize=(15, 0.9 + 0.42 * len(table)), sharey=True)
    y = np.arange(len(table))
    colors = [row_color(m) for m in table["method"]]
    hatches = ["//" if p == "int8" else "" for p in table["precision"]]
    for ax, (col, label) in zip(axes, _PANELS):
        values = pd.to_numeric(table[col], errors="coerce")
        bars = ax.barh(y, values.fillna(0), color=colors, edgecolor="white")
        for bar, hatch in zip(bars, hatches):
            bar.set_hatch(hatch)
        for yi, v in zip(y, values):
            text = "unavailable" if math.isnan(v) else (f"{v:.1f}" if col == "accuracy" else f"{v:.3g}")
            ax.annotate(text, (0 if math.isnan(v) else v, yi), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)
        ax.set_xlabel(label, fontsize=9)
        ax.margins(x=0.22)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, table["method"], fontsize=8)
    axes[0].invert_yaxis()
    return fig

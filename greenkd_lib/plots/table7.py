"""Table 7's figure: per teacher-student pair, accuracy (left) and training CO2 (right) of tuned KD and ours."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..display import arm_name, arm_style, short_name

__all__ = ["pairs_figure"]


def pairs_figure(table: pd.DataFrame, grid_size: int) -> plt.Figure:
    """Left: test accuracy of tuned KD and ours (mean +- std over seeds) with the teacher's as a tick; right: the
    training CO2 of tuned KD (its ``grid_size`` trainings) and of ours, each tuned bar labelled tuned / ours.
    ``table`` is :func:`greenkd_lib.pairs.pairs_table`'s, one row per pair, top to bottom."""
    fig, (ax_acc, ax_co2) = plt.subplots(1, 2, figsize=(12, 1.2 + 1.1 * len(table)))
    y = np.arange(len(table))
    tuned, ours = arm_style("kd-tuned"), arm_style("ours")
    for dy, who, style, label in ((-0.12, "tuned", tuned, arm_name("kd-tuned")), (0.12, "ours", ours, short_name("ours"))):
        ax_acc.errorbar(table[f"{who} acc"], y + dy, xerr=table[f"{who} acc std"].fillna(0), ls="none",
                        color=style["color"], marker=style["marker"], capsize=3, label=label)
    ax_acc.plot(table["teacher acc"], y, ls="none", marker="|", ms=14, color=arm_style("teacher")["color"],
                label=short_name("teacher"))
    ax_acc.set_yticks(y, table["pair"], fontsize=9)
    ax_acc.invert_yaxis()
    ax_acc.set_xlabel("test accuracy (%)")
    ax_acc.set_title("accuracy (mean ± std over seeds)", fontsize=10)
    ax_acc.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    ax_acc.grid(axis="x", alpha=0.3)
    h = 0.38
    ax_co2.barh(y - h / 2, table["tuned CO2 (g)"], h, color=tuned["color"],
                label=f"{arm_name('kd-tuned')} ({grid_size} trainings)")
    ax_co2.barh(y + h / 2, table["ours CO2 (g)"], h, color=ours["color"], label=f"{short_name('ours')} (1 training)")
    for yi, (co2, ratio) in enumerate(zip(table["tuned CO2 (g)"], table["CO2 tuned / ours"])):
        ax_co2.annotate(f"{ratio:.1f}x", (co2, yi - h / 2), xytext=(3, 0), textcoords="offset points", va="center",
                        fontsize=8)
    ax_co2.set_yticks(y, [""] * len(y))
    ax_co2.invert_yaxis()
    ax_co2.margins(x=0.12)
    ax_co2.set_xlabel("training CO2 (g)")
    ax_co2.set_title("training CO2, labelled tuned / ours", fontsize=10)
    ax_co2.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    return fig

"""Table 1 as bars (``04_table1``): training CO2 and FLOPs of each arm, per data set, relative to the teacher."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..display import ARMS

__all__ = ["draw_table1"]


def _annotate(ax: Any, bars: Any, texts: Sequence[str]) -> None:
    for bar, text in zip(bars, texts):
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 2), textcoords="offset points")


def draw_table1(axes: Any, table: pd.DataFrame, titles: Sequence[str]) -> None:
    """One row of two panels per data set of ``table`` (:func:`greenkd_lib.table1.table1`), in its
    order, titled by ``titles``: CO2 annotated with the test accuracy (mean ± std) and the ratio to
    the teacher, and counted FLOPs with their ratio to the teacher; bars in the arms' colours."""
    for (ax_co2, ax_flops), (dataset, t), title in zip(axes, table.groupby("dataset", sort=False), titles):
        names = [f"{r}\n({m})" for r, m in zip(t["row"].str.replace(", ", "\n"), t["model"])]
        colors = [ARMS[m][2] for m in t["method"]]
        flops_ratio = t["gflops_millions"] / t.loc[t["method"] == "teacher", "gflops_millions"].iloc[0]
        bars = ax_co2.bar(names, t["co2_g"], color=colors)
        _annotate(ax_co2, bars, [f"acc {acc:.1f}{'' if np.isnan(sd) else f' ± {sd:.1f}'} %\n{ratio:.2f}x teacher"
                                 for acc, sd, ratio in zip(t["test_acc_mean"], t["test_acc_std"], t["co2_vs_teacher"])])
        bars = ax_flops.bar(names, t["gflops_millions"], color=colors)
        _annotate(ax_flops, bars, [f"{ratio:.2f}x teacher" for ratio in flops_ratio])
        for ax, label in [(ax_co2, "training CO2 (g)"), (ax_flops, "training GFLOPs (M) = 10^15 FLOPs")]:
            ax.margins(y=0.2)
            ax.set_ylabel(label)
            ax.tick_params(axis="x", labelsize=8)
        ax_co2.set_title(f"CO2 ({t['mode'].iloc[0]}) and accuracy ({title})", fontsize=10)
        ax_flops.set_title(f"FLOPs, counted ({title})", fontsize=10)

"""The story's carbon bill (``00_story``): accuracy and the three training costs of every arm, as bars.

Grey for the teacher and the student alone (their arm colours), each student's colour for its KD
rows: tuned KD hatched and shaded (the whole grid), ours solid.
"""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .display import ARMS, short_name, student_colors

__all__ = ["BILL_PANELS", "bar_style", "draw_bill", "bill_figure", "bill_figure_caption"]

BILL_PANELS = [("test_acc_mean", "test accuracy (%)"), ("energy_kwh", "training energy (kWh)"),
               ("co2_g", "training CO2 (g)"), ("gflops_millions", "training GFLOPs (M) = 10^15 FLOPs")]
"""Each panel of the bill: its column and axis label."""


def bar_style(method: str, model: str, students: Sequence[str]) -> dict[str, Any]:
    """Matplotlib bar keywords of one bill row: arm colour for teacher and alone, student colour for
    KD rows, hatched and shaded for tuned KD."""
    if method in ("teacher", "scratch"):
        return {"color": ARMS[method][2], "hatch": ""}
    tuned = method == "kd-tuned"
    return {"color": student_colors(students)[model], "hatch": "//" if tuned else "", "alpha": 0.55 if tuned else 1}


def draw_bill(axes: Sequence[Any], bill: pd.DataFrame, students: Sequence[str]) -> None:
    """One panel per :data:`BILL_PANELS` on ``axes``, one bar per row of ``bill``
    (:func:`greenkd_lib.paper.table1.carbon_bill`); the accuracy bars carry the std over seeds."""
    names = [f"{m}\n{short_name(meth)}" for meth, m in zip(bill["method"], bill["student"])]
    for ax, (col, label) in zip(axes, BILL_PANELS):
        for x, (meth, m, value, sd) in enumerate(zip(bill["method"], bill["student"], bill[col],
                                                     bill["test_acc_std"])):
            err = sd if col == "test_acc_mean" and not np.isnan(sd) else None
            ax.bar(x, value, yerr=err, capsize=3, edgecolor="black", **bar_style(meth, m, students))
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylim(0, 100)


# -- captions (every number from the run) -----------------------------------------------------------


def bill_figure(bill: pd.DataFrame, students: Sequence[str], title: str) -> plt.Figure:
    """The bill as a 2 x 2 grid of panels (:func:`draw_bill`), titled with ``title`` (the lab's)."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
    draw_bill(axes.flat, bill, students)
    fig.suptitle(f"The carbon bill: teacher, student alone, tuned KD (hatched, whole grid) and ours (solid) ({title})")
    fig.tight_layout()
    return fig


def bill_figure_caption(lab: Any) -> str:
    """The caption of :func:`bill_figure`: the grid size and the lab's title."""
    return (f"Test accuracy and training energy, CO2 and GFLOPs (M) of the teacher, the student alone, tuned KD "
            f"(hatched; {len(lab.profile.tau_grid)} trainings) and ours (solid; one training), mean over seeds "
            f"({lab.title})")

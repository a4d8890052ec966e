"""Table 5's figure: the F1 of each class for the teacher, tuned KD and ours."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data import published
from .display import arm_style

__all__ = ["PAPER_ACCURACY", "metrics_figure", "metrics_figure_caption", "metrics_title", "per_class_f1_figure", "caption", "mean_caption", "per_class_caption", "f1_title", "f1_caption"]


def per_class_f1_figure(f1: pd.DataFrame, title: str = ""):
    """F1 (%) per class (rows of ``f1``) of each arm (its columns, ``method`` names such as "ours",
    from :func:`~greenkd_lib.paper.predictions.per_class_f1`), as markers side by side per class."""
    import matplotlib.pyplot as plt

    many = len(f1) > 20
    fig, ax = plt.subplots(figsize=(min(24, max(8, 0.6 * len(f1))), 3.8))
    x = np.arange(len(f1))
    offsets = (np.arange(f1.shape[1]) - (f1.shape[1] - 1) / 2) * 0.2
    # Markers, not bars: F1 of good models crowds near 100 %, which bars from zero would hide.
    for dx, arm in zip(offsets, f1.columns):
        ax.plot(x + dx, f1[arm], ls="none", ms=6, **arm_style(arm))
    ax.set_xticks(x, f1.index, rotation=90 if many else 0, fontsize=6 if many else 10)
    ax.set_xlabel("class")
    ax.set_ylabel("F1 (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


PAPER_ACCURACY = "paper accuracy, CIFAR-10 (abstract, Table 4)"
"""The column of ``predictions.table5`` with the paper's accuracy of each model (CIFAR-10)."""


def metrics_figure(t5: pd.DataFrame, title: str = ""):
    """Table 5 (``predictions.table5``, one seed) as grouped bars: one group per metric, one bar per model
    in its arm's colour; on the accuracy group the paper's CIFAR-10 accuracy of each model as a black hollow
    diamond (its other Table 5 metrics are not published: no marker)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from ..engine.evaluate import METRICS

    fig, ax = plt.subplots(figsize=(9, 4.2))
    x, n = np.arange(len(METRICS)), len(t5)
    width = 0.8 / max(n, 1)
    paper = pd.to_numeric(t5[PAPER_ACCURACY], errors="coerce") if PAPER_ACCURACY in t5 else pd.Series(np.nan, t5.index)
    for k, (_, r) in enumerate(t5.iterrows()):
        dx = (k - (n - 1) / 2) * width
        style = arm_style(r["method"])
        bars = ax.bar(x + dx, [r[m] for m in METRICS], width, color=style["color"], edgecolor="black", lw=0.5,
                      label=f"{style['label']} ({r['model']})")
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1, rotation=90)
        if not np.isnan(paper.loc[r.name]):
            ax.plot(x[0] + dx, paper.loc[r.name], "D", mfc="none", mec="black", mew=1.5, ms=7, zorder=3)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], marker="D", mfc="none", mec="black", mew=1.5, ls="none"))
    labels.append(f"paper, CIFAR-10 accuracy (abstract, Table 4; its Table 5 metrics: {published.NOT_PUBLISHED})")
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    ax.set_xticks(x, METRICS)
    lowest = float(np.nanmin(t5[list(METRICS)].to_numpy(dtype=float)))
    ax.set_ylim(lowest - 8 if lowest < 0 else 0, 112)  # kappa can be below zero (worse than chance)
    ax.set_ylabel("test set (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def metrics_figure_caption(lab: Any, seed: int, student: str) -> str:
    """The caption of :func:`metrics_figure`."""
    return (f"Table 5 as bars ({lab.title}, seed {seed}): accuracy, weighted precision, recall, F1 and kappa (%) of the "
            f"teacher {lab.profile.teacher} and the student {student} by tuned KD and by ours; hollow diamonds: the "
            f"paper's CIFAR-10 accuracy of each model (abstract, Table 4), its Table 5 metrics "
            f"{published.NOT_PUBLISHED}")


def metrics_title(title: str, seed: int) -> str:
    """The title of :func:`metrics_figure`."""
    return f"Table 5: test-set metrics of the teacher, KD (tuned) and ours ({title}, seed {seed})"


# -- captions (every number from the run) -----------------------------------------------------------


def caption(lab: Any, seed: int, student: str) -> str:
    """Table 5's caption (``predictions.table5``, one seed)."""
    return (f"Table 5 ({lab.title}, seed {seed}): test-set accuracy, weighted precision, recall and F1, Cohen's "
            f"kappa (%) of the teacher {lab.profile.teacher} (no compression) and the student {student} by tuned "
            f"KD and by ours; the paper's Table 5 values are {published.NOT_PUBLISHED}")


def mean_caption(lab: Any) -> str:
    """The caption of Table 5's mean over seeds (``predictions.metrics_summary``)."""
    return (f"Table 5 metrics (%), mean and std over {len(lab.profile.seeds)} seed(s) ({lab.title}; paper: "
            f"{published.NOT_PUBLISHED})")


def per_class_caption(student: str, title: str, seed: int) -> str:
    """The caption of ours' per-class report."""
    return (f"Per-class precision, recall, F1 (%) and support of ours ({student}, stochastic tau; {title}, seed "
            f"{seed}; paper: {published.NOT_PUBLISHED})")


def f1_title(title: str, seed: int) -> str:
    """The title of :func:`per_class_f1_figure`."""
    return f"Table 5, per class: F1 of teacher, KD (tuned) and ours ({title}, seed {seed})"


def f1_caption(title: str, seed: int) -> str:
    """The caption of :func:`per_class_f1_figure`."""
    return f"Per-class F1 on the test set of the teacher, the tuned-KD student and ours ({title}, seed {seed})"

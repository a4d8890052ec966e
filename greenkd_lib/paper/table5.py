"""Table 5's figure: the F1 of each class for the teacher, tuned KD and ours."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data import published
from .display import arm_style

__all__ = ["per_class_f1_figure", "caption", "mean_caption", "per_class_caption", "f1_title", "f1_caption"]


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

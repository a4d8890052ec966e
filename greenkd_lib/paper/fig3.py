"""Fig 3: (a) the student's accuracy across tau, (b) the stochastic method across batch sizes."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..data import published
from .display import arm_style

__all__ = ["tau_sweep_figure", "batch_size_figure", "tau_sweep_caption", "tau_sweep_table_caption",
           "batch_sizes_table_caption", "batch_sizes_caption"]


def tau_sweep_figure(per_tau: pd.DataFrame, ours: pd.DataFrame, chosen: pd.Series, low: float,
                     high: float) -> plt.Figure:
    """Fixed-tau KD per tau (red, mean +- std, log-2 axis), ours as a green line and band, and a gold star at each tau
    that tuning chose (``chosen``: tau -> seeds, from :func:`greenkd_lib.paper.ablation.chosen_taus`)."""
    green = arm_style("ours")["color"]
    mean, std = ours["test_acc"].mean(), ours["test_acc"].std()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    # Red as the paper's Fig 3a draws its curve; each point is one fixed-tau training.
    ax.errorbar(per_tau["tau"], per_tau["test_acc_mean"], yerr=per_tau["test_acc_std"].fillna(0), marker="o",
                capsize=3, color="tab:red", label="KD at a fixed tau (one training each)")
    ax.axhline(mean, color=green, label=f"ours: tau ~ U{{{low:g}..{high:g}}} per batch (one training)")
    if len(ours) > 1:
        ax.axhspan(mean - std, mean + std, color=green, alpha=0.15)
    at = per_tau.set_index("tau")["test_acc_mean"]
    ax.plot(chosen.index, at.loc[chosen.index], ls="none", marker="*", ms=16, color="gold", markeredgecolor="black",
            label="tau chosen on validation: " + "; ".join(f"{t:g} (seed{'s' if len(s) > 1 else ''} "
                                                           f"{', '.join(map(str, s))})" for t, s in chosen.items()))
    ax.set_xscale("log", base=2)
    ax.set_xticks(per_tau["tau"], [f"{t:g}" for t in per_tau["tau"]])
    ax.minorticks_off()
    ax.set_xlabel("temperature tau (log scale)")
    ax.set_ylabel("student test accuracy (%)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


def batch_size_figure(by_batch: pd.DataFrame, tuned_acc: float, default_batch: int) -> plt.Figure:
    """Ours per training batch size (mean +- std over seeds; ``by_batch`` from
    :func:`greenkd_lib.paper.ablation.batch_size_table`), tuned KD at the default batch size as a dashed reference."""
    fig, ax = plt.subplots(figsize=(6.5, 4.3))
    x = np.arange(len(by_batch))
    ax.errorbar(x, by_batch["test_acc_mean"], yerr=by_batch["test_acc_std"].fillna(0), marker="o", ms=7, capsize=5,
                ls="none", color=arm_style("ours")["color"], label="ours, mean ± std over seeds")
    ax.axhline(tuned_acc, color=arm_style("kd-tuned")["color"], ls="--", lw=1,
               label=f"tuned KD at batch {default_batch} (reference)")
    ax.set_xticks(x, [f"{b}" + (" (default)" if b == default_batch else "") for b in by_batch["batch_size"]])
    ax.set_xlim(-0.6, len(by_batch) - 0.4)
    ax.set_xlabel("training batch size")
    ax.set_ylabel("student test accuracy (%)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


def tau_sweep_caption(lab: Any, student: str) -> str:
    """Fig 3a's caption (:func:`tau_sweep_figure`)."""
    return (f"{student} test accuracy (mean +- std over {len(lab.profile.seeds)} seed(s)) for each tau of the grid, "
            f"the stochastic method as a band, and the tau chosen on validation; paper values: "
            f"{published.NOT_PUBLISHED} ({lab.title})")


def tau_sweep_table_caption(lab: Any, student: str) -> str:
    """The caption of Fig 3a's table (``ablation.tau_sweep_table``)."""
    return (f"{lab.profile.teacher} -> {student}: test accuracy per tau of the grid and for the stochastic method, "
            f"mean and std over seeds; paper values (Tiny ImageNet): {published.NOT_PUBLISHED} ({lab.title})")


def batch_sizes_table_caption(lab: Any, student: str) -> str:
    """The caption of Fig 3b's table (``ablation.batch_size_table``)."""
    return (f"Stochastic-tau {student} per training batch size: test accuracy (mean, std over seeds) and mean "
            f"training cost; paper values (Tiny ImageNet): {published.NOT_PUBLISHED} ({lab.title})")


def batch_sizes_caption(lab: Any, student: str) -> str:
    """Fig 3b's caption (:func:`batch_size_figure`)."""
    return (f"Stochastic-tau {student} test accuracy (mean +- std over {len(lab.profile.seeds)} seed(s)) per "
            f"training batch size, tuned KD as reference; paper values: {published.NOT_PUBLISHED} ({lab.title})")

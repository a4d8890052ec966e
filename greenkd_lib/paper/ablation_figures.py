"""The ablation's figures (notebook 13): accuracy across tau under two KL reductions, the temperature
policies, and the KD/CE gradient-size ratio across tau; and the captions of every figure and table of
notebook 13 (its tables come from :mod:`.ablation`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..data import published
from .ablation import other_reduction, per_tau
from .display import arm_style

__all__ = ["reduction_figure", "policy_figure", "gradient_figure", "where", "reduction_caption", "policy_caption",
           "gradient_title", "gradient_caption", "reduction_table_caption", "policy_table_caption",
           "gradient_sizes_caption", "gradient_policies_caption"]

# The profile's reduction in blue, the contrast in orange: the two settings, not arms of an experiment.
_REDUCTION_COLORS = ("tab:blue", "tab:orange")


def reduction_figure(grids: Mapping[str, pd.DataFrame], stochastic: Mapping[str, pd.DataFrame],
                     tau_grid: Sequence[float], low: float, high: float) -> plt.Figure:
    """Test accuracy against tau for each reduction (``grids``: reduction -> fixed-tau rows, the profile's first),
    with its stochastic runs as a line and band: filled circles and dashes for the first, hollow squares and dots
    for the second, so both stay visible where they coincide."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for k, r in enumerate(grids):
        color = _REDUCTION_COLORS[k % 2]
        style = dict(marker="o", ms=5) if k == 0 else dict(marker="s", ms=10, mfc="none")
        curve = per_tau(grids[r])
        ax.errorbar(curve["tau"], curve["test_acc_mean"], yerr=curve["test_acc_std"].fillna(0), capsize=3,
                    color=color, label=f"'{r}': KD at a fixed tau (one training each)", **style)
        acc = stochastic[r]["test_acc"]
        ax.axhline(acc.mean(), color=color, ls="--" if k == 0 else ":", lw=2,
                   label=f"'{r}': ours, tau ~ U{{{low:g}..{high:g}}} per batch")
        if len(acc) > 1:
            ax.axhspan(acc.mean() - acc.std(), acc.mean() + acc.std(), color=color, alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(tau_grid), [f"{t:g}" for t in tau_grid])
    ax.minorticks_off()
    ax.set_xlabel("temperature tau (log scale)")
    ax.set_ylabel("student test accuracy (%)")
    ax.grid(alpha=0.3)
    fig.legend(loc="lower center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
    return fig


def policy_figure(policies: pd.DataFrame, fixed: pd.DataFrame, tuned_acc: float) -> plt.Figure:
    """Each policy's test accuracy (mean +- std over seeds, one row per policy, the first on top) against tuned KD
    (dashed red) and the range the fixed taus of ``fixed`` (:func:`per_tau`) span (grey)."""
    fig, ax = plt.subplots(figsize=(8, 4.4))
    y = np.arange(len(policies))[::-1]
    ax.axvspan(fixed["test_acc_mean"].min(), fixed["test_acc_mean"].max(), color="0.85",
               label="range of fixed-tau KD over the grid " + ", ".join(f"{t:g}" for t in fixed["tau"]))
    ax.axvline(tuned_acc, color=arm_style("kd-tuned")["color"], ls="--", label="tuned KD (tau chosen on validation)")
    ax.errorbar(policies["test_acc_mean"], y, xerr=policies["test_acc_std"].fillna(0), ls="none", marker="o", ms=7,
                capsize=4, color=arm_style("ours")["color"], label="stochastic tau, mean +- std over seeds")
    ax.set_yticks(y, [f"{v}\n{t}" for v, t in zip(policies["variant"], policies["temperature"])], fontsize=8)
    ax.set_ylim(-0.7, len(policies) - 0.3)
    ax.set_xlabel("student test accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="lower center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8, frameon=False)
    return fig


def gradient_figure(sizes: pd.DataFrame, averaged: pd.DataFrame, reductions: Sequence[str], low: float,
                    high: float, student: str) -> plt.Figure:
    """KD/CE gradient-norm ratio against tau (log), at initialisation (left) and trained (right), one colour per
    reduction: solid the parameter gradient, dotted the logit gradient, dashed the mean over the paper's policy
    across the range it draws from (shaded); ``sizes`` and ``averaged`` from :mod:`greenkd_lib.paper.ablation`."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    taus = sizes["tau"]
    for ax, state in zip(axes, ("at initialisation", "trained")):
        ax.axvspan(low, high, color="0.92")
        ax.axhline(1.0, color="0.4", lw=0.8)  # both terms push equally hard
        for r, color in zip(reductions, _REDUCTION_COLORS):
            rows = sizes[(sizes["state"] == state) & (sizes["reduction"] == r)]
            ax.plot(rows["tau"], rows["param_ratio"], marker="o", ms=3, color=color,
                    label=f"'{r}': KD / CE, parameter gradient")
            ax.plot(rows["tau"], rows["logit_ratio"], ls=":", color=color, label=f"'{r}': KD / CE, logit gradient")
            avg = averaged[(averaged["state"] == state) & (averaged["reduction"] == r) & (averaged["policy"] == "paper's")]
            ax.hlines(avg["avg"], low, high, colors=color, linestyles="--", lw=2,
                      label=f"'{r}': mean over tau ~ U{{{low:g}..{high:g}}} (parameter gradient)")
        ax.set_yscale("log")
        ax.set_xticks([t for t in (1, 2, 5, 10, 15, 20, 30, 50, 100) if taus.min() <= t <= taus.max()])
        ax.set_xlabel("temperature tau")
        ax.set_title(f"{student} {state}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("KD gradient norm / CE gradient norm (log scale)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


# Every caption of notebook 13 names the lab's profile, data set and KL reduction (:func:`where`), the student
# (the profile's first), and ends on the paper's values: there are none.
def where(lab: Any) -> str:
    """What titles and captions name: profile, data set and the profile's reduction (once, if the title has it)."""
    mine = lab.profile.kd_reduction
    return lab.title if f"'{mine}'" in lab.title else f"{lab.title}, KL '{mine}'"


def _beyond(lab: Any) -> str:
    return f"beyond the paper, paper values: {published.NOT_PUBLISHED} ({where(lab)})"


def _reductions(lab: Any) -> str:
    mine = lab.profile.kd_reduction
    return f"KL reductions '{mine}' (the profile's) and '{other_reduction(mine)}'"


def reduction_caption(lab: Any) -> str:
    """The caption of :func:`reduction_figure`."""
    mine = lab.profile.kd_reduction
    return (f"{lab.profile.students[0]} test accuracy against tau (mean +- std over {len(lab.profile.seeds)} "
            f"seed(s)) under the profile's KL reduction '{mine}' and under '{other_reduction(mine)}', with the "
            f"stochastic method (lines) for each; {_beyond(lab)}")


def reduction_table_caption(lab: Any) -> str:
    """The caption of the reductions' table (``ablation.tuned_vs_ours_table``)."""
    mine = lab.profile.kd_reduction
    return (f"Tuned KD (tau chosen on validation) against ours under the KL reductions '{mine}' (the profile's) and "
            f"'{other_reduction(mine)}': test accuracy (mean, std over seeds), ours minus tuned, the best and worst "
            f"fixed tau, CO2 per seed; {_beyond(lab)}")


def policy_caption(lab: Any) -> str:
    """The caption of :func:`policy_figure`."""
    return (f"{lab.profile.students[0]} test accuracy for five stochastic-tau policies (mean +- std over "
            f"{len(lab.profile.seeds)} seed(s)) against tuned KD and the range of fixed-tau KD, KL reduction "
            f"'{lab.profile.kd_reduction}'; {_beyond(lab)}")


def policy_table_caption(lab: Any) -> str:
    """The caption of ``ablation.policy_table``'s table."""
    low, high = lab.profile.tau_low, lab.profile.tau_high
    return (f"Stochastic-tau policies against the paper's (per batch, U{{{low:g}..{high:g}}}) and against tuned KD, "
            f"per-seed differences averaged, with the taus the runs drew; KL reduction '{lab.profile.kd_reduction}'; "
            f"{_beyond(lab)}")


def gradient_title(lab: Any) -> str:
    """The title of :func:`gradient_figure`."""
    return (f"Size of the KD gradient against the CE gradient, alpha = {lab.profile.alpha:g}, shaded: tau "
            f"{lab.profile.tau_low:g}..{lab.profile.tau_high:g} ({where(lab)})")


def gradient_caption(lab: Any, batches: int) -> str:
    """The caption of :func:`gradient_figure`, its norms averaged over ``batches`` training batches."""
    low, high = lab.profile.tau_low, lab.profile.tau_high
    return (f"KD/CE gradient-norm ratio against tau (parameters: solid, logits: dotted), averaged over {batches} "
            f"real training batch(es), for {lab.profile.students[0]} at initialisation and after stochastic-KD "
            f"training, {_reductions(lab)}; dashed: the mean over tau ~ U{{{low:g}..{high:g}}}; {_beyond(lab)}")


def gradient_sizes_caption(lab: Any, batches: int) -> str:
    """The caption of ``ablation.measure_gradients``' table."""
    return (f"Norms of the KD and CE gradients per tau (logits and parameters, mean over {batches} real training "
            f"batch(es)) and their ratios, for {lab.profile.students[0]} at initialisation and trained, "
            f"{_reductions(lab)}; {_beyond(lab)}")


def gradient_policies_caption(lab: Any) -> str:
    """The caption of ``ablation.gradient_summary``'s table."""
    return (f"KD/CE parameter-gradient ratio averaged over the taus each policy draws, its range over those taus "
            f"and the fixed tau that gives the average, for {lab.profile.students[0]} at initialisation and trained, "
            f"{_reductions(lab)}; {_beyond(lab)}")

"""Table 4 of the paper: tuned KD against the stochastic temperature, per distillation objective.

:func:`measure` turns a :class:`~greenkd_lib.experiments.Lab`'s runs into rows in the columns of
the paper's ``table4.csv`` (:data:`TABLE4_COLUMNS`, then our extra columns); :func:`cost_ratios`
gives tuned / ours for each cost, for our rows and the paper's alike.
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from .distill.methods import get_method
from .experiments import Lab, summarize

__all__ = ["TABLE4_COLUMNS", "COST_RATIOS", "measure", "cost_ratios"]

TABLE4_COLUMNS = ["dataset", "task", "loss", "method", "metric", "score_mean", "score_std", "gflops_millions",
                  "energy_kwh", "co2_g"]
"""The columns of the paper's ``table4.csv``, in its order (the output contract of our rows)."""

COST_RATIOS = {"gflops_millions": "GFLOPs", "energy_kwh": "kWh", "co2_g": "CO2"}
"""Each cost column and its short name in the ratio columns ("GFLOPs tuned / ours")."""

_ARMS = {"kd-tuned": "tuned", "ours": "ours"}


def measure(lab: Lab, method: str = "kd", student: str | None = None, seeds: Iterable[int] | None = None,
            grid: Iterable[float] | None = None) -> pd.DataFrame:
    """The tuned and ours rows of ``method`` on ``lab``'s data set, trained if missing.

    ``score_mean``/``score_std``: test accuracy at the best-validation epoch over seeds;
    ``best_epoch_mean``/``best_epoch_std``: the best test accuracy over epochs (the paper's
    convention); costs are means over seeds (tuned: the whole grid's). Extra columns say how many
    trainings and seeds each row took and which tau it used.
    """
    spec = get_method(method)
    rows = lab.tuned_and_ours(spec.name, grid=grid, student=student, seeds=seeds)
    t = summarize(rows).merge(summarize(rows, metric="best_test_acc")[["method", "best_test_acc_std"]], on="method")
    grid_size = int(rows.loc[rows["method"] == "kd-tuned", "trainings"].iloc[0])
    return pd.DataFrame({
        "dataset": lab.dataset, "task": "classification", "loss": spec.paper_name,
        "method": t["method"].map(_ARMS), "metric": "accuracy",
        "score_mean": t["test_acc_mean"], "score_std": t["test_acc_std"],
        "gflops_millions": t["gflops_millions"], "energy_kwh": t["energy_kwh"], "co2_g": t["co2_g"],
        "best_epoch_mean": t["best_test_acc_mean"], "best_epoch_std": t["best_test_acc_std"],
        "trainings": t["method"].map({"kd-tuned": grid_size, "ours": 1}), "seeds": t["seeds"],
        "tau": [", ".join(f"{x:g}" for x in rows.loc[rows["method"] == m, "tau"]) if m == "kd-tuned"
                else rows.loc[rows["method"] == m, "temperature"].iloc[0] for m in t["method"]],
        "objective": spec.name, "mode": t["mode"],
    })


def cost_ratios(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """Per data set and loss of ``table`` (Table 4's columns): tuned / ours for each cost, and the
    score gap ours - tuned in points."""
    out = []
    for (dataset, loss), group in table.groupby(["dataset", "loss"], sort=False):
        by_method = group.set_index("method")
        if not {"tuned", "ours"} <= set(by_method.index):
            raise ValueError(f"{source}, {dataset}, {loss}: Table 4 rows need both a 'tuned' and an 'ours' row, "
                             f"got {sorted(by_method.index)}")
        tuned, ours = by_method.loc["tuned"], by_method.loc["ours"]
        row = {"source": source, "dataset": dataset, "loss": loss,
               "score ours - tuned (points)": ours["score_mean"] - tuned["score_mean"]}
        row.update({f"{name} tuned / ours": tuned[col] / ours[col] for col, name in COST_RATIOS.items()})
        out.append(row)
    return pd.DataFrame(out)


def plot_cost_ratios(ax, ratios: pd.DataFrame, title: str, grid_size: int | None = None) -> None:
    """Grouped bars of tuned / ours (GFLOPs, kWh, CO2) per data set and loss of ``ratios`` (from
    :func:`cost_ratios`) on ``ax``; a dashed line at ``grid_size``, the ratio one would expect."""
    import numpy as np

    x = np.arange(len(ratios))
    for i, (name, color) in enumerate(zip(COST_RATIOS.values(), ["tab:blue", "tab:orange", "tab:red"])):
        bars = ax.bar(x + (i - 1) * 0.26, ratios[f"{name} tuned / ours"], width=0.26, color=color, label=name)
        if len(ratios) <= 6:  # labels stay legible
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    if grid_size is not None:
        ax.axhline(grid_size, color="0.3", ls="--", lw=1, label=f"our grid size N = {grid_size}")
    ax.set_xticks(x, [f"{loss}\n{dataset}" for loss, dataset in zip(ratios["loss"], ratios["dataset"])],
                  fontsize=8 if len(ratios) <= 6 else 7)
    ax.set_title(title, fontsize=9)
    ax.margins(y=0.12)
    ax.grid(axis="y", alpha=0.3)

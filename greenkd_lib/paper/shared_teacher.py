"""Beyond the paper: tuned KD with a shared teacher (notebook 13's panel, Table 1's extra row).

The paper's saving is measured against the naive grid (one complete training per tau, each paying
the frozen teacher's forward pass). A grid whose students share a seed sees the same batches, so
the teacher's logits are the same for every tau: trained together on one teacher pass
(:mod:`greenkd_lib.engine.shared_grid`), the grid gives the same students for less. Here the three
arms side by side (:func:`comparison`), what ours saves against each (:func:`ratios`), the FLOP
arithmetic behind it (:func:`flop_arithmetic`), a headline, a figure and their captions.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from .. import models
from ..carbon.flops import BACKWARD_FACTOR
from .display import ARMS
from .rows import summarize

__all__ = ["ARMS_ORDER", "comparison", "ratios", "flop_arithmetic", "headline", "figure", "caption",
           "ratios_caption", "figure_caption"]

ARMS_ORDER = ("kd-tuned", "kd-tuned-shared", "ours")
_LABEL = {"kd-tuned": "tuned KD (naive grid)", "kd-tuned-shared": "tuned KD, shared teacher", "ours": "ours"}
_COSTS = {"energy_kwh": "kWh", "co2_g": "CO2", "gflops_millions": "FLOPs"}


def comparison(naive: pd.DataFrame, shared: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """One row per arm (``Lab.tuned_kd(grid_mode="naive")``'s, ``Lab.tuned_kd(grid_mode="shared")``'s and
    ``Lab.stochastic_kd()``'s rows): the tau chosen per seed, accuracy mean and std over seeds, the
    mean costs per seed (a grid charged whole) and how many times ours each cost is."""
    for name, part, method, shared_rows in [("naive", naive, "kd-tuned", False), ("shared", shared, "kd-tuned", True),
                                            ("ours", ours, "ours", False)]:
        is_shared = "grid" in part and (part["grid"] == "shared").all()
        if part.empty or set(part["method"]) != {method} or is_shared != shared_rows:
            raise ValueError(f"comparison's {name} rows must be those of lab.tuned_kd(grid_mode='naive'), "
                             "lab.tuned_kd(grid_mode='shared') and lab.stochastic_kd(), in this order")
    rows = pd.concat([naive, shared.assign(method="kd-tuned-shared"), ours], ignore_index=True)
    t = summarize(rows[rows["method"].isin(ARMS_ORDER)], by=["method"])
    t = t.set_index("method").loc[list(ARMS_ORDER)].reset_index()
    t.insert(1, "arm", [_LABEL[m] for m in t["method"]])
    t.insert(2, "trainings", [int(rows.loc[rows["method"] == m, "trainings"].max()) for m in t["method"]])
    t.insert(3, "tau per seed", [", ".join(f"{x:g}" for x in rows.loc[rows["method"] == m, "tau"]) if m != "ours"
                                 else "random per batch" for m in t["method"]])
    ours_row = t[t["method"] == "ours"].iloc[0]
    for column, name in _COSTS.items():
        t[f"x ours, {name}"] = t[column] / ours_row[column]
    columns = ["method", "arm", "trainings", "tau per seed", "seeds", "test_acc_mean", "test_acc_std", "energy_kwh",
               "co2_g", "gflops_millions", "wall_s", "mode", *[f"x ours, {n}" for n in _COSTS.values()]]
    return t[columns]


def ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Per cost (kWh, CO2, FLOPs): the shared grid over the naive one, and "ours is N x cheaper" against
    each (naive grid / ours, shared grid / ours), from :func:`comparison`."""
    by = table.set_index("method")
    return pd.DataFrame([{
        "cost": name,
        "shared grid / naive grid": by.loc["kd-tuned-shared", column] / by.loc["kd-tuned", column],
        "ours cheaper than the naive grid (x)": by.loc["kd-tuned", column] / by.loc["ours", column],
        "ours cheaper than the shared grid (x)": by.loc["kd-tuned-shared", column] / by.loc["ours", column],
    } for column, name in _COSTS.items()])


def flop_arithmetic(teacher: str, student: str, image_size: int, num_classes: int,
                    grid_sizes: Iterable[int]) -> pd.DataFrame:
    """FLOPs per training image of the teacher's forward and a student's step, and the shared grid's
    FLOPs over the naive grid's for each grid size N: (t + N x 3s) / (N x (t + 3s))."""
    t = models.forward_flops(models.build(teacher, num_classes, image_size), image_size)
    s = (1 + BACKWARD_FACTOR) * models.forward_flops(models.build(student, num_classes, image_size), image_size)
    return pd.DataFrame([{"image size": image_size, "classes": num_classes, "teacher forward (GFLOP)": t / 1e9,
                          "student step (GFLOP)": s / 1e9, "KD step (GFLOP)": (t + s) / 1e9, "grid size": n,
                          "shared / naive, FLOPs": (t + n * s) / (n * (t + s))} for n in grid_sizes])


def headline(table: pd.DataFrame, ratio: pd.DataFrame) -> str:
    """What the panel shows, in numbers: both baselines against ours, cost and accuracy."""
    by, r = table.set_index("method"), ratio.set_index("cost")

    def acc(m: str) -> str:
        sd = by.loc[m, "test_acc_std"]
        return f"{by.loc[m, 'test_acc_mean']:.1f}" + ("" if np.isnan(sd) else f" ± {sd:.1f}") + " %"

    return (f"The shared-teacher grid costs {r.loc['FLOPs', 'shared grid / naive grid']:.2f}x the naive grid's FLOPs "
            f"and {r.loc['kWh', 'shared grid / naive grid']:.2f}x its energy for the same students "
            f"({acc('kd-tuned')} and {acc('kd-tuned-shared')}). Ours ({acc('ours')}) is "
            f"{r.loc['CO2', 'ours cheaper than the naive grid (x)']:.2f}x cheaper in CO2 "
            f"({r.loc['FLOPs', 'ours cheaper than the naive grid (x)']:.2f}x in FLOPs) than the naive grid and "
            f"{r.loc['CO2', 'ours cheaper than the shared grid (x)']:.2f}x "
            f"({r.loc['FLOPs', 'ours cheaper than the shared grid (x)']:.2f}x in FLOPs) than the shared grid.")


def figure(table: pd.DataFrame, title: str) -> Any:
    """Three panels (kWh, g CO2, GFLOPs (M)): one bar per arm, annotated with its accuracy (mean ± std)
    or its multiple of ours."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    names = [a.replace(", ", ",\n").replace(" (", "\n(") for a in table["arm"]]
    colors = [ARMS[m][2] for m in table["method"]]
    for ax, (column, unit) in zip(axes, [("energy_kwh", "training energy (kWh)"), ("co2_g", "training CO2 (g)"),
                                         ("gflops_millions", "training GFLOPs (M) = 10^15 FLOPs")]):
        bars = ax.bar(names, table[column], color=colors)
        name = _COSTS[column]
        texts = [f"acc {a:.1f}{'' if np.isnan(sd) else f' ± {sd:.1f}'} %" if column == "energy_kwh" else
                 f"{x:.2f}x ours" for a, sd, x in zip(table["test_acc_mean"], table["test_acc_std"],
                                                      table[f"x ours, {name}"])]
        for bar, text in zip(bars, texts):
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                        fontsize=8, xytext=(0, 2), textcoords="offset points")
        ax.margins(y=0.2)
        ax.set_ylabel(unit)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def caption(where: str, grid_size: int, seeds: int) -> str:
    """The caption of :func:`comparison`'s table."""
    return (f"Tuned KD over a grid of {grid_size} taus trained naively (one complete training per tau) and on a "
            f"shared teacher (the grid's students in lockstep, one teacher forward per batch, the same students bit "
            f"for bit), against ours (one training, a random tau per batch) ({where}); accuracy: test at the "
            f"best-validation epoch, mean ± std over {seeds} seed(s); costs: mean per seed, a grid charged whole "
            f"(measured: the shared grid's energy is one meter's, shared by FLOPs); x ours: each cost over ours")


def ratios_caption(where: str) -> str:
    """The caption of :func:`ratios`' table."""
    return (f"The shared grid's cost over the naive grid's, and how many times cheaper ours is than each ({where}; "
            "kWh and CO2 measured, FLOPs counted)")


def figure_caption(where: str) -> str:
    """The caption of :func:`figure`."""
    return (f"Training energy (annotated with the test accuracy, mean ± std over seeds), CO2 and FLOPs of tuned KD's "
            f"naive grid, the same grid on a shared teacher, and ours (annotated: the multiple of ours) ({where})")

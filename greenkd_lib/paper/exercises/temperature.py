"""The answers about choosing tau: the story (notebook 00), why a random tau (13) and the temperature
explorer (14)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .answer import Answer, _need, _points


# -- 00_story -----------------------------------------------------------------------------------


def story_tau_against_scratch(grid: pd.DataFrame, scratch: pd.DataFrame) -> Answer:
    """KD at each fixed tau of the grid (mean over seeds) against the student trained alone."""
    _need(grid, "grid", ("tau", "test_acc"))
    _need(scratch, "scratch", ("test_acc",))
    alone = float(scratch["test_acc"].mean())
    table = grid.groupby("tau", as_index=False)["test_acc"].mean().rename(columns={"test_acc": "test_acc_mean"})
    table["minus_alone"] = table["test_acc_mean"] - alone
    best = table.loc[table["test_acc_mean"].idxmax()]
    beaten = table.loc[table["minus_alone"] > 0, "tau"]
    return Answer(f"One KD training does best at tau = {best['tau']:g} ({best['test_acc_mean']:.2f} %, "
                  f"{_points(best['test_acc_mean'], alone)} against the student alone at {alone:.2f} %). "
                  + (f"It beats the student alone at tau = {', '.join(f'{t:g}' for t in beaten)}."
                     if len(beaten) else "No tau of the grid beats the student alone here."), table)


def story_grid_of_size(grid: pd.DataFrame, ours: pd.DataFrame, size: int) -> Answer:
    """Tuned KD's CO2 with a grid of ``size`` taus, at the mean CO2 of one measured grid training, against ours."""
    _need(grid, "grid", ("co2_g", "seed"))
    _need(ours, "ours", ("co2_g",))
    one, mine = float(grid["co2_g"].mean()), float(ours["co2_g"].mean())
    measured = len(grid) / grid["seed"].nunique()
    return Answer(f"One KD training emitted {one:.4g} g CO2 on average, so a grid of {size} taus would emit about "
                  f"{one * size:.4g} g per seed (this grid of {measured:g}: {one * measured:.4g} g), "
                  f"{one * size / mine:.1f} times ours ({mine:.4g} g for its one training).")


# -- 13_ablation --------------------------------------------------------------------------------


def ablation_narrow_range(sizes: pd.DataFrame, low: float, high: float) -> Answer:
    """The KD/CE gradient ratio a uniform integer tau in ``low..high`` would average (from the measured sizes)."""
    from ...methods import StochasticTemperature
    from ..ablation import gradient_summary

    measured = sorted(sizes["tau"].unique())
    if low < min(measured) or high > max(measured):
        raise ValueError(f"low..high must lie within the measured taus {min(measured):g}..{max(measured):g}")
    table = gradient_summary(sizes, {f"U{{{low:g}..{high:g}}}": StochasticTemperature(low, high)})
    table = table[["state", "reduction", "temperature", "mean_tau", "avg", "low", "high", "equivalent_tau"]]
    t = table[table["state"] == "trained"].iloc[0]
    return Answer(f"Without training anything: a tau drawn from {low:g}..{high:g} would average a KD/CE ratio of "
                  f"{t['avg']:.3g} for the trained student ('{t['reduction']}'), spanning {t['low']:.3g} to "
                  f"{t['high']:.3g}, which a fixed tau of {t['equivalent_tau']:.3g} matches.", table)


def ablation_per_sample(lab: Any, student: str) -> Answer:
    """Ours per sample against per batch, per seed (runs this notebook trains), with the seeds' spread."""
    batch, sample = lab.stochastic_kd(student=student), lab.stochastic_kd(per="sample", student=student)
    a, b = batch.groupby("seed")["test_acc"].mean(), sample.groupby("seed")["test_acc"].mean()
    table = pd.DataFrame({"seed": a.index, "per batch": a.to_numpy(), "per sample": b.reindex(a.index).to_numpy()})
    table["difference"] = table["per sample"] - table["per batch"]
    spread = float(a.std()) if len(a) > 1 else math.nan
    return Answer(f"Per sample minus per batch: {table['difference'].mean():+.2f} points on average over "
                  f"{len(table)} seed(s); " + (f"the per-batch runs themselves differ by {spread:.2f} points (std over "
                                               "seeds), so compare the two." if not math.isnan(spread) else
                                               "with one seed there is no spread to compare it with."), table)


# -- 14_explore_temperature ---------------------------------------------------------------------


def explorer_balanced_alpha(explorer: Any, taus: Sequence[float]) -> Answer:
    """At each tau, the alpha at which the KD and CE gradients (parameters) are equally large."""
    out = []
    for tau in taus:
        m = explorer.measure(tau, 0.5)  # both terms at weight 1/2: their unweighted sizes, halved alike
        kd, ce = m["kd_param_norm"], m["ce_param_norm"]
        out.append({"tau": float(tau), "kd_norm_at_half": kd, "ce_norm_at_half": ce,
                    "balanced_alpha": ce / (kd + ce) if kd + ce > 0 else math.nan})
    table = pd.DataFrame(out)
    return Answer(f"At alpha = 0 the KD term and its gradient vanish. The two gradients push equally hard at alpha = "
                  f"{table['balanced_alpha'].min():.3f} to {table['balanced_alpha'].max():.3f} over tau = "
                  f"{', '.join(f'{t:g}' for t in table['tau'])}; at the profile's alpha = {explorer.alpha:g} the KD "
                  f"gradient is {explorer.measure(taus[0])['param_ratio']:.3g} times the CE one at tau = {taus[0]:g}.",
                  table)


def explorer_draws(explorer: Any, lab: Any) -> Answer:
    """The explorer's draws so far against the range's middle, and the taus the student's run actually saw."""
    draws = np.asarray(explorer.draws)
    history = lab.history(explorer.runs["student"]["hash"])
    table = history[["epoch", "tau_min", "tau_mean", "tau_max", "tau_distinct"]]
    middle = (explorer.low + explorer.high) / 2
    seen = (f"{len(draws)} draws average {draws.mean():.2f} (the range's middle is {middle:g}) and hit "
            f"{len(np.unique(draws))} of the {int(explorer.high - explorer.low) + 1} integers. " if len(draws) else "")
    return Answer(seen + f"In training, the stochastic student saw {table['tau_distinct'].mean():.1f} distinct taus per "
                  f"epoch on average, with a mean tau of {table['tau_mean'].mean():.2f}.", table)

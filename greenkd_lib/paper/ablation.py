"""Why a random tau works: tables that compare KD variants, and the gradient study (notebook 13).

Everything here takes the tidy run tables of :class:`greenkd_lib.paper.lab.Lab` (one row per
trained model) and returns small DataFrames, so a notebook only calls and plots:

- :func:`per_tau`: accuracy of fixed-tau KD per tau of a grid (mean and std over seeds);
- :func:`tuned_vs_ours`: tuned KD (tau chosen on validation) against one stochastic training,
  and :func:`tuned_vs_ours_table` for several settings side by side (e.g. two KL reductions);
- :func:`tau_sweep_table` and :func:`batch_size_table`: Fig 3's accuracy across tau and across batch sizes;
- :func:`policy_variants` and :func:`policy_table`: stochastic variants against a reference variant, paired by seed;
- :func:`measure_gradients` and :func:`gradient_summary`: the KD and CE gradient sizes across tau
  for a trained student and for the same student at initialisation, and their mean over the
  taus each policy draws (:mod:`greenkd_lib.methods.gradients` does the measuring).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..config.run import RunConfig
from ..engine.configs import run_label
from ..methods import equivalent_tau, gradient_sizes, policy_average, REDUCTIONS, StochasticTemperature
from ..methods.temperature import policy_from_config
from .rows import tune

__all__ = ["per_tau", "chosen_taus", "tau_sweep_table", "sweep_headline", "batch_size_table", "tuned_vs_ours",
           "tuned_vs_ours_table", "reduction_headline", "policy_variants", "policy_table", "policy_headline",
           "other_reduction", "initial_model", "training_batches", "measure_gradients", "gradient_taus", "draw_policies",
           "gradient_summary", "gradient_headline"]


def _need(rows: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    if not isinstance(rows, pd.DataFrame) or rows.empty:
        raise ValueError(f"{name} is empty; pass the rows a Lab experiment returned (one per trained model)")
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}; pass the rows a Lab experiment returned")


def _std(values: pd.Series) -> float:
    """The standard deviation over seeds; NaN for a single seed (nothing to spread)."""
    return float(values.std()) if len(values) > 1 else math.nan


def other_reduction(reduction: str) -> str:
    """The KL reduction that is not ``reduction`` ("mean" <-> "batchmean")."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return next(r for r in REDUCTIONS if r != reduction)


def per_tau(grid: pd.DataFrame) -> pd.DataFrame:
    """Fixed-tau KD per tau: ``tau``, ``test_acc_mean``, ``test_acc_std``, ``val_acc_mean``,
    ``seeds`` and the mean ``co2_g`` of one training, sorted by tau."""
    _need(grid, "grid", ("tau", "seed", "test_acc", "best_val_acc", "co2_g"))
    g = grid.groupby("tau", sort=True)
    out = pd.DataFrame({"test_acc_mean": g["test_acc"].mean(), "test_acc_std": g["test_acc"].agg(_std),
                        "val_acc_mean": g["best_val_acc"].mean(), "seeds": g["seed"].nunique(),
                        "co2_g": g["co2_g"].mean()})
    return out.reset_index()


def chosen_taus(tuned: pd.DataFrame) -> pd.Series:
    """Tau -> the seeds whose tuning chose it (rows of :meth:`Lab.tuned_kd`), sorted by tau."""
    _need(tuned, "tuned", ("tau", "seed"))
    return tuned.groupby("tau")["seed"].apply(list)


def tau_sweep_table(grid: pd.DataFrame, tuned: pd.DataFrame, ours: pd.DataFrame, low: float,
                    high: float) -> pd.DataFrame:
    """Fig 3a as a table: one ``kd`` row per tau of ``grid`` (:func:`per_tau`) and one ``ours`` row for the
    stochastic runs (tau ~ U{low..high}), with ``chosen_by_seeds``: the seeds whose tuning kept that tau."""
    _need(ours, "ours", ("seed", "test_acc", "best_val_acc", "co2_g"))
    taus = per_tau(grid)
    mine = pd.DataFrame([{"method": "ours", "tau": f"U{{{low:g}..{high:g}}}", "test_acc_mean": ours["test_acc"].mean(),
                          "test_acc_std": ours["test_acc"].std(), "val_acc_mean": ours["best_val_acc"].mean(),
                          "seeds": len(ours), "co2_g": ours["co2_g"].mean()}])
    table = pd.concat([taus.assign(method="kd", tau=taus["tau"].map("{:g}".format)), mine], ignore_index=True)
    chosen = {f"{t:g}": ", ".join(map(str, s)) for t, s in chosen_taus(tuned).items()}
    table["chosen_by_seeds"] = table["tau"].map(chosen).fillna("")
    return table[["method", "tau", "test_acc_mean", "test_acc_std", "val_acc_mean", "seeds", "chosen_by_seeds", "co2_g"]]


def sweep_headline(grid: pd.DataFrame, tuned: pd.DataFrame, ours: pd.DataFrame) -> str:
    """Fig 3a in words: what a wrong fixed tau costs (best minus worst tau), and ours against tuned KD."""
    taus = per_tau(grid)
    best, worst = taus.loc[taus["test_acc_mean"].idxmax()], taus.loc[taus["test_acc_mean"].idxmin()]
    tuned_mean, ours_mean = tuned["test_acc"].mean(), ours["test_acc"].mean()
    return (f"Across the grid the mean test accuracy spans {best['test_acc_mean'] - worst['test_acc_mean']:.2f} points "
            f"(best tau {best['tau']:g}: {best['test_acc_mean']:.2f} %, worst tau {worst['tau']:g}: "
            f"{worst['test_acc_mean']:.2f} %).\n"
            f"Tuned KD (tau chosen on validation): {tuned_mean:.2f} %; ours: {ours_mean:.2f} % "
            f"(ours minus tuned: {ours_mean - tuned_mean:+.2f} points) for 1 training instead of {len(taus)}.")


def batch_size_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Fig 3b as a table: per ``batch_size`` of the stochastic runs ``rows``, test accuracy (mean, std over seeds),
    ``seeds`` and the mean ``energy_kwh``, ``co2_g`` and ``wall_s`` of one training."""
    _need(rows, "rows", ("batch_size", "seed", "test_acc", "energy_kwh", "co2_g", "wall_s"))
    return (rows.groupby("batch_size").agg(test_acc_mean=("test_acc", "mean"), test_acc_std=("test_acc", "std"),
                                           seeds=("seed", "count"), energy_kwh=("energy_kwh", "mean"),
                                           co2_g=("co2_g", "mean"), wall_s=("wall_s", "mean"))
            .reset_index())


def tuned_vs_ours(grid: pd.DataFrame, ours: pd.DataFrame) -> dict[str, Any]:
    """Tuned KD (per seed, the grid's tau with the best validation accuracy) against the stochastic
    runs ``ours``, over the seeds both have.

    Keys: ``tuned_acc_mean``/``_std``, ``tuned_taus`` (the chosen tau per seed, as text),
    ``ours_acc_mean``/``_std``, ``ours_minus_tuned`` (mean over seeds of the per-seed
    difference), ``best_fixed_tau``/``_acc`` and ``worst_fixed_tau``/``_acc`` (by mean test
    accuracy: what a lucky or an unlucky fixed choice gives), ``tau_spread`` (best minus worst),
    ``trainings_tuned``/``_ours`` (per seed) and ``co2_tuned_g``/``co2_ours_g`` (mean per seed;
    tuned charges its whole grid), ``seeds``.
    """
    _need(grid, "grid", ("tau", "seed", "test_acc", "best_val_acc", "co2_g"))
    _need(ours, "ours", ("seed", "test_acc", "co2_g"))
    seeds = sorted(set(grid["seed"]) & set(ours["seed"]))
    if not seeds:
        raise ValueError(f"grid (seeds {sorted(set(grid['seed']))}) and ours (seeds {sorted(set(ours['seed']))}) "
                         "share no seed")
    grid, ours = grid[grid["seed"].isin(seeds)], ours[ours["seed"].isin(seeds)]
    tuned = tune(grid).set_index("seed").loc[seeds]
    mine = ours.groupby("seed")[["test_acc", "co2_g"]].mean().loc[seeds]
    taus = per_tau(grid)
    best, worst = taus.loc[taus["test_acc_mean"].idxmax()], taus.loc[taus["test_acc_mean"].idxmin()]
    return {
        "tuned_acc_mean": float(tuned["test_acc"].mean()), "tuned_acc_std": _std(tuned["test_acc"]),
        "tuned_taus": ", ".join(f"{t:g}" for t in tuned["tau"]),
        "ours_acc_mean": float(mine["test_acc"].mean()), "ours_acc_std": _std(mine["test_acc"]),
        "ours_minus_tuned": float((mine["test_acc"] - tuned["test_acc"]).mean()),
        "best_fixed_tau": float(best["tau"]), "best_fixed_acc": float(best["test_acc_mean"]),
        "worst_fixed_tau": float(worst["tau"]), "worst_fixed_acc": float(worst["test_acc_mean"]),
        "tau_spread": float(best["test_acc_mean"] - worst["test_acc_mean"]),
        "trainings_tuned": int(tuned["trainings"].iloc[0]), "trainings_ours": 1,
        "co2_tuned_g": float(tuned["co2_g"].mean()), "co2_ours_g": float(mine["co2_g"].mean()),
        "seeds": len(seeds),
    }


def tuned_vs_ours_table(pairs: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], key: str = "setting") -> pd.DataFrame:
    """:func:`tuned_vs_ours` for each ``name -> (grid, ours)`` of ``pairs``: one row per name,
    the name in column ``key`` (e.g. ``key="reduction"``)."""
    if not pairs:
        raise ValueError("pairs is empty; give at least one name -> (grid rows, stochastic rows)")
    return pd.DataFrame([{key: name, **tuned_vs_ours(grid, ours)} for name, (grid, ours) in pairs.items()])


def reduction_headline(by_reduction: pd.DataFrame, mine: str, other: str) -> str:
    """Panel (1) in words: ours minus tuned KD under each reduction, against what a wrong fixed tau costs."""
    r0, r1 = by_reduction.set_index("reduction").loc[mine], by_reduction.set_index("reduction").loc[other]
    return (f"Ours minus tuned KD: {r0['ours_minus_tuned']:+.2f} points under '{mine}' (the profile's) and "
            f"{r1['ours_minus_tuned']:+.2f} points under '{other}'. A wrong fixed tau costs up to {r0['tau_spread']:.2f} "
            f"points under '{mine}' and {r1['tau_spread']:.2f} under '{other}' (best minus worst tau of the grid).")


def policy_variants(lab: Any, student: str, reference: pd.DataFrame, narrow_low: float,
                    narrow_high: float) -> dict[str, pd.DataFrame]:
    """Panel (2)'s stochastic runs, trained where missing: the paper's policy (``reference``, its rows), then a
    tau per epoch, per sample, from the narrow range ``narrow_low..narrow_high`` and log-uniform over the paper's
    range; name -> the Lab rows."""
    if not narrow_low <= narrow_high:
        raise ValueError(f"narrow_low must be <= narrow_high, got {narrow_low} and {narrow_high}")
    low, high = lab.profile.tau_low, lab.profile.tau_high
    return {
        f"per batch, U{{{low:g}..{high:g}}} (the paper's)": reference,
        "per epoch": lab.stochastic_kd(per="epoch", student=student),
        "per sample": lab.stochastic_kd(per="sample", student=student),
        f"narrow, U{{{narrow_low:g}..{narrow_high:g}}}": lab.stochastic_kd(low=narrow_low, high=narrow_high,
                                                                          student=student),
        f"log-uniform [{low:g}, {high:g}]": lab.stochastic_kd(integer=False, distribution="log-uniform",
                                                               student=student),
    }


def policy_table(variants: Mapping[str, pd.DataFrame], reference: str | None = None,
                 tuned: pd.DataFrame | None = None,
                 history: Callable[[str], pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per stochastic variant (``name -> its Lab rows``), in the order given.

    Columns: ``variant``, ``temperature`` (the policy's label), ``seeds``, ``test_acc_mean``,
    ``test_acc_std``, ``minus_reference`` (mean over the shared seeds of the per-seed difference
    to variant ``reference``, default the first), ``minus_tuned`` (likewise against ``tuned``, the
    rows of :meth:`Lab.tuned_kd`, if given), ``co2_g`` (mean per training) and, with ``history``
    (e.g. ``lab.history``, hash -> per-epoch history), what the runs actually drew:
    ``tau_drawn_mean`` (mean tau over all draws) and ``taus_per_epoch`` (distinct taus per epoch).
    """
    if not variants:
        raise ValueError("variants is empty; give at least one name -> stochastic rows")
    for name, rows in variants.items():
        _need(rows, f"variant {name!r}", ("seed", "test_acc", "co2_g", "temperature", "hash"))
    reference = next(iter(variants)) if reference is None else reference
    if reference not in variants:
        raise ValueError(f"reference {reference!r} is not one of the variants {list(variants)}")
    ref = variants[reference].groupby("seed")["test_acc"].mean()
    tuned_acc = None
    if tuned is not None:
        _need(tuned, "tuned", ("seed", "test_acc"))
        tuned_acc = tuned.groupby("seed")["test_acc"].mean()

    def paired(acc: pd.Series, other: pd.Series | None) -> float:
        if other is None:
            return math.nan
        shared = acc.index.intersection(other.index)
        return float((acc[shared] - other[shared]).mean()) if len(shared) else math.nan

    out = []
    for name, rows in variants.items():
        acc = rows.groupby("seed")["test_acc"].mean()
        row = {"variant": name, "temperature": rows["temperature"].iloc[0], "seeds": len(acc),
               "test_acc_mean": float(acc.mean()), "test_acc_std": _std(acc),
               "minus_reference": paired(acc, ref), "minus_tuned": paired(acc, tuned_acc),
               "co2_g": float(rows["co2_g"].mean())}
        if history is not None:
            histories = [history(h) for h in rows["hash"]]
            # tau_mean is per epoch, over that epoch's draws; epochs have equal numbers of draws
            row["tau_drawn_mean"] = float(np.mean([h["tau_mean"].mean() for h in histories]))
            row["taus_per_epoch"] = float(np.mean([h["tau_distinct"].mean() for h in histories]))
        out.append(row)
    return pd.DataFrame(out)


def policy_headline(policies: pd.DataFrame, fixed: pd.DataFrame) -> str:
    """Panel (2) in words: the best policy against the paper's and tuned KD, and how far apart the policies and
    the fixed taus (``fixed``, :func:`per_tau`) are."""
    best = policies.loc[policies["test_acc_mean"].idxmax()]
    spread = policies["test_acc_mean"].max() - policies["test_acc_mean"].min()
    return (f"Best policy: {best['variant']} ({best['temperature']}) at {best['test_acc_mean']:.2f} %, "
            f"{best['minus_reference']:+.2f} points against the paper's policy and {best['minus_tuned']:+.2f} against "
            f"tuned KD. The {len(policies)} policies span {spread:.2f} points; fixed taus span "
            f"{fixed['test_acc_mean'].max() - fixed['test_acc_mean'].min():.2f} points.")


def initial_model(name: str, num_classes: int, image_size: int | None, seed: int) -> nn.Module:
    """The weights a training run of ``name`` with ``seed`` starts from (as ``train.train`` seeds
    and builds them), in train mode on the CPU."""
    from .. import models
    from ..engine.loops import seed_everything

    seed_everything(int(seed))
    return models.build(name, num_classes, image_size).train()


def training_batches(dataset: Dataset, batch_size: int, n: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``n`` batches of a shuffled pass over ``dataset`` (a training split, with its
    augmentation), drawn with ``seed``: real training batches to measure gradients on."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (how many batches) must be an integer >= 1, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=False,
                        generator=torch.Generator().manual_seed(int(seed)))
    batches = []
    for x, y in loader:
        batches.append((x, y))
        if len(batches) == n:
            break
    return batches


def measure_gradients(lab: Any, run_hash: str, taus: Iterable[float], batches: int = 3,
                      reductions: Iterable[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """:func:`~greenkd_lib.methods.gradient_sizes` for the KD student of run ``run_hash``, trained
    (its best weights) and at initialisation (the weights that run started from), against the
    teacher that taught it, on ``batches`` real training batches of the run's batch size.

    ``reductions``: default the run's own KL reduction, then the other one. Returns the rows of
    ``gradient_sizes`` with a column ``state`` ("at initialisation" or "trained"), first.

    The measurement is deterministic, so it is kept beside the run (``analysis/gradients-<key>.csv``)
    and read back on the next call with the same arguments: a re-run of notebook 13 skips it.
    """
    from ..runs.atomic import atomic_write_text
    from ..runs.hashing import config_hash
    from ..engine.train import load_model

    run = lab.store.run_by_hash(run_hash)
    cfg = RunConfig.from_dict(run.config)
    if cfg.method != "kd" or cfg.teacher is None:
        raise ValueError(f"run {run_hash} ({run_label(cfg)}) is not a KD run; pass the hash of a KD student")
    reductions = ([cfg.kd_reduction, other_reduction(cfg.kd_reduction)] if reductions is None
                  else list(reductions))
    taus = [float(t) for t in taus]
    key = config_hash({"taus": taus, "batches": int(batches), "reductions": reductions, "seed": int(seed),
                       "weights": run.result()["finished_at"] if run.result() else None})
    cached = run.dir / "analysis" / f"gradients-{key}.csv"
    if cached.exists():
        return pd.read_csv(cached)
    teacher = load_model(cfg.teacher, lab.store, "best", "cpu")
    trained = lab.model(run_hash)
    data = lab.data()
    start = initial_model(cfg.model, data.num_classes, data.image_size, cfg.seed)
    chosen = training_batches(data.train, cfg.batch_size, batches, seed)
    tables = []
    for state, model in (("at initialisation", start), ("trained", trained)):
        sizes = gradient_sizes(model, teacher, chosen, taus, cfg.alpha, reductions)
        sizes.insert(0, "state", state)
        tables.append(sizes)
    table = pd.concat(tables, ignore_index=True)
    atomic_write_text(cached, table.to_csv(index=False))
    return pd.read_csv(cached)  # the same dtypes whether measured now or read back


def gradient_taus(high: float, taus: Iterable[float] | None = None) -> list[float]:
    """The taus to measure gradients at: ``taus``, or every integer from 1 to ``high``."""
    return list(range(1, int(math.floor(high)) + 1)) if taus is None else [float(t) for t in taus]


def draw_policies(low: float, high: float, narrow_low: float, narrow_high: float) -> dict[str, StochasticTemperature]:
    """The draws panel (3) averages over: the paper's (integers ``low..high``), the narrow range, and log-uniform."""
    return {"paper's": StochasticTemperature(low, high), "narrow": StochasticTemperature(narrow_low, narrow_high),
            "log-uniform": StochasticTemperature(low, high, integer=False, distribution="log-uniform")}


def gradient_summary(sizes: pd.DataFrame, policies: Mapping[str, StochasticTemperature | Mapping[str, Any]],
                     column: str = "param_ratio") -> pd.DataFrame:
    """For each state and reduction of ``sizes`` (from :func:`measure_gradients`) and each policy:
    ``mean_tau``, the policy's average of ``column`` (``avg``), the smallest and largest value of
    ``column`` over the taus it can draw (``low``, ``high``: the spread a random tau averages
    over) and ``equivalent_tau``: the fixed tau whose ``column`` equals that average."""
    if not policies:
        raise ValueError("policies is empty; give at least one name -> stochastic temperature policy")
    _need(sizes, "sizes", ("tau", "reduction", column))
    keys = [c for c in ("state", "reduction") if c in sizes.columns]
    rows = []
    for key, group in sizes.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for name, policy in policies.items():
            policy = policy_from_config(dict(policy)) if isinstance(policy, Mapping) else policy
            avg = policy_average(group, policy).iloc[0]
            inside = group[(group["tau"] >= policy.low) & (group["tau"] <= policy.high)][column]
            rows.append({**dict(zip(keys, key)), "policy": name, "temperature": policy.label(),
                         "mean_tau": avg["mean_tau"], "avg": avg[column], "low": float(inside.min()),
                         "high": float(inside.max()), "equivalent_tau": equivalent_tau(group, avg[column], column)})
    return pd.DataFrame(rows)


def gradient_headline(sizes: pd.DataFrame, averaged: pd.DataFrame, mine: str, other: str, low: float, high: float,
                      classes: int) -> str:
    """Panel (3) in words, per reduction: the trained student's KD/CE ratio over tau ``low..high``, its mean under the
    paper's random tau and the fixed tau that gives it; then how much larger the KD gradient is under ``other``."""
    key = averaged.set_index(["state", "reduction", "policy"])
    lines = []
    for r in (mine, other):
        t, i = key.loc[("trained", r, "paper's")], key.loc[("at initialisation", r, "paper's")]
        lines.append(f"'{r}': for the trained student the KD gradient is {t['low']:.3g} to {t['high']:.3g} times the CE "
                     f"gradient over tau {low:g}..{high:g}; a random tau averages {t['avg']:.3g}, which a fixed tau of "
                     f"{t['equivalent_tau']:.3g} gives (at initialisation: {i['avg']:.3g}, fixed tau "
                     f"{i['equivalent_tau']:.3g}).")
    one = sizes[sizes["state"] == "trained"].pivot(index="tau", columns="reduction", values="kd_param_norm")
    lines.append(f"The KD gradient under '{other}' is {np.median(one[other] / one[mine]):.3g} times that under "
                 f"'{mine}' (median over tau; C = {classes} classes).")
    return "\n".join(lines)

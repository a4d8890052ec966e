"""Table 7: tuned KD against the stochastic method for several teacher-student pairs, one summary row per pair."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..data import published
from .display import arm_name, arm_style, short_name

__all__ = ["Pair", "default_pairs", "check_pairs", "seeds_per_pair", "train_pairs", "wall_seconds", "pair_row",
           "pairs_table", "seeds_note", "headline", "pairs_figure", "caption", "figure_title", "figure_caption",
           "training_times"]

Pair = tuple[str, str]  # (teacher, student)


def default_pairs(profile: Any) -> list[Pair]:
    """The profile's teacher with each of its students (shared with notebooks 00-09), WRN-40-2 -> WRN-16-1 from
    the data-free KD literature, and under the paper profile VGG16 -> MobileNetV2."""
    shared = [(profile.teacher, s) for s in profile.students]
    return shared + [("wrn_40_2", "wrn_16_1")] + ([("vgg16", "mobilenetv2")] if profile.name == "paper" else [])


def check_pairs(pairs: Iterable[Sequence[str]]) -> list[Pair]:
    """Each pair as registered model names (``("ResNet18", "mobilenetv2")`` -> ``("resnet18", "mobilenetv2")``);
    anything that is not a (teacher, student) pair of known names raises, naming the choices."""
    from ..models import canonical_name

    out = []
    for p in pairs:
        if isinstance(p, str) or len(p) != 2:
            raise ValueError(f"each pair must be (teacher, student), got {p!r}; e.g. pairs=[('resnet18', 'mobilenetv2')]")
        out.append((canonical_name(p[0]), canonical_name(p[1])))
    return out


def seeds_per_pair(profile: Any, pairs: Iterable[Pair], pair_seeds: Iterable[int] | None = None) -> dict[Pair, tuple[int, ...]]:
    """Pair -> its seeds: the profile's for the pairs the other notebooks train anyway (its teacher with its
    students), ``pair_seeds`` (default: the profile's first seed only) for the others, which cost a teacher and
    a grid per seed."""
    extra = tuple(profile.seeds[:1]) if pair_seeds is None else tuple(int(s) for s in pair_seeds)
    if not extra:
        raise ValueError("pair_seeds is empty; give at least one seed, e.g. pair_seeds=[0], or None")
    shared = {(profile.teacher, s) for s in profile.students}
    return {p: tuple(profile.seeds) if p in shared else extra for p in pairs}


def train_pairs(lab: Any, seeds_of: Mapping[Pair, Iterable[int]]) -> dict[Pair, dict[str, pd.DataFrame]]:
    """Pair -> the Lab rows of its ``teacher``, its ``tuned`` KD (tau chosen on validation) and ``ours``, trained
    where missing from the run store; each student learns from its teacher's first-seed run."""
    results = {}
    for (t, s), seeds in seeds_of.items():
        seeds = list(seeds)
        results[(t, s)] = {"teacher": lab.teacher(t, seeds=seeds),
                           "tuned": lab.tuned_kd(student=s, teacher=t, seeds=seeds),
                           "ours": lab.stochastic_kd(student=s, teacher=t, seeds=seeds)}
    return results


def wall_seconds(result: Mapping[str, pd.DataFrame]) -> float:
    """Training wall time of one pair: teacher, the whole tuning grid and ours, summed over seeds."""
    return float(sum(result[k]["wall_s"].sum() for k in ("teacher", "tuned", "ours")))


def _spread(x: pd.Series) -> float:
    return x.std() if len(x) > 1 else math.nan  # one seed: no spread to show


def pair_row(pair: Pair, result: Mapping[str, pd.DataFrame], seeds: Iterable[int]) -> dict[str, Any]:
    """Table 7's row of one pair: accuracies (mean, std over seeds), the chosen taus, mean costs per seed
    (tuned = its whole grid) and the cost ratios tuned / ours."""
    t, s = pair
    teacher, tuned, ours = result["teacher"], result["tuned"], result["ours"]
    return {
        "pair": f"{t} -> {s}", "teacher": t, "student": s, "seed(s)": ", ".join(map(str, seeds)),
        "teacher acc": teacher["test_acc"].mean(),
        "tuned acc": tuned["test_acc"].mean(), "tuned acc std": _spread(tuned["test_acc"]),
        "tuned tau": ", ".join(f"{x:g}" for x in tuned["tau"]),
        "ours acc": ours["test_acc"].mean(), "ours acc std": _spread(ours["test_acc"]),
        "ours - tuned acc": ours["test_acc"].mean() - tuned["test_acc"].mean(),
        "tuned kWh": tuned["energy_kwh"].mean(), "ours kWh": ours["energy_kwh"].mean(),
        "tuned CO2 (g)": tuned["co2_g"].mean(), "ours CO2 (g)": ours["co2_g"].mean(),
        "tuned GFLOPs (M)": tuned["gflops_millions"].mean(), "ours GFLOPs (M)": ours["gflops_millions"].mean(),
        "CO2 tuned / ours": tuned["co2_g"].mean() / ours["co2_g"].mean(),
        "GFLOPs tuned / ours": tuned["gflops_millions"].mean() / ours["gflops_millions"].mean(),
        "train time (s)": wall_seconds(result),
        "mode": ours["mode"].iloc[0],
        "paper, Tiny ImageNet": published.NOT_PUBLISHED,
    }


def pairs_table(results: Mapping[Pair, Mapping[str, pd.DataFrame]],
                seeds_of: Mapping[Pair, Iterable[int]]) -> pd.DataFrame:
    """Table 7: one :func:`pair_row` per pair of ``results`` (from :func:`train_pairs`), in its order."""
    if not results:
        raise ValueError("results is empty; train at least one pair (pairs.train_pairs)")
    return pd.DataFrame([pair_row(p, r, seeds_of[p]) for p, r in results.items()])


def seeds_note(seeds_of: Mapping[Pair, Iterable[int]], seeds: Iterable[int]) -> str:
    """The caption's word on seeds: ``seeds`` (the profile's), and which pairs used others."""
    seeds = list(seeds)
    extra = [p for p, s in seeds_of.items() if list(s) != seeds]
    if not extra:
        return f"seeds: {seeds}"
    # Only one seed set differs from the profile's (pair_seeds): name it once.
    return (f"seeds: {seeds} for the other pairs, {list(seeds_of[extra[0]])} for "
            + ", ".join(f"{t} -> {s}" for t, s in extra))


def headline(table: pd.DataFrame, grid_size: int) -> str:
    """Per pair, in words: how much less CO2 (or more) ours emitted than tuned KD, how many times fewer FLOPs, and
    the accuracy gap; then the range of the cost ratio across pairs and the largest accuracy loss of ours."""
    lines = []
    for _, r in table.iterrows():
        co2 = r["CO2 tuned / ours"]
        less = f"{co2:.1f}x less CO2 than" if co2 >= 1 else f"{1 / co2:.1f}x MORE CO2 than"
        lines.append(f"{r['pair']}: ours emitted {less} tuned KD and needed {r['GFLOPs tuned / ours']:.1f}x fewer "
                     f"FLOPs; accuracy ours - tuned {r['ours - tuned acc']:+.2f} points (seed(s) {r['seed(s)']}).")
    lines.append(f"Cost ratio across pairs: {table['CO2 tuned / ours'].min():.1f}x to "
                 f"{table['CO2 tuned / ours'].max():.1f}x (grid of {grid_size}); largest accuracy loss of ours: "
                 f"{-table['ours - tuned acc'].min():+.2f} points.")
    return "\n".join(lines)


# -- figure: per pair, accuracy (left) and training CO2 (right) of tuned KD and ours -------------------


def pairs_figure(table: pd.DataFrame, grid_size: int) -> plt.Figure:
    """Left: test accuracy of tuned KD and ours (mean +- std over seeds) with the teacher's as a tick; right: the
    training CO2 of tuned KD (its ``grid_size`` trainings) and of ours, each tuned bar labelled tuned / ours.
    ``table`` is :func:`greenkd_lib.paper.table7.pairs_table`'s, one row per pair, top to bottom."""
    fig, (ax_acc, ax_co2) = plt.subplots(1, 2, figsize=(12, 1.2 + 1.1 * len(table)))
    y = np.arange(len(table))
    tuned, ours = arm_style("kd-tuned"), arm_style("ours")
    for dy, who, style, label in ((-0.12, "tuned", tuned, arm_name("kd-tuned")), (0.12, "ours", ours, short_name("ours"))):
        ax_acc.errorbar(table[f"{who} acc"], y + dy, xerr=table[f"{who} acc std"].fillna(0), ls="none",
                        color=style["color"], marker=style["marker"], capsize=3, label=label)
    ax_acc.plot(table["teacher acc"], y, ls="none", marker="|", ms=14, color=arm_style("teacher")["color"],
                label=short_name("teacher"))
    ax_acc.set_yticks(y, table["pair"], fontsize=9)
    ax_acc.invert_yaxis()
    ax_acc.set_xlabel("test accuracy (%)")
    ax_acc.set_title("accuracy (mean ± std over seeds)", fontsize=10)
    ax_acc.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    ax_acc.grid(axis="x", alpha=0.3)
    h = 0.38
    ax_co2.barh(y - h / 2, table["tuned CO2 (g)"], h, color=tuned["color"],
                label=f"{arm_name('kd-tuned')} ({grid_size} trainings)")
    ax_co2.barh(y + h / 2, table["ours CO2 (g)"], h, color=ours["color"], label=f"{short_name('ours')} (1 training)")
    for yi, (co2, ratio) in enumerate(zip(table["tuned CO2 (g)"], table["CO2 tuned / ours"])):
        ax_co2.annotate(f"{ratio:.1f}x", (co2, yi - h / 2), xytext=(3, 0), textcoords="offset points", va="center",
                        fontsize=8)
    ax_co2.set_yticks(y, [""] * len(y))
    ax_co2.invert_yaxis()
    ax_co2.margins(x=0.12)
    ax_co2.set_xlabel("training CO2 (g)")
    ax_co2.set_title("training CO2, labelled tuned / ours", fontsize=10)
    ax_co2.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


def caption(title: str, grid_size: int, seeds_of: Mapping[Pair, Iterable[int]], seeds: Iterable[int]) -> str:
    """Table 7's caption (:func:`pairs_table`): the grid, the seeds (:func:`seeds_note`), what train time sums."""
    return (f"Table 7 ({title}): teacher-student pairs, KD with tau tuned over a grid of {grid_size} (cost = all "
            f"{grid_size} trainings; tau chosen on validation) against ours; accuracy = test accuracy at the "
            f"best-validation epoch, mean over seeds; {seeds_note(seeds_of, seeds)}; train time = teacher + grid + "
            f"ours, summed over seeds; the paper's pairs and values: {published.NOT_PUBLISHED}")


def figure_title(title: str) -> str:
    """The title of :func:`pairs_figure`."""
    return f"Table 7: tuned KD against ours for several teacher-student pairs ({title})"


def figure_caption(grid_size: int, title: str) -> str:
    """The caption of :func:`pairs_figure`."""
    return (f"Per teacher-student pair: test accuracy of the teacher, of tuned KD and of ours (left) and the "
            f"training CO2 of tuned KD (grid of {grid_size}) and ours (right) ({title})")


def training_times(results: Mapping[Pair, Mapping[str, pd.DataFrame]], seeds_of: Mapping[Pair, Iterable[int]],
                   grid_size: int) -> str:
    """One line per pair of :func:`train_pairs`' ``results``: its seeds and the training time of the pair."""
    return "\n".join(f"{t} -> {s}: seeds {list(seeds_of[(t, s)])}, training time of the pair (teacher + grid of "
                     f"{grid_size} + ours) {wall_seconds(r):.0f} s" for (t, s), r in results.items())

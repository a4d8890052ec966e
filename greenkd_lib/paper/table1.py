"""Table 1 of the paper and the story's carbon bill: what each way of building a model costs.

The four arms (teacher, student alone, KD with a tuned tau, ours) of one or several
:class:`~greenkd_lib.paper.lab.Lab` s, summarised over seeds (:func:`runs`, :func:`table1`,
:func:`carbon_bill`), their cost ratios (:func:`ratios`, :func:`story_ratios`) and the paper's
published values beside them (:func:`vs_paper`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..data import published as paper
from . import compare
from .display import arm_name, ARMS
from .lab import Lab
from .rows import summarize

__all__ = ["TABLE1_COLUMNS", "BILL_COLUMNS", "QUANTITIES", "runs", "chosen_taus", "table1", "published", "vs_paper",
           "ratios", "carbon_bill", "story_ratios", "grid_costs", "draw_table1", "caption", "figure_caption",
           "vs_paper_caption", "bill_caption", "story_ratios_caption", "vs_paper_figure",
           "vs_paper_figure_caption", "story_ratios_figure", "story_ratios_figure_caption"]

TABLE1_COLUMNS = ["dataset", "method", "row", "model", "temperature", "trainings", "seeds", "test_acc_mean",
                  "test_acc_std", "best_test_acc_mean", "best_test_acc_std", "gflops_millions", "energy_kwh", "co2_g",
                  "co2_vs_teacher", "mode"]
"""The columns of ``table1_carbon_footprints.csv`` (the output contract)."""

BILL_COLUMNS = ["method", "student", "trainings", "seeds", "test_acc_mean", "test_acc_std", "energy_kwh", "co2_g",
                "gflops_millions", "wall_s", "mode"]
"""The story's bill: FLOPs once, in GFLOPs (M) = 10^15 FLOPs, the paper's unit."""

QUANTITIES: dict[str, tuple[str, str | None]] = {
    "accuracy, best-validation epoch (%)": ("test_acc_mean", None),
    "accuracy, best epoch (%)": ("best_test_acc_mean", "score_mean"),
    "accuracy std, best epoch": ("best_test_acc_std", "score_std"),
    "GFLOPs (M)": ("gflops_millions", "gflops_millions"),
    "energy (kWh)": ("energy_kwh", "energy_kwh"),
    "CO2 (g)": ("co2_g", "co2_g"),
    "CO2 / teacher CO2": ("co2_vs_teacher", None),
}
"""Each Table 1 quantity set beside the paper: (our column, the paper's Table 4 column or None)."""


def runs(labs: Iterable[Lab], student: str, shared_grid: bool = False) -> pd.DataFrame:
    """Teacher, student alone, tuned KD and ours of ``student``, one row per data set and seed (trained if missing).

    ``shared_grid``: also tuned KD's grid trained on a shared teacher (beyond the paper; the arm
    ``kd-tuned-shared``, "KD, tuned tau, shared teacher"), beside tuned KD's own row (the profile's
    ``grid``: the paper's naive grid unless a profile says otherwise)."""
    def shared(lab: Lab) -> list[pd.DataFrame]:
        if not shared_grid or lab.profile.grid == "shared":  # tuned KD's row is the shared grid already
            return []
        return [lab.tuned_kd(student=student, grid_mode="shared").assign(method="kd-tuned-shared")]

    return pd.concat([pd.concat([lab.teacher(), lab.student_from_scratch(student), lab.tuned_kd(student=student),
                                 *shared(lab), lab.stochastic_kd(student=student)]) for lab in labs],
                     ignore_index=True)


def chosen_taus(rows: pd.DataFrame) -> pd.DataFrame:
    """Per data set: the rows trained and the tau tuned KD chose on validation for each seed."""
    tuned = rows[rows["method"] == "kd-tuned"]
    return pd.DataFrame([{"dataset": d, "rows": int((rows["dataset"] == d).sum()),
                          **{f"tau, seed {int(s)}": float(t) for s, t in zip(group["seed"], group["tau"])}}
                         for d, group in tuned.groupby("dataset", sort=False)])


def _temperature(method: str, rows: pd.DataFrame, grid: Iterable[float]) -> str:
    if method in ("kd-tuned", "kd-tuned-shared"):
        chosen = ", ".join(f"{t:g}" for t in rows["tau"])
        shared = " (shared teacher: one teacher pass)" if "grid" in rows and (rows["grid"] == "shared").all() else ""
        return f"tuned on validation over {{{', '.join(f'{t:g}' for t in grid)}}}{shared}: {chosen}"
    return rows["temperature"].iloc[0] or "none (cross-entropy)"


def table1(rows: pd.DataFrame, grid: Iterable[float]) -> pd.DataFrame:
    """Table 1 from :func:`runs`: per data set and arm, accuracy mean and std over seeds (at the
    best-validation epoch and the best epoch), mean costs, and CO2 relative to the teacher's."""
    grid = list(grid)
    parts = []
    for d, group in rows.groupby("dataset", sort=False):
        t = summarize(group).merge(summarize(group, metric="best_test_acc")[["method", "best_test_acc_std"]],
                                   on="method")
        t.insert(0, "dataset", d)
        t["row"] = [arm_name(m) for m in t["method"]]
        t["model"] = t["student"]  # for the teacher row this is the teacher model
        t["temperature"] = [_temperature(m, group[group["method"] == m], grid) for m in t["method"]]
        t["trainings"] = t["method"].map(group.groupby("method")["trainings"].first())
        t["co2_vs_teacher"] = compare.relative_to(t, "co2_g")
        parts.append(t)
    return pd.concat(parts, ignore_index=True)[TABLE1_COLUMNS]


def published(method: str, quantity: str, dataset: str) -> float | None:
    """The paper's value of one Table 1 cell (arm ``method``, a :data:`QUANTITIES` key), or None.

    Teacher accuracy and the KD / teacher carbon ratio come from the abstract, the KD and ours rows
    from Table 4's HKD rows; nothing else of Table 1 is published in the data here.
    """
    if method == "teacher" and quantity == "accuracy, best epoch (%)":
        return paper.headline_value("teacher_accuracy", dataset)
    if method == "kd-tuned" and quantity == "CO2 / teacher CO2":
        return paper.headline_value("kd_over_teacher_carbon", dataset)
    column = QUANTITIES[quantity][1]
    if method in ("kd-tuned", "ours") and column:
        return paper.table4_value(dataset, "HKD", "tuned" if method == "kd-tuned" else "ours", column)
    return None


def vs_paper(table: pd.DataFrame, ours_label: str) -> pd.DataFrame:
    """Every Table 1 quantity of ours beside the paper's value on each of its data sets, and ours -
    paper where the data set is the same."""
    long = pd.DataFrame([{"method": r["method"], "dataset": r["dataset"], "row": r["row"], "quantity": q,
                          "ours": r[column]}
                         for _, r in table.iterrows() for q, (column, _) in QUANTITIES.items()])
    out = compare.beside_paper(long, lambda r, d: published(r["method"], r["quantity"], d), ours_label=ours_label,
                               datasets=compare.PAPER_DATASETS, delta="ours - paper, same data set")
    return out.drop(columns="method")


def ratios(table: pd.DataFrame, grid_size: int) -> pd.DataFrame:
    """Per data set, ours and the paper's: tuned KD's CO2 over the teacher's (and per grid value),
    tuned over ours in CO2 and GFLOPs, and the accuracy gap ours - tuned (points)."""
    rows = []
    for d, t in table.groupby("dataset", sort=False):
        pair = compare.cost_ratios(t, ["dataset"], "kd-tuned", "ours",
                                   {"co2_g": "tuned / ours, CO2", "gflops_millions": "tuned / ours, GFLOPs"},
                                   score="test_acc_mean", score_name="accuracy ours - tuned (points)").iloc[0]
        kd = t.loc[t["method"] == "kd-tuned", "co2_vs_teacher"].iloc[0]
        rows.append({"source": "ours", "dataset": d, "grid values": grid_size, "tuned KD CO2 / teacher": kd,
                     "per grid value": kd / grid_size, **pair.drop("dataset")})
    for d in compare.PAPER_DATASETS:
        kd, n = paper.headline_value("kd_over_teacher_carbon", d), compare.paper_hkd_ratio(d, "gflops_millions")
        # The paper's grid is not published: its size is inferred from Table 4's FLOPs ratio.
        rows.append({"source": "paper", "dataset": d, "grid values": round(n), "tuned KD CO2 / teacher": kd,
                     "per grid value": kd / n, "accuracy ours - tuned (points)": compare.paper_hkd_ratio(d, "score_mean"),
                     "tuned / ours, CO2": compare.paper_hkd_ratio(d, "co2_g"), "tuned / ours, GFLOPs": n})
    return pd.DataFrame(rows)


def carbon_bill(teacher: pd.DataFrame, scratch: pd.DataFrame, tuned: Mapping[str, pd.DataFrame],
                ours: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The story's bill: per arm and student, mean over seeds, tuned KD charged its whole grid
    (``trainings``); ``tuned`` and ``ours`` map each student to its rows."""
    rows = pd.concat([teacher, scratch, *[pd.concat([tuned[s], ours[s]]) for s in tuned]], ignore_index=True)
    bill = summarize(rows).merge(rows.groupby(["method", "student"])["trainings"].max().reset_index(),
                                 on=["method", "student"])
    return bill[BILL_COLUMNS]


# The story's quantities and the column each compares (the accuracy one as a difference, ours - tuned).
_STORY = {"tuned KD CO2 / teacher CO2": "co2_g", "tuned KD energy / ours energy": "energy_kwh",
          "tuned KD FLOPs / ours FLOPs": "gflops_millions", "ours - tuned KD accuracy (points)": "test_acc_mean"}


def _paper_story_value(row: Mapping[str, Any], dataset: str) -> float | None:
    if row["student"] != "mobilenetv2":  # the paper's ratios are for ResNet18 -> MobileNetV2 only
        return None
    if row["quantity"] == "tuned KD CO2 / teacher CO2":
        return paper.headline_value("kd_over_teacher_carbon", dataset)
    return compare.paper_hkd_ratio(dataset, {"test_acc_mean": "score_mean"}.get(_STORY[row["quantity"]],
                                                                               _STORY[row["quantity"]]))


def story_ratios(bill: pd.DataFrame, ours_label: str) -> pd.DataFrame:
    """Per student of :func:`carbon_bill`: tuned KD's CO2 over the teacher's, tuned over ours in
    energy and FLOPs, the accuracy gap; beside the paper's (abstract and Table 4 HKD rows, 2 digits)."""
    pairs = compare.cost_ratios(bill, ["student"], "kd-tuned", "ours",
                                {"energy_kwh": "tuned KD energy / ours energy",
                                 "gflops_millions": "tuned KD FLOPs / ours FLOPs"},
                                score="test_acc_mean", score_name="ours - tuned KD accuracy (points)").set_index("student")
    tuned = bill["method"] == "kd-tuned"
    over_teacher = compare.relative_to(bill, "co2_g")[tuned]
    pairs["tuned KD CO2 / teacher CO2"] = pd.Series(over_teacher.to_numpy(), index=bill.loc[tuned, "student"])
    long = pd.DataFrame([{"quantity": q, "student": s, "ours": pairs.loc[s, q]} for s in pairs.index for q in _STORY])
    return compare.beside_paper(long, _paper_story_value, ours_label=ours_label, datasets=compare.PAPER_DATASETS,
                                digits=2)


def grid_costs(grid_rows: pd.DataFrame) -> pd.DataFrame:
    """Per tau of a KD grid (``Lab.kd_grid``): mean validation and test accuracy and mean costs over
    seeds, then one row with the whole grid's cost, what tuned KD pays."""
    per_tau = grid_rows.groupby("tau").agg(val_acc=("best_val_acc", "mean"), test_acc=("test_acc", "mean"),
                                           energy_kwh=("energy_kwh", "mean"), co2_g=("co2_g", "mean"),
                                           gflops_millions=("gflops_millions", "mean")).reset_index()
    total = per_tau[["energy_kwh", "co2_g", "gflops_millions"]].sum()
    return pd.concat([per_tau.astype({"tau": object}), pd.DataFrame([{"tau": "whole grid (sum)", **total}])],
                     ignore_index=True)



# Table 1 as bars (``04_table1``): training CO2 and FLOPs of each arm, per data set, relative to the teacher.
def _annotate(ax: Any, bars: Any, texts: Sequence[str]) -> None:
    for bar, text in zip(bars, texts):
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 2), textcoords="offset points")


def draw_table1(axes: Any, table: pd.DataFrame, titles: Sequence[str]) -> None:
    """One row of two panels per data set of ``table`` (:func:`greenkd_lib.paper.table1.table1`), in its
    order, titled by ``titles``: CO2 annotated with the test accuracy (mean ± std) and the ratio to
    the teacher, and counted FLOPs with their ratio to the teacher; bars in the arms' colours."""
    for (ax_co2, ax_flops), (dataset, t), title in zip(axes, table.groupby("dataset", sort=False), titles):
        names = [f"{r}\n({m})" for r, m in zip(t["row"].str.replace(", ", "\n"), t["model"])]
        colors = [ARMS[m][2] for m in t["method"]]
        flops_ratio = t["gflops_millions"] / t.loc[t["method"] == "teacher", "gflops_millions"].iloc[0]
        bars = ax_co2.bar(names, t["co2_g"], color=colors)
        _annotate(ax_co2, bars, [f"acc {acc:.1f}{'' if np.isnan(sd) else f' ± {sd:.1f}'} %\n{ratio:.2f}x teacher"
                                 for acc, sd, ratio in zip(t["test_acc_mean"], t["test_acc_std"], t["co2_vs_teacher"])])
        bars = ax_flops.bar(names, t["gflops_millions"], color=colors)
        _annotate(ax_flops, bars, [f"{ratio:.2f}x teacher" for ratio in flops_ratio])
        for ax, label in [(ax_co2, "training CO2 (g)"), (ax_flops, "training GFLOPs (M) = 10^15 FLOPs")]:
            ax.margins(y=0.2)
            ax.set_ylabel(label)
            ax.tick_params(axis="x", labelsize=8)
        ax_co2.set_title(f"CO2 ({t['mode'].iloc[0]}) and accuracy ({title})", fontsize=10)
        ax_flops.set_title(f"FLOPs, counted ({title})", fontsize=10)


# -- captions (every number from the run) -----------------------------------------------------------


def caption(lab: Lab, student: str, scope: str) -> str:
    """Table 1's caption: the models, the grid and what it charges, the seeds and how CO2 is counted."""
    grid, seeds = len(lab.profile.tau_grid), len(lab.profile.seeds)
    charged = (f"CO2 at {lab.carbon.carbon_intensity:g} g/kWh" if lab.carbon.carbon_intensity is not None
               else f"CO2 from codecarbon's grid data for {lab.carbon.country}")
    return (f"Table 1 ({scope}): teacher {lab.profile.teacher} and student {student} trained alone, the student by "
            f"KD with tau tuned over a grid of {grid} (cost = all {grid} trainings) and by ours (one training, a "
            f"random tau per batch); mean and std over {seeds} seed(s). test_acc: at the best-validation epoch; "
            f"best_test_acc: best over epochs (the paper's convention); gflops_millions: 10^15 FLOPs; {charged}")


def figure_caption(scope: str) -> str:
    """The caption of Table 1's bars (:func:`draw_table1`)."""
    return (f"Training CO2 (left; annotated with the test accuracy, mean ± std over seeds) and training FLOPs "
            f"(right) of each Table 1 row, relative to the teacher's ({scope})")


def vs_paper_caption(scope: str) -> str:
    """The caption of :func:`vs_paper`'s table."""
    return (f"Table 1 quantities beside the paper's published values ({scope}; paper: abstract and Table 4 HKD "
            "rows, each column labelled with its data set)")


def bill_caption(lab: Lab) -> str:
    """The caption of the story's :func:`carbon_bill`."""
    return (f"The carbon bill of KD: teacher {lab.profile.teacher}, student alone, tuned KD (whole grid of "
            f"{len(lab.profile.tau_grid)} tau) and ours; mean over {len(lab.profile.seeds)} seed(s) ({lab.title})")


def story_ratios_caption(lab: Lab) -> str:
    """The caption of :func:`story_ratios`' table."""
    return (f"Cost ratios and accuracy difference, ours beside the paper's (ResNet18 -> MobileNetV2; CO2 ratio "
            f"from the abstract, the others computed from Table 4 HKD rows); grid of {len(lab.profile.tau_grid)} "
            f"tau here, about 20 in the paper ({lab.title})")


# -- figures: ours beside the paper (``04_table1``, ``00_story``) -----------------------------------


def _paper_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("paper, ")]


def vs_paper_figure(vs: pd.DataFrame, table: pd.DataFrame | None = None, title: str = "") -> Any:
    """:func:`vs_paper`'s table as markers: one panel per quantity, one column per data set and row, ours
    (± std over seeds: the "accuracy std" rows, and ``table``'s ``test_acc_std`` for the best-validation
    accuracy) beside the paper's value on each of its data sets (± its std where published)."""
    ours = next(c for c in vs.columns if c.startswith("ours") and c != "ours - paper, same data set")
    paper_cols = _paper_columns(vs)
    keyed = vs.assign(key=list(zip(vs["dataset"], vs["row"])))
    std = keyed[keyed["quantity"] == "accuracy std, best epoch"].set_index("key")
    shown = keyed[keyed["quantity"] != "accuracy std, best epoch"]
    several = vs["dataset"].nunique() > 1
    points = pd.DataFrame({"panel": shown["quantity"], "ours": shown[ours].to_numpy(),
                           "row": [f"{r.replace(', ', chr(10))}" + (f"\n{d}" if several else "")
                                   for d, r in zip(shown["dataset"], shown["row"])]})
    best = (shown["quantity"] == "accuracy, best epoch (%)").to_numpy()
    points["ours_std"] = np.where(best, compare._numbers(std[ours].reindex(shown["key"])), np.nan)
    if table is not None:
        val_std = table.set_index(["dataset", "row"])["test_acc_std"]
        val = (shown["quantity"] == "accuracy, best-validation epoch (%)").to_numpy()
        points.loc[val, "ours_std"] = val_std.reindex(shown["key"][val]).to_numpy()
    for c in paper_cols:
        points[c] = shown[c].to_numpy()
        points[f"{c} std"] = np.where(best, compare._numbers(std[c].reindex(shown["key"])), np.nan)
    return compare.beside_paper_figure(points, paper_cols, ours_label=ours, ncols=3,
                                       linear=[q for q in QUANTITIES if q.startswith("accuracy")],
                                       title=f"Table 1 beside the paper ({title})" if title else "Table 1 beside the paper")


def vs_paper_figure_caption(scope: str) -> str:
    """The caption of :func:`vs_paper_figure`."""
    return (f"Table 1 quantities, ours ({scope}) beside the paper's on each of its data sets (abstract and Table 4 "
            f"HKD rows; absolute values from other data and hardware: compare orders of magnitude and ratios); "
            f"{compare.beside_paper_note()}")


def story_ratios_figure(comparison: pd.DataFrame, title: str = "") -> Any:
    """:func:`story_ratios`' table as markers: one panel per ratio, one column per student, ours beside
    the paper's on each of its data sets (ResNet18 -> MobileNetV2 only: other students have no paper marker)."""
    ours = next(c for c in comparison.columns if c.startswith("ours"))
    paper_cols = _paper_columns(comparison)
    points = comparison.rename(columns={"quantity": "panel", "student": "row", ours: "ours"})
    return compare.beside_paper_figure(points, paper_cols, ours_label=ours, linear=["ours - tuned KD accuracy (points)"],
                                       title=f"The story's ratios beside the paper's ({title})")


def story_ratios_figure_caption(lab: Lab) -> str:
    """The caption of :func:`story_ratios_figure`."""
    return (f"Tuned KD's CO2 over the teacher's, tuned over ours in energy and FLOPs, and the accuracy gap, per "
            f"student: ours (grid of {len(lab.profile.tau_grid)} tau; {lab.title}) beside the paper's (grid of "
            f"about 20; ResNet18 -> MobileNetV2 only); {compare.beside_paper_note()}")

"""Table 4 of the paper: tuned KD against the stochastic temperature, per distillation objective.

:func:`measure` turns a :class:`~greenkd_lib.paper.lab.Lab`'s runs into rows in the columns of
the paper's ``table4.csv`` (:data:`TABLE4_COLUMNS`, then our extra columns); :func:`cost_ratios`
gives tuned / ours for each cost, for our rows and the paper's alike.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torchvision.utils import draw_bounding_boxes

from ..data import published
from ..methods import get_method
from . import compare
from .display import objective_name
from .lab import Lab
from .rows import summarize

__all__ = ["TABLE4_COLUMNS", "COST_RATIOS", "VS_PAPER_COLUMNS", "measure", "detection_baselines", "cost_ratios",
           "objective_seeds", "detection_objectives", "settings", "measure_all", "stack", "detection_pair", "detection_examples",
           "ratios_beside_paper", "cost_per_objective", "vs_paper", "coverage", "grid_note", "plot_cost_ratios",
           "boxes_grid", "detection_settings_caption", "measured_caption", "paper_rows_caption",
           "cost_ratios_caption", "cost_ratios_figure", "cost_ratios_figure_caption", "boxes_caption",
           "cost_per_objective_caption", "vs_paper_caption", "reduction_source", "reductions_note", "baselines_caption",
           "caption_scope", "figure_scope",
           "vs_paper_figure", "vs_paper_figure_caption", "panel_title", "short_dataset"]

TABLE4_COLUMNS = ["dataset", "task", "loss", "method", "metric", "score_mean", "score_std", "gflops_millions",
                  "energy_kwh", "co2_g"]
"""The columns of the paper's ``table4.csv``, in its order (the output contract of our rows)."""

COST_RATIOS = {"gflops_millions": "GFLOPs", "energy_kwh": "kWh", "co2_g": "CO2"}
"""Each cost column and its short name in the ratio columns ("GFLOPs tuned / ours")."""

_ARMS = {"kd-tuned": "tuned", "ours": "ours"}


def measure(lab: Lab, method: str = "kd", student: str | None = None, seeds: Iterable[int] | None = None,
            grid: Iterable[float] | None = None) -> pd.DataFrame:
    """The tuned and ours rows of ``method`` on ``lab``'s data set, trained if missing.

    ``score_mean``/``score_std``: test accuracy (detection: mAP at IoU 0.5, in percent) at the
    best-validation epoch over seeds;
    ``best_epoch_mean``/``best_epoch_std``: the best test accuracy over epochs (the paper's
    convention); costs are means over seeds (tuned: the whole grid's). Extra columns say how many
    trainings and seeds each row took and which tau it used.
    """
    spec = get_method(method)
    rows = lab.tuned_and_ours(spec.name, grid=grid, student=student, seeds=seeds)
    t = summarize(rows).merge(summarize(rows, metric="best_test_acc")[["method", "best_test_acc_std"]], on="method")
    grid_size = int(rows.loc[rows["method"] == "kd-tuned", "trainings"].iloc[0])
    extra = {}
    if lab.is_detection:  # the same detections under VOC2010's all-point average
        extra["score_all_point_mean"] = t["method"].map(rows.groupby("method")["test_map_all_point"].mean())
    return pd.DataFrame({
        "dataset": lab.dataset, "task": "detection" if lab.is_detection else "classification",
        "loss": spec.paper_name, "method": t["method"].map(_ARMS), "metric": "mAP" if lab.is_detection else "accuracy",
        "score_mean": t["test_acc_mean"], "score_std": t["test_acc_std"],
        "gflops_millions": t["gflops_millions"], "energy_kwh": t["energy_kwh"], "co2_g": t["co2_g"],
        "best_epoch_mean": t["best_test_acc_mean"], "best_epoch_std": t["best_test_acc_std"],
        "trainings": t["method"].map({"kd-tuned": grid_size, "ours": 1}), "seeds": t["seeds"],
        "tau": [", ".join(f"{x:g}" for x in rows.loc[rows["method"] == m, "tau"]) if m == "kd-tuned"
                else rows.loc[rows["method"] == m, "temperature"].iloc[0] for m in t["method"]],
        "objective": spec.name, "mode": t["mode"], "kl_reduction": rows["kd_reduction"].iloc[0], **extra,
    })


def detection_baselines(lab: Lab, seeds: Iterable[int] | None = None) -> pd.DataFrame:
    """The VOC block's reference rows: the teacher detector (its first seed, the one distilled) and
    the student detector trained alone (SSD's loss, no teacher) on ``seeds`` (None: the profile's),
    with Table 4's columns, the all-point mAP and how each backbone started."""
    seeds = list(lab.profile.seeds if seeds is None else seeds)
    parts = [(lab.teacher(seeds=[lab.profile.seeds[0]]), "teacher"), (lab.student_from_scratch(seeds=seeds),
                                                                         "student alone")]
    out = []
    for rows, name in parts:
        t = summarize(rows, by=("method", "student"))
        result = lab.store.run_by_hash(rows["hash"].iloc[0]).result()
        out.append({
            "dataset": lab.dataset, "task": "detection", "loss": "SSD loss alone", "method": name,
            "model": rows["student"].iloc[0], "metric": "mAP", "score_mean": t["test_acc_mean"].iloc[0],
            "score_std": t["test_acc_std"].iloc[0], "score_all_point_mean": rows["test_map_all_point"].mean(),
            "gflops_millions": t["gflops_millions"].iloc[0], "energy_kwh": t["energy_kwh"].iloc[0],
            "co2_g": t["co2_g"].iloc[0], "epochs": int(result["epochs"]), "seeds": len(rows),
            "backbone": result["model"].get("backbone", "random"),
        })
    return pd.DataFrame(out)


def cost_ratios(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """Per data set and loss of ``table`` (Table 4's columns): tuned / ours for each cost, and the
    score gap ours - tuned in points, in rows labelled ``source``."""
    ratios = compare.cost_ratios(table, ["dataset", "loss"], "tuned", "ours",
                                 {col: f"{name} tuned / ours" for col, name in COST_RATIOS.items()},
                                 score="score_mean", score_name="score ours - tuned (points)")
    ratios.insert(0, "source", source)
    return ratios


def plot_cost_ratios(ax, ratios: pd.DataFrame, title: str, grid_size: int | None = None) -> None:
    """Grouped bars of tuned / ours (GFLOPs, kWh, CO2) per data set and loss of ``ratios`` (from
    :func:`cost_ratios`) on ``ax``; a dashed line at ``grid_size``, the ratio one would expect."""
    import numpy as np

    x = np.arange(len(ratios))
    for i, (name, color) in enumerate(zip(COST_RATIOS.values(), ["tab:blue", "tab:orange", "tab:red"])):
        bars = ax.bar(x + (i - 1) * 0.26, ratios[f"{name} tuned / ours"], width=0.26, color=color, label=name)
        if len(ratios) <= 8:  # vertical labels, 3 significant digits: three side by side stay apart
            ax.bar_label(bars, fmt="%.3g", fontsize=6.5, padding=2, rotation=90)
    if grid_size is not None:
        ax.axhline(grid_size, color="0.3", ls="--", lw=1, label=f"our grid size N = {grid_size}")
    ax.set_xticks(x, [f"{loss}\n{short_dataset(d)}" for loss, d in zip(ratios["loss"], ratios["dataset"])], fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.margins(y=0.25)  # room for the vertical labels
    ax.grid(axis="y", alpha=0.3)


def short_dataset(name: str) -> str:
    """A data set's name on a tick label, broken to fit one bar group ("digit_scenes" -> "digit\nscenes")."""
    return {"tinyimagenet": "tiny\nimagenet", "cifar10": "cifar10", "cifar100": "cifar100"}.get(
        name, name.replace("_", "\n"))


def objective_seeds(lab: Lab, objectives: Iterable[str], objective_seeds: Iterable[int] | None = None
                    ) -> dict[str, list[int]]:
    """The seeds of each objective's rows: HKD on the profile's seeds, the others on ``objective_seeds``.

    ``objective_seeds=None``: the profile's seeds under the paper profile, else its first seed only
    (CMC and DML are the quick batch's longest trainings).
    """
    if objective_seeds is None:
        objective_seeds = lab.profile.seeds if lab.profile.name == "paper" else lab.profile.seeds[:1]
    return {get_method(m).name: list(lab.profile.seeds) if get_method(m).name == "kd" else
            [int(s) for s in objective_seeds] for m in objectives}


def detection_objectives(lab: Lab, objectives: Iterable[str],
                         detection_objectives: Iterable[str] | None = None) -> list[str]:
    """The objectives of the detection rows: ``detection_objectives``, else ``objectives``; under the quick
    profile HKD alone (of ``objectives``), since CMC and DML would add 8 detector trainings (their
    grids and ours, 4 each; DML's train two detectors) to its batch.
    """
    if detection_objectives is not None:
        chosen = [get_method(m).name for m in detection_objectives]  # an unknown name fails, listing the known
        if not chosen:
            raise ValueError("detection_objectives is empty; give None (the profile's) or e.g. ['kd', 'cmc']")
        return list(dict.fromkeys(chosen))
    names = list(dict.fromkeys(get_method(m).name for m in objectives))
    if lab.profile.name == "quick" and "kd" in names:
        return ["kd"]
    return names


def settings(lab: Lab, seeds_of: dict[str, list[int]], student: str) -> pd.DataFrame:
    """One row per objective: its paper name, seeds, tuned grid and the method's parameters as stored."""
    from ..methods import FixedTemperature

    configs = {m: lab.kd_config(FixedTemperature(1).config(), student, method=m) for m in seeds_of}
    return pd.DataFrame([{
        "objective": m, "Table 4 loss": get_method(m).paper_name, "seed(s)": ", ".join(map(str, seeds)),
        "tau grid (tuned)": ", ".join(f"{t:g}" for t in lab.profile.tau_grid),
        "ours": f"integer tau in {lab.profile.tau_low:g}..{lab.profile.tau_high:g} per batch",
        "KL reduction": f"'{configs[m].kd_reduction}' ({reduction_source(m, configs[m].kd_reduction)})",
        "parameters": configs[m].method_params or "-",
    } for m, seeds in seeds_of.items()])


def reduction_source(method: str, reduction: str) -> str:
    """Why ``method``'s runs compute their KL with ``reduction``."""
    spec = get_method(method)
    if spec.kd_reduction is not None:  # the method's own, as its reference computes it
        return {"cmc": "RepDistiller's DistillKL", "dml": "Zhang et al.'s KL"}.get(spec.name, "the method's reference")
    return "the authors' HKD code" if reduction == "mean" else "the profile's"


def caption_scope(labs: Iterable[Lab], objectives: Iterable[str]) -> str:
    """What Table 4's captions name: the data sets, the profile and each objective's KL reduction
    (HKD the profile's, CMC and DML their references')."""
    labs = list(labs)
    by_reduction: dict[str, list[str]] = {}
    for m in objectives:
        spec = get_method(m)
        by_reduction.setdefault(spec.kd_reduction or labs[0].profile.kd_reduction, []).append(spec.paper_name)
    kl = "; ".join(f"KL '{r}' for {' and '.join(names)}" for r, names in by_reduction.items())
    return f"{', '.join(l.dataset for l in labs)}, {labs[0].profile.name} profile, {kl}"


def figure_scope(lab: Lab) -> str:
    """A short scope for a figure's panel title: the data set and the profile."""
    return f"{lab.dataset}, {lab.profile.name} profile"


def reductions_note(objectives: Iterable[str], profile_reduction: str) -> str:
    """One clause per objective: the KL reduction its runs record and why (for captions)."""
    parts = []
    for m in objectives:
        spec = get_method(m)
        reduction = spec.kd_reduction or profile_reduction
        parts.append(f"{spec.paper_name} '{reduction}' ({reduction_source(m, reduction)})")
    return "KL reduction: " + ", ".join(parts)


def measure_all(labs: Iterable[Lab], seeds_of: dict[str, list[int]], student: str | None = None) -> pd.DataFrame:
    """:func:`measure` for every lab (data set) and objective of ``seeds_of``, in one table (no lab: no rows).

    ``student`` applies to classification labs; a detection lab trains its profile's student detector."""
    tables = [measure(lab, m, student=None if lab.is_detection else student, seeds=seeds)
              for lab in labs for m, seeds in seeds_of.items()]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=TABLE4_COLUMNS)


def stack(*tables: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``tables`` in one table (empty ones, e.g. no detection rows, left out)."""
    kept = [t for t in tables if len(t)]
    return pd.concat(kept, ignore_index=True) if kept else tables[0]


def detection_pair(lab: Lab) -> str:
    """The teacher -> student detectors of a detection lab, saying where they are not the paper's."""
    from ..models.detection.archs import describe

    return f"{describe(lab.profile.teacher)} -> {describe(lab.profile.students[0])}"


def detection_examples(lab: Lab, n: int = 4, seed: int | None = None):
    """The first ``n`` test images of detection ``lab``, their objects, the boxes found by the teacher, the
    tuned HKD student and ours (seed: the lab's first), and the class names: for ``plots.detection``."""
    from ..data.detection.bundle import collate
    from ..engine.mean_ap import detections

    seed = lab.profile.seeds[0] if seed is None else seed
    rows = lab.tuned_and_ours("kd", seeds=[seed])  # read back from the store
    tuned, ours = (rows[rows["method"] == arm].iloc[0] for arm in ("kd-tuned", "ours"))
    teacher = lab.store.run(lab.teacher_config().to_dict()).hash
    bundle = lab.data()
    images, truth = collate([bundle.test[i] for i in range(min(n, len(bundle.test)))])
    found = {"teacher": detections(lab.model(teacher), images),
             f"tuned HKD (tau={tuned['tau']:g})": detections(lab.model(tuned["hash"]), images),
             "ours (random tau)": detections(lab.model(ours["hash"]), images)}
    return images, truth, found, bundle.classes


def ratios_beside_paper(measured: pd.DataFrame, grid_size: int, source: str) -> pd.DataFrame:
    """:func:`cost_ratios` of our rows (labelled ``source``) above the paper's rows of the same
    losses and tasks, with the grid size behind each (the paper's is not published)."""
    theirs = published.table4().query("task in @tasks and loss in @losses",
                                  local_dict={"losses": list(measured["loss"].unique()),
                                              "tasks": list(measured["task"].unique())})
    ratios = pd.concat([cost_ratios(measured, source), cost_ratios(theirs, "paper")], ignore_index=True)
    ratios["grid values"] = [grid_size if s == source else published.NOT_PUBLISHED for s in ratios["source"]]
    return ratios


def cost_per_objective(measured: pd.DataFrame) -> pd.DataFrame:
    """One stochastic training per objective: GFLOPs (M), kWh, and GFLOPs relative to HKD's on the
    same data set, ours beside the paper's (published where the data set is the paper's)."""
    ours = measured[measured["method"] == "ours"][["dataset", "loss", "gflops_millions", "energy_kwh"]].copy()
    hkd = ours[ours["loss"] == "HKD"].set_index("dataset")["gflops_millions"]
    ours["GFLOPs / HKD's"] = ours["gflops_millions"] / ours["dataset"].map(hkd)

    def paper_ratio(row: dict[str, Any], dataset: str) -> float | None:
        this, base = (published.table4_value(dataset, loss, "ours", "gflops_millions") for loss in (row["loss"], "HKD"))
        return None if this is None or base is None else this / base

    return compare.beside_paper(ours, paper_ratio, value="GFLOPs / HKD's",
                                same_dataset="paper: GFLOPs / HKD's, same data set")


VS_PAPER_COLUMNS = {"score_mean": "best_epoch_mean", "score_std": "best_epoch_std",
                    "gflops_millions": "gflops_millions", "energy_kwh": "energy_kwh", "co2_g": "co2_g"}
"""Paper column -> our column set beside it (the best epoch: the paper's accuracy convention)."""


def vs_paper(measured: pd.DataFrame) -> pd.DataFrame:
    """Every measured cell beside the paper's value on the same data set, and ours - paper."""
    long = pd.DataFrame([{"dataset": r["dataset"], "loss": r["loss"], "method": r["method"], "column": paper_col,
                          "ours": r[ours_col]}
                         for _, r in measured.iterrows() for paper_col, ours_col in VS_PAPER_COLUMNS.items()])
    return compare.beside_paper(long, lambda r, d: published.table4_value(d, r["loss"], r["method"], r["column"]),
                                same_dataset="paper, same data set", delta="ours - paper")


def coverage(losses: Iterable[str], datasets: Iterable[str], detection_datasets: Iterable[str] = (),
             detection_losses: Iterable[str] | None = None) -> pd.DataFrame:
    """Every row of the paper's Table 4 with what a run measuring ``losses`` on ``datasets`` (and the
    detection rows of ``detection_losses``, default ``losses``, on ``detection_datasets``) does with it."""
    import numpy as np

    losses, datasets, detection_datasets = list(losses), list(datasets), list(detection_datasets)
    detection_losses = losses if detection_losses is None else list(detection_losses)
    table = published.table4().pivot_table(index=["dataset", "task", "loss"], columns="method", values="score_mean",
                                       sort=False).reset_index().rename(columns={"tuned": "paper tuned score",
                                                                                  "ours": "paper ours score"})
    table.columns.name = None
    detection = table["task"] == "detection"
    table["this notebook"] = np.select(
        [detection & (not detection_datasets), detection & ~table["loss"].isin(detection_losses),
         ~table["loss"].isin(losses), detection & table["dataset"].isin(detection_datasets), detection,
         table["dataset"].isin(datasets)],
        ["not measured in this run (detection = False)", "not measured in this run (detection_objectives)",
         "not measured in this run (see `objectives`)", "measured above",
         f"built; measured here on {', '.join(detection_datasets)}", "measured above"],
        default=f"built; measured here on {', '.join(datasets)}")
    return table


def grid_note(ratios: pd.DataFrame, grid_size: int) -> str:
    """One sentence: the GFLOPs ratio our grid predicts, and the grid size the paper's ratios imply."""
    implied = ratios.loc[ratios["source"] == "paper", "GFLOPs tuned / ours"]
    if implied.empty:
        return f"Our grid has N = {grid_size} values, so the expected ratio is about {grid_size}."
    return (f"Our grid has N = {grid_size} values, so the expected ratio is about {grid_size}. The paper's "
            f"GFLOPs ratios ({implied.min():.1f} to {implied.max():.1f}) imply a grid of about "
            f"{implied.round().min():.0f}-{implied.round().max():.0f} values (inferred; not published).")


# -- figure: a few test images of the detection rows with the boxes each detector finds -----------------
_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf"]


def _drawn(image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
           scores: torch.Tensor | None = None) -> torch.Tensor:
    pixels = (image.clamp(0, 1) * 255).to(torch.uint8)
    if len(boxes) == 0:  # draw_bounding_boxes warns on an empty set: the picture as it is
        return pixels
    names = [classes[int(l) - 1] + ("" if scores is None else f" {float(s):.2f}")
             for l, s in zip(labels, scores if scores is not None else labels)]
    colours = [_COLOURS[(int(l) - 1) % len(_COLOURS)] for l in labels]
    # Small images: thin boxes and no text in the picture (the class is the box colour; the title says it).
    return draw_bounding_boxes(pixels, boxes, labels=names if image.shape[-1] >= 128 else None,
                               colors=colours, width=1 if image.shape[-1] < 128 else 2)


def panel_title(column: str | None, labels: torch.Tensor, scores: torch.Tensor | None = None) -> str:
    """A short title of one :func:`boxes_grid` panel: its column (first row only), how many boxes
    (the objects: how many), and the best score ("teacher: 7 boxes, best 0.98")."""
    n = len(labels)
    if scores is None:
        what = f"{n} object{'s' if n != 1 else ''}"
    else:
        what = f"{n} box{'es' if n != 1 else ''}" + (f", best {float(scores.max()):.2f}" if n else "")
    return f"{column}:\n{what}" if column else what


def boxes_grid(images: torch.Tensor, truth: Sequence[Mapping[str, torch.Tensor]],
               found: Mapping[str, Sequence[Mapping[str, torch.Tensor]]], classes: Sequence[str],
               min_score: float = 0.5) -> plt.Figure:
    """One row per image: its objects, then each detector's boxes scoring at least ``min_score``
    (``found``: column title -> one detection dict per image, boxes in the image's pixels); each panel's
    title counts its boxes (:func:`panel_title`), the class is the box colour."""
    columns = ["objects", *found]
    fig, axes = plt.subplots(len(images), len(columns), figsize=(2.3 * len(columns), 2.3 * len(images)),
                             squeeze=False)
    for i, image in enumerate(images):
        panels = [(truth[i]["boxes"], truth[i]["labels"], None)]
        for dets in found.values():
            keep = dets[i]["scores"] >= min_score
            panels.append((dets[i]["boxes"][keep], dets[i]["labels"][keep], dets[i]["scores"][keep]))
        for ax, column, (boxes, labels, scores) in zip(axes[i], columns, panels):
            ax.imshow(_drawn(image, boxes, labels, classes, scores).permute(1, 2, 0).numpy())
            ax.set_title(panel_title(column if i == 0 else None, labels, scores), fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    from matplotlib.patches import Patch

    shown = sorted({int(l) for t in truth for l in t["labels"]} |
                   {int(l) for dets in found.values() for d in dets for l in d["labels"][d["scores"] >= min_score]})
    handles = [Patch(facecolor="none", edgecolor=_COLOURS[(l - 1) % len(_COLOURS)], lw=2, label=classes[l - 1])
               for l in shown]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 10), fontsize=7, frameon=False,
                   title="box colour: class", title_fontsize=7)
    fig.tight_layout(rect=(0, 0.5 / fig.get_figheight() if handles else 0, 1, 1))
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


def detection_settings_caption(det_labs: Iterable[Lab]) -> str:
    """The caption of the detection rows' :func:`settings`."""
    titles = ", ".join(l.title for l in det_labs) or "none: detection = False"
    return f"What each measured detection row was trained with ({titles})"


def measured_caption(lab: Lab, student: str, scope: str, seeds_of: Mapping[str, Iterable[int]],
                     det_labs: Iterable[Lab]) -> str:
    """The caption of :func:`measure_all`'s rows: data sets, pair, grid, the seeds of each objective."""
    grid = len(lab.profile.tau_grid)
    detection = ", ".join(f"{l.dataset}, {detection_pair(l)}" for l in det_labs) or "not run"
    seed_note = "; ".join(f"{objective_name(m)}: seed(s) {', '.join(map(str, s))}" for m, s in seeds_of.items())
    return (f"Table 4 measured ({scope}; detection: {detection}): {lab.profile.teacher} -> {student} (DML: "
            f"{lab.profile.teacher} peer), tuned KD over a grid of {grid} (cost = all {grid} trainings; tau = the one "
            f"chosen on validation per seed) against ours; score: test accuracy, or for task = detection VOC's mAP@0.5 "
            f"(11-point, VOC2007's protocol; score_all_point_mean: VOC2010's all-point); mean and std over seeds "
            f"({seed_note}); {reductions_note(seeds_of, lab.profile.kd_reduction)}; gflops_millions = 10^15 FLOPs")


def baselines_caption(lab: Lab) -> str:
    """The caption of :func:`detection_baselines` on the detection lab ``lab``."""
    schedule = lab.profile.teacher_schedule
    teacher_epochs = f"{schedule['epochs']} epochs" if schedule else f"the students' {lab.profile.epochs} epochs"
    return (f"Table 4's VOC block, the reference rows ({lab.title}; {detection_pair(lab)}): the teacher ({teacher_epochs}, "
            f"trained once) and the student detector trained alone on SSD's loss ({lab.profile.epochs} epochs, as the "
            f"distilled students); score: VOC07 11-point mAP@0.5 on test at the best-validation epoch; costs: one "
            f"training each; backbone: how each started")


def paper_rows_caption(losses: Iterable[str], scope: str) -> str:
    """The caption of the paper's Table 4 rows of ``losses``."""
    return (f"The paper's Table 4 rows for {', '.join(losses)}, every data set (published; shown beside ours, "
            f"measured on {scope})")


def cost_ratios_caption(scope: str, grid_size: int) -> str:
    """The caption of :func:`ratios_beside_paper`'s table."""
    return (f"Tuned KD / ours for GFLOPs, kWh and CO2, and the score gap (ours - tuned, points), per objective: ours "
            f"({scope}, grid of {grid_size}) beside the paper's")


def cost_ratios_figure(ratios: pd.DataFrame, title: str, grid_size: int) -> plt.Figure:
    """:func:`ratios_beside_paper`'s ratios as bars: ours (``title``, dashed at ``grid_size``), the paper's rows."""
    ours, paper = ratios[ratios["source"].str.startswith("ours")], ratios[ratios["source"] == "paper"]
    # Each panel as wide as its bar groups need (about 0.75 inch a group).
    width = max(12, 0.75 * (len(ours) + len(paper)) + 1.5)
    fig, axes = plt.subplots(1, 2, figsize=(width, 4.4),
                             gridspec_kw={"width_ratios": [max(len(ours), 3), max(len(paper), 3)]})
    plot_cost_ratios(axes[0], ours, f"Ours ({title})", grid_size)
    plot_cost_ratios(axes[1], paper, "The paper's rows (published)")
    axes[0].set_ylabel("tuned KD cost / ours")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8)
    fig.suptitle("Table 4: what tuning tau costs, per distillation objective", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # room for the legend under the panels
    return fig


def cost_ratios_figure_caption(scope: str, grid_size: int) -> str:
    """The caption of :func:`cost_ratios_figure`."""
    return (f"Tuned KD cost divided by the stochastic method's, for GFLOPs, kWh and CO2, per objective: ours "
            f"({scope}, grid of {grid_size}; dashed: N) and the paper's rows")


def boxes_caption(lab: Lab) -> str:
    """The caption of :func:`boxes_grid` on the detection lab ``lab``'s test images."""
    return (f"Test images of {lab.dataset} with the boxes (score >= 0.5) of the teacher, the tuned HKD student and "
            f"ours ({lab.title}; {detection_pair(lab)})")


def cost_per_objective_caption(scope: str) -> str:
    """The caption of :func:`cost_per_objective`'s table."""
    return (f"One stochastic training per objective ({scope}): GFLOPs (M) and kWh, and GFLOPs relative to HKD's, "
            "ours beside the paper's where the data set is the same")


def vs_paper_caption(scope: str) -> str:
    """The caption of :func:`vs_paper`'s table."""
    return (f"Ours beside the paper's value on the same data set ({scope}; '{published.NOT_PUBLISHED}': the paper "
            "has no such row)")


_VS_PAPER_PANELS = {"score_mean": "score (%): accuracy, or mAP for detection", "gflops_millions": "GFLOPs (M)",
                    "energy_kwh": "energy (kWh)", "co2_g": "CO2 (g)"}


def vs_paper_figure(same_dataset: pd.DataFrame, title: str = "") -> plt.Figure:
    """:func:`vs_paper`'s table as markers: one panel per quantity (the score ± its std, ours and the
    paper's), one column per data set, loss and arm; the paper's marker only where our data set is its."""
    std = same_dataset[same_dataset["column"] == "score_std"].set_index(["dataset", "loss", "method"])
    shown = same_dataset[same_dataset["column"].isin(_VS_PAPER_PANELS)]
    key = pd.MultiIndex.from_frame(shown[["dataset", "loss", "method"]])
    several = same_dataset["dataset"].nunique() > 1
    score = (shown["column"] == "score_mean").to_numpy()
    paper = "paper, same data set"
    points = pd.DataFrame({
        "panel": shown["column"].map(_VS_PAPER_PANELS).to_numpy(),
        "row": [f"{loss} {method}" + (f"\n{d.replace('_', ' ')}" if several else "")
                for d, loss, method in zip(shown["dataset"], shown["loss"], shown["method"])],
        "ours": shown["ours"].to_numpy(), paper: shown[paper].to_numpy(),
        "ours_std": np.where(score, compare._numbers(std["ours"].reindex(key)), np.nan),
        f"{paper} std": np.where(score, compare._numbers(std[paper].reindex(key)), np.nan)})
    return compare.beside_paper_figure(points, [paper], ours_label="ours (best epoch, mean over seeds)",
                                       linear=[_VS_PAPER_PANELS["score_mean"]], title=f"Table 4 beside the paper, same data set ({title})")


def vs_paper_figure_caption(scope: str) -> str:
    """The caption of :func:`vs_paper_figure`."""
    return (f"Table 4's score (best epoch, ± std over seeds) and costs per data set, loss and arm, ours ({scope}) "
            f"beside the paper's on the same data set, where it has one; {compare.beside_paper_note()}")

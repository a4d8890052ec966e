"""Table 6 of the paper: data-free KD with a tuned tau against the stochastic tau, per synthesizer.

Each synthesizer (``greenkd_lib.methods.datafree``) distils the teacher into the student from synthetic
inputs only; :func:`measure` trains its tau grid and its stochastic-tau run (or reads them back) and
returns rows in the output contract :data:`TABLE6_COLUMNS`, then extra columns. The paper's Table 6
numbers were not recovered; :data:`CMI_README` holds the public reference the authors' code base
(zju-vipa/CMI) reports for its own setting, shown beside ours, never as the paper's.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import MaxNLocator
from torchvision.utils import make_grid

from ..data import published
from ..engine.loops import SYNTHETIC_ARTIFACT
from ..methods import FixedTemperature, get_method
from ..models import canonical_name
from . import compare
from .display import arm_name, arm_style, short_name
from .lab import Lab
from .rows import summarize

__all__ = ["SYNTHESIZERS", "QUICK_SYNTHESIZERS", "TABLE6_COLUMNS", "CMI_README", "PAIR", "synthesizer_names",
           "synthesizer_seeds", "settings", "measure", "measure_all", "teacher_rows", "cost_ratios",
           "beside_reference", "synthetic_images", "synthesis_share", "ours_runs", "headline", "caption_scope",
           "accuracy_and_co2", "synthetic_grids", "accuracy_by_epoch", "measured_caption", "reference_caption",
           "cost_ratios_caption", "cost_ratios_figure", "cost_ratios_figure_caption", "cost_ratios_title",
           "accuracy_and_co2_title", "accuracy_and_co2_caption", "synthetic_title",
           "synthetic_caption", "by_epoch_title", "by_epoch_caption"]

SYNTHESIZERS = ("dafl", "zskt", "dfq", "deepinv", "cmi")
"""The five synthesizers of the CMI benchmark, in the order of the issue that asked for Table 6."""

QUICK_SYNTHESIZERS = ("dfq", "deepinv")
"""The quick profile's default: a generator and a pixel optimiser, the two whose students learned most on
digits (all five: 20 trainings, 572 s of one-thread training in a fresh clone's batch; these two: 8, 262 s)."""

PAIR = ("wrn_40_2", "wrn_16_1")
"""Teacher and student of the CMI benchmark (and of the paper's Table 6, by the code base it cites)."""

TABLE6_COLUMNS = ["synthesizer", "method", "score_mean", "score_std", "gflops_millions", "energy_kwh", "co2_g"]
"""The measured table's first columns, in this order (the output contract)."""

CMI_README = {"DAFL": 65.71, "ZSKT": 83.74, "DeepInv": 83.04, "DFQ": 86.14, "CMI": 90.01, "teacher": 94.87}
"""Test accuracy (%) that zju-vipa/CMI's README reports on CIFAR-10, WRN-40-2 -> WRN-16-1, its own schedules.

A public reference for what each synthesizer reaches in its home setting, not the paper's Table 6
(``../shared/paper/PAPER.md``, "Public reference numbers").
"""

_ARMS = {"kd-tuned": "tuned", "ours": "ours"}


def synthesizer_names(synthesizers: Iterable[str] | None = None, profile: str = "paper") -> list[str]:
    """Registered names of ``synthesizers``; an unknown or non-data-free name fails.

    None: :data:`QUICK_SYNTHESIZERS` under the quick profile (it keeps the batch short), all five otherwise.
    """
    if synthesizers is None:
        synthesizers = QUICK_SYNTHESIZERS if profile == "quick" else SYNTHESIZERS
    names = []
    for name in synthesizers:
        spec = get_method(name)  # an unknown name fails here, listing the registered methods
        if not getattr(spec, "data_free", False):
            raise ValueError(f"{name!r} is not a data-free synthesizer; choose from {', '.join(SYNTHESIZERS)}")
        names.append(spec.name)
    if not names:
        raise ValueError(f"synthesizers is empty; give at least one of {', '.join(SYNTHESIZERS)}")
    return list(dict.fromkeys(names))


def synthesizer_seeds(lab: Lab, seeds: Iterable[int] | None = None) -> list[int]:
    """The seeds of every Table 6 row: ``seeds``, else the profile's under ``paper``, its first otherwise
    (4 data-free trainings per synthesizer and seed: the quick batch cannot afford two seeds)."""
    if seeds is None:
        seeds = lab.profile.seeds if lab.profile.name == "paper" else lab.profile.seeds[:1]
    return [int(s) for s in lab._seeds(seeds)]


def settings(lab: Lab, synthesizers: Iterable[str], seeds: Iterable[int], pair: tuple[str, str] = PAIR
             ) -> pd.DataFrame:
    """One row per synthesizer: paper name, pair, seeds, tau grid, student steps and its parameters as stored."""
    rows = []
    for name in synthesizer_names(synthesizers):
        cfg = lab.kd_config(FixedTemperature(1).config(), pair[1], pair[0], method=name)
        spec = get_method(name)
        rows.append({
            "synthesizer": spec.paper_name, "teacher -> student": f"{pair[0]} -> {pair[1]}",
            "seed(s)": ", ".join(map(str, seeds)), "tau grid (tuned)": ", ".join(f"{t:g}" for t in lab.profile.tau_grid),
            "ours": f"integer tau in {lab.profile.tau_low:g}..{lab.profile.tau_high:g} per batch",
            "epochs x student steps": f"{cfg.epochs} x {spec.steps_per_epoch(cfg)}",
            "student batch": cfg.batch_size, "KL reduction": cfg.kd_reduction,
            "parameters": cfg.method_params,
        })
    return pd.DataFrame(rows)


def measure(lab: Lab, synthesizer: str, seeds: Iterable[int] | None = None, pair: tuple[str, str] = PAIR
            ) -> pd.DataFrame:
    """The tuned and ours rows of one synthesizer, trained if missing (the teacher too).

    ``score_mean``/``score_std``: test accuracy of the best-validation epoch's weights over seeds (the
    test split is read once, after training; epochs and the tuned tau are chosen on the validation
    split, which no data-free student trains on); ``best_epoch_mean`` is the same score (no epoch is
    chosen by test); costs are means over seeds, the tuned row's the whole grid's, synthesis included.
    """
    spec = get_method(synthesizer_names([synthesizer])[0])
    teacher, student = (canonical_name(m) for m in pair)
    seeds = synthesizer_seeds(lab, seeds)
    rows = lab.tuned_and_ours(spec.name, student=student, teacher=teacher, seeds=seeds)
    rows["synthesis_share"] = [synthesis_share(lab, h) for h in rows["hash"]]
    t = summarize(rows).merge(summarize(rows, metric="best_test_acc")[["method", "best_test_acc_std"]], on="method")
    share = rows.groupby("method")["synthesis_share"].mean()
    grid_size = int(rows.loc[rows["method"] == "kd-tuned", "trainings"].iloc[0])
    return pd.DataFrame({
        "synthesizer": spec.paper_name, "method": t["method"].map(_ARMS),
        "score_mean": t["test_acc_mean"], "score_std": t["test_acc_std"],
        "gflops_millions": t["gflops_millions"], "energy_kwh": t["energy_kwh"], "co2_g": t["co2_g"],
        "best_epoch_mean": t["best_test_acc_mean"], "trainings": t["method"].map({"kd-tuned": grid_size, "ours": 1}),
        "seeds": t["seeds"], "wall_s": t["wall_s"],
        "tau": [", ".join(f"{x:g}" for x in rows.loc[rows["method"] == m, "tau"]) if m == "kd-tuned"
                else rows.loc[rows["method"] == m, "temperature"].iloc[0] for m in t["method"]],
        "synthesis_share": t["method"].map(share), "teacher": teacher, "student": student,
        "dataset": lab.dataset, "method_name": spec.name, "mode": t["mode"],
        "hashes": [", ".join(rows.loc[rows["method"] == m, "hash"]) for m in t["method"]],
    })


def measure_all(labs: Iterable[Lab], synthesizers: Iterable[str] | None = None, seeds: Iterable[int] | None = None,
                pair: tuple[str, str] = PAIR) -> pd.DataFrame:
    """:func:`measure` for every lab (data set) and synthesizer, in one table."""
    return pd.concat([measure(lab, s, seeds, pair) for lab in labs for s in synthesizer_names(synthesizers)],
                     ignore_index=True)


def teacher_rows(labs: Iterable[Lab], seeds: Iterable[int] | None = None, pair: tuple[str, str] = PAIR
                 ) -> pd.DataFrame:
    """The teacher's row per lab (trained on real images with cross-entropy), in the measured table's columns.

    Its seeds are the first of the synthesizers' (every student of a teacher architecture learns
    from the first seed's teacher).
    """
    rows = []
    for lab in labs:
        t = summarize(lab.teacher(canonical_name(pair[0]), seeds=synthesizer_seeds(lab, seeds)[:1]))
        rows.append({"synthesizer": "-", "method": "teacher", "score_mean": t["test_acc_mean"].iloc[0],
                     "score_std": t["test_acc_std"].iloc[0], "gflops_millions": t["gflops_millions"].iloc[0],
                     "energy_kwh": t["energy_kwh"].iloc[0], "co2_g": t["co2_g"].iloc[0], "teacher": pair[0],
                     "dataset": lab.dataset, "seeds": int(t["seeds"].iloc[0]), "wall_s": t["wall_s"].iloc[0],
                     "mode": t["mode"].iloc[0]})
    return pd.DataFrame(rows)


def cost_ratios(measured: pd.DataFrame) -> pd.DataFrame:
    """Per synthesizer: ours / tuned for GFLOPs, kWh and CO2, and the score gap ours - tuned (points)."""
    return compare.cost_ratios(measured, ["dataset", "synthesizer"], "ours", "tuned",
                               {"gflops_millions": "GFLOPs ours / tuned", "energy_kwh": "kWh ours / tuned",
                                "co2_g": "CO2 ours / tuned"}, score="score_mean",
                               score_name="score ours - tuned (points)").pipe(_flip_gap)


def _flip_gap(ratios: pd.DataFrame) -> pd.DataFrame:
    # compare.cost_ratios gives denominator - numerator (tuned - ours here): the column says ours - tuned.
    # + 0.0: a gap of zero reads 0, not -0 (the negation of 0.0 is -0.0)
    ratios["score ours - tuned (points)"] = -ratios["score ours - tuned (points)"] + 0.0
    return ratios


def beside_reference(measured: pd.DataFrame, teachers: pd.DataFrame) -> pd.DataFrame:
    """Per data set, our tuned and stochastic-tau accuracy per synthesizer (and the teacher's) beside
    what CMI's README reports on CIFAR-10 with its own schedules and a fixed tau."""
    rows = []
    for dataset, group in measured.groupby("dataset", sort=False):
        for name, arms in group.groupby("synthesizer", sort=False):
            score = arms.set_index("method")["score_mean"]
            rows.append({"dataset": dataset, "model": name, "tuned tau (measured)": score.get("tuned"),
                         "stochastic tau (measured)": score.get("ours"),
                         "CMI README, CIFAR-10": CMI_README.get(name)})
        teacher = teachers[teachers["dataset"] == dataset]
        if len(teacher):
            acc = float(teacher["score_mean"].iloc[0])
            rows.append({"dataset": dataset, "model": f"teacher ({teacher['teacher'].iloc[0]})",
                         "tuned tau (measured)": acc, "stochastic tau (measured)": acc,
                         "CMI README, CIFAR-10": CMI_README["teacher"]})
    return pd.DataFrame(rows)


def synthetic_images(lab: Lab, run_hash: str) -> torch.Tensor:
    """The last synthetic images a data-free run drew (uint8, N x 3 x H x W), from its run directory."""
    return lab.store.run_by_hash(run_hash).load_artifact(SYNTHETIC_ARTIFACT)["images"]


def synthesis_share(lab: Lab, run_hash: str) -> float:
    """The fraction of a data-free run's training FLOPs spent synthesising its inputs."""
    result = lab.store.run_by_hash(run_hash).result()
    flops = result["flops"]
    return float(flops.get("synthesis", 0)) / float(flops["total"]) if flops.get("total") else float("nan")


def ours_runs(measured: pd.DataFrame, dataset: str) -> dict[str, str]:
    """Synthesizer (paper name) -> the hash of its stochastic-tau run on ``dataset`` (the first seed's)."""
    rows = measured[(measured["method"] == "ours") & (measured["dataset"] == dataset)]
    return {name: hashes.split(", ")[0] for name, hashes in zip(rows["synthesizer"], rows["hashes"])}


def headline(measured: pd.DataFrame, ratios: pd.DataFrame, chance: float) -> str:
    """Per data set and synthesizer, in words: tuned against ours, the CO2 ratio, and the margin over chance."""
    lines = []
    for _, r in ratios.iterrows():
        arms = measured[(measured["dataset"] == r["dataset"]) & (measured["synthesizer"] == r["synthesizer"])]
        score = arms.set_index("method")["score_mean"]
        lines.append(f"{r['dataset']}, {r['synthesizer']}: tuned {score['tuned']:.2f} %, ours {score['ours']:.2f} % "
                     f"({r['score ours - tuned (points)']:+.2f} points) at {r['CO2 ours / tuned']:.2f}x the CO2 of "
                     f"tuning; {min(score) - chance:+.1f} points above chance ({chance:.0f} %) at worst")
    return "\n".join(lines)


def caption_scope(labs: Iterable[Lab]) -> str:
    """What Table 6's captions name: data sets and profile, and the KL every data-free run uses (CMI's
    'batchmean', whatever the profile's reduction)."""
    labs = list(labs)
    return f"{', '.join(l.dataset for l in labs)}, {labs[0].profile.name} profile, KL 'batchmean' (CMI's)"


# -- figures: accuracy and CO2 per synthesizer (tuned tau against ours), and what each one drew ---------
_ARM = {"tuned": "kd-tuned", "ours": "ours"}


def accuracy_and_co2(measured: pd.DataFrame, grid_size: int, teacher_acc: float | None = None) -> plt.Figure:
    """Left: test accuracy (mean ± std over seeds) of tuned tau and ours per synthesizer, the teacher as a
    line; right: training CO2 of each (tuned: its ``grid_size`` trainings), labelled ours / tuned."""
    names = list(dict.fromkeys(measured["synthesizer"]))
    x, w = np.arange(len(names)), 0.38
    fig, (ax_acc, ax_co2) = plt.subplots(1, 2, figsize=(12, 4.2))
    rows = {arm: measured[measured["method"] == arm].set_index("synthesizer").reindex(names) for arm in _ARM}
    for dx, arm in ((-w / 2, "tuned"), (w / 2, "ours")):
        style, label = arm_style(_ARM[arm]), (arm_name("kd-tuned") if arm == "tuned" else short_name("ours"))
        ax_acc.bar(x + dx, rows[arm]["score_mean"], w, yerr=rows[arm]["score_std"].fillna(0), capsize=3,
                   color=style["color"], label=label)
        ax_co2.bar(x + dx, rows[arm]["co2_g"], w, color=style["color"],
                   label=f"{label} ({grid_size} trainings)" if arm == "tuned" else f"{label} (1 training)")
    if teacher_acc is not None:
        ax_acc.axhline(teacher_acc, color=arm_style("teacher")["color"], ls=":", label=short_name("teacher"))
    ax_acc.set_ylim(0, 105)
    for xi, (ours, tuned) in enumerate(zip(rows["ours"]["co2_g"], rows["tuned"]["co2_g"])):
        ax_co2.annotate(f"{ours / tuned:.2f}x", (xi + w / 2, ours), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=8)
    for ax, ylabel, title in ((ax_acc, "test accuracy (%)", "accuracy of the student (mean ± std over seeds)"),
                              (ax_co2, "training CO2 (g)", "training CO2, ours labelled ours / tuned")):
        ax.set_xticks(x, names)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    return fig


_RATIO_COLOURS = {"GFLOPs ours / tuned": "tab:blue", "kWh ours / tuned": "tab:orange", "CO2 ours / tuned": "tab:red"}


def cost_ratios_figure(ratios: pd.DataFrame, grid_size: int, title: str = "") -> plt.Figure:
    """:func:`cost_ratios` as bars: left, ours / tuned for GFLOPs, kWh and CO2 per synthesizer (and data set),
    a dashed line at 1 / ``grid_size`` (one training against a grid of N); right, the score gap ours - tuned."""
    several = ratios["dataset"].nunique() > 1
    names = [s + (f"\n{d}" if several else "") for d, s in zip(ratios["dataset"], ratios["synthesizer"])]
    x = np.arange(len(ratios))
    fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(max(10, 1.1 * len(ratios) + 5), 4.2),
                                     gridspec_kw={"width_ratios": [2.2, 1]})
    for i, (column, colour) in enumerate(_RATIO_COLOURS.items()):
        bars = ax.bar(x + (i - 1) * 0.26, ratios[column], 0.26, color=colour, label=column.split(" ")[0])
        if len(ratios) <= 8:
            ax.bar_label(bars, fmt="%.2f", fontsize=6.5, padding=2, rotation=90)
    ax.axhline(1 / grid_size, color="0.3", ls="--", lw=1, label=f"1 / N = 1 / {grid_size} (grid of N)")
    ax.axhline(1, color="0.6", ls=":", lw=1, label="1: as costly as tuning")
    ax.set_ylabel("ours / tuned (below 1: ours is cheaper)")
    ax.set_ylim(0, max(1.15, float(ratios[list(_RATIO_COLOURS)].max().max()) * 1.25))
    ax.set_title("cost of ours over the tuned grid's", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=5, frameon=False)
    gap = ratios["score ours - tuned (points)"]
    bars = ax_gap.bar(x, gap, 0.6, color=["tab:green" if g >= 0 else "tab:red" for g in gap])
    ax_gap.bar_label(bars, labels=[f"{g:+.1f}" if round(g, 1) else "0" for g in gap], fontsize=7, padding=2)
    ax_gap.axhline(0, color="0.3", lw=0.8)
    ax_gap.margins(y=0.2)
    ax_gap.set_ylabel("points")
    ax_gap.set_title("score gap, ours - tuned", fontsize=9)
    for a in (ax, ax_gap):
        a.set_xticks(x, names, fontsize=8)
        a.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def cost_ratios_figure_caption(scope: str, grid_size: int) -> str:
    """The caption of :func:`cost_ratios_figure`."""
    return (f"Ours / tuned for GFLOPs, kWh and CO2 per synthesizer (dashed: 1 / N, one training against the grid of "
            f"N = {grid_size}), and the score gap ours - tuned in points ({scope}); paper values: "
            f"{published.NOT_PUBLISHED}")


def cost_ratios_title(labs: Iterable[Lab]) -> str:
    """The title of :func:`cost_ratios_figure`."""
    labs = list(labs)
    return f"Table 6: what the stochastic tau saves ({', '.join(l.dataset for l in labs)}, {labs[0].profile.name} profile)"


def synthetic_grids(images: Mapping[str, torch.Tensor], per_method: int = 32, columns: int = 8) -> plt.Figure:
    """One panel per synthesizer: the first ``per_method`` images of its last synthesis (uint8, N x 3 x H x W)."""
    n = len(images)
    rows = max(math.ceil(min(per_method, max((len(b) for b in images.values()), default=1)) / columns), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2 * rows / columns + 0.9), squeeze=False)
    for ax, (name, batch) in zip(axes[0], images.items()):
        grid = make_grid(batch[:per_method].float() / 255, nrow=columns, padding=1, pad_value=1.0)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    return fig


def accuracy_by_epoch(histories: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """Left: the student's validation accuracy per epoch (no data-free epoch reads the test split);
    right: the teacher's mean confidence on the synthetic batches (``syn_teacher_conf``), one line per
    synthesizer (its stochastic-tau run)."""
    fig, (ax_acc, ax_conf) = plt.subplots(1, 2, figsize=(12, 3.8))
    for name, h in histories.items():
        ax_acc.plot(h["epoch"], h["val_acc"], marker="o", label=name)
        ax_conf.plot(h["epoch"], 100 * h["syn_teacher_conf"], marker="o", label=name)
    for ax, ylabel in ((ax_acc, "student validation accuracy (%)"), (ax_conf, "teacher confidence on synthetic images (%)")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


def measured_caption(lab: Lab, scope: str, pair: tuple[str, str], seeds: list[int]) -> str:
    """The caption of :func:`measure_all`'s rows: the pair, the grid, the random tau's range and the seeds."""
    grid = len(lab.profile.tau_grid)
    return (f"Table 6 measured ({scope}; not the paper's setting: the paper used CIFAR and CMI's schedules): "
            f"{pair[0]} -> {pair[1]} distilled from synthetic inputs only; tuned = tau chosen over a grid of {grid} "
            f"(cost = all {grid} trainings), ours = a random integer tau in {lab.profile.tau_low:g}.."
            f"{lab.profile.tau_high:g} per batch (1 training); score = test accuracy (%) of the best-validation epoch (the "
            f"hold-out: the classification runs' validation split; test read once, after training), mean and "
            f"std over seeds {seeds}; costs include synthesis; paper values: {published.NOT_PUBLISHED}")


def reference_caption(scope: str) -> str:
    """The caption of :func:`beside_reference`'s table."""
    # CMI's datafree_kd.py re-assigns criterion = KLDiv() (T = 1) in its DAFL, ZSKT and DFQ branches.
    return (f"Student test accuracy (%) per synthesizer, measured ({scope}) beside zju-vipa/CMI's README (CIFAR-10, "
            f"WRN-40-2 -> WRN-16-1, its schedules; its DAFL, ZSKT and DFQ students learn at T = 1, ours at the "
            f"tuned or the stochastic tau, so the settings differ); the paper's Table 6: {published.NOT_PUBLISHED}")


def cost_ratios_caption(scope: str, grid_size: int) -> str:
    """The caption of :func:`cost_ratios`' table."""
    return (f"Ours / tuned for GFLOPs, kWh and CO2, and the score gap ours - tuned (points), per synthesizer "
            f"({scope}, grid of {grid_size})")


def _where(lab: Lab) -> str:
    return f"{lab.dataset}, {lab.profile.name} profile"


def accuracy_and_co2_title(lab: Lab) -> str:
    """The title of :func:`accuracy_and_co2` on ``lab``'s data set."""
    return f"Table 6: data-free KD, tuned tau against ours ({_where(lab)}, KL 'batchmean')"


def accuracy_and_co2_caption(lab: Lab, grid_size: int) -> str:
    """The caption of :func:`accuracy_and_co2` on ``lab``'s data set."""
    return (f"Student test accuracy (left) and training CO2 (right) per synthesizer, tuned tau (grid of {grid_size}) "
            f"against ours ({_where(lab)})")


def synthetic_title(lab: Lab) -> str:
    """The title of :func:`synthetic_grids` on ``lab``'s data set."""
    return f"Synthetic images per synthesizer ({_where(lab)})"


def synthetic_caption(lab: Lab, per_method: int) -> str:
    """The caption of :func:`synthetic_grids` on ``lab``'s data set, ``per_method`` images each."""
    return (f"The last synthetic batch of each synthesizer's stochastic-tau run, first {per_method} images "
            f"({_where(lab)})")


def by_epoch_title(lab: Lab) -> str:
    """The title of :func:`accuracy_by_epoch` on ``lab``'s data set."""
    return f"Data-free KD with the stochastic tau, epoch by epoch ({_where(lab)})"


def by_epoch_caption(lab: Lab) -> str:
    """The caption of :func:`accuracy_by_epoch` on ``lab``'s data set."""
    return (f"Student validation accuracy (the hold-out the best epoch is chosen on; no epoch reads the test split) "
            f"and the teacher's confidence on synthetic images per epoch, stochastic-tau runs "
            f"({_where(lab)})")

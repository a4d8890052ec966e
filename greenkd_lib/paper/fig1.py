"""Fig 1: cumulative training CO2 against accuracy (a), inference time and CO2 (b-c).

The curves' data (:func:`curves`, :func:`final_points`, :func:`trained_models`) and their drawing
(:func:`draw_curves`, :func:`draw_inference`), in the display vocabulary of
:mod:`greenkd_lib.paper.display`: the teacher in its arm colour, each student in its Fig 1 colour,
tuned KD dashed (lines) or hatched (bars), ours solid.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence, TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data import published
from .display import arm_style, ARMS, short_name

if TYPE_CHECKING:
    from .lab import Lab

__all__ = ["seed_row", "curves", "final_points", "trained_models", "draw_curves", "draw_inference",
           "curves_caption", "final_points_caption", "inference_caption", "inference_title",
           "inference_figure_caption", "vs_paper_caption", "vs_paper_figure", "vs_paper_figure_caption"]

# Fig 1's line styles: the paper's teacher dotted, tuned KD dashed, ours solid.
LINESTYLE = {"teacher": ":", "kd-tuned": "--", "ours": "-"}


def seed_row(rows: pd.DataFrame, seed: int) -> pd.Series:
    """The row of ``seed`` (one run) in an experiment's rows."""
    hit = rows.loc[rows["seed"] == seed]
    if hit.empty:
        raise ValueError(f"no row for seed {seed}; seeds: {sorted(int(s) for s in rows['seed'].unique())}")
    return hit.iloc[0]


def curves(lab: "Lab", teacher: pd.DataFrame, grids: Mapping[str, pd.DataFrame],
           ours: Mapping[str, pd.DataFrame], seed: int) -> list[tuple[str, str, pd.DataFrame]]:
    """Fig 1a's curves of one seed as ``(arm, model, per-epoch history)``: the teacher, then per
    student tuned KD (charged the whole grid, :meth:`Lab.tuned_curve`) and ours."""
    out = [("teacher", lab.profile.teacher, lab.history(seed_row(teacher, seed)["hash"]))]
    for s in grids:
        out.append(("kd-tuned", s, lab.tuned_curve(grids[s], seed)))
        out.append(("ours", s, lab.history(seed_row(ours[s], seed)["hash"])))
    return out


def final_points(curves: Sequence[tuple[str, str, pd.DataFrame]]) -> pd.DataFrame:
    """The last point of each curve: epochs, tuned tau, trainings charged, test accuracy and cumulative costs."""
    return pd.DataFrame([{"method": method, "model": model, "epochs": int(c["epoch"].iloc[-1]),
                          "tau": c["tau"].iloc[0] if method == "kd-tuned" else np.nan,
                          "trainings": int(c["trainings"].iloc[0]) if method == "kd-tuned" else 1,
                          "test_acc": c["test_acc"].iloc[-1], "energy_kwh": c["energy_kwh"].iloc[-1],
                          "co2_g": c["co2_g"].iloc[-1], "pflops": c["flops"].iloc[-1] / 1e15}
                         for method, model, c in curves])


def trained_models(teacher: pd.DataFrame, tuned: Mapping[str, pd.DataFrame], ours: Mapping[str, pd.DataFrame],
                   seed: int, teacher_model: str) -> pd.DataFrame:
    """The models Fig 1b-c measures, one seed: method, model, hash (tuned KD: the tau chosen on validation)."""
    rows = [("teacher", teacher_model, seed_row(teacher, seed)["hash"])]
    for s in tuned:
        rows += [("kd-tuned", s, seed_row(tuned[s], seed)["hash"]), ("ours", s, seed_row(ours[s], seed)["hash"])]
    return pd.DataFrame(rows, columns=["method", "model", "hash"])


def _color(method: str, model: str, colors: Mapping[str, str]) -> str:
    return ARMS["teacher"][2] if method == "teacher" else colors[model]


def draw_curves(ax: Any, curves: Sequence[tuple[str, str, pd.DataFrame]], colors: Mapping[str, str]) -> None:
    """Cumulative CO2 (log scale) against test accuracy, one marker per epoch, one line per curve;
    ``colors`` maps each student to its colour (:func:`~greenkd_lib.paper.display.student_colors`)."""
    for method, model, c in curves:
        if method == "teacher":
            label = f"{model} (teacher)"
        elif method == "kd-tuned":
            label = f"{model}, KD with tuned tau={c['tau'].iloc[0]:g} (grid of {c['trainings'].iloc[0]} trainings)"
        else:
            label = f"{model}, ours (1 training)"
        ax.plot(c["test_acc"], c["co2_g"], label=label, ms=5, lw=1.6, ls=LINESTYLE[method],
                marker=arm_style(method)["marker"], color=_color(method, model, colors))
    ax.set_yscale("log")
    ax.set_xlabel("test accuracy (%)")
    ax.set_ylabel("cumulative training CO2 (g, log scale)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)  # below: curves fill the axes
    ax.grid(alpha=0.3)


def draw_inference(axes: Sequence[Any], inference: pd.DataFrame, colors: Mapping[str, str]) -> None:
    """Fig 1b-c on two axes: inference time and CO2 per model (tuned KD shaded and hatched, ours solid)."""
    names = [f"{m}\n{short_name(meth)}" for meth, m in zip(inference["method"], inference["model"])]
    for ax, col, label in zip(axes, ["time_s", "co2_g"], ["inference time (s)", "inference CO2 (g)"]):
        for x, (meth, m, value) in enumerate(zip(inference["method"], inference["model"], inference[col])):
            tuned = meth == "kd-tuned"
            ax.bar(x, value, edgecolor="black", color=_color(meth, m, colors), alpha=0.5 if tuned else 1.0,
                   hatch="//" if tuned else "")
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("(b) inference time")
    axes[1].set_title("(c) inference CO2")


# -- captions (every number from the run) -----------------------------------------------------------


def curves_caption(lab: "Lab", seed: int) -> str:
    """Fig 1a's caption: the curves and the grid tuned KD is charged for."""
    return (f"Cumulative training CO2 (g, log scale) against test accuracy, one marker per epoch: teacher (dotted), "
            f"students by tuned KD (dashed; the whole grid of {len(lab.profile.tau_grid)} trainings is charged) "
            f"and by ours (solid) ({lab.title}, seed {seed})")


def final_points_caption(title: str, seed: int) -> str:
    """The caption of :func:`final_points`' table."""
    return (f"Last point of each Fig 1a curve: test accuracy and cumulative training cost after the last epoch; "
            f"paper values: {published.NOT_PUBLISHED} ({title}, seed {seed})")


def inference_caption(inference: pd.DataFrame, repeats: int, title: str, seed: int) -> str:
    """The caption of Fig 1b-c's table: the test images and the passes of ``inference``."""
    return (f"One inference pass over the test set ({inference['images'].iloc[0]} images; median of {repeats} "
            f"passes): time, energy, CO2 and their ratio to the teacher's ({title}, seed {seed})")


def inference_title(repeats: int, title: str) -> str:
    """Fig 1b-c's title (:func:`draw_inference`)."""
    return f"Fig 1b-c: one pass over the test set, median of {repeats} ({title}; hatched: KD, solid: ours)"


def inference_figure_caption(title: str, seed: int) -> str:
    """Fig 1b-c's caption."""
    return (f"Inference time and CO2 of one pass over the test set: teacher, and students by tuned KD (hatched) "
            f"and by ours (solid) ({title}, seed {seed})")


def vs_paper_caption(inference: pd.DataFrame, title: str) -> str:
    """The caption of the inference cost beside the paper's Fig 1 caption."""
    return (f"Inference cost, ours beside the paper's Fig 1 caption (the paper publishes only the teacher's) "
            f"({title}, {inference['images'].iloc[0]} test images)")


def vs_paper_figure(versus: pd.DataFrame, title: str = "") -> Any:
    """:func:`~greenkd_lib.paper.compare.inference_vs_paper`'s table as markers: inference time and CO2 of
    each model, ours beside the paper's (the teacher's only: the other models have no paper marker)."""
    from . import compare

    paper = f"paper, {compare.INFERENCE_PAPER}"
    names = {"time_s": "inference time (s)", "co2_g": "inference CO2 (g)"}
    points = pd.concat([pd.DataFrame({
        "panel": label, "row": [f"{short_name(m)}\n{model}" for m, model in zip(versus["method"], versus["model"])],
        "ours": versus[next(c for c in versus.columns if c.startswith(f"{q}, ") and ", paper, " not in c)],
        paper: versus[f"{q}, {paper}"]}) for q, label in names.items()], ignore_index=True)
    return compare.beside_paper_figure(points, [paper], ours_label="ours (median pass)",
                                       title=f"Fig 1b-c beside the paper's Fig 1 caption ({title})")


def vs_paper_figure_caption(title: str) -> str:
    """The caption of :func:`vs_paper_figure`."""
    from . import compare

    return (f"Inference time and CO2 of one pass over the test set, ours ({title}) beside the paper's Fig 1 caption "
            f"({compare.INFERENCE_PAPER}; the teacher's only); {compare.beside_paper_note()}")

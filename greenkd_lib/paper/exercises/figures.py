"""The answers of the figure notebooks: Fig 1 (notebook 01), Fig 2 (02), Fig 3 (03) and Fig 4 (09)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..rows import tune
from .answer import Answer, _need, _points


# -- 01_fig1 ------------------------------------------------------------------------------------


def fig1_other_seeds(lab: Any, teacher: pd.DataFrame, grids: Mapping[str, pd.DataFrame],
                     ours: Mapping[str, pd.DataFrame]) -> Answer:
    """The last point of each Fig 1a curve for every seed of the profile (read from the runs' histories)."""
    from .. import fig1

    seeds = list(lab.profile.seeds)
    table = pd.concat([fig1.final_points(fig1.curves(lab, teacher, grids, ours, s)).assign(seed=s) for s in seeds],
                      ignore_index=True)[["seed", "method", "model", "test_acc", "co2_g"]]
    if len(seeds) < 2:
        from ...config.profiles import get_profile

        quick = list(get_profile("quick").seeds)
        return Answer(f"This profile has one seed ({seeds[0]}): there is no other curve to compare; with the quick "
                      f"profile (seeds {quick}) the table shows one set of curves per seed.", table)
    spread = table.groupby(["method", "model"])["test_acc"].agg(lambda v: v.max() - v.min())
    (method, model), widest = spread.idxmax(), spread.max()
    return Answer(f"Across seeds {seeds} the last test accuracy of a curve moves by up to {widest:.2f} points "
                  f"({method}, {model}); the CO2 of each curve barely depends on the seed.", table)


def fig1_inference_passes(inference: pd.DataFrame, ours: Mapping[str, pd.DataFrame]) -> Answer:
    """How many passes over the test set each of our students could make for the CO2 of its own training."""
    _need(inference, "inference", ("method", "model", "co2_g", "images"))
    rows = []
    for student, runs in ours.items():
        hit = inference[(inference["method"] == "ours") & (inference["model"] == student)]
        if hit.empty:
            continue
        per_pass = float(hit["co2_g"].iloc[0])
        rows.append({"student": student, "training_co2_g": float(runs["co2_g"].mean()), "pass_co2_g": per_pass,
                     "passes": float(runs["co2_g"].mean()) / per_pass if per_pass > 0 else math.inf,
                     "images_per_pass": int(hit["images"].iloc[0])})
    if not rows:
        raise ValueError("inference has no 'ours' row of these students; run the (b-c) cell first")
    table = pd.DataFrame(rows)
    top = table.loc[table["passes"].idxmin()]
    return Answer(f"Training {top['student']} by our method emitted as much CO2 as {top['passes']:.1f} passes over "
                  f"the {top['images_per_pass']} test images: inference has to run that often before it costs "
                  "what training did.", table)


# -- 02_fig2 ------------------------------------------------------------------------------------


def fig2_top_probability(a_m: Any, high: float = 20) -> Answer:
    """The teacher's largest soft probability for one image's logits ``a_m`` at every integer tau up to ``high``."""
    import torch

    taus = list(range(1, int(high) + 1))
    top = [float(torch.softmax(torch.as_tensor(a_m).float() / t, 0).max()) for t in taus]
    table = pd.DataFrame({"tau": taus, "teacher_top_probability": top})
    below = [t for t, p in zip(taus, top) if p < 0.5]
    return Answer(f"The teacher's top soft probability is {top[0]:.3f} at tau = 1 and {top[-1]:.3f} at tau = {taus[-1]}"
                  + (f"; it falls below one half from tau = {below[0]} on." if below and top[0] >= 0.5
                     else "; it never crosses one half in this range."), table)


def fig2_alpha_change(batch: Any, temperatures: Sequence[tuple[str, float]], alpha: float, new_alpha: float,
                      reduction: str) -> Answer:
    """The loss table of the batch at ``alpha`` and at ``new_alpha``: the terms stay, their mix changes."""
    from .. import fig2

    now = fig2.loss_terms(batch.a_s, batch.a_m, batch.y, temperatures, alpha, reduction)
    new = fig2.loss_terms(batch.a_s, batch.a_m, batch.y, temperatures, new_alpha, reduction)
    table = now.iloc[:, :4].copy()
    table[f"total, alpha={alpha:g}"] = now.iloc[:, 4]
    table[f"total, alpha={new_alpha:g}"] = new.iloc[:, 4]
    ce, kd = float(now.iloc[0, 2]), float(now.iloc[0, 3])
    return Answer(f"The two terms do not change (CE {ce:.4f}, tau² KL {kd:.4f} at tau = {now.iloc[0, 1]:g}); only "
                  f"their mix does: at alpha = {new_alpha:g} the CE term weighs {1 - new_alpha:.2f} instead of "
                  f"{1 - alpha:.2f}, so the total becomes {new.iloc[0, 4]:.4f} instead of {now.iloc[0, 4]:.4f}.", table)


# -- 03_fig3 ------------------------------------------------------------------------------------


def fig3_smaller_grid(grid: pd.DataFrame, ours: pd.DataFrame, keep: int = 2) -> Answer:
    """Tuned KD over the ``keep`` smallest taus of the grid (no new training: those runs exist) against ours."""
    _need(grid, "grid", ("tau", "seed", "best_val_acc", "test_acc", "co2_g"))
    taus = sorted(grid["tau"].unique())[:keep]
    small, full = tune(grid[grid["tau"].isin(taus)]), tune(grid)
    table = pd.DataFrame([
        {"grid": ", ".join(f"{t:g}" for t in sorted(grid["tau"].unique())), "chosen taus": ", ".join(
            f"{t:g}" for t in full["tau"]), "test_acc": full["test_acc"].mean(), "co2_g": full["co2_g"].mean()},
        {"grid": ", ".join(f"{t:g}" for t in taus), "chosen taus": ", ".join(f"{t:g}" for t in small["tau"]),
         "test_acc": small["test_acc"].mean(), "co2_g": small["co2_g"].mean()},
        {"grid": "ours (one training)", "chosen taus": "random per batch", "test_acc": ours["test_acc"].mean(),
         "co2_g": ours["co2_g"].mean()}])
    return Answer(f"With the grid {{{', '.join(f'{t:g}' for t in taus)}}} tuning keeps tau = "
                  f"{', '.join(f'{t:g}' for t in small['tau'])} (per seed) and reaches {small['test_acc'].mean():.2f} % "
                  f"({_points(small['test_acc'].mean(), full['test_acc'].mean())} against the full grid) for "
                  f"{small['co2_g'].mean():.4g} g CO2; ours: {ours['test_acc'].mean():.2f} % for "
                  f"{ours['co2_g'].mean():.4g} g.", table)


def fig3_per_epoch(lab: Any, student: str, ours: pd.DataFrame) -> Answer:
    """Ours with one tau per epoch instead of per batch (the run notebook 13 trains) against ours per batch."""
    per_epoch = lab.stochastic_kd(per="epoch", student=student)
    rows = []
    for name, runs in (("per batch (the paper's)", ours), ("per epoch", per_epoch)):
        histories = [lab.history(h) for h in runs["hash"]]
        rows.append({"tau drawn": name, "test_acc": runs["test_acc"].mean(), "co2_g": runs["co2_g"].mean(),
                     "wall_s": runs["wall_s"].mean(),
                     "taus_per_epoch": float(np.mean([h["tau_distinct"].mean() for h in histories]))})
    table = pd.DataFrame(rows)
    a, b = table.iloc[0], table.iloc[1]
    return Answer(f"Drawn per epoch, the student sees {b['taus_per_epoch']:g} tau per epoch instead of "
                  f"{a['taus_per_epoch']:.0f}; its accuracy is {b['test_acc']:.2f} % ({_points(b['test_acc'], a['test_acc'])}) "
                  f"and its CO2 {b['co2_g']:.4g} g against {a['co2_g']:.4g} g: the cost is one training either way, "
                  "only when tau changes differs.", table)


# -- 09_fig4 ------------------------------------------------------------------------------------


def fig4_disagreements(preds: Mapping[str, Any], cls: int, classes: Sequence[str]) -> Answer:
    """The test images of class ``cls`` on which the models do not all give the same answer."""
    names = list(preds)
    y_true = next(iter(preds.values())).y_true
    idx = np.flatnonzero(y_true == cls)
    answers = np.stack([preds[n].y_pred[idx] for n in names])
    differ = idx[(answers != answers[0]).any(axis=0)]
    table = pd.DataFrame([{"test image": int(i), **{n: classes[int(preds[n].y_pred[i])] for n in names}} for i in differ])
    position = {int(i): k for k, i in enumerate(idx)}
    return Answer(f"Of the {len(idx)} test images of class {classes[cls]}, the models disagree on {len(differ)}"
                  + (f"; set image_index to {', '.join(str(position[int(i)]) for i in differ[:5])} to see "
                     "the first of them." if len(differ) else "."), table if len(differ) else None)


def fig4_top_confusions(matrices: Mapping[str, pd.DataFrame]) -> Answer:
    """Per model: the largest off-diagonal cell of its confusion matrix."""
    out = []
    for name, m in matrices.items():
        off = m.to_numpy().astype(float).copy()
        np.fill_diagonal(off, -1)
        i, j = np.unravel_index(off.argmax(), off.shape)
        out.append({"model": name, "true": m.index[i], "predicted": m.columns[j], "images": int(off[i, j])})
    table = pd.DataFrame(out)
    pairs = set(zip(table["true"], table["predicted"]))
    return Answer(("All models make the same most frequent mistake: " if len(pairs) == 1 else
                   "The models' most frequent mistakes differ: ")
                  + "; ".join(f"{r.model}: {r.true} read as {r.predicted} ({r.images} images)" for r in table.itertuples()),
                  table)

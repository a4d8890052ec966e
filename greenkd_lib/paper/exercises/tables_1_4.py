"""The answers of the notebooks of Tables 1 to 4 (notebooks 04 to 07): carbon footprints, data sets,
architectures, KD objectives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .answer import Answer, _need


# -- 04_table1 ----------------------------------------------------------------------------------


def table1_one_tau_grid(rows: pd.DataFrame) -> Answer:
    """Per data set: tuned KD's CO2 if its grid had one tau (its mean per training) against ours and the teacher."""
    _need(rows, "rows", ("dataset", "method", "co2_g", "trainings"))
    out = []
    for dataset, group in rows.groupby("dataset", sort=False):
        by = group.groupby("method")
        tuned = group[group["method"] == "kd-tuned"]
        one = float((tuned["co2_g"] / tuned["trainings"]).mean())
        out.append({"dataset": dataset, "grid": int(tuned["trainings"].iloc[0]), "tuned_co2_g": float(tuned["co2_g"].mean()),
                    "one_tau_co2_g": one, "ours_co2_g": float(by.get_group("ours")["co2_g"].mean()),
                    "teacher_co2_g": float(by.get_group("teacher")["co2_g"].mean())})
    table = pd.DataFrame(out)
    r = table.iloc[0]
    return Answer(f"With a grid of one tau, tuned KD would cost what one KD training costs: {r['one_tau_co2_g']:.4g} g on "
                  f"{r['dataset']} instead of {r['tuned_co2_g']:.4g} g for its {r['grid']} trainings, "
                  f"{r['one_tau_co2_g'] / r['ours_co2_g']:.2f} times ours and {r['one_tau_co2_g'] / r['teacher_co2_g']:.2f} "
                  "times the teacher's; but then nothing is tuned.", table)


def table1_other_students(lab: Any) -> Answer:
    """For every student of the profile: tuned KD's and ours' CO2 over the teacher's (runs of notebooks 00 and 01)."""
    teacher = float(lab.teacher()["co2_g"].mean())
    out = []
    for student in lab.profile.students:
        tuned, ours = lab.tuned_kd(student=student), lab.stochastic_kd(student=student)
        out.append({"student": student, "tuned_test_acc": tuned["test_acc"].mean(), "ours_test_acc": ours["test_acc"].mean(),
                    "tuned_co2_vs_teacher": tuned["co2_g"].mean() / teacher,
                    "ours_co2_vs_teacher": ours["co2_g"].mean() / teacher})
    table = pd.DataFrame(out)
    top = table.loc[table["tuned_co2_vs_teacher"].idxmax()]
    return Answer(f"Tuned KD of {top['student']} costs the most against the teacher ({top['tuned_co2_vs_teacher']:.2f} "
                  f"times its CO2); ours costs {', '.join(f'{r.ours_co2_vs_teacher:.2f}' for r in table.itertuples())} "
                  f"times the teacher's for {', '.join(table['student'])}.", table)


# -- 05_table2 ----------------------------------------------------------------------------------


def table2_val_fraction(lab: Any, val_fraction: float = 0.2) -> Answer:
    """The profile's data set split with another validation share (loaded, not trained on)."""
    from ..lab import Lab

    out = []
    for share in (lab.profile.val_fraction, val_fraction):
        bundle = Lab(lab.profile, dataset=lab.dataset, data_root=lab.data_root, val_fraction=share,
                     progress=False).data()
        out.append({"val_fraction": share, "train": len(bundle.train), "val": len(bundle.val), "test": len(bundle.test)})
    table = pd.DataFrame(out)
    a, b = table.iloc[0], table.iloc[1]
    cap = (f" (the {lab.profile.name} profile keeps at most {lab.profile.subset} images per split, so the cap may "
           "hide the change)" if lab.profile.subset else "")
    return Answer(f"With val_fraction = {b['val_fraction']:g}, {lab.dataset} keeps {b['train']:.0f} training images "
                  f"(instead of {a['train']:.0f}) and holds out {b['val']:.0f} for validation (instead of {a['val']:.0f}); "
                  f"the test split does not change{cap}.", table)


def table2_class_balance(bundles: Mapping[str, Any]) -> Answer:
    """Per data set found: the rarest and the commonest class of the training split."""
    out = []
    for name, bundle in bundles.items():
        if bundle is None:
            continue
        counts = pd.Series(bundle.train.targets).value_counts()
        out.append({"dataset": name, "rarest": bundle.classes[int(counts.idxmin())], "rarest_images": int(counts.min()),
                    "commonest": bundle.classes[int(counts.idxmax())], "commonest_images": int(counts.max()),
                    "max_over_min": counts.max() / counts.min()})
    if not out:
        return Answer("No data set was found, so there is no training split to count.")
    table = pd.DataFrame(out)
    r = table.loc[table["max_over_min"].idxmax()]
    return Answer(f"The least balanced training split is that of {r['dataset']}: class {r['rarest']} has {r['rarest_images']} "
                  f"images, class {r['commonest']} {r['commonest_images']} ({r['max_over_min']:.2f} times as many).", table)


# -- 06_table3 ----------------------------------------------------------------------------------


def table3_num_classes(architectures: Sequence[str], num_classes: int, new: int, image_size: int) -> Answer:
    """Each architecture's parameters with ``num_classes`` outputs and with ``new`` (models built, not trained)."""
    from ... import models

    out = []
    for arch in architectures:
        a = models.count_parameters(models.build(arch, num_classes, image_size))
        b = models.count_parameters(models.build(arch, new, image_size))
        out.append({"model": arch, f"params, {num_classes} classes": a, f"params, {new} classes": b,
                    "share lost (%)": 100 * (a - b) / a})
    table = pd.DataFrame(out)
    r = table.loc[table["share lost (%)"].abs().idxmax()]
    verb = "loses" if r["share lost (%)"] >= 0 else "gains"
    return Answer(f"Only the last layer depends on the classes: with {new} instead of {num_classes} outputs, "
                  f"{r['model']} changes most: it {verb} {abs(r['share lost (%)']):.1f} % of its parameters.", table)


def table3_flops_per_parameter(measured: pd.DataFrame, size: int) -> Answer:
    """FLOPs per image per parameter at ``size``: which architecture reuses its weights most."""
    column = f"MFLOPs/image @{size}"
    _need(measured, "measured", ("model", "params (M)", column))
    table = measured[["model", "params (M)", column]].copy()
    table["FLOPs per parameter"] = table[column] / table["params (M)"]
    top, low = table.loc[table["FLOPs per parameter"].idxmax()], table.loc[table["FLOPs per parameter"].idxmin()]
    return Answer(f"At {size}x{size}, {top['model']} does the most work per weight ({top['FLOPs per parameter']:.2f} "
                  f"FLOPs per parameter and image), {low['model']} the least ({low['FLOPs per parameter']:.2f}): "
                  "a parameter count alone does not tell the cost of a forward pass.", table)


# -- 07_table4 ----------------------------------------------------------------------------------


def table4_without_detection(measured: pd.DataFrame) -> Answer:
    """The share of the measured rows' CO2 that the detection rows account for."""
    _need(measured, "measured", ("task", "loss", "method", "co2_g"))
    table = measured.groupby("task", as_index=False)["co2_g"].sum()
    table["share (%)"] = 100 * table["co2_g"] / table["co2_g"].sum()
    det = table.loc[table["task"] == "detection", "share (%)"]
    if det.empty:
        return Answer("No detection row was measured (detection = False already): the table has classification rows "
                      "only.", table)
    rows = int((measured["task"] == "detection").sum())
    return Answer(f"With detection = False the {rows} detection rows disappear; they account for {float(det.iloc[0]):.1f} % "
                  "of the measured rows' CO2 (mean per seed, tuned KD charged for its grid).", table)


def table4_objective_gains(measured: pd.DataFrame) -> Answer:
    """Per task, data set and objective: ours minus tuned (score) and tuned over ours (CO2)."""
    _need(measured, "measured", ("dataset", "task", "loss", "method", "score_mean", "co2_g"))
    wide = measured.pivot_table(index=["task", "dataset", "loss"], columns="method", values=["score_mean", "co2_g"],
                                sort=False)
    table = pd.DataFrame({"ours - tuned (points)": wide[("score_mean", "ours")] - wide[("score_mean", "tuned")],
                          "CO2 tuned / ours": wide[("co2_g", "tuned")] / wide[("co2_g", "ours")]}).reset_index()
    best, worst = table.loc[table["ours - tuned (points)"].idxmax()], table.loc[table["ours - tuned (points)"].idxmin()]
    return Answer(f"Ours gains most against tuned KD with {best['loss']} ({best['task']}, {best['dataset']}: "
                  f"{best['ours - tuned (points)']:+.2f} points) and least with {worst['loss']} ({worst['task']}, "
                  f"{worst['dataset']}: {worst['ours - tuned (points)']:+.2f}), for {table['CO2 tuned / ours'].min():.1f} "
                  f"to {table['CO2 tuned / ours'].max():.1f} times less CO2.", table)

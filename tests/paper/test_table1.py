"""Table 1 and the story's bill from fabricated run rows (no training)."""

import numpy as np
import pandas as pd
import pytest

from greenkd_lib.data import published
from greenkd_lib.paper import table1


def _rows(dataset="digits"):
    """Two seeds of each arm, in the columns of ``Lab`` rows."""
    arms = [("teacher", "resnet18", None, 1, 2.0, ""), ("scratch", "mbv2", None, 1, 1.0, ""),
            ("kd-tuned", "mbv2", "resnet18", 3, 6.0, "tuned tau=4 (grid of 3)"),
            ("ours", "mbv2", "resnet18", 1, 2.0, "tau~U{2..20}/batch")]
    rows = []
    for method, student, teacher, trainings, cost, temp in arms:
        for seed in (0, 1):
            rows.append({"method": method, "dataset": dataset, "teacher": teacher, "student": student, "seed": seed,
                         "tau": 4.0 if method == "kd-tuned" else np.nan, "temperature": temp,
                         "test_acc": 90.0 + seed, "best_test_acc": 91.0 + seed, "best_val_acc": 92.0,
                         "energy_kwh": cost / 10, "co2_g": cost, "wall_s": cost, "pflops": cost / 100,
                         "gflops_millions": cost / 100, "trainings": trainings, "mode": "estimate"})
    return pd.DataFrame(rows)


def test_table1_columns_rows_and_ratio_to_the_teacher():
    t = table1.table1(_rows(), [1, 4, 16])
    assert list(t.columns) == table1.TABLE1_COLUMNS
    assert t["row"].tolist() == ["Teacher", "Student alone", "KD, tuned tau", "Ours, stochastic tau"]
    assert t["co2_vs_teacher"].tolist() == [1.0, 0.5, 3.0, 1.0]
    assert t["temperature"].tolist() == ["none (cross-entropy)", "none (cross-entropy)",
                                         "tuned on validation over {1, 4, 16}: 4, 4", "tau~U{2..20}/batch"]
    assert t["trainings"].tolist() == [1, 1, 3, 1] and (t["seeds"] == 2).all()
    assert t["test_acc_mean"].iloc[0] == 90.5


def test_table1_per_data_set_and_chosen_taus():
    rows = pd.concat([_rows("digits"), _rows("cifar10")], ignore_index=True)
    t = table1.table1(rows, [4])
    assert t["dataset"].tolist() == ["digits"] * 4 + ["cifar10"] * 4
    taus = table1.chosen_taus(rows)
    assert taus.to_dict("records") == [{"dataset": "digits", "rows": 8, "tau, seed 0": 4.0, "tau, seed 1": 4.0},
                                       {"dataset": "cifar10", "rows": 8, "tau, seed 0": 4.0, "tau, seed 1": 4.0}]


def test_vs_paper_and_the_published_cells():
    t = table1.table1(_rows("cifar10"), [4])
    side = table1.vs_paper(t, "ours (x)")
    assert len(side) == 4 * len(table1.QUANTITIES) and "method" not in side.columns
    kd = side[(side["row"] == "KD, tuned tau") & (side["quantity"] == "CO2 / teacher CO2")].iloc[0]
    assert kd["paper, CIFAR-100"] == 17.9 and kd["ours - paper, same data set"] == pytest.approx(3.0 - 15.8)
    scratch = side[side["row"] == "Student alone"]
    assert (scratch["ours - paper, same data set"] == published.NOT_PUBLISHED).all()
    assert table1.published("ours", "GFLOPs (M)", "cifar10") == published.table4_value("cifar10", "HKD", "ours",
                                                                                   "gflops_millions")
    assert table1.published("scratch", "CO2 (g)", "cifar10") is None


def test_ratios_ours_and_the_papers():
    r = table1.ratios(table1.table1(_rows(), [1, 4, 16]), 3)
    assert r["source"].tolist() == ["ours", "paper", "paper", "paper"]
    ours = r.iloc[0]
    assert ours["tuned KD CO2 / teacher"] == 3.0 and ours["per grid value"] == 1.0
    assert ours["tuned / ours, CO2"] == 3.0 and ours["accuracy ours - tuned (points)"] == 0.0
    assert r["grid values"].iloc[1:].tolist() == [20, 20, 20]  # inferred from Table 4's FLOPs ratios


def test_carbon_bill_and_story_ratios():
    rows = _rows()
    arm = {m: rows[rows["method"] == m] for m in rows["method"].unique()}
    bill = table1.carbon_bill(arm["teacher"], arm["scratch"], {"mobilenetv2": arm["kd-tuned"].assign(student="mobilenetv2")},
                              {"mobilenetv2": arm["ours"].assign(student="mobilenetv2")})
    assert list(bill.columns) == table1.BILL_COLUMNS and "pflops" not in bill.columns  # FLOPs shown once
    assert bill["trainings"].tolist() == [1, 1, 3, 1]
    ratios = table1.story_ratios(bill, "ours (x)")
    assert ratios["ours (x)"].tolist() == pytest.approx([3.0, 3.0, 3.0, 0.0])
    assert ratios["paper, CIFAR-10"].tolist() == [15.8, 19.0, 19.98, -0.11]  # rounded to 2 digits


def test_grid_costs_end_with_the_whole_grid():
    one = _rows().query("method == 'kd-tuned'").assign(trainings=1, co2_g=2.0)
    costs = table1.grid_costs(pd.concat([one.assign(tau=4.0), one.assign(tau=1.0)]))
    assert costs["tau"].tolist() == [1.0, 4.0, "whole grid (sum)"]
    assert costs["co2_g"].iloc[-1] == 4.0  # the mean over seeds of each tau, summed

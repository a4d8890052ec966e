"""Tuned KD with a shared teacher (greenkd_lib.paper.shared_teacher, Lab's grid_mode, Table 1's extra row):
the arithmetic on fabricated rows, and the real thing at the smoke profile."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from greenkd_lib import models
from greenkd_lib.paper import shared_teacher, table1
from greenkd_lib.paper.lab import Lab
from greenkd_lib.paper.rows import tune


def _grid(seed: int, shared: bool) -> list[dict]:
    """A grid of three taus for one seed: the naive grid's costs, or the shared grid's (0.55x)."""
    scale = 0.55 if shared else 1.0
    return [{"method": "kd", "objective": "kd", "dataset": "digits", "teacher": "resnet18", "student": "mobilenetv2",
             "seed": seed, "tau": tau, "temperature": f"tau={tau:g}", "test_acc": 90.0 + seed + i,
             "best_test_acc": 91.0 + seed, "best_val_acc": 80.0 + i, "energy_kwh": 0.01 * scale,
             "co2_g": 3.0 * scale, "wall_s": 10.0 * scale, "pflops": 2.0 * scale, "gflops_millions": 2.0 * scale,
             "trainings": 1, "mode": "estimate", **({"grid": "shared"} if shared else {})}
            for i, tau in enumerate((1.0, 4.0, 16.0))]


def _arms():
    naive = tune(pd.DataFrame(_grid(0, False) + _grid(1, False)))
    shared = tune(pd.DataFrame(_grid(0, True) + _grid(1, True)))
    ours = pd.DataFrame([{"method": "ours", "objective": "kd", "dataset": "digits", "teacher": "resnet18",
                          "student": "mobilenetv2", "seed": s, "tau": np.nan, "temperature": "tau~U{2..20}/batch",
                          "test_acc": 91.0 + s, "best_test_acc": 92.0, "best_val_acc": 82.0, "energy_kwh": 0.01,
                          "co2_g": 3.0, "wall_s": 10.0, "pflops": 2.0, "gflops_millions": 2.0, "trainings": 1,
                          "mode": "estimate"} for s in (0, 1)])
    return naive, shared, ours


def test_comparison_puts_the_three_arms_side_by_side_with_their_multiples_of_ours():
    naive, shared, ours = _arms()
    t = shared_teacher.comparison(naive, shared, ours)
    assert t["method"].tolist() == ["kd-tuned", "kd-tuned-shared", "ours"]
    assert t["arm"].tolist() == ["tuned KD (naive grid)", "tuned KD, shared teacher", "ours"]
    assert t["trainings"].tolist() == [3, 3, 1] and t["tau per seed"].tolist()[:2] == ["16, 16", "16, 16"]
    assert t["co2_g"].tolist() == pytest.approx([9.0, 4.95, 3.0])  # a grid charged whole, mean per seed
    assert t["x ours, CO2"].tolist() == pytest.approx([3.0, 1.65, 1.0])
    assert t["test_acc_mean"].tolist() == pytest.approx([92.5, 92.5, 91.5])
    r = shared_teacher.ratios(t).set_index("cost")
    assert r.loc["FLOPs", "shared grid / naive grid"] == pytest.approx(0.55)
    assert r.loc["kWh", "ours cheaper than the naive grid (x)"] == pytest.approx(3.0)
    assert r.loc["CO2", "ours cheaper than the shared grid (x)"] == pytest.approx(1.65)
    text = shared_teacher.headline(t, shared_teacher.ratios(t))
    assert "0.55x the naive grid's FLOPs" in text and "3.00x cheaper in CO2" in text and "1.65x (1.65x in FLOPs)" in text
    fig = shared_teacher.figure(t, "title")
    assert len(fig.axes) == 3 and len(fig.axes[0].patches) == 3


def test_comparison_refuses_rows_in_the_wrong_places():
    naive, shared, ours = _arms()
    with pytest.raises(ValueError, match="in this order"):
        shared_teacher.comparison(shared, naive, ours)  # the shared grid's rows passed as the naive grid's
    with pytest.raises(ValueError, match="in this order"):
        shared_teacher.comparison(naive, shared, naive)


def test_flop_arithmetic_is_the_issues():
    """1.11 + N x 0.53 against N x 1.64 GFLOP per 32x32 image: 0.55 for three taus, 0.36 for twenty."""
    a = shared_teacher.flop_arithmetic("resnet18", "mobilenetv2", 32, 10, [3, 20])
    assert a["teacher forward (GFLOP)"].iloc[0] == pytest.approx(1.11, abs=0.01)
    assert a["KD step (GFLOP)"].iloc[0] == pytest.approx(1.64, abs=0.01)
    assert a["shared / naive, FLOPs"].round(2).tolist() == [0.55, 0.36]
    t = models.forward_flops(models.build("resnet18", 10, 32), 32)
    assert a["teacher forward (GFLOP)"].iloc[0] == t / 1e9


def test_table1_shows_the_shared_grid_as_a_labelled_row_of_its_own():
    naive, shared, ours = _arms()
    alone = pd.DataFrame([{**r, "method": m, "tau": np.nan, "trainings": 1} for m in ("teacher", "scratch")
                          for r in ours.to_dict("records")])
    rows = pd.concat([alone, naive, shared.assign(method="kd-tuned-shared"), ours], ignore_index=True)
    t = table1.table1(rows, [1, 4, 16])
    assert t["row"].tolist() == ["Teacher", "Student alone", "KD, tuned tau", "KD, tuned tau, shared teacher",
                                 "Ours, stochastic tau"]
    assert t["temperature"].iloc[2] == "tuned on validation over {1, 4, 16}: 16, 16"
    assert t["temperature"].iloc[3] == "tuned on validation over {1, 4, 16} (shared teacher: one teacher pass): 16, 16"
    assert t["co2_vs_teacher"].tolist() == pytest.approx([1.0, 1.0, 3.0, 1.65, 1.0])
    assert table1.ratios(t, 3)["tuned / ours, CO2"].iloc[0] == pytest.approx(3.0)  # against the naive grid still


def test_a_lab_refuses_a_shared_grid_without_a_teacher_to_share(tmp_path):
    lab = Lab("smoke", runs_root=tmp_path / "runs", executor="serial", progress=False)
    with pytest.raises(ValueError, match="grid_mode must be 'naive'"):
        lab.tuned_kd(grid_mode="lockstep")
    with pytest.raises(ValueError, match="has none to share"):
        lab.tuned_kd(method="dml", grid_mode="shared")


@pytest.mark.slow
def test_the_smoke_labs_shared_grid_tunes_the_same_tau_for_less(tmp_path, one_thread):
    lab = Lab("smoke", runs_root=tmp_path / "runs", executor="serial", progress=False)
    naive = lab.tuned_kd(grid_mode="naive")
    shared = lab.tuned_kd(grid_mode="shared")
    assert "grid" not in naive and (shared["grid"] == "shared").all()
    assert shared["temperature"].str.contains("shared-teacher grid of 2").all()
    for column in ("tau", "test_acc", "best_val_acc", "best_test_acc"):
        assert shared[column].tolist() == naive[column].tolist(), column  # the same students, the same choice
    assert (shared["gflops_millions"] < naive["gflops_millions"]).all()
    assert set(shared["hash"]).isdisjoint(naive["hash"])  # runs of their own beside the naive grid's
    t = shared_teacher.comparison(naive, shared, lab.stochastic_kd())
    assert 0.5 < shared_teacher.ratios(t).set_index("cost").loc["FLOPs", "shared grid / naive grid"] < 0.85
    # A profile whose grid is shared trains its tuned KD that way, and Table 1 then has no extra row.
    shared_lab = Lab("smoke", runs_root=tmp_path / "runs", executor="serial", progress=False, grid="shared")
    assert shared_lab.tuned_kd()["hash"].tolist() == shared["hash"].tolist()

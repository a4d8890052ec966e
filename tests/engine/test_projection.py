"""Tests of greenkd_lib.engine.projection: the notebooks' training plans and the GPU-hours arithmetic."""

from __future__ import annotations

import pytest

from greenkd_lib.config.profiles import get_profile
from greenkd_lib.engine.projection import plan, project


def test_plans_count_the_notebooks_trainings():
    p = get_profile("paper")  # 5 seeds, a grid of 20 taus, batch sizes 64, 128, 256
    assert sum(t.count for t in plan("table1")) == 3 * (5 + 5 + 21 * 5)
    assert sum(t.count for t in plan("fig3")) == 1 + (20 + 3) * 5
    assert sum(t.count for t in plan("table7")) == 2 * (5 + 21 * 5) + 2 * (1 + 21)
    assert all(t.teacher in (None, p.teacher, "wrn_40_2", "vgg16") for t in plan("table7"))
    with pytest.raises(ValueError, match="choose one of table1, fig3, table7"):
        plan("table9")


def test_hours_scale_inversely_with_the_measured_rates():
    slow, fast = project(1000, 900), project(2000, 1800)
    assert list(slow["notebook"])[-1] == "total"
    assert slow["GPU-hours"].iloc[-1] == pytest.approx(slow["GPU-hours"].iloc[:-1].sum())
    assert (slow["GPU-hours"] / fast["GPU-hours"]).tolist() == pytest.approx([2.0] * len(slow))
    assert (slow["trainings"] == fast["trainings"]).all() and (slow["GPU-hours"] > 0).all()


def test_a_shared_grid_charges_the_teacher_once_per_grid():
    from greenkd_lib.engine.projection import _forward_flops, compare_grids

    p = get_profile("paper")
    both = compare_grids(1000, 900)
    assert (both["GPU-hours, naive grid"] == project(1000, 900)["GPU-hours"]).all()  # the paper profile: naive
    assert (both["GPU-hours, shared grid"] == project(1000, 900, get_profile("paper", grid="shared"))["GPU-hours"]).all()
    assert (both["shared / naive"] < 1).all() and (both["GPU-hours, shared grid"] > 0).all()
    # Fig 3: its grid (20 taus of ResNet18 -> MobileNetV2 on Tiny ImageNet, per seed) saves 19 of every 20
    # teacher forwards; the teacher's own training and ours are unchanged.
    from greenkd_lib.data import DOCUMENTED_SIZES

    fig3 = {g: project(1000, 900, notebooks=("fig3",), grid=g)["GPU-hours"].iloc[0] for g in ("naive", "shared")}
    classes, train_n, _, size = DOCUMENTED_SIZES["tinyimagenet"]
    fit = round(train_n * (1 - p.val_fraction))
    kd_rate = 900 * (_forward_flops(p.teacher, 10, 32) + 3 * _forward_flops(p.students[0], 10, 32))
    saved = len(p.seeds) * (len(p.tau_grid) - 1) * p.epochs * fit * _forward_flops(p.teacher, classes, size)
    assert fig3["naive"] - fig3["shared"] == pytest.approx(saved / kd_rate / 3600, rel=1e-9)
    with pytest.raises(ValueError, match="grid must be one of"):
        project(1000, 900, grid="lockstep")

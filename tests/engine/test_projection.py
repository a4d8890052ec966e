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

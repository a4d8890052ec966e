"""The convergence rule that chose the quick profile's schedule, and the committed study behind it."""

from __future__ import annotations

import pandas as pd
import pytest

from greenkd_lib.config.profiles import get_profile
from greenkd_lib.paper import schedule_study


def _study(rows):
    return pd.DataFrame(rows, columns=["candidate_epochs", "arm", "member", "seed", "test_acc"])


def test_judge_applies_gap_and_std():
    study = _study([
        (2, "E", "teacher", 0, 90.0), (2, "E", "teacher", 1, 91.0), (2, "4E", "teacher", 0, 95.0),
        (2, "4E", "teacher", 1, 95.0),
        (4, "E", "teacher", 0, 94.0), (4, "E", "teacher", 1, 94.5), (4, "4E", "teacher", 0, 95.0),
        (4, "4E", "teacher", 1, 96.0),
        (6, "E", "teacher", 0, 90.0), (6, "E", "teacher", 1, 96.0), (6, "4E", "teacher", 0, 95.0),
        (6, "4E", "teacher", 1, 95.0),
    ])
    verdict = schedule_study.judge(study).set_index("candidate_epochs")
    assert verdict.loc[2, "gap"] == pytest.approx(4.5) and not verdict.loc[2, "passes"]  # too far from 4E
    assert verdict.loc[4, "gap"] == pytest.approx(1.25) and verdict.loc[4, "passes"]
    assert not verdict.loc[6, "passes"]  # close on average, but the seeds disagree by 6 points
    assert schedule_study.shortest_passing(verdict.reset_index()) == 4


def test_a_candidate_without_its_long_arm_can_fail_but_never_pass():
    study = _study([(3, "E", "kd", 0, 91.0), (3, "E", "kd", 1, 95.0), (3, "E", "t", 0, 98.0), (3, "E", "t", 1, 98.1)])
    verdict = schedule_study.judge(study)
    assert not verdict["passes"].any() and verdict["acc_long_mean"].isna().all()
    assert schedule_study.shortest_passing(verdict) is None


def test_schedule_profile_scales_the_milestone():
    p = schedule_study.schedule_profile("quick", 16)
    assert p.epochs == 16 and p.milestones == (12,)
    assert p.lr == get_profile("quick").lr and p.image_size == get_profile("quick").image_size


def test_the_committed_study_chose_the_quick_profiles_epochs():
    study = schedule_study.load_study()
    verdict = schedule_study.judge(study)
    quick = get_profile("quick")
    assert schedule_study.shortest_passing(verdict) == quick.epochs
    # The study ran the quick profile's recipe, apart from the schedule it was choosing.
    assert set(study["batch_size"]) == {quick.batch_size} and set(study["lr"]) == {quick.lr}
    assert set(study["image_size"]) == {quick.image_size} and set(study["kd_reduction"]) == {quick.kd_reduction}
    assert set(study["seed"]) == set(quick.seeds)
    members = set(study["member"])
    assert {"teacher", "mobilenetv2 alone", "shufflenetv2 alone"} <= members
    assert {f"mobilenetv2 KD tau={min(quick.tau_grid):g}", f"mobilenetv2 KD tau={max(quick.tau_grid):g}"} <= members


def test_a_missing_study_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/quick_schedule.py"):
        schedule_study.load_study(tmp_path / "none.csv")
